"""The metrics of the benchmark, declared once each (Metrics Reloaded's choices for multi-class image
classification: Maier-Hein et al. 2024), and the per-image features their bootstrap sums.

Point values use scikit-learn where it has the metric; each `batch` function recomputes the same metric
from bootstrap aggregates for thousands of resamples at once, and tests check that both agree.
Conventions (stated in the report): a class never predicted has precision 0 (and F1 0), a class with no
true image has recall 0; specificity and NPV follow the same rule (0 when undefined).

Over 400 lines but cohesive: it is the one list of declarations (one block per metric, in report order);
adding a metric means adding its block here and nothing elsewhere, which splitting would undo.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    matthews_corrcoef,
    precision_recall_fscore_support,
)

from tumorbench.evaluation import calibration as cal
from tumorbench.evaluation import rank
from tumorbench.evaluation.registry import (
    Feature,
    MetricSpec,
    ScoreContext,
    register,
    register_feature,
)

# Probabilities are clipped to [LOSS_EPS, 1] before the log: Keras' epsilon, so the loss is on the same
# scale as the seed notebook's `model.evaluate` loss, and one confidently wrong image (p = 0 gives an
# infinite loss) cannot dominate the mean.
LOSS_EPS = 1e-7

# The number of classes K is the model's (the probability columns), read from each context or aggregate.
# Classes with no true image ("absent") keep their predicted column (those predictions are errors) but
# are left out of the macro averages: `agg["present"]` / `ctx.present` say which classes are present.


def _k(ctx: ScoreContext) -> int:
    return ctx.probs.shape[1]


# ---------------------------------------------------------------- per-image features of the bootstrap

def _onehot(index: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(index), width))
    out[np.arange(len(index)), index] = 1.0
    return out


def clipped_probs(probs: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probs, dtype=np.float64), LOSS_EPS, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def _image_loss(ctx: ScoreContext) -> np.ndarray:
    p = clipped_probs(ctx.probs)[np.arange(len(ctx.y_true)), ctx.y_true]
    return -np.log(p)[:, None]


def _image_brier(ctx: ScoreContext) -> np.ndarray:
    return ((ctx.probs - _onehot(ctx.y_true, _k(ctx))) ** 2).sum(axis=1)[:, None]


def _top_bins(ctx: ScoreContext) -> np.ndarray:
    confidence, correct = cal.top_label(ctx.y_true, ctx.probs)
    slots = _onehot(cal.bin_index(confidence, ctx.bins), ctx.bins)
    return np.concatenate([slots * (confidence - correct)[:, None], slots], axis=1)


def _class_bins(ctx: ScoreContext) -> np.ndarray:
    truth = _onehot(ctx.y_true, _k(ctx))
    cols = [_onehot(cal.bin_index(ctx.probs[:, k], ctx.bins), ctx.bins) * (ctx.probs[:, k] - truth[:, k])[:, None]
            for k in range(_k(ctx))]
    return np.concatenate(cols, axis=1)


for _feature in (
    Feature("confusion", lambda ctx: _onehot(ctx.y_true * _k(ctx) + ctx.y_pred, _k(ctx) ** 2),
            lambda ctx: (_k(ctx), _k(ctx))),
    Feature("loss", _image_loss, lambda ctx: ()),
    Feature("brier", _image_brier, lambda ctx: ()),
    # (sum of confidence - correct, count) per top-label bin
    Feature("top_bins", _top_bins, lambda ctx: (2, ctx.bins)),
    # sum of p_k - [y = k] per bin of p_k, per class
    Feature("class_bins", _class_bins, lambda ctx: (_k(ctx), ctx.bins)),
):
    register_feature(_feature)


# ---------------------------------------------------------------- vectorised arithmetic on aggregates

def _div(a, b):
    """a / b, 0 where b is 0 (the report's convention for undefined ratios)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b > 0)


@functools.cache
def _margins(k: int) -> np.ndarray:
    """Columns of a flattened k x k confusion matrix summed into: support (rows), predicted (columns), n."""
    return np.concatenate([np.kron(np.eye(k), np.ones((k, 1))), np.kron(np.ones((k, 1)), np.eye(k)),
                           np.ones((k * k, 1))], axis=1)


def _counts(agg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, support, predicted, n) of a batch of confusion matrices (B, K, K), computed once per batch."""
    if "_counts" not in agg:
        # Row and column sums as one small matrix product: numpy's reductions over two trailing axes of
        # size 4 cost several times more on thousands of resamples.
        c = agg["confusion"]
        k = c.shape[-1]
        flat = c.reshape(*c.shape[:-2], k * k)
        sums = flat @ _margins(k)
        agg["_counts"] = (flat[..., ::k + 1], sums[..., :k], sums[..., k:2 * k], sums[..., 2 * k])
    return agg["_counts"]


def _precision(agg):
    tp, _, predicted, _ = _counts(agg)
    return _div(tp, predicted)


def _recall(agg):
    tp, support, _, _ = _counts(agg)
    return _div(tp, support)


def _f1(agg):
    tp, support, predicted, _ = _counts(agg)
    return _div(2 * tp, support + predicted)


def _specificity(agg):
    tp, support, predicted, n = _counts(agg)
    tn = n[..., None] - support - predicted + tp
    return _div(tn, n[..., None] - support)


def _npv(agg):
    tp, support, predicted, n = _counts(agg)
    tn = n[..., None] - support - predicted + tp
    return _div(tn, n[..., None] - predicted)


def _weighted(per_class):
    def batch(agg):
        _, support, _, n = _counts(agg)
        return _div((per_class(agg) * support).sum(axis=-1), n)
    return batch


def _macro(per_class):
    """Mean over the present classes (all, when the aggregates do not say)."""
    def batch(agg):
        values = per_class(agg)
        present = agg.get("present")
        return values.mean(axis=-1) if present is None else values[..., np.asarray(present)].mean(axis=-1)
    return batch


def _harmonic(a, b):
    return _div(2 * a * b, a + b)


def _balanced_accuracy(agg):
    _, support, _, _ = _counts(agg)
    present = support > 0
    return _div((_recall(agg) * present).sum(axis=-1), present.sum(axis=-1))


def _mcc(agg):
    # scikit-learn's multi-class MCC (Gorodkin 2004) from the confusion matrix.
    tp, support, predicted, n = _counts(agg)
    correct = tp.sum(axis=-1)
    cov_tp = correct * n - (support * predicted).sum(axis=-1)
    cov_pp = n ** 2 - (predicted ** 2).sum(axis=-1)
    cov_tt = n ** 2 - (support ** 2).sum(axis=-1)
    return _div(cov_tp, np.sqrt(cov_tt * cov_pp))


def _mean_of(name):
    return lambda agg: _div(agg[name], _counts(agg)[3])


def _ece(agg):
    return _div(np.abs(agg["top_bins"][..., 0, :]).sum(axis=-1), _counts(agg)[3])


def _mce(agg):
    gaps, counts = agg["top_bins"][..., 0, :], agg["top_bins"][..., 1, :]
    return (np.abs(gaps) / np.where(counts > 0, counts, np.inf)).max(axis=-1)


def _class_ece(agg):
    if "_class_ece" not in agg:  # shared by the per-class values and their mean
        agg["_class_ece"] = _div(np.abs(agg["class_bins"]).sum(axis=-1), _counts(agg)[3][..., None])
    return agg["_class_ece"]


# ---------------------------------------------------------------- point values (scikit-learn where it has them)

def _prfs(ctx: ScoreContext, average=None):
    # zero_division=0 is the decision the report states: a class never predicted has precision 0. Averages
    # are over the present classes (an absent class has no recall to average); per class, every class.
    labels = np.flatnonzero(ctx.present) if average else np.arange(_k(ctx))
    return precision_recall_fscore_support(ctx.y_true, ctx.y_pred, labels=labels, average=average, zero_division=0)


def _point_counts(batch):
    """A confusion-matrix metric's point value from the same arithmetic as its bootstrap."""
    def point(ctx):
        value = batch({"confusion": ctx.confusion[None].astype(np.float64)})[0]
        return value.tolist() if np.ndim(value) else float(value)
    return point


def _class_rank(fn):
    def influence(ctx):
        if fn in ctx.cache:
            return ctx.cache[fn]
        values, phis, strata = [], [], []
        for k in range(_k(ctx)):
            value, phi = fn(ctx.y_true == k, ctx.probs[:, k])
            values.append(value)
            phis.append(phi)
            strata.append(ctx.y_true == k)  # DeLong: positives and negatives resampled separately
        ctx.cache[fn] = values, np.stack(phis, axis=1), np.stack(strata, axis=1)
        return ctx.cache[fn]
    return influence


def _macro_rank(fn):
    def influence(ctx):
        values, phis, _ = _class_rank(fn)(ctx)
        defined = [k for k, v in enumerate(values) if v is not None]
        if not defined:
            return None, np.zeros(len(ctx.y_true)), ctx.y_true
        return float(np.mean([values[k] for k in defined])), phis[:, defined].mean(axis=1), ctx.y_true
    return influence


def _micro_auc(ctx):
    value, phi = rank.micro_auc_influence(ctx.y_true, ctx.probs)
    return value, phi, ctx.y_true


def _rank_point(influence):
    return lambda ctx: influence(ctx)[0]


def _class_ap_point(ctx):
    return [float(average_precision_score(ctx.y_true == k, ctx.probs[:, k])) if (ctx.y_true == k).any() else None
            for k in range(_k(ctx))]


def _class_auc_point(ctx):
    from sklearn.metrics import roc_auc_score

    out = []
    for k in range(_k(ctx)):
        positives = int((ctx.y_true == k).sum())
        # One-vs-rest AUC needs both positives and negatives of class k; otherwise it does not exist.
        out.append(None if positives in (0, len(ctx.y_true))
                   else float(roc_auc_score(ctx.y_true == k, ctx.probs[:, k])))
    return out


def _macro_of(point):
    def macro(ctx):
        defined = [v for v in point(ctx) if v is not None]
        return float(np.mean(defined)) if defined else None
    return macro


def _micro_auc_point(ctx):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(_onehot(ctx.y_true, _k(ctx)), ctx.probs, average="micro"))


