"""The training options `tb.run` and `tb.study_imbalance` take as keywords, typed, and the check that every
other keyword is a report option: a misspelt option (`image_sise=64`) stops the command before any training,
naming it and the valid ones, instead of reaching the report after the training (or nowhere).

    TrainingOptions.split({"image_size": 64, "plotly": "cdn"})
    # -> (TrainingOptions(image_size=64, ...), {'plotly': 'cdn'})
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

REPORT_OPTIONS = ("plotly", "sources")  # the keywords of `write_report` a run's report leaves to the caller


@dataclass(frozen=True)
class TrainingOptions:
    """Config values given as keywords; None leaves the config's (or the preset's) value."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    image_size: int | None = None
    seed: int | None = None
    device: str | None = None
    precision: str | None = None
    deterministic: bool | None = None
    weights: str | None = None
    class_map: str | Mapping[str, str] | None = None

    @classmethod
    def split(cls, options: Mapping[str, Any], *, command: str) -> tuple[TrainingOptions, dict[str, Any]]:
        """The training options among `options` and the report options, the rest; raises ValueError naming
        an option that is neither (and the closest valid one)."""
        check_options(options, valid=(*TRAINING_OPTIONS, *REPORT_OPTIONS), command=command)
        training = cls(**{k: v for k, v in options.items() if k in TRAINING_OPTIONS})
        return training, {k: v for k, v in options.items() if k not in TRAINING_OPTIONS}

    def as_overrides(self) -> dict[str, Any]:
        return asdict(self)


TRAINING_OPTIONS = tuple(f.name for f in fields(TrainingOptions))


def check_options(options: Mapping[str, Any], *, valid: tuple[str, ...], command: str) -> None:
    unknown = [k for k in options if k not in valid]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"{command}() got an unknown option {name!r}; {hint}valid options: "
                         f"{', '.join(sorted(valid))}")
