"""The predictions file, the contract every model's output goes through, and writing it for any model."""

from __future__ import annotations

from tumorbench._lazy import lazy_exports

# Names load on first use (PEP 562): the light modules of this package (read by the CLI's --help) must
# not pull in the heavy ones.
_EXPORTS = {
    "COLUMNS": "io",
    "predictions_frame": "io",
    "read_predictions": "io",
    "write_predictions": "io",
    "check_same_images": "io",
    "ensemble_predictions": "ensemble",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
