"""Differentially private training: DP-SGD with Opacus, fitted into the Lightning trainer.

DP-SGD bounds what the trained weights can reveal about any one training image: each image's gradient is clipped to
norm `max_grad_norm`, Gaussian noise of standard deviation `noise_multiplier * max_grad_norm` is added to each
batch's sum, and batches are drawn by Poisson sampling (every image joins each batch with probability
`sample_rate`, so batch sizes vary and a batch can be empty). Opacus' RDP accountant turns these into the spent
(epsilon, delta). The noise is calibrated before training so that the configured number of epochs spends the
target epsilon (to within 0.01). Only training images are protected; validation images steer model selection.

Opacus' `make_private_with_epsilon` wants the model, optimiser and data loader at once, but Lightning creates the
optimiser itself, after the loaders are handed over. So the pieces it composes are used where Lightning allows:
the Poisson loader (Opacus' sampler) is built before `fit`; per-sample gradient hooks and the DP optimiser are
attached by the `DifferentialPrivacy` callback at fit start. The accountant's history is callback state, so
`--resume` continues the account instead of restarting it. Opacus' `DPDataLoader` is not used as such: its one
generator also seeds the loader's iterator, which Lightning creates before the first epoch's hooks but after
later epochs' ones, so a resumed run would sample differently; and meddl's dataset already returns an empty batch
as (0, C, H, W) tensors, which is all `DPDataLoader`'s collate wrapper adds.

Models are made compatible by `make_compatible`: Opacus' `ModuleValidator.fix` (BatchNorm mixes images within a
batch, so it becomes GroupNorm), and no in-place changes to a layer's output, which autograd forbids once
per-sample gradient hooks are attached. Noise comes from PyTorch's seeded generator (Opacus' `secure_mode` off):
right for research and reproducible runs, not hardened against floating-point attacks on the noise.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from monai.networks.nets.resnet import ResNetBlock, ResNetBottleneck
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.grad_sample import GradSampleHooks
from opacus.optimizers import DPOptimizer
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader

from meddl.errors import ConfigError
from meddl.training.checkpoints import AtomicCheckpointIO
from meddl.training.config import TrainConfig

ACCOUNTANT = "rdp"
EPSILON_TOLERANCE = 0.01  # the calibrated noise spends between target - 0.01 and the target
# RDP orders searched for the tightest epsilon: Opacus' defaults stop at 63, which is the optimum (and so too
# loose a bound) for short runs with a large epsilon
ALPHAS = [*RDPAccountant.DEFAULT_ALPHAS, 80, 96, 128, 192, 256, 512]
# Opacus' hooks see no gradient for the images themselves (the first layer's input); that is expected
warnings.filterwarnings("ignore", message=r"Full backward hook is firing when gradients are computed")


def default_delta(n_train: int) -> float:
    """The largest power of ten below 1/N, at most 1e-5: a delta of 1/N or more would allow a mechanism that
    publishes one whole record, so the convention is delta well below 1/N."""
    return min(1e-5, 10.0 ** -len(str(n_train)))


@dataclass(frozen=True)
class PrivacyPlan:
    """The DP-SGD settings of one run, fixed before its first step."""

    target_epsilon: float
    delta: float
    max_grad_norm: float
    noise_multiplier: float
    sample_rate: float
    expected_batch_size: int
    steps_per_epoch: int
    epochs: int


def plan(config: TrainConfig, n_train: int, sample_rate: float, steps_per_epoch: int) -> PrivacyPlan:
    """Calibrate the noise so that `config.epochs` epochs of `steps_per_epoch` Poisson-sampled steps spend the
    target epsilon under the RDP accountant."""
    delta = config.delta if config.delta is not None else default_delta(n_train)
    if delta >= 1 / n_train:
        raise ConfigError(f"delta {delta:g} is not below 1/N = {1 / n_train:.2g} for N = {n_train} training images: "
                          f"such a guarantee allows publishing a whole record; use --delta {default_delta(n_train):g}")
    steps = config.epochs * steps_per_epoch
    try:
        sigma = get_noise_multiplier(target_epsilon=config.epsilon, target_delta=delta, sample_rate=sample_rate,
                                     steps=steps, accountant=ACCOUNTANT, epsilon_tolerance=EPSILON_TOLERANCE,
                                     alphas=ALPHAS)
    except ValueError:
        raise ConfigError(f"epsilon {config.epsilon:g} cannot be reached in {steps} steps at sample rate "
                          f"{sample_rate:.3g}: raise --epsilon or --batch-size, or train fewer epochs") from None
    return PrivacyPlan(config.epsilon, delta, config.max_grad_norm, sigma, sample_rate,
                       max(1, int(n_train * sample_rate)), steps_per_epoch, config.epochs)


class _OutOfPlaceResidual(nn.Module):
    """MONAI's ResNet block (basic or bottleneck) with the same layers, hence the same checkpoint keys, but
    `out + residual` where MONAI writes `out += residual` into the output of a hooked normalisation layer."""

    def __init__(self, block: nn.Module):
        super().__init__()
        for name, child in block.named_children():
            self.add_module(name, child)
        self.downsample = block.downsample
        self.depth = 3 if hasattr(block, "conv3") else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for index in range(1, self.depth + 1):
            out = getattr(self, f"bn{index}")(getattr(self, f"conv{index}")(out))
            if index < self.depth:
                out = self.act(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.act(out + residual)


def make_compatible(net: nn.Module) -> nn.Module:
    """A copy of `net` that DP-SGD can train: Opacus' fixes (BatchNorm -> GroupNorm with min(32, C) groups), and
    every in-place activation or residual addition made out of place. Deterministic, so a checkpoint's weights
    load into the architecture rebuilt from its hyper-parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about each replacement it makes, which is what was asked
        net = ModuleValidator.fix(net)
    for module in net.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    for name, module in list(net.named_modules()):
        if type(module) in (ResNetBlock, ResNetBottleneck):
            parent_name, _, child = name.rpartition(".")
            net.get_submodule(parent_name).add_module(child, _OutOfPlaceResidual(module))
    return net


