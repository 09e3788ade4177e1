"""Ranking and a recommendation, written from the numbers by templates (no hand-written verdicts).

Models are ranked by macro-F1, then accuracy, then loss. Macro-F1 comes first because it weighs the
four classes equally: a missed glioma counts as much as a missed no-tumour image whatever the class
sizes, which accuracy and the weighted averages do not guarantee.

Whether the first two differ is not judged by a fixed margin but by the paired tests on the reported
(test) split (`paired.py`): McNemar for accuracy, the paired bootstrap for macro-F1, after Holm's
correction over all pairs compared; with several seeds per model, the share of seed pairs each wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tumorbench.evaluation.paired import Comparison, PairedTest
from tumorbench.evaluation.seeds import split_seed
from tumorbench.evaluation.table import metric_columns, metric_rows

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
    present = [c for c in metric_rows(metrics) if metrics["per_class"][c]["support"] > 0]
    if not present:
        return None
    return min(present, key=lambda c: (metrics["per_class"][c]["recall"], metrics["per_class"][c]["f1"]))


def predicted_only(metrics: dict) -> str | None:
    """The single class a model predicts for every image, or None if it predicts several."""
    # Column sums of the confusion matrix: a class of the model absent from the images can be predicted too.
    called = np.asarray(metrics["confusion_matrix"]).sum(axis=0)
    predicted = [c for c, n in zip(metric_columns(metrics), called) if n > 0]
    return predicted[0] if len(predicted) == 1 else None


def recommend(
    metrics_by_model: Mapping[str, dict],
    *,
    selection_metrics: Mapping[str, dict] | None = None,
    selection_basis: str = "validation split",
    evaluated_on: str = "test split",
    comparison: Comparison | None = None,
    seeds: dict | None = None,
) -> Recommendation:
    """Rank and recommend.

    `metrics_by_model` are the reported metrics (normally the test split). When `selection_metrics`
    (normally the validation split) covers every model, the ranking uses them, as model choice should
    not be made on the test split; otherwise the ranking uses `metrics_by_model` and says so.
    `comparison` (paired tests on the reported split) and `seeds` (seed_summary) say whether the
    preferred model really differs from the runner-up.
    """
    selecting = bool(selection_metrics) and set(selection_metrics) >= set(metrics_by_model)
    ranked_on = {n: selection_metrics[n] for n in metrics_by_model} if selecting else metrics_by_model
    basis = selection_basis if selecting else evaluated_on
    result = Recommendation(ranking=rank_models(ranked_on), basis=basis)
    _summary(result, ranked_on, metrics_by_model, selecting, evaluated_on, comparison, seeds)
    for name in metrics_by_model:
        sentence = _weakest_sentence(name, metrics_by_model[name])
        if sentence:
            result.weakest.append(sentence)
    _cautions(result, metrics_by_model, evaluated_on)
    return result


def _summary(result: Recommendation, ranked_on: Mapping[str, dict], reported: Mapping[str, dict],
             selecting: bool, evaluated_on: str, comparison: Comparison | None, seeds: dict | None) -> None:
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
        group = split_seed(best)[0]
        # The runner-up is another model, not another seed of the same one.
        second = next((n for n in result.ranking[1:] if split_seed(n)[0] != group), result.ranking[1])
        s = ranked_on[second]
        margin = m["macro"]["f1"] - s["macro"]["f1"]
        if margin >= 0.0005:
            why = (f"it has the highest macro-F1 on the {result.basis} ({m['macro']['f1']:.3f}{_ci(m, 'macro_f1')}, "
                   f"{margin:.3f} ahead of {second}; accuracy {m['accuracy']:.3f} vs {s['accuracy']:.3f})")
        else:
            why = (f"it ties with {second} on macro-F1 on the {result.basis} ({m['macro']['f1']:.3f}) "
                   f"and is preferred on accuracy ({m['accuracy']:.3f} vs {s['accuracy']:.3f})")
        result.summary.append(f"Prefer {best}: {why}.")
        if comparison is not None:
            for sentence in (cochran_sentence(comparison, evaluated_on),
                             difference_sentence(comparison, best, second, evaluated_on)):
                if sentence:
                    result.summary.append(sentence)
        if seeds is not None:
            sentence = seed_sentence(seeds, split_seed(best)[0], split_seed(second)[0])
            if sentence:
                result.summary.append(sentence)
    if selecting:
        r = reported[best]
        result.summary.append(
            f"On the {evaluated_on}, which played no part in the choice, {best} reaches macro-F1 "
            f"{r['macro']['f1']:.3f}{_ci(r, 'macro_f1')} and accuracy {r['accuracy']:.3f}{_ci(r, 'accuracy')}."
        )
    elif len(result.ranking) > 1:
        result.summary.append(
            f"The ranking uses the {evaluated_on} because validation predictions were not available "
            "for every model; a model chosen on the same images it is scored on looks better than it is."
        )


def _ci(metrics: dict, column: str) -> str:
    """' [0.68, 0.75]': the interval of a metric when `assess` has added it, else nothing."""
    found = (metrics.get("intervals") or {}).get(column)
    return f" [{found[0]:.3f}, {found[1]:.3f}]" if found else ""


def format_p(p: float) -> str:
    """p = 0.71, p = 0.004, p < 0.001."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def _points(t: PairedTest, confidence: float) -> str:
    # Differences of scores in [0, 1] read best in points (hundredths); costs keep their own unit.
    scale, unit, digits = (100, " points", 1) if t.metric != "expected_cost" else (1, "", 3)

    def show(x: float, sign: str = "") -> str:
        text = f"{scale * x:{sign}.{digits}f}"
        return text.replace("-0.0", "0.0") if float(text) == 0 else text  # no "-0.0"

    return f"{t.label} {show(t.difference, '+')}{unit}, {confidence:.0%} CI [{show(t.low)}, {show(t.high)}]"


