"""Images decoded once into memory, and the batches the training loop draws from them.

Decoding a JPEG and resizing it costs more than a forward pass of the seed's CNN at 64 px, so each
split is decoded once per preprocessing spec and kept as uint8 (256 px grayscale Sartaj: ~190 MB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tumorbench.classes import CLASS_NAMES
from tumorbench.data.augment import AffineAugment
from tumorbench.data.balance import EpochPlan
from tumorbench.data.preprocess import PreprocessSpec


@dataclass
class ImageArrays:
    x: torch.Tensor  # uint8 (N, C, H, W) at the spec's size and mode
    y: torch.Tensor  # int64 (N,) class indices into CLASS_NAMES; -1 when the label is unknown
    paths: list[str]  # relative image paths, same order

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labels(self) -> list[str | None]:
        return [CLASS_NAMES[y] if y >= 0 else None for y in self.y.tolist()]

    @classmethod
    def from_numpy(cls, x: np.ndarray, labels: list[str | None], paths: list[str]) -> ImageArrays:
        y = [CLASS_NAMES.index(lab) if lab else -1 for lab in labels]
        return cls(torch.from_numpy(x), torch.tensor(y, dtype=torch.int64), list(paths))


Place = Callable[[torch.Tensor], torch.Tensor]  # a uint8 batch onto the device, in the model's memory layout


def plan_batches(
    data: ImageArrays, plan: EpochPlan, *, batch_size: int, spec: PreprocessSpec, place: Place,
    augment: AffineAugment | None = None, generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (input, target) in the plan's order; planned copies get a random augmentation.

    Each batch is gathered and placed as uint8 and scaled on the device in one vectorised step."""
    for start in range(0, len(plan.indices), batch_size):
        idx = torch.from_numpy(plan.indices[start:start + batch_size])
        x = spec.to_tensor(place(data.x[idx]))
        flags = torch.from_numpy(plan.augment[start:start + batch_size])
        if augment is not None and bool(flags.any()):
            flags = flags.to(x.device)
            x[flags] = augment(x[flags], generator)
        yield x, data.y[idx].to(x.device)


def sequential_batches(
    data: ImageArrays, *, batch_size: int, spec: PreprocessSpec, place: Place
) -> Iterator[torch.Tensor]:
    """Inputs in dataset order, for evaluation and prediction."""
    for start in range(0, len(data), batch_size):
        yield spec.to_tensor(place(data.x[start:start + batch_size]))
