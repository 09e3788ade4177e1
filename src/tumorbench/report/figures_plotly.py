"""Interactive figures (plotly) for the HTML report, built from already computed metrics.

Strings that come from the data (model names) are HTML-escaped before they reach plotly: plotly reads
a subset of HTML in labels, so a name such as `<b>` would otherwise be rendered as markup.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tumorbench.evaluation.history import PANELS, TrainingCurves
from tumorbench.evaluation.table import metric_columns, metric_rows
from tumorbench.report.style import (
    BEST_COLOUR,
    CLASS_COLOURS,
    MODEL_COLOURS,
    TRAIN_COLOUR,
    VAL_COLOUR,
    lower_metrics,
    reliability_series,
    score_metrics,
)

_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), font=dict(size=12))


def _t(text: str) -> str:
    return html.escape(str(text), quote=False)


def confusion_matrix_figure(metrics: dict, *, title: str = "Confusion matrix") -> go.Figure:
    """Heatmap coloured by row-normalised rate, annotated with counts and percentages."""
    counts = np.asarray(metrics["confusion_matrix"])
    rates = np.asarray(metrics["confusion_matrix_normalized"])
    text = [[f"{c}<br>{r:.0%}" for c, r in zip(crow, rrow)] for crow, rrow in zip(counts, rates)]
    figure = go.Figure(
        go.Heatmap(
            z=rates,
            x=metric_columns(metrics),
            y=metric_rows(metrics),
            text=text,
            texttemplate="%{text}",
            customdata=counts,
            hovertemplate="true %{y}, predicted %{x}: %{customdata} images (%{z:.1%} of %{y})"
            "<extra></extra>",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="share of row", tickformat=".0%"),
        )
    )
    figure.update_layout(title=_t(title), height=420, **_LAYOUT)
    figure.update_xaxes(title="predicted class", side="bottom")
    figure.update_yaxes(title="true class", autorange="reversed")
    return figure


def roc_figure(curves: dict, metrics: dict, *, title: str = "ROC curves (one vs rest)") -> go.Figure:
    """One ROC curve per class plus micro and macro averages; AUCs from `metrics` in the legend."""
    figure = go.Figure()
    for name in curves["per_class"]:
        points = curves["per_class"][name]
        if points is None:
            continue
        auc = metrics["per_class"][name]["auc"]
        figure.add_trace(
            go.Scatter(x=points["fpr"], y=points["tpr"], mode="lines",
                       name=f"{name} (AUC {auc:.3f})", line=dict(color=CLASS_COLOURS[name], width=2))
        )
    figure.add_trace(
        go.Scatter(x=curves["micro"]["fpr"], y=curves["micro"]["tpr"], mode="lines",
                   name=f"micro average (AUC {metrics['micro_auc']:.3f})",
                   line=dict(color="#444", dash="dash"))
    )
    if curves["macro"] is not None:
        figure.add_trace(
            go.Scatter(x=curves["macro"]["fpr"], y=curves["macro"]["tpr"], mode="lines",
                       name=f"macro average (AUC {metrics['macro']['auc']:.3f})",
                       line=dict(color="#999", dash="dot"))
        )
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", showlegend=False,
                   line=dict(color="#ccc", width=1), hoverinfo="skip")
    )
    figure.update_layout(title=_t(title), height=420, legend=dict(x=0.45, y=0.05), **_LAYOUT)
    figure.update_xaxes(title="false positive rate", range=[0, 1])
    figure.update_yaxes(title="true positive rate", range=[0, 1.02])
    return figure


def add_operating_points(figure: go.Figure, *, binary_roc: dict | None = None, binary: dict | None = None,
                         operating_points: dict | None = None) -> go.Figure:
    """Draw the binary view's ROC curve (P(tumour)) and a marker per operating point on a ROC figure:
    a diamond where specificity was held at its target on validation, a triangle where sensitivity was."""
    from tumorbench.report.operating_marks import BINARY_COLOUR, SYMBOLS, binary_curve_label, operating_marks

    label = binary_curve_label(binary)
    if binary_roc is not None and label is not None:
        figure.add_trace(go.Scatter(x=binary_roc["fpr"], y=binary_roc["tpr"], mode="lines", name=_t(label),
                                    line=dict(color=BINARY_COLOUR, width=2.5)))
    marks = operating_marks(operating_points)
    for mark in marks:
        # Each mark in its view's colour, explained on hover; the legend names the two kinds only, so it
        # stays as short as the curves' (20 marks would bury the figure under their legend entries).
        figure.add_trace(go.Scatter(
            x=[mark.fpr], y=[mark.tpr], mode="markers", name=_t(mark.view), showlegend=False,
            hovertext=_t(mark.text), hoverinfo="text",
            marker=dict(color=mark.colour, size=11, symbol=SYMBOLS[mark.fixed][0], line=dict(color="white", width=1))))
    if marks:
        for fixed, (symbol, _) in SYMBOLS.items():
            figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers",
                                        name=f"{fixed} target (threshold from validation)",
                                        marker=dict(color="#777777", size=10, symbol=symbol)))
        figure.update_layout(height=480, legend=dict(font=dict(size=10)))
    return figure


def history_figure(curves: TrainingCurves, *, title: str = "Training curves") -> go.Figure:
    """Accuracy and loss per epoch, training vs validation, with the best epoch and phase changes."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[panel for panel, _, _ in PANELS])
    for col, (_, train_key, val_key) in enumerate(PANELS, start=1):
        for key, label, colour in ((train_key, "training", TRAIN_COLOUR), (val_key, "validation", VAL_COLOUR)):
            if key not in curves.series:
                continue
            figure.add_trace(
                go.Scatter(x=curves.epochs, y=curves.series[key], mode="lines+markers", name=label,
                           legendgroup=label, showlegend=col == 1, line=dict(color=colour)),
                row=1, col=col,
            )
        figure.update_xaxes(title="epoch", row=1, col=col)
    if curves.best_epoch is not None:
        # Labelled through the legend: a text label on the line would collide with the panel titles.
        figure.add_vline(x=curves.best_epoch, line=dict(color=BEST_COLOUR, dash="dash"))
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"best epoch ({curves.best_epoch})",
                                    line=dict(color=BEST_COLOUR, dash="dash")))
    for epoch, phase in curves.phase_starts:
        # Half an epoch before the first epoch of the phase: the boundary falls between two points.
        figure.add_vline(x=epoch - 0.5, line=dict(color="#aaa", dash="dot"),
                         annotation_text=_t(phase), annotation_position="bottom right")
    # Whole epochs only: a tick at epoch 1.5 means nothing.
    figure.update_xaxes(tick0=1, dtick=max(1, math.ceil(len(curves.epochs) / 10)))
    figure.update_layout(title=_t(title), height=380, **_LAYOUT)
    return figure


