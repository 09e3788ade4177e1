"""End-to-end training on tiny generated datasets: run folder, checkpoint, history, reproducibility."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.config import make_config
from tumorbench.inference.checkpoint import load_checkpoint
from tumorbench.inference.compute import plan_compute
from tumorbench.run import RunFolderError, run_benchmark

pytestmark = pytest.mark.slow


def _config(models=("model_1",), **extra):
    return make_config({"image_size": 32, "train": {"epochs": 3, "batch_size": 8}, "models": list(models), **extra})


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import make_dataset

    root = tmp_path_factory.mktemp("ds")
    counts = {"Training": {"glioma": 16, "meningioma": 16, "no_tumor": 8, "pituitary": 16},
              "Testing": {"glioma": 5, "meningioma": 5, "no_tumor": 5, "pituitary": 5}}
    data = make_dataset(root / "data", counts, folder_names={"glioma": "glioma_tumor", "no_tumor": "notumor"})
    (data / "Training" / "glioma_tumor" / "broken (1).jpg").write_bytes(b"\xff\xd8 truncated")
    out = run_benchmark(_config(), data_root=data, out=root / "run")
    return data, out


def test_run_folder_holds_config_splits_and_model_files(trained_run):
    data, out = trained_run
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["resolved_models"][0]["preprocess"]["size"] == 32
    assert resolved["seed"] == 0 and resolved["data"] == str(data)
    for name in ("checkpoint.pt", "history.json", "info.json", "predictions_val.csv", "predictions_test.csv"):
        assert (out / "models" / "model_1" / name).is_file(), name
    info = json.loads((out / "models" / "model_1" / "info.json").read_text())
    assert info["device"] == "cpu" and info["compute"] == plan_compute(torch.device("cpu")).describe()


def test_validation_comes_from_training_only_stratified_and_test_is_untouched(trained_run):
    data, out = trained_run
    train = pd.read_csv(out / "splits" / "train.csv")
    val = pd.read_csv(out / "splits" / "val.csv")
    test = pd.read_csv(out / "splits" / "test.csv")
    assert train["image"].str.startswith("Training/").all() and val["image"].str.startswith("Training/").all()
    assert not set(train["image"]) & set(val["image"])
    assert sorted(test["image"]) == sorted(f"Testing/{p.parent.name}/{p.name}"
                                           for p in (data / "Testing").rglob("*.png"))
    assert val["label"].value_counts().to_dict() == {"glioma": 3, "meningioma": 3, "pituitary": 3, "no_tumor": 2}


def test_corrupt_file_is_skipped_and_recorded(trained_run):
    _, out = trained_run
    skipped = pd.read_csv(out / "skipped_files.csv")
    assert skipped["path"].tolist() == ["Training/glioma_tumor/broken (1).jpg"]
    listed = pd.concat([pd.read_csv(out / "splits" / f"{s}.csv") for s in ("train", "val", "test")])
    assert "Training/glioma_tumor/broken (1).jpg" not in set(listed["image"])


def test_history_and_best_checkpoint_on_validation(trained_run):
    _, out = trained_run
    history = json.loads((out / "models" / "model_1" / "history.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "epoch"):
        assert len(history[key]) == 3, key
    acc, loss = np.array(history["val_accuracy"]), np.array(history["val_loss"])
    best = max(range(3), key=lambda i: (acc[i], -loss[i]))
    assert history["best_epoch"] == best + 1
    # The kept checkpoint is that epoch's: its validation predictions reproduce the logged accuracy.
    val = pd.read_csv(out / "models" / "model_1" / "predictions_val.csv", keep_default_na=False)
    pred = np.array(CLASS_NAMES)[val[list(PROB_COLUMNS)].to_numpy().argmax(1)]
    assert (pred == val["label"]).mean() == pytest.approx(acc[best])


def test_checkpoint_carries_config_classes_and_preprocessing(trained_run):
    _, out = trained_run
    loaded = load_checkpoint(out / "models" / "model_1" / "checkpoint.pt")
    assert loaded.meta["class_names"] == list(CLASS_NAMES)
    assert loaded.spec.size == 32 and loaded.spec.grayscale
    assert loaded.meta["config"]["resolved_models"][0]["name"] == "model_1"
    assert loaded.meta["architecture"] == "model_1"


def test_predictions_file_follows_the_contract(trained_run):
    _, out = trained_run
    frame = pd.read_csv(out / "models" / "model_1" / "predictions_test.csv", keep_default_na=False)
    assert list(frame.columns) == ["image", "label", *PROB_COLUMNS]
    assert len(frame) == 20 and set(frame["label"]) == set(CLASS_NAMES)
    assert np.allclose(frame[list(PROB_COLUMNS)].sum(axis=1), 1, atol=1e-6)


def test_same_seed_same_results_and_another_seed_differs(trained_run, tmp_path):
    data, out = trained_run
    again = run_benchmark(_config(), data_root=data, out=tmp_path / "again")
    first = pd.read_csv(out / "models" / "model_1" / "predictions_test.csv")
    second = pd.read_csv(again / "models" / "model_1" / "predictions_test.csv")
    pd.testing.assert_frame_equal(first, second)
    other = run_benchmark(_config(seed=1), data_root=data, out=tmp_path / "other")
    assert not pd.read_csv(other / "splits" / "val.csv").equals(pd.read_csv(out / "splits" / "val.csv"))


def test_existing_run_folder_is_never_overwritten_and_resume_finishes_it(trained_run, tmp_path):
    data, out = trained_run
    with pytest.raises(RunFolderError, match="pass --resume"):
        run_benchmark(_config(), data_root=data, out=out)
    with pytest.raises(RunFolderError, match="different config"):
        run_benchmark(_config(seed=5), data_root=data, out=out, resume=True)
    # A half-written model (interrupted before info.json) is retrained; a complete one is kept.
    run = tmp_path / "resume"
    run_benchmark(_config(models=("model_1", "model_3")), data_root=data, out=run)
    kept = (run / "models" / "model_1" / "checkpoint.pt").stat().st_mtime_ns
    (run / "models" / "model_3" / "info.json").unlink()
    run_benchmark(_config(models=("model_1", "model_3")), data_root=data, out=run, resume=True)
    assert (run / "models" / "model_1" / "checkpoint.pt").stat().st_mtime_ns == kept
    assert (run / "models" / "model_3" / "info.json").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.docx").write_text("precious")
    with pytest.raises(RunFolderError, match="not a tumorbench run"):
        run_benchmark(_config(), data_root=data, out=tmp_path / "other")


def test_resume_refuses_a_split_that_moved_under_complete_models(trained_run, tmp_path):
    """A complete model is kept on --resume only if the split it was scored on comes out the same: here a
    training image was added to the dataset in between."""
    import shutil

    data, _ = trained_run
    moved = shutil.copytree(data, tmp_path / "data")
    run = run_benchmark(_config(), data_root=moved, out=tmp_path / "run")
    first = next(f for f in sorted((moved / "Training" / "glioma_tumor").iterdir()) if "broken" not in f.name)
    shutil.copy(first, first.with_name("added_later" + first.suffix))
    with pytest.raises(RunFolderError, match=r"splits/(train|val)\.csv: --resume would draw a different (train|val) "
                                             r"split than the one model_1 trained on \(\d+ image\(s\) differ"):
        run_benchmark(_config(), data_root=moved, out=run, resume=True)


def test_resume_decodes_no_input_of_a_model_it_keeps(trained_run, tmp_path, monkeypatch):
    """Complete models of a resumed run are kept, so their inputs are not decoded: only the first model's
    (which tells unreadable files before the split) and those of the models still to train."""
    from tumorbench.data.arrays import ArrayCache

    data, _ = trained_run
    config = _config(models=("model_3", {"name": "model_1", "image_size": 24}))
    run = run_benchmark(config, data_root=data, out=tmp_path / "run")
    sizes: list[int] = []
    real = ArrayCache.decoded
    monkeypatch.setattr(ArrayCache, "decoded", lambda self, spec: (sizes.append(spec.size), real(self, spec))[1])
    run_benchmark(config, data_root=data, out=run, resume=True)
    assert set(sizes) == {32}
    (run / "models" / "model_1" / "info.json").unlink()
    sizes.clear()
    run_benchmark(config, data_root=data, out=run, resume=True)
    assert set(sizes) == {32, 24} and (run / "models" / "model_1" / "info.json").is_file()


def test_model_2_sees_balanced_augmented_epochs(tiny_dataset, tmp_path):
    """Every epoch of model_2 shows each class as often as the majority class, the extra images being
    augmented copies of training images (the seed's Model 2), while the training split stays as it is."""
    out = run_benchmark(_config(models=("model_2",)), data_root=tiny_dataset, out=tmp_path / "run")
    info = json.loads((out / "models" / "model_2" / "info.json").read_text())
    history = json.loads((out / "models" / "model_2" / "history.json").read_text())
    counts = list(info["train_class_counts"].values())
    assert len(set(counts)) > 1  # the training split itself is imbalanced
    for seen, augmented in zip(history["class_counts"], history["augmented"]):
        assert seen == [max(counts)] * len(counts)
        assert augmented == sum(max(counts) - c for c in counts)


def test_transfer_model_with_local_weights_trains_head_then_finetunes(tiny_dataset, tmp_path):
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "w.pth")
    config = make_config({"image_size": 40, "weights": str(tmp_path / "w.pth"),
                          "train": {"epochs": 2, "finetune_epochs": 1, "batch_size": 8},
                          "models": ["mobilenet_v3_small"]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    history = json.loads((out / "models" / "mobilenet_v3_small" / "history.json").read_text())
    assert history["phase"] == ["head", "head", "finetune"]
    assert history["lr"][2] == pytest.approx(history["lr"][0] * 0.1)
    info = json.loads((out / "models" / "mobilenet_v3_small" / "info.json").read_text())
    assert info["weights"] == f"file:{tmp_path / 'w.pth'}" and info["notes"] == []


def test_transfer_model_without_weights_says_it_trained_from_scratch(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    config = make_config({"image_size": 40, "train": {"epochs": 1, "batch_size": 8}, "models": ["mobilenet_v3_small"]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    info = json.loads((out / "models" / "mobilenet_v3_small" / "info.json").read_text())
    assert info["weights"] == "none" and "trained from scratch" in info["notes"][0]
    ckpt = load_checkpoint(out / "models" / "mobilenet_v3_small" / "checkpoint.pt")
    assert "trained from scratch" in ckpt.meta["notes"][0]
