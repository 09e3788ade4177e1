"""Training one model: phases, epochs, validation, and the best checkpoint on validation.

A model trains in one phase (the seed's CNNs, or a transfer model without pretrained weights) or in
two (transfer models with weights: the head on a frozen base, then the upper blocks at a lower
learning rate). Whatever is frozen in a phase and sees no augmentation computes the same output every
epoch, so it runs once and its output is cached: that makes the frozen-base phase of Inception v3
about as cheap as training a linear model, on the CPU too.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import ResolvedModel
from tumorbench.data.augment import AffineAugment
from tumorbench.data.balance import plan_epoch
from tumorbench.models import create_model
from tumorbench.models.transfer import TransferNet, build_transfer
from tumorbench.models.weights import resolve_weights
from tumorbench.training.arrays import ImageArrays, plan_batches, sequential_batches
from tumorbench.training.losses import make_loss

log = logging.getLogger(__name__)

CACHE_LIMIT_BYTES = 4 << 30  # frozen outputs above this are recomputed each epoch instead of kept


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the model cannot be trained with these settings.

    `epoch` (1-based) and `reason` say where and what; the run records the model as failed and goes on.
    """

    def __init__(self, reason: str, *, epoch: int | None = None):
        self.reason, self.epoch = reason, epoch
        super().__init__(reason if epoch is None else f"epoch {epoch}: {reason}")

    def at_epoch(self, epoch: int) -> TrainingDiverged:
        return TrainingDiverged(self.reason, epoch=epoch)


@dataclass
class Phase:
    name: str  # "train", "head" or "finetune"
    epochs: int
    lr: float
    frozen: nn.Module  # runs under no_grad in eval mode; its output may be cached
    trainable: nn.Module  # receives gradients


@dataclass
class FitResult:
    model: nn.Module  # holds the best weights on validation
    history: dict  # Keras-style: metric name -> list over epochs, plus best_epoch
    best_epoch: int
    weights_source: str  # "imagenet", "file:PATH" or "none"
    notes: list[str] = field(default_factory=list)
    class_weights: list[float] | None = None
    train_seconds: float = 0.0


def _freeze_batchnorm(module: nn.Module) -> None:
    # Keras keeps BatchNorm in inference mode when fine-tuning a pretrained base; so do we, which
    # keeps ImageNet statistics intact with small batches.
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def build_network(rm: ResolvedModel) -> tuple[nn.Module, list[Phase], str, list[str]]:
    """The network and its training phases; pretrained weights are resolved here."""
    notes: list[str] = []
    if not rm.transfer:
        net = create_model(rm.architecture, rm.preprocess)
        return net, [Phase("train", rm.epochs, rm.lr, nn.Identity(), net)], "none", notes
    state, source, note = resolve_weights(rm.architecture, rm.weights)
    if note:
        notes.append(note)
    net = build_transfer(rm.architecture, len(CLASS_NAMES), state)
    assert isinstance(net, TransferNet)
    if state is None:  # from scratch: nothing to freeze
        return net, [Phase("train", rm.epochs, rm.lr, nn.Identity(), net)], source, notes
    phases = [Phase("head", rm.epochs, rm.lr, nn.Sequential(net.prefix, net.upper, net.pool), net.head)]
    if rm.finetune_epochs > 0:
        phases.append(Phase("finetune", rm.finetune_epochs, rm.lr * rm.finetune_lr_factor,
                            net.prefix, nn.Sequential(net.upper, net.pool, net.head)))
    return net, phases, source, notes


@torch.no_grad()
def _frozen_outputs(frozen: nn.Module, data: ImageArrays, rm: ResolvedModel, device: torch.device) -> torch.Tensor | None:
    """Run the frozen part once over `data`; None when it is the identity or too big to keep."""
    if isinstance(frozen, nn.Identity) or len(data) == 0:
        return None
    frozen.eval()
    probe = frozen(rm.preprocess.to_tensor(data.x[:1]).to(device))
    if probe[0].numel() * 4 * len(data) > CACHE_LIMIT_BYTES:
        return None
    outs = [frozen(x).cpu() for x in sequential_batches(data, batch_size=rm.batch_size, spec=rm.preprocess, device=device)]
    return torch.cat(outs)