def histories_figure(curves_by_model: dict[str, TrainingCurves], *,
                     title: str = "Validation curves of every model") -> go.Figure:
    """Validation accuracy and loss per epoch, one line per model: histories trained by tumorbench and
    given with `--history` side by side (training series where a history has no validation one)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[panel for panel, _, _ in PANELS])
    for i, (name, curves) in enumerate(curves_by_model.items()):
        colour = MODEL_COLOURS[i % len(MODEL_COLOURS)]
        for col, (_, train_key, val_key) in enumerate(PANELS, start=1):
            key = val_key if val_key in curves.series else train_key
            if key not in curves.series:
                continue
            label = _t(name) if key == val_key else f"{_t(name)} (training)"
            figure.add_trace(go.Scatter(x=curves.epochs, y=curves.series[key], mode="lines+markers", name=label,
                                        legendgroup=name, showlegend=col == 1, line=dict(color=colour)),
                             row=1, col=col)
            figure.update_xaxes(title="epoch", row=1, col=col)
    figure.update_layout(title=_t(title), height=380, **_LAYOUT)
    return figure


def _error_bars(table: pd.DataFrame, column: str) -> dict | None:
    """Plotly error bars from the table's `<column>_low`/`<column>_high` (intervals_table), if present."""
    if f"{column}_low" not in table or table[f"{column}_low"].isna().all():
        return None
    return dict(type="data", symmetric=False, array=(table[f"{column}_high"] - table[column]).tolist(),
                arrayminus=(table[column] - table[f"{column}_low"]).tolist(), color="#333", thickness=1.2)


