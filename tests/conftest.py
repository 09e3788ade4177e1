"""Shared fixtures. Datasets are drawn by the tests themselves; ../shared is read in place only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from tumorbench.classes import CLASS_NAMES

# Tests never download model weights.
os.environ.setdefault("TUMORBENCH_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SARTAJ = SHARED / "datasets" / "sartaj"


def draw_sample(label: str, rng: np.random.Generator, size: int = 40) -> Image.Image:
    """A grayscale 'slice' whose class is visible: a disc, a square, nothing, or a small dot."""
    img = Image.new("L", (size, size), int(rng.integers(10, 40)))
    d = ImageDraw.Draw(img)
    d.ellipse([3, 3, size - 4, size - 4], fill=int(rng.integers(70, 100)))  # the 'brain'
    c = int(rng.integers(size // 3, 2 * size // 3))
    r = size // 6
    if label == CLASS_NAMES[0]:
        d.ellipse([c - r, c - r, c + r, c + r], fill=230)
    elif label == CLASS_NAMES[1]:
        d.rectangle([c - r, c - r, c + r, c + r], fill=200)
    elif label == CLASS_NAMES[3]:
        d.ellipse([size // 2 - 2, size - 12, size // 2 + 2, size - 8], fill=250)
    return img


def slice_image(seed: int, size: tuple[int, int] = (96, 96)) -> Image.Image:
    """A grayscale 'slice': an ellipse of random size and place filled with a smooth random texture.
    Two seeds give unrelated images (pHash distance ~100 of 256 bits, never below ~45)."""
    rng = np.random.default_rng(seed)
    w, h = size
    texture = ndimage.gaussian_filter(rng.normal(size=(h, w)), sigma=4)
    texture = (texture - texture.min()) / (np.ptp(texture) + 1e-9)
    mask = Image.new("L", size, 0)
    left, top = rng.integers(4, 16, 2)
    ImageDraw.Draw(mask).ellipse([left, top, w - rng.integers(4, 16), h - rng.integers(4, 16)], fill=255)
    arr = (40 + 200 * texture) * (np.asarray(mask) / 255)
    return Image.fromarray(arr.astype(np.uint8), mode="L")


def make_dataset(root: Path, counts: dict[str, dict[str, int]], *, folder_names: dict[str, str] | None = None,
                 size: int = 40, seed: int = 0) -> Path:
    """Write `<root>/<split>/<class folder>/<class>_<i>.png` with `counts[split][class]` images."""
    rng = np.random.default_rng(seed)
    folder_names = folder_names or {}
    for split, per_class in counts.items():
        for label, n in per_class.items():
            folder = root / split / folder_names.get(label, label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                draw_sample(label, rng, size).save(folder / f"{label}_{i:03d}.png")
    return root


@pytest.fixture(autouse=True, scope="session")
def _audit_cache_outside_home(tmp_path_factory):
    """Every `run` audits its dataset first and keeps its decoded images in the array cache: keep the
    audit's feature cache and the array cache out of the home folder."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TUMORBENCH_AUDIT_CACHE", str(tmp_path_factory.mktemp("audit-cache")))
    patch.setenv("TUMORBENCH_ARRAY_CACHE", str(tmp_path_factory.mktemp("array-cache")))
    yield
    patch.undo()


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """An imbalanced 4-class dataset of 40 px images, Training/Testing, Sartaj-style folder names."""
    counts = {
        "Training": {"glioma": 16, "meningioma": 16, "no_tumor": 8, "pituitary": 16},
        "Testing": {"glioma": 5, "meningioma": 5, "no_tumor": 5, "pituitary": 5},
    }
    names = {"glioma": "glioma_tumor", "meningioma": "meningioma_tumor", "no_tumor": "no_tumor",
             "pituitary": "pituitary_tumor"}
    return make_dataset(tmp_path / "data", counts, folder_names=names)


def require_sartaj() -> Path:
    if not SARTAJ.is_dir():
        pytest.skip(f"the shared Sartaj dataset is not at {SARTAJ} (tests read ../shared in place; "
                    "clone the project beside shared/ to run them)")
    return SARTAJ


# Property-based tests (hypothesis): a few seconds in CI; `HYPOTHESIS_PROFILE=long python -m pytest
# tests/test_fuzz.py` runs thousands of cases per property.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=60, deadline=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture])
    settings.register_profile("long", max_examples=5000, deadline=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # the test extra installs hypothesis; without it only the fuzz tests skip
    pass
