"""The verdict table: each check's pass and fail case, the --fail-on exit codes, segment metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation import checks as ck
from tumorbench.evaluation.settings import CheckSettings, evaluation_settings
from tumorbench.predictions.io import predictions_frame, write_predictions

LIMITS = CheckSettings()


def frame_of(y, probs, prefix="img"):
    return predictions_frame([f"{prefix}_{i}.png" for i in range(len(y))], [CLASS_NAMES[k] for k in y], probs)


def skilled(y, *, accuracy, seed=0, confidence=0.9):
    """Predictions right on about `accuracy` of the images, each with `confidence` on its predicted class."""
    rng = np.random.default_rng(seed)
    k = len(CLASS_NAMES)
    pred = np.where(rng.random(len(y)) < accuracy, y, (y + rng.integers(1, k, len(y))) % k)
    probs = np.full((len(y), k), (1 - confidence) / (k - 1))
    probs[np.arange(len(y)), pred] = confidence
    return probs


def labels(n=200, seed=0):
    return np.random.default_rng(seed).integers(0, len(CLASS_NAMES), n)


def constant(y, cls):
    probs = np.full((len(y), len(CLASS_NAMES)), 0.1)
    probs[:, CLASS_NAMES.index(cls)] = 0.7
    return probs


# ---------------------------------------------------------------- each check, pass and fail

def test_majority_pass_and_fail():
    y = labels()
    good = ck.majority_check({"good": frame_of(y, skilled(y, accuracy=0.9))}, alpha=0.05)
    assert good.status == "pass" and good.numbers["models"]["good"]["p_value"] < 0.05
    majority = pd.Series(y).value_counts().idxmax()
    lazy = ck.majority_check({"lazy": frame_of(y, constant(y, CLASS_NAMES[(majority + 1) % 4]))}, alpha=0.05)
    assert lazy.status == "fail" and lazy.numbers["models"]["lazy"]["margin"] < 0
    # Higher, but not significantly: a warning, not a pass.
    small = labels(12, seed=3)
    close = ck.majority_check({"close": frame_of(small, skilled(small, accuracy=0.45, seed=2))}, alpha=0.05)
    assert close.status in ("warn", "fail") and close.status != "pass"


def test_simple_baseline_uses_hog_svm_when_present_and_fails_a_worse_model():
    y = labels()
    frames = {"hog_svm": frame_of(y, skilled(y, accuracy=0.8, seed=1)),
              "cnn": frame_of(y, skilled(y, accuracy=0.95, seed=2))}
    passed = ck.simple_baseline_check(frames, alpha=0.05)
    assert passed.status == "pass" and passed.numbers["baseline"] == "hog_svm"
    assert "hog_svm" not in passed.numbers["models"]
    frames["cnn"] = frame_of(y, skilled(y, accuracy=0.4, seed=2))
    assert ck.simple_baseline_check(frames, alpha=0.05).status == "fail"


def test_simple_baseline_with_a_fitted_baseline_and_not_run_without():
    y = labels()
    model = {"cnn": frame_of(y, skilled(y, accuracy=0.95))}
    baseline = frame_of(y, skilled(y, accuracy=0.5, seed=4)).drop(columns="label")
    found = ck.simple_baseline_check(model, alpha=0.05, baseline=baseline, baseline_name="thumbs")
    assert found.status == "pass" and found.numbers["n"] == len(y)
    assert ck.simple_baseline_check(model, alpha=0.05).status == "not run"


def test_same_test_set_hash_sees_a_changed_label():
    y = labels()
    a = frame_of(y, skilled(y, accuracy=0.9))
    assert ck.same_test_set_check({"a": a, "b": a.sample(frac=1, random_state=0)}).status == "pass"
    b = a.copy()
    b.loc[0, "label"] = CLASS_NAMES[(CLASS_NAMES.index(b.loc[0, "label"]) + 1) % 4]
    assert ck.test_set_hash(a) != ck.test_set_hash(b)
    assert ck.same_test_set_check({"a": a, "b": b}).status == "fail"


def test_copies_pass_warn_fail_and_not_run():
    y = labels(100)
    frame = frame_of(y, skilled(y, accuracy=0.9))
    images = frame["image"].tolist()
    assert ck.copies_check(frame, {}, LIMITS).status == "pass"
    assert ck.copies_check(frame, {images[0]: "exact", images[1]: "near"}, LIMITS).status == "warn"
    failed = ck.copies_check(frame, {i: "exact" for i in images[:10]}, LIMITS)
    assert failed.status == "fail" and failed.numbers["share"] == pytest.approx(0.10)
    assert ck.copies_check(frame, None, LIMITS).status == "not run"


def test_shortcut_pass_fail_and_not_run():
    base = {"accuracy": 0.3, "majority_baseline": 0.28, "p_value": 0.4, "leak": False, "leaks": []}
    assert ck.shortcut_check({"shortcut": base}).status == "pass"
    leak = {**base, "accuracy": 0.7, "p_value": 1e-9, "leak": True, "leaks": ["width"]}
    failed = ck.shortcut_check({"shortcut": leak})
    assert failed.status == "fail" and "width" in failed.detail
    assert ck.shortcut_check(None).status == "not run"
    assert ck.shortcut_check({"shortcut": {"skipped": "too few", "accuracy": None}}).status == "not run"


def test_calibration_pass_warn_fail():
    assert ck.calibration_check({"a": 0.01, "b": 0.04}, LIMITS).status == "pass"
    assert ck.calibration_check({"a": 0.01, "b": 0.08}, LIMITS).status == "warn"
    failed = ck.calibration_check({"a": 0.3, "b": 0.01}, LIMITS)
    assert failed.status == "fail" and "(a)" in failed.value


def test_recall_pass_warn_fail_from_metrics():
    from tumorbench.evaluation.classification import compute_metrics

    y = labels(400)
    good = compute_metrics(frame_of(y, skilled(y, accuracy=0.97)))["per_class"]
    assert ck.recall_check({"good": good}, LIMITS).status == "pass"
    probs = skilled(y, accuracy=0.97)
    glioma = y == 0
    probs[glioma] = constant(y[glioma], "meningioma")  # never says glioma
    failed = ck.recall_check({"good": good, "blind": compute_metrics(frame_of(y, probs))["per_class"]}, LIMITS)
    assert failed.status == "fail" and failed.numbers["lowest"]["blind"] == {"class": "glioma", "recall": 0.0}


def test_generalisation_gap_hook_and_not_run():
    assert ck.generalisation_check(None, LIMITS).status == "not run"
    ok = ck.generalisation_check({"m": {"figshare": {"own": 0.9, "external": 0.88}}}, LIMITS)
    assert ok.status == "pass"
    bad = ck.generalisation_check({"m": {"figshare": {"own": 0.9, "external": 0.88}, "yes-no": {"own": 0.9,
                                                                                                 "external": 0.6}}},
                                  LIMITS)
    assert bad.status == "fail" and "yes-no" in bad.value and bad.numbers["gaps"]["m"]["yes-no"] == pytest.approx(0.3)


def test_thresholds_are_config_keys_with_checked_values():
    assert evaluation_settings({"checks": {"ece_warn": 0.01}}).checks.ece_warn == 0.01
    with pytest.raises(ValueError, match="evaluation.checks: unknown key"):
        evaluation_settings({"checks": {"ece": 0.1}})
    with pytest.raises(ValueError, match="evaluation.checks.ece_warn must be a number from 0 to 1"):
        evaluation_settings({"checks": {"ece_warn": 2}})
    with pytest.raises(ValueError, match="segment_min_size"):
        evaluation_settings({"segment_min_size": 0})


def test_failed_checks_levels():
    found = [ck.Check("a", "A", "pass", "1", "", "x"), ck.Check("b", "B", "warn", "2", "", "x"),
             ck.Check("c", "C", "fail", "3", "", "x"), ck.Check("d", "D", "not run", "n/a", "", "x")]
    assert ck.failed_checks(found, "fail") == ["C (fail: 3)"]
    assert ck.failed_checks(found, "warn") == ["B (warn: 2)", "C (fail: 3)"]
    with pytest.raises(ValueError, match="valid levels"):
        ck.failed_checks(found, "pass")


# ---------------------------------------------------------------- the CLI gate

LOOSE = ["--set", "evaluation.checks.ece_warn=0.5", "--set", "evaluation.checks.ece_fail=0.6",
         "--set", "evaluation.bootstrap.resamples=200"]


def _evaluate(tmp_path, frames, *extra):
    from tumorbench.cli import main

    paths = []
    for name, frame in frames.items():
        paths.append(str(write_predictions(tmp_path / f"{name}.csv", frame)))
    return CliRunner().invoke(main, ["evaluate", *paths, "--out", str(tmp_path / "out"), *LOOSE, *extra])


def test_fail_on_exit_codes(tmp_path):
    y = labels()
    good = {"good": frame_of(y, skilled(y, accuracy=0.97, confidence=0.97))}
    passed = _evaluate(tmp_path / "a", good, "--fail-on", "fail")
    assert passed.exit_code == 0, passed.output
    document = json.loads((tmp_path / "a" / "out" / "metrics.json").read_text())
    assert {c["key"]: c["status"] for c in document["checks"]}["beats_majority"] == "pass"
    assert "Checks" in (tmp_path / "a" / "out" / "report.md").read_text()
    assert 'id="checks-table"' in (tmp_path / "a" / "out" / "report.html").read_text()

    lazy = {"lazy": frame_of(y, constant(y, "pituitary"))}
    failed = _evaluate(tmp_path / "b", lazy, "--fail-on", "fail")
    assert failed.exit_code == 1
    assert "Beats the majority class (fail" in failed.output and "Every class recalled (fail" in failed.output
    # The report is written before the gate closes.
    assert (tmp_path / "b" / "out" / "report.html").is_file()
    # Without --fail-on the same predictions exit 0.
    assert _evaluate(tmp_path / "c", lazy).exit_code == 0


def test_fail_on_warn_is_stricter(tmp_path):
    y = labels()
    # Passes every check but calibration, which warns at ECE >= 0.05 with the default thresholds.
    frame = {"m": frame_of(y, skilled(y, accuracy=0.97, confidence=0.85))}
    from tumorbench.cli import main

    path = str(write_predictions(tmp_path / "m.csv", frame["m"]))
    common = ["evaluate", path, "--out", str(tmp_path / "out"), "--set", "evaluation.bootstrap.resamples=200"]
    assert CliRunner().invoke(main, [*common, "--fail-on", "fail"]).exit_code == 0
    warned = CliRunner().invoke(main, [*common, "--fail-on", "warn"])
    assert warned.exit_code == 1 and "Calibrated probabilities (warn" in warned.output


def test_evaluate_refuses_predictions_with_different_test_labels(tmp_path):
    y = labels()
    a = frame_of(y, skilled(y, accuracy=0.9))
    b = a.copy()
    b.loc[3, "label"] = CLASS_NAMES[(CLASS_NAMES.index(b.loc[3, "label"]) + 1) % 4]
    result = _evaluate(tmp_path, {"a": a, "b": b})
    assert result.exit_code != 0 and "disagree on the true label of 1 images" in result.output
    assert not (tmp_path / "out" / "report.html").exists()


# ---------------------------------------------------------------- segments

def test_segment_metrics_equal_metrics_of_the_filtered_predictions():
    from tumorbench.evaluation.classification import compute_metrics
    from tumorbench.evaluation.segments import segment_metrics, worst_segments

    y = labels(300, seed=5)
    frame = frame_of(y, skilled(y, accuracy=0.8, seed=6))
    rng = np.random.default_rng(1)
    attributes = pd.DataFrame({"size": rng.choice(["< 256 px", "512 px"], len(y)),
                               "colour": rng.choice(["JPEG L", "JPEG RGB", "PNG L"], len(y))},
                              index=frame["image"])
    # Errors concentrated in one segment, so the worst table has something to find.
    bad = (attributes["colour"] == "PNG L").to_numpy()
    frame.loc[bad, [f"prob_{c}" for c in CLASS_NAMES]] = constant(y[bad], "pituitary")
    table = segment_metrics(frame, attributes, resamples=200)
    assert set(table["dimension"]) == {"size", "colour"}
    for row in table.itertuples():
        chosen = frame[(attributes[row.dimension] == row.segment).to_numpy()]
        expected = compute_metrics(chosen)
        assert row.n == len(chosen) == expected["n"]
        assert row.accuracy == pytest.approx(expected["accuracy"])
        assert row.balanced_accuracy == pytest.approx(expected["balanced_accuracy"])
        assert row.low <= row.accuracy <= row.high
    overall = compute_metrics(frame)["accuracy"]
    worst = worst_segments(table, overall=overall, min_size=20)
    assert worst.iloc[0]["segment"] == "PNG L"
    assert worst_segments(table, overall=overall, min_size=len(y) + 1).empty
