"""Classifiers of volumes (N, C, D, H, W): a fast 3D CNN for CPUs, MONAI's 3D ResNets and DenseNet, and the MedMNIST
v2 paper's ways of turning a 2D ResNet into a volume network: 2.5D (its 2D kernels on each axial slice) and ACS
(Yang et al., IEEE JBHI 2021: each kernel's output channels split into three groups that look at the axial,
coronal and sagittal planes).

The conversion is hand-written: the ACSConv package would do it, but it is not kept for current PyTorch releases,
and the change is one convolution class and a walk over the modules.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from meddl.models.cnn import FastCNN, _monai_resnet
from meddl.models.registry import register_model

VOLUME_SIZES = "28-64 (3D)"


def _cube(value) -> int:
    """The one side of a square 2D kernel/stride/padding (the ResNets here use no other)."""
    first, *rest = value if isinstance(value, tuple) else (value,)
    if any(side != first for side in rest):
        raise ValueError(f"only square 2D convolutions convert to 3D, got {value}")
    return int(first)


class AcsConv(nn.Module):
    """A 2D convolution applied to volumes the ACS way: of its output channels, the first third convolve the axial
    plane (H, W), the next third the coronal (D, W) and the rest the sagittal (D, H). Parameters and cost are those
    of the 2D convolution times the depth; every kernel still sees only a plane, so 2D designs carry over."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.groups != 1:
            raise ValueError("ACS convolution is defined here for ungrouped convolutions only")
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.padding, self.dilation = _cube(conv.stride), _cube(conv.padding), _cube(conv.dilation)
        base, extra = divmod(conv.out_channels, 3)
        self.split = (base + (extra > 0), base + (extra > 1), base)  # axial, coronal, sagittal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, start = [], 0
        for axis, count in enumerate(self.split):
            if count == 0:
                continue
            kernel = self.weight[start : start + count].unsqueeze(2 + axis)  # thickness 1 across the plane
            padding = [self.padding] * 3
            dilation = [self.dilation] * 3
            padding[axis], dilation[axis] = 0, 1
            bias = None if self.bias is None else self.bias[start : start + count]
            outputs.append(F.conv3d(x, kernel, bias, self.stride, padding, dilation))
            start += count
        return torch.cat(outputs, dim=1)


