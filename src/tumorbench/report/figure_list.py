"""The report's figures, listed once: the report renders each as an interactive (plotly) and a static
(matplotlib PNG/SVG) figure; the notebook API's results show the plotly ones under the same names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tumorbench.evaluation.model_result import ModelResult
from tumorbench.report import figures_plotly as fp


@dataclass(frozen=True)
class FigureSpec:
    kind: str  # what the figure shows: "roc", "accuracy_by_model", ...
    stem: str  # file name in figures/ (per model: "<model slug>_<kind>")
    title: str  # its heading in the report
    plotly: Callable[[], Any]  # builds the plotly figure
    static: Callable[[], Any]  # builds the matplotlib figure


def overview_figures(table, evaluated_on: str) -> list[FigureSpec]:
    """The figures across models, from the metrics table (with its interval columns)."""
    from tumorbench.report import figures_static as fs

    title = f"Accuracy by model ({evaluated_on})"
    return [
        FigureSpec("accuracy_by_model", "accuracy_by_model", "Accuracy by model",
                   lambda: fp.accuracy_figure(table, title=title),
                   lambda: fs.plot_accuracy(table, title=title).figure),
        FigureSpec("metrics_by_model", "metrics_by_model", "Metrics by model",
                   lambda: fp.metrics_by_model_figure(table),
                   lambda: fs.plot_metrics_by_model(table)[0].figure),
    ]


def model_figures(r: ModelResult, slug: str) -> list[FigureSpec]:
    """The figures of one model; training curves only when it has a history."""
    from tumorbench.report import figures_static as fs

    def spec(kind: str, title: str, figure_title: str, plotly, static) -> FigureSpec:
        full = f"{r.name}: {figure_title}"
        return FigureSpec(kind, f"{slug}_{kind}", title, lambda: plotly(full), lambda: static(full))

    operating = dict(binary_roc=r.binary_roc, binary=r.binary, operating_points=r.operating_points)
    specs = [
        spec("confusion_matrix", "Confusion matrix", "confusion matrix",
             lambda t: fp.confusion_matrix_figure(r.metrics, title=t),
             lambda t: fs.plot_confusion_matrix(r.metrics, title=t).figure),
        # The binary view's curve and the operating points (docs/binary-view.md) join the class curves.
        spec("roc", "ROC curves", "ROC curves (one vs rest)",
             lambda t: fp.add_operating_points(fp.roc_figure(r.roc, r.metrics, title=t), **operating),
             lambda t: fs.draw_operating_points(fs.plot_roc(r.roc, r.metrics, title=t), **operating).figure),
        spec("precision_recall", "Precision-recall curves", "precision-recall curves",
             lambda t: fp.pr_figure(r.pr, r.metrics, title=t), lambda t: fs.plot_pr(r.pr, r.metrics, title=t).figure),
        spec("reliability", "Reliability diagram", "reliability diagram",
             lambda t: fp.reliability_figure(r.calibration, title=t),
             lambda t: fs.plot_reliability(r.calibration, title=t).figure),
    ]
    if r.training is not None:
        specs.append(spec("training_curves", "Training curves", "training curves",
                          lambda t: fp.history_figure(r.training, title=t),
                          lambda t: fs.plot_history(r.training, title=t)[0].figure))
    return specs
