"""Package attributes that load on first use (PEP 562).

A package's light modules (read by `tumorbench --help`) must not pull in its heavy ones, so its
`__init__` names its public API without importing it:

    __getattr__, __all__ = lazy_exports(__name__, {"scan_dataset": "folder", ...})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module `__getattr__` resolving each name from its submodule, and the sorted `__all__`."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__, sorted(exports)
