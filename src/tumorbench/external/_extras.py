"""Optional dependencies: each foreign format is behind an extra so the core install stays lean."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

# module -> (extra that installs it, what needs it)
_EXTRAS = {
    "onnxruntime": ("onnx", "running ONNX models"),
    "onnx": ("onnx", "exporting to ONNX"),
    "onnxscript": ("onnx", "exporting to ONNX"),
    "keras": ("keras", "loading Keras .keras/.h5 models"),
    "h5py": ("keras", "loading Keras .h5 models"),
}


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is missing; the message names the extra that installs it.

    A ValueError too, so the CLI reports it as one clear line like any other bad input.
    """


def require(module: str) -> ModuleType:
    """Import an optional module, or say which tumorbench extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, why = _EXTRAS.get(module, ("all", f"this feature ({module})"))
        raise MissingExtraError(
            f"{why} needs the Python package {module!r}, which is not installed ({exc}); "
            f"install it with: pip install 'tumorbench[{extra}]'"
        ) from None


def import_keras() -> ModuleType:
    """Keras 3 on its PyTorch backend: no TensorFlow needed.

    KERAS_BACKEND must be set before Keras is first imported, so it is set here when unset; a Keras
    already imported with another backend cannot be switched, and is refused with the fix.
    """
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        backend = keras.backend.backend() if hasattr(keras, "backend") else "unknown"
        if backend != "torch":
            raise ValueError(
                f"Keras is already imported with the {backend!r} backend; tumorbench runs Keras models on "
                "the PyTorch backend: set KERAS_BACKEND=torch before anything imports keras (or run "
                "tumorbench in a fresh process)"
            )
        return keras
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen and chosen != "torch":
        raise ValueError(
            f"KERAS_BACKEND={chosen} is set; tumorbench runs Keras models on the PyTorch backend (no "
            "TensorFlow needed): unset KERAS_BACKEND or set KERAS_BACKEND=torch"
        )
    os.environ["KERAS_BACKEND"] = "torch"
    keras = require("keras")
    major = int(str(getattr(keras, "__version__", "0")).split(".")[0] or 0)
    if major < 3:
        raise MissingExtraError(
            f"Keras {keras.__version__} is installed; tumorbench needs Keras 3 (PyTorch backend): "
            "pip install 'tumorbench[keras]'"
        )
    return keras
