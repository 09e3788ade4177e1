"""The metric registry with the benchmark's own declarations loaded: what every reader of metrics imports.

`registry` is the mechanism (specs, the store, `register`); `catalogue` declares the benchmark's metrics
into it. Readers import from here, which loads both in that order, so that neither of the two has to
import the other back, and a user's metric registered here can use the catalogue's features.
"""

from __future__ import annotations

from tumorbench.evaluation import catalogue  # noqa: F401  (registers the built-in metrics and features)
from tumorbench.evaluation.registry import (
    PLACES,
    Feature,
    MetricSpec,
    ScoreContext,
    columns,
    feature,
    metric,
    metrics,
    register,
    register_feature,
    registered,
)

__all__ = ["PLACES", "Feature", "MetricSpec", "ScoreContext", "columns", "feature", "metric", "metrics", "register",
           "register_feature", "registered"]
