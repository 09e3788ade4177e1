"""Losses for the balancing strategies: cross-entropy, class-weighted cross-entropy, focal loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tumorbench.data.balance import balanced_class_weights


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)^gamma, optionally weighted."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        loss = -((1 - log_p.exp()) ** self.gamma) * log_p
        if self.weight is not None:
            w = self.weight[target]
            return (loss * w).sum() / w.sum()
        return loss.mean()


def make_loss(strategy: str, train_labels: np.ndarray, n_classes: int, *, focal_gamma: float = 2.0,
              focal_weighted: bool = False, label_smoothing: float = 0.0) -> tuple[nn.Module, np.ndarray | None]:
    """The training loss for a balancing strategy, and the class weights it uses (None if unweighted).

    `label_smoothing` applies to the cross-entropy losses (the focal loss already down-weights the
    confident examples that smoothing is meant to tame)."""
    weights = balanced_class_weights(train_labels, n_classes)
    as_tensor = torch.tensor(weights, dtype=torch.float32)
    if strategy == "class_weight":
        return nn.CrossEntropyLoss(weight=as_tensor, label_smoothing=label_smoothing), weights
    if strategy == "focal":
        if focal_weighted:
            return FocalLoss(gamma=focal_gamma, weight=as_tensor), weights
        return FocalLoss(gamma=focal_gamma), None
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing), None
