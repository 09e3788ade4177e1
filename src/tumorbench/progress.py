"""Where a training job is: model (or study cell) k of n, epoch e of E, and the whole job's ETA.

`run_benchmark` plans the job and makes it the active one (`active_job`); the training loop reports
each epoch to it (`current_job()`), so the per-epoch log line says where the whole job stands:

    model_1 epoch 3: loss 0.91 acc 0.62 val_loss 0.88 val_acc 0.66 (4.1s) | model 2 of 4, epoch 3 of 12, job 29%, ETA 3 min 10 s

Those lines are plain text, one per epoch, so logs and non-TTY output stay readable. On a terminal (or
a notebook with widgets) a bar over the whole job's epochs sits above the current epoch's bar.
"""  # noqa: E501  (the example is one log line, as the training prints it)

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator, Sequence

_ACTIVE: contextvars.ContextVar[JobProgress | None] = contextvars.ContextVar("tumorbench_job", default=None)


def format_duration(seconds: float) -> str:
    """`45 s`, `3 min 10 s`, `2 h 05 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class JobProgress:
    """The epochs a job has to train, per model, and how far it is.

    The ETA prices each model's remaining epochs at that model's own mean epoch time (from its start to
    its latest epoch), and the epochs of models not started yet at the latest model's: models differ a
    lot (an epoch of Inception at 75 px costs about ten of the seed's CNN at 32 px on the embedded
    dataset), so the job's overall mean would price the CNNs at the baseline's cost. Prediction and the
    report after the last epoch are not priced. When no model reports its epochs (Ray workers, models
    fitted in closed form) the job's mean time per finished epoch prices the rest. Shown once an epoch
    is done.
    """

    def __init__(self, plan: Sequence[tuple[str, int]], *, unit: str = "model", bar: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.unit = unit  # what is counted: "model", or "cell" in a study
        self.order = [name for name, _ in plan]
        self.epochs = {name: max(0, int(epochs)) for name, epochs in plan}  # planned epochs per model
        self.done = {name: 0 for name in self.order}  # epochs finished per model
        self.finished: set[str] = set()
        self._clock = clock
        self.started = clock()
        self._model_started: dict[str, float] = {}
        self._epoch_seconds: dict[str, float] = {}  # mean epoch time per model that finished an epoch
        self._latest: str | None = None  # the model whose epoch finished last
        self._bar = self._make_bar(bar)

    def _make_bar(self, bar: bool | None):
        if bar is False or not self.order:
            return None
        from tqdm.auto import tqdm

        # disable=None: drawn on a terminal only, so logs and pipes get the plain lines alone.
        return tqdm(total=self.total_epochs, unit="epoch", desc="job", position=0, leave=False,
                    disable=None if bar is None else not bar, dynamic_ncols=True)

    @property
    def total_epochs(self) -> int:
        return sum(self.epochs.values())

    @property
    def done_epochs(self) -> int:
        return sum(self.done.values())

    def start(self, name: str, epochs: int) -> None:
        """`name` begins with `epochs` epochs (its real count: a transfer model trained from scratch has no
        fine-tuning phase)."""
        if name not in self.epochs:
            self.order.append(name)
            self.done[name] = 0
        self.epochs[name] = max(int(epochs), self.done[name])
        self._model_started.setdefault(name, self._clock())
        if self._bar is not None:
            self._bar.total = self.total_epochs
            self._bar.set_description(f"{self.unit} {self.index(name)}/{len(self.order)} {name}", refresh=False)
            self._bar.refresh()

    def epoch_done(self, name: str, epoch: int) -> str:
        """Record that `name` finished `epoch`; returns where the job stands (for the epoch's log line)."""
        before = self.done.get(name, 0)
        self.done[name] = max(before, epoch)
        if self.done[name] > 0:
            began = self._model_started.get(name, self.started)
            self._epoch_seconds[name] = (self._clock() - began) / self.done[name]
            self._latest = name
        if self._bar is not None:
            self._bar.update(self.done[name] - before)
        return self.position(name)

    def finish(self, name: str, *, completed: bool = True) -> str:
        """`name` is done: trained (every planned epoch counts as done, also when a Ray worker trained it
        without reporting epochs) or failed (its remaining epochs will not run). Returns the job's state."""
        self.finished.add(name)
        before = self.done.get(name, 0)
        if completed:
            self.done[name] = max(before, self.epochs.get(name, 0))
        self.epochs[name] = self.done[name]
        if self._bar is not None:
            self._bar.total = self.total_epochs
            self._bar.update(self.done[name] - before)
        return f"{len(self.finished)} of {len(self.order)} {self.unit}s done ({name}); {self.job_state()}"

    def index(self, name: str) -> int:
        return self.order.index(name) + 1

    def eta_seconds(self) -> float | None:
        """Seconds until the whole job is done (see the class); None before the first epoch."""
        if self._latest is None:  # no epoch reported: the job's mean over its finished models, if any
            done = self.done_epochs
            if done == 0:
                return None
            remaining = sum(self.epochs[n] - self.done[n] for n in self.order if n not in self.finished)
            return (self._clock() - self.started) / done * max(remaining, 0)
        latest = self._epoch_seconds[self._latest]
        return sum(max(self.epochs[n] - self.done[n], 0) * self._epoch_seconds.get(n, latest)
                   for n in self.order if n not in self.finished)

    def job_state(self) -> str:
        total = max(self.total_epochs, 1)
        eta = self.eta_seconds()
        return f"job {100 * self.done_epochs // total}%, ETA {'unknown' if eta is None else format_duration(eta)}"

    def position(self, name: str) -> str:
        """`model 2 of 4, epoch 3 of 12, job 29%, ETA 3 min 10 s`."""
        return (f"{self.unit} {self.index(name)} of {len(self.order)}, epoch {self.done.get(name, 0)} of "
                f"{self.epochs.get(name, 0)}, {self.job_state()}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def planned_epochs(model) -> int:
    """The epochs a ResolvedModel will train: a pretrained transfer model adds its fine-tuning epochs
    (without pretrained weights it has none, which `JobProgress.start` corrects); a model fitted in closed
    form (hog_svm) counts one, whatever `epochs` the run's other models have."""
    from tumorbench.models import get_model_entry  # the registry: not needed to import this module

    if get_model_entry(model.architecture).fitted:
        return 1
    return model.epochs + (model.finetune_epochs if model.transfer else 0)


def current_job() -> JobProgress | None:
    """The job being trained in this context (None outside `active_job`, e.g. in a Ray worker)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def active_job(progress: JobProgress) -> Iterator[JobProgress]:
    """Make `progress` the current job while the block runs; log lines printed meanwhile go above its
    bar instead of through it."""
    token = _ACTIVE.set(progress)
    try:
        if progress._bar is not None and not progress._bar.disable:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():
                yield progress
        else:
            yield progress
    finally:
        _ACTIVE.reset(token)
        progress.close()