def _slice_conv(conv: nn.Conv2d) -> nn.Conv3d:
    """The 2D convolution as a 3D one of depth 1, moving over each slice alone (2.5D): depth is never strided."""
    k, s, p, d = (_cube(v) for v in (conv.kernel_size, conv.stride, conv.padding, conv.dilation))
    conv3d = nn.Conv3d(conv.in_channels, conv.out_channels, (1, k, k), (1, s, s), (0, p, p), (1, d, d),
                       groups=conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        conv3d.weight.copy_(conv.weight.unsqueeze(2))
        if conv.bias is not None:
            conv3d.bias.copy_(conv.bias)
    return conv3d


def _norm(norm: nn.BatchNorm2d) -> nn.BatchNorm3d:
    converted = nn.BatchNorm3d(norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
    converted.load_state_dict(norm.state_dict())
    return converted


def to_volume_network(net: nn.Module, mode: str) -> nn.Module:
    """`net`, a 2D network, with every 2D layer replaced by its volume counterpart: convolutions by ACS ones
    (`mode` "acs") or by slice-wise ones ("2.5d"); batch-norm and pooling by their 3D versions. Weights are
    kept, so a seeded 2D network converts to the same seeded volume network. A 2D layer it cannot convert is an
    error, never a silent 2D pass over a volume."""
    if mode not in ("acs", "2.5d"):
        raise ValueError(f"mode must be 'acs' or '2.5d', got {mode!r}")
    for name, child in list(net.named_children()):
        if isinstance(child, nn.Conv2d):
            replacement: nn.Module = AcsConv(child) if mode == "acs" else _slice_conv(child)
        elif isinstance(child, nn.BatchNorm2d):
            replacement = _norm(child)
        elif isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size in (1, (1, 1)):
            replacement = nn.AdaptiveAvgPool3d(1)
        elif isinstance(child, nn.MaxPool2d):
            k, s, p = (_cube(v) for v in (child.kernel_size, child.stride, child.padding))
            replacement = nn.MaxPool3d(k, s, p) if mode == "acs" else nn.MaxPool3d((1, k, k), (1, s, s), (0, p, p))
        elif isinstance(child, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Dropout2d, nn.InstanceNorm2d)):
            raise ValueError(f"{name}: {type(child).__name__} has no volume conversion here")
        else:
            replacement = to_volume_network(child, mode)
        setattr(net, name, replacement)
    return net


@register_model("fast-cnn-3d", "cnn", "fast-cnn for volumes: 3x3x3 convolutions of 16/32/64 filters (~0.2M "
                "parameters) after a strided stem, the fast CPU default for 3D", VOLUME_SIZES,
                # Grad-CAM explains the second stage (7^3 at 28^3 input): the last stage's 3^3 map, upsampled, covered
                # the whole volume and pointed at its centre even when occlusion found the evidence in a corner
                cam_layer="features.4", spatial_dims=3)
def fast_cnn_3d(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    # The stem strides the volume down to 14-16 voxels a side: at full 28^3 resolution a training step cost 10 times
    # as much (13 vs 121 volumes/s, 1 CPU thread, batch 32), too much for a CPU.
    return FastCNN(in_channels, num_classes, width=16, spatial_dims=3, stem_stride=max(2, image_size // 16))


@register_model("resnet18-3d", "cnn", "MONAI 3D ResNet-18 for 28-64 voxel cubes (3x3x3 stem, no max-pool), as the "
                "MedMNIST v2 'ResNet-18 + 3D'", VOLUME_SIZES, cam_layer="layer4", spatial_dims=3)
def resnet18_3d(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return _monai_resnet(18, in_channels, num_classes, small_input=True, spatial_dims=3)


@register_model("resnet50-3d", "cnn", "MONAI 3D ResNet-50 for 28-64 voxel cubes (3x3x3 stem, no max-pool)",
                VOLUME_SIZES, cam_layer="layer4", spatial_dims=3)
def resnet50_3d(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return _monai_resnet(50, in_channels, num_classes, small_input=True, spatial_dims=3)


@register_model("resnet18-acs", "cnn", "ResNet-18(28) with ACS convolutions (axial/coronal/sagittal kernel groups), "
                "as the MedMNIST v2 'ResNet-18 + ACS'", VOLUME_SIZES, cam_layer="layer4", spatial_dims=3)
def resnet18_acs(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return to_volume_network(_monai_resnet(18, in_channels, num_classes, small_input=True), "acs")


@register_model("resnet50-acs", "cnn", "ResNet-50(28) with ACS convolutions", VOLUME_SIZES, cam_layer="layer4",
                spatial_dims=3)
def resnet50_acs(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return to_volume_network(_monai_resnet(50, in_channels, num_classes, small_input=True), "acs")


@register_model("resnet18-2.5d", "cnn", "ResNet-18(28) run on each axial slice, features averaged over slices, as "
                "the MedMNIST v2 'ResNet-18 + 2.5D'", VOLUME_SIZES, cam_layer="layer4", spatial_dims=3)
def resnet18_25d(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return to_volume_network(_monai_resnet(18, in_channels, num_classes, small_input=True), "2.5d")


@register_model("densenet121-3d", "cnn", "MONAI DenseNet-121 (3D), trained from scratch", "64-128 (3D)",
                cam_layer="class_layers.relu", spatial_dims=3)
def densenet121_3d(in_channels: int, num_classes: int, image_size: int = 64) -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=3, in_channels=in_channels, out_channels=num_classes)
