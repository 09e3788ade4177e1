"""The command line: clear messages, never a traceback, and the predictions contract."""

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from tumorbench.classes import PROB_COLUMNS
from tumorbench.cli import main
from tumorbench.config import make_config
from tumorbench.run import run_benchmark


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_models_lists_every_model_with_its_input():
    result = invoke("models")
    assert result.exit_code == 0
    assert "model_1" in result.output and "256 px L" in result.output
    assert "baseline" in result.output and "299 px RGB" in result.output and "ImageNet" in result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()}
    assert "balance augment_balance" in rows["model_2"] and "balance -" in rows["model_1"]


@pytest.mark.parametrize("args, message", [
    (["run", "--data", "/nonexistent"], "dataset folder not found"),
    (["run", "--data", "{data}", "--models", "model_9"], "valid models: model_1"),
    (["run", "--data", "{data}", "--set", "nonsense"], "expected KEY=VALUE"),
    (["predict", "--model", "/nope.pt", "--data", "{data}", "--out", "x.csv"], "checkpoint not found"),
], ids=["missing-data", "unknown-model", "bad-set", "missing-checkpoint"])
def test_bad_input_gives_one_clear_line(tiny_dataset, args, message):
    result = invoke(*[a.format(data=tiny_dataset) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "audit"])
