"""The metric registry: every metric is declared once, and every list of metrics is read from here.

A `MetricSpec` says what a metric is (key, label, one-line definition, direction, per class or overall),
where it lives in metrics.json, how to compute it (a point function that uses scikit-learn where it can,
and either a vectorised function of bootstrap aggregates or an influence function for rank metrics), and
where it is shown (comparison table, bar chart, paired tests, calibration table, imbalance study).

The comparison table, the definitions block, the bar charts, metrics.csv, the Markdown report, the
bootstrap and the imbalance study all iterate over `metrics()`; adding a metric is one `register(...)`
call in `catalogue.py` (plus its test).

    [m.key for m in metrics(overall=True)][:3]
    # -> ['accuracy', 'balanced_accuracy', 'mcc']
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tumorbench.classes import CLASS_NAMES

# Where a metric may be shown. A metric lists the places it belongs to in `show`.
PLACES = ("table", "chart", "paired", "calibration", "study", "seeds")
# How its confidence interval is computed: stratified bootstrap of the aggregates, or the delta method
# on per-image influence values (rank metrics: DeLong's structural components for AUC).
INTERVALS = ("bootstrap", "delta")


@dataclass(frozen=True)
class Feature:
    """A per-image quantity the bootstrap sums over resampled images.

    `build(ctx)` returns an (n_images, width) array; after summing with resampling weights the result
    is reshaped to `(resamples, *shape)` and handed to the metrics that need it under `name`."""

    name: str
    build: Callable[[ScoreContext], np.ndarray]
    shape: Callable[[ScoreContext], tuple[int, ...]]


@dataclass(frozen=True)
class MetricSpec:
    key: str  # metrics.csv column (per class: "<class>_<key>") and the key of its interval
    label: str  # what tables and charts call it
    definition: str  # one line, shown in the report's definitions block
    higher_is_better: bool
    per_class: bool
    path: tuple[str, ...]  # where the value lives in a model's metrics dict ("{cls}" stands for the class)
    point: Callable[[ScoreContext], object]  # float | None, or one value per class
    interval: str = "bootstrap"
    # bootstrap: aggregates {feature name: (B, *shape)} -> (B,) or (B, n_classes)
    batch: Callable[[dict], np.ndarray] | None = None
    needs: tuple[str, ...] = ()  # features the batch function reads
    # delta: ctx -> (values, influence (n,) or (n, n_classes), strata (n,) or (n, n_classes))
    influence: Callable[[ScoreContext], tuple] | None = None
    show: frozenset[str] = field(default_factory=frozenset)
    digits: int = 3

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def column(self, cls: str | None = None) -> str:
        """The flat name: metrics.csv column and interval key (`glioma_recall`, `macro_f1`)."""
        return f"{cls}_{self.key}" if self.per_class else self.key

    def get(self, metrics: dict, cls: str | None = None):
        """This metric's value in a metrics dict (None when absent or undefined)."""
        node = metrics
        for part in self.path:
            part = part.format(cls=cls) if cls is not None else part
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def put(self, metrics: dict, value, cls: str | None = None) -> None:
        node = metrics
        parts = [p.format(cls=cls) if cls is not None else p for p in self.path]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value


@dataclass
class ScoreContext:
    """What every point, feature and influence function receives: one model on one set of images."""

    y_true: np.ndarray  # class indices
    probs: np.ndarray  # (n, n_classes)
    y_pred: np.ndarray
    confusion: np.ndarray  # counts, rows = true class
    cost_matrix: np.ndarray  # rows = true class, columns = predicted class
    bins: int  # equal-width bins of the calibration errors
    # The model's classes (the probability columns); a class with no true image among y_true is "absent":
    # left out of the per-class metrics and the macro averages, its predictions still count as errors.
    classes: tuple[str, ...] = CLASS_NAMES
    # Results shared between metrics of this context (per-class influence values feed the macro ones).
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def present(self) -> np.ndarray:
        """bool (n_classes,): the model's classes with at least one true image here."""
        return np.bincount(self.y_true, minlength=self.probs.shape[1]) > 0


_METRICS: dict[str, MetricSpec] = {}
_FEATURES: dict[str, Feature] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric (its key must be new); returns it."""
    if spec.key in _METRICS:
        raise ValueError(f"metric {spec.key!r} is already registered")
    unknown = set(spec.show) - set(PLACES)
    if unknown:
        raise ValueError(f"metric {spec.key!r}: unknown places {sorted(unknown)}; valid: {', '.join(PLACES)}")
    if spec.interval not in INTERVALS:
        raise ValueError(f"metric {spec.key!r}: unknown interval {spec.interval!r}; valid: {', '.join(INTERVALS)}")
    if spec.interval == "bootstrap" and spec.batch is None:
        raise ValueError(f"metric {spec.key!r}: a bootstrap interval needs a batch function")
    if spec.interval == "delta" and spec.influence is None:
        raise ValueError(f"metric {spec.key!r}: a delta-method interval needs an influence function")
    missing = [n for n in spec.needs if n not in _FEATURES]
    if missing:
        raise ValueError(f"metric {spec.key!r} needs unregistered features {missing}; "
                         f"registered: {', '.join(_FEATURES)}")
    _METRICS[spec.key] = spec
    return spec


def register_feature(feature: Feature) -> Feature:
    if feature.name in _FEATURES:
        raise ValueError(f"feature {feature.name!r} is already registered")
    _FEATURES[feature.name] = feature
    return feature


@contextlib.contextmanager
def registered(spec: MetricSpec, *features: Feature) -> Iterator[MetricSpec]:
    """Register a metric (and its features) for the duration of a `with` block (tests, experiments)."""
    added: list[Feature] = []
    done = False
    try:
        for f in features:
            register_feature(f)
            added.append(f)
        register(spec)
        done = True
        yield spec
    finally:
        # Only what this block added is removed, also when registering failed half-way.
        if done:
            _METRICS.pop(spec.key, None)
        for f in added:
            _FEATURES.pop(f.name, None)


def metrics(*, where: str | None = None, per_class: bool | None = None, overall: bool | None = None,
            interval: str | None = None) -> list[MetricSpec]:
    """Registered metrics in declaration order, filtered by place, scope or interval method."""
    if where is not None and where not in PLACES:
        raise ValueError(f"unknown place {where!r}; valid: {', '.join(PLACES)}")
    out = list(_METRICS.values())
    if where is not None:
        out = [m for m in out if where in m.show]
    if per_class is not None:
        out = [m for m in out if m.per_class == per_class]
    if overall is not None:
        out = [m for m in out if m.per_class != overall]
    if interval is not None:
        out = [m for m in out if m.interval == interval]
    return out


def metric(key: str) -> MetricSpec:
    try:
        return _METRICS[key]
    except KeyError:
        raise ValueError(f"unknown metric {key!r}; registered: {', '.join(_METRICS)}") from None


def feature(name: str) -> Feature:
    return _FEATURES[name]


def columns(spec: MetricSpec, classes=CLASS_NAMES) -> list[tuple[str, str | None]]:
    """(flat column, class or None) of a metric: one per class (of `classes`) for per-class metrics."""
    if spec.per_class:
        return [(spec.column(c), c) for c in classes]
    return [(spec.column(), None)]
