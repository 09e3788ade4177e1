"""The commands, as Python functions: `run`, `study_imbalance`, `evaluate`, `report` here; `audit`,
`predict`, `score_external` (the commands that take a dataset and no training) in
`tumorbench.api.dataset_commands`, importable from here too.

Each takes the options of the CLI command of the same name as keyword arguments and returns a result
object (see `tumorbench.api.results`) that shows a summary in Jupyter and holds the tables as pandas
DataFrames and the figures as plotly figures. The CLI (`tumorbench.cli`) parses its options and calls
these: there is one implementation of each command.

    import tumorbench as tb
    result = tb.run(models=["model_1", "model_3"], epochs=1, image_size=32, overrides={"threads": 1})
    result.metrics[["accuracy", "macro_f1"]]
    result.figures["model_1/roc"]
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tumorbench.api._config import (
    ConfigSource,
    Overrides,
    evaluation_settings_from,
    names_list,
    resolve_config,
)
from tumorbench.api.dataset_commands import audit, predict, score_external
from tumorbench.api.errors import InvalidInputError, typed_errors
from tumorbench.api.options import REPORT_OPTIONS, TRAINING_OPTIONS, TrainingOptions, check_options

if TYPE_CHECKING:
    import pandas as pd

    from tumorbench.api.results import EvaluationResult, RunResult

__all__ = ["run", "study_imbalance", "evaluate", "report", "audit", "predict", "score_external"]

log = logging.getLogger("tumorbench")

PathLike = str | os.PathLike


@contextlib.contextmanager
def _shown_progress(verbose: bool) -> Iterator[None]:
    """Progress lines on stderr while a command runs, when nothing else shows tumorbench's log (a
    notebook, a script): the CLI and applications that configure logging keep their own handlers."""
    logger = logging.getLogger("tumorbench")
    if not verbose or logger.handlers or logging.getLogger().handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _executor(executor: str, ray_address: str | None, cpus_per_task: int | None):
    from tumorbench.executors import make_executor

    if executor == "local" and (ray_address or cpus_per_task):
        raise InvalidInputError("--ray-address and --cpus-per-task apply to --executor ray "
                                "(ray_address= and cpus_per_task= apply to executor='ray')")
    return make_executor(executor, address=ray_address, cpus_per_task=cpus_per_task)


def _train(data_root: Path, out: Path, *, train, mlflow: str | None, started: float,
           report_options: Mapping[str, Any]) -> RunResult:
    """Train (through `train(tracker)`), write the report, close the tracking run; a model that failed
    does not cost the others their report: ModelsFailed is raised after it, with `.result` set."""
    from tumorbench.api.results import RunResult
    from tumorbench.run import ModelsFailed
    from tumorbench.sections import write_full_report

    tracker = None
    if mlflow is not None:
        from tumorbench.tracking import MlflowTracker

        tracker = MlflowTracker(out, tracking_uri=mlflow)
    failed = None
    try:
        train(tracker)
    except ModelsFailed as exc:
        failed = exc
    complete = failed is None or len(failed.failures) < failed.n_models
    if complete:
        write_full_report(out, **report_options)
    tracking = None
    if tracker is not None and tracker.state:
        tracker.finish(status="FINISHED" if failed is None else "FAILED")
        tracking = {"run_id": tracker.state["run_id"], "uri": tracker.uri}
    result = RunResult(out, data=data_root, seconds=time.perf_counter() - started, tracking=tracking,
                       failures=failed.failures if failed else {}, has_report=complete)
    if failed is not None:
        failed.result = result
        raise failed
    return result


def run(
    data: PathLike | None = None,
    *,
    config: ConfigSource = None,
    preset: str | None = None,
    out: PathLike | None = None,
    models: str | Sequence[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    image_size: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    deterministic: bool | None = None,
    weights: str | None = None,
    class_map: str | Mapping[str, str] | None = None,
    overrides: Overrides = None,
    resume: bool = False,
    seeds: int = 1,
    dedup: str | None = None,
    external: Sequence[PathLike | Mapping] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_task: int | None = None,
    mlflow: str | None = None,
    verbose: bool = True,
    **report_options: Any,
) -> RunResult:
    """Train the configured models, predict the test split, write the run folder and its report
    (`tumorbench run`).

    `data`: dataset root (default: the embedded synthetic dataset, with its preset). `config`: a YAML
    file or a mapping. `preset`: a built-in recipe under `config` (e.g. "best-cpu"; see
    `tumorbench.config.list_presets()`). `overrides`: config values as
    `{"train.finetune_epochs": 2, "model_1.image_size": 128}` (the CLI's `--set`). `mlflow`: "default"
    (SQLite store in the run folder) or a tracking URI.
    `class_map`: class folder -> class, `{"yes": "tumor", "no": "no_tumor"}` or "yes=tumor,no=no_tumor"
    (config `class_map`; a dataset without split folders gets a drawn test split, config `test_fraction`).
    `verbose`: print progress (model k of n, epoch, ETA) when logging is not configured. Other keyword
    arguments go to the report. `external`: datasets every trained model is also scored on (folders, or
    mappings {path, name, class_map}; the config's `external:`), each with its report section and the
    generalisation gap. Raises InvalidInputError & co. for bad input, ModelsFailed (with `.result`) when
    some models could not be trained.

        tb.run("data/sartaj", external=["data/figshare", {"path": "data/yes-no",
                                                          "class_map": {"yes": "tumor", "no": "no_tumor"}}])
    """
    from tumorbench.run import default_run_dir, run_benchmark
    from tumorbench.study.replicas import with_seed_replicas

    started = time.perf_counter()
    training = TrainingOptions(epochs=epochs, batch_size=batch_size, lr=lr, image_size=image_size, seed=seed,
                               device=device, precision=precision, deterministic=deterministic, weights=weights,
                               class_map=class_map)
    options = dict(training.as_overrides(), models=models, dedup=dedup,
                   external=[str(e) if isinstance(e, os.PathLike) else e for e in external] if external else None)
    with typed_errors(), _shown_progress(verbose):
        check_options(report_options, valid=(*TRAINING_OPTIONS, *REPORT_OPTIONS), command="run")
        data_root, run_config = resolve_config(data, config, overrides, options, preset_name=preset)
        run_config = with_seed_replicas(run_config, seeds)
        folder = Path(out or run_config.out or default_run_dir())
        pool = _executor(executor, ray_address, cpus_per_task)
        return _train(data_root, folder, mlflow=mlflow, started=started, report_options=report_options,
                      train=lambda tracker: run_benchmark(run_config, data_root=data_root, out=folder, resume=resume,
                                                          executor=pool, tracker=tracker))


def study_imbalance(
    data: PathLike | None = None,
    *,
    models: str | Sequence[str] = "model_1",
    strategies: str | Sequence[str] | None = None,
    seeds: int = 2,
    config: ConfigSource = None,
    out: PathLike | None = None,
    overrides: Overrides = None,
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_task: int | None = None,
    mlflow: str | None = None,
    verbose: bool = True,
    **options: Any,
) -> RunResult:
    """Train models x balancing strategies (default: all) x seeds into one run folder and report the
    comparison (`tumorbench study imbalance`); restarted with the same arguments and `out`, it keeps the
    finished cells. Takes `run`'s training options (`epochs`, `image_size`, ...) too."""
    from tumorbench.data.balance import STRATEGIES
    from tumorbench.run import default_run_dir
    from tumorbench.study import imbalance_config, run_imbalance_study

    started = time.perf_counter()
    with typed_errors(), _shown_progress(verbose):
        training, report_options = TrainingOptions.split(options, command="study_imbalance")
        data_root, base = resolve_config(data, config, overrides, {**training.as_overrides(), "models": models},
                                         presets=("embedded", "embedded_study"))
        chosen = names_list(strategies) or list(STRATEGIES)
        study = imbalance_config(base, models=[m.name for m in base.models], strategies=chosen, seeds=seeds)
        folder = Path(out or base.out or default_run_dir())
        pool = _executor(executor, ray_address, cpus_per_task)
        return _train(data_root, folder, mlflow=mlflow, started=started, report_options=report_options,
                      train=lambda tracker: run_imbalance_study(study, data_root=data_root, out=folder,
                                                                executor=pool, tracker=tracker))


def report(run_dir: PathLike, **report_options: Any) -> RunResult:
    """Rebuild the report of a run folder (`tumorbench report`): no model, no GPU needed."""
    from tumorbench.api.results import RunResult
    from tumorbench.sections import write_full_report

    started = time.perf_counter()
    with typed_errors():
        write_full_report(Path(run_dir), **report_options)
    return RunResult(Path(run_dir), seconds=time.perf_counter() - started)


def _named_inputs(predictions, names: str | Sequence[str] | None) -> tuple[list, list[str] | None]:
    """(inputs, names) from a list of paths/DataFrames, one path or DataFrame, or a mapping name -> input."""
    import pandas as pd

    if isinstance(predictions, Mapping):
        if names is not None:
            raise InvalidInputError("names= is for a list of predictions; a mapping already names its models")
        return list(predictions.values()), [str(k) for k in predictions]
    if isinstance(predictions, (str, os.PathLike, pd.DataFrame)):
        predictions = [predictions]
    inputs, given = list(predictions), names_list(names)
    if given is None and any(isinstance(p, pd.DataFrame) for p in inputs):
        raise InvalidInputError("a DataFrame has no file name to call its model by: pass names=[...] (one per "
                                "input) or a mapping {name: DataFrame}")
    return inputs, given


def _prediction_files(inputs: list, names: list[str] | None, folder: Path) -> list[Path]:
    """Paths of the predictions: DataFrames are written into the report folder (`inputs/<name>.csv`), so
    the report, like the CLI's, is made from files and can be made again from them."""
    import pandas as pd

    from tumorbench._io import atomic_write
    from tumorbench.report.build import slug

    paths, taken = [], set()
    for i, item in enumerate(inputs):
        if isinstance(item, pd.DataFrame):
            # Read back and checked like any file (full float precision): the same numbers either way.
            paths.append(atomic_write(folder / "inputs" / f"{slug(names[i], taken)}.csv",
                                      lambda p, frame=item: frame.to_csv(p, index=False)))
        else:
            paths.append(Path(item))
    return paths


def evaluate(
    predictions: PathLike | pd.DataFrame | Sequence[PathLike | pd.DataFrame] | Mapping[str, PathLike | pd.DataFrame],
    *,
    names: str | Sequence[str] | None = None,
    out: PathLike | None = None,
    config: ConfigSource = None,
    overrides: Overrides = None,
    mlflow: str | None = None,
    **report_options: Any,
) -> EvaluationResult:
    """Metrics with intervals, paired tests, figures and report from predictions alone (`tumorbench
    evaluate`): files or DataFrames in the predictions contract (image, label, prob_<class>...).

    `names`: one per input (default: from the file names; DataFrames need one, or pass a mapping
    `{name: path_or_frame}`). `out`: the report folder (default: runs/evaluate-<timestamp>). `config` /
    `overrides`: evaluation settings (`{"evaluation.bootstrap.resamples": 5000}`).

        tb.evaluate({"cnn": frame_a, "vgg": "vgg_predictions.csv"}, out="compare")
    """
    from tumorbench.api.results import EvaluationResult
    from tumorbench.report import evaluate_files
    from tumorbench.run import default_run_dir

    with typed_errors():
        inputs, given = _named_inputs(predictions, names)
        settings = evaluation_settings_from(config, overrides)
        if out is None:
            stamped = default_run_dir()
            out = stamped.with_name(f"evaluate-{stamped.name}")
        if mlflow is not None:  # a URI MLflow refuses stops here, not after the evaluation
            from tumorbench.tracking import check_tracking_uri

            check_tracking_uri(mlflow)
        folder = Path(out)
        paths = _prediction_files(inputs, given, folder)
        evaluate_files(paths, names=given, out_dir=folder, settings=settings, **report_options)
        result = EvaluationResult(folder, sources=paths, settings=settings)
        if mlflow is not None:
            from tumorbench.tracking import track_evaluation

            run_id = track_evaluation(folder, paths, result.models, tracking_uri=mlflow)
            result.tracking = {"run_id": run_id, "uri": mlflow}
    return result
