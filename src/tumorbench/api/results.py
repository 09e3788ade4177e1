"""What the API's commands return: a report folder (run, study, evaluation) here, an audit
(`tumorbench.api.audit_result`) and predictions (`tumorbench.api.prediction_result`), importable from here too.

Each shows a compact HTML summary when it is the last value of a Jupyter cell (`_repr_html_`), holds
its tables as pandas DataFrames (read from the files the command wrote, so they are the report's
numbers) and its figures as plotly figures, and `save(path)` writes the same files as the CLI.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tumorbench.api._html import render
from tumorbench.api.audit_result import AuditResult
from tumorbench.api.prediction_result import PredictionResult
from tumorbench.runfolder import (
    CALIBRATED_DIR,
    FIGURES_DIR,
    LABEL_ISSUES_FILE,
    METRICS_CSV,
    METRICS_JSON,
    REPORT_HTML,
    REPORT_MD,
    RunFolder,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["BenchmarkResult", "RunResult", "EvaluationResult", "AuditResult", "PredictionResult"]

# The headline of the summary: what a reader compares first (every metric is in `.metrics`).
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "ece")
_REPORT_FILES = (REPORT_HTML, REPORT_MD, METRICS_JSON, METRICS_CSV, FIGURES_DIR, CALIBRATED_DIR, LABEL_ISSUES_FILE)


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif source.is_file():
        shutil.copy2(source, target)


class BenchmarkResult:
    """A benchmark's report folder: metrics.json as DataFrames, the report's figures as plotly figures."""

    kind = "benchmark"

    def __init__(self, folder: Path, *, seconds: float | None = None, tracking: dict | None = None):
        self.folder = Path(folder)
        self.seconds = seconds  # how long the command took
        self.tracking = tracking  # {"run_id", "uri"} of the MLflow run, when tracked

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {', '.join(self.models)} in {self.folder}>"

    @property
    def report_path(self) -> Path:
        """The self-contained HTML report (opens offline; report.md, metrics.json ... beside it)."""
        return RunFolder(self.folder).report_html

    @cached_property
    def document(self) -> dict:
        """metrics.json: the public contract (every metric, interval, paired test, the recommendation)."""
        from tumorbench._io import read_json

        return read_json(RunFolder(self.folder).metrics_json)

    @property
    def models(self) -> list[str]:
        return list(self.document["models"])

    @property
    def recommendation(self) -> str:
        """The model to prefer and why, in plain words (one sentence per line)."""
        return "\n".join(self._recommendation())

    def _recommendation(self) -> list[str]:
        advice = self.document["recommendation"]
        return [advice] if isinstance(advice, str) else list(advice)

    @property
    def ranking(self) -> list:
        return self.document["ranking"]

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """One row per model: every metric and its `<metric>_low` / `<metric>_high` (= metrics.csv)."""
        from tumorbench.evaluation.table import intervals_table, metrics_table

        models = self.document["models"]
        return metrics_table(models).join(intervals_table(models))

    @cached_property
    def per_class(self) -> pd.DataFrame:
        """One row per (model, class): precision, recall, f1, support, tp, fp, fn, tn, auc, ap, ..."""
        import pandas as pd

        from tumorbench.evaluation.table import per_class_table

        return pd.concat({name: per_class_table(m) for name, m in self.document["models"].items()},
                         names=["model"])

    @cached_property
    def binary(self) -> pd.DataFrame:
        """Tumour vs no tumour per model (sensitivity, specificity, AUC, accuracy, PPV, NPV with their
        `_low` / `_high` bounds); `reason` says why where the view is undefined (docs/binary-view.md)."""
        from tumorbench.evaluation.binary import binary_table

        return binary_table(self.document["models"])

    @cached_property
    def operating_points(self) -> pd.DataFrame:
        """One row per operating point (model, view, fixed rate and target, threshold chosen on validation,
        test sensitivity and specificity with bounds); empty without validation predictions."""
        from tumorbench.evaluation.operating_points import operating_points_table

        return operating_points_table(self.document["models"])

    def confusion(self, model: str, *, normalize: bool = False) -> pd.DataFrame:
        """The confusion matrix of `model` (rows: true class, columns: predicted class)."""
        from tumorbench.evaluation.table import confusion_frame

        return confusion_frame(self._model(model), normalize=normalize)

    @cached_property
    def comparison(self) -> pd.DataFrame:
        """Every paired test (McNemar, paired bootstrap, DeLong) with its Holm-adjusted p-value."""
        import pandas as pd

        return pd.DataFrame(self.document["comparison"]["tests"])

    @cached_property
    def checks(self) -> pd.DataFrame:
        """The verdict table: one row per check (key, title, status pass/warn/fail/not run, value, detail)."""
        import pandas as pd

        return pd.DataFrame(self.document.get("checks", []),
                            columns=["key", "title", "status", "value", "detail", "section", "numbers"])

    def failed_checks(self, level: str = "fail") -> list[str]:
        """The checks at or beyond `level` ("fail" or "warn"), as the CLI's --fail-on names them."""
        from tumorbench.evaluation.checks import failed_checks

        return failed_checks(self.document.get("checks", []), level)

    @cached_property
    def label_issues(self) -> pd.DataFrame:
        """Suspect labels, ranked (label_issues.csv: rank, image, split, label, suggested, label_quality,
        source); empty when none were computed."""
        import pandas as pd

        from tumorbench.evaluation.label_issues import COLUMNS

        path = RunFolder(self.folder).label_issues
        return pd.read_csv(path, keep_default_na=False) if path.is_file() else pd.DataFrame(columns=list(COLUMNS))

    @cached_property
    def segments(self) -> pd.DataFrame:
        """Where each model fails: one row per (model, attribute, segment) with n, errors, accuracy,
        its interval (low, high) and balanced accuracy."""
        import pandas as pd

        models = (self.document.get("segments") or {}).get("models") or {}
        frames = {m: pd.DataFrame(rows) for m, rows in models.items()}
        return pd.concat(frames, names=["model"]).reset_index(level=0) if frames else pd.DataFrame()

    @property
    def external(self) -> dict:
        """metrics.json's external test sets: {name: {dataset, status, reason | copies, models, gap}}."""
        return self.document.get("external") or {}

    @property
    def generalisation(self) -> dict | None:
        """Which model generalises best across the external test sets ({best, ranking, basis, summary})."""
        return self.document.get("generalisation")

    @cached_property
    def external_metrics(self) -> pd.DataFrame:
        """One row per (external set, model): every metric on all its images, and `<metric>_without_copies`
        on the images that copy none of the run's training or validation images."""
        import pandas as pd

        from tumorbench.evaluation.table import metrics_table

        frames = {}
        for name, entry in self.external.items():
            models = entry.get("models") or {}
            if not models:
                continue
            full = metrics_table(models)
            clean = {m: v["without_copies"] for m, v in models.items() if (v.get("without_copies") or {}).get("n")}
            if clean:
                full = full.join(metrics_table(clean).add_suffix("_without_copies"))
            frames[name] = full
        return pd.concat(frames, names=["external"]) if frames else pd.DataFrame()

    @cached_property
    def generalisation_gap(self) -> pd.DataFrame:
        """One row per (model, external set, metric, images: all | without_copies): the run's test score,
        the external score, their difference (`gap`) and its interval (`low`, `high`)."""
        import pandas as pd

        rows = []
        for name, entry in self.external.items():
            for model, gaps in (entry.get("gap") or {}).items():
                for images, by_metric in gaps.items():
                    for key, g in (by_metric or {}).items():
                        ci = g.get("interval") or [None, None]
                        rows.append({"model": model, "external": name, "metric": key, "images": images,
                                     "source": g["source"], "score": g["external"], "gap": g["gap"],
                                     "low": ci[0], "high": ci[1]})
        return pd.DataFrame(rows, columns=["model", "external", "metric", "images", "source", "score", "gap", "low",
                                           "high"])

    def _model(self, model: str) -> dict:
        try:
            return self.document["models"][model]
        except KeyError:
            raise KeyError(f"no model {model!r} in this result; models: {', '.join(self.models)}") from None

    def model_results(self) -> list:
        """The evaluated models (ModelResult: metrics, curves, calibration, training curves)."""
        raise NotImplementedError

    @cached_property
    def figures(self) -> dict[str, go.Figure]:
        """The report's interactive figures: "accuracy_by_model", "metrics_by_model", then per model
        "<model>/confusion_matrix", "<model>/roc", "<model>/precision_recall", "<model>/reliability" and,
        when trained here, "<model>/training_curves"."""
        from tumorbench.report.figure_list import model_figures, overview_figures

        figures = {spec.kind: spec.plotly() for spec in overview_figures(self.metrics, self.document["evaluated_on"])}
        for result in self.model_results():
            # The curves come from the predictions; the numbers (and the calibration the report computed
            # with its intervals) from metrics.json, so the figures show the report's values.
            result.metrics = self._model(result.name)
            result.calibration = result.metrics.get("calibration")
            result.binary = result.metrics.get("binary", result.binary)
            result.operating_points = result.metrics.get("operating_points", result.operating_points)
            figures.update({f"{result.name}/{spec.kind}": spec.plotly() for spec in model_figures(result, result.name)})
        return figures

    def save(self, path: str | Path) -> Path:
        """Copy the report: `x.html` writes the self-contained HTML file; a folder receives report.html,
        report.md, metrics.json, metrics.csv, figures/ and calibrated/. Returns the HTML file written."""
        path = Path(path)
        if path.suffix.lower() in (".html", ".htm"):
            path.parent.mkdir(parents=True, exist_ok=True)
            _copy(self.report_path, path)
            return path
        path.mkdir(parents=True, exist_ok=True)
        for name in _REPORT_FILES:
            _copy(self.folder / name, path / name)
        return path / REPORT_HTML

    def _summary_rows(self) -> list[dict]:
        from tumorbench.evaluation.declared import metric

        table = self.metrics
        rows = []
        for model in table.index:
            cells = []
            for key in HEADLINE:
                spec, value = metric(key), table.at[model, key]
                low, high = table.get(f"{key}_low"), table.get(f"{key}_high")
                text = "n/a" if math.isnan(value) else f"{value:.{spec.digits}f}"
                if low is not None and high is not None and not math.isnan(low[model]):
                    text += f" [{low[model]:.{spec.digits}f}, {high[model]:.{spec.digits}f}]"
                cells.append(text)
            rows.append({"model": model, "n": int(table.at[model, "n"]), "cells": cells})
        return rows

    def _notes(self) -> list[str]:
        return list(self.document.get("notes") or [])

    def _repr_html_(self) -> str:
        from tumorbench.evaluation.declared import metric

        return render("benchmark", kind=self.kind, folder=self.folder, report=self.report_path,
                      recommendation=self._recommendation(), headers=[metric(k).label for k in HEADLINE],
                      rows=self._summary_rows(), notes=self._notes(), seconds=self.seconds,
                      checks=self.document.get("checks", []))


