"""tumorbench: train, evaluate and compare brain-tumour MRI classifiers."""

__version__ = "0.1.0"

from tumorbench.classes import CLASS_NAMES  # noqa: E402

__all__ = ["CLASS_NAMES", "__version__"]
