"""The preprocessing spec: how pixels become a model's input tensor.

A spec belongs to a model (it is stored in the checkpoint and in every export) and is applied by the
same code in training, evaluation and prediction, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_METHODS = ("bilinear", "bicubic", "nearest", "lanczos")


@dataclass(frozen=True)
class PreprocessSpec:
    """Input size, colour mode and intensity scaling of a model (the seed's config keys)."""

    size: int = 256  # side of the square input in pixels (images are resized, aspect not kept, as Keras does)
    grayscale: bool = True  # one channel (L) when true, three (RGB) otherwise
    normalize: bool = True  # divide 0..255 by 255
    standardize: bool = False  # then subtract `mean` and divide by `std`, per channel
    mean: tuple[float, ...] = field(default=(0.5,))  # per-channel mean used by `standardize`
    std: tuple[float, ...] = field(default=(0.5,))  # per-channel std used by `standardize`
    resize: str = "bilinear"  # resampling filter: bilinear, bicubic, nearest or lanczos

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"preprocessing size must be an integer >= 8, got {self.size!r}")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(
                f"unknown resize method {self.resize!r}; valid methods: {', '.join(RESIZE_METHODS)}"
            )
        if self.standardize and len(self.mean) not in (1, self.channels):
            raise ValueError(f"mean {self.mean} does not fit {self.channels} channel(s)")
        if self.standardize and len(self.std) not in (1, self.channels):
            raise ValueError(f"std {self.std} does not fit {self.channels} channel(s)")
        if self.standardize and any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be positive, got {self.std}")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def mode(self) -> str:
        """The PIL mode images are converted to."""
        return "L" if self.grayscale else "RGB"

    def with_size(self, size: int | None) -> PreprocessSpec:
        return self if size is None else replace(self, size=int(size))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown preprocessing keys {unknown}; valid keys: {', '.join(sorted(known))}"
            )
        values = dict(data)
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        return cls(**values)

    def to_tensor(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """Scale a uint8 batch (N, C, H, W) already at `size` and in `mode` to the model's input."""
        x = batch_uint8.float()
        if self.normalize:
            x = x / 255.0
        if self.standardize:
            mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x


def imagenet_spec(size: int) -> PreprocessSpec:
    """RGB input with ImageNet mean/std: what torchvision's pretrained weights expect."""
    return PreprocessSpec(
        size=size, grayscale=False, normalize=True, standardize=True,
        mean=IMAGENET_MEAN, std=IMAGENET_STD,
    )
