"""GAN medical image synthesis: training (losses, module, training), sampling and report; quality metrics
and utility (TSTR)."""

from meddl.tasks.base import register_task
from meddl.tasks.synthesis.task import SynthesisTask

register_task(SynthesisTask())
