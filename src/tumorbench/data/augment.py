"""Augmentation of a batch of tensors: the seed's (Keras ImageDataGenerator: rotation 5 degrees,
shift 0.1, zoom 0.1, fill_mode='nearest'), and `StrongAugment` (flip, scale, intensity) for training
from scratch.

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


@dataclass(frozen=True)
class StrongAugment:
    """Augmentation that MRI anatomy allows, for every training image (`augment: strong`).

    Geometry: left-right flip (brains are near-symmetric and tumours occur on either side), rotation
    and shift as a slightly tilted or off-centre slice, zoom both ways as a different head or tumour size
    (Sartaj's test gliomas differ in size and look from its training ones, so scale and intensity
    changes are the well-founded ones). Intensity: brightness, contrast and gamma, as scanners and
    sequences differ. Intensity changes are made relative to each image's own range, so they mean the
    same whatever the input scaling ([0, 1], [-1, 1], standardised).
    """

    rotation: float = 10.0  # maximum rotation in degrees, either way
    shift: float = 0.08  # maximum shift as a fraction of width and height
    zoom: float = 0.15  # zoom factor drawn from [1 - zoom, 1 + zoom]
    flip: float = 0.5  # probability of a left-right flip
    brightness: float = 0.1  # added offset, up to this share of the image's range, either way
    contrast: float = 0.2  # contrast factor drawn from [1 - contrast, 1 + contrast] around the mean
    gamma: float = 0.25  # gamma drawn log-uniformly from [1 / (1 + gamma), 1 + gamma]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch (N, C, H, W); each image gets its own random transform."""
        n = x.shape[0]
        if n == 0:
            return x

        def draw(low: float, high: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * (high - low) + low).to(x.device, x.dtype).view(n, 1, 1, 1)

        x = AffineAugment(rotation=self.rotation, shift=self.shift, zoom=self.zoom)(x, generator)
        flip = (torch.rand(n, generator=generator) < self.flip).to(x.device)
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        span = (x.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-6)
        unit = (x - lo) / span  # each image in [0, 1]
        log_g = math.log1p(self.gamma)
        unit = unit.clamp(0, 1) ** draw(-log_g, log_g).exp()
        mean = unit.mean(dim=(1, 2, 3), keepdim=True)
        unit = ((unit - mean) * draw(1 - self.contrast, 1 + self.contrast) + mean
                + draw(-self.brightness, self.brightness))
        return lo + span * unit
