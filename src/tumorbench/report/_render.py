"""Rendering the report templates (HTML with autoescape, Markdown with its own escaping)."""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from importlib import metadata

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from tumorbench.classes import CLASS_NAMES
from tumorbench.metrics import LOSS_EPS

# One line each: how the averaged metrics differ (the issue asks for this, the seed mixed them up).
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("accuracy", "share of images whose most probable class is the true class."),
    ("loss", f"mean cross-entropy −log p(true class), probabilities clipped at {LOSS_EPS:g}; lower is "
             "better; it punishes confident mistakes that accuracy does not see."),
    ("weighted precision / recall", "per-class precision (recall) averaged with weights = number of "
     "true images of each class; weighted recall always equals accuracy."),
    ("global F1", "the seed notebook's \"F1 global\": harmonic mean of weighted precision and weighted "
     "recall, 2·P_w·R_w / (P_w + R_w); it is not an average of per-class F1."),
    ("weighted-mean F1", "per-class F1 averaged with the same weights (scikit-learn's \"weighted avg\" "
     "row, what the seed's summary table showed); metrics.json key weighted.f1."),
    ("macro precision / recall / F1 / AUC", "unweighted mean over the classes: each class counts the "
     "same however few images it has, so a neglected small class shows."),
    ("AUC", "one-vs-rest area under the ROC curve of a class: the chance that an image of the class "
     "gets a higher score for it than an image of another class; micro AUC pools all (image, class) pairs."),
)

_INFO_FIELDS: tuple[tuple[str, str], ...] = (
    ("architecture", "architecture"),
    ("weights", "weights"),
    ("balance", "class balancing"),
    ("epochs", "epochs"),
    ("best_epoch", "best epoch"),
    ("train_seconds", "training time"),
    ("compute", "device and precision"),
    ("n_params", "parameters"),
    ("preprocessing", "preprocessing"),
)


@dataclass
class FigureView:
    title: str
    html: Markup  # the plotly <div> and its <script>, without plotly.js
    png: str  # path relative to the report
    svg: str


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _info_value(key: str, value) -> str:
    if key == "train_seconds" and isinstance(value, (int, float)):
        return f"{value:.0f} s"
    if key == "n_params" and isinstance(value, (int, float)):
        return f"{value / 1e6:.2f} M"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _md(text) -> str:
    """Escape text from the data for Markdown: no markup, no raw HTML, no table breaks."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Underscores inside words (no_tumor) do not start emphasis in CommonMark, so they stay readable.
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text).replace("\n", " ")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tumorbench.report", "templates"),
        # Names of files, models and classes come from the data: HTML output is always escaped.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _number
    env.filters["md"] = _md
    return env


def _version() -> str:
    try:
        return metadata.version("tumorbench")
    except metadata.PackageNotFoundError:
        return "development"


def _views(context: dict) -> dict:
    """What both templates need beyond the raw context: comparison rows, per-model tables."""
    advice = context["advice"]
    table = context["table"]
    rank = {name: i + 1 for i, name in enumerate(advice.ranking)}
    comparison = []
    for r in context["results"]:
        row = table.loc[r.name]
        comparison.append({
            "rank": rank[r.name],
            "name": r.name,
            "slug": context["slugs"][r.name],
            "values": [row["accuracy"], row["loss"], row["weighted_precision"], row["weighted_recall"],
                       row["weighted_f1"], row["global_f1"], row["macro_precision"], row["macro_recall"],
                       row["macro_f1"], row["macro_auc"], row["micro_auc"]],
            "val_macro_f1": r.validation["macro"]["f1"] if r.validation else None,
        })
    comparison.sort(key=lambda c: c["rank"])
    models = []
    for r in context["results"]:
        info = [(label, _info_value(key, r.info[key])) for key, label in _INFO_FIELDS
                if r.info and r.info.get(key) is not None]
        models.append({
            "result": r,
            "slug": context["slugs"][r.name],
            "per_class": [(cls, r.metrics["per_class"][cls]) for cls in CLASS_NAMES],
            "info": info,
            "figures": context["per_model"][r.name],
        })
    skipped = context["skipped_files"]
    return {
        "dedup_rows": [_dedup_row(r) for r in context["results"] if r.dedup is not None],
        "comparison": comparison,
        "comparison_columns": ["accuracy", "loss", "weighted precision", "weighted recall",
                               "weighted-mean F1", "global F1", "macro precision", "macro recall",
                               "macro F1", "macro AUC", "micro AUC"],
        "any_validation": any(c["val_macro_f1"] is not None for c in comparison),
        "models": models,
        "definitions": DEFINITIONS,
        "classes": CLASS_NAMES,
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": _version(),
        "skipped_reasons": (skipped["reason"].replace("", "unknown").value_counts().items()
                            if skipped is not None else []),
        "skipped_rows": skipped.head(50).itertuples(index=False) if skipped is not None else [],
    }


def _dedup_row(r) -> dict:
    """One model's full vs de-duplicated test figures, side by side (None where nothing is left)."""
    d, m = r.dedup, r.metrics
    kept = d["n"] > 0
    return {
        "name": r.name, "n_full": d["n_full"], "n": d["n"], "exact": d["removed"]["exact"],
        "near": d["removed"]["near"],
        "pairs": [(label, full, dedup if kept else None) for label, full, dedup in (
            ("accuracy", m["accuracy"], d.get("accuracy")),
            ("macro F1", m["macro"]["f1"], d.get("macro", {}).get("f1")),
            ("loss", m["loss"], d.get("loss")),
        )],
    }


def render_html(context: dict) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(**context, **_views(context), plotly_js=Markup(get_plotlyjs()))


def render_markdown(context: dict) -> str:
    template = _environment().get_template("report.md.j2")
    return template.render(**context, **_views(context))
