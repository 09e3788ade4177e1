"""`small_resnet`: a ResNet-style CNN small enough to train from scratch on a CPU in minutes.

A 3x3 stride-2 stem, four stages of basic residual blocks (BatchNorm, 16-32-64-128 channels, each
later stage halving the resolution), global average pooling, dropout and a linear layer. At 128 px
grayscale it has 0.31 M parameters and costs 0.064 GMAC per image (forward), a small fraction of the seed
CNN at 256 px, while BatchNorm and the residual paths let it train well from random weights, which the seed's
plain CNN does not (it stays at the class prior for epochs).

With `flip_tta` (off in the registered model, see below) the network averages the class probabilities of the image and
of its left-right mirror whenever it runs without gradients (validation, test, `predict`, export):
test-time augmentation as part of the model, so every path that uses the checkpoint gets it. With
gradients on (training, Grad-CAM) it is one plain pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.models._registry import register_model

# The same input as hog_svm (128 px grayscale, [0, 1]): a run with both decodes the images once.
SMALL_RESNET_SPEC = PreprocessSpec(size=128, grayscale=True, normalize=True, standardize=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a residual path (a 1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128),
                 blocks: int = 1, dropout: float = 0.2, flip_tta: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for i, width in enumerate(widths):
            layers = [BasicBlock(cin, width, 1 if i == 0 else 2)]
            layers += [BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = width
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin, num_classes))
        # A buffer, so the checkpoint says whether its model averages over the mirror image.
        self.register_buffer("flip_tta", torch.tensor(flip_tta))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.features.modules():
            if isinstance(block, BasicBlock):
                # Each residual block starts as the identity (Goyal et al. 2017): the deep path adds to it.
                nn.init.zeros_(block.bn2.weight)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or not bool(self.flip_tta):
            return self.logits(x)
        # Log of the mean probability: a softmax of it gives the averaged probabilities exactly. Plain
        # ops (softmax, mean, log) so that ONNX export keeps the averaging; the floor keeps it finite.
        both = self.logits(torch.cat([x, x.flip(-1)])).float().softmax(1)
        n = x.shape[0]
        return ((both[:n] + both[n:]) * 0.5).clamp_min(1e-30).log()


@register_model(preprocess=SMALL_RESNET_SPEC, min_size=32,
                description="small ResNet from scratch (4 stages 16-32-64-128, BatchNorm, global average "
                            "pooling), 128 px grayscale")
def small_resnet(spec: PreprocessSpec, num_classes: int) -> nn.Module:
    # No mirror averaging: on validation it cost 1-3 points for nets trained without flipped images (the
    # best-cpu recipe) and gained 1 point only with `augment: strong` (benchmarks/ablation_small_cnn.py).
    return SmallResNet(in_channels=spec.channels, num_classes=num_classes, flip_tta=False)
