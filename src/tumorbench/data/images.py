"""Decoding image files of any format and mode into uint8 arrays of one preprocessing spec.

Brain-MRI datasets mix JPEG and PNG, 8- and 16-bit, grayscale, RGB, RGBA and palette images. Every
file is brought to the spec's mode and size here, in one place. A file that cannot be decoded is
reported (never raised, never silently dropped) so the caller can skip it and record it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from tumorbench.data.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


# The largest image decoded: 8192 x 8192. MRI slices are far smaller (a 4k x 4k film scan is 16 MP);
# a larger file is more likely a decompression bomb than a slice, and decoding one costs gigabytes.
# Checked on the header before any pixel is decoded, so an over-limit file costs nothing.
DEFAULT_MAX_PIXELS = 8192 * 8192
MAX_PIXELS_ENV = "TUMORBENCH_MAX_PIXELS"
_max_pixels_override: int | None = None


class ImageTooLargeError(ValueError):
    """The image has more pixels than the limit; it is skipped like any unreadable file."""


def max_pixels() -> int:
    """The pixel limit in force: `set_max_pixels`, else $TUMORBENCH_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    if _max_pixels_override is not None:
        return _max_pixels_override
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    return parse_max_pixels(raw, where=f"${MAX_PIXELS_ENV}")


def parse_max_pixels(value: object, *, where: str) -> int:
    """A pixel limit from text or a number (`64000000`, `64e6`); errors name `where` and the fix."""
    try:
        number = float(str(value).replace("_", ""))
    except ValueError:
        number = float("nan")
    if not number == number or number < 1 or number == float("inf") or number != int(number):
        raise ValueError(f"{where}: the pixel limit must be a whole number of pixels >= 1 (e.g. "
                         f"{DEFAULT_MAX_PIXELS} for 8192 x 8192), got {value!r}")
    return int(number)


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit for this process (None: back to $TUMORBENCH_MAX_PIXELS or the default)."""
    global _max_pixels_override
    _max_pixels_override = None if limit is None else parse_max_pixels(limit, where="max_pixels")


# What Pillow raises for a file it cannot decode. DecompressionBombWarning is listed because a warnings
# filter set to "error" (pytest -W error, a user's own) turns Pillow's warning for big images into an
# exception; tumorbench never sets warning filters while decoding (they are not thread-safe).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning)


@contextlib.contextmanager
def open_image(source: str | os.PathLike | IO[bytes]) -> Iterator[Image.Image]:
    """`Image.open` that refuses, before decoding, an image over the pixel limit (ImageTooLargeError)."""
    try:
        img = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own, higher limit: the header says so before we could look.
        raise ImageTooLargeError(f"{exc}; tumorbench's limit is {max_pixels()} pixels "
                                 f"(raise it with ${MAX_PIXELS_ENV} or --max-pixels)") from None
    with img:
        width, height = img.size
        limit = max_pixels()
        if width * height > limit:
            raise ImageTooLargeError(
                f"{width} x {height} pixels ({width * height / 1e6:.1f} megapixels) is over the limit of "
                f"{limit / 1e6:.1f} megapixels; not decoded (raise the limit with ${MAX_PIXELS_ENV} or "
                "--max-pixels if the image is genuine)")
        yield img


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

    Raises one of DECODE_ERRORS when the file is not a readable image, and ImageTooLargeError (a
    ValueError) when it has more pixels than `max_pixels()`.
    """
    with open_image(path) as img:
        img.load()  # a truncated JPEG raises here (Pillow's default), so it is recorded as a bad file
        return image_to_array(ImageOps.exif_transpose(img), spec)


def image_to_array(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """A decoded (and EXIF-rotated) image as the spec's uint8 array (C, size, size): what `load_image`
    returns for its file, for callers that hold the decoded image already (the audit)."""
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
    except DECODE_ERRORS as exc:
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
