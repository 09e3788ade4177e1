"""Suspect labels: images whose label the predictions contradict, ranked, and the audit's own finds.

- Training split: confident learning (cleanlab's `find_label_issues`, Northcutt et al. 2021) on
  out-of-fold probabilities of a cheap thumbnail model (`thumbnails.py`): no image is scored by a model
  that was fitted on it, which is what lets a wrong label stand out.
- Test split: the same on the mean test probabilities of the run's models (they never trained on test).
- The dataset audit: images filed under two classes (`label_conflicts`) and test images whose training
  copies are filed only under another class (`DuplicateGroups.copy_labels`).

Rows are ranked by how little probability the evidence gives the given label (`label_quality`, cleanlab's
self-confidence: the probability of the given label; audit finds without probabilities rank by their
kind first). One image found by several sources is one row, its sources joined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

COLUMNS = ("rank", "image", "split", "label", "suggested", "label_quality", "source")
CONFIDENT_LEARNING = "confident learning"
LABEL_CONFLICT = "audit: same image under two classes"
COPY_LABEL = "audit: training copy filed under {labels}"


def confident_learning(images: Sequence[str], labels: Sequence[str], classes: Sequence[str], probs: np.ndarray,
                       *, split: str, source: str = CONFIDENT_LEARNING) -> pd.DataFrame:
    """The images cleanlab flags, with the given label's probability and the most probable class.

    Labels not among `classes` are left out (the model cannot speak for them)."""
    from cleanlab.filter import find_label_issues

    classes = list(classes)
    labels = np.asarray(labels, dtype=object).astype(str)
    keep = np.isin(labels, classes)
    probs = np.asarray(probs, dtype=np.float64)[keep]
    images = np.asarray(images, dtype=object)[keep]
    y = np.array([classes.index(c) for c in labels[keep]], dtype=np.int64)
    if len(y) == 0 or len(np.unique(y)) < 2:
        return pd.DataFrame(columns=list(COLUMNS[1:]))
    probs = probs / probs.sum(axis=1, keepdims=True)
    flagged = find_label_issues(y, probs, filter_by="prune_by_noise_rate",
                                return_indices_ranked_by="self_confidence")
    flagged = np.asarray(flagged, dtype=np.int64)
    return pd.DataFrame({"image": images[flagged], "split": split, "label": labels[keep][flagged],
                         "suggested": np.asarray(classes, dtype=object)[probs[flagged].argmax(axis=1)],
                         "label_quality": probs[flagged, y[flagged]], "source": source})


def audit_issues(audit: Mapping | None, copy_labels: Mapping[str, frozenset[str]] | None,
                 test_labels: Mapping[str, str]) -> pd.DataFrame:
    """The audit's label problems: both images of every label conflict (a copy under another class),
    and the test images whose training/validation copies are filed only under other classes."""
    rows = []
    split_name = {"train": "training", "val": "validation", "test": "test"}
    for pair in (audit or {}).get("label_conflicts") or []:  # a pair of copies under two classes
        for me, other in (("a", "b"), ("b", "a")):
            rows.append({"image": pair[me], "split": split_name.get(pair[f"split_{me}"], pair[f"split_{me}"]),
                         "label": pair[f"label_{me}"], "suggested": pair[f"label_{other}"],
                         "label_quality": np.nan, "source": LABEL_CONFLICT})
    for image, labels in (copy_labels or {}).items():
        label = test_labels.get(image)
        if label and label not in labels:
            shown = "/".join(sorted(labels))
            rows.append({"image": image, "split": "test", "label": label, "suggested": shown,
                         "label_quality": np.nan, "source": COPY_LABEL.format(labels=shown)})
    return pd.DataFrame(rows, columns=list(COLUMNS[1:]))


def merge_issues(*tables: pd.DataFrame) -> pd.DataFrame:
    """One row per image: the lowest label quality, sources joined; ranked. The split is the first
    table's that has the image (pass the run's own before the audit's, which knows only the folders).

    Order: images several sources agree on first, then the lowest label quality (the given label's
    probability), audit finds without a probability after the ones with."""
    frames = [t for t in tables if t is not None and len(t)]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    both = pd.concat(frames, ignore_index=True)
    grouped = both.groupby("image", sort=False).agg(
        split=("split", "first"),
        label=("label", "first"),
        suggested=("suggested", lambda s: next((v for v in s if v), "")),
        label_quality=("label_quality", "min"),
        source=("source", lambda s: "; ".join(dict.fromkeys(s))),
        n_sources=("source", lambda s: len(set(s))),
    ).reset_index()
    grouped["_missing"] = grouped["label_quality"].isna()
    grouped = grouped.sort_values(["n_sources", "_missing", "label_quality", "image"],
                                  ascending=[False, True, True, True], kind="stable")
    grouped.insert(0, "rank", np.arange(1, len(grouped) + 1))
    return grouped.loc[:, list(COLUMNS)].reset_index(drop=True)


def mean_test_probabilities(frames: Sequence[pd.DataFrame]) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """(images, labels, classes, mean probabilities) of several models' test predictions, on the classes
    they all have (a predictions table's classes are its prob_<class> columns)."""
    first = frames[0]
    columns = [c for c in first.columns if c.startswith("prob_") and all(c in f.columns for f in frames)]
    rows = first[first["label"].astype(str) != ""]
    images = rows["image"].tolist()
    stacked = np.stack([f.set_index("image").loc[images, columns].to_numpy(dtype=np.float64) for f in frames])
    return images, rows["label"].astype(str).tolist(), [c[len("prob_"):] for c in columns], stacked.mean(axis=0)


def write_label_issues(path, table: pd.DataFrame):
    from tumorbench._io import atomic_write

    return atomic_write(path, lambda p: table.to_csv(p, index=False, float_format="%.6g"))
