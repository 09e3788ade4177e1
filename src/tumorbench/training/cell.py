"""One cell of a benchmark: train one model on arrays in memory and predict its validation and test
splits, writing nothing.

A cell is a pure function of its inputs (resolved model, arrays, seed), so any executor can run it: the
local one in this process, or Ray on another core or machine, which sends the result back for the run
folder to write (see `tumorbench.run.write_model`). The same seed gives the same result wherever
it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tumorbench.config import ResolvedModel
from tumorbench.data.arrays import ImageArrays, join_arrays
from tumorbench.inference.checkpoint import checkpoint_payload
from tumorbench.inference.compute import ComputePlan
from tumorbench.inference.predictor import network_predictor
from tumorbench.inference.probabilities import NonFiniteOutputs
from tumorbench.models.fitted import FittedModel, fitted_values
from tumorbench.predictions.io import predictions_frame
from tumorbench.training.fit import FitResult, TrainingDiverged, fit

log = logging.getLogger(__name__)


@dataclass
class CellResult:
    """Everything a trained model leaves in its run-folder sub-folder, still in memory."""

    name: str
    checkpoint: dict[str, Any]  # the checkpoint payload (tensors and plain data only)
    history: dict
    info: dict
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # "val", "test" -> predictions table


def train_cell(rm: ResolvedModel, train: ImageArrays, val: ImageArrays, test: ImageArrays, *,
               compute: ComputePlan, resolved: dict) -> CellResult:
    """Train `rm` (best epoch chosen on `val`) and predict `val` and `test`.

    With `rm.refit` the chosen recipe is then fitted again on `train` + `val` (`refit_on_all`) and that
    model predicts `test` and is the checkpoint; `val` keeps the chosen model's predictions, the only
    ones that are out of sample. Raises TrainingDiverged when the loss or the predictions become
    non-finite (a refit that does so falls back to the chosen model instead).
    """
    spec = rm.preprocess
    log.info("training %s (%s, %d px %s, balance %s) on %d images, validating on %d", rm.name,
             rm.architecture, spec.size, spec.mode, rm.balance, len(train), len(val))
    device = compute.device
    result = fit(rm, train, val, device=device, compute=compute)
    for note in result.notes:
        log.warning("%s: %s", rm.name, note)
    predictions = {"val": _predict(result.model, rm, val, "val", compute=compute, epoch=result.best_epoch,
                                   weights=_CHOSEN_WEIGHTS)}
    final, refit = result, None
    if rm.refit:
        final, refit = refit_on_all(rm, train, val, result, compute=compute)
    try:
        predictions["test"] = _predict(final.model, rm, test, "test", compute=compute, epoch=final.best_epoch,
                                       weights=_CHOSEN_WEIGHTS if final is result else _REFIT_WEIGHTS)
    except TrainingDiverged as exc:
        if final is result:
            raise
        final, refit = result, _refit_failed(rm, f"the refit model's test predictions: {exc.reason}")
        predictions["test"] = _predict(final.model, rm, test, "test", compute=compute, epoch=final.best_epoch,
                                       weights=_CHOSEN_WEIGHTS)
    notes = list(result.notes)
    if refit is not None:
        notes.append(refit.pop("note"))
    info = {
        "name": rm.name, "architecture": rm.architecture, "balance": rm.balance,
        "weights": result.weights_source, "notes": notes, "preprocessing": spec.to_dict(),
        "epochs": len(result.history["epoch"]), "best_epoch": result.best_epoch,
        # The whole cost of the model: choosing and, with refit, fitting again.
        "train_seconds": round(result.train_seconds + (refit or {}).get("seconds", 0.0), 3),
        "n_params": sum(p.numel() for p in result.model.parameters()),
        # A model fitted in closed form keeps what it learned in buffers (support vectors...), not parameters.
        **({"fitted_values": fitted_values(final.model)} if isinstance(final.model, FittedModel) else {}),
        "device": str(device), "compute": compute.for_network(result.model).describe(),
        "class_weights": result.class_weights,
        "train_images": len(train), "seed": rm.seed,
        "classes": list(train.classes),
        "train_class_counts": dict(zip(train.classes,
                                       np.bincount(train.y.numpy(), minlength=train.n_classes).tolist())),
        "epoch_class_counts": dict(zip(train.classes, result.history["class_counts"][0])),
    }
    if refit is not None:
        info["refit"] = refit
    payload = checkpoint_payload(
        model=final.model, architecture=rm.architecture, spec=spec, classes=train.classes,
        meta={"name": rm.name, "config": resolved, "model_config": rm.to_dict(), "history": result.history,
              "best_epoch": result.best_epoch, "weights": result.weights_source, "notes": notes,
              **({"refit": refit} if refit is not None else {})})
    return CellResult(rm.name, payload, result.history, info, predictions)


# How `_predict`'s divergence message names the weights: the chosen (best validation) epoch's, or the refit's.
_CHOSEN_WEIGHTS, _REFIT_WEIGHTS = "the best epoch's weights", "the refit model's weights"


def _predict(model, rm: ResolvedModel, arrays: ImageArrays, split_name: str, *, compute: ComputePlan,
             epoch: int, weights: str) -> pd.DataFrame:
    """The predictions table of one split, through the same Predictor as `tumorbench predict` on the
    model's checkpoint; `weights` names them in the message when they give non-finite values."""
    predictor = network_predictor(model, rm.preprocess, name=rm.name, compute=compute, classes=arrays.classes)
    try:
        probs = predictor.predict_proba(arrays.images())
    except NonFiniteOutputs:
        raise TrainingDiverged(f"{weights} give non-finite probabilities on the {split_name} "
                               "split; lower the learning rate", epoch=epoch) from None
    return predictions_frame(arrays.paths, arrays.labels, probs, predictor.classes)


