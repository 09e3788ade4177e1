"""The embedded synthetic dataset: deterministic, imbalanced like the real one, lesions where they belong."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from tumorbench.classes import CLASS_NAMES
from tumorbench.data.folder import scan_dataset
from tumorbench.data.synthetic import (
    DEFAULT_COUNTS,
    ensure_default_dataset,
    generate_synthetic_dataset,
    synthesize_image,
)


def _digest(root, split="Testing"):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / split).rglob("*.png"))}


SMALL = {"Training": {"glioma": 2, "meningioma": 2, "no_tumor": 1, "pituitary": 2},
         "Testing": {"glioma": 1, "meningioma": 1, "no_tumor": 1, "pituitary": 1}}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    a = generate_synthetic_dataset(tmp_path / "a", counts=SMALL, image_size=48)
    b = generate_synthetic_dataset(tmp_path / "b", counts=SMALL, image_size=48)
    c = generate_synthetic_dataset(tmp_path / "c", counts=SMALL, image_size=48, seed=1)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_an_image_does_not_depend_on_what_was_generated_before_it():
    alone = synthesize_image("meningioma", index=3, image_size=48).image
    for i in range(3):
        synthesize_image("glioma", index=i, image_size=48)
    assert np.array_equal(alone, synthesize_image("meningioma", index=3, image_size=48).image)


def test_layout_counts_and_format_are_those_tumorbench_reads(tmp_path):
    root = generate_synthetic_dataset(tmp_path / "d", counts=SMALL, image_size=40)
    index = scan_dataset(root)
    assert index.class_counts("train") == SMALL["Training"]
    assert index.class_counts("test") == SMALL["Testing"]
    img = Image.open(next((root / "Training" / "glioma").iterdir()))
    assert img.mode == "L" and img.size == (40, 40)


def test_default_counts_are_imbalanced_like_the_public_dataset():
    for split, per_class in DEFAULT_COUNTS.items():
        tumours = [per_class[c] for c in CLASS_NAMES if c != "no_tumor"]
        assert len(set(tumours)) == 1, split
        assert per_class["no_tumor"] == pytest.approx(tumours[0] / 2, rel=0.2)


@pytest.mark.parametrize("name", [c for c in CLASS_NAMES if c != "no_tumor"])
def test_the_lesion_is_the_only_difference_and_lies_where_the_class_puts_it(name):
    for index in range(4):
        with_lesion = synthesize_image(name, index=index, image_size=96)
        without = synthesize_image(name, index=index, image_size=96, lesion=False)
        changed = np.abs(with_lesion.image.astype(int) - without.image.astype(int)) > 20
        assert changed.sum() > 10, f"{name} {index}: no visible lesion"
        ys, xs = np.nonzero(changed)
        cy, cx = ys.mean(), xs.mean()
        lateral_mm = abs(with_lesion.world_mm[0, int(cy), int(cx)])  # MNI x: distance from the midline
        if name == "pituitary" and with_lesion.plane != "sagittal":  # a sagittal slice may sit off the midline
            assert lateral_mm < 15, f"pituitary {index}: lesion {lateral_mm:.0f} mm off the midline"
        if name == "glioma":  # infiltrative, intra-axial: centred inside the brain
            assert with_lesion.brain[int(cy), int(cx)]


def test_no_tumor_images_have_no_lesion():
    for index in range(3):
        a = synthesize_image("no_tumor", index=index, image_size=48)
        b = synthesize_image("no_tumor", index=index, image_size=48, lesion=False)
        assert np.array_equal(a.image, b.image)


def test_the_cache_is_built_once_and_marked_as_not_clinical(tmp_path, monkeypatch):
    calls = []
    import tumorbench.data.synthetic as synthetic

    real = synthetic.generate_synthetic_dataset
    monkeypatch.setattr(synthetic, "generate_synthetic_dataset",
                        lambda root, seed: calls.append(seed) or real(root, seed=seed, counts=SMALL, image_size=40))
    first = ensure_default_dataset(tmp_path, seed=5)
    second = ensure_default_dataset(tmp_path, seed=5)
    assert first == second and calls == [5]
    assert "NOT CLINICAL DATA" in (first / "README.txt").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no half-built folder left


def test_bad_arguments_are_refused_with_the_valid_options(tmp_path):
    with pytest.raises(ValueError, match="valid classes"):
        synthesize_image("cat")
    with pytest.raises(ValueError, match="valid splits"):
        generate_synthetic_dataset(tmp_path, counts={"Validation": {"glioma": 1}})
    with pytest.raises(ValueError, match=">= 32"):
        generate_synthetic_dataset(tmp_path, image_size=16)
