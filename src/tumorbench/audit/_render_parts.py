"""What the dataset's and the cross-dataset audit's rendering share: the jinja environment, the style
both HTML sections carry, inlined thumbnails and number formats."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from markupsafe import Markup
from PIL import Image, ImageOps

from tumorbench.rendering import SECTIONS

MAX_PAIRS_SHOWN = 24
MAX_ROWS_SHOWN = 50
MAX_LISTED = 10  # unreadable files named in the terminal summary
THUMB_PX = 96

_ENV = SECTIONS  # the one environment (tumorbench.rendering), with the audit's whitespace rules


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def _kb(n: float | None) -> str:
    return "–" if n is None else f"{n / 1024:.0f}"


def thumbnail_uri(root: str | os.PathLike | None, rel: str, size: int = THUMB_PX) -> str | None:
    """A small PNG of `root/rel` as a data URI, or None when the file cannot be read."""
    if root is None:
        return None
    from tumorbench.data.images import DECODE_ERRORS, _to_mode, open_image

    try:
        with open_image(Path(root) / rel) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_mode(img, "RGB")
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
    except DECODE_ERRORS:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str | None) -> Markup:
    """A thumbnail, or a black box of the same size when the file could not be read at report time."""
    if uri is None:
        return Markup('<span style="display:inline-block;width:{0}px;height:{0}px;background:#000">'
                      '</span>').format(THUMB_PX)
    return Markup('<img alt="" src="{}">').format(uri)


# Both sections carry the style: the run report may show the cross-dataset one alone.
_STYLE = _ENV.from_string("""<style>
.tb-audit table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
.tb-audit th, .tb-audit td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; vertical-align: top; }
.tb-audit th:first-child, .tb-audit td.name { text-align: left; }
.tb-audit .pairs { display: flex; flex-wrap: wrap; gap: 10px; margin: 0.5em 0 1em; }
.tb-audit .pair { width: {{ 2 * thumb + 16 }}px; border: 1px solid #ccc; padding: 4px; margin: 0; font-size: 0.8em; }
.tb-audit .pair img { width: {{ thumb }}px; height: {{ thumb }}px; object-fit: contain; background: #000; }
.tb-audit .warn { color: #a40000; font-weight: bold; }
.tb-audit .wide { overflow-x: auto; }
.tb-audit code { font-size: 0.9em; word-break: break-all; }
</style>
""").render(thumb=THUMB_PX)
