"""Training one model: phases, epochs, validation, and the best checkpoint on validation.

A model trains in one phase (the seed's CNNs, or a transfer model without pretrained weights) or in
two (transfer models with weights: the head on a frozen base, then the upper blocks at a lower
learning rate). Whatever is frozen in a phase and sees no augmentation computes the same output every
epoch, so it runs once and its output is cached: that makes the frozen-base phase of Inception v3
about as cheap as training a linear model, on the CPU too.

The module is cohesive rather than small: one training loop and the pieces only it uses (phases,
frozen-output cache, micro-batches, schedule, checkpoint choice, and a refit's stop after the chosen
epoch), which read and change the same per-epoch state.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function
from tqdm.auto import tqdm

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import ResolvedModel
from tumorbench.data.arrays import ImageArrays
from tumorbench.data.augment import AffineAugment, StrongAugment
from tumorbench.data.balance import plan_epoch
from tumorbench.inference.compute import ComputePlan, plan_compute
from tumorbench.models import create_model
from tumorbench.models.fitted import FittedModel
from tumorbench.models.transfer import TransferNet, build_transfer
from tumorbench.models.weights import resolve_weights
from tumorbench.progress import current_job
from tumorbench.training.arrays import plan_batches, sequential_batches
from tumorbench.training.losses import make_loss

log = logging.getLogger(__name__)

CACHE_LIMIT_BYTES = 4 << 30  # frozen outputs above this are recomputed each epoch instead of kept
# Activations autograd may keep for one backward pass. A batch that needs more is run as micro-batches
# whose gradients add up to the batch's. The seed CNN at 256 px keeps ~57 MB per image (a batch of 32:
# 1.8 GB, and peak RSS 3.6 GB). Measured on Sartaj at 256 px (500 images, one epoch, peak RSS of the
# whole run): 2.74 GB with micro-batches of 8 and evaluation batches of 32; 2.25 GB with evaluation
# batches of 8; 1.97 GB (a 140-image subset) with this budget, micro-batches of 5, at the same speed.
# At 128 px and below a batch of 32 fits and nothing changes.
ACTIVATION_BUDGET_BYTES = 256 << 20


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


def build_network(rm: ResolvedModel,
                  n_classes: int = len(CLASS_NAMES)) -> tuple[nn.Module, list[Phase], str, list[str]]:
    """The network (`n_classes` outputs: the training split's classes) and its training phases;
    pretrained weights are resolved here."""
    notes: list[str] = []
    if not rm.transfer:
        net = create_model(rm.architecture, rm.preprocess, num_classes=n_classes)
        return net, [Phase("train", rm.epochs, rm.lr, nn.Identity(), net)], "none", notes
    state, source, note = resolve_weights(rm.architecture, rm.weights)
    if note:
        notes.append(note)
    net = build_transfer(rm.architecture, n_classes, state)
    assert isinstance(net, TransferNet)
    if state is None:  # from scratch: nothing to freeze
        return net, [Phase("train", rm.epochs, rm.lr, nn.Identity(), net)], source, notes
    phases = [Phase("head", rm.epochs, rm.lr, nn.Sequential(net.prefix, net.upper, net.pool), net.head)]
    if rm.finetune_epochs > 0:
        phases.append(Phase("finetune", rm.finetune_epochs, rm.lr * rm.finetune_lr_factor,
                            net.prefix, nn.Sequential(net.upper, net.pool, net.head)))
    return net, phases, source, notes


@torch.no_grad()  # not inference mode: the trainable part takes gradients through these outputs
def _frozen_outputs(frozen: nn.Module, data: ImageArrays, rm: ResolvedModel,
                    compute: ComputePlan) -> torch.Tensor | None:
    """Run the frozen part once over `data`; None when it is the identity or too big to keep."""
    if isinstance(frozen, nn.Identity) or len(data) == 0:
        return None
    frozen.eval()
    with compute.autocast():
        probe = frozen(rm.preprocess.to_tensor(compute.to_input(data.images(slice(0, 1)))))
    if probe[0].numel() * 4 * len(data) > CACHE_LIMIT_BYTES:
        return None
    batch_size = compute.eval_batch_size(rm.preprocess.size)
    with compute.autocast():
        outs = [frozen(x).float().cpu() for x in
                sequential_batches(data, batch_size=batch_size, spec=rm.preprocess, place=compute.to_input)]
    return torch.cat(outs)


def _evaluate(phase: Phase, data: ImageArrays | None, cached: torch.Tensor | None, loss_fn: nn.Module,
              rm: ResolvedModel, compute: ComputePlan) -> dict[str, float | None]:
    if data is None:  # a refit: no validation split, nothing to measure
        return {"loss": None, "accuracy": None}
    phase.frozen.eval()
    phase.trainable.eval()
    total, correct, loss_sum = 0, 0, 0.0
    batch_size = compute.eval_batch_size(rm.preprocess.size)
    with compute.no_grad(), compute.autocast():
        if cached is not None:
            batches = (compute.to_input(cached[i:i + batch_size]) for i in range(0, len(cached), batch_size))
            run = phase.trainable
        else:
            batches = sequential_batches(data, batch_size=batch_size, spec=rm.preprocess, place=compute.to_input)
            run = lambda x: phase.trainable(phase.frozen(x))  # noqa: E731
        for start, x in zip(range(0, len(data), batch_size), batches):
            y = data.y[start:start + batch_size].to(compute.device)
            logits = run(x).float()
            # Validation loss is plain cross-entropy whatever the training loss: comparable across strategies.
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1)}


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def micro_batch_size(phase: Phase, probe: torch.Tensor, batch_size: int, compute: ComputePlan,
                     budget: int = ACTIVATION_BUDGET_BYTES) -> int:
    """Images per forward/backward so that the activations kept for backward stay within `budget`.

    Measured, not guessed: forwards of one and of two inputs of the trainable part (`probe`) count the
    distinct storages autograd saves, parameters aside, and their difference is what each image adds.
    The difference, not the total over the probe: under autocast the bf16 copies of the weights are
    saved too, a fixed cost per micro-batch (30 M weights in bf16, as the seed CNN's dense layer had: 61 MB)
    that counted as 30 MB per image made micro-batches of 4 where 8 fit, and every extra micro-batch
    casts those weights and their gradients once more. Networks with BatchNorm always take the whole
    batch (their statistics depend on it); the probe runs with the random state restored, so it does
    not change the run."""
    if _has_batchnorm(phase.trainable) or len(probe) == 0:
        return batch_size
    params = {p.untyped_storage().data_ptr() for p in phase.trainable.parameters()}

    def saved_bytes(x: torch.Tensor) -> int:
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in params:
                saved[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.random.fork_rng(devices=[]), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                compute.autocast():
            phase.trainable(x)
        return sum(saved.values())

    was_training = phase.trainable.training
    phase.trainable.train()
    if len(probe) >= 2:
        per_image = max(saved_bytes(probe[:2].clone()) - saved_bytes(probe[:1].clone()), 1.0)
    else:
        per_image = max(saved_bytes(probe), 1.0)
    phase.trainable.train(was_training)
    if per_image * batch_size <= budget:
        return batch_size
    n_micro = -(-int(per_image * batch_size) // budget)  # as few micro-batches as fit the budget
    return -(-batch_size // n_micro)


def train_one_epoch(phase: Phase, data: ImageArrays, cached: torch.Tensor | None, *, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, rm: ResolvedModel, rng: np.random.Generator,
                    generator: torch.Generator, compute: ComputePlan, desc: str,
                    scaler: torch.amp.GradScaler | None = None, micro_batch: int | None = None) -> dict[str, float]:
    """One pass over the epoch plan; returns {'loss', 'accuracy'} on what it trained on.

    `micro_batch` (see `micro_batch_size`) splits each batch into parts whose gradients are added up
    before the optimizer step: the same step as the whole batch, with less memory."""
    plan = plan_epoch(data.y.numpy(), rm.balance, rng, n_classes=data.n_classes)
    seen = np.bincount(data.y.numpy()[plan.indices], minlength=data.n_classes)
    if rm.augment == "strong":  # every image, not only the balancing plan's copies
        plan = dataclasses.replace(plan, augment=np.ones_like(plan.augment))
        augment = StrongAugment()
    else:
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
        batches = ((compute.to_input(cached[torch.from_numpy(plan.indices[i:i + rm.batch_size])]),
                    data.y[torch.from_numpy(plan.indices[i:i + rm.batch_size])].to(compute.device))
                   for i in range(0, len(plan.indices), rm.batch_size))
    else:
        batches = plan_batches(data, plan, batch_size=rm.batch_size, spec=rm.preprocess, place=compute.to_input,
                               augment=augment, generator=generator)
    batches = _marked(iter(tqdm(batches, total=n_batches, desc=desc, leave=False, disable=None)), "tb.data")
    for step, (x, y) in enumerate(batches, 1):
        optimizer.zero_grad(set_to_none=True)
        with compute.step_scope():
            for xs, ys in zip(x.split(micro_batch or len(y)), y.split(micro_batch or len(y))):
                with record_function("tb.forward"), compute.autocast():
                    if not use_cache:
                        with torch.no_grad():
                            xs = phase.frozen(xs)
                    logits = phase.trainable(xs).float()
                    # Each part's mean loss weighted by its share: the gradients add up to the batch mean's.
                    loss = loss_fn(logits, ys) * (len(ys) / len(y))
                value = float(loss.detach())  # needed for the epoch's mean anyway: no extra sync
                if not math.isfinite(value):
                    # Checked before the step: one NaN gradient would turn every weight into NaN.
                    raise TrainingDiverged(f"the training loss became {value} at batch {step} of {n_batches} "
                                           f"(learning rate {optimizer.param_groups[0]['lr']:g}); lower the learning "
                                           "rate (train.lr or <model>.lr)")
                with record_function("tb.backward"):
                    (loss if scaler is None else scaler.scale(loss)).backward()
                loss_sum += value * len(y)
                correct += int((logits.argmax(1) == ys).sum())
        with record_function("tb.optimizer"):
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
                scaler.update()
        total += len(y)
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1),
            "class_counts": seen.tolist(), "augmented": int(plan.augment.sum())}


def _marked(batches: Iterator, name: str) -> Iterator:
    """`batches`, each drawn inside a profiler range `name` (benchmarks/profile_step.py reads the ranges;
    without a profiler a range costs a few microseconds)."""
    while True:
        with record_function(name):
            item = next(batches, None)
        if item is None:
            return
        yield item


def make_optimizer(params: list[nn.Parameter], rm: ResolvedModel, *, lr: float) -> torch.optim.Optimizer:
    """The optimizer `rm.optimizer` names: Adam (weight decay as an L2 penalty) or AdamW (decoupled)."""
    cls = torch.optim.AdamW if rm.optimizer == "adamw" else torch.optim.Adam
    # The fused kernel updates each weight in one pass; the default (foreach) makes several passes with
    # temporaries the size of the weights, which the seed CNN's 30 M-weight dense layer at 256 px pays
    # every step (measured interleaved, under load: the bf16 training step at 0.66x the wall time at
    # 256 px, 0.98x at 128 px; benchmarks/bench_step_ab.py). Same update rule; CPU and CUDA only.
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return cls(params, lr=lr, weight_decay=rm.weight_decay, fused=fused or None)


def epoch_lrs(lr: float, epochs: int, *, schedule: str, warmup_epochs: int = 0) -> list[float]:
    """The learning rate of each epoch of a phase. cosine: a linear warm-up to `lr` over `warmup_epochs`
    (from small steps, while BatchNorm statistics and Adam's moments of a from-scratch network settle),
    then half a cosine from `lr` towards 0, so the last epochs take small steps near a minimum."""
    if schedule == "constant":
        return [lr] * epochs
    warm = min(warmup_epochs, max(epochs - 1, 0))
    lrs = [lr * (e + 1) / (warm + 1) for e in range(warm)]
    rest = epochs - warm
    lrs += [lr * 0.5 * (1 + math.cos(math.pi * e / rest)) for e in range(rest)]
    return lrs


@torch.no_grad()
def _probe_input(phase: Phase, data: ImageArrays, cached: torch.Tensor | None, rm: ResolvedModel,
                 compute: ComputePlan) -> torch.Tensor:
    """Two inputs of the phase's trainable part, as training feeds it."""
    if cached is not None:
        return compute.to_input(cached[:2])
    with compute.autocast():
        return phase.frozen(rm.preprocess.to_tensor(compute.to_input(data.images(slice(0, 2)))))


def _better(row: dict, best: dict | None, monitor: str) -> bool:
    if best is None:
        return True
    if monitor == "val_loss":
        return row["val_loss"] < best["val_loss"]
    return (row["val_accuracy"], -row["val_loss"]) > (best["val_accuracy"], -best["val_loss"])


def fit(rm: ResolvedModel, train: ImageArrays, val: ImageArrays | None, *, device: torch.device,
        compute: ComputePlan | None = None, stop_after: int | None = None) -> FitResult:
    """Train `rm` on `train`, choose the epoch on `val`, return the best model and its history.

    Only `train` passes through the balancing plan and augmentation; `val` is evaluated as it is.
    `compute` (default: `plan_compute(device)`) sets precision, memory layout and threads.

    A refit (`val=None`, `stop_after=k`: the epoch chosen on validation by an earlier fit) trains the
    same schedule, learning rate by learning rate, stops after epoch k and keeps those last weights:
    nothing is left to choose, so nothing is validated.
    """
    if val is None and stop_after is None:
        raise ValueError("fit without validation is a refit: pass stop_after, the epochs chosen on validation")
    compute = compute or plan_compute(device)
    compute.apply()
    seed = rm.seed
    torch.manual_seed(seed)  # the same seed gives the same initialisation whatever ran before
    if (train.y < 0).any():  # the run gives the model the training split's classes; a caller may not
        raise ValueError(f"{rm.name}: {int((train.y < 0).sum())} training images have no label among the "
                         f"model's classes {list(train.classes)}")
    net, phases, source, notes = build_network(rm, train.n_classes)
    compute = compute.for_network(net)
    compute.prepare_model(net)
    if isinstance(net, FittedModel):
        return _fit_closed_form(net, rm, train, val, compute=compute, source=source, notes=notes)
    total_epochs = sum(phase.epochs for phase in phases)
    stop = total_epochs if stop_after is None else min(stop_after, total_epochs)
    labels = train.y.numpy()
    loss_fn, class_weights = make_loss(rm.balance, labels, train.n_classes, focal_gamma=rm.focal_gamma,
                                       focal_weighted=rm.focal_weighted, label_smoothing=rm.label_smoothing)
    loss_fn.to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list] = {k: [] for k in
                                ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                                 "class_counts", "augmented")}
    best_row, best_state = None, None
    started = time.perf_counter()
    epoch = 0
    # The whole job's progress (None in a Ray worker: the driver reports models). A refit is not in the
    # job's plan, whose epochs are the chosen model's: its epochs are logged, not counted.
    job = current_job() if val is not None else None
    if job is not None:
        job.start(rm.name, total_epochs)
    for phase in phases:
        if epoch >= stop:
            break
        for p in net.parameters():
            p.requires_grad_(False)
        for p in phase.trainable.parameters():
            p.requires_grad_(True)
        cached_train = _frozen_outputs(phase.frozen, train, rm, compute)
        cached_val = None if val is None else _frozen_outputs(phase.frozen, val, rm, compute)
        optimizer = make_optimizer([p for p in phase.trainable.parameters() if p.requires_grad], rm, lr=phase.lr)
        schedule = epoch_lrs(phase.lr, phase.epochs, schedule=rm.schedule, warmup_epochs=rm.warmup_epochs)
        scaler = compute.grad_scaler()
        training = compute.training()
        training.prepare_model(net)
        micro = micro_batch_size(phase, _probe_input(phase, train, cached_train, rm, training), rm.batch_size, training)
        if micro < rm.batch_size:
            log.info("%s: batches of %d run as micro-batches of %d to keep activations within %d MB",
                     rm.name, rm.batch_size, micro, ACTIVATION_BUDGET_BYTES >> 20)
        for phase_epoch in range(min(phase.epochs, stop - epoch)):
            epoch += 1
            for group in optimizer.param_groups:
                group["lr"] = schedule[phase_epoch]
            t0 = time.perf_counter()
            desc = f"{rm.name} epoch {epoch}" + (f" ({phase.name})" if len(phases) > 1 else "")
            training.prepare_model(net)  # the layouts of training and evaluation may differ (compute.py)
            try:
                fit_stats = train_one_epoch(phase, train, cached_train, loss_fn=loss_fn, optimizer=optimizer,
                                            rm=rm, rng=rng, generator=generator, compute=training, desc=desc,
                                            scaler=scaler, micro_batch=micro)
            except TrainingDiverged as exc:
                raise exc.at_epoch(epoch) from None
            compute.prepare_model(net)
            val_stats = _evaluate(phase, val, cached_val, loss_fn, rm, compute)
            if val is not None and not math.isfinite(val_stats["loss"]):
                # Finite training losses can still leave weights that overflow on other images.
                raise TrainingDiverged(f"the validation loss became {val_stats['loss']} (learning rate "
                                       f"{phase.lr:g}); lower the learning rate (train.lr or <model>.lr)",
                                       epoch=epoch)
            row = {"epoch": epoch, "phase": phase.name, "loss": fit_stats["loss"],
                   "accuracy": fit_stats["accuracy"], "val_loss": val_stats["loss"],
                   "val_accuracy": val_stats["accuracy"], "lr": schedule[phase_epoch],
                   "seconds": round(time.perf_counter() - t0, 3),
                   "class_counts": fit_stats["class_counts"], "augmented": fit_stats["augmented"]}
            for key, value in row.items():
                history[key].append(value)
            where = f" | {job.epoch_done(rm.name, epoch)}" if job is not None else ""
            if val is None:
                log.info("%s (refit, %d of %d): loss %.4f acc %.4f (%.1fs)", desc, epoch, stop, row["loss"],
                         row["accuracy"], row["seconds"])
            else:
                log.info("%s: loss %.4f acc %.4f val_loss %.4f val_acc %.4f (%.1fs)%s", desc, row["loss"],
                         row["accuracy"], row["val_loss"], row["val_accuracy"], row["seconds"], where)
            # A refit keeps its last epoch, which the network holds at the end: nothing to copy before then.
            if (epoch == stop) if val is None else _better(row, best_row, rm.monitor):
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


def _fit_closed_form(net: FittedModel, rm: ResolvedModel, train: ImageArrays, val: ImageArrays | None, *,
                     compute: ComputePlan, source: str, notes: list[str]) -> FitResult:
    """Fit a closed-form model (no epochs, no augmentation) and record it as one epoch, phase "fit",
    so history, report and checkpoint read as for any network."""
    started = time.perf_counter()
    batch_size = compute.eval_batch_size(rm.preprocess.size)
    batches = sequential_batches(train, batch_size=batch_size, spec=rm.preprocess, place=compute.to_input)
    stats = net.fit_batches(batches, train.y.numpy(), seed=rm.seed, balance=rm.balance)
    log.info("%s: fitted in %.1f s (%s)", rm.name, time.perf_counter() - started,
             ", ".join(f"{k} {v}" for k, v in stats.items()))
    phase = Phase("fit", 1, 0.0, nn.Identity(), net)
    loss_fn = nn.CrossEntropyLoss()
    fit_stats = _evaluate(phase, train, None, loss_fn, rm, compute)
    val_stats = _evaluate(phase, val, None, loss_fn, rm, compute)
    if val is not None and not math.isfinite(val_stats["loss"]):
        raise TrainingDiverged(f"the fitted model's validation loss is {val_stats['loss']}", epoch=1)
    counts = np.bincount(train.y.numpy(), minlength=train.n_classes).tolist()
    history = {"epoch": [1], "phase": ["fit"], "loss": [fit_stats["loss"]], "accuracy": [fit_stats["accuracy"]],
               "val_loss": [val_stats["loss"]], "val_accuracy": [val_stats["accuracy"]], "lr": [None],
               "seconds": [round(time.perf_counter() - started, 3)], "class_counts": [counts], "augmented": [0],
               "fit": stats, "best_epoch": 1}
    net.eval()
    return FitResult(model=net, history=history, best_epoch=1, weights_source=source, notes=notes,
                     train_seconds=round(time.perf_counter() - started, 3))

