"""Models fitted in closed form on the training split (scikit-learn solvers), not trained by SGD.

A `FittedModel` is still an `nn.Module` whose forward maps preprocessed images to logits, so once
fitted it goes wherever a network goes: run, report, `predict`, ONNX export. What it learned lives
in buffers (tensors only), so its checkpoint loads without pickles; their shapes depend on the data
(the number of support vectors, say), which `ResizingBuffers` lets `load_state_dict` adopt.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

#: balancing strategies a fitted model understands (others need SGD epochs: oversampling, augmentation...)
FITTED_BALANCE = ("none", "class_weight")


class ResizingBuffers(nn.Module):
    """Buffers whose shapes are set by fitting; loading a state dict takes the shapes it holds."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        for name, buffer in list(self._buffers.items()):
            incoming = state_dict.get(prefix + name)
            if buffer is not None and isinstance(incoming, torch.Tensor) and incoming.shape != buffer.shape:
                if incoming.dim() != buffer.dim():  # a wrong file, not a different fit: let PyTorch say so
                    continue
                self._buffers[name] = torch.empty(incoming.shape, dtype=buffer.dtype, device=buffer.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


def fitted_values(model: nn.Module) -> int:
    """How many numbers a fitted model keeps from its fit: the elements of its data-shaped buffers
    (support vectors and their squared norms, dual coefficients...), not its fixed ones (filters) nor its
    parameters (it has none)."""
    return sum(b.numel() for m in model.modules() if isinstance(m, ResizingBuffers) for b in m.buffers(recurse=False))


class FittedModel(nn.Module):
    """Base class of models fitted in one closed-form step; `tumorbench.training.fit` calls `fit_batches`."""

    def fit_batches(self, batches: Iterable[torch.Tensor], y: np.ndarray, *, seed: int,
                    balance: str = "none") -> dict:
        """Fit on the preprocessed training inputs (`batches`, dataset order) and labels `y`; returns
        plain numbers worth recording (seconds per stage, counts)."""
        raise NotImplementedError


def check_fitted_balance(name: str, balance: str) -> None:
    if balance not in FITTED_BALANCE:
        raise ValueError(f"model {name!r} is fitted in closed form and supports balance "
                         f"{' or '.join(FITTED_BALANCE)}, got {balance!r}")
