"""One cell of a benchmark: train one model on arrays in memory and predict its validation and test
splits, writing nothing.

A cell is a pure function of its inputs (resolved model, arrays, seed), so any executor can run it: the
local one in this process, or Ray on another core or machine, which sends the result back for the run
folder to write (see `tumorbench.runfolder.write_model`). The same seed gives the same result wherever
it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import ResolvedModel
from tumorbench.data.arrays import ImageArrays
from tumorbench.external._outputs import NonFiniteOutputs
from tumorbench.external.predictor import network_predictor
from tumorbench.predictions.io import predictions_frame
from tumorbench.training.checkpoint import checkpoint_payload
from tumorbench.training.compute import ComputePlan
from tumorbench.training.fit import TrainingDiverged, fit

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

    Raises TrainingDiverged when the loss or the predictions become non-finite.
    """
    spec = rm.preprocess
    log.info("training %s (%s, %d px %s, balance %s) on %d images, validating on %d", rm.name,
             rm.architecture, spec.size, spec.mode, rm.balance, len(train), len(val))
    device = compute.device
    result = fit(rm, train, val, device=device, compute=compute)
    for note in result.notes:
        log.warning("%s: %s", rm.name, note)
    info = {
        "name": rm.name, "architecture": rm.architecture, "balance": rm.balance,
        "weights": result.weights_source, "notes": result.notes, "preprocessing": spec.to_dict(),
        "epochs": len(result.history["epoch"]), "best_epoch": result.best_epoch,
        "train_seconds": result.train_seconds, "n_params": sum(p.numel() for p in result.model.parameters()),
        "device": str(device), "compute": compute.describe(), "class_weights": result.class_weights, "train_images": len(train), "seed": rm.seed,
        "train_class_counts": dict(zip(CLASS_NAMES, np.bincount(train.y.numpy(), minlength=len(CLASS_NAMES)).tolist())),
        "epoch_class_counts": dict(zip(CLASS_NAMES, result.history["class_counts"][0])),
    }
    payload = checkpoint_payload(
        model=result.model, architecture=rm.architecture, spec=spec,
        meta={"name": rm.name, "config": resolved, "model_config": rm.to_dict(), "history": result.history,
              "best_epoch": result.best_epoch, "weights": result.weights_source, "notes": result.notes})
    # The trained network predicts through the same Predictor as `tumorbench predict` on its checkpoint.
    predictor = network_predictor(result.model, spec, name=rm.name, compute=compute)
    predictions = {}
    for split_name, arrays in (("val", val), ("test", test)):
        try:
            probs = predictor.predict_proba(arrays.images())
        except NonFiniteOutputs:
            raise TrainingDiverged(f"the best epoch's weights give non-finite probabilities on the {split_name} "
                                   "split; lower the learning rate", epoch=result.best_epoch) from None
        predictions[split_name] = predictions_frame(arrays.paths, arrays.labels, probs)
    return CellResult(rm.name, payload, result.history, info, predictions)