def _evaluate(phase: Phase, data: ImageArrays, cached: torch.Tensor | None, loss_fn: nn.Module,
              rm: ResolvedModel, device: torch.device) -> dict[str, float]:
    phase.frozen.eval()
    phase.trainable.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        if cached is not None:
            batches = (cached[i:i + rm.batch_size].to(device) for i in range(0, len(cached), rm.batch_size))
            run = phase.trainable
        else:
            batches = sequential_batches(data, batch_size=rm.batch_size, spec=rm.preprocess, device=device)
            run = lambda x: phase.trainable(phase.frozen(x))  # noqa: E731
        for start, x in zip(range(0, len(data), rm.batch_size), batches):
            y = data.y[start:start + rm.batch_size].to(device)
            logits = run(x)
            # Validation loss is plain cross-entropy whatever the training loss: comparable across strategies.
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1)}


def train_one_epoch(phase: Phase, data: ImageArrays, cached: torch.Tensor | None, *, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, rm: ResolvedModel, rng: np.random.Generator,
                    generator: torch.Generator, device: torch.device, desc: str) -> dict[str, float]:
    """One pass over the epoch plan; returns {'loss', 'accuracy'} on what it trained on."""
    plan = plan_epoch(data.y.numpy(), rm.balance, rng, n_classes=len(CLASS_NAMES))
    seen = np.bincount(data.y.numpy()[plan.indices], minlength=len(CLASS_NAMES))
    augment = AffineAugment() if plan.augment.any() else None
    phase.trainable.train()
    phase.frozen.eval()
    _freeze_batchnorm(phase.frozen)
    if isinstance(phase.trainable, nn.Sequential) and phase.name == "finetune":
        _freeze_batchnorm(phase.trainable[0])
    use_cache = cached is not None and augment is None
    total, correct, loss_sum = 0, 0, 0.0
    n_batches = -(-len(plan.indices) // rm.batch_size)
    if use_cache:
        batches = ((cached[torch.from_numpy(plan.indices[i:i + rm.batch_size])].to(device),
                    data.y[torch.from_numpy(plan.indices[i:i + rm.batch_size])].to(device))
                   for i in range(0, len(plan.indices), rm.batch_size))
    else:
        batches = plan_batches(data, plan, batch_size=rm.batch_size, spec=rm.preprocess, device=device,
                               augment=augment, generator=generator)
    for step, (x, y) in enumerate(tqdm(batches, total=n_batches, desc=desc, leave=False, disable=None), 1):
        if not use_cache:
            with torch.no_grad():
                x = phase.frozen(x)
        logits = phase.trainable(x)
        loss = loss_fn(logits, y)
        value = float(loss.detach())  # the value is needed for the epoch's mean anyway: no extra sync
        if not math.isfinite(value):
            # Checked before the step: one NaN gradient would turn every weight into NaN.
            raise TrainingDiverged(f"the training loss became {value} at batch {step} of {n_batches} "
                                   f"(learning rate {optimizer.param_groups[0]['lr']:g}); lower the learning "
                                   "rate (train.lr or <model>.lr)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += value * len(y)
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1),
            "class_counts": seen.tolist(), "augmented": int(plan.augment.sum())}


def _better(row: dict, best: dict | None, monitor: str) -> bool:
    if best is None:
        return True
    if monitor == "val_loss":
        return row["val_loss"] < best["val_loss"]
    return (row["val_accuracy"], -row["val_loss"]) > (best["val_accuracy"], -best["val_loss"])


