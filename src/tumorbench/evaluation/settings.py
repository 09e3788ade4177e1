"""Evaluation settings: bootstrap, cost matrix, calibration bins, significance level.

In a config file (or a run folder's config.yaml) they live under `evaluation:`:

    evaluation:
      bootstrap: {resamples: 2000, seed: 0, method: percentile, confidence: 0.95}
      cost_matrix:            # rows: true class, columns: predicted class (CLASS_NAMES order) ...
        - [0, 1, 5, 1]
        - [1, 0, 5, 1]
        - [1, 1, 0, 1]
        - [1, 1, 5, 0]
      # ... or only what differs from "every error costs 1": {glioma: {no_tumor: 5}, ...}
      calibration_bins: 15
      alpha: 0.05
      binary_threshold: 0.5                      # P(tumour) at or above it: "tumour" (the binary view)
      sensitivity_at_specificity: [0.90, 0.95]   # operating points, thresholds chosen on validation
      specificity_at_sensitivity: [0.90, 0.95]
      checks:                 # the verdict table's thresholds (docs/verdict.md)
        copies_warn: 0.01     # share of test images with a copy in training/validation
        copies_fail: 0.05
        ece_warn: 0.05        # top-label expected calibration error of the test predictions
        ece_fail: 0.15
        recall_warn: 0.8      # the lowest per-class recall of a model
        recall_floor: 0.5
        gap_warn: 0.05        # drop of the headline score (macro-F1 or binary AUC) on an external dataset
        gap_fail: 0.15
      segment_min_size: 20    # smallest segment (size band, format, cluster...) the failure table shows
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from tumorbench.classes import CLASS_NAMES, NO_TUMOR, canonical_class, is_tumor

BOOTSTRAP_METHODS = ("percentile", "bca")
MISSED_TUMOUR_COST = 5.0  # a tumour called no_tumor: the error that sends a patient home


def default_cost_matrix() -> list[list[float]]:
    """Every error costs 1, except a tumour called no_tumor, which costs 5."""
    no_tumor = CLASS_NAMES.index("no_tumor")
    rows = []
    for i in range(len(CLASS_NAMES)):
        row = [0.0 if i == j else 1.0 for j in range(len(CLASS_NAMES))]
        if i != no_tumor:
            row[no_tumor] = MISSED_TUMOUR_COST
        rows.append(row)
    return rows


@dataclass
class BootstrapSettings:
    resamples: int = 2000  # stratified resamples of the test images
    seed: int = 0  # fixes the resamples: the same report gives the same intervals
    method: str = "percentile"  # percentile or bca (bias-corrected and accelerated)
    confidence: float = 0.95  # level of every interval

    def __post_init__(self) -> None:
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < 100:
            raise ValueError(f"evaluation.bootstrap.resamples must be an integer of at least 100, got "
                             f"{self.resamples!r}")
        if self.method not in BOOTSTRAP_METHODS:
            raise ValueError(f"evaluation.bootstrap.method: unknown {self.method!r}; valid: "
                             f"{', '.join(BOOTSTRAP_METHODS)}")
        if not isinstance(self.confidence, (int, float)) or not 0.5 <= self.confidence < 1:
            raise ValueError(f"evaluation.bootstrap.confidence must be in [0.5, 1), got {self.confidence!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"evaluation.bootstrap.seed must be an integer, got {self.seed!r}")


@dataclass
class CheckSettings:
    """Thresholds of the verdict table (`tumorbench.evaluation.checks`): below `*_warn` passes, from
    `*_warn` to `*_fail` warns, beyond fails (recall: the other way round). Each key is checked alone
    (a `--set` changes one): a warn threshold beyond its fail threshold only means the check never warns."""

    copies_warn: float = 0.01  # share of test images with an exact or near copy in training/validation
    copies_fail: float = 0.05
    ece_warn: float = 0.05  # top-label ECE of each model's test predictions
    ece_fail: float = 0.15
    recall_warn: float = 0.8  # every class recalled at least this much, else warn ...
    recall_floor: float = 0.5  # ... and below this, fail
    gap_warn: float = 0.05  # headline score (macro-F1 or binary AUC) lost from the own test split to an external set
    gap_fail: float = 0.15

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"evaluation.checks.{f.name} must be a number from 0 to 1, got {value!r}")


@dataclass
class EvaluationSettings:
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    cost_matrix: Any = None  # rows true, columns predicted; or {true: {predicted: cost}}; None: the default
    calibration_bins: int = 15  # equal-width bins of ECE, MCE and the reliability diagram
    alpha: float = 0.05  # a paired difference counts when its Holm-adjusted p-value is below this
    # The binary view (tumour vs no tumour, docs/binary-view.md): "tumour" when P(tumour) >= this.
    binary_threshold: float = 0.5
    # Operating points: sensitivity where validation specificity reaches each target, and specificity
    # where validation sensitivity reaches each; the thresholds are chosen on validation, applied to test.
    sensitivity_at_specificity: list = field(default_factory=lambda: [0.90, 0.95])
    specificity_at_sensitivity: list = field(default_factory=lambda: [0.90, 0.95])
    checks: CheckSettings = field(default_factory=CheckSettings)  # thresholds of the verdict table
    segment_min_size: int = 20  # smallest segment of test images the "where each model fails" table shows

    def __post_init__(self) -> None:
        self.cost_matrix = resolve_cost_matrix(self.cost_matrix)
        if isinstance(self.binary_threshold, bool) or not isinstance(self.binary_threshold, (int, float)) \
                or not 0 < self.binary_threshold < 1:
            raise ValueError(f"evaluation.binary_threshold must be in (0, 1), got {self.binary_threshold!r}")
        self.sensitivity_at_specificity = _targets(self.sensitivity_at_specificity, "sensitivity_at_specificity")
        self.specificity_at_sensitivity = _targets(self.specificity_at_sensitivity, "specificity_at_sensitivity")
        if isinstance(self.segment_min_size, bool) or not isinstance(self.segment_min_size, int) \
                or self.segment_min_size < 1:
            raise ValueError(f"evaluation.segment_min_size must be a positive integer, got {self.segment_min_size!r}")
        if isinstance(self.calibration_bins, bool) or not isinstance(self.calibration_bins, int) \
                or not 2 <= self.calibration_bins <= 100:
            raise ValueError(f"evaluation.calibration_bins must be an integer from 2 to 100, got "
                             f"{self.calibration_bins!r}")
        if not isinstance(self.alpha, (int, float)) or not 0 < self.alpha < 0.5:
            raise ValueError(f"evaluation.alpha must be in (0, 0.5), got {self.alpha!r}")

    @property
    def costs(self) -> np.ndarray:
        return np.asarray(self.cost_matrix, dtype=np.float64)

    def costs_for(self, classes) -> np.ndarray:
        """The cost matrix of a model's classes: the configured costs between the seed's classes, and for
        any other class the default rule (a tumour class called no_tumor costs MISSED_TUMOUR_COST)."""
        classes = tuple(classes)
        if classes == CLASS_NAMES:
            return self.costs
        seed = {c: i for i, c in enumerate(CLASS_NAMES)}
        out = np.ones((len(classes), len(classes)))
        for i, true in enumerate(classes):
            for j, predicted in enumerate(classes):
                if i == j:
                    out[i, j] = 0.0
                elif true in seed and predicted in seed:
                    out[i, j] = self.costs[seed[true], seed[predicted]]
                elif predicted == NO_TUMOR and is_tumor(true):
                    out[i, j] = MISSED_TUMOUR_COST
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def _targets(value: Any, key: str) -> list[float]:
    """A list of operating-point targets, each in (0, 1], without repeats, in increasing order."""
    where = f"evaluation.{key}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1 for v in value):
        raise ValueError(f"{where}: expected a list of targets in (0, 1] such as [0.90, 0.95], got {value!r}")
    return sorted({float(v) for v in value})


def resolve_cost_matrix(value: Any) -> list[list[float]]:
    """A full cost matrix from the config's form (None, K x K list, or {true: {predicted: cost}})."""
    where = "evaluation.cost_matrix"
    k = len(CLASS_NAMES)
    if value is None:
        return default_cost_matrix()
    if isinstance(value, dict):
        matrix = [[0.0 if i == j else 1.0 for j in range(k)] for i in range(k)]
        for true, row in value.items():
            i = _class(true, where)
            if not isinstance(row, dict):
                raise ValueError(f"{where}.{true}: expected a mapping predicted class -> cost, got {row!r}")
            for predicted, cost in row.items():
                matrix[i][_class(predicted, f"{where}.{true}")] = _cost(cost, f"{where}.{true}.{predicted}")
        return matrix
    if not (isinstance(value, (list, tuple)) and len(value) == k
            and all(isinstance(r, (list, tuple)) and len(r) == k for r in value)):
        raise ValueError(f"{where}: expected {k} rows of {k} costs (rows: true class, columns: predicted "
                         f"class, in the order {', '.join(CLASS_NAMES)}) or a mapping such as "
                         "{glioma: {no_tumor: 5}}")
    return [[_cost(c, f"{where}[{i}][{j}]") for j, c in enumerate(row)] for i, row in enumerate(value)]


