"""Checks with a verdict: what to trust first, as a short table of pass / warn / fail.

Each check has a key, the number behind its status and the report section that shows the detail
(`section`, an anchor name the report resolves). The thresholds are `evaluation.checks.*`
(`tumorbench.evaluation.settings.CheckSettings`); docs/verdict.md explains every check.

- `beats_majority`: every model's test accuracy above the constant prediction of the test split's most
  frequent class, by McNemar's test (`paired.mcnemar_test`) on the same images: pass when higher and
  p < alpha, warn when higher but not significant, fail when not higher.
- `beats_simple_baseline`: the same against a simple model: hog_svm when it is in the run (every other
  model is compared with it), else a logistic regression on thumbnails fitted on the training split
  (`thumbnails.py`); not run without either (predictions alone have no training images).
- `same_test_set`: every model scored the same (image, label) pairs: one hash (`test_set_hash`).
- `test_copies`: share of test images with an exact or near copy in training/validation (the audit).
- `no_shortcut`: file properties alone do not predict the class (the audit's shortcut check).
- `calibration`: every model's top-label ECE below the thresholds.
- `class_recall`: every class of every model recalled above the floor.
- `generalisation_gap`: accuracy lost on each external dataset; not run without externals.

A check that cannot be made is "not run" with its reason, never a pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tumorbench.evaluation.paired import mcnemar_test
from tumorbench.evaluation.settings import CheckSettings, EvaluationSettings

PASS, WARN, FAIL, NOT_RUN = "pass", "warn", "fail", "not run"
STATUSES = (PASS, WARN, FAIL, NOT_RUN)
_SEVERITY = {NOT_RUN: 0, PASS: 1, WARN: 2, FAIL: 3}
FAIL_ON = ("fail", "warn")  # `tumorbench evaluate --fail-on LEVEL`


@dataclass
class Check:
    key: str
    title: str
    status: str  # pass, warn, fail or not run
    value: str  # the number behind the status, as shown
    detail: str  # one sentence: what was compared, or why it was not run
    section: str  # the report section with the detail (comparison, calibration, audit, ...)
    numbers: dict = field(default_factory=dict)  # the same, machine-readable (metrics.json)

    def to_dict(self) -> dict:
        return asdict(self)


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else NOT_RUN


def frame_classes(frame: pd.DataFrame) -> list[str]:
    """The classes of a predictions table: its prob_<class> columns, in their order."""
    return [c[len("prob_"):] for c in frame.columns if c.startswith("prob_")]


def predicted_labels(frame: pd.DataFrame) -> np.ndarray:
    """The most probable class of every row, by name (ties: the first column)."""
    classes = frame_classes(frame)
    return np.asarray(classes, dtype=object)[frame[[f"prob_{c}" for c in classes]].to_numpy().argmax(axis=1)]


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["label"].astype(str) != ""]


def test_set_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the sorted (image, label) pairs: equal exactly when two files score the same test set."""
    pairs = sorted(zip(frame["image"].astype(str), frame["label"].astype(str)))
    digest = hashlib.sha256()
    for image, label in pairs:
        digest.update(f"{image}\t{label}\n".encode())
    return digest.hexdigest()


def _correct(frame: pd.DataFrame, images: pd.Index) -> np.ndarray:
    rows = frame.set_index("image").loc[images]
    return (predicted_labels(rows.reset_index()) == rows["label"].astype(str).to_numpy())


