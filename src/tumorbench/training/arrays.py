"""The batches the training loop draws from a split decoded in memory (`tumorbench.data.arrays`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from tumorbench.data.arrays import ImageArrays
from tumorbench.data.augment import AffineAugment, StrongAugment
from tumorbench.data.balance import EpochPlan
from tumorbench.data.preprocess import PreprocessSpec

Place = Callable[[torch.Tensor], torch.Tensor]  # a uint8 batch onto the device, in the model's memory layout


def plan_batches(
    data: ImageArrays, plan: EpochPlan, *, batch_size: int, spec: PreprocessSpec, place: Place,
    augment: AffineAugment | StrongAugment | None = None, generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (input, target) in the plan's order; planned copies get a random augmentation.

    Each batch is gathered and placed as uint8 and scaled on the device in one vectorised step."""
    for start in range(0, len(plan.indices), batch_size):
        idx = torch.from_numpy(plan.indices[start:start + batch_size])
        x = spec.to_tensor(place(data.images(idx)))
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
        yield spec.to_tensor(place(data.images(slice(start, start + batch_size))))
