"""The one registry of models: each architecture registers itself next to its definition, as in timm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from meddl.errors import ConfigError

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model is, for `meddl models` and for choosing one."""

    name: str
    family: str
    description: str
    input_size: str
    cam_layer: str = ""


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Builder


_MODELS: dict[str, _Entry] = {}


def register_model(
    name: str, family: str, description: str, input_size: str = "any", cam_layer: str = ""
) -> Callable[[Builder], Builder]:
    """Decorator: register `build(in_channels, num_classes, **kwargs) -> nn.Module` under `name`.

    `cam_layer` names the sub-module (as in `named_modules()`) whose output is the last spatial feature map: the
    layer Grad-CAM explains. Leave it empty for a model without one; only occlusion can explain that model.
    """

    def decorate(build: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = _Entry(ModelInfo(name, family, description, input_size, cam_layer), build)
        return build

    return decorate


def _ensure_registered() -> None:
    from meddl.models import cnn, ecg, gan, rnn, text  # noqa: F401


def list_models() -> list[ModelInfo]:
    _ensure_registered()
    return [_MODELS[name].info for name in sorted(_MODELS)]


def model_info(name: str) -> ModelInfo:
    """What model `name` is; a ConfigError lists the registered names if it is unknown."""
    _ensure_registered()
    return _entry(name).info


def _entry(name: str) -> _Entry:
    entry = _MODELS.get(name)
    if entry is None:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(sorted(_MODELS))}")
    return entry


def create(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Build model `name` for images with `in_channels` channels and `num_classes` outputs (logits)."""
    _ensure_registered()
    return _entry(name).build(in_channels=in_channels, num_classes=num_classes, **kwargs)
