"""Class-balancing strategies: what the training loop sees in one epoch, and how the loss weighs it.

Every strategy touches the training split only: the plan is built from training labels, and
validation and test data never pass through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGIES: dict[str, str] = {
    "none": "the data as it is",
    "oversample": "minority classes resampled with replacement up to the majority count, anew each epoch",
    "undersample": "majority classes subsampled to the minority count, a new draw each epoch",
    "class_weight": "weighted cross-entropy with scikit-learn's 'balanced' weights n / (k * n_i)",
    "augment_balance": "the seed's Model 2: augmented copies bring every class to the majority count",
    "weighted_sampler": "a sampler drawing every class equally often (with replacement)",
    "focal": "focal loss (gamma 2 by default), optionally with class weights",
}


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise ValueError(
            f"unknown balancing strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}"
        )
    return name


@dataclass(frozen=True)
class EpochPlan:
    indices: np.ndarray  # positions into the training set, in the order the epoch visits them
    augment: np.ndarray  # bool per position: draw a random augmentation for this sample


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced' weights, n_samples / (n_classes * n_i); 0 for an absent class."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


def plan_epoch(labels: np.ndarray, strategy: str, rng: np.random.Generator, *, n_classes: int) -> EpochPlan:
    """The shuffled sample order of one epoch under `strategy`."""
    check_strategy(strategy)
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c) for c in range(n_classes)]
    present = [idx for idx in by_class if len(idx)]
    majority = max(len(idx) for idx in present)
    minority = min(len(idx) for idx in present)
    augment_parts: list[np.ndarray] = []
    if strategy == "oversample":
        parts = [np.concatenate([idx, rng.choice(idx, majority - len(idx))]) for idx in present]
    elif strategy == "undersample":
        parts = [rng.choice(idx, minority, replace=False) for idx in present]
    elif strategy == "weighted_sampler":
        # Same epoch length as the data; every draw picks a class uniformly, then an image of it.
        classes = rng.integers(len(present), size=len(labels))
        parts = [rng.choice(present[k], int((classes == k).sum())) for k in range(len(present))]
    elif strategy == "augment_balance":
        parts = list(present)
        augment_parts = [rng.choice(idx, majority - len(idx)) for idx in present]
    else:  # none, class_weight, focal: the data as it is; the loss does the balancing
        parts = list(present)
    plain = np.concatenate(parts)
    extra = np.concatenate(augment_parts) if augment_parts else np.empty(0, dtype=np.int64)
    indices = np.concatenate([plain, extra]).astype(np.int64)
    augment = np.concatenate([np.zeros(len(plain), bool), np.ones(len(extra), bool)])
    order = rng.permutation(len(indices))
    return EpochPlan(indices=indices[order], augment=augment[order])
