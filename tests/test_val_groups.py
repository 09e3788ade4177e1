"""`val_groups: cluster`: validation made of whole clusters of similar-looking training images per class
(tumorbench.data.appearance), the validation that sees a change of source."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import make_config
from tumorbench.data.appearance import appearance_descriptors, cluster_split
from tumorbench.data.folder import ImageRecord, scan_dataset
from tumorbench.data.split import read_split_list, split_dataset, stratified_split

BLOBS, PER_BLOB = 10, 10  # per class: 10 looks ("sources") of 10 images each


def _blob_data(seed: int = 0):
    """Records and 5-d descriptors: every class in BLOBS tight, far-apart blobs; returns also each record's blob."""
    rng = np.random.default_rng(seed)
    records, desc, blob = [], [], []
    for label in CLASS_NAMES:
        centres = rng.normal(0, 50, size=(BLOBS, 5))
        for b in range(BLOBS):
            for i in range(PER_BLOB):
                records.append(ImageRecord(f"Training/{label}/{label}_{b}_{i}.png", label))
                desc.append(centres[b] + rng.normal(0, 0.5, 5))
                blob.append((label, b))
    return records, np.array(desc), blob


def test_whole_clusters_held_out_per_class_at_the_fraction():
    records, desc, blob = _blob_data()
    train, val = cluster_split(records, desc, fraction=0.2, seed=0)
    blob_of = {r.path: b for r, b in zip(records, blob)}
    val_blobs, train_blobs = {blob_of[r.path] for r in val}, {blob_of[r.path] for r in train}
    assert not val_blobs & train_blobs  # no look straddles training and validation
    assert Counter(r.label for r in val) == {c: 2 * PER_BLOB for c in CLASS_NAMES}  # 20 % of every class
    assert len(train) + len(val) == len(records) and not {r.path for r in train} & {r.path for r in val}


def test_held_out_clusters_look_unlike_training_where_a_random_split_does_not():
    records, desc, _ = _blob_data()
    row = {r.path: i for i, r in enumerate(records)}

    def nearest_training_distance(train, val):
        t, v = desc[[row[r.path] for r in train]], desc[[row[r.path] for r in val]]
        return np.sqrt(((v[:, None] - t[None]) ** 2).sum(-1)).min(1).mean()

    shifted = nearest_training_distance(*cluster_split(records, desc, fraction=0.2, seed=0))
    random_split = nearest_training_distance(*stratified_split(records, fraction=0.2, seed=0))
    assert shifted > 10 * random_split


def test_same_seed_same_split_whatever_the_listing_order():
    records, desc, _ = _blob_data()
    order = list(range(len(records)))
    random.Random(1).shuffle(order)
    shuffled, shuffled_desc = [records[i] for i in order], desc[order]
    assert cluster_split(records, desc, fraction=0.2, seed=3) == cluster_split(shuffled, shuffled_desc,
                                                                                fraction=0.2, seed=3)
    assert cluster_split(records, desc, fraction=0.2, seed=3)[1] != cluster_split(records, desc, fraction=0.2,
                                                                                   seed=4)[1]


