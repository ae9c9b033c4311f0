"""The one registry of models: each architecture registers itself next to its definition, as in timm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from meddl.errors import did_you_mean
from meddl.errors import ConfigError

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model is, for `meddl models` and for choosing one.

    `design_size`: the image side the architecture was made for (224 for ImageNet-style stems, whose 32-fold
    downsampling leaves a 28-px image almost nothing to look at); None where any size suits it. `small_variant`:
    the registered model of the same family made for small images. `spatial_dims`: 2 for models of flat images
    (N, C, H, W), 3 for models of volumes (N, C, D, H, W)."""

    name: str
    family: str
    description: str
    input_size: str
    cam_layer: str = ""
    design_size: int | None = None
    small_variant: str = ""
    spatial_dims: int = 2


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    build: Builder


_MODELS: dict[str, _Entry] = {}


def register_model(
    name: str, family: str, description: str, input_size: str = "any", cam_layer: str = "",
    design_size: int | None = None, small_variant: str = "", spatial_dims: int = 2,
) -> Callable[[Builder], Builder]:
    """Decorator: register `build(in_channels, num_classes, **kwargs) -> nn.Module` under `name`.

    `cam_layer` names the sub-module (as in `named_modules()`) whose output is the last spatial feature map: the
    layer Grad-CAM explains. Leave it empty for a model without one; only occlusion can explain that model.
    `design_size` and `small_variant`: see `ModelInfo` (training far below the design size is warned about).
    `spatial_dims` 3 registers a model of volumes.
    """

    def decorate(build: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        info = ModelInfo(name, family, description, input_size, cam_layer, design_size, small_variant, spatial_dims)
        _MODELS[name] = _Entry(info, build)
        return build

    return decorate


def _ensure_registered() -> None:
    from meddl.models import cnn, ecg, ecg_boost, gan, rnn, text, volume  # noqa: F401


def list_models() -> list[ModelInfo]:
    _ensure_registered()
    return [_MODELS[name].info for name in sorted(_MODELS)]


def model_info(name: str) -> ModelInfo:
    """What model `name` is; a ConfigError lists the registered names if it is unknown."""
    _ensure_registered()
    return _entry(name).info


def size_warning(name: str, image_size: int) -> str | None:
    """Why training model `name` on `image_size`-px images is a poor choice (a quarter of its design size or less),
    naming what to use instead; None when the size suits it."""
    info = model_info(name)
    if info.design_size is None or image_size * 4 > info.design_size:
        return None
    instead = info.small_variant or "a model made for small images (see `meddl models`)"
    return (f"{name} is designed for {info.design_size}-px images, not {image_size}-px ones: its 32-fold "
            f"downsampling leaves its last layers almost nothing to look at; train {instead} instead, or use larger "
            f"images (--size {info.design_size})")


def check_spatial_dims(name: str, spatial_dims: int, dataset: str) -> None:
    """Refuse a model of flat images for volumes (and the other way round), naming the models that fit."""
    info = model_info(name)
    if info.spatial_dims == spatial_dims:
        return
    fitting = sorted(m.name for m in list_models() if m.spatial_dims == spatial_dims and m.family == "cnn")
    what = {2: "2D images", 3: "3D volumes"}
    raise ConfigError(f"model {name!r} takes {what[info.spatial_dims]} but {dataset} holds {what[spatial_dims]}: "
                      f"choose one of {', '.join(fitting)} (`meddl models`)")


def _entry(name: str) -> _Entry:
    entry = _MODELS.get(name)
    if entry is None:
        suggestion = did_you_mean(name, _MODELS)
        raise ConfigError(f"unknown model {name!r}: " + (f"{suggestion} (`meddl models` lists them all)" if suggestion
                                                          else f"expected one of {', '.join(sorted(_MODELS))}"))
    return entry


def create(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Build model `name` for images with `in_channels` channels and `num_classes` outputs (logits)."""
    _ensure_registered()
    return _entry(name).build(in_channels=in_channels, num_classes=num_classes, **kwargs)