def _beats(frames: Mapping[str, pd.DataFrame], base_correct: np.ndarray, images: pd.Index, *, alpha: float,
           against: str) -> tuple[str, str, dict]:
    """Status, value and numbers of every model against a baseline's correctness on `images`."""
    per_model, statuses = {}, []
    base_acc = float(base_correct.mean())
    for name, frame in frames.items():
        correct = _correct(frame, images)
        p, test, a_only, b_only = mcnemar_test(correct, base_correct)
        acc = float(correct.mean())
        status = (PASS if acc > base_acc and p < alpha else WARN if acc > base_acc else FAIL)
        statuses.append(status)
        per_model[name] = {"accuracy": acc, "baseline_accuracy": base_acc, "margin": acc - base_acc,
                           "p_value": p, "test": test, "model_only": a_only, "baseline_only": b_only,
                           "status": status}
    weakest = min(per_model, key=lambda n: (per_model[n]["margin"], -per_model[n]["p_value"]))
    w = per_model[weakest]
    value = f"{w['margin']:+.3f} vs {against} (p = {w['p_value']:.2g}, {weakest})"
    return worst(statuses), value, {"baseline": against, "baseline_accuracy": base_acc, "models": per_model}


def majority_check(frames: Mapping[str, pd.DataFrame], *, alpha: float) -> Check:
    first = labelled(next(iter(frames.values())))
    images = pd.Index(first["image"])
    counts = first["label"].astype(str).value_counts()
    majority = str(min(counts.index[counts == counts.max()]))
    base_correct = first["label"].astype(str).to_numpy() == majority
    status, value, numbers = _beats(frames, base_correct, images, alpha=alpha, against=f"always {majority}")
    return Check("beats_majority", "Beats the majority class", status, value,
                 f"Every model's test accuracy against predicting {majority} for every image "
                 f"({numbers['baseline_accuracy']:.3f}); McNemar's test on the same images, alpha {alpha}.",
                 "comparison", numbers)


def simple_baseline_check(frames: Mapping[str, pd.DataFrame], *, alpha: float, baseline: pd.DataFrame | None = None,
                          baseline_name: str | None = None, why_not: str | None = None) -> Check:
    """Against hog_svm when it is among `frames`, else `baseline` (test probabilities of a model fitted on
    the training split); not run without either (`why_not` says why)."""
    title = "Beats a simple baseline"
    hog = [n for n in frames if n == "hog_svm" or n.startswith("hog_svm")]
    others = {n: f for n, f in frames.items() if n not in hog}
    if hog and others:
        baseline, baseline_name = frames[hog[0]], hog[0]
    elif hog:
        return Check("beats_simple_baseline", title, NOT_RUN, "n/a",
                     "hog_svm is the only model: it is the simple baseline, nothing is compared with it.",
                     "comparison")
    if baseline is None:
        return Check("beats_simple_baseline", title, NOT_RUN, "n/a",
                     why_not or "No hog_svm in the run and no training images to fit the thumbnail baseline on "
                                "(predictions alone).", "comparison")
    first = labelled(next(iter(others.values())))
    known = baseline.set_index("image")
    images = pd.Index([i for i in first["image"] if i in known.index])
    if not len(images):
        return Check("beats_simple_baseline", title, NOT_RUN, "n/a",
                     f"The baseline {baseline_name} scored none of the test images.", "comparison")
    base = known.loc[images].reset_index()
    base_correct = predicted_labels(base) == first.set_index("image").loc[images, "label"].astype(str).to_numpy()
    status, value, numbers = _beats(others, base_correct, images, alpha=alpha, against=str(baseline_name))
    return Check("beats_simple_baseline", title, status, value,
                 f"Every model's test accuracy against {baseline_name} ({numbers['baseline_accuracy']:.3f} on "
                 f"{len(images)} images); McNemar's test on the same images, alpha {alpha}.", "comparison",
                 {**numbers, "n": len(images)})


def same_test_set_check(frames: Mapping[str, pd.DataFrame]) -> Check:
    hashes = {name: test_set_hash(labelled(f)) for name, f in frames.items()}
    distinct = sorted(set(hashes.values()))
    n = len(labelled(next(iter(frames.values()))))
    if len(distinct) == 1:
        return Check("same_test_set", "Same test set for every model", PASS, f"sha256 {distinct[0][:12]}",
                     f"All {len(frames)} model(s) scored the same {n} (image, label) pairs.", "comparison",
                     {"hash": distinct[0], "n": n, "models": hashes})
    return Check("same_test_set", "Same test set for every model", FAIL, f"{len(distinct)} different test sets",
                 "The models were scored on different (image, label) pairs: their scores are not comparable.",
                 "comparison", {"models": hashes})


