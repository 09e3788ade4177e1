"""Executors: who trains the cells of a benchmark (one model x strategy x seed each).

`local` (the default, no extra) trains them one after the other in this process; `ray` sends each to a
Ray task with its own CPU threads (and one GPU when the cluster has them), on this machine or on an
existing cluster (`--ray-address`). Both run the same function, `run_cell`, on the same inputs, so the
same seeds give the same models whichever executor ran them; the run folder is written by the driver
only, atomically, as results come back.

    >>> with make_executor("ray", cpus_per_task=1) as ex:                  # doctest: +SKIP
    ...     for job, outcome in ex.map(jobs, images): ...
"""

from __future__ import annotations

from tumorbench.executors.base import EXECUTORS, CellFailure, CellJob, DecodedImages, make_executor, run_cell

__all__ = ["EXECUTORS", "CellFailure", "CellJob", "DecodedImages", "make_executor", "run_cell"]
