"""Static figures (matplotlib) for papers and slides: the interactive figures' twins, PNG and SVG.

Helpers take `ax=None` (a new figure is made) and draw already computed metrics; they never compute
a metric. Figures are made with `matplotlib.figure.Figure`, not pyplot, so no GUI backend or global
figure state is involved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


def _text(text: str) -> str:
    # A `$` in a model name would start matplotlib's mathtext.
    return str(text).replace("$", r"\$")


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def plot_confusion_matrix(metrics: dict, *, ax: Axes | None = None, title: str = "Confusion matrix") -> Axes:
    """Row-normalised colours, each cell annotated with its count and percentage."""
    ax = _new_axes(ax, (5.2, 4.4))
    counts = np.asarray(metrics["confusion_matrix"])
    rates = np.asarray(metrics["confusion_matrix_normalized"])
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            colour = "white" if rates[i, j] > 0.6 else "black"
            ax.text(j, i, f"{counts[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center",
                    color=colour, fontsize=9)
    ax.set_xticks(range(counts.shape[1]), metric_columns(metrics), rotation=30, ha="right")
    ax.set_yticks(range(counts.shape[0]), metric_rows(metrics))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(_text(title))
    ax.figure.colorbar(image, ax=ax, label="share of row", format=lambda x, _: f"{x:.0%}")
    return ax


def plot_roc(curves: dict, metrics: dict, *, ax: Axes | None = None,
             title: str = "ROC curves (one vs rest)") -> Axes:
    """Per-class ROC curves plus micro and macro averages; AUCs taken from `metrics`."""
    ax = _new_axes(ax, (5.2, 4.8))
    for name in curves["per_class"]:
        points = curves["per_class"][name]
        if points is not None:
            ax.plot(points["fpr"], points["tpr"], color=CLASS_COLOURS[name], lw=1.8,
                    label=f"{name} (AUC {metrics['per_class'][name]['auc']:.3f})")
    ax.plot(curves["micro"]["fpr"], curves["micro"]["tpr"], color="#444", ls="--",
            label=f"micro average (AUC {metrics['micro_auc']:.3f})")
    if curves["macro"] is not None:
        ax.plot(curves["macro"]["fpr"], curves["macro"]["tpr"], color="#999", ls=":",
                label=f"macro average (AUC {metrics['macro']['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="#ccc", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(_text(title))
    ax.legend(loc="lower right", fontsize=8)
    return ax


def draw_operating_points(ax: Axes, *, binary_roc: dict | None = None, binary: dict | None = None,
                          operating_points: dict | None = None) -> Axes:
    """The static twin of `figures_plotly.add_operating_points`: the binary view's ROC curve and a
    marker per operating point (diamond: specificity held on validation, triangle: sensitivity)."""
    from tumorbench.report.operating_marks import (
        BINARY_COLOUR,
        SYMBOLS,
        binary_curve_label,
        operating_marks,
    )

    label = binary_curve_label(binary)
    if binary_roc is not None and label is not None:
        ax.plot(binary_roc["fpr"], binary_roc["tpr"], color=BINARY_COLOUR, lw=2.2, label=_text(label))
    marks = operating_marks(operating_points)
    for mark in marks:
        ax.scatter([mark.fpr], [mark.tpr], color=mark.colour, marker=SYMBOLS[mark.fixed][1], s=46,
                   edgecolors="white", linewidths=0.8, zorder=5)
    if marks:
        # One legend entry per kind of mark (colours are the curves').
        for fixed, (_, marker) in SYMBOLS.items():
            ax.scatter([], [], color="#777777", marker=marker, label=f"{fixed} target (threshold from validation)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_history(curves: TrainingCurves, *, axes: tuple[Axes, Axes] | None = None,
                 title: str = "Training curves") -> tuple[Axes, Axes]:
    """Accuracy and loss per epoch (training vs validation) on two axes, best epoch marked."""
    if axes is None:
        figure = Figure(figsize=(9, 3.6), layout="constrained")
        axes = tuple(figure.subplots(1, 2))
        figure.suptitle(_text(title))
    for ax, (panel, train_key, val_key) in zip(axes, PANELS):
        for key, label, colour in ((train_key, "training", TRAIN_COLOUR), (val_key, "validation", VAL_COLOUR)):
            if key in curves.series:
                ax.plot(curves.epochs, curves.series[key], marker="o", ms=3, color=colour, label=label)
        if curves.best_epoch is not None:
            ax.axvline(curves.best_epoch, color=BEST_COLOUR, ls="--", lw=1, label=f"best epoch ({curves.best_epoch})")
        for epoch, phase in curves.phase_starts:
            ax.axvline(epoch - 0.5, color="#aaa", ls=":", lw=1)
            ax.annotate(_text(phase), (epoch - 0.5, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8, color="#777")
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return axes


def plot_histories(curves_by_model: dict[str, TrainingCurves], *, axes: tuple[Axes, Axes] | None = None,
                   title: str = "Validation curves of every model") -> tuple[Axes, Axes]:
    """Validation accuracy and loss per epoch, one line per model (training series where a history has
    no validation one)."""
    if axes is None:
        figure = Figure(figsize=(9, 3.6), layout="constrained")
        axes = tuple(figure.subplots(1, 2))
        figure.suptitle(_text(title))
    for ax, (panel, train_key, val_key) in zip(axes, PANELS):
        for i, (name, curves) in enumerate(curves_by_model.items()):
            key = val_key if val_key in curves.series else train_key
            if key in curves.series:
                label = _text(name) if key == val_key else f"{_text(name)} (training)"
                ax.plot(curves.epochs, curves.series[key], marker="o", ms=3,
                        color=MODEL_COLOURS[i % len(MODEL_COLOURS)], label=label)
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return axes


def _yerr(table: pd.DataFrame, column: str):
    """matplotlib error bars from `<column>_low`/`_high` (intervals_table), None when absent."""
    if f"{column}_low" not in table or table[f"{column}_low"].isna().all():
        return None
    # A point outside its own interval (a BCa interval of a degenerate model can be) draws no bar on that side.
    return np.maximum(0.0, np.vstack([table[column] - table[f"{column}_low"], table[f"{column}_high"] - table[column]]))


def plot_accuracy(table: pd.DataFrame, *, ax: Axes | None = None,
                  title: str = "Test accuracy by model") -> Axes:
    """One bar per model (rows of `metrics_table`), value written on the bar."""
    ax = _new_axes(ax, (max(4.0, 1.1 * len(table) + 2), 3.8))
    names = [_text(n) for n in table.index]
    colours = [MODEL_COLOURS[i % len(MODEL_COLOURS)] for i in range(len(names))]
    bars = ax.bar(names, table["accuracy"], color=colours, yerr=_yerr(table, "accuracy"), capsize=4)
    ax.bar_label(bars, labels=[f"{a:.3f}" for a in table["accuracy"]], padding=2, fontsize=9)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(_text(title))
    ax.tick_params(axis="x", rotation=20)
    return ax


def plot_metrics_by_model(table: pd.DataFrame, *, axes: tuple[Axes, Axes] | None = None,
                          title: str = "Metrics by model") -> tuple[Axes, Axes]:
    """Grouped bars of the registry's chart scores per model on the first axes, the loss on the second."""
    if axes is None:
        figure = Figure(figsize=(max(7.0, 1.8 * len(table) + 4), 4.0), layout="constrained")
        axes = tuple(figure.subplots(1, 2, width_ratios=[3, 1]))
        figure.suptitle(_text(title))
    scores, losses = axes
    names = [_text(n) for n in table.index]
    x = np.arange(len(table))
    chosen = score_metrics()
    width = 0.8 / len(chosen)
    for i, (column, label) in enumerate(chosen):
        scores.bar(x + (i - (len(chosen) - 1) / 2) * width, table[column], width, label=label,
                   yerr=_yerr(table, column), error_kw={"elinewidth": 0.8})
    scores.set_xticks(x, names, rotation=20)
    scores.set_ylim(0, 1.05)
    scores.set_title("scores (higher is better)")
    scores.legend(fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    lower = lower_metrics()
    for i, (column, label) in enumerate(lower):
        losses.bar(x + (i - (len(lower) - 1) / 2) * 0.6 / len(lower), table[column], 0.6 / len(lower),
                   color="#7f7f7f", label=label, yerr=_yerr(table, column), error_kw={"elinewidth": 0.8})
    losses.set_xticks(x, names, rotation=20)
    losses.set_ylabel("cross-entropy")
    losses.set_title("loss (lower is better)")
    return scores, losses


def plot_pr(curves: dict, metrics: dict, *, ax: Axes | None = None, title: str = "Precision-recall curves") -> Axes:
    """Per-class precision-recall curves, AP from `metrics`; dotted lines: the class's share of images."""
    ax = _new_axes(ax, (5.2, 4.8))
    for name in curves["per_class"]:
        points = curves["per_class"][name]
        if points is None:
            continue
        colour = CLASS_COLOURS[name]
        ax.step(points["recall"], points["precision"], where="post", color=colour, lw=1.8,
                label=f"{name} (AP {metrics['per_class'][name]['ap']:.3f})")
        ax.axhline(points["prevalence"], color=colour, lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(_text(title))
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_reliability(calibration: dict, *, ax: Axes | None = None, title: str = "Reliability diagram") -> Axes:
    """Accuracy against mean confidence per bin, before (and after) temperature scaling."""
    ax = _new_axes(ax, (5.2, 4.8))
    ax.plot([0, 1], [0, 1], color="#bbb", ls="--", lw=1, label="perfectly calibrated")
    for data, label, colour in reliability_series(calibration):
        total = max(sum(data["count"]), 1)
        ax.plot(data["confidence"], data["accuracy"], color=colour, lw=1.5, label=label)
        ax.scatter(data["confidence"], data["accuracy"], s=[10 + 300 * c / total for c in data["count"]],
                   color=colour, alpha=0.7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence (largest probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(_text(title))
    ax.legend(loc="upper left", fontsize=8)
    return ax