def copies_check(frame: pd.DataFrame, duplicated: Mapping[str, str] | None, limits: CheckSettings) -> Check:
    title = "Few test images copied in training"
    if duplicated is None:
        return Check("test_copies", title, NOT_RUN, "n/a", "No dataset audit (audit.json) for these predictions.",
                     "audit")
    images = labelled(frame)["image"]
    kinds = images.map(duplicated)
    share = float(kinds.notna().mean()) if len(images) else 0.0
    status = PASS if share < limits.copies_warn else WARN if share < limits.copies_fail else FAIL
    n = int(kinds.notna().sum())
    return Check("test_copies", title, status, f"{share:.1%} ({n} of {len(images)})",
                 f"Test images with an exact or near copy in training or validation (warn from "
                 f"{limits.copies_warn:.0%}, fail from {limits.copies_fail:.0%}).", "audit",
                 {"share": share, "n": n, "exact": int((kinds == "exact").sum()), "near": int((kinds == "near").sum()),
                  "of": len(images)})


def shortcut_check(audit: Mapping | None) -> Check:
    title = "No label-leaking shortcut"
    found = (audit or {}).get("shortcut")
    if not found:
        return Check("no_shortcut", title, NOT_RUN, "n/a", "No dataset audit (audit.json) for these predictions.",
                     "audit")
    if found.get("skipped") or found.get("accuracy") is None:
        return Check("no_shortcut", title, NOT_RUN, "n/a", f"The audit's shortcut check was skipped: "
                     f"{found.get('skipped', 'no result')}.", "audit")
    value = f"{found['accuracy']:.3f} vs {found['majority_baseline']:.3f} majority"
    numbers = {k: found.get(k) for k in ("accuracy", "majority_baseline", "p_value", "leak", "leaks")}
    if found.get("leak"):
        leaks = ", ".join(found.get("leaks") or []) or "their combination"
        return Check("no_shortcut", title, FAIL, value,
                     f"File properties alone predict the class (cross-validated accuracy {found['accuracy']:.3f}; "
                     f"alone: {leaks}): a model can score without looking at the anatomy.", "audit", numbers)
    return Check("no_shortcut", title, PASS, value,
                 "File properties (size, mode, format, file size) do not predict the class above chance.", "audit",
                 numbers)


def calibration_check(ece: Mapping[str, float], limits: CheckSettings) -> Check:
    status = worst([PASS if e < limits.ece_warn else WARN if e < limits.ece_fail else FAIL for e in ece.values()])
    name = max(ece, key=ece.get)
    return Check("calibration", "Calibrated probabilities", status, f"ECE {ece[name]:.3f} ({name})",
                 f"The largest top-label expected calibration error of the test predictions (warn from "
                 f"{limits.ece_warn}, fail from {limits.ece_fail}).", "calibration", {"ece": dict(ece)})


def recall_check(per_class: Mapping[str, Mapping[str, dict]], limits: CheckSettings) -> Check:
    """`per_class`: {model: metrics["per_class"]}; classes without test images are not judged."""
    lowest = {}
    for name, classes in per_class.items():
        recalls = {c: v["recall"] for c, v in classes.items() if v.get("support") and v.get("recall") is not None}
        if recalls:
            c = min(recalls, key=recalls.get)
            lowest[name] = (c, float(recalls[c]))
    if not lowest:
        return Check("class_recall", "Every class recalled", NOT_RUN, "n/a", "No class has test images.", "comparison")
    status = worst([PASS if r >= limits.recall_warn else WARN if r >= limits.recall_floor else FAIL
                    for _, r in lowest.values()])
    name = min(lowest, key=lambda n: lowest[n][1])
    cls, r = lowest[name]
    return Check("class_recall", "Every class recalled", status, f"{r:.3f} ({cls}, {name})",
                 f"The lowest per-class recall of any model (warn below {limits.recall_warn}, fail below "
                 f"{limits.recall_floor}).", "comparison",
                 {"lowest": {n: {"class": c, "recall": v} for n, (c, v) in lowest.items()}})


