import numpy as np
import pytest
from PIL import Image

from tumorbench.data.images import is_image_file, load_image, load_images
from tumorbench.data.preprocess import PreprocessSpec

GRAY = PreprocessSpec(size=16, grayscale=True)
RGB = PreprocessSpec(size=16, grayscale=False)


def _save(path, img, **kw):
    img.save(path, **kw)
    return path.name


@pytest.fixture
def mixed_folder(tmp_path):
    """One file of every mode and format the loader must handle, plus broken ones."""
    names = {}
    names["rgb_jpg"] = _save(tmp_path / "scan (1).jpg", Image.new("RGB", (30, 20), (200, 100, 50)))
    rgba = Image.new("RGBA", (20, 20), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 10, 20))
    names["rgba"] = _save(tmp_path / "transparent.png", rgba)
    names["pal"] = _save(tmp_path / "palette.png", Image.new("RGB", (20, 20), (90, 90, 90)).convert("P"))
    arr16 = np.zeros((20, 20), np.uint16)
    arr16[:, 10:] = 4000  # a 12-bit scan stored as 16 bits
    names["i16"] = _save(tmp_path / "sixteen.png", Image.fromarray(arr16))
    names["bmp"] = _save(tmp_path / "img.bmp", Image.new("L", (8, 8), 77))
    names["tif"] = _save(tmp_path / "img.tif", Image.new("L", (8, 8), 33))
    names["odd"] = _save(tmp_path / "ünïcode name [x] (2).png", Image.new("L", (8, 8), 10))
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    names["corrupt"] = "corrupt.jpg"
    (tmp_path / "empty.png").write_bytes(b"")
    names["empty"] = "empty.png"
    good = Image.new("L", (64, 64), 128)
    good.save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    names["truncated"] = "truncated.jpg"
    return tmp_path, names


def test_every_mode_decodes_to_the_spec(mixed_folder):
    root, n = mixed_folder
    for key in ("rgb_jpg", "rgba", "pal", "i16", "bmp", "tif", "odd"):
        g, c = load_image(root / n[key], GRAY), load_image(root / n[key], RGB)
        assert g.shape == (1, 16, 16) and g.dtype == np.uint8, key
        assert c.shape == (3, 16, 16), key


def test_transparency_goes_to_black_and_16_bit_keeps_contrast(mixed_folder):
    root, n = mixed_folder
    rgba = load_image(root / n["rgba"], GRAY)[0]
    assert rgba[:, :6].min() > 240 and rgba[:, -6:].max() < 10
    i16 = load_image(root / n["i16"], GRAY)[0]
    assert i16[:, :6].max() == 0 and i16[:, -6:].min() == 255  # 4000 of 4000 -> white, not 4000/65535


def test_bad_files_are_reported_not_raised_and_not_dropped_silently(mixed_folder, caplog):
    root, n = mixed_folder
    paths = sorted(p.name for p in root.iterdir())
    x, ok, bad = load_images(root, paths, GRAY, workers=2)
    bad_names = {name for name, _ in bad}
    assert bad_names == {n["corrupt"], n["empty"], n["truncated"]}
    assert dict(bad)[n["empty"]] == "empty file (0 bytes)"
    assert len(ok) == len(x) == len(paths) - 3
    assert [paths[i] for i in ok] == [p for p in paths if p not in bad_names]
    assert all(name in caplog.text for name in bad_names)


@pytest.mark.parametrize("name, expected", [
    ("a.JPG", True), ("a.jpeg", True), ("a.png", True), ("a.tiff", True), ("a.bmp", True),
    (".DS_Store", False), ("._a.jpg", False), ("a.txt", False), ("Thumbs.db", False),
])
def test_is_image_file(name, expected):
    assert is_image_file(name) is expected
