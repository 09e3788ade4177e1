"""Ranking and a recommendation, written from the numbers by templates (no hand-written verdicts).

Models are ranked by macro-F1, then accuracy, then loss. Macro-F1 comes first because it weighs the
four classes equally: a missed glioma counts as much as a missed no-tumour image whatever the class
sizes, which accuracy and the weighted averages do not guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tumorbench.classes import CLASS_NAMES

# Below this macro-F1 margin two models are called practically tied: on a few hundred test images it is
# about the effect of one or two images changing class.
SMALL_MARGIN = 0.01
_MAX_PAIRS = 5
# A model within this accuracy of "always answer the largest class" has learned next to nothing.
NEAR_MAJORITY = 0.05


@dataclass
class Recommendation:
    ranking: list[str]  # model names, best first
    basis: str  # which predictions the ranking uses, in words ("validation split", ...)
    summary: list[str] = field(default_factory=list)  # which model to prefer and why
    weakest: list[str] = field(default_factory=list)  # each model's weakest class
    cautions: list[str] = field(default_factory=list)  # degenerate models, loss vs accuracy


def rank_models(metrics_by_model: Mapping[str, dict]) -> list[str]:
    """Model names best first: macro-F1 (higher), then accuracy (higher), then loss (lower)."""
    return sorted(
        metrics_by_model,
        key=lambda name: (
            -metrics_by_model[name]["macro"]["f1"],
            -metrics_by_model[name]["accuracy"],
            metrics_by_model[name]["loss"],
        ),
    )


def weakest_class(metrics: dict) -> str | None:
    """The class with the lowest recall among those with true images (ties: lower F1)."""
    present = [c for c in CLASS_NAMES if metrics["per_class"][c]["support"] > 0]
    if not present:
        return None
    return min(present, key=lambda c: (metrics["per_class"][c]["recall"], metrics["per_class"][c]["f1"]))


def predicted_only(metrics: dict) -> str | None:
    """The single class a model predicts for every image, or None if it predicts several."""
    predicted = [c for c in CLASS_NAMES if metrics["per_class"][c]["tp"] + metrics["per_class"][c]["fp"] > 0]
    return predicted[0] if len(predicted) == 1 else None


def recommend(
    metrics_by_model: Mapping[str, dict],
    *,
    selection_metrics: Mapping[str, dict] | None = None,
    selection_basis: str = "validation split",
    evaluated_on: str = "test split",
) -> Recommendation:
    """Rank and recommend.

    `metrics_by_model` are the reported metrics (normally the test split). When `selection_metrics`
    (normally the validation split) covers every model, the ranking uses them, as model choice should
    not be made on the test split; otherwise the ranking uses `metrics_by_model` and says so.
    """
    selecting = bool(selection_metrics) and set(selection_metrics) >= set(metrics_by_model)
    ranked_on = {n: selection_metrics[n] for n in metrics_by_model} if selecting else metrics_by_model
    basis = selection_basis if selecting else evaluated_on
    result = Recommendation(ranking=rank_models(ranked_on), basis=basis)
    _summary(result, ranked_on, metrics_by_model, selecting, evaluated_on)
    for name in metrics_by_model:
        sentence = _weakest_sentence(name, metrics_by_model[name])
        if sentence:
            result.weakest.append(sentence)
    _cautions(result, metrics_by_model, evaluated_on)
    return result


def _summary(result: Recommendation, ranked_on: Mapping[str, dict], reported: Mapping[str, dict],
             selecting: bool, evaluated_on: str) -> None:
    best = result.ranking[0]
    m = ranked_on[best]
    if all(predicted_only(m) is not None for m in reported.values()):
        result.summary.append(
            "No model can be recommended: every model predicts a single class for all images."
        )
        return
    if len(result.ranking) == 1:
        result.summary.append(
            f"Only one model was evaluated ({best}): nothing to compare. On the {result.basis} it "
            f"reaches macro-F1 {m['macro']['f1']:.3f} and accuracy {m['accuracy']:.3f}."
        )
    else:
        second = result.ranking[1]
        s = ranked_on[second]
        margin = m["macro"]["f1"] - s["macro"]["f1"]
        if margin >= 0.0005:
            why = (f"it has the highest macro-F1 on the {result.basis} ({m['macro']['f1']:.3f}, "
                   f"{margin:.3f} ahead of {second}; accuracy {m['accuracy']:.3f} vs {s['accuracy']:.3f})")
        else:
            why = (f"it ties with {second} on macro-F1 on the {result.basis} ({m['macro']['f1']:.3f}) "
                   f"and is preferred on accuracy ({m['accuracy']:.3f} vs {s['accuracy']:.3f})")
        result.summary.append(f"Prefer {best}: {why}.")
        if margin < SMALL_MARGIN:
            result.summary.append(
                f"The margin over {second} is small (under {SMALL_MARGIN}): a different sample of "
                "images could reverse the order, so treat the two as equally good unless other "
                "considerations (size, speed, calibration) decide."
            )
    if selecting:
        r = reported[best]
        result.summary.append(
            f"On the {evaluated_on}, which played no part in the choice, {best} reaches macro-F1 "
            f"{r['macro']['f1']:.3f} and accuracy {r['accuracy']:.3f}."
        )
    elif len(result.ranking) > 1:
        result.summary.append(
            f"The ranking uses the {evaluated_on} because validation predictions were not available "
            "for every model; a model chosen on the same images it is scored on looks better than it is."
        )


def _weakest_sentence(name: str, metrics: dict) -> str | None:
    cls = weakest_class(metrics)
    if cls is None:
        return None
    row = metrics["per_class"][cls]
    k = CLASS_NAMES.index(cls)
    confused = [(count, CLASS_NAMES[j]) for j, count in enumerate(metrics["confusion_matrix"][k]) if j != k]
    count, other = max(confused)
    sentence = f"{name}: weakest class {cls}, recall {row['recall']:.2f} ({row['tp']} of {row['support']} found"
    if count > 0:
        sentence += f"; most often taken for {other}, {count} images"
    return sentence + ")."


def _cautions(result: Recommendation, metrics_by_model: Mapping[str, dict], evaluated_on: str) -> None:
    for name, m in metrics_by_model.items():
        only = predicted_only(m)
        supports = {c: m["per_class"][c]["support"] for c in CLASS_NAMES}
        majority = max(supports, key=supports.get)
        majority_share = supports[majority] / m["n"]
        if only is not None:
            result.cautions.append(
                f"{name} predicts {only} for every image: it has not learned to tell the classes apart "
                f"(its accuracy {m['accuracy']:.3f} is just the share of {only} images)."
            )
        elif m["accuracy"] < majority_share + NEAR_MAJORITY:
            result.cautions.append(
                f"{name} is barely better than always answering {majority}, the largest class "
                f"(accuracy {m['accuracy']:.3f} vs {majority_share:.3f}): it has learned little."
            )
    pairs = []
    names = list(metrics_by_model)
    for a in names:
        for b in names:
            ma, mb = metrics_by_model[a], metrics_by_model[b]
            if ma["accuracy"] > mb["accuracy"] and ma["loss"] > mb["loss"]:
                pairs.append(
                    f"{a} is more accurate than {b} on the {evaluated_on} ({ma['accuracy']:.3f} vs "
                    f"{mb['accuracy']:.3f}) but has a higher loss ({ma['loss']:.3f} vs {mb['loss']:.3f}): "
                    f"{a} is more confidently wrong when it errs, so its probabilities deserve less trust "
                    "than its decisions."
                )
    result.cautions.extend(pairs[:_MAX_PAIRS])
    if len(pairs) > _MAX_PAIRS:
        result.cautions.append(f"... and {len(pairs) - _MAX_PAIRS} more pairs where loss and accuracy disagree.")
