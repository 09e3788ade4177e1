"""The seed's augmentation (Keras ImageDataGenerator: rotation 5 degrees, shift 0.1, zoom 0.1,
fill_mode='nearest') applied to a batch of tensors.

torchvision's RandomAffine fills the uncovered border with a constant, whereas Keras' 'nearest'
repeats the edge pixels; `grid_sample(padding_mode='border')` does exactly the latter, and works on a
whole batch at once on the CPU or the GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineAugment:
    rotation: float = 5.0  # maximum rotation in degrees, either way
    shift: float = 0.1  # maximum shift as a fraction of width and height
    zoom: float = 0.1  # zoom factor drawn from [1 - zoom, 1 + zoom]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch (N, C, H, W); each image gets its own random transform."""
        n = x.shape[0]
        if n == 0:
            return x

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(n, generator=generator) * (high - low) + low

        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        zoom = uniform(1 - self.zoom, 1 + self.zoom)
        # affine_grid works in normalised coordinates [-1, 1]: a shift of 0.1 of the width is 0.2.
        tx = uniform(-self.shift, self.shift) * 2
        ty = uniform(-self.shift, self.shift) * 2
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
        ).to(x.device, x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