def _cost_point(ctx):
    return float((ctx.confusion * ctx.cost_matrix).sum() / ctx.confusion.sum())


def _cost_batch(agg):
    # The bootstrap hands the cost matrix in with the aggregates (it is a setting, not a per-image sum).
    c = agg["confusion"]
    k = c.shape[-1]
    return _div(c.reshape(*c.shape[:-2], k * k) @ np.asarray(agg["cost_matrix"]).reshape(k * k), _counts(agg)[3])


# ---------------------------------------------------------------- the declarations

_TABLE = frozenset({"table"})


def _places(*names: str) -> frozenset[str]:
    return frozenset(names)


register(MetricSpec(
    "accuracy", "accuracy", "share of images whose most probable class is the true class.", True, False,
    ("accuracy",), lambda ctx: float(accuracy_score(ctx.y_true, ctx.y_pred)),
    batch=lambda agg: _div(_counts(agg)[0].sum(axis=-1), _counts(agg)[3]), needs=("confusion",),
    show=_places("table", "chart", "study", "seeds")))
def _quiet(fn):
    """scikit-learn's score without its warnings about absent classes: a class absent from the images
    (a de-duplicated split has no no_tumor image) is expected here, and the report's notes say so."""
    def point(ctx):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            warnings.filterwarnings("ignore", message="A single label was found")
            return float(fn(ctx.y_true, ctx.y_pred))
    return point