def test_a_class_map_naming_no_folder_is_reported_by_the_cli(tiny_dataset, tmp_path, command):
    where = ["--data", tiny_dataset] if command == "run" else [tiny_dataset]
    result = invoke(command, *where, "--class-map", "cat=tumor", "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert "class map names folder(s) ['cat']" in result.output and "glioma_tumor" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_a_class_folder_that_cannot_be_a_column_is_reported_by_the_cli(tiny_dataset, tmp_path):
    (tiny_dataset / "Training" / "brain tumour").mkdir()
    (tiny_dataset / "Training" / "brain tumour" / "x.png").write_bytes(
        (tiny_dataset / "Testing" / "no_tumor" / "no_tumor_000.png").read_bytes())
    result = invoke("run", "--data", tiny_dataset, "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert "--class-map 'brain tumour=brain_tumour'" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_predict_writes_the_contract_and_checks_the_checkpoint(tiny_dataset, tmp_path):
    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1"]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    ckpt = out / "models" / "model_1" / "checkpoint.pt"
    result = invoke("predict", "--model", ckpt, "--data", tiny_dataset, "--split", "testing",
                    "--out", tmp_path / "p.csv", "--device", "cpu")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(frame.columns) == ["image", "label", *PROB_COLUMNS] and len(frame) == 20
    # Same model, same images: the file equals the run's own test predictions.
    ours = pd.read_csv(out / "models" / "model_1" / "predictions_test.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(frame.sort_values("image").reset_index(drop=True),
                                  ours.sort_values("image").reset_index(drop=True), atol=1e-6)
    # A model of other classes predicts in its own columns (its checkpoint's class list is the truth);
    # a class list that cannot be one is refused with the reason.
    other = torch.load(ckpt, weights_only=False)
    other["class_names"] = ["cat", "dog", "no_tumor", "pituitary"]
    torch.save(other, tmp_path / "other.pt")
    result = invoke("predict", "--model", tmp_path / "other.pt", "--data", tiny_dataset, "--out", tmp_path / "cats.csv")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(tmp_path / "cats.csv").columns)[2:] == \
        ["prob_cat", "prob_dog", "prob_no_tumor", "prob_pituitary"]
    other["class_names"] = ["cat", "cat", "no_tumor", "pituitary"]
    torch.save(other, tmp_path / "twice.pt")
    result = invoke("predict", "--model", tmp_path / "twice.pt", "--data", tiny_dataset, "--out", tmp_path / "q.csv")
    assert result.exit_code == 1 and "not two or more distinct classes" in result.output
    (tmp_path / "half.pt").write_bytes(ckpt.read_bytes()[:1000])
    result = invoke("predict", "--model", tmp_path / "half.pt", "--data", tiny_dataset, "--out", tmp_path / "q.csv")
    assert result.exit_code == 1 and "half.pt: cannot read" in result.output
    assert not (tmp_path / "q.csv").exists()


def test_predict_on_unlabelled_images_leaves_the_label_empty(tiny_dataset, tmp_path):
    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1"]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    flat = tmp_path / "flat" / "test"
    flat.mkdir(parents=True)
    for p in list((tiny_dataset / "Testing" / "glioma_tumor").iterdir())[:3]:
        (flat / p.name).write_bytes(p.read_bytes())
    result = invoke("predict", "--model", out / "models" / "model_1" / "checkpoint.pt", "--data", tmp_path / "flat",
                    "--split", "test", "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert len(frame) == 3 and (frame["label"] == "").all()
    assert np.allclose(frame[list(PROB_COLUMNS)].sum(axis=1), 1)


@pytest.mark.slow
def test_run_with_seeds_trains_replicas_and_reports_them(tiny_dataset, tmp_path):
    import json

    out = tmp_path / "r"
    result = invoke("run", "--data", tiny_dataset, "--models", "model_1,model_3", "--seeds", 2, "--image-size", 24,
                    "--epochs", 1, "--out", out, "--set", "evaluation.bootstrap.resamples=200")
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (out / "models").iterdir())
    assert folders == ["model_1", "model_1.seed1", "model_3", "model_3.seed1"]
    seeds = {name: json.loads((out / "models" / name / "info.json").read_text())["seed"] for name in folders}
    assert seeds == {"model_1": 0, "model_1.seed1": 1, "model_3": 0, "model_3.seed1": 1}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["bootstrap"]["resamples"] == 200
    assert metrics["seeds"]["groups"] == {"model_1": ["model_1", "model_1.seed1"],
                                          "model_3": ["model_3", "model_3.seed1"]}
    assert metrics["comparison"]["models"] == ["model_1", "model_3"]  # seed 0 of each model is compared
    shares = {(p["a"], p["b"]): p["share"] for p in metrics["seeds"]["pairs"]}
    assert shares[("model_1", "model_3")] + shares[("model_3", "model_1")] == pytest.approx(1.0)
    html = (out / "report.html").read_text()
    assert "Across training seeds" in html and "seed-pairs-table" in html


def test_seeds_must_be_positive(tiny_dataset, tmp_path):
    result = invoke("run", "--data", tiny_dataset, "--seeds", 0, "--out", tmp_path / "r")
    assert result.exit_code != 0 and "--seeds must be an integer of at least 1" in result.output
    assert "Traceback" not in result.output


def test_evaluate_reads_evaluation_settings_from_config_and_set(tmp_path):
    import json

    from test_report import write_synthetic_predictions

    a = write_synthetic_predictions(tmp_path / "a.csv", seed=1, skill=2.0)
    b = write_synthetic_predictions(tmp_path / "b.csv", seed=2, skill=1.0)
    config = tmp_path / "c.yaml"
    config.write_text("evaluation:\n  bootstrap: {resamples: 300}\n  cost_matrix: {glioma: {no_tumor: 10}}\n")
    result = invoke("evaluate", a, b, "--out", tmp_path / "out", "--config", config,
                    "--set", "evaluation.bootstrap.method=bca")
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "out" / "metrics.json").read_text())["settings"]
    assert settings["bootstrap"]["resamples"] == 300 and settings["bootstrap"]["method"] == "bca"
    assert settings["cost_matrix"][0] == [0.0, 1.0, 10.0, 1.0]
    config.write_text("evaluation:\n  bootstrap: {resamples: 5}\n")
    result = invoke("evaluate", a, "--out", tmp_path / "bad", "--config", config)
    assert result.exit_code != 0
    assert "c.yaml: evaluation.bootstrap.resamples must be an integer of at least 100" in result.output
    result = invoke("evaluate", a, "--out", tmp_path / "bad", "--set", "seed=1")
    assert result.exit_code != 0 and "evaluate takes evaluation.<key>=VALUE only" in result.output
