"""Executors: who trains the cells of a benchmark (one model x strategy x seed each).

`local` (the default, no extra) trains them one after the other in this process; `ray` sends each to a
Ray task with its own CPU threads (and one GPU when the cluster has them), on this machine or on an
existing cluster (`--ray-address`). Both run the same function, `run_cell`, on the same inputs, so the
same seeds give the same models whichever executor ran them; the run folder is written by the driver
only, atomically, as results come back.

        with make_executor("ray", cpus_per_task=1) as ex:
            for job, outcome in ex.map(jobs, images, device="cpu", resolved={}): ...

The names below load on first use: `tumorbench --help` reads EXECUTORS without importing PyTorch.
"""

from __future__ import annotations

from tumorbench._lazy import lazy_exports

EXECUTORS = ("local", "ray")

__getattr__, _lazy = lazy_exports(__name__, {name: "base" for name in (
    "CellFailure", "CellJob", "LocalExecutor", "run_cell")})
__all__ = ["EXECUTORS", "make_executor", *_lazy]


def make_executor(name: str = "local", *, address: str | None = None, cpus_per_task: int | None = None,
                  gpus_per_task: float | None = None, num_cpus: int | None = None):
    """An executor by name (`local` or `ray`); errors list the valid names and the extra to install."""
    if name == "local":
        from tumorbench.executors.base import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from tumorbench.executors.ray_tasks import RayExecutor

        return RayExecutor(address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                           num_cpus=num_cpus)
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")