register(MetricSpec(
    "balanced_accuracy", "balanced accuracy", "mean recall over the classes present: accuracy as if every "
    "class had as many images (equals macro recall when every class is present).", True, False,
    ("balanced_accuracy",), _quiet(balanced_accuracy_score),
    batch=_balanced_accuracy, needs=("confusion",), show=_places("table", "chart", "paired", "study", "seeds")))
register(MetricSpec(
    "mcc", "MCC", "Matthews correlation coefficient (multi-class, Gorodkin): correlation between true and "
    "predicted class from the whole confusion matrix; 0 = chance, 1 = perfect.", True, False,
    ("mcc",), _quiet(matthews_corrcoef),
    batch=_mcc, needs=("confusion",), show=_places("table", "study")))
register(MetricSpec(
    "loss", "loss", f"mean cross-entropy −log p(true class), probabilities clipped at {LOSS_EPS:g}; it punishes "
    "confident mistakes that accuracy does not see.", False, False,
    ("loss",), lambda ctx: float(log_loss(ctx.y_true, clipped_probs(ctx.probs), labels=np.arange(_k(ctx)))),
    batch=_mean_of("loss"), needs=("loss", "confusion"),
    show=_places("table", "chart", "calibration", "study", "seeds")))
register(MetricSpec(
    "weighted_precision", "weighted precision", "per-class precision averaged with weights = number of true "
    "images of each class.", True, False, ("weighted", "precision"), lambda ctx: float(_prfs(ctx, "weighted")[0]),
    batch=_weighted(_precision), needs=("confusion",), show=_places("table", "chart")))
