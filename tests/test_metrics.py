"""Metrics against hand-computed confusion matrices and against scikit-learn, plus invariances."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score as sk_accuracy
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from tumorbench.classes import CLASS_NAMES
from tumorbench.metrics import (
    LOSS_EPS,
    accuracy_score,
    classification_metrics,
    compute_metrics,
    compute_roc_curves,
    confident_mistakes,
    confusion_frame,
    cross_entropy_loss,
    macro_f1_score,
    metrics_table,
    per_class_table,
    roc_curve_points,
)
from tumorbench.predictions.io import predictions_frame

GLIOMA, MENINGIOMA, NO_TUMOR, PITUITARY = range(4)


def one_hot_probs(y_pred, *, confidence=0.7):
    """Probabilities whose argmax is y_pred, the rest spread evenly."""
    probs = np.full((len(y_pred), 4), (1 - confidence) / 3)
    probs[np.arange(len(y_pred)), y_pred] = confidence
    return probs


def random_case(n=300, seed=0, skill=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    logits = rng.normal(0, 1, (n, 4))
    logits[np.arange(n), y] += skill
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def frame_of(y, probs, images=None):
    images = images if images is not None else [f"img{i}.jpg" for i in range(len(y))]
    return predictions_frame(images, [CLASS_NAMES[k] for k in y], probs)


# ---------------------------------------------------------------- a confusion matrix worked out by hand

# 10 images. Rows = true class, columns = predicted class:
#                 gli  men  no  pit
#   glioma    (4)  2    1    0   1
#   meningioma(3)  0    3    0   0
#   no_tumor  (1)  0    0    1   0
#   pituitary (2)  1    0    0   1
HAND_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 3, 3])
HAND_PRED = np.array([0, 0, 1, 3, 1, 1, 1, 2, 0, 3])


@pytest.fixture(scope="module")
def hand():
    return classification_metrics(HAND_TRUE, one_hot_probs(HAND_PRED))


def test_hand_confusion_matrix_and_counts(hand):
    assert hand["n"] == 10
    assert hand["confusion_matrix"] == [[2, 1, 0, 1], [0, 3, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    assert hand["confusion_matrix_normalized"][0] == [0.5, 0.25, 0.0, 0.25]
    expected = {  # tp, fp, fn, tn
        "glioma": (2, 1, 2, 5),
        "meningioma": (3, 1, 0, 6),
        "no_tumor": (1, 0, 0, 9),
        "pituitary": (1, 1, 1, 7),
    }
    for cls, (tp, fp, fn, tn) in expected.items():
        row = hand["per_class"][cls]
        assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, fn, tn)
        assert row["support"] == tp + fn


def test_hand_per_class_and_averages(hand):
    per = hand["per_class"]
    assert per["glioma"]["precision"] == pytest.approx(2 / 3)
    assert per["glioma"]["recall"] == pytest.approx(2 / 4)
    assert per["glioma"]["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert per["meningioma"]["precision"] == pytest.approx(3 / 4)
    assert per["meningioma"]["recall"] == 1.0
    assert per["no_tumor"]["f1"] == 1.0
    assert per["pituitary"]["precision"] == per["pituitary"]["recall"] == 0.5
    assert hand["accuracy"] == pytest.approx(7 / 10)

    support = np.array([4, 3, 1, 2])
    precision = np.array([2 / 3, 3 / 4, 1, 1 / 2])
    recall = np.array([2 / 4, 1, 1, 1 / 2])
    f1 = 2 * precision * recall / (precision + recall)
    p_w, r_w = (support * precision).sum() / 10, (support * recall).sum() / 10
    assert hand["weighted"]["precision"] == pytest.approx(p_w)
    assert hand["weighted"]["recall"] == pytest.approx(r_w) == pytest.approx(hand["accuracy"])
    assert hand["weighted"]["f1"] == pytest.approx((support * f1).sum() / 10)
    assert hand["global_f1"] == pytest.approx(2 * p_w * r_w / (p_w + r_w))
    # The seed's global F1 and the weighted-mean F1 are different numbers: this case tells them apart.
    assert abs(hand["global_f1"] - hand["weighted"]["f1"]) > 1e-3
    assert hand["macro"]["precision"] == pytest.approx(precision.mean())
    assert hand["macro"]["recall"] == pytest.approx(recall.mean())
    assert hand["macro"]["f1"] == pytest.approx(f1.mean())


def test_hand_loss():
    probs = np.array([[0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]])
    y = np.array([GLIOMA, PITUITARY])
    assert cross_entropy_loss(y, probs) == pytest.approx(-(np.log(0.5) + np.log(0.4)) / 2, rel=1e-6)


def test_hand_auc():
    # Glioma scores: positives 0.9, 0.4; negatives 0.6, 0.1 -> 3 of 4 pairs ordered: AUC 0.75.
    y = np.array([GLIOMA, GLIOMA, MENINGIOMA, MENINGIOMA])
    probs = np.array([[0.9, 0.1, 0, 0], [0.4, 0.6, 0, 0], [0.6, 0.4, 0, 0], [0.1, 0.9, 0, 0]])
    m = classification_metrics(y, probs)
    assert m["per_class"]["glioma"]["auc"] == pytest.approx(0.75)
    assert m["per_class"]["meningioma"]["auc"] == pytest.approx(0.75)
    assert "no_tumor" not in m["per_class"]  # no true no_tumor image: no per-class value at all
    assert m["absent_classes"] == ["no_tumor", "pituitary"]
    assert m["macro"]["auc"] == pytest.approx(0.75)  # mean over the present classes
    assert any("absent from these images: no_tumor, pituitary" in n for n in m["notes"])


# ---------------------------------------------------------------- against scikit-learn

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_scikit_learn(seed):
    y, probs = random_case(seed=seed)
    pred = probs.argmax(axis=1)
    m = classification_metrics(y, probs)
    report = classification_report(y, pred, labels=range(4), target_names=CLASS_NAMES, output_dict=True,
                                   zero_division=0)
    assert m["accuracy"] == pytest.approx(sk_accuracy(y, pred))
    assert m["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    for cls in CLASS_NAMES:
        for key, sk_key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"),
                            ("support", "support")):
            assert m["per_class"][cls][key] == pytest.approx(report[cls][sk_key])
    for avg, sk_avg in (("weighted", "weighted avg"), ("macro", "macro avg")):
        assert m[avg]["precision"] == pytest.approx(report[sk_avg]["precision"])
        assert m[avg]["recall"] == pytest.approx(report[sk_avg]["recall"])
        assert m[avg]["f1"] == pytest.approx(report[sk_avg]["f1-score"])
    # Probabilities well away from 0: the clipping at LOSS_EPS changes nothing.
    assert probs.min() > LOSS_EPS
    assert m["loss"] == pytest.approx(log_loss(y, probs))
    assert m["macro"]["auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    onehot = np.eye(4)[y]
    assert m["micro_auc"] == pytest.approx(roc_auc_score(onehot, probs, average="micro"))
    for k, cls in enumerate(CLASS_NAMES):
        assert m["per_class"][cls]["auc"] == pytest.approx(roc_auc_score(y == k, probs[:, k]))
    assert m["notes"] == []


def test_scalar_scores_match_the_full_metrics():
    # The *_score/*_loss functions are what bootstrap resampling will call: same numbers as the dict.
    y, probs = random_case(seed=4)
    m = classification_metrics(y, probs)
    assert accuracy_score(y, probs) == m["accuracy"]
    assert macro_f1_score(y, probs) == pytest.approx(m["macro"]["f1"])
    assert cross_entropy_loss(y, probs) == m["loss"]
    resample = np.random.default_rng(0).integers(0, len(y), len(y))
    assert classification_metrics(y[resample], probs[resample])["n"] == len(y)


# ---------------------------------------------------------------- invariances and edge cases

def test_shuffling_rows_changes_nothing():
    y, probs = random_case(seed=5)
    frame = frame_of(y, probs)
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    a, b = compute_metrics(frame), compute_metrics(shuffled)
    assert a["confusion_matrix"] == b["confusion_matrix"]
    flat_a, flat_b = metrics_table({"m": a}), metrics_table({"m": b})
    pd.testing.assert_frame_equal(flat_a, flat_b, check_exact=False, rtol=1e-12)


def test_perfect_classifier_scores_one():
    y = np.repeat(np.arange(4), [5, 3, 2, 4])
    m = classification_metrics(y, np.eye(4)[y])
    for value in (m["accuracy"], m["global_f1"], m["micro_auc"], *m["weighted"].values(), *m["macro"].values()):
        assert value == pytest.approx(1.0)
    assert all(row["f1"] == 1.0 and row["auc"] == 1.0 for row in m["per_class"].values())
    assert m["loss"] == pytest.approx(-np.log(1 / (1 + 3 * LOSS_EPS)), abs=1e-9)  # ~0, clipped
    assert m["notes"] == []


def test_one_class_predictor_gets_zero_precision_and_one_note():
    y = np.repeat(np.arange(4), [5, 3, 2, 4])
    probs = one_hot_probs(np.full(len(y), PITUITARY))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's UndefinedMetricWarning must not leak
        m = classification_metrics(y, probs)
    for cls in ("glioma", "meningioma", "no_tumor"):
        assert m["per_class"][cls]["precision"] == 0.0
        assert m["per_class"][cls]["f1"] == 0.0
    assert m["per_class"]["pituitary"]["precision"] == pytest.approx(4 / 14)
    assert m["per_class"]["pituitary"]["recall"] == 1.0
    assert m["accuracy"] == pytest.approx(4 / 14)
    assert m["macro"]["precision"] == pytest.approx(4 / 14 / 4)
    notes = [n for n in m["notes"] if "never predicted" in n.lower()]
    assert len(notes) == 1
    assert "glioma, meningioma, no_tumor" in notes[0]


def test_confidently_wrong_prediction_has_a_finite_loss():
    y = np.array([GLIOMA, MENINGIOMA])
    probs = np.array([[0, 1, 0, 0], [0, 1, 0, 0]], dtype=float)
    loss = cross_entropy_loss(y, probs)
    assert np.isfinite(loss)
    assert loss == pytest.approx(-np.log(LOSS_EPS) / 2, rel=1e-3)


def test_metrics_are_strict_json():
    y = np.array([GLIOMA, GLIOMA])  # one class present: its AUC is undefined -> null, not NaN
    m = classification_metrics(y, one_hot_probs(np.array([0, 1])))
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text)["per_class"]["glioma"]["auc"] is None


@pytest.mark.parametrize(
    "y, probs, match",
    [(np.array([], dtype=int), np.zeros((0, 4)), "no labelled predictions"),
     (np.array([0, 1]), np.zeros((2, 3)), r"shape \(2, 4\)")],
    ids=["empty", "wrong-width"],
)
def test_bad_arrays(y, probs, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, probs)


# ---------------------------------------------------------------- from predictions tables

def test_compute_metrics_keeps_file_notes_and_skips_unlabelled_rows():
    y, probs = random_case(n=50, seed=6)
    frame = frame_of(y, probs)
    frame.loc[[3, 7], "label"] = ""
    frame.attrs["notes"] = ["p.csv: 2 rows renormalised."]
    m = compute_metrics(frame)
    assert m["n"] == 48
    assert m["notes"][0] == "p.csv: 2 rows renormalised."
    assert "2 of 50 images have no true label" in m["notes"][1]
    keep = np.ones(50, bool)
    keep[[3, 7]] = False
    assert m["accuracy"] == pytest.approx(classification_metrics(y[keep], probs[keep])["accuracy"])


def test_compute_metrics_refuses_unlabelled_predictions():
    y, probs = random_case(n=5)
    frame = frame_of(y, probs)
    frame["label"] = ""
    with pytest.raises(ValueError, match="no row has a true label"):
        compute_metrics(frame)


def test_tables():
    y, probs = random_case(seed=7)
    m = classification_metrics(y, probs)
    table = metrics_table({"a": m, "b": m})
    assert list(table.index) == ["a", "b"] and table.index.name == "model"
    assert table.loc["a", "macro_f1"] == m["macro"]["f1"]
    assert table.loc["a", "pituitary_fn"] == m["per_class"]["pituitary"]["fn"]
    assert {"global_f1", "weighted_f1", "micro_auc", "glioma_auc"} <= set(table.columns)
    report = per_class_table(m)
    assert list(report.index) == list(CLASS_NAMES)
    assert report.loc["glioma", "support"] == m["per_class"]["glioma"]["support"]
    cm = confusion_frame(m)
    assert cm.loc["glioma", "pituitary"] == m["confusion_matrix"][0][3]
    assert confusion_frame(m, normalize=True).sum(axis=1).round(9).tolist() == [1.0] * 4


def test_undefined_auc_is_nan_in_the_table():
    y = np.array([GLIOMA, GLIOMA, GLIOMA])  # every image one class: its AUC does not exist
    table = metrics_table({"m": classification_metrics(y, one_hot_probs(np.array([0, 1, 1])))})
    assert np.isnan(table.loc["m", "glioma_auc"])
    assert table["glioma_auc"].dtype.kind == "f"


def test_roc_curves():
    y, probs = random_case(seed=8)
    curves = roc_curve_points(y, probs)
    for cls in CLASS_NAMES:
        points = curves["per_class"][cls]
        assert points["fpr"][0] == 0 and points["tpr"][-1] == 1.0
        assert np.all(np.diff(points["fpr"]) >= 0)
    assert np.all(np.diff(curves["macro"]["tpr"]) >= -1e-12)
    frame = frame_of(y, probs)
    assert compute_roc_curves(frame)["micro"] == curves["micro"]
    absent = roc_curve_points(np.array([0, 1, 0]), one_hot_probs(np.array([0, 1, 1])))
    assert absent["per_class"]["no_tumor"] is None


def test_confident_mistakes():
    y = np.array([GLIOMA, GLIOMA, MENINGIOMA, PITUITARY])
    probs = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.05, 0.05, 0.9, 0], [0.4, 0.3, 0, 0.3]])
    frame = frame_of(y, probs, images=["ok", "wrong 0.8", "wrong 0.9", "wrong 0.4"])
    mistakes = confident_mistakes(frame, k=2)
    assert mistakes["image"].tolist() == ["wrong 0.9", "wrong 0.8"]
    assert mistakes.loc[0, "predicted"] == "no_tumor" and mistakes.loc[0, "label"] == "meningioma"
    assert list(mistakes.columns) == ["image", "label", "predicted", "confidence"]
