"""The seed notebook's small CNN (its Models 1, 2 and 3), layer for layer.

Keras' Dense(4, softmax) + categorical cross-entropy is written here as a Linear layer that returns
logits, with the softmax inside the loss and in prediction: the same model, numerically safer.
"""

from __future__ import annotations

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
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), act(),
            nn.Conv2d(32, 64, 3), act(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3), act(),
            nn.Conv2d(128, 128, 3), act(),
            nn.MaxPool2d(2),
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
        return self.classifier(self.features(x))


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
