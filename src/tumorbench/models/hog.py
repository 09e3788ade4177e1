"""Histograms of oriented gradients (HOG) as fixed PyTorch operations.

The same features as `skimage.feature.hog(image, orientations, pixels_per_cell, cells_per_block,
block_norm="L2-Hys")` (checked against it in tests/test_hog_svm.py), written with tensor ops so a
classical HOG model is an `nn.Module` like any network: it runs in batches, on any device, inside
`tumorbench predict`, and exports to ONNX. Nothing in it is learned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class HOGFeatures(nn.Module):
    """(N, C, H, W) images -> (N, n_blocks * block * block * orientations) HOG vectors, in skimage's order.

    Per pixel: central-difference gradients (zero on the border rows/columns, as skimage), the channel
    with the largest gradient magnitude, unsigned orientation in [0, 180). Per cell: the magnitudes
    summed into `orientations` equal bins (hard assignment, as skimage) and divided by the cell area;
    cells that do not fit whole are left out. Per block of `block` x `block` cells (stride one cell):
    L2-Hys normalisation (L2, clip at 0.2, L2 again).
    """

    def __init__(self, *, orientations: int = 9, cell: int = 8, block: int = 2, eps: float = 1e-5):
        super().__init__()
        if orientations < 1 or cell < 1 or block < 1:
            raise ValueError(f"HOG needs orientations, cell and block >= 1, got {orientations}, {cell}, {block}")
        self.orientations, self.cell, self.block, self.eps = orientations, cell, block, eps

    def output_dim(self, size: int) -> int:
        """Feature length for a `size` x `size` input."""
        blocks = size // self.cell - self.block + 1
        if blocks < 1:
            raise ValueError(f"HOG with {self.cell} px cells in blocks of {self.block} needs inputs of at least "
                             f"{self.cell * self.block} px, got {size}")
        return blocks * blocks * self.block * self.block * self.orientations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g_row = F.pad(x[:, :, 2:, :] - x[:, :, :-2, :], (0, 0, 1, 1))
        g_col = F.pad(x[:, :, :, 2:] - x[:, :, :, :-2], (1, 1, 0, 0))
        magnitude = torch.sqrt(g_row * g_row + g_col * g_col)
        if x.shape[1] > 1:  # colour: the gradient of the channel where it is strongest, as skimage
            pick = magnitude.argmax(dim=1, keepdim=True)
            g_row, g_col = g_row.gather(1, pick), g_col.gather(1, pick)
            magnitude = magnitude.gather(1, pick)
        angle = torch.remainder(torch.atan2(g_row, g_col) * (180.0 / math.pi), 180.0)
        width = 180.0 / self.orientations
        bins = torch.floor(angle / width).clamp(max=self.orientations - 1)
        index = torch.arange(self.orientations, device=x.device, dtype=bins.dtype).view(1, -1, 1, 1)
        votes = (bins == index).to(magnitude.dtype) * magnitude  # (N, orientations, H, W)
        cells = F.avg_pool2d(votes, self.cell, stride=self.cell)  # sum / cell area; partial cells dropped
        n, o, rows, cols = cells.shape
        b = self.block
        blocks = F.unfold(cells, kernel_size=b)  # (N, o*b*b, L), L = block positions, row-major
        blocks = blocks.view(n, o, b, b, -1).permute(0, 4, 2, 3, 1).reshape(n, -1, b * b * o)
        blocks = blocks / torch.sqrt((blocks * blocks).sum(-1, keepdim=True) + self.eps ** 2)
        blocks = blocks.clamp(max=0.2)
        blocks = blocks / torch.sqrt((blocks * blocks).sum(-1, keepdim=True) + self.eps ** 2)
        return blocks.reshape(n, -1)