def check_trainable(net: nn.Module, model_name: str, in_channels: int, image_size: int) -> None:
    """Fail before training, naming the model, if Opacus cannot compute per-sample gradients for it: a layer it
    cannot fix, a trainable layer with buffers, or an in-place operation on a hooked layer's output."""
    probe = copy.deepcopy(net).train()
    problems = [str(error) for error in ModuleValidator.validate(probe, strict=False)]
    if not problems:
        try:
            with torch.random.fork_rng(devices=[]):  # the probe leaves the seeded run's random stream untouched
                GradSampleHooks(probe)
                probe(torch.zeros(2, in_channels, image_size, image_size)).float().sum().backward()
            problems = [f"no per-sample gradient for {name}" for name, p in probe.named_parameters()
                        if p.requires_grad and getattr(p, "grad_sample", None) is None]
        except (NotImplementedError, RuntimeError) as error:
            problems = [str(error).strip().splitlines()[0]]
    if problems:
        raise ConfigError(f"model {model_name!r} cannot be trained with differential privacy (Opacus): "
                          f"{problems[0][:300]}; fast-cnn, seed-cnn and resnet18-28 can")


class DifferentialPrivacy(L.Callback):
    """DP-SGD for one Lightning run: a Poisson-sampled train loader, per-sample gradient hooks on the module's
    `net`, Opacus' DP optimiser around the module's optimiser, and the RDP accountant.

    Poisson batches and noise are seeded from (seed, epoch), so a resumed run draws what an uninterrupted one would.
    Every checkpoint gets a `privacy` entry (see `summary`).
    """

    def __init__(self, config: TrainConfig, train_loader: DataLoader):
        self.seed = config.seed
        self.sampling = torch.Generator()
        self.noise: torch.Generator | None = None
        n_train, steps = len(train_loader.dataset), len(train_loader)
        # as many steps an epoch as without DP, each image drawn with probability 1 / steps: batches of
        # batch_size on average (as in Opacus' DPDataLoader.from_data_loader)
        sampler = UniformWithReplacementSampler(num_samples=n_train, sample_rate=1 / steps, generator=self.sampling,
                                                steps=steps)
        self.loader = DataLoader(train_loader.dataset, batch_sampler=sampler, collate_fn=train_loader.collate_fn,
                                 num_workers=train_loader.num_workers)
        self.plan = plan(config, n_train, sampler.sample_rate, steps)
        self.accountant = RDPAccountant()
        self.hooks = None

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.hooks = GradSampleHooks(module.net, loss_reduction="mean")
        self.hooks.forbid_grad_accumulation()  # Poisson sampling's guarantee holds for one batch per step
        self.noise = torch.Generator(device=module.device)
        optimizer = DPOptimizer(
            trainer.optimizers[0],
            noise_multiplier=self.plan.noise_multiplier,
            max_grad_norm=self.plan.max_grad_norm,
            expected_batch_size=self.plan.expected_batch_size,
            loss_reduction="mean",
            generator=self.noise,
        )
        optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.plan.sample_rate))
        trainer.optimizers = [optimizer]

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # the sampler draws each batch lazily, after this hook, so these seeds decide the epoch's batches and noise
        self.sampling.manual_seed(self.seed * 100_003 + trainer.current_epoch)
        self.noise.manual_seed(self.seed * 1_000_033 + trainer.current_epoch)

    def teardown(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        if self.hooks is not None:
            self.hooks.remove_hooks()
            self.hooks = None

    def summary(self) -> dict:
        """The privacy spent so far and how: what metrics.json, checkpoints and the report record."""
        return {
            "epsilon": round(float(self.accountant.get_epsilon(delta=self.plan.delta, alphas=ALPHAS)), 4),
            "delta": self.plan.delta,
            "target_epsilon": self.plan.target_epsilon,
            "max_grad_norm": self.plan.max_grad_norm,
            "noise_multiplier": round(self.plan.noise_multiplier, 6),
            "sample_rate": round(self.plan.sample_rate, 6),
            "expected_batch_size": self.plan.expected_batch_size,
            "steps": sum(steps for _, _, steps in self.accountant.history),
            "accountant": ACCOUNTANT,
            "mechanism": "DP-SGD (Opacus): per-sample clipping, Gaussian noise, Poisson sampling",
            "secure_rng": False,
        }

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["privacy"] = self.summary()

    def state_dict(self) -> dict:
        return {"plan": asdict(self.plan), "accountant": self.accountant.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["plan"] != asdict(self.plan):
            raise ConfigError("--resume: this DP run was started with other privacy settings "
                              f"({state['plan']}); resume it with the same --epsilon, --delta, --max-grad-norm, "
                              "--epochs and --batch-size")
        self.accountant.load_state_dict(state["accountant"])


def check_resume(last: Path, dp: bool) -> None:
    """Refuse to continue a private run without DP, or a non-private run with it: the weights would not match
    the architecture, and the guarantee would not describe the model."""
    from meddl.training.checkpoints import read_checkpoint

    private = "privacy" in read_checkpoint(last)
    if private != dp:
        raise ConfigError(f"--resume: {last} was trained {'with' if private else 'without'} --dp; resume it "
                          f"{'with the same --dp options' if private else 'without --dp'}, or start a new run")


def record_final(checkpoint: Path, summary: dict) -> None:
    """Write the whole run's privacy into `checkpoint`: the best epoch was chosen after every epoch had been
    trained, so the model it holds carries the full run's epsilon, not the one spent when it was saved."""
    from meddl.training.checkpoints import read_checkpoint

    raw = read_checkpoint(checkpoint)
    raw["privacy"] = summary
    AtomicCheckpointIO().save_checkpoint(raw, checkpoint)
