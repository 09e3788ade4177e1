"""The notebook API (`import tumorbench as tb`): result objects, DataFrames and paths, typed errors with
the CLI's messages, and whole-job progress."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from click.testing import CliRunner
from markupsafe import escape
from test_report import make_run_folder, write_synthetic_predictions

import tumorbench as tb
from tumorbench.api import report as rebuild_report
from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.cli import main
from tumorbench.progress import JobProgress, format_duration

FAST = {"evaluation.bootstrap.resamples": 200}


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return (write_synthetic_predictions(root / "strong.csv", seed=1, skill=2.5),
            write_synthetic_predictions(root / "weak.csv", seed=2, skill=0.8))


@pytest.fixture(scope="module")
def evaluated(two_files, tmp_path_factory):
    return tb.evaluate(list(two_files), out=tmp_path_factory.mktemp("evaluated"), overrides=FAST)


def test_import_stays_light_and_the_api_survives_its_namesake_modules():
    code = "import sys, tumorbench as tb; print('torch' in sys.modules, 'pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == \
        ["False", "False"]
    import tumorbench.audit  # noqa: F401  (modules named like API functions: importing them rebinds nothing)
    from tumorbench.run import run_benchmark  # noqa: F401

    assert tb.run.__module__ == "tumorbench.api.commands" and tb.audit.__module__ == "tumorbench.api.dataset_commands"
    assert callable(tb.evaluate) and callable(tb.predict) and issubclass(tb.InvalidInputError, ValueError)


def test_summary_html_shows_every_model_its_metrics_and_the_recommendation(evaluated):
    document = json.loads((evaluated.folder / "metrics.json").read_text())
    html = evaluated._repr_html_()
    for name in ("strong", "weak"):
        assert f"<td>{name}</td>" in html
        assert f"{document['models'][name]['accuracy']:.3f}" in html
        low, high = document["models"][name]["intervals"]["macro_f1"]
        assert f"[{low:.3f}, {high:.3f}]" in html
    assert "<th>accuracy [95% CI]</th>" in html and "<th>macro F1 [95% CI]</th>" in html
    assert all(f"<li>{escape(sentence)}</li>" in html for sentence in document["recommendation"])
    assert evaluated.report_path.as_uri() in html


def test_tables_are_the_numbers_of_metrics_json(evaluated):
    document = json.loads((evaluated.folder / "metrics.json").read_text())
    metrics = evaluated.metrics
    assert list(metrics.index) == ["strong", "weak"]
    assert {"n", "accuracy", "macro_f1", "balanced_accuracy", "glioma_recall", "accuracy_low", "accuracy_high"} <= \
        set(metrics.columns)
    for name, m in document["models"].items():
        assert metrics.at[name, "accuracy"] == m["accuracy"]
        assert metrics.at[name, "macro_f1"] == m["macro"]["f1"]
        assert [metrics.at[name, "accuracy_low"], metrics.at[name, "accuracy_high"]] == m["intervals"]["accuracy"]
        for cls in CLASS_NAMES:
            assert evaluated.per_class.loc[(name, cls), "recall"] == m["per_class"][cls]["recall"]
            assert evaluated.per_class.loc[(name, cls), "support"] == m["per_class"][cls]["support"]
        assert evaluated.confusion(name).to_numpy().tolist() == m["confusion_matrix"]
    assert evaluated.per_class.index.names == ["model", "class"]
    assert metrics.loc["strong", "accuracy"] > metrics.loc["weak", "accuracy"]  # the fixture's skills
    csv = pd.read_csv(evaluated.folder / "metrics.csv", index_col="model")
    assert np.allclose(csv["macro_f1"], metrics["macro_f1"], rtol=1e-5)
    assert set(evaluated.comparison["metric"]) >= {"accuracy", "macro_f1"}
    with pytest.raises(KeyError, match="models: strong, weak"):
        evaluated.confusion("nope")


def test_figures_are_plotly_figures_of_the_report(evaluated):
    figures = evaluated.figures
    assert {"accuracy_by_model", "metrics_by_model", "strong/roc", "weak/confusion_matrix",
            "weak/precision_recall", "strong/reliability"} <= set(figures)
    assert all(isinstance(f, go.Figure) for f in figures.values())
    # The ROC figure draws the classes of this model's curves, AUCs from metrics.json in the legend.
    auc = json.loads((evaluated.folder / "metrics.json").read_text())["models"]["strong"]["per_class"]["glioma"]["auc"]
    assert any(f"glioma (AUC {auc:.3f})" == trace.name for trace in figures["strong/roc"].data)
    for name in ("strong", "weak"):  # the report embeds the same figures
        assert f'id="fig-{name}_roc"' in evaluated.report_path.read_text()


def test_save_writes_the_report(evaluated, tmp_path):
    page = evaluated.save(tmp_path / "copy" / "report.html")
    assert page.read_bytes() == evaluated.report_path.read_bytes()
    folder = evaluated.save(tmp_path / "folder")
    assert folder == tmp_path / "folder" / "report.html"
    assert json.loads((tmp_path / "folder" / "metrics.json").read_text())["models"].keys() == {"strong", "weak"}
    assert (tmp_path / "folder" / "figures" / "strong_roc.png").is_file()


def test_dataframes_and_paths_give_the_same_numbers(two_files, evaluated, tmp_path):
    frames = {"strong": pd.read_csv(two_files[0], keep_default_na=False),
              "weak": pd.read_csv(two_files[1], keep_default_na=False)}
    from_frames = tb.evaluate(frames, out=tmp_path / "frames", overrides=FAST)
    pd.testing.assert_frame_equal(from_frames.metrics, evaluated.metrics)
    pd.testing.assert_frame_equal(from_frames.per_class, evaluated.per_class)
    assert from_frames.recommendation == evaluated.recommendation
    # The frames became the report's input files: the report can be made again from them.
    assert sorted(p.name for p in (tmp_path / "frames" / "inputs").iterdir()) == ["strong.csv", "weak.csv"]


def _cli_output(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code != 0 and "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("case", ["missing-file", "bad-columns", "bad-override", "names-mismatch"])
def test_bad_input_raises_a_typed_error_with_the_message_the_cli_prints(two_files, tmp_path, case):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,label,prob_glioma\na.jpg,glioma,1.0\n")
    api_call, cli_args, error_type, message = {
        "missing-file": (lambda: tb.evaluate([tmp_path / "nope.csv"], out=tmp_path / "o"),
                         ["evaluate", tmp_path / "nope.csv", "--out", tmp_path / "o"], OSError, "nope.csv"),
        "bad-columns": (lambda: tb.evaluate([bad], out=tmp_path / "o"),
                        ["evaluate", bad, "--out", tmp_path / "o"], ValueError, "bad.csv"),
        "bad-override": (lambda: tb.evaluate(list(two_files), out=tmp_path / "o", overrides={"seed": 1}),
                         ["evaluate", *two_files, "--out", tmp_path / "o", "--set", "seed=1"], ValueError,
                         "evaluate takes evaluation.<key>=VALUE only"),
        "names-mismatch": (lambda: tb.evaluate(list(two_files), names=["one"], out=tmp_path / "o"),
                           ["evaluate", *two_files, "--names", "one", "--out", tmp_path / "o"], ValueError,
                           "1 names for 2 predictions files"),
    }[case]
    pattern = message.replace(".", r"\.").replace("<", ".").replace(">", ".")
    with pytest.raises(tb.TumorbenchError, match=pattern) as info:
        api_call()
    assert isinstance(info.value, error_type)
    assert str(info.value) in _cli_output(*cli_args)


def test_dataframes_need_names_and_bad_training_options_fail_before_any_work(tmp_path, tiny_dataset):
    frame = pd.read_csv(write_synthetic_predictions(tmp_path / "a.csv"), keep_default_na=False)
    with pytest.raises(tb.InvalidInputError, match="names="):
        tb.evaluate([frame], out=tmp_path / "o")
    with pytest.raises(tb.InvalidInputError, match="valid models: model_1"):
        tb.run(tiny_dataset, models=["model_9"], out=tmp_path / "r")
    with pytest.raises(tb.InvalidInputError, match="no model named 'model_9'"):
        tb.run(tiny_dataset, models="model_1", overrides={"model_9.image_size": 32}, out=tmp_path / "r")
    with pytest.raises(tb.InvalidInputError, match="dataset folder not found"):
        tb.run(tmp_path / "nowhere", out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_report_of_a_run_folder_has_its_training_curves_and_summary(tmp_path):
    run = make_run_folder(tmp_path)
    result = rebuild_report(run)
    assert result.report_path.is_file() and set(result.models) == {"resnet18", "baseline_cnn", "external"}
    assert isinstance(result.figures["resnet18/training_curves"], go.Figure)
    assert "external/training_curves" not in result.figures  # predictions only: no history
    assert "resnet18" in result.recommendation.splitlines()[0]  # the fixture's strongest model


def test_audit_result_tables_figures_and_save(tiny_dataset, tmp_path):
    result = tb.audit(tiny_dataset, out=tmp_path / "audit", cache=False)
    counts = result.class_counts
    assert counts.loc["train", "glioma"] == 16 and counts.loc["test"].sum() == 20
    assert isinstance(result.figures["class_counts"], go.Figure)
    html = result._repr_html_()
    assert "76 images" in html and result.report_path.as_uri() in html
    assert result.save(tmp_path / "again") == tmp_path / "again" / "audit.html"
    assert json.loads((tmp_path / "again" / "audit.json").read_text())["n_images"] == 76
    with pytest.raises(tb.InvalidInputError, match="dataset folder not found"):
        tb.audit(tmp_path / "nowhere")


# ---------------------------------------------------------------- progress

def test_progress_says_model_k_of_n_epoch_and_the_whole_jobs_eta():
    now = [0.0]
    progress = JobProgress([("model_1", 3), ("baseline", 4)], bar=False, clock=lambda: now[0])
    progress.start("model_1", 3)
    assert progress.position("model_1") == "model 1 of 2, epoch 0 of 3, job 0%, ETA unknown"
    now[0] = 10.0
    progress.epoch_done("model_1", 1)
    now[0] = 20.0
    # 2 epochs in 20 s, 5 to go: 50 s.
    assert progress.epoch_done("model_1", 2) == "model 1 of 2, epoch 2 of 3, job 28%, ETA 50 s"
    now[0] = 30.0
    progress.epoch_done("model_1", 3)
    progress.finish("model_1")
    progress.start("baseline", 2)  # trained from scratch: no fine-tuning epochs after all
    assert progress.position("baseline") == "model 2 of 2, epoch 0 of 2, job 60%, ETA 20 s"
    now[0] = 40.0
    progress.epoch_done("baseline", 1)
    assert progress.finish("baseline", completed=False).startswith("2 of 2 models done (baseline); job 100%")
    assert [format_duration(s) for s in (4.6, 190, 7500)] == ["5 s", "3 min 10 s", "2 h 05 min"]


def test_the_eta_prices_each_model_at_its_own_epoch_time():
    """A slow model first (Inception, 15 s an epoch) must not make the job's ETA price the fast CNNs
    after it (2 s an epoch) at its cost: the job's mean (47 s / 3 epochs x 23 to go = 6 min) was far off."""
    now = [0.0]
    progress = JobProgress([("baseline", 2), ("model_1", 12), ("model_2", 12)], bar=False, clock=lambda: now[0])
    progress.start("baseline", 2)
    now[0] = 15.0
    assert progress.epoch_done("baseline", 1).endswith("ETA 6 min 15 s")  # 25 epochs at 15 s: nothing better known yet
    now[0] = 30.0
    progress.epoch_done("baseline", 2)
    progress.finish("baseline")
    now[0] = 45.0  # prediction and the next model's set-up
    progress.start("model_1", 12)
    now[0] = 47.0
    # model_1: 11 epochs to go at 2 s; model_2, not started: 12 at the latest model's 2 s.
    assert progress.epoch_done("model_1", 1) == "model 2 of 3, epoch 1 of 12, job 11%, ETA 46 s"


