"""GAN medical image synthesis: training (losses, module, training), sampling and report; quality metrics
and utility (TSTR)."""
