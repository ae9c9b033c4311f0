"""Training configuration as one typed dataclass, with named presets.

`fast` is the default for images: a small CNN with augmentation and a cosine schedule that reaches MedMNIST v2's
published ResNet-18 figures on PneumoniaMNIST in a few minutes on a laptop CPU. `medmnist-v2` is the paper's
protocol; `best` is the recommended image recipe (docs/recipes.md). `ecg`, `text`, `qa` and `lm` are the defaults for ECG beats, text classification, question answering and
language modelling (a dataset names its own default preset and model; see `DatasetInfo`).
`dp=True` trains with differential privacy (DP-SGD; see `meddl.training.privacy`). `meddl.training.config_file`
writes a config as YAML and reads one back (`meddl train --print-config`, `--config`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from urllib.parse import urlsplit

from meddl.errors import ConfigError, did_you_mean
from meddl.training.loggers import DEFAULT_LOGGERS, logger_names


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved with every checkpoint and in metrics.json."""

    dataset: str
    model: str = "fast-cnn"
    size: int = 28
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    augment: bool = True
    class_weights: bool = False
    patience: int | None = None
    seed: int = 0
    # Seeded CPU runs repeat exactly without this; it forces deterministic GPU kernels (slower) as well.
    deterministic: bool = False
    precision: str = "auto"
    accelerator: str = "auto"
    # One device unless asked: "auto" would train data-parallel on every GPU of a node, changing the global batch.
    devices: int | str = 1
    num_nodes: int = 1
    channels_last: bool | None = None
    num_workers: int = 0
    bootstrap: int = 1000
    preset: str = "fast"
    # Differential privacy (DP-SGD): the run spends at most (epsilon, delta). delta None: derived from the training
    # set size (see meddl.training.privacy.default_delta).
    dp: bool = False
    epsilon: float | None = None
    delta: float | None = None
    max_grad_norm: float = 1.0
    # Options for ECG and text loaders (beat window, split scheme, tokeniser...), checked by the loader's own
    # dataclass; images take `size` instead.
    data_options: dict = field(default_factory=dict)
    # Binary and multi-label tasks: the decision threshold is tuned on validation data, by Youden's J, or as the
    # highest threshold reaching this sensitivity (e.g. 0.95 for screening).
    target_sensitivity: float | None = None
    # Experiment trackers (meddl.training.loggers): csv, tensorboard, mlflow (a list, or "csv,mlflow"; "none": no
    # logs); tracking_uri: where the mlflow logger writes (default $MLFLOW_TRACKING_URI, else file:./mlruns).
    logger: tuple[str, ...] = DEFAULT_LOGGERS
    tracking_uri: str | None = None
    # Image classifiers only. `ensemble`: K members trained together (each its own initialisation and augmentation
    # draws), their probabilities averaged. `weight_average`: "ema" (decay `ema_decay` per step) or "swa" (the mean
    # of the epoch-end weights from the `swa_start` fraction of the epochs on); the averaged weights are what is
    # validated, selected, saved and used. `tta`: predictions averaged over fixed views of each image
    # (meddl.tasks.image.tta). `label_smoothing`: of the cross-entropy targets (binary and multi-class).
    ensemble: int = 1
    weight_average: str = "none"
    ema_decay: float = 0.999
    swa_start: float = 0.75
    tta: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"optimizer {self.optimizer!r}: expected adam, adamw or sgd")
        if self.schedule not in ("cosine", "multistep", "constant"):
            raise ConfigError(f"schedule {self.schedule!r}: expected cosine, multistep or constant")
        for name in ("epochs", "batch_size", "size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.target_sensitivity is not None and not 0 < self.target_sensitivity <= 1:
            raise ConfigError(f"target sensitivity must be in (0, 1], got {self.target_sensitivity}")
        object.__setattr__(self, "logger", logger_names(self.logger))  # frozen: normalised once, here
        if self.tracking_uri is not None and "mlflow" not in self.logger:
            raise ConfigError("tracking_uri says where the mlflow logger writes: add mlflow to the loggers "
                              "(--logger csv,mlflow), or leave it out")
        if self.tracking_uri is not None and urlsplit(self.tracking_uri).password is not None:
            raise ConfigError("tracking_uri holds a password, which metrics.json and manifest.json would record: "
                              "give it in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead")
        self._check_devices()
        self._check_privacy()
        self._check_image_recipe()

    def _check_devices(self) -> None:
        """Lightning's device forms: 'auto', a count (-1: every device), or device indices such as '0,1'."""
        devices = self.devices
        valid = (devices == "auto" or (isinstance(devices, int) and (devices >= 1 or devices == -1))
                 or (isinstance(devices, str) and all(part.strip().isdigit() for part in devices.split(","))))
        if not valid:
            raise ConfigError(f"devices {devices!r}: expected a number of devices (e.g. 2; -1 for all), device "
                              "indices such as 0,1, or auto")
        if not isinstance(devices, int) or devices < 0:  # -1 and index lists name GPUs
            import torch

            if self.accelerator == "cpu" or (self.accelerator == "auto" and not torch.cuda.is_available()):
                raise ConfigError(f"devices {devices!r} names GPUs, and this run is on the CPU: give a number of "
                                  "CPU processes (e.g. --devices 2)")
        if not isinstance(self.num_nodes, int) or self.num_nodes < 1:
            raise ConfigError(f"num_nodes must be at least 1, got {self.num_nodes!r}")

    def _check_privacy(self) -> None:
        """DP options only make sense together, and only where Opacus' guarantee holds: one process, full precision."""
        if not self.dp:
            if self.epsilon is not None or self.delta is not None or self.max_grad_norm != 1.0:
                raise ConfigError("epsilon, delta and max_grad_norm are differential-privacy options: add --dp "
                                  "(dp=True) to train privately, or leave them out")
            return
        if self.epsilon is None:
            raise ConfigError("--dp needs a privacy budget: --epsilon E (e.g. 1, 3 or 8; smaller is more private)")
        if not 0 < self.epsilon < float("inf"):
            raise ConfigError(f"epsilon must be a positive number, got {self.epsilon}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ConfigError(f"delta must be between 0 and 1 (exclusive), got {self.delta}")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"max_grad_norm must be positive, got {self.max_grad_norm}")
        if self.precision not in ("auto", "32", "32-true"):
            raise ConfigError(f"--dp trains in full precision (Opacus' per-sample gradients are float32); "
                              f"got precision {self.precision!r}: leave it out or use 32-true")
        if self.devices not in ("auto", 1) or self.num_nodes != 1:
            raise ConfigError(f"--dp trains in one process on one device (one privacy accountant); got devices "
                              f"{self.devices!r} and num_nodes {self.num_nodes}")

    def _check_image_recipe(self) -> None:
        from meddl.training.averaging import WEIGHT_AVERAGES

        if not isinstance(self.ensemble, int) or self.ensemble < 1:
            raise ConfigError(f"ensemble must be a whole number of members, at least 1, got {self.ensemble!r}")
        if self.weight_average not in WEIGHT_AVERAGES:
            raise ConfigError(f"weight_average {self.weight_average!r}: expected one of {', '.join(WEIGHT_AVERAGES)}")
        if not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be between 0 and 1 (exclusive), got {self.ema_decay}")
        if not 0 <= self.swa_start < 1:
            raise ConfigError(f"swa_start is the fraction of the epochs after which SWA averages; expected 0 <= "
                              f"swa_start < 1, got {self.swa_start}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.dp and (self.ensemble > 1 or self.weight_average != "none"):
            raise ConfigError("--dp trains one network with one privacy accountant: leave out ensemble and "
                              "weight_average")

    def image_recipe_options(self) -> list[str]:
        """The image-classifier options this config sets away from their defaults (other tasks refuse them)."""
        defaults = {"ensemble": 1, "weight_average": "none", "tta": False, "label_smoothing": 0.0}
        return [name for name, default in defaults.items() if getattr(self, name) != default]

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    "fast": {},
    # The recommended image recipe so far: fast plus EMA weights, the one idea that raised validation ACC on all three
    # sets it was measured on (breast, retina, pneumonia; docs/recipes.md) at no extra cost.
    "best": {"weight_average": "ema"},
    "medmnist-v2": {
        "model": "resnet18-28",
        "epochs": 100,
        "batch_size": 128,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "schedule": "multistep",
        "milestones": (50, 75),
        "gamma": 0.1,
        "augment": False,
    },
    # Volumes (MedMNIST 3D, a user's NIfTI or DICOM series): fast-cnn-3d, smaller batches (a 28^3 volume is 28
    # images' worth of voxels)
    "volume": {"model": "fast-cnn-3d", "batch_size": 32},
    "ecg": {"model": "ecg-boost", "epochs": 1, "batch_size": 256, "lr": 1e-3, "augment": False},
    "text": {"model": "bilstm-attention", "epochs": 15, "batch_size": 64, "lr": 2e-3, "augment": False},
    # Section labelling: whole abstracts as sequences (batch_size counts abstracts, of ~4 passages in PubMedQA);
    # PubMedQA validation (seed 0) was as good after 8 epochs as after 12 (93.9 acc both; best epoch 7).
    "sections": {"model": "passage-bilstm", "epochs": 8, "batch_size": 16, "lr": 2e-3, "augment": False},
    # Question answering on a few hundred labelled questions: over 15 epochs PubMedQA's validation loss was lowest at
    # epochs 1-5 (three seeds) and then rose to twice that as the BiLSTM memorised its training answers.
    "qa": {"model": "bilstm-attention", "epochs": 3, "batch_size": 64, "lr": 2e-3, "augment": False},
    "lm": {"model": "lstm-lm", "epochs": 20, "batch_size": 32, "lr": 2e-3, "augment": False},
}


def make_config(dataset: str, preset: str = "fast", **overrides) -> TrainConfig:
    """A config from a preset, with explicit overrides (None means 'keep the preset's value'). A model made for
    much larger images than `size` is warned about (`meddl.models.registry.size_warning`)."""
    from meddl.models.registry import size_warning

    if preset not in PRESETS:
        hint = did_you_mean(preset, PRESETS)
        raise ConfigError(f"unknown preset {preset!r}: {hint + ' ' if hint else ''}expected one of "
                          f"{', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        hints = [hint for hint in (did_you_mean(name, known) for name in unknown) if hint]
        raise ConfigError(f"unknown training option(s): {', '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints
                                                                                  else ""))
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    if "milestones" in values:
        values["milestones"] = tuple(values["milestones"])
    if "data_options" in values:
        values["data_options"] = dict(values["data_options"])
    config = replace(TrainConfig(dataset=dataset, preset=preset), **values)
    warning = size_warning(config.model, config.size)  # also: an unknown model is an error now, before any loading
    if warning:
        warnings.warn(warning, stacklevel=2)
    return config
