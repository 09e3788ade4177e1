"""The report's picture gallery of one model, computed where the model is loaded and stored beside its
predictions file, so `tumorbench report` rebuilds it without the model.

A gallery holds a handful of test images per model: its most confident mistakes and, per true class, the
most confident correct and wrong answers. Each is kept as the model saw it (decoded at its input size and
colour mode), as a small JPEG, with a second JPEG carrying the saliency overlay for the predicted class;
`index.json` (written last) lists them with their probabilities.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tumorbench._io import write_bytes, write_json
from tumorbench.predictions.io import frame_classes, prob_columns
from tumorbench.runfolder import GALLERY_FORMAT, GALLERY_INDEX, gallery_dir

log = logging.getLogger(__name__)

THUMB_MAX_PX = 192  # longest side of a stored picture: the report shows it at 112 px, enlarged at 2-3x
JPEG_QUALITY = 80
OVERLAY_ALPHA = 0.45
DEFAULT_BUDGET_S = 60.0  # saliency time per model; images beyond it are kept without an overlay


def select_gallery(frame: pd.DataFrame, *, mistakes: int = 6, per_class: int = 2) -> dict:
    """Which test images a gallery shows, from the predictions alone (deterministic: ties keep file order).

    Returns {"mistakes": [row positions, most confident first], "per_class": {class: {"correct": [...],
    "wrong": [...]}}}; positions index `frame`'s rows. Unlabelled rows are never chosen."""
    labels = frame["label"].astype(str).to_numpy()
    classes = frame_classes(frame)
    probs = frame.loc[:, prob_columns(classes)].to_numpy(dtype=np.float64)
    predicted = np.asarray(classes)[probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    labelled = labels != ""
    order = np.argsort(-confidence, kind="stable")
    wrong = [int(i) for i in order if labelled[i] and labels[i] != predicted[i]]
    chosen = {"mistakes": wrong[:mistakes], "per_class": {}}
    for cls in classes:
        of_class = [int(i) for i in order if labels[i] == cls]
        chosen["per_class"][cls] = {
            "correct": [i for i in of_class if predicted[i] == cls][:per_class],
            "wrong": [i for i in of_class if predicted[i] != cls][:per_class],
        }
    return chosen


def _work_order(chosen: dict) -> list[int]:
    """Unique row positions, most telling first: saliency is computed in this order until time runs out."""
    seen: list[int] = []
    groups = [chosen["mistakes"]]
    groups += [chosen["per_class"][c]["wrong"] for c in chosen["per_class"]]
    groups += [chosen["per_class"][c]["correct"] for c in chosen["per_class"]]
    for group in groups:
        seen.extend(i for i in group if i not in seen)
    return seen


def picture(image: np.ndarray) -> Image.Image:
    """An RGB PIL image of a uint8 (C, H, W) model input, shrunk to THUMB_MAX_PX at most."""
    array = np.asarray(image)
    array = array[0] if array.shape[0] == 1 else np.moveaxis(array[:3], 0, -1)
    img = Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
    if max(img.size) > THUMB_MAX_PX:
        img.thumbnail((THUMB_MAX_PX, THUMB_MAX_PX), Image.Resampling.LANCZOS)
    return img


def overlay(image: np.ndarray, saliency: np.ndarray) -> Image.Image:
    """The picture with a saliency map in [0, 1] blended on top (matplotlib's 'jet': red = most salient)."""
    from matplotlib import colormaps

    base = picture(image)
    heat = Image.fromarray((np.clip(saliency, 0, 1) * 255).astype(np.uint8))
    heat = heat.resize(base.size, Image.Resampling.BILINEAR)
    colours = colormaps["jet"](np.asarray(heat) / 255.0)[..., :3]
    blended = (1 - OVERLAY_ALPHA) * np.asarray(base) / 255.0 + OVERLAY_ALPHA * colours
    return Image.fromarray((np.clip(blended, 0, 1) * 255).round().astype(np.uint8))


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def write_gallery(predictions: str | os.PathLike, frame: pd.DataFrame, images: np.ndarray, *, predictor,
                  name: str | None = None, method: str = "gradcam", mistakes: int = 6, per_class: int = 2,
                  budget_s: float = DEFAULT_BUDGET_S) -> Path:
    """Write the gallery of the predictions file `predictions` (its rows: `frame`; `images[i]`: row i
    decoded with the predictor's spec, uint8 (N, C, H, W)). Returns the index.json path.

    The folder is built beside and swapped in whole, index.json last, so a reader sees the old gallery
    or the new one. Saliency stops after `budget_s` seconds (checked between images): the rest are kept
    without an overlay, and the index says so.
    """
    from tumorbench.explain.saliency import explainer_for

    if len(images) != len(frame):
        raise ValueError(f"{len(images)} images for {len(frame)} predictions; pass one image per row")
    folder = gallery_dir(predictions)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    chosen = select_gallery(frame, mistakes=mistakes, per_class=per_class)
    rows = _work_order(chosen)
    classes = frame_classes(frame)
    probs = frame.loc[:, prob_columns(classes)].to_numpy(dtype=np.float64)
    explainer = explainer_for(predictor, method=method)
    started = time.perf_counter()
    items, skipped, failed = [], 0, None
    for k, row in enumerate(rows):
        predicted = int(probs[row].argmax())
        item = {
            "image": str(frame["image"].iloc[row]), "label": str(frame["label"].iloc[row]),
            "predicted": classes[predicted], "confidence": float(probs[row, predicted]),
            "probs": {c: round(float(p), 4) for c, p in zip(classes, probs[row])},
            "file": f"{k:03d}.jpg", "overlay": None,
        }
        write_bytes(partial / item["file"], jpeg_bytes(picture(images[row])))
        if failed is None and time.perf_counter() - started <= budget_s:
            try:
                saliency = explainer.maps(images[row:row + 1], [predicted])[0]
            except Exception as exc:  # noqa: BLE001 -- any model the method cannot handle: say so, keep the pictures
                failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("%s: saliency failed (%s); the gallery shows the images without overlay", name, failed)
            else:
                item["overlay"] = f"{k:03d}_saliency.jpg"
                write_bytes(partial / item["overlay"], jpeg_bytes(overlay(images[row], saliency)))
        elif failed is None:
            skipped += 1
        items.append(item)
    position = {row: k for k, row in enumerate(rows)}
    notes = [explainer.note] if explainer.note else []
    if skipped:
        notes.append(f"saliency stopped after its time budget of {budget_s:g} s: {skipped} of {len(rows)} "
                     "images are shown without an overlay")
    if failed:
        notes.append(f"saliency could not be computed ({failed}): images shown without an overlay")
    index = {
        "format": GALLERY_FORMAT, "version": 1, "model": name or getattr(predictor, "name", ""),
        "predictions": Path(predictions).name, "method": explainer.method, "target": "predicted class",
        "input": f"{predictor.spec.size} px {predictor.spec.mode}", "notes": notes,
        "seconds": round(time.perf_counter() - started, 2), "items": items,
        "mistakes": [position[i] for i in chosen["mistakes"]],
        "per_class": {c: {kind: [position[i] for i in chosen["per_class"][c][kind]] for kind in ("correct", "wrong")}
                      for c in chosen["per_class"]},
    }
    write_json(partial / GALLERY_INDEX, index)
    _swap_in(partial, folder)
    return folder / GALLERY_INDEX


def _swap_in(partial: Path, folder: Path) -> None:
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def gallery_for_images(predictions: str | os.PathLike, frame: pd.DataFrame, paths: Sequence[str],
                       x: np.ndarray, **kwargs) -> Path:
    """write_gallery when the decoded images (`x`, row i = `paths[i]`) are a superset of the predictions'
    rows, as in a run (every test image is decoded once per spec)."""
    where = {p: i for i, p in enumerate(paths)}
    missing = [p for p in frame["image"] if p not in where]
    if missing:
        raise ValueError(f"{len(missing)} predicted images were not decoded (first: {missing[0]})")
    return write_gallery(predictions, frame, x[[where[p] for p in frame["image"]]], **kwargs)
