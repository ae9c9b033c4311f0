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


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Builder


_MODELS: dict[str, _Entry] = {}


def register_model(name: str, family: str, description: str, input_size: str = "any") -> Callable[[Builder], Builder]:
    """Decorator: register `build(in_channels, num_classes, **kwargs) -> nn.Module` under `name`."""

    def decorate(build: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = _Entry(ModelInfo(name, family, description, input_size), build)
        return build

    return decorate


def _ensure_registered() -> None:
    from meddl.models import cnn  # noqa: F401


def list_models() -> list[ModelInfo]:
    _ensure_registered()
    return [_MODELS[name].info for name in sorted(_MODELS)]


def create(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Build model `name` for images with `in_channels` channels and `num_classes` outputs (logits)."""
    _ensure_registered()
    entry = _MODELS.get(name)
    if entry is None:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(sorted(_MODELS))}")
    return entry.build(in_channels=in_channels, num_classes=num_classes, **kwargs)
