"""A dataset decoded into memory: every image once per preprocessing, and the arrays of a split.

Decoding a JPEG and resizing it costs more than a forward pass of the seed's CNN at 64 px, so each
image is decoded once per preprocessing (size, colour mode, resize filter) and kept as uint8
(256 px grayscale Sartaj: ~190 MB), or memory-mapped from the on-disk cache of an earlier run
(`tumorbench.data.cache`). Models with the same input share one decoding; a split is a list of rows of
it, gathered batch by batch, so the splits add no second copy of the images (at 256 px on Sartaj, a
copy was 0.2 GB of a run's peak memory).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tumorbench.classes import CLASS_NAMES
from tumorbench.data.folder import ImageRecord
from tumorbench.data.images import image_to_array, load_images
from tumorbench.data.preprocess import PreprocessSpec

log = logging.getLogger(__name__)


def class_indices(labels: Sequence[str | None], classes: Sequence[str] = CLASS_NAMES) -> torch.Tensor:
    """int64 indices into `classes` (the model's); -1 for an unknown label or one that is no class of it."""
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index.get(lab, -1) if lab else -1 for lab in labels], dtype=torch.int64)


@dataclass
class ImageArrays:
    """One split in memory, what training and prediction read: `images(index)` gives its pixels."""

    x: torch.Tensor  # uint8 (M, C, H, W) at the spec's size and mode: the split's images, or the whole
    # decoded dataset when `rows` says which of its images are the split's
    y: torch.Tensor  # int64 (N,) class indices into `classes`; -1 when the label is unknown or no class
    paths: list[str]  # relative image paths, same order
    rows: torch.Tensor | None = None  # int64 (N,) row of each image in `x`; None: `x` is the split
    classes: tuple[str, ...] = CLASS_NAMES  # the model's classes, the order of `y` and of its outputs
    true_labels: list[str | None] | None = None  # the labels as read (also those that are no class)

    def __len__(self) -> int:
        return len(self.paths)

    def images(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """uint8 pixels of the split's images at `index` (positions in the split). A slice of a split
        without `rows` is a view: callers scale it into a new tensor and never write to it."""
        if self.rows is None:
            return self.x[index]
        return self.x[self.rows[index]]

    @property
    def labels(self) -> list[str | None]:
        """The true labels (a label that is no class of the model too: the predictions file keeps it)."""
        if self.true_labels is not None:
            return list(self.true_labels)
        return [self.classes[y] if y >= 0 else None for y in self.y.tolist()]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def from_numpy(cls, x: np.ndarray, labels: list[str | None], paths: list[str],
                   classes: Sequence[str] = CLASS_NAMES) -> ImageArrays:
        classes = tuple(classes)
        return cls(torch.from_numpy(x), class_indices(labels, classes), list(paths), classes=classes,
                   true_labels=list(labels))


def join_arrays(first: ImageArrays, second: ImageArrays) -> ImageArrays:
    """`first` then `second` as one split (a refit's training + validation). Splits gathered from the
    same decoded images share their pixels: only the rows are joined, nothing is copied."""
    y, paths = torch.cat([first.y, second.y]), [*first.paths, *second.paths]
    same = dict(classes=first.classes, true_labels=[*first.labels, *second.labels])
    if first.rows is not None and second.rows is not None and first.x.data_ptr() == second.x.data_ptr() \
            and first.x.shape == second.x.shape:
        return ImageArrays(first.x, y, paths, rows=torch.cat([first.rows, second.rows]), **same)
    return ImageArrays(torch.cat([first.images(), second.images()]), y, paths, **same)


@dataclass
class DecodedImages:
    """Every readable image of the dataset decoded at one preprocessing: what a split's arrays are
    gathered from.

    Sent to Ray's object store once per preprocessing (numpy arrays are shared zero-copy by the workers
    of a node and cross the network once per node), never once per task."""

    x: np.ndarray  # uint8 (N, C, H, W)
    paths: list[str]
    labels: list[str | None]

    def arrays(self, paths: Sequence[str], classes: Sequence[str] = CLASS_NAMES) -> ImageArrays:
        """The split of `paths`: their rows of these images, not a copy; labels as indices into `classes`
        (the model's)."""
        position = {p: i for i, p in enumerate(self.paths)}
        rows = [position[p] for p in paths]
        labels = [self.labels[i] for i in rows]
        with warnings.catch_warnings():
            # A memory-mapped cache is read-only; nothing writes to a split's pixels (batches are
            # gathered into new tensors first), so sharing the mapping is safe.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            x = torch.from_numpy(self.x)
        classes = tuple(classes)
        return ImageArrays(x, class_indices(labels, classes), list(paths), rows=torch.tensor(rows, dtype=torch.int64),
                           classes=classes, true_labels=labels)


def images_key(spec: PreprocessSpec) -> tuple:
    """What decoding depends on: models with the same size, colour mode and filter share their arrays."""
    return (spec.size, spec.mode, spec.resize)


class ArrayCache:
    """Decoded images per preprocessing, shared by models with the same input.

    The first request for a spec decodes every record of the dataset (train, val and test), or maps
    them from the on-disk cache of an earlier run, so later requests for any split are slices of
    memory. Files that cannot be decoded are collected in `bad` (path -> reason).

    A run decodes each image once: the audit decodes the files whose features it has not cached, and
    `tap` hands it a function that keeps their arrays at every spec the run needs and has not cached
    either; `decoded` then decodes only the files the audit did not.
    """

    def __init__(self, root: Path, records: list[ImageRecord]):
        self.root = root
        self.records = records
        self._decoded: dict[tuple, DecodedImages] = {}
        self._tapped: dict[tuple, dict[str, np.ndarray]] = {}
        self.bad: dict[str, str] = {}

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    def tap(self, specs: Sequence[PreprocessSpec]) -> Callable[[str, Image.Image], None] | None:
        """A function `(path, decoded image)` for `audit_dataset(tap=...)` that keeps the arrays of the
        specs not cached on disk yet; None when every spec is cached (nothing to gain)."""
        from tumorbench.data.cache import cached_images

        todo = {images_key(s): s for s in specs}
        todo = {k: s for k, s in todo.items()
                if k not in self._decoded and cached_images(self.root, self.paths, s) is None}
        if not todo:
            return None
        for key in todo:
            self._tapped.setdefault(key, {})

        def keep(path: str, img: Image.Image) -> None:
            for key, spec in todo.items():
                self._tapped[key][path] = image_to_array(img, spec)
        return keep

    def decoded(self, spec: PreprocessSpec) -> DecodedImages:
        from tumorbench.data.cache import cached_images, store_images

        key = images_key(spec)
        if key not in self._decoded:
            paths = self.paths
            entry = cached_images(self.root, paths, spec)
            if entry is None:
                entry = self._decode(paths, spec, self._tapped.pop(key, {}))
                store_images(self.root, paths, spec, entry)
            x, ok, bad = entry
            self.bad.update(dict(bad))
            self._decoded[key] = DecodedImages(x, [paths[i] for i in ok], [self.records[i].label for i in ok])
        return self._decoded[key]

    def _decode(self, paths: list[str], spec: PreprocessSpec, tapped: dict[str, np.ndarray]):
        """(array, indices of decoded files, (path, reason) of the others), in `paths` order: the images
        the audit decoded from `tapped`, the others decoded now."""
        rest = [i for i, p in enumerate(paths) if p not in tapped]
        if tapped:
            log.info("%d of %d images decoded once for the audit and training; decoding the other %d",
                     len(paths) - len(rest), len(paths), len(rest))
        x_rest, ok_rest, bad = load_images(self.root, [paths[i] for i in rest], spec)
        decoded_rest = {rest[j]: row for j, row in zip(ok_rest, x_rest)}
        x = np.empty((len(paths) - len(bad), spec.channels, spec.size, spec.size), dtype=np.uint8)
        ok: list[int] = []
        for i, path in enumerate(paths):
            row = tapped.get(path)
            if row is None:
                row = decoded_rest.get(i)
            if row is not None:
                x[len(ok)] = row
                ok.append(i)
        return x[:len(ok)], ok, bad

    def readable(self, records: Sequence[ImageRecord]) -> list[ImageRecord]:
        """`records` without the files that could not be decoded (known once a spec was decoded)."""
        return [r for r in records if r.path not in self.bad]
