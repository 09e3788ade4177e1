"""Process-wide switches read from the environment."""

from __future__ import annotations

import os
import sys


def offline() -> bool:
    """True when TUMORBENCH_OFFLINE forbids downloads (the tests set it): no weights, no zoo wheels."""
    return os.environ.get("TUMORBENCH_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


# GNU OpenMP's spin count before a waiting thread sleeps (its default: 300,000). See bounded_openmp_spinning.
OPENMP_SPIN_COUNT = "10000"


def bounded_openmp_spinning() -> bool:
    """Make PyTorch's OpenMP threads sleep sooner while they wait for each other (GOMP_SPINCOUNT=10000),
    unless the user chose a wait policy or spin count. Returns True when the setting takes effect.

    Why: with one thread per core, any other busy process (a second run, a test suite, a browser) leaves one
    of our threads without a core, and the others spin at every barrier on the cores that thread needs.
    Measured on this project's 2-core machine (`python benchmarks/bench_threads.py --spincounts
    1000,10000,50000`), the seed's CNN at 32 px, 2 threads, steps/s quiet / beside one busy process:
    default spinning 15.5 / 5.0, 10,000 spins 15.5 / 6.7, 1,000 spins 13.9 / 9.0, never spinning
    (OMP_WAIT_POLICY=PASSIVE) 12.7 / 9.2, one thread 10.0 / 9.8. Never spinning costs the quiet machine a
    quarter of its speed on the embedded run (149 -> 188 s); 10,000 spins cost it nothing measurable and
    win a third when the machine is shared. GNU OpenMP (PyTorch's Linux wheels) reads the variable once,
    when torch is imported, so this must run before that; when torch is already imported (a notebook
    that imported it first) it is left alone and says so by returning False.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    if "torch" in sys.modules:
        return False
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    return True
