"""The Ray executor: each cell a Ray task with a resource request, results written by the driver.

Data reach the workers through Ray's object store: the decoded images of each preprocessing spec are put
there once (`ray.put`) and every task gets a reference, so the dataset is neither copied per task nor
needed on a shared file system; numpy arrays are read zero-copy by the workers of a node. Results (the
checkpoint's tensors, history, predictions) come back to the driver, which alone writes the run folder,
atomically, as each task finishes: a cluster needs no shared disk, and a stopped run keeps every cell
that finished (`--resume` skips them).

Failures: a cell whose training diverges comes back as a CellFailure (retrying would diverge again); a
task that dies (worker crash, out of memory, lost node) is retried by Ray up to `max_retries` times and
then recorded as failed, never taking the other cells with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from tumorbench.data.arrays import DecodedImages
from tumorbench.executors.base import (
    CellFailure,
    CellJob,
    default_cpus_per_task,
    run_cell,
)

log = logging.getLogger(__name__)

MAX_RETRIES = 2  # of a task whose worker died; an exception raised by training is not retried


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'tumorbench[ray]'") from None
    return ray


class RayExecutor:
    name = "ray"

    def __init__(self, *, address: str | None = None, cpus_per_task: int | None = None,
                 gpus_per_task: float | None = None, num_cpus: int | None = None):
        self.ray = _import_ray()
        self.address = address
        self.cpus_per_task = cpus_per_task or default_cpus_per_task()
        self.gpus_per_task = gpus_per_task
        self.num_cpus = num_cpus  # size of a local instance started here (None: all cores)
        self._started = False

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
            ray.init(include_dashboard=False, log_to_driver=True, configure_logging=False, **kwargs)
            self._started = True
        if self.gpus_per_task is None:
            # One GPU per task when the cluster has GPUs, none otherwise.
            self.gpus_per_task = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        if self.cpus_per_task > ray.cluster_resources().get("CPU", 0):
            raise ValueError(f"--cpus-per-task {self.cpus_per_task} is more than the Ray cluster's "
                             f"{ray.cluster_resources().get('CPU', 0):g} CPUs: no task could ever start")
        return self

    def __exit__(self, *exc) -> None:
        if self._started:  # an existing cluster joined with --ray-address is left running
            self.ray.shutdown()

    def describe(self) -> dict:
        return {"executor": "ray", "address": self.address or "local instance",
                "cpus_per_task": self.cpus_per_task, "gpus_per_task": self.gpus_per_task}

    def map(self, jobs: Sequence[CellJob], images: dict[tuple, DecodedImages], *, device: str,
            resolved: dict, precision: str = "auto", threads: int | None = None) -> Iterator[tuple[CellJob, object]]:
        ray = self.ray
        refs = {key: ray.put(value) for key, value in images.items() if any(j.images_key == key for j in jobs)}
        task = ray.remote(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task,
                          max_retries=MAX_RETRIES)(run_cell)
        # A GPU task picks its GPU through CUDA_VISIBLE_DEVICES, which Ray sets; a CPU task stays on the CPU.
        task_device = device if self.gpus_per_task else "cpu"
        # A task uses the threads Ray reserved for it (`threads`, the run's setting, is for one process).
        pending = {task.remote(job, refs[job.images_key], device=task_device, resolved=resolved, precision=precision,
                               threads=self.cpus_per_task): job for job in jobs}
        log.info("ray: %d cell(s) submitted, %s CPU(s) and %s GPU(s) each", len(pending), self.cpus_per_task,
                 self.gpus_per_task)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as exc:  # RayTaskError, WorkerCrashedError...: this cell only
                reason = str(exc).strip().splitlines()[-1][:500] if str(exc).strip() else type(exc).__name__
                outcome = CellFailure(None, f"the Ray task failed after {MAX_RETRIES} retries: {reason}",
                                      error="task failed")
            yield job, outcome
