"""Validation that sees a change of source: whole clusters of similar-looking training images held out.

A random validation split draws its images from the same sources (scanners, sites, exports) as the
training images around them, so it cannot tell a recipe that survives a new source from one that fits
the old ones; Sartaj's Testing split is such a new source (its validation says 0.93, its test 0.73).
Like spatial cross-validation, `cluster_split` clusters each class's images on cheap appearance
descriptors (intensity histogram of the head, head-area fraction, border brightness, a low-res
thumbnail) and holds out whole clusters, so validation images look unlike any training image of
their class. Original image sizes are no proxy on Sartaj: every training glioma is 512 x 512 RGB.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from tumorbench.data.folder import ImageRecord
from tumorbench.data.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

# What the descriptors are computed from: small, grayscale, decoded once per dataset (disk-cached).
DESCRIPTOR_SPEC = PreprocessSpec(size=64, grayscale=True, normalize=True, standardize=False)
CLUSTERS_PER_CLASS = 10  # ~80 Sartaj images a cluster: two or three held out per class make 20 %
_HEAD_THRESHOLD = 0.1  # brighter than this (of 1) is head, darker is background and padding
_HIST_BINS = 16
_THUMB = 8  # thumbnail side: the layout of the slice (orientation, position, zoom), not its detail


def appearance_descriptors(x: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) uint8 grayscale images -> (N, D) float descriptors of how each image looks.

    Per image: the intensity histogram of the head pixels, the head's share of the frame, the mean and
    spread of the head's intensity, the border's brightness (padding, burnt-in frames) and an 8 x 8
    thumbnail. Each block is standardised over the images and weighted so every block counts alike,
    whatever its length.
    """
    if x.dtype != np.uint8:
        raise ValueError(f"appearance descriptors need uint8 pixels (0..255), got {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"appearance descriptors need (N, 1, H, W) grayscale images, got shape {x.shape}")
    img = x[:, 0].astype(np.float64) / 255.0
    n, h, w = img.shape
    head = img > _HEAD_THRESHOLD
    area = head.reshape(n, -1).mean(1)
    hist = np.stack([np.histogram(im[m], bins=_HIST_BINS, range=(0.0, 1.0))[0] for im, m in zip(img, head)])
    hist = hist / np.maximum(hist.sum(1, keepdims=True), 1)
    head_px = np.where(head, img, np.nan).reshape(n, -1)
    with warnings.catch_warnings():  # an all-dark image has no head: its moments are 0
        warnings.simplefilter("ignore", RuntimeWarning)
        moments = np.nan_to_num(np.stack([np.nanmean(head_px, 1), np.nanstd(head_px, 1)], 1))
    edge = max(1, h // 16)
    border = np.concatenate([img[:, :edge].reshape(n, -1), img[:, -edge:].reshape(n, -1),
                             img[:, :, :edge].reshape(n, -1), img[:, :, -edge:].reshape(n, -1)], 1).mean(1)
    thumb = img[:, : h - h % _THUMB, : w - w % _THUMB].reshape(n, _THUMB, h // _THUMB, _THUMB, w // _THUMB).mean((2, 4))
    blocks = [hist, np.stack([area, border], 1), moments, thumb.reshape(n, -1)]
    return np.concatenate([_standardise(b) / np.sqrt(b.shape[1]) for b in blocks], 1)


def _standardise(block: np.ndarray) -> np.ndarray:
    sd = block.std(0)
    return (block - block.mean(0)) / np.where(sd > 0, sd, 1.0)


def appearance_clusters(records: Sequence[ImageRecord], descriptors: np.ndarray, *, seed: int,
                        clusters_per_class: int = CLUSTERS_PER_CLASS) -> np.ndarray:
    """A cluster number for every record: k-means on the descriptors within each class (seeded), the
    numbers unique across classes."""
    from sklearn.cluster import KMeans

    labels = np.array([r.label for r in records], dtype=object)
    out = np.empty(len(records), dtype=np.int64)
    next_id = 0
    for label in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == label)
        k = min(clusters_per_class, len(rows))
        if k < 2:
            raise ValueError(f"class {label!r} has {len(rows)} training image(s): holding out clusters of it needs "
                             "at least 2; use val_groups=none (a random stratified validation split)")
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(descriptors[rows])
        out[rows] = km.labels_ + next_id
        next_id += k
    return out


def cluster_split(records: Sequence[ImageRecord], descriptors: np.ndarray, *, fraction: float, seed: int,
                  clusters_per_class: int = CLUSTERS_PER_CLASS) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split records into (train, val): within each class, whole appearance clusters are held out (in a
    seeded order) until about `fraction` of the class is, so no cluster straddles the two sides and every
    class is on both. `descriptors` are `appearance_descriptors` of the records, in their order.

    The split depends only on the file list, the pixels and the seed, not on the order files were listed in.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    if len(descriptors) != len(records):
        raise ValueError(f"{len(descriptors)} descriptors for {len(records)} images")
    if any(r.label is None for r in records):
        raise ValueError("the training split has images without a class folder; cannot hold out clusters of them")
    order = sorted(range(len(records)), key=lambda i: records[i].path)
    records = [records[i] for i in order]
    descriptors = np.asarray(descriptors)[order]
    cluster = appearance_clusters(records, descriptors, seed=seed, clusters_per_class=clusters_per_class)
    rng = np.random.default_rng(seed)
    labels = np.array([r.label for r in records], dtype=object)
    held: list[int] = []
    for label in sorted(set(labels.tolist())):
        ids = np.unique(cluster[labels == label])
        sizes = np.array([(cluster == c).sum() for c in ids])
        if len(ids) < 2:  # k-means found one look only (e.g. copies of the same image)
            raise ValueError(f"class {label!r}: its {sizes.sum()} training images all look alike (one appearance "
                             "cluster), so none can be held out; use val_groups=none (a random stratified "
                             "validation split)")
        target = fraction * sizes.sum()
        # Seeded order; stop where the held-out share comes closest to the target, and keep one cluster.
        perm = rng.permutation(len(ids))
        cumulative = np.cumsum(sizes[perm])[:-1]
        take = int(np.argmin(np.abs(cumulative - target))) + 1
        held.extend(int(c) for c in ids[perm[:take]])
        share = cumulative[take - 1] / sizes.sum()
        if not fraction / 2 <= share <= 2 * fraction:  # uneven clusters: say so rather than skew silently
            log.warning("val_groups=cluster: class %r has %.0f%% of its training images in validation (target "
                        "%.0f%%): its appearance clusters are uneven", label, 100 * share, 100 * fraction)
    is_val = np.isin(cluster, held)
    return ([r for r, v in zip(records, is_val) if not v], [r for r, v in zip(records, is_val) if v])
