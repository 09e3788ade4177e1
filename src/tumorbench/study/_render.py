"""HTML and Markdown of the imbalance-study section (autoescaped jinja2 templates)."""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
from markupsafe import Markup

from tumorbench.classes import CLASS_NAMES
from tumorbench.data.balance import STRATEGIES
from tumorbench.rendering import SECTIONS
from tumorbench.study.summary_keys import study_classes


def _pm(row: dict, key: str, digits: int = 3) -> str:
    mean, sd = row.get(f"{key}.mean"), row.get(f"{key}.sd")
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if row["seeds"] > 1 else f"{mean:.{digits}f}"


def recall_heatmap(summary: dict, model: str) -> go.Figure:
    rows = [r for r in summary["rows"] if r["model"] == model]
    classes = study_classes(rows[0]) if rows else CLASS_NAMES
    z = [[r.get(f"{c}.recall.mean") for c in classes] for r in rows]
    text = [[_pm(r, f"{c}.recall", 2) for c in classes] for r in rows]
    fig = go.Figure(go.Heatmap(z=z, x=list(classes), y=[r["strategy"] for r in rows], zmin=0, zmax=1,
                               colorscale="Viridis", text=text, texttemplate="%{text}",
                               hovertemplate="%{y} / %{x}: recall %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"Per-class recall by strategy: {model}", height=120 + 45 * len(rows),
                      margin=dict(l=140, r=20, t=50, b=40), yaxis=dict(autorange="reversed"))
    return fig


def plain_words(summary: dict) -> list[str]:
    """One sentence per (model, strategy): which classes it helped or hurt, and if beyond the spread."""
    by_pair: dict[tuple, list] = defaultdict(list)
    for c in summary["comparisons"]:
        if c["metric"].endswith(".recall"):
            by_pair[(c["model"], c["strategy"])].append(c)
    sentences = []
    for (model, strategy), comps in by_pair.items():
        helped = [c for c in comps if c["difference"] > 0.005]
        hurt = [c for c in comps if c["difference"] < -0.005]

        def fmt(c):
            mark = " (beyond seed spread)" if c["beyond_spread"] else ""
            return f"{c['metric'].split('.')[0]} {c['difference']:+.3f}{mark}"

        parts = []
        if helped:
            parts.append("raised recall of " + ", ".join(fmt(c) for c in sorted(helped, key=lambda c: -c["difference"])))
        if hurt:
            parts.append("lowered recall of " + ", ".join(fmt(c) for c in sorted(hurt, key=lambda c: c["difference"])))
        macro = next((c for c in summary["comparisons"] if (c["model"], c["strategy"], c["metric"]) == (model, strategy, "macro_f1")), None)
        tail = ""
        if macro:
            verdict = "larger" if macro["beyond_spread"] else "not larger"
            tail = (f"; macro-F1 {macro['difference']:+.3f}, {verdict} than the seed-to-seed spread "
                    f"({macro['spread']:.3f})")
        sentences.append(f"{model}, {strategy} vs none: " + ("; ".join(parts) or "no per-class recall change above 0.005") + tail + ".")
    return sentences


def _context(summary: dict) -> dict:
    models = sorted({r["model"] for r in summary["rows"]})
    figures = [Markup(recall_heatmap(summary, m).to_html(full_html=False, include_plotlyjs=False,
                                                         config={"displaylogo": False}))
               for m in models]
    from tumorbench.evaluation.declared import metric
    from tumorbench.study.summary_keys import global_keys, per_class_keys

    # Summaries written by an older version lack newer metrics: only the ones present are shown.
    first = summary["rows"][0]
    shown = [k for k in global_keys() if f"{k}.mean" in first]
    classes = study_classes(first)
    per_class = [k for k in per_class_keys() if classes and f"{classes[0]}.{k}.mean" in first]
    rows = [{"model": r["model"], "strategy": r["strategy"], "seeds": r["seeds"],
             "global": [_pm(r, k) for k in shown],
             "per_class": {c: [_pm(r, f"{c}.{k}") for k in per_class] for c in classes}}
            for r in summary["rows"]]
    return {"rows": rows, "global_labels": [metric(k).label for k in shown],
            "class_labels": [metric(k).label for k in per_class], "classes": classes, "strategies": STRATEGIES, "figures": figures,
            "counts": summary["counts"], "sentences": plain_words(summary), "rule": summary["rule"],
            "used": [s for s in STRATEGIES if any(r["strategy"] == s for r in summary["rows"])]}


def render_section(summary: dict):
    from tumorbench.report_section import Section

    context = _context(summary)
    html = Markup(SECTIONS.get_template("study/imbalance.html.j2").render(**context))
    markdown = SECTIONS.get_template("study/imbalance.md.j2").render(**context)
    return Section(title="Class-imbalance study", html=html, markdown=markdown)
