"""The seed notebook's small CNN (its Models 1, 2 and 3), layer for layer.

Keras' Dense(4, softmax) + categorical cross-entropy is written here as a Linear layer that returns
logits, with the softmax inside the loss and in prediction: the same model, numerically safer.
"""

from __future__ import annotations

import torch
from torch import nn

from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.models._registry import register_model

SEED_SPEC = PreprocessSpec(size=256, grayscale=True, normalize=True, standardize=False)


class SeedCNN(nn.Module):
    """Conv 32, Conv 64, MaxPool, Conv 128, Conv 128, MaxPool (3x3, 'valid'), Flatten, Dense 64,
    Dropout 0.2, Dense n_classes."""

    def __init__(self, *, in_channels: int, size: int, num_classes: int, conv_activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        act = conv_activation
        # With ReLU, the activation of the convolution before each max-pool runs after the pool, on a
        # quarter of the values: max-pooling commutes with ReLU, so outputs and gradients are the seed's
        # bit for bit (tested) at less cost (at 256 px those two ReLUs were 60 % of the elementwise work
        # of a forward pass). Not with sigmoid: its bf16 outputs round neighbours to equal values, and
        # the pool's backward would then pick another of them than the seed's order does (gradients 10 %
        # apart, measured). Layer indices, hence checkpoint keys, are the same either way.
        pool_first = act is nn.ReLU
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), act(),
            *_pooled(nn.Conv2d(32, 64, 3), act(), pool_first),
            nn.Conv2d(64, 128, 3), act(),
            *_pooled(nn.Conv2d(128, 128, 3), act(), pool_first),
        )
        side = ((size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * side * side, 64), nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(64, num_classes),
        )

        self._init_as_keras()

    def _init_as_keras(self) -> None:
        # The seed's Keras layers start from Glorot-uniform kernels and zero biases; PyTorch's default
        # (Kaiming-uniform with a=sqrt(5)) starts this network in a longer plateau at the class prior.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        features = self.features(x)
        if features.requires_grad and _channels_last(features):
            # Flatten copies channels-last features into NCHW order (the dense layer's weights are in that
            # order), so its gradient comes back NCHW and max-pool's backward then writes an NCHW gradient
            # that the convolution's backward must transpose, at four times the size (profiled at 256 px,
            # bf16: the largest copy of the step). Transposing the small gradient here keeps the backward
            # pass channels-last throughout.
            features.register_hook(_to_channels_last)
        # The dense layer sums over 107 k (128 px) to 476 k (256 px) features per output: in fp32 even
        # under bf16 autocast, where rounding every feature and weight to 8 significant bits cost this
        # network 1.5 points of validation macro-F1 against fp32 (Sartaj, 128 px, 3 seeds; with this
        # layer in fp32: 0.5). Its weights then need no bf16 copy either.
        with torch.autocast(features.device.type, enabled=False):
            return self.classifier(features.float())


def _pooled(conv: nn.Module, act: nn.Module, pool_first: bool) -> list[nn.Module]:
    """Convolution, activation and 2x2 max-pool, the pool before the activation when `pool_first`."""
    return [conv, nn.MaxPool2d(2), act] if pool_first else [conv, act, nn.MaxPool2d(2)]


def _channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _to_channels_last(grad: torch.Tensor) -> torch.Tensor:
    return grad.contiguous(memory_format=torch.channels_last)


@register_model(preprocess=SEED_SPEC, min_size=18,
                description="seed Model 1: small CNN, ReLU convolutions, 256 px grayscale")
def model_1(spec: PreprocessSpec, num_classes: int) -> nn.Module:
    return SeedCNN(in_channels=spec.channels, size=spec.size, num_classes=num_classes)


@register_model(preprocess=SEED_SPEC, balance="augment_balance", min_size=18,
                description="seed Model 2: Model 1 trained on class-balanced augmented data")
def model_2(spec: PreprocessSpec, num_classes: int) -> nn.Module:
    return SeedCNN(in_channels=spec.channels, size=spec.size, num_classes=num_classes)


@register_model(preprocess=SEED_SPEC, min_size=18,
                description="seed Model 3: Model 1 with sigmoid activations in the four convolutions")
def model_3(spec: PreprocessSpec, num_classes: int) -> nn.Module:
    return SeedCNN(in_channels=spec.channels, size=spec.size, num_classes=num_classes,
                   conv_activation=nn.Sigmoid)
