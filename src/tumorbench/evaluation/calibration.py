"""Calibration: binned calibration errors, reliability diagrams and temperature scaling.

Calibration errors use equal-width bins on [0, 1] (15 by default, as Guo et al. 2017). The expected
calibration error (ECE) of the top label is sum over bins |sum_{i in bin}(confidence_i - correct_i)| / n;
the class-wise ECE of class k (Kull et al. 2019) is the same with p_k and [y = k], and `classwise_ece` is
its mean over classes; the maximum calibration error (MCE) is the largest |mean confidence - accuracy| of
a non-empty bin. Written as sums over images, every one of them is a function of per-bin sums, which is
what lets the bootstrap compute them for all resamples at once.

Temperature scaling (Guo et al. 2017) divides the log-probabilities by one number T, fitted on the
validation split by minimising the cross-entropy (scipy), and leaves every decision (argmax) unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

# Log-probabilities of zero are clipped here: softmax-invariant, and finite for the optimiser.
_LOG_FLOOR = 1e-12


def bin_index(values: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin of each value in [0, 1]: bin b holds [b/bins, (b+1)/bins), the last also 1."""
    return np.minimum((np.asarray(values, dtype=np.float64) * bins).astype(np.int64), bins - 1).clip(0)


def top_label(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence = largest probability, 1.0 where that class is the true one, else 0.0)."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs.max(axis=1), (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)


def binned_gaps(scores: np.ndarray, outcomes: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bin: sum of (score - outcome) and number of images."""
    index = bin_index(scores, bins)
    gaps = np.bincount(index, weights=np.asarray(scores) - np.asarray(outcomes), minlength=bins)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    return gaps, counts


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> float:
    """Top-label ECE (see the module docstring)."""
    gaps, _ = binned_gaps(*top_label(y_true, probs), bins)
    return float(np.abs(gaps).sum() / len(y_true))


def maximum_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> float:
    """Largest |mean confidence - accuracy| over the non-empty top-label bins."""
    gaps, counts = binned_gaps(*top_label(y_true, probs), bins)
    filled = counts > 0
    return float(np.max(np.abs(gaps[filled]) / counts[filled]))


def classwise_calibration_errors(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> np.ndarray:
    """Class-wise ECE of every class (one-vs-rest probability p_k against [y = k])."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.empty(probs.shape[1])
    for k in range(probs.shape[1]):
        gaps, _ = binned_gaps(probs[:, k], (np.asarray(y_true) == k).astype(np.float64), bins)
        out[k] = np.abs(gaps).sum() / len(y_true)
    return out


def reliability(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> dict:
    """The reliability diagram's data: per non-empty top-label bin its centre, mean confidence,
    accuracy and image count (lists, JSON-ready)."""
    confidence, correct = top_label(y_true, probs)
    index = bin_index(confidence, bins)
    counts = np.bincount(index, minlength=bins)
    filled = np.flatnonzero(counts)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    acc_sum = np.bincount(index, weights=correct, minlength=bins)
    return {
        "bins": bins,
        "centre": ((filled + 0.5) / bins).tolist(),
        "confidence": (conf_sum[filled] / counts[filled]).tolist(),
        "accuracy": (acc_sum[filled] / counts[filled]).tolist(),
        "count": counts[filled].astype(int).tolist(),
    }


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _LOG_FLOOR, 1.0))


def fit_temperature(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The temperature T in [0.05, 20] minimising the cross-entropy of softmax(log p / T).

    >>> fit_temperature(np.array([0, 1]), np.array([[.6, .4, 0, 0], [.4, .6, 0, 0]])) < 1
    True
    """
    logp = _log_probs(probs)
    rows = np.arange(len(y_true))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, y_true].mean())

    # Bounded on log T: the loss is smooth there, and an all-correct validation split (T -> 0) stops at
    # the bound instead of overflowing.
    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                             options={"xatol": 1e-6})
    return float(np.exp(result.x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the calibrated probabilities (same argmax as `probs`)."""
    return softmax(_log_probs(probs) / float(temperature), axis=1)