def fit(rm: ResolvedModel, train: ImageArrays, val: ImageArrays, *, device: torch.device) -> FitResult:
    """Train `rm` on `train`, choose the epoch on `val`, return the best model and its history.

    Only `train` passes through the balancing plan and augmentation; `val` is evaluated as it is.
    """
    seed = rm.seed
    torch.manual_seed(seed)  # the same seed gives the same initialisation whatever ran before
    net, phases, source, notes = build_network(rm)
    net.to(device)
    labels = train.y.numpy()
    loss_fn, class_weights = make_loss(rm.balance, labels, len(CLASS_NAMES), focal_gamma=rm.focal_gamma,
                                       focal_weighted=rm.focal_weighted)
    loss_fn.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list] = {k: [] for k in
                                ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                                 "class_counts", "augmented")}
    best_row, best_state = None, None
    started = time.perf_counter()
    epoch = 0
    for phase in phases:
        for p in net.parameters():
            p.requires_grad_(False)
        for p in phase.trainable.parameters():
            p.requires_grad_(True)
        cached_train = _frozen_outputs(phase.frozen, train, rm, device)
        cached_val = _frozen_outputs(phase.frozen, val, rm, device)
        optimizer = torch.optim.Adam([p for p in phase.trainable.parameters() if p.requires_grad], lr=phase.lr)
        for _ in range(phase.epochs):
            epoch += 1
            t0 = time.perf_counter()
            desc = f"{rm.name} epoch {epoch}" + (f" ({phase.name})" if len(phases) > 1 else "")
            try:
                fit_stats = train_one_epoch(phase, train, cached_train, loss_fn=loss_fn, optimizer=optimizer,
                                            rm=rm, rng=rng, generator=generator, device=device, desc=desc)
            except TrainingDiverged as exc:
                raise exc.at_epoch(epoch) from None
            val_stats = _evaluate(phase, val, cached_val, loss_fn, rm, device)
            if not math.isfinite(val_stats["loss"]):
                # Finite training losses can still leave weights that overflow on other images.
                raise TrainingDiverged(f"the validation loss became {val_stats['loss']} (learning rate "
                                       f"{phase.lr:g}); lower the learning rate (train.lr or <model>.lr)",
                                       epoch=epoch)
            row = {"epoch": epoch, "phase": phase.name, "loss": fit_stats["loss"],
                   "accuracy": fit_stats["accuracy"], "val_loss": val_stats["loss"],
                   "val_accuracy": val_stats["accuracy"], "lr": phase.lr,
                   "seconds": round(time.perf_counter() - t0, 3),
                   "class_counts": fit_stats["class_counts"], "augmented": fit_stats["augmented"]}
            for key, value in row.items():
                history[key].append(value)
            log.info("%s: loss %.4f acc %.4f val_loss %.4f val_acc %.4f (%.1fs)", desc, row["loss"],
                     row["accuracy"], row["val_loss"], row["val_accuracy"], row["seconds"])
            if _better(row, best_row, rm.monitor):
                best_row = row
                # A real copy: state_dict() returns live references that the next step would change.
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    assert best_state is not None and best_row is not None
    net.load_state_dict(best_state)
    net.eval()
    history["best_epoch"] = best_row["epoch"]
    return FitResult(model=net, history=history, best_epoch=best_row["epoch"], weights_source=source,
                     notes=notes, class_weights=None if class_weights is None else list(map(float, class_weights)),
                     train_seconds=round(time.perf_counter() - started, 3))


@torch.no_grad()
def predict_proba(model: nn.Module, data: ImageArrays, *, spec, device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities (N, n_classes) in dataset order."""
    model.eval()
    out = [F.softmax(model(x).float(), dim=1).cpu() for x in
           sequential_batches(data, batch_size=batch_size, spec=spec, device=device)]
    if not out:
        return np.zeros((0, len(CLASS_NAMES)))
    return torch.cat(out).double().numpy()
