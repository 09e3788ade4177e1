"""Turning a foreign model's raw outputs into probabilities, saying what was done."""

from __future__ import annotations

import numpy as np

from tumorbench.classes import CLASS_NAMES

# float32 softmax rows sum to 1 within ~1e-6; a model that rounds its outputs may drift a little more.
# Rows within this of 1 (and never negative) are probabilities; anything else is read as logits.
SUM_ATOL = 1e-3


class NonFiniteOutputs(ValueError):
    """A model output NaN or infinity (a diverged network, or wrongly scaled inputs)."""


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def to_probabilities(raw: np.ndarray, *, mode: str, where: str,
                     classes=CLASS_NAMES) -> tuple[np.ndarray, list[str]]:
    """Probabilities (N, n_classes) from raw outputs and the notes that describe any conversion.

    mode: "auto" detects logits (a negative value, or a row not summing to 1), "logits" always applies
    softmax, "probabilities" refuses rows that are not probabilities. NaN, infinity and a wrong number
    of classes are errors naming the model.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 3 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 2 or raw.shape[1] != len(classes):
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
    sums = raw.sum(axis=1)
    negative = bool((raw < 0).any())
    off = float(np.abs(sums - 1.0).max())
    looks_probabilities = not negative and off <= SUM_ATOL
    if mode == "logits":
        return softmax(raw), ["outputs are logits (stated in the spec): softmax applied"]
    if mode == "probabilities":
        if not looks_probabilities:
            why = "negative values" if negative else f"rows summing to {sums.min():.4g}..{sums.max():.4g}"
            raise ValueError(
                f"{where}: the spec says the outputs are probabilities, but they have {why}; set "
                "outputs: logits (or auto) if the model ends without a softmax"
            )
        return raw / sums[:, None], []
    if looks_probabilities:
        return raw / sums[:, None], []
    why = "negative values" if negative else f"rows summing to {sums.min():.4g}..{sums.max():.4g}, not 1"
    return softmax(raw), [f"outputs were logits ({why}): softmax applied"]
