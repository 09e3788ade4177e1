"""Per-file features of the audit: what the file is (size, mode, format), exact identity (hashes of
its bytes and of its decoded pixels) and perceptual identity (pHash of a few crops).

Everything here is JSON-able so it can be cached on disk, and one file's failure to decode becomes an
`error` string, never an exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image, ImageOps

from tumorbench.data.images import DECODE_ERRORS, _to_mode, open_image

# Bumped whenever a feature's definition changes, so cached entries of the old definition are recomputed.
FEATURE_VERSION = 2  # 2: images over tumorbench's pixel limit are errors, not decoded

HASH_SIZE = 16  # pHash side: 16 x 16 = 256 bits, from the DCT of a 64 x 64 grayscale thumbnail
HASH_BITS = HASH_SIZE * HASH_SIZE
_THUMB = HASH_SIZE * 4  # imagehash's highfreq_factor of 4

# Crops (left, top, right, bottom margins as fractions of the side) at which every image is hashed.
# The first is the whole image. A copy cropped by a few pixels matches the original at one of the
# other crops (the audit compares one image's whole-image hash with the other's crops, both ways):
# trimmed on every side by up to ~3 %, or on one side by ~1.5 %.
CROPS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 0.0),
    (0.01, 0.01, 0.01, 0.01),
    (0.02, 0.02, 0.02, 0.02),
    (0.03, 0.03, 0.03, 0.03),
    (0.015, 0.0, 0.0, 0.0),
    (0.0, 0.015, 0.0, 0.0),
    (0.0, 0.0, 0.015, 0.0),
    (0.0, 0.0, 0.0, 0.015),
)


def bytes_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _canonical_pixels(img: Image.Image) -> Image.Image:
    """The same pixels in the smallest mode that holds them, so that an RGB copy of a grayscale slice,
    or a palette or fully opaque RGBA copy of an RGB one, counts as pixel-identical."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() == 255:
            img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if img.mode in ("RGB", "CMYK", "YCbCr"):
        arr = np.asarray(img.convert("RGB"))
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            return Image.fromarray(np.ascontiguousarray(arr[..., 0]), mode="L")
        return img.convert("RGB") if img.mode != "RGB" else img
    return img


def pixel_hash(img: Image.Image) -> str:
    img = _canonical_pixels(img)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{img.mode}:{img.width}x{img.height}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def perceptual_hashes(img: Image.Image) -> list[str]:
    """pHash (imagehash, 256 bits, hex) of the grayscale image at each of CROPS."""
    gray = _to_mode(img, "L")
    # Hash from a copy of at most ~2x the thumbnail's side: crops of 1 % stay meaningful and the
    # DCT input does not depend on the original resolution (a resized copy hashes alike).
    factor = min(gray.size) // (2 * _THUMB)
    if factor > 1:
        gray = gray.reduce(factor)
    w, h = gray.size
    out = []
    for left, top, right, bottom in CROPS:
        box = (left * w, top * h, w - right * w, h - bottom * h)
        thumb = gray.resize((_THUMB, _THUMB), Image.Resampling.LANCZOS, box=box)
        out.append(str(imagehash.phash(thumb, hash_size=HASH_SIZE)))
    return out


def extract_features(path: str | os.PathLike, *, tap: Callable[[Image.Image], None] | None = None) -> dict[str, Any]:
    """Features of one image file; a file that cannot be decoded gets `error` and no pixel features.

    `tap`, when given, also receives the decoded (EXIF-rotated) image, so that a run can take its training
    arrays from this decoding instead of decoding the file a second time; whatever it raises is ignored
    here (the training decoder then reads the file itself and reports it).

        extract_features("Training/glioma_tumor/gg (1).jpg")
        # -> {'file_size': 23456, 'format': 'JPEG', 'mode': 'RGB', 'width': 512, 'height': 512,
        #     'bytes_hash': '9c1e...', 'pixel_hash': '41aa...', 'phash': ['c3f0...', ...], 'error': None}
    """
    path = Path(path)
    data = path.read_bytes()
    feats: dict[str, Any] = {
        "file_size": len(data), "format": None, "mode": None, "width": None, "height": None,
        "bytes_hash": bytes_hash(data), "pixel_hash": None, "phash": None, "error": None,
    }
    if not data:
        feats["error"] = "empty file (0 bytes)"
        return feats
    try:
        # An image over the pixel limit is recorded as a bad file, not decoded.
        buffer = io.BytesIO(data)
        with open_image(buffer) as img:
            feats["format"] = img.format
            feats["mode"] = img.mode
            feats["width"], feats["height"] = img.size
            img.load()
            img = ImageOps.exif_transpose(img)
            feats["pixel_hash"] = pixel_hash(img)
            feats["phash"] = perceptual_hashes(img)
            if tap is not None:
                with contextlib.suppress(*DECODE_ERRORS):
                    tap(img)
    except DECODE_ERRORS as exc:
        # Pillow names the buffer it was given ("<_io.BytesIO object at 0x...>"): name the file instead.
        feats["error"] = (str(exc) or type(exc).__name__).replace(repr(buffer), path.name)
        feats["pixel_hash"] = feats["phash"] = None
    return feats
