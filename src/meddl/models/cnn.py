"""Convolutional image classifiers: the seed's Keras CNN, a small fast CNN, ResNets and MONAI's networks.

Every builder takes `in_channels` and `num_classes` and returns logits; the task decides what they mean.
"""

from __future__ import annotations

from torch import nn

from meddl.models.registry import register_model


class SeedCNN(nn.Module):
    """The seed article's Keras CNN: three Conv(3x3)-ReLU-MaxPool blocks of 32/64/128 filters, Flatten,
    Dense(1024)-ReLU, Dense(N). Keras' default 'valid' padding is kept, so a 28x28 input ends at 1x1x128."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int = 28):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = in_channels, image_size
        for width in (32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels, side = width, (side - 2) // 2
        if side < 1:
            raise ValueError(f"seed-cnn needs images of at least 22x22 pixels, got {image_size}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * side * side, 1024), nn.ReLU(inplace=True), nn.Linear(1024, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


_LAYERS = {  # (convolution, batch-norm, max-pool, adaptive average pool) per number of spatial dimensions
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.AdaptiveAvgPool3d),
}


def _conv_bn_relu(in_channels: int, out_channels: int, spatial_dims: int = 2, stride: int = 1) -> nn.Sequential:
    conv, norm, _, _ = _LAYERS[spatial_dims]
    kernel = 3 if stride <= 2 else stride + 1  # a kernel wider than its stride, so that no voxel is skipped
    return nn.Sequential(
        conv(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm(out_channels),
        nn.ReLU(inplace=True),
    )


class FastCNN(nn.Module):
    """A small VGG-style CNN (three stages of two 3x3 convs with batch-norm, global average pooling) that trains
    in seconds per epoch on a laptop CPU at 28x28 and works at any input size. `spatial_dims=3` is the same
    network for volumes (3x3x3 convolutions); `stem_stride` s > 1 shrinks the input s-fold in the first
    convolution, which a volume's cost (the cube of its side) calls for."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.2,
                 spatial_dims: int = 2, stem_stride: int = 1):
        super().__init__()
        _, _, max_pool, average_pool = _LAYERS[spatial_dims]
        widths = (width, width * 2, width * 4)
        stages: list[nn.Module] = []
        channels = in_channels
        for index, out in enumerate(widths):
            stride = stem_stride if index == 0 else 1
            stages += [_conv_bn_relu(channels, out, spatial_dims, stride), _conv_bn_relu(out, out, spatial_dims)]
            if index < len(widths) - 1:
                stages.append(max_pool(2))
            channels = out
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(
            average_pool(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


@register_model("seed-cnn", "cnn", "The seed article's Keras CNN (3 conv blocks 32/64/128, Dense 1024)", "28-224",
                # the last conv block's activation, before its max-pool shrinks 28 px input to 1x1
                cam_layer="features.7")
def seed_cnn(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return SeedCNN(in_channels, num_classes, image_size)


@register_model("fast-cnn", "cnn", "Small VGG-style CNN with batch-norm; the fast CPU default (~0.3M parameters)",
                cam_layer="features")
def fast_cnn(in_channels: int, num_classes: int, image_size: int = 28, width: int = 32) -> nn.Module:
    return FastCNN(in_channels, num_classes, width=width)


@register_model("fast-cnn-wide", "cnn", "fast-cnn at twice the width (64/128/256 filters, ~1.2M parameters)",
                cam_layer="features")
def fast_cnn_wide(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return FastCNN(in_channels, num_classes, width=64)


def _monai_resnet(depth: int, in_channels: int, num_classes: int, small_input: bool, spatial_dims: int = 2) -> nn.Module:
    from monai.networks.nets import ResNet
    from monai.networks.nets.resnet import ResNetBlock, ResNetBottleneck

    block, layers = {18: (ResNetBlock, [2, 2, 2, 2]), 50: (ResNetBottleneck, [3, 4, 6, 3])}[depth]
    return ResNet(
        block=block,
        layers=layers,
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=3 if small_input else 7,
        conv1_t_stride=1 if small_input else 2,
        no_max_pool=small_input,
        bias_downsample=False,
        num_classes=num_classes,
    )


@register_model("resnet18-28", "cnn", "ResNet-18 for 28x28 input (3x3 stem, no max-pool), as in MedMNIST v2", "28-64",
                cam_layer="layer4")
def resnet18_28(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return _monai_resnet(18, in_channels, num_classes, small_input=True)


@register_model("resnet18", "cnn", "Standard ResNet-18 (7x7 stride-2 stem, max-pool) for 128-224 input", "128-224",
                cam_layer="layer4", design_size=224, small_variant="resnet18-28")
def resnet18(in_channels: int, num_classes: int, image_size: int = 224) -> nn.Module:
    return _monai_resnet(18, in_channels, num_classes, small_input=False)


@register_model("resnet50-28", "cnn", "ResNet-50 for 28x28 input (3x3 stem, no max-pool), as in MedMNIST v2", "28-64",
                cam_layer="layer4")
def resnet50_28(in_channels: int, num_classes: int, image_size: int = 28) -> nn.Module:
    return _monai_resnet(50, in_channels, num_classes, small_input=True)


@register_model("resnet50", "cnn", "Standard ResNet-50 (7x7 stride-2 stem, max-pool) for 128-224 input", "128-224",
                cam_layer="layer4", design_size=224, small_variant="resnet50-28")
def resnet50(in_channels: int, num_classes: int, image_size: int = 224) -> nn.Module:
    return _monai_resnet(50, in_channels, num_classes, small_input=False)


@register_model("densenet121", "cnn", "MONAI DenseNet-121 (2D), trained from scratch", "64-224",
                cam_layer="class_layers.relu", design_size=224)
def densenet121(in_channels: int, num_classes: int, image_size: int = 224) -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_classes)


@register_model("efficientnet-b0", "cnn", "MONAI EfficientNet-B0 (2D), trained from scratch", "64-224",
                # not `_swish`: that one module runs after the stem as well, so its hooks would mix two layers
                cam_layer="_bn1", design_size=224)
def efficientnet_b0(in_channels: int, num_classes: int, image_size: int = 224) -> nn.Module:
    from monai.networks.nets import EfficientNetBN

    return EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=in_channels,
                          num_classes=num_classes)
