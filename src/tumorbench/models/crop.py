"""Cropping to the head inside the model: the bounding box of the bright pixels, resampled to a fixed side.

MRI slices come with black margins of every width (Sartaj's images range from tight crops to a head
in the middle third of the frame), so at a fixed input size the same anatomy appears at different
scales. Cropping each image to its head before resizing makes scale comparable across images and
datasets. Done with tensor ops (threshold, first/last row and column, `roi_align`), it belongs to the
model: training, `predict` and the ONNX export crop alike.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align


class HeadCrop(nn.Module):
    """(N, C, H, W) in [0, 1] -> (N, C, out, out): the box of rows and columns where more than `min_share`
    of the pixels exceed `threshold`, with a `margin` (share of the box side), bilinearly resampled.
    An image with no such pixels is kept whole."""

    def __init__(self, out: int, *, threshold: float = 0.1, min_share: float = 0.02, margin: float = 0.02):
        super().__init__()
        self.out, self.threshold, self.min_share, self.margin = out, threshold, min_share, margin

    def boxes(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 5) boxes (batch index, x1, y1, x2, y2) in pixel coordinates."""
        n, _, h, w = x.shape
        bright = (x.amax(1) > self.threshold).float()  # (N, H, W)
        rows = bright.mean(2) > self.min_share
        cols = bright.mean(1) > self.min_share

        def extent(flags: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
            any_ = flags.any(1)
            first = flags.float().argmax(1)
            last = size - 1 - flags.flip(1).float().argmax(1)
            first = torch.where(any_, first, torch.zeros_like(first)).float()
            last = torch.where(any_, last, torch.full_like(last, size - 1)).float() + 1.0
            pad = (last - first) * self.margin
            return (first - pad).clamp(min=0.0), (last + pad).clamp(max=float(size))

        y1, y2 = extent(rows, h)
        x1, x2 = extent(cols, w)
        index = torch.arange(n, device=x.device, dtype=x.dtype)
        return torch.stack([index, x1.to(x.dtype), y1.to(x.dtype), x2.to(x.dtype), y2.to(x.dtype)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # aligned=True: box corners are pixel edges (0 .. W) and pixel centres sit at i + 0.5;
        # sampling_ratio 2 averages 2x2 points per output pixel, which smooths the downscaling.
        return roi_align(x, self.boxes(x), output_size=self.out, spatial_scale=1.0, sampling_ratio=2,
                         aligned=True)