register(MetricSpec(
    "weighted_recall", "weighted recall", "per-class recall averaged with the same weights; it always equals "
    "accuracy.", True, False, ("weighted", "recall"), lambda ctx: float(_prfs(ctx, "weighted")[1]),
    batch=_weighted(_recall), needs=("confusion",), show=_places("table", "chart")))
register(MetricSpec(
    "weighted_f1", "weighted-mean F1", "per-class F1 averaged with the same weights (scikit-learn's \"weighted "
    "avg\" row, what the seed's summary table showed).", True, False, ("weighted", "f1"),
    lambda ctx: float(_prfs(ctx, "weighted")[2]), batch=_weighted(_f1), needs=("confusion",),
    show=_places("table", "study")))
register(MetricSpec(
    "global_f1", "global F1", "the seed notebook's \"F1 global\": harmonic mean of weighted precision and "
    "weighted recall, 2·P_w·R_w / (P_w + R_w); it is not an average of per-class F1.", True, False, ("global_f1",),
    lambda ctx: float(_harmonic(*_prfs(ctx, "weighted")[:2])),
    batch=lambda agg: _harmonic(_weighted(_precision)(agg), _weighted(_recall)(agg)), needs=("confusion",),
    show=_places("table", "chart", "study")))
register(MetricSpec(
    "macro_precision", "macro precision", "unweighted mean of per-class precision: each class counts the same "
    "however few images it has.", True, False, ("macro", "precision"), lambda ctx: float(_prfs(ctx, "macro")[0]),
    batch=_macro(_precision), needs=("confusion",), show=_TABLE))
register(MetricSpec(
    "macro_recall", "macro recall", "unweighted mean of per-class recall.", True, False, ("macro", "recall"),
    lambda ctx: float(_prfs(ctx, "macro")[1]), batch=_macro(_recall), needs=("confusion",), show=_TABLE))
register(MetricSpec(
    "macro_f1", "macro F1", "unweighted mean of per-class F1: a neglected small class shows; the ranking "
    "metric.", True, False, ("macro", "f1"), lambda ctx: float(_prfs(ctx, "macro")[2]),
    batch=_macro(_f1), needs=("confusion",), show=_places("table", "chart", "paired", "study", "seeds")))
register(MetricSpec(
    "macro_auc", "macro AUC", "mean one-vs-rest AUC over the classes whose AUC exists.", True, False,
    ("macro", "auc"), _macro_of(_class_auc_point), interval="delta",
    influence=_macro_rank(rank.auc_influence), show=_TABLE))
register(MetricSpec(
    "micro_auc", "micro AUC", "AUC over every (image, class) pair pooled.", True, False, ("micro_auc",),
    _micro_auc_point, interval="delta", influence=_micro_auc, show=_TABLE))
register(MetricSpec(
    "macro_ap", "macro AP", "mean over classes of the average precision (area under the precision-recall "
    "curve, scikit-learn's step-wise sum).", True, False, ("macro", "ap"), _macro_of(_class_ap_point),
    interval="delta", influence=_macro_rank(rank.ap_influence), show=_TABLE))
register(MetricSpec(
    "brier", "Brier score", "mean over images of Σ_k (p_k − [y = k])², from 0 (certain and right) to 2.",
    False, False, ("brier",), lambda ctx: float(brier_score_loss(ctx.y_true, ctx.probs, labels=np.arange(_k(ctx)))),
    batch=_mean_of("brier"), needs=("brier", "confusion"), show=_places("table", "calibration", "study")))
