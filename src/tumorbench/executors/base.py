"""The executor-independent part: the job, the decoded images it reads, the function a worker runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import ResolvedModel
from tumorbench.data.arrays import DecodedImages

log = logging.getLogger(__name__)



@dataclass
class CellJob:
    """One model to train: its resolved settings and the image paths of its three splits."""

    model: ResolvedModel
    images_key: tuple  # which DecodedImages it reads (its preprocessing: size, mode, resize)
    train: list[str]
    val: list[str]
    test: list[str]
    classes: tuple[str, ...] = CLASS_NAMES  # the model's classes (the training split's), its output order


@dataclass
class CellFailure:
    """A cell that could not be trained: where and why (written to the model's failed.json)."""

    epoch: int | None
    reason: str
    error: str = "diverged"


def run_cell(job: CellJob, images: DecodedImages, *, device: str, resolved: dict, precision: str = "auto",
             threads: int | None = None):
    """Train one cell; returns a CellResult, or a CellFailure when training diverged.

    Runs in the driver (local executor) or in a Ray worker, which plans its own compute (device,
    precision, memory layout) on the machine it runs on; `threads` sets PyTorch's intra-op threads (a
    worker gets the CPUs Ray reserved for it)."""
    from tumorbench.device import select_device
    from tumorbench.inference.compute import plan_compute
    from tumorbench.training.cell import train_cell
    from tumorbench.training.fit import TrainingDiverged

    compute = plan_compute(select_device(device), precision, threads=threads)
    try:
        return train_cell(job.model, images.arrays(job.train, job.classes), images.arrays(job.val, job.classes),
                          images.arrays(job.test, job.classes), compute=compute, resolved=resolved)
    except TrainingDiverged as exc:
        return CellFailure(exc.epoch, exc.reason)


class LocalExecutor:
    """One cell after the other, in this process."""

    name = "local"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def describe(self) -> dict:
        return {"executor": "local"}

    def map(self, jobs: Sequence[CellJob], images: dict[tuple, DecodedImages], *, device: str,
            resolved: dict, precision: str = "auto", threads: int | None = None) -> Iterator[tuple[CellJob, object]]:
        for job in jobs:
            yield job, run_cell(job, images[job.images_key], device=device, resolved=resolved, precision=precision,
                                threads=threads)


def default_cpus_per_task() -> int:
    return max(1, min(2, os.cpu_count() or 1))