def test_impossible_grouping_is_a_clear_error():
    records, desc, _ = _blob_data()
    lonely = records[:PER_BLOB * BLOBS] + [ImageRecord("Training/pituitary/p.png", "pituitary")]
    with pytest.raises(ValueError, match=r"class 'pituitary' has 1 training image.*val_groups=none"):
        cluster_split(lonely, desc[:len(lonely)], fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        cluster_split(records, desc, fraction=1.0, seed=0)
    with pytest.raises(ValueError, match="descriptors for"):
        cluster_split(records, desc[:5], fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="without a class folder"):
        cluster_split([ImageRecord("Training/x.png", None)] * 3, desc[:3], fraction=0.2, seed=0)
    # Copies of one image: k-means finds a single look, so nothing can be held out (was a numpy argmin error).
    copies = [ImageRecord(f"Training/glioma/g{i}.png", "glioma") for i in range(6)]
    with pytest.raises(ValueError, match=r"class 'glioma': its 6 training images all look alike.*val_groups=none"):
        cluster_split(copies, np.ones((6, 5)), fraction=0.2, seed=0)


def test_an_uneven_held_out_share_is_reported(caplog):
    """Two looks of 10 images each and a 20 % target: a whole look (50 %) must go, and the log says so."""
    records = [ImageRecord(f"Training/glioma/g{b}_{i}.png", "glioma") for b in range(2) for i in range(10)]
    desc = (np.array([[100.0 * b, 0, 0] for b in range(2) for _ in range(10)])
            + np.random.default_rng(0).normal(0, .1, (20, 3)))
    with caplog.at_level("WARNING"):
        train, val = cluster_split(records, desc, fraction=0.2, seed=0, clusters_per_class=2)
    assert len(val) == 10 and "class 'glioma' has 50% of its training images in validation (target 20%)" in caplog.text


def test_descriptors_tell_apart_how_images_look():
    rng = np.random.default_rng(0)
    head = np.zeros((64, 64), np.uint8)
    head[16:48, 16:48] = 120
    big_bright = np.zeros((64, 64), np.uint8)
    big_bright[4:60, 4:60] = 220
    x = np.stack([head, head, big_bright, np.zeros((64, 64), np.uint8)])[:, None]
    x = np.concatenate([x, (rng.random((1, 1, 64, 64)) * 255).astype(np.uint8)])
    d = appearance_descriptors(x)
    assert d.shape[0] == 5 and np.isfinite(d).all()  # an all-black image (no head) too
    np.testing.assert_allclose(d[0], d[1])
    assert np.linalg.norm(d[0] - d[2]) > 1.0
    with pytest.raises(ValueError, match="grayscale"):
        appearance_descriptors(np.zeros((2, 3, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):  # [0, 1] floats would all read as background
        appearance_descriptors(np.zeros((2, 1, 64, 64), np.float32))


def test_bad_val_groups_settings_are_refused(tmp_path):
    from tumorbench.run import run_benchmark

    with pytest.raises(ValueError, match="val_groups.*valid: none, cluster"):
        make_config({"val_groups": "sources"})
    with pytest.raises(ValueError, match="dedup=group_split.*--set val_groups=none"):
        make_config({"val_groups": "cluster", "dedup": "group_split"})
    root = _make_dataset(tmp_path / "data")
    # A dataset with its own validation folder is refused before the run folder exists (nothing to clean up).
    with_val = _make_dataset(tmp_path / "with_val")
    (with_val / "Training" / CLASS_NAMES[0]).rename(tmp_path / "moved")
    (with_val / "Validation").mkdir()
    (tmp_path / "moved").rename(with_val / "Validation" / CLASS_NAMES[0])
    _make_dataset(tmp_path / "refill")  # Training needs every class again
    (tmp_path / "refill" / "Training" / CLASS_NAMES[0]).rename(with_val / "Training" / CLASS_NAMES[0])
    with pytest.raises(ValueError, match="its own validation folder.*--set val_groups=none"):
        run_benchmark(make_config({"models": ["model_1"], "val_groups": "cluster"}), data_root=with_val,
                      out=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    index = scan_dataset(root)
    with pytest.raises(ValueError, match="needs the images' appearance descriptors"):
        split_dataset(index, list, val_fraction=0.2, seed=0, val_groups="cluster")
    with pytest.raises(ValueError, match="unknown val_groups"):
        split_dataset(index, list, val_fraction=0.2, seed=0, val_groups="sources")


def _make_dataset(root: Path, *, per_look: int = 6) -> Path:
    """Training: per class two looks (dark small head, bright large head); Testing: 2 images a class."""
    rng = np.random.default_rng(0)
    for split, looks in (("Training", (0, 1)), ("Testing", (0,))):
        for c, label in enumerate(CLASS_NAMES):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for look in looks:
                for i in range(per_look if split == "Training" else 2):
                    img = np.zeros((48, 48), np.uint8)
                    lo, hi = (14, 34) if look == 0 else (4, 44)
                    img[lo:hi, lo:hi] = (90 if look == 0 else 210) + rng.integers(0, 30, (hi - lo, hi - lo))
                    img[20 + c * 3:24 + c * 3, 20:28] = 255  # the class mark
                    Image.fromarray(img).save(folder / f"{label}_{look}_{i}.png")
    return root


@pytest.mark.slow
def test_run_with_cluster_validation_keeps_every_class_on_both_sides(tmp_path):
    from tumorbench.run import run_benchmark
    from tumorbench.sections import write_full_report

    root = _make_dataset(tmp_path / "data")
    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1"], "val_groups": "cluster",
                          "val_fraction": 0.5, "seed": 1})
    out = run_benchmark(config, data_root=root, out=tmp_path / "run")
    train, val = read_split_list(out / "splits" / "train.csv"), read_split_list(out / "splits" / "val.csv")
    assert {r.label for r in val} == set(CLASS_NAMES) == {r.label for r in train}
    assert len(train) + len(val) == 4 * 12
    # The run's validation is the cluster split of the training images' descriptors, not a stratified one.
    from tumorbench.data.appearance import DESCRIPTOR_SPEC
    from tumorbench.data.images import load_images

    records = scan_dataset(root).records("train")
    x, ok, _ = load_images(root, [r.path for r in records], DESCRIPTOR_SPEC)
    _, expected = cluster_split([records[i] for i in ok], appearance_descriptors(x), fraction=0.5, seed=1)
    assert sorted(r.path for r in val) == sorted(r.path for r in expected)
    assert sorted(r.path for r in val) != sorted(r.path for r in stratified_split(records, fraction=0.5, seed=1)[1])
    assert yaml.safe_load((out / "config.yaml").read_text())["val_groups"] == "cluster"
    write_full_report(out)
    assert "val_groups=cluster" in (out / "report.html").read_text(encoding="utf-8")
