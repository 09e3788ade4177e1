"""Colours and the metric selection (from the registry) shared by the interactive and the static figures."""

from __future__ import annotations

from tumorbench.classes import CLASS_NAMES

# Colour-blind-safe (Okabe-Ito) colours, one per class in CLASS_NAMES order.
_OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000")


class _ClassColours(dict):
    """The seed's classes keep their colours; any other class (`tumor`, `yes`) gets one of the remaining
    colours, fixed by its name so a class looks the same in every figure and report."""

    def __missing__(self, name: str) -> str:
        import zlib

        rest = _OKABE_ITO[len(CLASS_NAMES):]
        return rest[zlib.crc32(str(name).encode()) % len(rest)]


CLASS_COLOURS: dict[str, str] = _ClassColours(
    {name: _OKABE_ITO[i % len(_OKABE_ITO)] for i, name in enumerate(CLASS_NAMES)})
MODEL_COLOURS: tuple[str, ...] = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
TRAIN_COLOUR = "#4C72B0"
VAL_COLOUR = "#DD8452"
BEST_COLOUR = "#2a9d55"



def score_metrics() -> list[tuple[str, str]]:
    """(metrics_table column, label) of the grouped bar chart's scores: the registry's chart metrics
    that are higher-is-better (the seed's chart, with its F1 named exactly)."""
    from tumorbench.evaluation.declared import metrics

    return [(m.column(), m.label) for m in metrics(where="chart", overall=True) if m.higher_is_better]


def lower_metrics() -> list[tuple[str, str]]:
    """The chart's lower-is-better metrics (the loss): a panel of their own, since on the scores' 0-1
    axis a loss of 5 would flatten every other bar."""
    from tumorbench.evaluation.declared import metrics

    return [(m.column(), m.label) for m in metrics(where="chart", overall=True) if not m.higher_is_better]


def reliability_series(calibration: dict) -> list[tuple[dict, str, str]]:
    """(reliability bins, legend label, colour) of a reliability diagram: as predicted, then
    temperature-scaled when a temperature was fitted."""
    series = [(calibration["reliability_before"], "as predicted", "#C44E52")]
    if calibration.get("reliability_after"):
        series.append((calibration["reliability_after"],
                       f"temperature-scaled (T = {calibration['temperature']:.2f})", "#4C72B0"))
    return series
