"""Experiment tracking in MLflow: one MLflow run per benchmark, a nested run per model (per cell of a study).

What is logged, all read from the run folder tumorbench wrote (so it is the same whoever trained the
models, locally or on Ray):
- the benchmark run: parameters from the resolved config (flattened, `train.lr`, ...), the run's final
  metrics per model (`model_1.accuracy`, ...), and the report, metrics.json, config and audit as artifacts;
- each model's nested run, as soon as the model is written: its own parameters, per-epoch metrics
  (`loss`, `accuracy`, `val_loss`, `val_accuracy`, `lr`, `seconds`; step = epoch), its final test metrics
  (with their intervals where metrics.json has them) and its checkpoint, history, info and predictions.

The default tracking URI is a SQLite store inside the run folder (`sqlite:///<run>/mlflow.db`, artifacts in
`<run>/mlartifacts/`): MLflow 3 refuses its old plain-folder store by default, and a database file in the
run folder keeps the folder self-contained. `mlflow ui --backend-store-uri sqlite:///<run>/mlflow.db` shows
it. The ids of the MLflow runs are kept in `<run>/mlflow.json`, so `--resume` continues the same runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tumorbench._io import read_json, write_json
from tumorbench.runfolder import (
    AUDIT_FILE,
    CHECKPOINT_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    INFO_FILE,
    METRICS_CSV,
    METRICS_JSON,
    REPORT_HTML,
    REPORT_MD,
    SKIPPED_FILE,
    STUDY_SUMMARY,
    STUDY_TABLE,
    TEST_PREDICTIONS,
    VAL_PREDICTIONS,
    RunFolder,
    model_is_complete,
    read_run_config,
)

log = logging.getLogger(__name__)

DEFAULT_URI = "default"  # `--mlflow` without a value
EXPERIMENT = "tumorbench"
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
_RUN_ARTIFACTS = (CONFIG_FILE, AUDIT_FILE, REPORT_HTML, REPORT_MD, METRICS_JSON, METRICS_CSV, SKIPPED_FILE,
                  STUDY_SUMMARY, STUDY_TABLE)
_MAX_PARAM = 6000  # MLflow's limit on a parameter value's length


def _import_mlflow():
    try:
        import mlflow
    except ImportError:
        raise ValueError("--mlflow needs MLflow: pip install 'tumorbench[mlflow]'") from None
    return mlflow


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists kept whole (as JSON by the caller)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    else:
        out[prefix] = data
    return out


def _params(data: dict) -> dict[str, str]:
    out = {}
    for key, value in flatten(data).items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[key] = text[:_MAX_PARAM]
    return out


def _numeric(data: Any, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a metrics mapping, with dotted keys (lists such as matrices left out)."""
    return {key: float(value) for key, value in flatten(data, prefix).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def resolve_uri(uri: str | None, run_dir: Path) -> str:
    if uri in (None, "", DEFAULT_URI):
        return f"sqlite:///{RunFolder(run_dir).mlflow_db.resolve()}"
    return uri


def _is_folder_store(uri: str) -> bool:
    """A plain-folder store: `file://DIR` or a bare path (MLflow reads both as its FileStore)."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive, C:\\mlruns


def connect(uri: str):
    """An MlflowClient for `uri`, or a ValueError in one line naming the URI and what to pass instead.

    MLflow 3 refuses its plain-folder store (`file://DIR`, `./mlruns`) with an exception ("the filesystem
    tracking backend is in maintenance mode") unless MLFLOW_ALLOW_FILE_STORE=true; the client checks the
    store when it is made, so calling this before any training stops a run before it has cost anything."""
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient(tracking_uri=uri)
    except MlflowException as exc:
        if _is_folder_store(uri):
            raise ValueError(
                f"--mlflow {uri}: MLflow {mlflow.__version__} no longer accepts a plain-folder store; pass a "
                "database file instead (--mlflow sqlite:///PATH/mlflow.db), or set MLFLOW_ALLOW_FILE_STORE=true "
                "to keep the folder store") from None
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--mlflow {uri}: MLflow cannot use this tracking URI: {first_line}") from None


def check_tracking_uri(uri: str | None) -> None:
    """Fail early (before training or evaluating) on a tracking URI MLflow will not take.

    The default store is made inside the run folder on first use, so there is nothing to check yet."""
    if uri not in (None, "", DEFAULT_URI):
        connect(uri)


class MlflowTracker:
    """Logs a benchmark folder to MLflow as it fills: `start`, `model_done` per model, `finish`."""

    def __init__(self, run_dir: Path, *, tracking_uri: str | None = None, experiment: str = EXPERIMENT):
        self.mlflow = _import_mlflow()
        self.run_dir = Path(run_dir)
        check_tracking_uri(tracking_uri)
        self.uri = resolve_uri(tracking_uri, self.run_dir)
        self.experiment = experiment
        self.client = None  # made in start(): a SQLite store is created on connection, inside the run folder
        self.state: dict[str, Any] = {}

    # --- the benchmark's own run --------------------------------------------------------------

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:"):  # keep artifacts beside the database, in the run folder
            location = RunFolder(self.run_dir).mlflow_artifacts.resolve().as_uri()
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def start(self, *, kind: str = "run") -> MlflowTracker:
        """Open (or, after --resume, reopen) the benchmark's MLflow run and log the config as parameters."""
        self.client = connect(self.uri)
        state_path = RunFolder(self.run_dir).mlflow_state
        previous = read_json(state_path) if state_path.is_file() else {}
        if previous.get("tracking_uri") == self.uri and previous.get("run_id"):
            self.state = previous
        else:
            experiment_id = self._experiment_id()
            tags = {"tumorbench.kind": kind, "tumorbench.run_dir": str(self.run_dir.resolve())}
            run = self.client.create_run(experiment_id, run_name=self.run_dir.name, tags=tags)
            self.state = {"tracking_uri": self.uri, "experiment_id": experiment_id, "run_id": run.info.run_id,
                          "models": {}}
            config = read_run_config(self.run_dir, fix="parameters are not logged") or {}
            if config:
                config.pop("resolved_models", None)  # each model's nested run has its own
                self._log_params(self.state["run_id"], config)
            self._save()
        log.info("mlflow: run %s in %s", self.state["run_id"], self.uri)
        return self

    def _save(self) -> None:
        write_json(RunFolder(self.run_dir).mlflow_state, self.state)

    def _log_params(self, run_id: str, data: dict) -> None:
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in _params(data).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
            self.client.log_batch(run_id, params=params[i:i + 100])

    def _log_metrics(self, run_id: str, values: dict[str, float], *, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(1000 * __import__("time").time())
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])

    def _log_artifacts(self, run_id: str, paths: list[Path], artifact_path: str | None = None) -> None:
        for path in paths:
            if path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_path)

    # --- models -------------------------------------------------------------------------------

    def model_done(self, folder: Path) -> None:
        """A nested run for the model just written to `folder`: parameters, per-epoch metrics, files."""
        name = folder.name
        if name in self.state["models"]:
            return  # logged before the run was resumed
        info = read_json(folder / INFO_FILE)
        run = self.client.create_run(self.state["experiment_id"], run_name=name,
                                     tags={"mlflow.parentRunId": self.state["run_id"], "tumorbench.model": name})
        run_id = run.info.run_id
        self._log_params(run_id, {k: v for k, v in info.items() if k not in ("notes",)})
        history = read_json(folder / HISTORY_FILE)
        for i, epoch in enumerate(history.get("epoch", [])):
            self._log_metrics(run_id, {k: history[k][i] for k in EPOCH_METRICS
                                       if k in history and isinstance(history[k][i], (int, float))}, step=int(epoch))
        self._log_artifacts(run_id, [folder / f for f in (CHECKPOINT_FILE, HISTORY_FILE, INFO_FILE,
                                                          VAL_PREDICTIONS, TEST_PREDICTIONS)])
        self.client.set_terminated(run_id)
        self.state["models"][name] = run_id
        self._save()

    def models_done(self) -> None:
        """Log every complete model of the run folder not logged yet (models kept by --resume)."""
        for folder in RunFolder(self.run_dir).model_folders():
            if model_is_complete(folder):
                self.model_done(folder)

    # --- the end ------------------------------------------------------------------------------

    def finish(self, *, status: str = "FINISHED") -> None:
        """Final metrics (from metrics.json: every number per model, intervals included) and the report."""
        metrics_path = RunFolder(self.run_dir).metrics_json
        if metrics_path.is_file():
            metrics = read_json(metrics_path)
            for name, values in (metrics.get("models") or {}).items():
                numbers = _numeric(values)
                child = self.state["models"].get(name)
                if child:
                    self._log_metrics(child, {f"test.{k}": v for k, v in numbers.items()})
                self._log_metrics(self.state["run_id"], {f"{name}.{k}": v for k, v in numbers.items()})
        self._log_artifacts(self.state["run_id"], [self.run_dir / f for f in _RUN_ARTIFACTS])
        figures = RunFolder(self.run_dir).figures
        if figures.is_dir():
            self.client.log_artifacts(self.state["run_id"], str(figures), "figures")
        self.client.set_terminated(self.state["run_id"], status=status)


def track_evaluation(out_dir: Path, predictions: list[Path], names: list[str], *, tracking_uri: str | None) -> str:
    """`tumorbench evaluate --mlflow`: one run for the comparison, a nested run per predictions file."""
    tracker = MlflowTracker(out_dir, tracking_uri=tracking_uri).start(kind="evaluate")
    for path, name in zip(predictions, names):
        run = tracker.client.create_run(tracker.state["experiment_id"], run_name=name,
                                        tags={"mlflow.parentRunId": tracker.state["run_id"], "tumorbench.model": name})
        tracker._log_params(run.info.run_id, {"predictions": os.fspath(path)})
        tracker._log_artifacts(run.info.run_id, [Path(path)])
        tracker.client.set_terminated(run.info.run_id)
        tracker.state["models"][name] = run.info.run_id
    tracker._save()
    tracker.finish()
    return tracker.state["run_id"]
