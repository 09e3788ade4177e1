"""Across datasets: score the models of a run on external test sets, after finding the copies between them.

A run trains on dataset A; every model (the ensemble included) then predicts each external dataset's
test split, or all its images when it has no split folders. The external images that copy a training or
validation image of A are found (`copies.py`) and flagged, so every external score is given with and
without them; the report adds a section per external dataset and the generalisation gap per model.

    from tumorbench.crossdata import score_externals
    score_externals("runs/r1", ["data/figshare", {"path": "data/yes-no", "class_map": {"yes": "tumor"}}])
"""

from tumorbench.crossdata.score import score_externals
from tumorbench.crossdata.sets import ExternalSet, ExternalUnusable, open_external

__all__ = ["ExternalSet", "ExternalUnusable", "open_external", "score_externals"]
