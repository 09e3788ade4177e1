"""The `tumorbench` command: thin wiring of the library's data, models, training and report steps.

One module per family of commands; each registers its commands on `main` when imported below.
"""

from __future__ import annotations

from tumorbench.cli import data, evaluate, models, train  # noqa: F401  (register their commands)
from tumorbench.cli._main import main

__all__ = ["main"]
