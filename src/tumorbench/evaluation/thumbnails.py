"""A cheap model on small thumbnails: the verdict's simple baseline and the suspect labels' out-of-fold
probabilities.

HOG features (`tumorbench.models.hog`, the same fixed operations as hog_svm) of 64 px grayscale copies
(the appearance descriptors' decoding, `DESCRIPTOR_SPEC`, so a `val_groups: cluster` run's array cache
already holds them), standardised, into a multinomial logistic regression (scikit-learn). It takes
seconds where retraining a CNN per fold would take the run's whole budget again, and it is strong
enough to contradict a label: what confident learning needs is probabilities that were never fitted
on the image they score (`cross_val_predict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tumorbench.data.appearance import DESCRIPTOR_SPEC

FOLDS = 5  # out-of-fold folds (stratified, seeded)
C = 0.05  # inverse L2 strength: strong, so a few hundred images of 1764 HOG features do not overfit
BASELINE_NAME = "logistic regression on HOG of 64 px thumbnails"


def hog_features(images: np.ndarray) -> np.ndarray:
    """(N, 1, 64, 64) uint8 -> (N, D) HOG vectors (float32)."""
    import torch

    from tumorbench.models.hog import HOGFeatures

    hog = HOGFeatures()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), 256):
            batch = torch.as_tensor(np.asarray(images[start:start + 256]), dtype=torch.float32) / 255.0
            out.append(hog(batch).numpy())
    return np.concatenate(out) if out else np.zeros((0, hog.output_dim(DESCRIPTOR_SPEC.size)), np.float32)


def decode_thumbnails(root: str | Path, paths: Sequence[str]) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """(uint8 (N, 1, 64, 64) grayscale copies, the paths that decoded, (path, reason) of the others),
    through the array cache."""
    from tumorbench.data.cache import load_images_cached

    paths = list(paths)
    x, ok, bad = load_images_cached(Path(root), paths, DESCRIPTOR_SPEC)
    return np.asarray(x), [paths[i] for i in ok], [(str(p), str(r)) for p, r in bad]


def fit_thumbnail_model(x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, *,
                        seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(classes, out-of-fold probabilities of the training images, test probabilities from the model fitted
    on all of them). Classes: the training labels, sorted. Raises ValueError when a class has fewer than
    two images (nothing to cross-validate)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(list(y_train), dtype=object).astype(str)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        raise ValueError(f"the thumbnail model needs two classes with two training images each, got "
                         f"{dict(zip(classes.tolist(), counts.tolist()))}")
    from threadpoolctl import threadpool_limits

    f_train = hog_features(x_train)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    folds = StratifiedKFold(n_splits=min(FOLDS, int(counts.min())), shuffle=True, random_state=seed)
    # One BLAS thread: these products are small (hundreds of images x 1764 features x a few classes), so
    # OpenBLAS' threads mostly wait for each other, and they spin while waiting; where any other process
    # is busy the spinning thread holds the core the working one needs.
    with threadpool_limits(limits=1, user_api="blas"):
        oof = cross_val_predict(model, f_train, y, cv=folds, method="predict_proba")
        test = model.fit(f_train, y).predict_proba(hog_features(x_test)) if len(x_test) else \
            np.zeros((0, len(classes)))
    return classes.tolist(), oof, test


def probabilities_frame(images: Sequence[str], classes: Sequence[str], probs: np.ndarray) -> pd.DataFrame:
    """A predictions-like table (image, prob_<class>...) of the thumbnail model."""
    frame = pd.DataFrame({"image": list(images)})
    for k, c in enumerate(classes):
        frame[f"prob_{c}"] = probs[:, k]
    return frame
