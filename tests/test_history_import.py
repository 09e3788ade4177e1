"""Training histories of models trained elsewhere (`evaluate --history NAME=FILE`): the three formats,
bad files named with their fix, and the curves in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_report import write_synthetic_predictions

from tumorbench.cli import main
from tumorbench.evaluation.history import (
    parse_history_options,
    read_history_file,
    training_curves,
)
from tumorbench.report import evaluate_files

KERAS = {"loss": [1.2, 0.8, 0.6], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.9, 0.95],
         "val_accuracy": [0.55, 0.65, 0.62]}


def test_keras_history_json(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps(KERAS))
    history = read_history_file(path, "vgg")
    curves = training_curves(history)
    assert list(curves.epochs) == [1, 2, 3]
    assert list(curves.series["val_accuracy"]) == [0.55, 0.65, 0.62]


def test_old_keras_acc_keys_are_understood(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"acc": [0.5, 0.6], "val_acc": [0.4, 0.45], "loss": [1.0, 0.9]}))
    curves = training_curves(read_history_file(path, "m"))
    assert list(curves.series["accuracy"]) == [0.5, 0.6] and list(curves.series["val_accuracy"]) == [0.4, 0.45]


def test_models_history_json_takes_the_named_entry(tmp_path):
    path = tmp_path / "models_history.json"
    other = {k: [v + 0.01 for v in vs] for k, vs in KERAS.items()}
    path.write_text(json.dumps({"model_1": KERAS, "model_2": other}))
    assert read_history_file(path, "model_2")["loss"] == other["loss"]
    assert read_history_file(path, "model_1")["loss"] == KERAS["loss"]
    with pytest.raises(ValueError, match=r"models_history.json: holds the histories of 'model_1', 'model_2', none "
                                         r"called 'vgg'"):
        read_history_file(path, "vgg")


def test_keras_csvlogger_csv(tmp_path):
    path = tmp_path / "training.log.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.55,1.1\n1,0.7,0.8,0.65,0.9\n"
                    "2,0.8,0.6,0.62,0.95\n")
    curves = training_curves(read_history_file(path, "vgg"))
    assert list(curves.epochs) == [1, 2, 3]  # CSVLogger counts from 0, the figures from 1
    np.testing.assert_allclose(curves.series["val_loss"], [1.1, 0.9, 0.95])


@pytest.mark.parametrize("name, content, match", [
    ("h.json", "{not json", r"h.json: not valid JSON .*expected a Keras History.history JSON"),
    ("h.json", "[1, 2, 3]", r"h.json: a JSON list that is not a training history"),
    ("h.json", json.dumps({"lr": [0.1, 0.1]}), r"h.json: has no accuracy, val_accuracy, loss or val_loss series"),
    ("h.json", json.dumps({"loss": [1.0, "x"], "accuracy": [0.5, 0.6]}), r"h.json: 'loss' must be a list of numbers"),
    ("h.json", json.dumps({"loss": [1.0, 0.9], "accuracy": [0.5]}), r"h.json: series have different lengths"),
    ("h.json", json.dumps({"vgg": {"loss": 3}}), r"h.json: the entry 'vgg' is not a history"),
    ("h.csv", "epoch,lr\n0,0.1\n", r"h.csv: a CSV without accuracy or loss columns \(columns: epoch, lr\)"),
    ("h.csv", "epoch,loss\n0,1.0\n1,oops\n", r"h.csv: column 'loss' holds a non-number \('oops' on data row 2\)"),
    ("h.csv", "", r"h.csv: not a readable CSV file"),
], ids=["bad-json", "json-list", "no-series", "not-numbers", "lengths", "bad-entry", "csv-columns", "csv-value",
        "csv-empty"])
def test_bad_history_files_name_the_file_and_the_fix(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_history_file(path, "vgg")


def test_missing_history_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.json: history file not found \(given for model 'vgg'\)"):
        read_history_file(tmp_path / "nope.json", "vgg")


@pytest.mark.parametrize("values, match", [
    (["vgg"], "expected NAME=FILE"), (["=h.json"], "expected NAME=FILE"),
    (["a=x.json", "a=y.json"], "two files for model 'a'"),
])
def test_history_option_values(values, match):
    with pytest.raises(ValueError, match=match):
        parse_history_options(values)


def test_evaluate_draws_the_given_curves(tmp_path):
    a = write_synthetic_predictions(tmp_path / "a.csv", seed=1)
    b = write_synthetic_predictions(tmp_path / "b.csv", seed=2, skill=1.0)
    (tmp_path / "models_history.json").write_text(json.dumps({"a": KERAS}))
    out = evaluate_files([a, b], out_dir=tmp_path / "out", history=[f"a={tmp_path / 'models_history.json'}"])
    html = out.read_text()
    assert "a: training curves" in html and "b: training curves" not in html
    assert (tmp_path / "out" / "figures" / "a_training_curves.png").is_file()
    with pytest.raises(ValueError, match=r"--history names 'c', not among the evaluated models \('a', 'b'\)"):
        evaluate_files([a, b], out_dir=tmp_path / "out2", history={"c": tmp_path / "models_history.json"})


def test_cli_history_option_and_bad_file(tmp_path):
    a = write_synthetic_predictions(tmp_path / "a.csv", seed=1)
    good = tmp_path / "h.csv"
    good.write_text("epoch,accuracy,loss\n0,0.5,1.0\n1,0.6,0.9\n")
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(a), "--out", str(tmp_path / "o"), "--history", f"a={good}"])
    assert result.exit_code == 0, result.output
    assert "a: training curves" in (tmp_path / "o" / "report.html").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    result = runner.invoke(main, ["evaluate", str(a), "--out", str(tmp_path / "o2"), "--history", f"a={bad}"])
    assert result.exit_code != 0
    assert "bad.json" in result.output and "Traceback" not in result.output