class RunResult(BenchmarkResult):
    """A run folder (`tb.run`, `tb.study_imbalance`, `tb.report`): the report's tables and figures, plus
    the run's own (`summary`: test accuracy, best epoch and training time per model)."""

    kind = "run"

    def __init__(self, folder: Path, *, data: Path | None = None, failures: dict | None = None,
                 has_report: bool = True, **kwargs: Any):
        super().__init__(folder, **kwargs)
        self.data = data  # the dataset root trained on
        self.failures = failures or {}  # model -> {"epoch", "reason", ...} of models that could not be trained
        self.has_report = has_report  # False when no model could be trained

    def __repr__(self) -> str:
        if not self.has_report:
            return f"<RunResult without report ({len(self.failures)} model(s) failed) in {self.folder}>"
        return super().__repr__()

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Test accuracy, best epoch, training seconds and weights per model, read from the run folder."""
        from tumorbench.run import summary_table

        return summary_table(self.folder)

    def model_results(self) -> list:
        from tumorbench.report._run import load_run
        from tumorbench.report.build import run_settings

        return load_run(self.folder, settings=run_settings(self.folder)).models

    def _notes(self) -> list[str]:
        failed = [f"{name} failed: {f.get('reason', '')}" for name, f in self.failures.items()]
        return failed + super()._notes()

    def _repr_html_(self) -> str:
        if not self.has_report:
            return render("failed", folder=self.folder, notes=self._notes())
        return super()._repr_html_()


class EvaluationResult(BenchmarkResult):
    """The report of predictions evaluated on their own (`tb.evaluate`)."""

    kind = "evaluation"

    def __init__(self, folder: Path, *, sources: Sequence[Path], settings=None, **kwargs: Any):
        super().__init__(folder, **kwargs)
        self.sources = [Path(s) for s in sources]  # the predictions files, in the order of `models`
        self.settings = settings

    def model_results(self) -> list:
        from tumorbench.evaluation.files import evaluate_predictions

        return evaluate_predictions(self.sources, names=self.models, settings=self.settings)
