"""Process-wide switches read from the environment."""

from __future__ import annotations

import os


def offline() -> bool:
    """True when TUMORBENCH_OFFLINE forbids downloads (the tests set it): no weights, no zoo wheels."""
    return os.environ.get("TUMORBENCH_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
