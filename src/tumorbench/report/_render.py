"""Rendering the report templates (HTML with autoescape, Markdown with its own escaping)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from importlib import metadata

from markupsafe import Markup
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.assess import interval_of
from tumorbench.evaluation.declared import metric, metrics
from tumorbench.evaluation.model_result import COPY_GROUPS
from tumorbench.evaluation.recommend import format_p, weakest_class
from tumorbench.evaluation.table import metric_columns, metric_rows
from tumorbench.rendering import ENVIRONMENT
from tumorbench.report._binary_views import binary_views

# What the report says about how its numbers are made, beside the registry's one-line definitions.
METHOD_NOTES: tuple[tuple[str, str], ...] = (
    ("intervals", "{confidence:.0%} confidence intervals. Scores from the confusion matrix, the loss, the Brier "
     "score and the calibration errors: stratified bootstrap over the test images ({resamples} resamples "
     "within each true class, seed {seed}, {method} interval). AUC and AP: the delta method on each image's "
     "influence (DeLong's interval for the AUC), as a rank statistic is not re-sorted per resample."),
    ("paired tests", "models are compared on the same images: McNemar's test for accuracy (exact binomial "
     "when fewer than 25 images flip; Cochran's Q first across more than two models), the paired bootstrap "
     "of the difference for the other scores, DeLong's test for per-class AUC; p-values are Holm-adjusted "
     "over all pairs, per metric."),
    ("averages", "weighted = per-class values averaged with weights = number of true images of each class; "
     "macro = unweighted mean over the classes, so a neglected small class shows."),
)

_INFO_FIELDS: tuple[tuple[str, str], ...] = (
    ("architecture", "architecture"),
    ("weights", "weights"),
    ("balance", "class balancing"),
    ("epochs", "epochs"),
    ("best_epoch", "best epoch"),
    ("train_seconds", "training time"),
    ("refit", "refit on training + validation"),
    ("compute", "device and precision"),
    ("n_params", "parameters"),
    ("fitted_values", "fitted values (support vectors, coefficients)"),
    ("preprocessing", "preprocessing"),
)


@dataclass
class FigureView:
    title: str
    html: Markup  # the plotly <div> and its <script>, without plotly.js
    png: str  # path relative to the report
    svg: str


def _info_value(key: str, value) -> str:
    if key == "train_seconds" and isinstance(value, (int, float)):
        return f"{value:.0f} s"
    if key in ("n_params", "fitted_values") and isinstance(value, (int, float)):
        return "none" if not value else f"{value / 1e6:.2f} M" if value >= 100_000 else f"{value:,.0f}"
    if key == "refit" and isinstance(value, dict) and value.get("status") == "done":
        epochs = value.get("epochs")
        return (f"done: fitted again on {value.get('images')} images"
                + (f" for {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else "")
                + (f" in {value['seconds']:.0f} s" if isinstance(value.get("seconds"), (int, float)) else "")
                + "; this model scored test")
    if key == "refit" and isinstance(value, dict) and value.get("status") == "failed":
        return f"failed ({value.get('reason', 'no reason recorded')}); the chosen model scored test"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _version() -> str:
    try:
        return metadata.version("tumorbench")
    except metadata.PackageNotFoundError:
        return "development"


def _cell(metrics_dict: dict | None, spec, cls: str | None = None) -> dict:
    """A value with its interval, as both templates show it."""
    value = spec.get(metrics_dict, cls) if metrics_dict else None
    ci = interval_of(metrics_dict, spec.column(cls)) if metrics_dict else None
    return {"value": value, "low": ci[0] if ci else None, "high": ci[1] if ci else None, "digits": spec.digits}


def _views(context: dict) -> dict:
    """What both templates need beyond the raw context: comparison rows, per-model tables."""
    assessment = context["assessment"]
    advice = assessment.recommendation
    rank = {name: i + 1 for i, name in enumerate(advice.ranking)}
    table_specs = metrics(where="table", overall=True)
    class_specs = metrics(where="table", per_class=True)
    comparison = []
    for r in context["results"]:
        comparison.append({
            "rank": rank[r.name],
            "name": r.name,
            "slug": context["slugs"][r.name],
            "cells": [_cell(r.metrics, spec) for spec in table_specs],
            "val_macro_f1": _cell(r.validation, metric("macro_f1")) if r.validation else None,
        })
    comparison.sort(key=lambda c: c["rank"])
    models = []
    for r in context["results"]:
        info = [(label, _info_value(key, r.info[key])) for key, label in _INFO_FIELDS
                if r.info and r.info.get(key) is not None]
        models.append({
            "result": r,
            "slug": context["slugs"][r.name],
            "per_class": [(cls, r.metrics["per_class"][cls], [_cell(r.metrics, spec, cls) for spec in class_specs])
                          for cls in metric_rows(r.metrics)],
            # Confusion matrix: rows the true classes present, columns the model's classes.
            "rows": metric_rows(r.metrics), "columns": metric_columns(r.metrics),
            "info": info,
            "figures": context["per_model"][r.name],
        })
    skipped = context["skipped_files"]
    method = assessment.method
    boot = method["bootstrap"]
    return {
        "advice": advice,
        "glance": _glance(context, rank),
        "dedup_rows": [_dedup_row(r) for r in context["results"] if r.dedup is not None],
        "comparison": comparison,
        "comparison_columns": [spec.label for spec in table_specs],
        "class_columns": [spec.label for spec in class_specs],
        "any_validation": any(c["val_macro_f1"] is not None for c in comparison),
        "models": models,
        "definitions": [(spec.label + (" (per class)" if spec.per_class else ""), f"{spec.definition} "
                         f"({spec.direction})") for spec in metrics()],
        "method_notes": [(term, text.format(confidence=method["confidence"], resamples=boot["resamples"],
                                            seed=boot["seed"], method=boot["method"]))
                         for term, text in METHOD_NOTES],
        "pairwise": _pairwise_rows(assessment),
        "cochran": assessment.comparison.cochran_q,
        "calibration_rows": _calibration_rows(context["results"]),
        "calibration_columns": [spec.label for spec in metrics(where="calibration", overall=True)],
        "seeds": _seed_views(assessment, context["results"]),
        "confidence": method["confidence"],
        "classes": metric_columns(context["results"][0].metrics) if context["results"] else list(CLASS_NAMES),
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": _version(),
        "skipped_reasons": (skipped["reason"].replace("", "unknown").value_counts().items()
                            if skipped is not None else []),
        "skipped_rows": skipped.head(50).itertuples(index=False) if skipped is not None else [],
        **binary_views(context["results"], context["slugs"]),
    }


def _pairwise_rows(assessment) -> list[dict]:
    rows = []
    for t in assessment.comparison.tests:
        scale = 100 if t.metric != "expected_cost" else 1
        digits = 1 if scale == 100 else 3
        rows.append({
            "a": t.a, "b": t.b, "metric": t.label, "test": t.test,
            "difference": f"{scale * t.difference:+.{digits}f}", "low": f"{scale * t.low:.{digits}f}",
            "high": f"{scale * t.high:.{digits}f}", "unit": "points" if scale == 100 else "",
            "p": format_p(t.p_value).removeprefix("p = ").removeprefix("p "),
            "p_holm": format_p(t.p_holm).removeprefix("p = ").removeprefix("p "),
            "p_value": t.p_value, "p_holm_value": t.p_holm,
            "flips": f"{t.a_only} vs {t.b_only}" if t.a_only is not None else "",
            "verdict": (f"{t.better} better" if t.better else "no difference"),
            "significant": bool(t.significant),
        })
    return rows


def _calibration_rows(results) -> list[dict]:
    rows = []
    for r in results:
        c = r.calibration or {}
        cells = []
        for spec in metrics(where="calibration", overall=True):
            pair = []
            for side in ("before", "after"):
                values = c.get(side)
                ci = (c.get(f"{side}_intervals") or {}).get(spec.key)
                pair.append({"value": values.get(spec.key) if values else None,
                             "low": ci[0] if ci else None, "high": ci[1] if ci else None, "digits": spec.digits})
            cells.append(pair)
        rows.append({"name": r.name, "temperature": c.get("temperature"), "note": c.get("note"),
                     "fitted_on": c.get("fitted_on"), "cells": cells})
    return rows


def _seed_views(assessment, results) -> dict | None:
    seeds = assessment.seeds
    if seeds is None:
        return None
    specs = [s for s in metrics(where="seeds", overall=True)]
    by_name = {r.name: r for r in results}
    rows = []
    for row in seeds["rows"]:
        members = seeds["groups"][row["group"]]
        first = by_name[members[0]].metrics
        rows.append({"group": row["group"], "seeds": row["seeds"], "members": members,
                     "cells": [{"mean": row[f"{s.key}.mean"], "sd": row[f"{s.key}.sd"],
                                "first": _cell(first, s)} for s in specs]})
    groups = list(seeds["groups"])
    shares = {(p["a"], p["b"]): p for p in seeds["pairs"]}
    matrix = [{"group": a, "cells": [shares.get((a, b)) for b in groups]} for a in groups]
    return {"rows": rows, "columns": [s.label for s in specs], "groups": groups, "matrix": matrix,
            "ranking_metric": metric(seeds["ranking_metric"]).label}


# The headline columns of "At a glance": (metric key, shown on the full and the de-duplicated split).
_GLANCE_KEYS = ("accuracy", "macro_f1", "loss")


def _glance(context: dict, rank: dict[str, int]) -> dict:
    """The report's first block: ranked headline scores (full and de-duplicated test split side by side)
    and every warning that changes how to read them."""
    results = sorted(context["results"], key=lambda r: rank[r.name])
    with_dedup = any(r.dedup is not None and r.dedup.get("n") for r in results)
    rows = []
    for r in results:
        weakest = weakest_class(r.metrics)
        rows.append({
            "rank": rank[r.name], "name": r.name, "slug": context["slugs"][r.name],
            "cells": [_cell(r.metrics, metric(k)) for k in _GLANCE_KEYS],
            "dedup": ([_cell(r.dedup, metric(k)) for k in _GLANCE_KEYS[:2]]
                      if with_dedup and r.dedup is not None and r.dedup.get("n") else None),
            "weakest": (f"{weakest} (recall {r.metrics['per_class'][weakest]['recall']:.2f})" if weakest else "n/a"),
        })
    warnings = []
    first = results[0]
    if first.dedup is not None:
        d = first.dedup
        removed = d["removed"]["exact"] + d["removed"]["near"]
        if removed:
            warnings.append(
                f"{removed} of {d['n_full']} test images have a copy in training or validation "
                f"({d['removed']['exact']} exact, {d['removed']['near']} near): full-split scores are inflated; "
                f"de-duplicated scores ({d['n']} images) are shown beside them.")
            contradicted = (d.get("by_copy") or {}).get("other_label", {}).get("n", 0)
            if contradicted:
                warnings.append(
                    f"{contradicted} of those test images have copies in training or validation filed only under "
                    "another class: their labels contradict the training data, and a model that recalls the "
                    "copy is scored wrong on them (see the label conflicts in the dataset audit).")
    for section in context["sections"]:
        warnings.extend(getattr(section, "warnings", None) or [])
    warnings.extend(context["notes"])
    warnings.extend(context["assessment"].recommendation.cautions)
    return {"rows": rows, "with_dedup": with_dedup, "warnings": warnings,
            "columns": [metric(k).label for k in _GLANCE_KEYS],
            "dedup_columns": [metric(k).label for k in _GLANCE_KEYS[:2]]}


# The de-duplicated split's side-by-side figures.
_DEDUP_KEYS = ("accuracy", "macro_f1", "loss")


def _dedup_row(r) -> dict:
    """One model's full vs de-duplicated test figures, side by side (None where nothing is left)."""
    d, m = r.dedup, r.metrics
    kept = d["n"] > 0
    return {
        "name": r.name, "n_full": d["n_full"], "n": d["n"], "exact": d["removed"]["exact"],
        "near": d["removed"]["near"],
        "pairs": [(metric(key).label, _cell(m, metric(key)), _cell(d, metric(key)) if kept else None)
                  for key in _DEDUP_KEYS],
        # Right / images in each group of `copy_breakdown`: what was recalled, contradicted, generalised.
        "by_copy": ([f"{d['by_copy'][g]['correct']} / {d['by_copy'][g]['n']}" for g in COPY_GROUPS]
                    if d.get("by_copy") else None),
    }


def _plotly_script(mode: str) -> Markup:
    """plotly.js once per report: inline (offline) or from its CDN, pinned to the bundled version with
    a subresource-integrity hash, so the figures are drawn by the very code the inline file would carry."""
    if mode == "cdn":
        import base64
        import hashlib

        digest = base64.b64encode(hashlib.sha256(get_plotlyjs().encode("utf-8")).digest()).decode("ascii")
        return Markup('<script src="https://cdn.plot.ly/plotly-{}.min.js" integrity="sha256-{}" '
                      'crossorigin="anonymous"></script>').format(get_plotlyjs_version(), digest)
    return Markup("<script>\n{}\n</script>").format(Markup(get_plotlyjs()))


def render_html(context: dict) -> str:
    template = ENVIRONMENT.get_template("report/report.html.j2")
    return template.render(**context, **_views(context), plotly_js=_plotly_script(context.get("plotly", "inline")))


def render_markdown(context: dict) -> str:
    template = ENVIRONMENT.get_template("report/report.md.j2")
    return template.render(**context, **_views(context))
