"""The GAN as a LightningModule: generator, discriminator, an EMA copy of the generator, and the game between them.

Manual optimisation, because one batch takes two optimiser steps with different losses (D, then G), and WGAN-GP
steps G only every `n_critic` batches. Images are scaled to [-1, 1] to match the generator's tanh. The EMA
generator (`torch.optim.swa_utils.AveragedModel`, decay `ema`) is what sampling uses: averaging the weights over
the last few hundred steps smooths the oscillation of adversarial training and gives visibly cleaner samples.
The generator's loss adds a mode-seeking term (Mao et al. 2019, weight `mode_seeking`): without it the
class-conditional G learned to ignore z and drew one image per class on BloodMNIST, whatever the discriminator.
The hyper-parameters (kind="gan", dataset, labels, sizes, ...) are saved in every checkpoint, so
`meddl.tasks.synthesis.sampling.load_generator` can rebuild the networks from the file alone.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from meddl.tasks.synthesis import losses
from meddl.training.averaging import ema_with_warmup
from meddl.models import create


class GanModule(L.LightningModule):
    def __init__(
        self,
        dataset: str,
        labels: list[str],
        n_channels: int,
        image_size: int = 28,
        latent_dim: int = 100,
        conditional: bool = True,
        generator: str = "dcgan-g",
        discriminator: str = "dcgan-d",
        loss: str = "ns",
        conditioning: str = "projection",
        width: int = 64,
        spectral_norm: bool = True,
        lr_g: float = 2e-4,
        lr_d: float = 4e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        ema: float = 0.999,
        n_critic: int = 5,
        aux_weight: float = 1.0,
        mode_seeking: float = 0.2,
        class_frequencies: list[float] | None = None,
        data_dir: str | None = None,
        kind: str = "gan",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        n_classes = len(labels) if conditional else 0
        wgan = loss == "wgan-gp"
        self.generator = create(generator, n_channels, n_classes, image_size=image_size, latent_dim=latent_dim,
                                width=width)
        # D is normalised by spectral norm or, without it, by batch-norm as in the DCGAN paper. WGAN-GP's penalty
        # is per image: neither there (batch-norm couples a batch's images; the penalty already bounds the slope).
        # D twice as wide as G: at equal width D fell behind at once and G settled on one image per class
        self.discriminator = create(discriminator, n_channels, n_classes, image_size=image_size, width=2 * width,
                                    spectral_norm=spectral_norm and not wgan,
                                    batch_norm=not spectral_norm and not wgan, conditioning=conditioning)
        self.ema = AveragedModel(self.generator, avg_fn=ema_with_warmup(ema), use_buffers=True)
        self.n_classes = n_classes

    def configure_optimizers(self):
        hp = self.hparams
        betas = (0.0, 0.9) if hp.loss == "wgan-gp" else tuple(hp.betas)  # WGAN-GP paper's Adam settings
        return (torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g, betas=betas),
                torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_d, betas=betas))

    def latent(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams.latent_dim, device=self.device)

    def _judge(self, images: torch.Tensor, labels: torch.Tensor | None):
        """D's logits and, for AC-GAN, its class logits (None otherwise)."""
        out = self.discriminator(images, labels if self.hparams.conditioning == "projection" else None) \
            if self.n_classes else self.discriminator(images)
        return out if isinstance(out, tuple) else (out, None)

    def training_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        if len(images) < 2:  # batch-norm cannot normalise a single image
            return
        real = images.float().div(127.5).sub(1.0)
        real_labels = labels.view(-1).long() if self.n_classes else None
        opt_g, opt_d = self.optimizers()
        hp = self.hparams
        n, half = len(real), len(real) // 2
        # Fakes take the batch's labels, the second half repeating the first: pairs (i, i + half) then share a
        # label for the mode-seeking term, and the fakes keep the real class mix.
        fake_labels = None if real_labels is None else torch.cat(
            [real_labels[:half], real_labels[:half], real_labels[2 * half:]])

        # One generator pass serves both steps (as in the PyTorch DCGAN example): D learns from it detached, then
        # G from D's updated verdict on it. WGAN-GP steps G only every n_critic batches, so needs no graph between.
        g_step = hp.loss != "wgan-gp" or batch_idx % hp.n_critic == 0
        z = self.latent(n)
        with torch.set_grad_enabled(g_step):
            fake = self.generator(z, fake_labels)
        real_logits, real_class = self._judge(real, real_labels)
        fake_logits, _ = self._judge(fake.detach(), fake_labels)
        if hp.loss == "wgan-gp":
            critic = (lambda x: self._judge(x, real_labels)[0])
            d_loss = losses.d_loss_wgan(real_logits, fake_logits) + losses.GP_WEIGHT * losses.gradient_penalty(
                critic, real, fake.detach())
        else:
            d_loss = losses.d_loss_ns(real_logits, fake_logits)
        if real_class is not None:
            d_loss = d_loss + hp.aux_weight * F.cross_entropy(real_class, real_labels)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        real_acc, fake_acc = losses.d_accuracy(real_logits.detach(), fake_logits.detach())
        self.log_dict({"train_d_loss": d_loss.detach(), "train_d_real_acc": real_acc, "train_d_fake_acc": fake_acc},
                      on_step=False, on_epoch=True, prog_bar=False, batch_size=n)
        self.log("d_loss", d_loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)

        if not g_step:
            return
        fake_logits, fake_class = self._judge(fake, fake_labels)
        g_loss = losses.g_loss_wgan(fake_logits) if hp.loss == "wgan-gp" else losses.g_loss_ns(fake_logits)
        if fake_class is not None:
            g_loss = g_loss + hp.aux_weight * F.cross_entropy(fake_class, fake_labels)
        self.log("train_g_loss", g_loss.detach(), on_step=False, on_epoch=True, batch_size=n)  # adversarial part
        if hp.mode_seeking and half:
            seeking = losses.mode_seeking(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
            self.log("train_g_mode_seeking", seeking.detach(), on_step=False, on_epoch=True, batch_size=n)
            g_loss = g_loss + hp.mode_seeking * seeking
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.ema.update_parameters(self.generator)
        self.log("g_loss", g_loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, use_ema: bool = True) -> torch.Tensor:
        """Images in [-1, 1] from latents (and labels for a conditional G), with the EMA generator by default."""
        net = self.ema.module if use_ema else self.generator
        was_training = net.training
        net.eval()
        try:
            return net(z, labels if self.n_classes else None)
        finally:
            net.train(was_training)
