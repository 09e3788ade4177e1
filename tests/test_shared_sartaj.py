"""A short real training on a small subset of ../shared/datasets/sartaj (read in place)."""

import json

import pandas as pd
import pytest

from tests.conftest import require_sartaj
from tumorbench.config import make_config
from tumorbench.data.folder import scan_dataset
from tumorbench.run import run_benchmark

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_sartaj_is_read_with_its_odd_file_names():
    index = scan_dataset(require_sartaj())
    assert index.class_counts("train") == {"glioma": 826, "meningioma": 822, "no_tumor": 395, "pituitary": 827}
    assert sum(index.class_counts("test").values()) == 394
    assert any(" (" in r.path for r in index.records("train"))


def sartaj_subset(root, per_class: dict[str, int]):
    """A subset of Sartaj by symlinks (read in place): the first n images of each class per split."""
    sartaj = require_sartaj()
    for split, n in per_class.items():
        for cls_dir in sorted((sartaj / split).iterdir()):
            target = root / split / cls_dir.name
            target.mkdir(parents=True)
            for src in sorted(cls_dir.iterdir())[:n]:
                (target / src.name).symlink_to(src)
    return root


def test_short_training_on_a_sartaj_subset(tmp_path):
    subset = sartaj_subset(tmp_path / "subset", {"Training": 24, "Testing": 10})
    config = make_config({"image_size": 64, "train": {"epochs": 2}, "models": ["model_1"]})
    out = run_benchmark(config, data_root=subset, out=tmp_path / "run")
    history = json.loads((out / "models" / "model_1" / "history.json").read_text())
    assert len(history["val_accuracy"]) == 2 and all(v == v for v in history["loss"])  # no NaN
    pred = pd.read_csv(out / "models" / "model_1" / "predictions_test.csv", keep_default_na=False)
    assert len(pred) == 40 and pred["image"].str.startswith("Testing/").all()


def test_imbalance_study_on_a_sartaj_subset(tmp_path):
    """The study's short CPU configuration on real images (the full grid is documented in the README)."""
    from tumorbench.study import imbalance_config, run_imbalance_study

    # Sartaj's own imbalance, scaled down: no_tumor has about half the images of each tumour class.
    counts = {"Training": 20, "Testing": 6}
    subset = sartaj_subset(tmp_path / "subset", counts)
    for extra in sorted((subset / "Training" / "no_tumor").iterdir())[10:]:
        extra.unlink()
    base = make_config({"image_size": 32, "train": {"epochs": 1, "batch_size": 16}, "models": ["model_1"]})
    strategies = ["none", "oversample", "class_weight"]
    config = imbalance_config(base, models=["model_1"], strategies=strategies, seeds=1)
    out = run_imbalance_study(config, data_root=subset, out=tmp_path / "study")
    summary = json.loads((out / "study_imbalance.json").read_text())
    assert [r["strategy"] for r in summary["rows"]] == strategies
    seen = {c["strategy"]: c for c in summary["counts"]}
    # 80 % of the training split trains: 16 of each tumour class, 8 no_tumor; oversampling evens them.
    assert seen["none"]["after"] == {"glioma": 16, "meningioma": 16, "no_tumor": 8, "pituitary": 16}
    assert seen["oversample"]["after"] == {"glioma": 16, "meningioma": 16, "no_tumor": 16, "pituitary": 16}
    assert seen["class_weight"]["class_weights"]["no_tumor"] == pytest.approx(56 / (4 * 8))
    for strategy in strategies:  # validation and test keep their true distribution
        pred = pd.read_csv(out / "models" / f"model_1.{strategy}.seed0" / "predictions_test.csv")
        assert pred["label"].value_counts().to_dict() == \
            {c: 6 for c in ("glioma", "meningioma", "no_tumor", "pituitary")}
