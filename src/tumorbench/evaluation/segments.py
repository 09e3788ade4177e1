"""Where each model fails: its test metrics on segments of the test images.

A segment is the test images sharing one value of one attribute (`image_attributes`): the image's size
band (its longer side), colour mode and file format, appearance cluster (the training clusters of
`val_groups: cluster`, each test image assigned to the nearest cluster of its class), copy status (a
copy in training/validation under the same label, under another label, or none) and, when external
test datasets are given, the source dataset (a column `source` of the attributes: the hook for them).

Per model and segment: the number of images `n`, accuracy with a percentile bootstrap interval
(resamples and seed of `evaluation.bootstrap`), balanced accuracy over the classes present, and the
errors. Segments smaller than `evaluation.segment_min_size` are left out of the worst-segments table
(their intervals are too wide to point anywhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tumorbench.evaluation.bootstrap import percentile_interval
from tumorbench.evaluation.checks import labelled, predicted_labels

# Longer side of the original file, in pixels: [low, high) per band.
SIZE_BANDS = ((0, 256, "< 256 px"), (256, 512, "256-511 px"), (512, 513, "512 px"), (513, 1024, "513-1023 px"),
              (1024, 10**9, ">= 1024 px"))
DIMENSIONS = {"size": "image size", "colour": "colour mode / format", "cluster": "appearance cluster",
              "copy": "copy in training", "source": "source dataset"}
COPY_NAMES = {"same_label": "copy, same label", "other_label": "copy, other label", "no_copy": "no copy"}
WORST_PER_MODEL = 5


def size_band(width: int | None, height: int | None) -> str | None:
    if not width or not height:
        return None
    side = max(int(width), int(height))
    return next(name for low, high, name in SIZE_BANDS if low <= side < high)


def file_attributes(root: str | Path | None, images: Sequence[str]) -> pd.DataFrame:
    """Size band and 'FORMAT MODE' of every image found (under `root`, or as given): only the file header
    is read. Images not found have no value (they join no segment of these dimensions)."""
    from PIL import Image, UnidentifiedImageError

    rows = []
    for image in images:
        path = Path(root) / image if root is not None else Path(image)
        try:
            with Image.open(path) as img:
                rows.append({"image": image, "size": size_band(*img.size), "colour": f"{img.format} {img.mode}"})
        except (OSError, UnidentifiedImageError, ValueError):
            rows.append({"image": image, "size": None, "colour": None})
    return pd.DataFrame(rows, columns=["image", "size", "colour"]).set_index("image")


def copy_status(frame: pd.DataFrame, copy_labels: Mapping[str, frozenset[str]] | None,
                duplicated: Mapping[str, str] | None) -> pd.Series | None:
    """The copy status of every labelled test image (None without an audit)."""
    from tumorbench.evaluation.model_result import copy_group

    rows = labelled(frame)
    if copy_labels is not None:
        values = [COPY_NAMES[copy_group(i, lab, copy_labels)] for i, lab in zip(rows["image"], rows["label"])]
    elif duplicated is not None:
        values = ["copy" if i in duplicated else "no copy" for i in rows["image"]]
    else:
        return None
    return pd.Series(values, index=rows["image"].to_numpy(), name="copy")


def nearest_clusters(train_desc: np.ndarray, train_labels: Sequence[str], train_clusters: np.ndarray,
                     test_desc: np.ndarray, test_labels: Sequence[str]) -> list[str | None]:
    """Each test image's nearest training cluster of its own class (centroid distance), as 'class/k'."""
    train_labels = np.asarray(train_labels, dtype=object)
    out: list[str | None] = []
    centroids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label in set(train_labels.tolist()):
        ids = np.unique(train_clusters[train_labels == label])
        centroids[label] = (ids, np.stack([train_desc[train_clusters == i].mean(0) for i in ids]))
    for desc, label in zip(test_desc, test_labels):
        if label not in centroids:
            out.append(None)
            continue
        ids, centres = centroids[label]
        k = int(np.argmin(((centres - desc) ** 2).sum(1)))
        out.append(f"{label}/{int(ids[k] - ids.min())}")
    return out


def _accuracy_interval(correct: np.ndarray, *, resamples: int, seed: int, confidence: float) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(correct), size=(resamples, len(correct)))
    return percentile_interval(correct[draws].mean(axis=1), confidence)


def segment_metrics(frame: pd.DataFrame, attributes: pd.DataFrame, *, resamples: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> pd.DataFrame:
    """One row per (dimension, segment) of a model's labelled test predictions: n, errors, accuracy,
    its interval (low, high) and balanced accuracy over the classes present in the segment."""
    rows = labelled(frame)
    truth = rows["label"].astype(str).to_numpy()
    correct = predicted_labels(rows) == truth
    attrs = attributes.reindex(rows["image"].to_numpy())
    out = []
    for dimension in [d for d in DIMENSIONS if d in attrs.columns]:
        values = attrs[dimension].to_numpy(dtype=object)
        for value in sorted({v for v in values if not pd.isna(v)}, key=str):
            mask = values == value
            c, t = correct[mask], truth[mask]
            low, high = _accuracy_interval(c, resamples=resamples, seed=seed, confidence=confidence)
            balanced = float(np.mean([c[t == k].mean() for k in np.unique(t)]))
            out.append({"dimension": dimension, "segment": str(value), "n": int(mask.sum()),
                        "errors": int((~c).sum()), "accuracy": float(c.mean()), "low": low, "high": high,
                        "balanced_accuracy": balanced})
    return pd.DataFrame(out, columns=["dimension", "segment", "n", "errors", "accuracy", "low", "high",
                                      "balanced_accuracy"])


def worst_segments(table: pd.DataFrame, *, overall: float, min_size: int, top: int = WORST_PER_MODEL) -> pd.DataFrame:
    """The `top` segments of at least `min_size` images with the lowest accuracy, below the overall one."""
    big = table[(table["n"] >= min_size) & (table["accuracy"] < overall)]
    return big.sort_values(["accuracy", "n"], ascending=[True, False], kind="stable").head(top).reset_index(drop=True)
