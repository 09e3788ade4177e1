"""Decoding image files of any format and mode into uint8 arrays of one preprocessing spec.

Brain-MRI datasets mix JPEG and PNG, 8- and 16-bit, grayscale, RGB, RGBA and palette images. Every
file is brought to the spec's mode and size here, in one place. A file that cannot be decoded is
reported (never raised, never silently dropped) so the caller can skip it and record it.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tumorbench.data.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


def is_image_file(path: str | os.PathLike) -> bool:
    """True for the image formats tumorbench reads; hidden files (.DS_Store, ._x.jpg) are not images."""
    name = os.path.basename(path)
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float MRI exports use a small part of their range (often 0..4095): scale by the
        # image's own maximum so the slice keeps its contrast instead of turning black.
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 0.0
        arr = np.clip(arr, 0, None) * (255.0 / top if top > 0 else 0.0)
        img = Image.fromarray(arr.round().astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels are background: put them on black, the background of an MRI slice.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert(mode) if img.mode != mode else img


def load_image(path: str | os.PathLike, spec: PreprocessSpec) -> np.ndarray:
    """Decode one file to a uint8 array (C, size, size) in the spec's colour mode.

    Raises OSError/ValueError (from Pillow) when the file is not a readable image.
    """
    with warnings.catch_warnings():
        # A truncated JPEG is an error here, not a warning: it is recorded as a bad file.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_mode(img, spec.mode)
            img = img.resize((spec.size, spec.size), _RESAMPLE[spec.resize])
            arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


def _try_load(path: Path, spec: PreprocessSpec) -> tuple[np.ndarray | None, str | None]:
    try:
        return load_image(path, spec), None
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc) or type(exc).__name__
        if os.path.exists(path) and os.path.getsize(path) == 0:
            reason = "empty file (0 bytes)"
        return None, reason


def load_images(
    root: Path, relpaths: Sequence[str], spec: PreprocessSpec, *, workers: int | None = None
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode many files into one uint8 array (N_ok, C, size, size).

    Returns the array, the indices (into `relpaths`) of the files that decoded, and the
    (relpath, reason) of those that did not. Decoding runs in threads: Pillow releases the GIL.
    """
    workers = workers or min(8, os.cpu_count() or 1)
    out = np.empty((len(relpaths), spec.channels, spec.size, spec.size), dtype=np.uint8)
    ok: list[int] = []
    bad: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda rel: _try_load(root / rel, spec), relpaths)
        for i, (arr, reason) in enumerate(results):
            if arr is None:
                log.warning("skipping unreadable image %s: %s", root / relpaths[i], reason)
                bad.append((relpaths[i], reason or "unreadable"))
            else:
                out[len(ok)] = arr
                ok.append(i)
    return out[: len(ok)], ok, bad