def test_a_model_fitted_in_closed_form_counts_one_epoch_in_the_job():
    """hog_svm has no epochs: counted as the preset's 24, it made the job look half done after its fit."""
    from tumorbench.config import make_config, resolve_model
    from tumorbench.progress import planned_epochs

    config = make_config({"models": ["hog_svm", "small_resnet", "model_1"], "train": {"epochs": 24}})
    assert [planned_epochs(resolve_model(m, config)) for m in config.models] == [1, 24, 24]


def test_a_job_trained_elsewhere_counts_each_finished_model():
    """Ray workers report no epochs: finished models count, and the job's mean prices the rest."""
    now = [0.0]
    progress = JobProgress([("a.none.seed0", 2), ("a.oversample.seed0", 2)], unit="cell", bar=False,
                           clock=lambda: now[0])
    now[0] = 30.0
    assert progress.finish("a.oversample.seed0") == "1 of 2 cells done (a.oversample.seed0); job 50%, ETA 30 s"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import make_dataset

    root = tmp_path_factory.mktemp("trained")
    data = make_dataset(root / "data", {"Training": {c: 12 for c in CLASS_NAMES},
                                        "Testing": {c: 4 for c in CLASS_NAMES}})
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("tumorbench").addHandler(handler)
    logging.getLogger("tumorbench").setLevel(logging.INFO)
    try:
        result = tb.run(data, models=["model_1", "model_3"], epochs=2, image_size=24, out=root / "run",
                        overrides={"threads": 1, **FAST})
    finally:
        logging.getLogger("tumorbench").removeHandler(handler)
        logging.getLogger("tumorbench").setLevel(logging.NOTSET)
    return data, result, [r.getMessage() for r in records]