def _class(name: Any, where: str) -> int:
    canonical = canonical_class(str(name))
    if canonical is None:
        raise ValueError(f"{where}: unknown class {name!r}; valid classes: {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(canonical)


def _cost(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{where}: a cost is a finite number >= 0, got {value!r}")
    return float(value)


def evaluation_settings(data: Any, *, where: str = "evaluation") -> EvaluationSettings:
    """EvaluationSettings from a config mapping, with errors naming the key and the valid ones."""
    if data is None:
        return EvaluationSettings()
    if isinstance(data, EvaluationSettings):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    _check_keys(data, EvaluationSettings, where)
    values = dict(data)
    for key, cls in (("bootstrap", BootstrapSettings), ("checks", CheckSettings)):
        _nested(values, key, cls, where)
    return EvaluationSettings(**values)


def _check_keys(data: dict, cls, where: str) -> None:
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(known)}")


def _nested(values: dict, key: str, cls: type, where: str) -> None:
    """`values[key]`, a nested section (bootstrap, checks), checked key by key and built as `cls`, in place;
    dropped when None so the field default applies."""
    section = values.get(key)
    if section is None:
        values.pop(key, None)
    elif not isinstance(section, cls):
        if not isinstance(section, dict):
            raise ValueError(f"{where}.{key}: expected a mapping, got {type(section).__name__}")
        _check_keys(section, cls, f"{where}.{key}")
        values[key] = cls(**section)