def refit_on_all(rm: ResolvedModel, train: ImageArrays, val: ImageArrays, chosen: FitResult, *,
                 compute: ComputePlan) -> tuple[FitResult, dict]:
    """Fit `rm` again on `train` + `val` for the epochs `chosen` kept (scikit-learn's refit=True).

    Returns the model that should predict test and a record of the refit for info.json (with a "note"
    for the report). What was chosen on validation stays chosen: the epoch count (the same learning-rate
    schedule, stopped there), and, downstream, the ensemble weights, which read the validation
    predictions of the chosen model. A refit that fails leaves the chosen model in place, with a warning:
    the run never loses a model it already has."""
    pooled = join_arrays(train, val)
    epochs = chosen.best_epoch
    log.info("%s: refitting on training + validation (%d images) for %d epoch(s), the number chosen on "
             "validation", rm.name, len(pooled), epochs)
    try:
        refit = fit(rm, pooled, None, device=compute.device, compute=compute, stop_after=epochs)
    except TrainingDiverged as exc:
        return chosen, _refit_failed(rm, str(exc))
    except (ValueError, RuntimeError, MemoryError) as exc:  # e.g. a solver that cannot fit the pooled set
        return chosen, _refit_failed(rm, f"{type(exc).__name__}: {exc}")
    log.info("%s: refit in %.1f s", rm.name, refit.train_seconds)
    return refit, {
        "status": "done", "images": len(pooled), "epochs": epochs, "seconds": refit.train_seconds,
        "note": (f"test predictions and checkpoint: this model refit on training + validation ({len(pooled)} "
                 f"images, {epochs} epoch(s), the number chosen on validation) after every choice was made on "
                 f"validation; the validation predictions are the chosen model's before the refit (the refit "
                 f"model has seen those images)")}


def _refit_failed(rm: ResolvedModel, reason: str) -> dict:
    log.warning("%s: the refit on training + validation failed (%s); test is predicted by the model chosen on "
                "validation, trained on the training split only", rm.name, reason)
    return {"status": "failed", "reason": reason,
            "note": f"refit on training + validation failed ({reason}): test predictions and checkpoint are the "
                    "model chosen on validation, trained on the training split only"}