@pytest.mark.slow
def test_run_returns_the_run_folder_with_tables_figures_and_progress(trained, tmp_path):
    _, result, messages = trained
    document = json.loads((result.folder / "metrics.json").read_text())
    assert result.models == ["model_1", "model_3"] and result.report_path.is_file()
    assert result.metrics.at["model_3", "accuracy"] == document["models"]["model_3"]["accuracy"]
    assert list(result.summary["model"]) == ["model_1", "model_3"]
    assert isinstance(result.figures["model_1/training_curves"], go.Figure)
    assert "<td>model_3</td>" in result._repr_html_()
    progress = [m for m in messages if " | model " in m]
    assert len(progress) == 4  # one line per epoch of each model
    assert "model 1 of 2, epoch 1 of 2" in progress[0] and "model 2 of 2, epoch 2 of 2, job 100%" in progress[-1]
    assert all("ETA" in m for m in progress)
    assert any(m.startswith("2 of 2 models done (model_3)") for m in messages)


@pytest.mark.slow
def test_predict_returns_the_predictions_of_the_run(trained, tmp_path):
    data, result, _ = trained
    predicted = tb.predict(result.folder / "models" / "model_1" / "checkpoint.pt", data, split="testing",
                           device="cpu")
    assert predicted.path is None and len(predicted.predictions) == 16 and predicted.labelled
    ours = pd.read_csv(result.folder / "models" / "model_1" / "predictions_test.csv", keep_default_na=False)
    merged = predicted.predictions.merge(ours, on="image", suffixes=("", "_run"))
    assert np.allclose(merged[list(PROB_COLUMNS)].to_numpy(),
                       merged[[f"{c}_run" for c in PROB_COLUMNS]].to_numpy(), atol=1e-6)
    assert predicted.metrics["accuracy"] == pytest.approx(result.metrics.at["model_1", "accuracy"])
    assert "16 image(s)" in predicted._repr_html_()
    saved = predicted.save(tmp_path / "p.csv")
    assert json.loads(saved.with_suffix(".info.json").read_text())["name"] == predicted.name
    with pytest.raises(tb.TumorbenchError, match="checkpoint not found"):
        tb.predict(tmp_path / "nope.pt", data)


