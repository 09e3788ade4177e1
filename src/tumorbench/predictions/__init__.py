"""The predictions file, the contract every model's output goes through, and writing it for any model."""

from __future__ import annotations

import importlib
from typing import Any

# Names load on first use (PEP 562): the light modules of this package (read by the CLI's --help) must
# not pull in the heavy ones.
_EXPORTS = {
    "COLUMNS": "io",
    "predictions_frame": "io",
    "read_predictions": "io",
    "write_predictions": "io",
    "check_same_images": "io",
    "info_path": "io",
    "predict_folder": "predict",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
