"""`tumorbench run` and `tumorbench study imbalance`: the commands that train."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import (
    dedup_option,
    executor_options,
    mlflow_option,
    resolve_config,
    training_options,
)


class _Failures:
    """What `_report_despite_failures` caught: models that could not be trained, if any."""

    def __init__(self):
        self.error = None

    @property
    def complete_models(self) -> bool:
        return self.error is None or len(self.error.failures) < self.error.n_models

    def raise_if_any(self) -> None:
        if self.error is not None:
            raise click.ClickException(str(self.error))


@contextlib.contextmanager
def _report_despite_failures():
    """A model that diverged does not cost the others their report: the command writes it, then fails."""
    from tumorbench.run import ModelsFailed

    failures = _Failures()
    try:
        yield failures
    except ModelsFailed as exc:
        failures.error = exc


def _finish_tracking(tracker, failed: _Failures) -> None:
    if tracker is not None and tracker.state:
        tracker.finish(status="FINISHED" if failed.error is None else "FAILED")
        click.echo(f"mlflow: run {tracker.state['run_id']} in {tracker.uri}")


def _tracker(mlflow_uri: str | None, out: Path):
    if mlflow_uri is None:
        return None
    from tumorbench.tracking import MlflowTracker

    return MlflowTracker(out, tracking_uri=mlflow_uri)


def _executor(executor: str, ray_address: str | None, cpus_per_task: int | None):
    from tumorbench.executors import make_executor

    if executor == "local" and (ray_address or cpus_per_task):
        raise click.UsageError("--ray-address and --cpus-per-task apply to --executor ray")
    return make_executor(executor, address=ray_address, cpus_per_task=cpus_per_task)


@main.command()
@training_options
@click.option("--models", help="Comma-separated model names (see `tumorbench models`).")
@click.option("--preset", "preset_name", metavar="NAME", help="A built-in recipe under the config file and "
              "options, e.g. best-cpu (hog_svm at 128 px, chosen on validation; see the README).")
@click.option("--resume", is_flag=True, help="Finish an interrupted run in --out; complete models are kept.")
@click.option("--seeds", default=1, show_default=True, type=int, help="Train every model this many times "
              "(seeds seed..seed+N-1: initialisation and data order; same split): the report adds mean ± sd "
              "over seeds and how often each model beats another. Replicas: models/<model>.seed<k>/.")
@dedup_option
@executor_options
@mlflow_option
@friendly_errors
def run(data, config_file, preset_name, out, resume, sets, seeds, executor, ray_address, cpus_per_task,
        mlflow_uri, **options) -> None:
    """Train the configured models, predict the test split, write the run folder and its report."""
    from tumorbench.run import default_run_dir, run_benchmark, summary_table
    from tumorbench.sections import write_full_report
    from tumorbench.study.replicas import with_seed_replicas

    started = time.perf_counter()
    data_root, config = resolve_config(data, config_file, sets, options, preset_name=preset_name)
    config = with_seed_replicas(config, seeds)
    out = Path(out or config.out or default_run_dir())
    tracker = _tracker(mlflow_uri, out)
    with _report_despite_failures() as failed:
        run_benchmark(config, data_root=data_root, out=out, resume=resume,
                      executor=_executor(executor, ray_address, cpus_per_task), tracker=tracker)
    if failed.complete_models:
        click.echo(summary_table(out).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        click.echo(f"report: {write_full_report(out)}")
    _finish_tracking(tracker, failed)
    click.echo(f"results: {out} ({time.perf_counter() - started:.0f} s)")
    failed.raise_if_any()


@main.group()
def study() -> None:
    """Experiments over grids of trainings."""


@study.command("imbalance")
@training_options
@click.option("--models", default="model_1", show_default=True, help="Comma-separated model names.")
@click.option("--strategies", default=None, help="Comma-separated balancing strategies (default: all: "
              "none, oversample, undersample, class_weight, augment_balance, weighted_sampler, focal).")
@click.option("--seeds", default=2, show_default=True, type=int, help="Training seeds per cell.")
@executor_options
@mlflow_option
@friendly_errors
def study_imbalance(data, config_file, out, sets, models, strategies, seeds, executor, ray_address, cpus_per_task,
                    mlflow_uri, **options) -> None:
    """Train models x balancing strategies x seeds into one run folder and report the comparison.

    Stopped and restarted with the same options and --out, it keeps the finished cells."""
    from tumorbench.data.balance import STRATEGIES
    from tumorbench.run import default_run_dir
    from tumorbench.sections import write_full_report
    from tumorbench.study import imbalance_config, run_imbalance_study

    started = time.perf_counter()
    data_root, base = resolve_config(data, config_file, sets, {**options, "models": models},
                               presets=("embedded", "embedded_study"))
    names = [m.name for m in base.models]
    chosen = [s.strip() for s in (strategies or ",".join(STRATEGIES)).split(",") if s.strip()]
    config = imbalance_config(base, models=names, strategies=chosen, seeds=seeds)
    out = Path(out or base.out or default_run_dir())
    tracker = _tracker(mlflow_uri, out)
    with _report_despite_failures() as failed:
        run_imbalance_study(config, data_root=data_root, out=out,
                            executor=_executor(executor, ray_address, cpus_per_task), tracker=tracker)
    if failed.complete_models:
        click.echo(f"report: {write_full_report(out)}")
    _finish_tracking(tracker, failed)
    click.echo(f"results: {out} ({time.perf_counter() - started:.0f} s)")
    failed.raise_if_any()