def describe_test(t: PairedTest, confidence: float = 0.95) -> str:
    """'accuracy +0.5 points, 95% CI [-2.1, 3.0], McNemar p = 0.71 (12 vs 10 images flipped)'."""
    text = _points(t, confidence)
    if t.test.startswith("McNemar"):
        return f"{text}, McNemar {format_p(t.p_value)} ({t.a_only} vs {t.b_only} images flipped)"
    return f"{text}, {t.test} {format_p(t.p_value)}"


def _representative(comparison: Comparison, name: str) -> str | None:
    """The model of `name`'s seed group that the paired tests compared."""
    if name in comparison.models:
        return name
    group = split_seed(name)[0]
    return next((n for n in comparison.models if split_seed(n)[0] == group), None)


def difference_sentence(comparison: Comparison, best: str, second: str, evaluated_on: str) -> str | None:
    """Whether the preferred model and the runner-up differ on the reported split, in plain words."""
    a, b = _representative(comparison, best), _representative(comparison, second)
    if a is None or b is None or a == b:
        return None

    def tests_of(x: str, y: str) -> list[PairedTest]:
        found = (comparison.pair(x, y, "accuracy"), comparison.pair(x, y, "macro_f1"))
        return [t for t in found if t is not None]

    tests = tests_of(a, b)
    if not tests:
        return None
    pairs = len(comparison.models) * (len(comparison.models) - 1) // 2
    level = f"{100 * comparison.alpha:g} % level"
    holm = f"after Holm's correction over {pairs} pairs" if pairs > 1 else f"at the {level}"
    none = (f"No difference survives Holm's correction over {pairs} pairs" if pairs > 1
            else f"No difference is significant at the {level}")
    # With seeds, the paired tests compare each model's seed-0 training, which may not be the one ranked.
    who = "," if (a, b) == (best, second) else ", comparing the seed-0 trainings,"
    winners = {t.better for t in tests if t.better}
    if len(winners) == 1:
        winner = winners.pop()
        loser = b if winner == a else a
        details = "; ".join(describe_test(t, comparison.confidence) for t in tests_of(winner, loser))
        return f"On the {evaluated_on}{who} {winner} is better than {loser} ({holm}): {details}."
    details = "; ".join(describe_test(t, comparison.confidence) for t in tests)
    if not winners:
        return (f"On the {evaluated_on}{who} {a} and {b} do not differ: {details}. {none}; treat the two "
                "as equally good unless other considerations (size, speed, calibration) decide.")
    return f"On the {evaluated_on}{who} the tests disagree between {a} and {b} ({holm}): {details}."


def cochran_sentence(comparison: Comparison, evaluated_on: str) -> str | None:
    """Cochran's Q across more than two models: are their accuracies all equal?"""
    q = comparison.cochran_q
    if q is None:
        return None
    verdict = "differ" if q["p_value"] < comparison.alpha else "do not differ"
    return (f"Across the {len(q['models'])} compared models, the accuracies on the {evaluated_on} {verdict} "
            f"(Cochran's Q = {q['statistic']:.1f}, {format_p(q['p_value'])}).")


def seed_sentence(seeds: dict, a: str, b: str) -> str | None:
    """How often model a beat model b over their seed pairs, with the mean ± sd of both."""
    pair = next((p for p in seeds["pairs"] if (p["a"], p["b"]) == (a, b)), None)
    rows = {r["group"]: r for r in seeds["rows"]}
    if pair is None or a not in rows or b not in rows:
        return None
    key = pair["metric"]
    ra, rb = rows[a], rows[b]
    wins = pair["share"] * pair["pairs"]
    from tumorbench.evaluation.declared import metric

    return (f"Over {ra['seeds']} and {rb['seeds']} training seeds, {a} beats {b} on {metric(key).label} "
            f"in {wins:g} of {pair['pairs']} seed pairs ({100 * pair['share']:.0f} %; {ra[key + '.mean']:.3f} ± "
            f"{ra[key + '.sd']:.3f} vs {rb[key + '.mean']:.3f} ± {rb[key + '.sd']:.3f}, mean ± sd over seeds).")


def _weakest_sentence(name: str, metrics: dict) -> str | None:
    cls = weakest_class(metrics)
    if cls is None:
        return None
    row = metrics["per_class"][cls]
    row_of = metrics["confusion_matrix"][metric_rows(metrics).index(cls)]
    confused = [(count, c) for c, count in zip(metric_columns(metrics), row_of) if c != cls]
    count, other = max(confused)
    sentence = f"{name}: weakest class {cls}, recall {row['recall']:.2f}"
    interval = (metrics.get("intervals") or {}).get(f"{cls}_recall")
    if interval is not None:
        sentence += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    sentence += f" ({row['tp']} of {row['support']} found"
    if count > 0:
        sentence += f"; most often taken for {other}, {count} images"
    return sentence + ")."


def _cautions(result: Recommendation, metrics_by_model: Mapping[str, dict], evaluated_on: str) -> None:
    for name, m in metrics_by_model.items():
        only = predicted_only(m)
        supports = {c: m["per_class"][c]["support"] for c in metric_rows(m)}
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
