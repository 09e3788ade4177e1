"""What the report's "Tumour vs no tumour" and "Operating points" sections show (both templates)."""

from __future__ import annotations

from tumorbench.evaluation.binary import BINARY_METRICS

_DIGITS = 3


def _cell(value, interval) -> dict:
    """A value with its interval, in the form the templates' `ci` / `vci` filters read."""
    return {"value": value, "low": interval[0] if interval else None, "high": interval[1] if interval else None,
            "digits": _DIGITS}


def _binary_row(r, slug: str) -> dict:
    view = r.binary or {"defined": False, "reason": "Not computed."}
    row = {"name": r.name, "slug": slug, "defined": view["defined"], "reason": view.get("reason")}
    if view["defined"]:
        row.update(n=view["n"], n_tumour=view["n_tumour"], n_no_tumour=view["n_no_tumour"],
                   counts=f"{view['tp']} / {view['fn']} / {view['tn']} / {view['fp']}", notes=view["notes"],
                   cells=[_cell(view[key], view["intervals"].get(key)) for key, _, _ in BINARY_METRICS])
    return row


def point_label(point: dict) -> str:
    """'sensitivity at 90 % specificity' for a point holding specificity at 0.90."""
    other = "sensitivity" if point["fixed"] == "specificity" else "specificity"
    return f"{other} at {100 * point['target']:g} % {point['fixed']}"


def _point_row(name: str, point: dict) -> dict:
    other = "sensitivity" if point["fixed"] == "specificity" else "specificity"
    intervals = point.get("intervals") or {}
    return {"name": name, "view": point["view"], "label": point_label(point), "other": other,
            "threshold": point["threshold"],
            "validation": point["validation"][point["fixed"]],
            "sensitivity": _cell(point["sensitivity"], intervals.get("sensitivity")),
            "specificity": _cell(point["specificity"], intervals.get("specificity"))}


def binary_views(results, slugs: dict[str, str]) -> dict:
    """`binary` (rows of the tumour vs no tumour table) and `operating` (rows of the operating points,
    models without any, notes) for the report templates."""
    binary = {"columns": [label for _, label, _ in BINARY_METRICS],
              "definitions": [(label, definition) for _, label, definition in BINARY_METRICS],
              "rows": [_binary_row(r, slugs[r.name]) for r in results],
              "thresholds": sorted({r.binary["threshold"] for r in results if r.binary and r.binary["defined"]})}
    rows, missing, notes, chosen = [], [], [], []
    for r in results:
        found = r.operating_points or {"points": [], "reason": "Not computed."}
        if not found["points"]:
            missing.append((r.name, found.get("reason") or " ".join(found.get("notes") or [])
                            or "No view has positive and negative images."))
            continue
        chosen.append((r.name, found["chosen_on"], found["applied_to"]))
        rows.extend(_point_row(r.name, p) for p in found["points"])
        notes.extend((r.name, note) for note in found.get("notes") or [])
    return {"binary": binary, "operating": {"rows": rows, "missing": missing, "notes": notes, "chosen": chosen}}