def generalisation_check(externals: Mapping[str, Mapping[str, Mapping[str, float]]] | None,
                         limits: CheckSettings) -> Check:
    """`externals`: {model: {dataset: {"own": score on the own test split, "external": score there, "metric"}}}
    (the hook for external test datasets); None or empty: not run."""
    title = "Generalises to external datasets"
    if not externals:
        return Check("generalisation_gap", title, NOT_RUN, "n/a",
                     "No external test datasets in this run: the gap to another source is unknown.", "externals")
    gaps = {(m, d): float(v["own"]) - float(v["external"]) for m, per in externals.items() for d, v in per.items()}
    if not gaps:
        return Check("generalisation_gap", title, NOT_RUN, "n/a", "No external dataset was scored.", "externals")
    status = worst([PASS if g < limits.gap_warn else WARN if g < limits.gap_fail else FAIL for g in gaps.values()])
    (model, dataset), gap = max(gaps.items(), key=lambda kv: kv[1])
    metric = externals[model][dataset].get("metric", "accuracy")
    return Check("generalisation_gap", title, status, f"{gap:+.3f} {metric} lost ({model} on {dataset})",
                 f"The largest drop of the headline score (macro-F1, or the tumour vs no-tumour AUC for a set scored "
                 f"on the binary view) from the own test split to an external dataset, on the external images "
                 f"that copy no training image (warn from {limits.gap_warn}, fail from {limits.gap_fail}).",
                 "externals",
                 {"gaps": {m: {d: float(v["own"]) - float(v["external"]) for d, v in per.items()}
                           for m, per in externals.items()}})


def run_checks(results: Sequence, settings: EvaluationSettings | None = None, *, audit: Mapping | None = None,
               baseline: pd.DataFrame | None = None, baseline_name: str | None = None,
               baseline_why_not: str | None = None, externals: Mapping | None = None) -> list[Check]:
    """Every check of evaluated models (`ModelResult`s, after `assess` filled their calibration), in the
    order the report shows them."""
    settings = settings or EvaluationSettings()
    limits = settings.checks
    frames = {r.name: r.frame for r in results}
    ece = {r.name: float(((r.calibration or {}).get("before") or r.metrics)["ece"]) for r in results}
    return [
        majority_check(frames, alpha=settings.alpha),
        simple_baseline_check(frames, alpha=settings.alpha, baseline=baseline, baseline_name=baseline_name,
                              why_not=baseline_why_not),
        same_test_set_check(frames),
        copies_check(results[0].frame, results[0].duplicated, limits),
        shortcut_check(audit),
        calibration_check(ece, limits),
        recall_check({r.name: r.metrics["per_class"] for r in results}, limits),
        generalisation_check(externals, limits),
    ]


def failed_checks(checks: Sequence[Check | dict], level: str) -> list[str]:
    """Titles of the checks at or beyond `level` ("fail": failed ones; "warn": failed or warned)."""
    if level not in FAIL_ON:
        raise ValueError(f"unknown --fail-on level {level!r}; valid levels: {', '.join(FAIL_ON)}")
    floor = _SEVERITY[level]
    out = []
    for c in checks:
        c = c if isinstance(c, dict) else c.to_dict()
        if _SEVERITY[c["status"]] >= floor:
            out.append(f"{c['title']} ({c['status']}: {c['value']})")
    return out