register(MetricSpec(
    "ece", "ECE", "expected calibration error of the top label: Σ over equal-width confidence bins of "
    "|Σ (confidence − correct)| / n.", False, False, ("ece",),
    lambda ctx: cal.expected_calibration_error(ctx.y_true, ctx.probs, bins=ctx.bins),
    batch=_ece, needs=("top_bins", "confusion"), show=_places("calibration")))
register(MetricSpec(
    "mce", "MCE", "maximum calibration error: the largest |mean confidence − accuracy| of a non-empty "
    "confidence bin.", False, False, ("mce",),
    lambda ctx: cal.maximum_calibration_error(ctx.y_true, ctx.probs, bins=ctx.bins),
    batch=_mce, needs=("top_bins",), show=_places("calibration")))
register(MetricSpec(
    "classwise_ece", "class-wise ECE", "mean over classes of the class-wise ECE (bins of p_k against "
    "[y = k], Kull et al. 2019).", False, False, ("classwise_ece",),
    lambda ctx: float(cal.classwise_calibration_errors(ctx.y_true, ctx.probs, bins=ctx.bins).mean()),
    batch=lambda agg: _class_ece(agg).mean(axis=-1), needs=("class_bins", "confusion"),
    show=_places("table", "calibration")))
register(MetricSpec(
    "expected_cost", "expected cost", "mean misclassification cost per image under the cost matrix (rows: "
    "true class, columns: predicted class; default: a tumour called no_tumor costs 5, any other error 1).",
    False, False, ("expected_cost",), _cost_point, batch=_cost_batch, needs=("confusion",),
    show=_places("table", "paired", "study", "seeds")))

# Per class
register(MetricSpec(
    "precision", "precision", "share of the images predicted as the class that are of the class (0 when "
    "the class is never predicted).", True, True, ("per_class", "{cls}", "precision"),
    lambda ctx: _prfs(ctx)[0].tolist(), batch=_precision, needs=("confusion",), show=_places("table", "study")))
register(MetricSpec(
    "recall", "recall", "sensitivity: share of the class's images that are found.", True, True,
    ("per_class", "{cls}", "recall"), lambda ctx: _prfs(ctx)[1].tolist(), batch=_recall, needs=("confusion",),
    show=_places("table", "study")))
register(MetricSpec(
    "f1", "F1", "harmonic mean of the class's precision and recall.", True, True, ("per_class", "{cls}", "f1"),
    lambda ctx: _prfs(ctx)[2].tolist(), batch=_f1, needs=("confusion",), show=_places("table", "study")))
register(MetricSpec(
    "specificity", "specificity", "share of the images of other classes that are not called this class.",
    True, True, ("per_class", "{cls}", "specificity"), _point_counts(_specificity), batch=_specificity,
    needs=("confusion",), show=_TABLE))
register(MetricSpec(
    "npv", "NPV", "negative predictive value: share of the images not called this class that are indeed "
    "of another class.", True, True, ("per_class", "{cls}", "npv"), _point_counts(_npv), batch=_npv,
    needs=("confusion",), show=_TABLE))
register(MetricSpec(
    "auc", "AUC", "one-vs-rest area under the ROC curve: the chance that an image of the class gets a higher "
    "score for it than an image of another class.", True, True, ("per_class", "{cls}", "auc"), _class_auc_point,
    interval="delta", influence=_class_rank(rank.auc_influence), show=_TABLE))
register(MetricSpec(
    "ap", "AP", "average precision: area under the class's precision-recall curve (step-wise).", True, True,
    ("per_class", "{cls}", "ap"), _class_ap_point, interval="delta", influence=_class_rank(rank.ap_influence),
    show=_TABLE))
register(MetricSpec(
    "class_ece", "class-wise ECE", "calibration error of p_k against [y = k] over equal-width bins.", False, True,
    ("per_class", "{cls}", "ece"),
    lambda ctx: cal.classwise_calibration_errors(ctx.y_true, ctx.probs, bins=ctx.bins).tolist(),
    batch=_class_ece, needs=("class_bins", "confusion"), show=_places("calibration")))
