"""Running a model over a dataset split and writing the predictions file.

Any model tumorbench can load enters here: its own checkpoints, state dicts, TorchScript, ONNX, Keras
files and zoo entries (see `tumorbench.external.load_model_source`), each decoded and scaled with its
own preprocessing, and every one writes the same predictions file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from tumorbench._io import write_json
from tumorbench.data.folder import FLAT_SPLIT, scan_dataset
from tumorbench.data.images import load_images
from tumorbench.external import ExternalSpec, load_model_source
from tumorbench.inference import Predictor
from tumorbench.predictions.io import predictions_frame, write_predictions

log = logging.getLogger(__name__)


def predict_folder(
    checkpoint: str | os.PathLike | Predictor,
    data: str | os.PathLike,
    *,
    split: str,
    out: str | os.PathLike,
    class_map=None,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    spec: ExternalSpec | Mapping | None = None,
    spec_file: str | os.PathLike | None = None,
    arch: str | None = None,
    info: str | os.PathLike | None = None,
    trust_pickle: bool = False,
    gallery: bool = True,
) -> tuple[Path, int, list[tuple[str, str]]]:
    """Predict every image of `split` under `data`; returns (file written, rows, skipped files).

    `checkpoint` is any model source (a tumorbench checkpoint, `.onnx`, `.keras`/`.h5`, TorchScript,
    a state dict with `arch`, `zoo:NAME`) or an already loaded Predictor; `spec`/`spec_file` give the
    preprocessing of foreign models (see `load_model_source`). `info`, when given, receives the model's
    details and notes as JSON (a run folder's `info.json`, which the report reads). `class_map` renames
    class folders (`scan_dataset`); a dataset without split folders is predicted whole. PyTorch files are
    read without unpickling arbitrary objects unless `trust_pickle`. `gallery` also writes the report's
    pictures of the model's mistakes with saliency overlays (`tumorbench.explain.write_gallery`).
    """
    if isinstance(checkpoint, Predictor):
        if spec is not None or spec_file is not None or arch is not None:
            raise ValueError("spec, spec_file and arch apply when loading a model; this Predictor is loaded")
        predictor = checkpoint
    else:
        predictor = load_model_source(checkpoint, spec=spec, spec_file=spec_file, arch=arch, device=device,
                                      trust_pickle=trust_pickle)
    index = scan_dataset(data, class_map=class_map)
    if index.flat and split != FLAT_SPLIT:
        log.info("%s has no split folders: predicting all its images", index.root)
        split = FLAT_SPLIT
    records = index.records(split)
    if not records:
        raise ValueError(f"{index.root}: the {split!r} split has no images")
    x, ok, bad = load_images(index.root, [r.path for r in records], predictor.spec)
    kept = [records[i] for i in ok]
    probs = predictor.predict_proba(x, batch_size=batch_size)
    frame = predictions_frame([r.path for r in kept], [r.label for r in kept], probs, predictor.classes)
    path = write_predictions(out, frame)
    if gallery:
        from tumorbench.explain import write_gallery

        # The report's pictures need the model: made here, beside the predictions (`<out>.gallery/`).
        write_gallery(path, frame, x, predictor=predictor, name=predictor.name)
    for note in predictor.notes:
        log.warning("%s: %s", predictor.name, note)
    if info is not None:
        write_json(info, {**predictor.info(), "data": str(index.root), "split": split,
                          "images": len(frame), "skipped_images": len(bad)})
    return path, len(frame), bad
