"""What the ROC figures add for the binary view and the operating points (shared by both figure kinds).

Each operating point is drawn where its validation-chosen threshold lands on the test ROC curve: at
(1 - test specificity, test sensitivity) of its view (P(tumour) for the binary view, one class vs rest).
"""

from __future__ import annotations

from dataclasses import dataclass

from tumorbench.evaluation.operating_points import BINARY
from tumorbench.report._binary_views import point_label
from tumorbench.report.style import CLASS_COLOURS

BINARY_COLOUR = "#222222"  # the binary view's curve and marks, apart from every class colour
# Marker per kind of point: (plotly symbol, matplotlib marker).
SYMBOLS = {"specificity": ("diamond", "D"), "sensitivity": ("triangle-up", "^")}


@dataclass(frozen=True)
class Mark:
    view: str  # BINARY or a class name
    colour: str
    fpr: float
    tpr: float
    fixed: str  # "specificity" or "sensitivity": the rate held at its target on validation
    text: str  # what the mark's hover / legend says


def view_colour(view: str) -> str:
    return BINARY_COLOUR if view == BINARY else CLASS_COLOURS.get(view, "#777777")


def operating_marks(operating_points: dict | None) -> list[Mark]:
    """One mark per operating point (none without validation predictions)."""
    marks = []
    for p in (operating_points or {}).get("points") or []:
        threshold = "above every score" if p["threshold"] is None else f"{p['threshold']:.4g}"
        marks.append(Mark(p["view"], view_colour(p["view"]), p["fpr"], p["sensitivity"], p["fixed"],
                          f"{p['view']}: {point_label(p)} (threshold {threshold}, chosen on validation): "
                          f"test sensitivity {p['sensitivity']:.3f}, specificity {p['specificity']:.3f}"))
    return marks


def binary_curve_label(binary: dict | None) -> str | None:
    """The legend label of the binary view's ROC curve; None when the view is undefined."""
    if not binary or not binary.get("defined"):
        return None
    return f"{BINARY} (AUC {binary['auc']:.3f})"