@pytest.mark.slow
def test_cli_progress_in_a_log_file_is_plain_lines(tiny_dataset, tmp_path):
    """Not a terminal: one line per epoch with the job's position and ETA, no bars, no control characters."""
    done = subprocess.run([sys.executable, "-m", "tumorbench.cli", "study", "imbalance", "--data", str(tiny_dataset),
                           "--strategies", "none,undersample", "--seeds", "1", "--epochs", "2", "--image-size", "24",
                           "--set", "threads=1", "--set", "evaluation.bootstrap.resamples=200",
                           "--out", str(tmp_path / "study")], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert "cell 1 of 2, epoch 1 of 2" in log and "cell 2 of 2, epoch 2 of 2, job 100%" in log
    assert "2 of 2 cells done" in log and "ETA" in log
    assert "\r" not in log and "\x1b" not in log


@pytest.mark.parametrize("command", [tb.run, tb.study_imbalance])
def test_a_misspelt_option_fails_before_training_naming_it(command, tmp_path):
    with pytest.raises(tb.InvalidInputError) as error:
        command(out=tmp_path / "run", epochs=1, image_sise=64, verbose=False)
    message = str(error.value)
    assert "'image_sise'" in message and "did you mean 'image_size'?" in message
    assert "valid options:" in message and "plotly" in message
    assert not (tmp_path / "run").exists()  # stopped before any model was trained
