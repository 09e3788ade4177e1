"""Property-based fuzzing of the two readers that take files from anywhere: the image loader and the
predictions-file reader. Whatever the bytes, they answer with a recorded bad file or a ValueError that
names the file, never another exception.

A few seconds in CI (profile `ci`); a long run: `HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra: pip install -e '.[test]'")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS  # noqa: E402
from tumorbench.data.images import load_images  # noqa: E402
from tumorbench.data.preprocess import PreprocessSpec  # noqa: E402
from tumorbench.predictions.io import read_predictions  # noqa: E402

SPEC = PreprocessSpec(size=16)


def _encoded(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (24, 20), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


REAL = {fmt: _encoded(fmt, i) for i, fmt in enumerate(("PNG", "JPEG", "BMP", "TIFF"))}
SIGNATURES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"II*\x00", b"MM\x00*", b"GIF89a"]


def _decode(data: bytes, name: str = "x.png"):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(data)
        return load_images(Path(tmp), [name], SPEC)


def _assert_handled(result) -> None:
    x, ok, bad = result
    assert len(ok) + len(bad) == 1
    if ok:
        assert x.shape == (1, 1, 16, 16) and x.dtype == np.uint8
    else:
        assert isinstance(bad[0][1], str) and bad[0][1]


@given(st.binary(max_size=2048))
def test_random_bytes_are_a_bad_file_never_an_exception(data):
    _assert_handled(_decode(data))


@given(st.sampled_from(sorted(REAL)), st.data())
def test_truncated_real_images_are_a_bad_file_or_decode(fmt, draw):
    data = REAL[fmt]
    cut = draw.draw(st.integers(0, len(data)))
    _assert_handled(_decode(data[:cut], f"x.{fmt.lower()}"))


@given(st.sampled_from(SIGNATURES), st.binary(max_size=512))
def test_random_data_behind_a_real_header_is_handled(signature, tail):
    _assert_handled(_decode(signature + tail))


@given(st.sampled_from(sorted(REAL)), st.integers(0, 10_000), st.integers(0, 255))
def test_a_flipped_byte_in_a_real_image_is_handled(fmt, position, value):
    data = bytearray(REAL[fmt])
    data[position % len(data)] = value
    _assert_handled(_decode(bytes(data), f"x.{fmt.lower()}"))


# --- predictions files -------------------------------------------------------------------------------

CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0, 1).map(lambda v: f"{v:.6g}"),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e309", "0x10", "1,5", '"', '""', "\x00", "é", "None"]),
    st.text(max_size=8),
)
LABEL = st.one_of(st.sampled_from([*CLASS_NAMES, "glioma_tumor", "notumor", "", "cat", "GLIOMA"]), st.text(max_size=6))


@st.composite
def prediction_files(draw) -> bytes:
    header = ["image", "label", *PROB_COLUMNS]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    rows = []
    for i in range(draw(st.integers(0, 6))):
        image = draw(st.one_of(st.just(f"img{i}.png"), st.text(max_size=6)))
        cells = {"image": image, "label": draw(LABEL), **{c: draw(CELL) for c in PROB_COLUMNS}}
        rows.append([cells.get(h, "") for h in header])
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(str(c) for c in row) for row in [header, *rows]) + newline
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@given(prediction_files())
def test_the_predictions_reader_accepts_the_contract_or_names_the_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_bytes(data)
        try:
            frame = read_predictions(path)
        except ValueError as exc:
            assert "p.csv" in str(exc)
            return
    probs = frame[list(PROB_COLUMNS)].to_numpy()
    assert np.isfinite(probs).all() and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert set(frame["label"]) <= {*CLASS_NAMES, ""}
    assert frame["image"].is_unique