def accuracy_figure(table: pd.DataFrame, *, title: str = "Test accuracy by model") -> go.Figure:
    """The seed's accuracy histogram: one bar per model (rows of `metrics_table`), with the interval
    as an error bar when the table has `accuracy_low`/`accuracy_high`."""
    names = [_t(n) for n in table.index]
    figure = go.Figure(
        go.Bar(x=names, y=table["accuracy"], text=[f"{a:.3f}" for a in table["accuracy"]],
               textposition="inside", insidetextanchor="middle", error_y=_error_bars(table, "accuracy"),
               marker_color=[MODEL_COLOURS[i % len(MODEL_COLOURS)] for i in range(len(names))])
    )
    figure.update_layout(title=_t(title), height=380, showlegend=False, **_LAYOUT)
    figure.update_yaxes(title="accuracy", range=[0, 1.1])
    return figure


def metrics_by_model_figure(table: pd.DataFrame, *, title: str = "Metrics by model") -> go.Figure:
    """The seed's grouped bar chart: the registry's chart scores per model, the loss beside them,
    each bar with its interval when the table has `<column>_low`/`_high`."""
    names = [_t(n) for n in table.index]
    figure = make_subplots(rows=1, cols=2, column_widths=[0.75, 0.25], horizontal_spacing=0.1,
                           subplot_titles=["scores (higher is better)", "loss (lower is better)"])
    for column, label in score_metrics():
        figure.add_trace(
            go.Bar(x=names, y=table[column], name=label, error_y=_error_bars(table, column),
                   hovertemplate=f"{label}: %{{y:.3f}}<extra>%{{x}}</extra>"),
            row=1, col=1,
        )
    for column, label in lower_metrics():
        figure.add_trace(
            go.Bar(x=names, y=table[column], name=label, marker_color="#7f7f7f", error_y=_error_bars(table, column),
                   hovertemplate=f"{label}: %{{y:.3f}}<extra>%{{x}}</extra>"),
            row=1, col=2,
        )
    figure.update_yaxes(range=[0, 1.05], row=1, col=1)
    figure.update_yaxes(title="cross-entropy", row=1, col=2)
    figure.update_layout(title=_t(title), barmode="group", height=420,
                         legend=dict(orientation="h", y=-0.15), **_LAYOUT)
    return figure


def pr_figure(curves: dict, metrics: dict, *, title: str = "Precision-recall curves") -> go.Figure:
    """One precision-recall curve per class, AP from `metrics` in the legend; dotted: the class's share
    of images (what a random classifier reaches)."""
    figure = go.Figure()
    for name in curves["per_class"]:
        points = curves["per_class"][name]
        if points is None:
            continue
        ap = metrics["per_class"][name]["ap"]
        colour = CLASS_COLOURS[name]
        figure.add_trace(go.Scatter(x=points["recall"], y=points["precision"], mode="lines", line_shape="hv",
                                    name=f"{name} (AP {ap:.3f})", line=dict(color=colour, width=2)))
        figure.add_trace(go.Scatter(x=[0, 1], y=[points["prevalence"]] * 2, mode="lines", showlegend=False,
                                    line=dict(color=colour, width=1, dash="dot"), hoverinfo="skip"))
    figure.update_layout(title=_t(title), height=420, legend=dict(x=0.02, y=0.05), **_LAYOUT)
    figure.update_xaxes(title="recall", range=[0, 1])
    figure.update_yaxes(title="precision", range=[0, 1.02])
    return figure


def reliability_figure(calibration: dict, *, title: str = "Reliability diagram") -> go.Figure:
    """Accuracy against mean confidence per confidence bin, before (and after) temperature scaling;
    the marker area follows the number of images; the diagonal is perfect calibration."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                                line=dict(color="#bbb", dash="dash"), hoverinfo="skip"))
    for data, label, colour in reliability_series(calibration):
        total = max(sum(data["count"]), 1)
        figure.add_trace(go.Scatter(
            x=data["confidence"], y=data["accuracy"], mode="lines+markers", name=label,
            line=dict(color=colour), customdata=data["count"],
            marker=dict(size=[6 + 30 * (c / total) ** 0.5 for c in data["count"]], color=colour),
            hovertemplate="confidence %{x:.2f}, accuracy %{y:.2f}, %{customdata} images<extra></extra>"))
    figure.update_layout(title=_t(title), height=420, legend=dict(x=0.02, y=0.98), **_LAYOUT)
    figure.update_xaxes(title="mean confidence (largest probability)", range=[0, 1])
    figure.update_yaxes(title="accuracy", range=[0, 1.02])
    return figure
