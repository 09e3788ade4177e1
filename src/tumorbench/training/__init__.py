"""Training one model: the fit loop, losses, batches, and the cell an executor runs."""

from __future__ import annotations

from tumorbench._lazy import lazy_exports

# Names load on first use (PEP 562): the light modules of this package (read by the CLI's --help) must
# not pull in the heavy ones.
_EXPORTS = {
    "fit": "fit",
    "FitResult": "fit",
    "TrainingDiverged": "fit",
    "train_cell": "cell",
    "CellResult": "cell",
    "make_loss": "losses",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
