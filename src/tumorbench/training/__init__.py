"""Training one model: the fit loop, losses, arrays in memory, checkpoints, and the cell an executor runs."""

from __future__ import annotations

import importlib
from typing import Any

# Names load on first use (PEP 562): the light modules of this package (read by the CLI's --help) must
# not pull in the heavy ones.
_EXPORTS = {
    "fit": "fit",
    "predict_proba": "fit",
    "FitResult": "fit",
    "TrainingDiverged": "fit",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "LoadedModel": "checkpoint",
    "train_cell": "cell",
    "CellResult": "cell",
    "ImageArrays": "arrays",
    "make_loss": "losses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
