"""The report's sections of the external test sets: one per dataset, and the generalisation gap."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from tumorbench.crossdata.results import WITHOUT_COPIES, ExternalResult, scored_without_copies
from tumorbench.rendering import SECTIONS

_MAX_COPIES = 20  # copies listed in the report; every one is in copies.csv and metrics.json


def _label(key: str) -> str:
    from tumorbench.evaluation.gap import gap_label

    return gap_label(key)


def _cell(m: dict | None, key: str) -> str:
    """'0.731 [0.687, 0.774]', or n/a."""
    from tumorbench.evaluation.gap import value_and_interval

    value, ci, _ = value_and_interval(m, key)
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _gap_cell(g: dict | None) -> str:
    if not g or g.get("gap") is None:
        return "n/a"
    ci = g.get("interval")
    return f"{g['gap']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def _dataset_context(ext: ExternalResult) -> dict:
    info = ext.info
    keys = ext.metric_keys()
    rows = []
    for r in ext.results:
        clean = scored_without_copies(r)
        rows.append({"model": r.name, "n": _n(r.metrics, ext), "all": [_cell(r.metrics, k) for k in keys],
                     "n_clean": _n(clean, ext) if clean else 0, "clean": [_cell(clean, k) for k in keys]})
    copies = [] if ext.copies is None else ext.copies.head(_MAX_COPIES).to_dict("records")
    notes = list(ext.notes)
    for r in ext.results if ext.multiclass else ():  # the per-class metrics' notes, where they are shown
        notes.extend(f"{r.name}: {n}" for n in r.metrics.get("notes", []))
    return {"ext": ext, "info": info, "labels": [_label(k) for k in keys], "rows": rows, "copies": copies,
            "n_copies": 0 if ext.copies is None else len(ext.copies), "more_copies": max(
                0, (0 if ext.copies is None else len(ext.copies)) - _MAX_COPIES),
            "definition": WITHOUT_COPIES, "notes": list(dict.fromkeys(notes))}


def _n(m: dict, ext: ExternalResult) -> int:
    """The images a set's scores count: all labelled ones, or those of the binary view."""
    return m["n"] if ext.multiclass else (m.get("binary") or {}).get("n") or 0


def gap_rows(externals: Sequence[ExternalResult], source: dict[str, dict]) -> list[dict]:
    """One row per (model, external set, metric): the run's test score, the external's (all, without copies)
    and the gap of each, as text."""
    rows = []
    for ext in externals:
        for model, gaps in ext.gap.items():
            for key in ext.metric_keys():
                full, clean = gaps["all"].get(key), (gaps.get("without_copies") or {}).get(key)
                rows.append({"model": model, "dataset": ext.label, "metric": _label(key),
                             "source": _cell(source.get(model), key),
                             "external": "n/a" if not full or full["external"] is None else f"{full['external']:.3f}",
                             "gap": _gap_cell(full),
                             "clean": "n/a" if not clean or clean["external"] is None else f"{clean['external']:.3f}",
                             "clean_gap": _gap_cell(clean)})
    return rows


def external_sections(externals: Sequence[ExternalResult], source: dict[str, dict], *, advice: dict | None):
    """Report Sections: the generalisation gap first, then one per external dataset."""
    from tumorbench.report_section import Section

    sections = []
    rows = gap_rows(externals, source)
    unusable = [e for e in externals if not e.scored]
    context = {"rows": rows, "advice": advice, "unusable": unusable, "definition": WITHOUT_COPIES}
    warnings = [f"External test set {e.label} could not be scored: {e.info.get('reason')}" for e in unusable]
    sections.append(Section("Generalisation gap", *_rendered("gap", context), warnings=warnings))
    for ext in externals:
        sections.append(Section(f"External test set: {ext.label}", *_rendered("external", _dataset_context(ext))))
    return sections


def _rendered(template: str, context: dict) -> tuple[Markup, str]:
    """The HTML and the Markdown of crossdata/templates/<template>.{html,md}.j2."""
    return (Markup(SECTIONS.get_template(f"crossdata/{template}.html.j2").render(**context)),
            SECTIONS.get_template(f"crossdata/{template}.md.j2").render(**context))
