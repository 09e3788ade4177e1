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


def test_short_training_on_a_sartaj_subset(tmp_path):
    sartaj = require_sartaj()
    # A subset by symlinks: 24 training and 10 test images per class, read in place.
    for split, n in (("Training", 24), ("Testing", 10)):
        for cls_dir in sorted((sartaj / split).iterdir()):
            target = tmp_path / "subset" / split / cls_dir.name
            target.mkdir(parents=True)
            for src in sorted(cls_dir.iterdir())[:n]:
                (target / src.name).symlink_to(src)
    config = make_config({"image_size": 64, "train": {"epochs": 2}, "models": ["model_1"]})
    out = run_benchmark(config, data_root=tmp_path / "subset", out=tmp_path / "run")
    history = json.loads((out / "models" / "model_1" / "history.json").read_text())
    assert len(history["val_accuracy"]) == 2 and all(v == v for v in history["loss"])  # no NaN
    pred = pd.read_csv(out / "models" / "model_1" / "predictions_test.csv", keep_default_na=False)
    assert len(pred) == 40 and pred["image"].str.startswith("Testing/").all()
