"""Which metrics the imbalance study summarises per strategy: the registry's `study` metrics. Read by the
summary (imbalance) and its rendering (_render) alike."""

from __future__ import annotations

from tumorbench.classes import order_classes
from tumorbench.evaluation.declared import metrics


def global_keys() -> list[str]:
    """Overall metrics summarised per strategy: the registry's `study` metrics."""
    return [m.key for m in metrics(where="study", overall=True)]


def per_class_keys() -> list[str]:
    """Per-class metrics summarised per strategy (recall first: what balancing is meant to move)."""
    keys = [m.key for m in metrics(where="study", per_class=True)]
    return sorted(keys, key=lambda k: k != "recall")


def study_classes(row: dict) -> tuple[str, ...]:
    """The classes a study summary row has per-class values of (its cells' present classes)."""
    return order_classes({k[:-len(".recall.mean")] for k in row if k.endswith(".recall.mean")})
