"""The one policy that turns scores into probabilities: a model's raw outputs and a predictions file's
probability columns go through the same `to_probabilities`, so a model whose rows sum to 1.01 gets the
same treatment whether tumorbench ran it or read its predictions file.

The policy, decided per row and then for the whole table (auto mode):

- a *probability row* has values in [0, 1] (give or take VALUE_NOISE_ATOL of float rounding) that sum
  to 1 within SUM_RENORMALISE_ATOL;
- every row a probability row: rounding noise outside [0, 1] is clipped and the rows are renormalised,
  with a note when the drift exceeds SUM_SILENT_ATOL (it could change a reported digit);
- no row a probability row and values outside [0, 1]: logits, converted with softmax and a note in
  capitals, because it changes every number downstream (rows of percentages are refused instead);
- a mix of probability rows and other rows: refused, naming the first other row (one wrong row must not
  turn a whole table of probabilities into softmaxed ones, nor be skipped);
- values in [0, 1] whose rows do not sum to 1 (independent sigmoid scores): refused;
- NaN or infinity anywhere: refused (NonFiniteOutputs), naming the rows.

A model's spec may state its outputs instead: "logits" always applies softmax, "probabilities" refuses
any row that is not a probability row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from tumorbench.classes import CLASS_NAMES

log = logging.getLogger(__name__)

# A row of probabilities may drift from 1 by float32 rounding (~1e-7) or by a writer that rounds to
# a few decimals (~1e-3). Up to SUM_SILENT_ATOL renormalising changes no reported digit, so it is done
# without a note; up to SUM_RENORMALISE_ATOL it is done with a note; beyond that the numbers are not
# probabilities and are either logits (converted, with a note) or refused.
SUM_SILENT_ATOL = 1e-4
SUM_RENORMALISE_ATOL = 0.02
# A value may leave [0, 1] by float rounding (a softmax in float32 writes 1.0000001 or -1e-8); beyond this
# it is no probability.
VALUE_NOISE_ATOL = 1e-6
MODES = ("auto", "probabilities", "logits")


class NonFiniteOutputs(ValueError):
    """Scores with NaN or infinity (a diverged network, wrongly scaled inputs, a damaged file)."""


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _row_values(row: np.ndarray) -> str:
    return ", ".join(f"{float(v):.6g}" for v in row)


def to_probabilities(
    raw: np.ndarray,
    *,
    mode: str = "auto",
    where: str,
    classes: Sequence[str] | None = CLASS_NAMES,
    name: str | None = None,
    what: str = "the outputs",
    row_name: Callable[[int], str] = lambda r: f"row {r}",
) -> tuple[np.ndarray, list[str]]:
    """Probabilities (N, n_classes) that sum to 1 per row, and the notes that describe any conversion.

    `where` names the model or file in errors, `name` (default `where`) in notes; `what` says what the
    scores are ("the outputs", "the probability columns"), `row_name` how to point at a row (a file says
    "line 5"). `classes` checks the number of columns (None: any number). The policy is this module's docstring.
    """
    if mode not in MODES:
        raise ValueError(f"{where}: outputs {mode!r} is not one of {', '.join(MODES)}")
    name = where if name is None else name
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 3 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if classes is not None and (raw.ndim != 2 or raw.shape[1] != len(classes)):
        raise ValueError(
            f"{where}: the model outputs shape {list(raw.shape)}, expected (N, {len(classes)}): one score "
            f"per class of {list(classes)}; state the model's classes (--classes) in its output order"
        )
    bad = ~np.isfinite(raw).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise NonFiniteOutputs(
            f"{where}: the model output NaN or infinite values for {len(rows)} of {len(raw)} images "
            f"(first rows {rows[:5].tolist()}); check the preprocessing spec (scaling, colour, size) "
            "and that the file is not damaged"
        )
    if len(raw) == 0:
        return raw, []
    if mode == "logits":
        return softmax(raw), [f"{name}: {what} are logits (stated in the spec): softmax applied"]
    sums = raw.sum(axis=1)
    in_range = ((raw >= -VALUE_NOISE_ATOL) & (raw <= 1.0 + VALUE_NOISE_ATOL)).all(axis=1)
    valid = in_range & (np.abs(sums - 1.0) <= SUM_RENORMALISE_ATOL)
    if valid.all():
        return _renormalised(raw, name=name, what=what)
    first = int(np.flatnonzero(~valid)[0])
    row = f"{row_name(first)} ({_row_values(raw[first])}, sum {sums[first]:.4g})"
    if mode == "probabilities":
        raise ValueError(
            f"{where}: the spec says the outputs are probabilities, but {row} is not a probability row; set "
            "outputs: logits (or auto) if the model ends without a softmax"
        )
    if valid.any():
        raise ValueError(
            f"{where}: {int(valid.sum())} rows are probabilities but {int((~valid).sum())} are not, the first at "
            f"{row}; scores are either probabilities (in [0, 1], each row summing to 1) or logits, never "
            "both: fix or remove the rows that are not probabilities (a model: state outputs: logits in its spec)"
        )
    if in_range.all():
        raise ValueError(
            f"{where}: probabilities in [0, 1] whose rows do not sum to 1 ({row_name(first)} sums to "
            f"{sums[first]:.4g}; tolerance {SUM_RENORMALISE_ATOL}); these look like independent per-class scores "
            "(sigmoid outputs?): write softmax probabilities, one distribution per row (a model: state outputs: "
            "logits in its spec)"
        )
    if raw.min() >= 0.0 and np.all(np.abs(sums - 100.0) <= 100.0 * SUM_RENORMALISE_ATOL):
        raise ValueError(f"{where}: {what} hold percentages (rows sum to 100); divide them by 100")
    # No row is a distribution and values leave [0, 1]: the usual cause is a model whose last layer has
    # no softmax, so the scores are logits and softmax recovers the probabilities.
    note = (
        f"{name}: CONVERTED FROM LOGITS: {what} were logits (no row was a probability distribution; values "
        f"from {float(raw.min()):.3g} to {float(raw.max()):.3g}): softmax applied, and every probability, loss "
        "and calibration figure of this model comes from that conversion. If they were meant as "
        "probabilities, fix the model's output instead."
    )
    log.warning("%s", note)
    return softmax(raw), [note]


def _renormalised(raw: np.ndarray, *, name: str, what: str) -> tuple[np.ndarray, list[str]]:
    """Probability rows with rounding noise clipped and drift renormalised, saying so when it shows."""
    notes: list[str] = []
    outside = int(((raw < 0.0) | (raw > 1.0)).sum())
    if outside:
        raw = np.clip(raw, 0.0, 1.0)
        notes.append(f"{name}: {outside} values outside [0, 1] by at most {VALUE_NOISE_ATOL:g} (float "
                     "rounding) were clipped to [0, 1].")
    sums = raw.sum(axis=1)
    drift = np.abs(sums - 1.0)
    if drift.max() > SUM_SILENT_ATOL:
        notes.append(
            f"{name}: {int((drift > SUM_SILENT_ATOL).sum())} rows of probabilities summed to between "
            f"{sums.min():.4f} and {sums.max():.4f} instead of 1 and were renormalised."
        )
    return raw / sums[:, None], notes
