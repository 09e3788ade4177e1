"""Running a model over a dataset split and writing the predictions file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from tumorbench.data.folder import scan_dataset
from tumorbench.data.images import load_images
from tumorbench.predictions.io import predictions_frame, write_predictions
from tumorbench.training.arrays import ImageArrays
from tumorbench.training.checkpoint import load_checkpoint
from tumorbench.training.fit import predict_proba


def predict_folder(checkpoint: str | os.PathLike, data: str | os.PathLike, *, split: str, out: str | os.PathLike,
                   device: torch.device, batch_size: int = 64) -> tuple[Path, int, list[tuple[str, str]]]:
    """Predict every image of `split` under `data`; returns (file written, rows, skipped files)."""
    loaded = load_checkpoint(checkpoint, device=device)
    index = scan_dataset(data)
    records = index.records(split)
    if not records:
        raise ValueError(f"{index.root}: the {split!r} split has no images")
    x, ok, bad = load_images(index.root, [r.path for r in records], loaded.spec)
    kept = [records[i] for i in ok]
    arrays = ImageArrays.from_numpy(x, [r.label for r in kept], [r.path for r in kept])
    probs = predict_proba(loaded.model, arrays, spec=loaded.spec, device=device, batch_size=batch_size)
    probs = probs[:, loaded.column_order] if len(probs) else np.zeros((0, len(loaded.column_order)))
    frame = predictions_frame([r.path for r in kept], [r.label for r in kept], probs)
    return write_predictions(out, frame), len(frame), bad
