"""The report: files written, numbers shown, run folders read, bad input refused, data escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.axes
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from markupsafe import Markup

from tumorbench.classes import CLASS_NAMES
from tumorbench.metrics import classification_metrics, compute_metrics, compute_roc_curves, metrics_table
from tumorbench.predictions.io import predictions_frame, read_predictions, write_predictions
from tumorbench.report import (
    Section,
    accuracy_figure,
    build_report,
    confusion_matrix_figure,
    default_name,
    evaluate_files,
    history_figure,
    metrics_by_model_figure,
    plot_accuracy,
    plot_confusion_matrix,
    plot_history,
    plot_metrics_by_model,
    plot_roc,
    recommend,
    roc_figure,
    training_curves,
)

METRIC_KEYS = {"accuracy", "loss", "confusion_matrix", "per_class", "weighted", "global_f1", "macro", "micro_auc"}
PER_CLASS_KEYS = {"precision", "recall", "f1", "support", "tp", "fp", "fn", "tn", "auc"}
# Added by the evaluation layer; the keys above stay as they were.
NEW_METRIC_KEYS = {"balanced_accuracy", "mcc", "brier", "ece", "mce", "classwise_ece", "expected_cost",
                   "intervals", "calibration"}
NEW_PER_CLASS_KEYS = {"specificity", "npv", "ap", "ece"}


# ---------------------------------------------------------------- synthetic data (also used by the browser test)

def synthetic_probs(rng, y, *, skill, only=None):
    """Softmax of noise plus `skill` on the true class; `only` forces one predicted class."""
    logits = rng.normal(0.0, 1.0, (len(y), len(CLASS_NAMES)))
    logits[np.arange(len(y)), y] += skill
    if only is not None:
        logits[:, CLASS_NAMES.index(only)] += 20.0
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def synthetic_labels(n=120, seed=0):
    rng = np.random.default_rng(seed)
    # Every class present, sizes unequal as in the real datasets.
    y = np.concatenate([np.arange(len(CLASS_NAMES)), rng.choice(len(CLASS_NAMES), n - 4, p=[.3, .3, .15, .25])])
    return y


def write_synthetic_predictions(path, *, n=120, seed=0, skill=2.0, only=None, image_prefix="img", labels_seed=0):
    y = synthetic_labels(n, labels_seed)
    probs = synthetic_probs(np.random.default_rng(seed), y, skill=skill, only=only)
    images = [f"{CLASS_NAMES[k]}/{image_prefix} ({i}).jpg" for i, k in enumerate(y)]
    return write_predictions(path, predictions_frame(images, [CLASS_NAMES[k] for k in y], probs))


def history(epochs=6, *, phases=True):
    x = np.linspace(0, 1, epochs)
    h = {"loss": list(1.3 - x), "accuracy": list(0.4 + 0.5 * x), "val_loss": list(1.3 - 0.6 * x),
         "val_accuracy": list(0.4 + 0.4 * x), "lr": [1e-3] * epochs, "seconds": [1.0] * epochs,
         "epoch": list(range(1, epochs + 1)), "best_epoch": epochs - 1}
    if phases:
        h["phase"] = ["head"] * 2 + ["finetune"] * (epochs - 2)
    return h


def make_run_folder(root: Path) -> Path:
    """A run folder as `tumorbench run` leaves it: two trained models, one external predictions-only
    model that predicts one class, a model folder whose training never finished, skipped files."""
    run = root / "run"
    models = run / "models"
    specs = [("resnet18", 3.0, None, 1), ("baseline_cnn", 1.2, None, 2), ("external", 0.0, "pituitary", 3)]
    for name, skill, only, seed in specs:
        folder = models / name
        folder.mkdir(parents=True)
        write_synthetic_predictions(folder / "predictions_test.csv", skill=skill, only=only, seed=seed)
        if name == "external":
            continue  # external models bring predictions only
        write_synthetic_predictions(folder / "predictions_val.csv", n=60, skill=skill, seed=seed + 10,
                                    labels_seed=5, image_prefix="val")
        (folder / "history.json").write_text(json.dumps(history()))
        notes = ["trained from scratch: no ImageNet weights available"] if name == "baseline_cnn" else []
        (folder / "info.json").write_text(json.dumps({
            "name": name, "architecture": name, "balance": "class_weight",
            "weights": "none" if notes else "imagenet", "notes": notes,
            "preprocessing": {"size": 224, "colour": "rgb"}, "epochs": 6, "best_epoch": 5,
            "train_seconds": 12.5, "n_params": 11_000_000, "compute": "cpu bf16 channels_last 2 threads",
        }))
    (models / "unfinished").mkdir()
    (run / "config.yaml").write_text("models:\n  - baseline_cnn\n  - resnet18\n  - unfinished\n  - external\n")
    (run / "skipped_files.csv").write_text("path,reason\nTraining/glioma/broken (1).jpg,truncated JPEG\n")
    return run


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run = make_run_folder(tmp_path_factory.mktemp("report"))
    audit = Section("Dataset audit", Markup("<p id='audit'>12 duplicate images across splits</p>"),
                    "12 duplicate images across splits")
    report = build_report(run, sections=[audit])
    return run, report, json.loads((run / "metrics.json").read_text())


# ---------------------------------------------------------------- run folder report

def test_report_files_are_written(built):
    run, report, metrics = built
    assert report == run / "report.html"
    for name in ("report.html", "report.md", "metrics.json", "metrics.csv"):
        assert (run / name).stat().st_size > 0
    stems = ["accuracy_by_model", "metrics_by_model"] + [
        f"{m}_{kind}" for m in ("resnet18", "baseline_cnn", "external") for kind in ("confusion_matrix", "roc")
    ] + ["resnet18_training_curves", "baseline_cnn_training_curves"]
    for stem in stems:
        assert (run / "figures" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (run / "figures" / f"{stem}.svg").read_bytes()[:500]
    assert not (run / "figures" / "external_training_curves.png").exists()
    assert not list(run.rglob(".*.tmp"))  # atomic writes left no temporary files


def test_metrics_json_contract(built):
    run, _, metrics = built
    assert list(metrics["models"]) == ["baseline_cnn", "resnet18", "external"]  # config.yaml order
    for m in metrics["models"].values():
        assert set(m) >= METRIC_KEYS
        assert set(m["per_class"]) == set(CLASS_NAMES)
        assert set(m) >= NEW_METRIC_KEYS
        for row in m["per_class"].values():
            assert set(row) >= PER_CLASS_KEYS | NEW_PER_CLASS_KEYS
        assert set(m["weighted"]) == {"precision", "recall", "f1"}
        assert set(m["macro"]) == {"precision", "recall", "f1", "auc", "ap"}
        low, high = m["intervals"]["accuracy"]
        assert low <= m["accuracy"] <= high
        assert set(m["intervals"]) >= {"macro_f1", "glioma_recall", "glioma_auc", "expected_cost", "ece"}
    # Resampling within classes keeps class counts: a model answering one class has a fixed accuracy,
    # a model that discriminates has a real interval.
    assert np.diff(metrics["models"]["external"]["intervals"]["accuracy"])[0] == 0
    assert np.diff(metrics["models"]["baseline_cnn"]["intervals"]["accuracy"])[0] > 0.05
    frame = read_predictions(run / "models" / "resnet18" / "predictions_test.csv")
    assert metrics["models"]["resnet18"]["accuracy"] == pytest.approx(compute_metrics(frame)["accuracy"])
    assert set(metrics["validation"]) == {"baseline_cnn", "resnet18"}


def test_metrics_csv_has_one_row_per_model(built):
    run, _, metrics = built
    table = pd.read_csv(run / "metrics.csv", index_col="model")
    assert list(table.index) == list(metrics["models"])
    for name, m in metrics["models"].items():
        assert table.loc[name, "macro_f1"] == pytest.approx(m["macro"]["f1"], abs=1e-6)
        assert table.loc[name, "glioma_tp"] == m["per_class"]["glioma"]["tp"]


def test_report_shows_the_key_numbers(built):
    run, report, metrics = built
    html = report.read_text()
    markdown = (run / "report.md").read_text()
    for name, m in metrics["models"].items():
        for text in (html, markdown):
            assert name in text
            assert f"{m['accuracy']:.3f}" in text
            assert f"{m['loss']:.3f}" in text
            assert f"{m['global_f1']:.3f}" in text
            assert f"{m['weighted']['f1']:.3f}" in text


def test_recommendation_and_cautions(built):
    run, report, metrics = built
    html = report.read_text()
    assert metrics["ranking"][0] == "resnet18"
    # The external model has no validation predictions, so the ranking falls back on the test split.
    assert metrics["ranking_basis"] == "test split"
    assert "validation predictions were not available for every model" in html
    assert "Prefer resnet18" in html
    assert "external predicts pituitary for every image" in html
    assert "weakest class" in html
    assert "trained from scratch: no ImageNet weights available" in html
    assert "device and precision" in html and "cpu bf16 channels_last 2 threads" in html


def test_report_says_what_is_missing(built):
    run, report, metrics = built
    html = report.read_text()
    assert any("models/unfinished has no predictions_test.csv" in n for n in metrics["notes"])
    assert "models/unfinished has no predictions_test.csv" in html
    assert "No history.json: training curves omitted." in html
    assert "No info.json" in html
    assert "broken (1).jpg" in html and "truncated JPEG" in html


def test_metric_definitions_and_sections(built):
    run, report, _ = built
    html = report.read_text()
    for term in ("weighted precision", "weighted recall", "global F1", "weighted-mean F1", "macro precision",
                 "balanced accuracy", "expected cost", "paired tests", "stratified bootstrap"):
        assert term in html
    assert "<p id='audit'>12 duplicate images across splits</p>" in html
    assert "## Dataset audit" in (run / "report.md").read_text()


def test_plotly_is_inlined_once_and_page_is_offline(built):
    _, report, _ = built
    html = report.read_text()
    assert html.count("* plotly.js v") == 1
    assert re.search(r"<script[^>]*\ssrc=", html) is None  # nothing to fetch: works from file://
    assert re.search(r"<link[^>]*\shref=", html) is None
    assert report.stat().st_size < 6_000_000


def test_rebuild_replaces_the_report(built):
    run, report, _ = built
    (run / "models" / "external" / "predictions_test.csv").unlink()
    try:
        build_report(run)
        metrics = json.loads((run / "metrics.json").read_text())
        assert list(metrics["models"]) == ["baseline_cnn", "resnet18"]
        assert metrics["ranking_basis"] == "validation split"  # now every model has validation predictions
        assert "played no part in the choice" in (run / "report.html").read_text()
    finally:
        write_synthetic_predictions(run / "models" / "external" / "predictions_test.csv", only="pituitary", seed=3)


# ---------------------------------------------------------------- half-written or corrupt run folders

def _small_run(tmp_path, models=("a", "b")):
    for i, name in enumerate(models):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        write_synthetic_predictions(folder / "predictions_test.csv", seed=i)
    return tmp_path


@pytest.mark.parametrize(
    "damage, error, match",
    [
        (lambda run: None, FileNotFoundError, "not a run folder"),
        (lambda run: (run / "models" / "a").mkdir(parents=True), FileNotFoundError,
         "no model folder has a predictions_test.csv.*tumorbench run"),
    ],
    ids=["no-models-folder", "no-complete-model"],
)
def test_unusable_run_folder(tmp_path, damage, error, match):
    damage(tmp_path)
    with pytest.raises(error, match=match):
        build_report(tmp_path)


def test_missing_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder not found"):
        build_report(tmp_path / "nope")


@pytest.mark.parametrize(
    "file, content, match",
    [
        ("models/a/history.json", '{"loss": [1, 0.5', r"history\.json: not valid JSON.*delete it"),
        ("models/a/info.json", "[", r"info\.json: not valid JSON"),
        ("models/a/history.json", '{"loss": [1, 0.5], "val_loss": [1]}', "different lengths"),
        ("models/a/history.json", '{"loss": ["x"]}', "must be a list of numbers"),
        ("config.yaml", "models: [a, b", r"config\.yaml: not valid YAML"),
        ("skipped_files.csv", "file,why\nx,y\n", r"skipped_files\.csv: expected columns path,reason"),
    ],
    ids=["truncated-history", "truncated-info", "ragged-history", "non-numeric-history", "bad-yaml",
         "skipped-files-columns"],
)
def test_corrupt_files_name_the_file(tmp_path, file, content, match):
    run = _small_run(tmp_path)
    (run / file).write_text(content)
    with pytest.raises(ValueError, match=match):
        build_report(run)


def test_models_over_different_test_images_are_refused(tmp_path):
    run = _small_run(tmp_path)
    write_synthetic_predictions(run / "models" / "b" / "predictions_test.csv", n=100)
    with pytest.raises(ValueError, match=r"a/predictions_test\.csv and .*b/predictions_test\.csv"):
        build_report(run)


# ---------------------------------------------------------------- evaluate_files

def test_evaluate_files(tmp_path):
    good = write_synthetic_predictions(tmp_path / "good" / "predictions_test.csv", skill=3.0, seed=1)
    weak = write_synthetic_predictions(tmp_path / "weak.csv", skill=1.0, seed=2)
    report = evaluate_files([good, weak], out_dir=tmp_path / "out")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report == tmp_path / "out" / "report.html"
    assert list(metrics["models"]) == ["good", "weak"]
    assert metrics["ranking"] == ["good", "weak"]
    html = report.read_text()
    assert "Prefer good" in html
    assert "validation predictions were not available" in html  # ranked on the files given, says so
    assert (tmp_path / "out" / "figures" / "good_roc.svg").is_file()


@pytest.mark.parametrize(
    "path, name",
    [("runs/x/models/resnet18/predictions_test.csv", "resnet18"), ("resnet18.csv", "resnet18"),
     ("m/preds.csv", "m"), ("m/predictions.csv", "m"), ("deit_test.csv", "deit_test")],
    ids=["generic-stem", "plain-stem", "preds", "predictions", "stem-with-split"],
)
def test_default_names(path, name):
    assert default_name(Path(path)) == name


def test_evaluate_files_refuses_different_image_sets(tmp_path):
    a = write_synthetic_predictions(tmp_path / "a.csv", n=120)
    b = write_synthetic_predictions(tmp_path / "b.csv", n=110)
    with pytest.raises(ValueError, match=r"a\.csv and .*b\.csv predict different image sets: 10 images only"):
        evaluate_files([a, b], out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize(
    "names, match",
    [(["x"], "1 names for 2 predictions files"), (["x", "x"], "several files would be called 'x'"),
     (["x", " "], "must not be empty")],
    ids=["count", "duplicate", "empty"],
)
def test_evaluate_files_bad_names(tmp_path, names, match):
    a = write_synthetic_predictions(tmp_path / "a.csv")
    b = write_synthetic_predictions(tmp_path / "b.csv", seed=1)
    with pytest.raises(ValueError, match=match):
        evaluate_files([a, b], names=names, out_dir=tmp_path / "out")


def test_corrections_reach_the_report(tmp_path):
    y = synthetic_labels(40)
    logits = np.log(synthetic_probs(np.random.default_rng(0), y, skill=2.0)) + 3.0
    logits[0, 0] = -2.0  # negative values: the file holds logits
    frame = predictions_frame([f"i{i}.jpg" for i in range(40)], [CLASS_NAMES[k] for k in y], logits)
    path = write_predictions(tmp_path / "logits.csv", frame)
    report = evaluate_files([path], out_dir=tmp_path / "out")
    for text in (report.read_text(), (tmp_path / "out" / "report.md").read_text()):
        # The one probability policy's note (tumorbench.inference.probabilities), in both reports.
        assert "CONVERTED FROM LOGITS" in text and "softmax applied" in text


# ---------------------------------------------------------------- escaping

def test_names_from_the_data_are_escaped(tmp_path):
    script = "<script>alert(1)</script>"
    y = synthetic_labels(40)
    probs = synthetic_probs(np.random.default_rng(0), y, skill=0.5)
    images = [f"{script}.png"] + [f"i{i}.jpg" for i in range(1, 40)]
    probs[0] = [0.05, 0.05, 0.05, 0.85] if y[0] != 3 else [0.85, 0.05, 0.05, 0.05]  # a confident mistake
    path = write_predictions(tmp_path / "p.csv", predictions_frame(images, [CLASS_NAMES[k] for k in y], probs))
    report = evaluate_files([path], names=[f"{script}|*model*"], out_dir=tmp_path / "out")
    html = report.read_text()
    assert script not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in html  # the image is listed, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|*model*" in html
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert script not in markdown
    assert r"&lt;script&gt;alert(1)&lt;/script&gt;\|\*model\*" in markdown
    assert not [p for p in (tmp_path / "out" / "figures").iterdir() if "<" in p.name or "|" in p.name]


# ---------------------------------------------------------------- figures and recommendation as objects

@pytest.fixture(scope="module")
def two_models():
    y = synthetic_labels(80)
    good = classification_metrics(y, synthetic_probs(np.random.default_rng(1), y, skill=3.0))
    weak = classification_metrics(y, synthetic_probs(np.random.default_rng(2), y, skill=1.0))
    frame = predictions_frame([f"i{i}" for i in range(80)], [CLASS_NAMES[k] for k in y],
                              synthetic_probs(np.random.default_rng(1), y, skill=3.0))
    return {"good": good, "weak": weak}, compute_roc_curves(frame)


def test_figure_functions_return_figure_objects(two_models):
    metrics, roc = two_models
    table = metrics_table(metrics)
    curves = training_curves(history())
    for figure in (confusion_matrix_figure(metrics["good"]), roc_figure(roc, metrics["good"]),
                   history_figure(curves), accuracy_figure(table), metrics_by_model_figure(table)):
        assert isinstance(figure, go.Figure) and figure.data
    bars = metrics_by_model_figure(table).data
    # The registry's chart metrics, in declaration order, the loss last in its own panel.
    assert [b.name for b in bars] == ["accuracy", "balanced accuracy", "weighted precision", "weighted recall",
                                      "global F1", "macro F1", "loss"]
    assert list(bars[-1].y) == list(table["loss"])
    assert list(accuracy_figure(table).data[0].y) == list(table["accuracy"])
    for ax in (plot_confusion_matrix(metrics["good"]), plot_roc(roc, metrics["good"]),
               plot_accuracy(table)):
        assert isinstance(ax, matplotlib.axes.Axes)
    axes = plot_history(curves)
    assert len(axes) == 2 and axes[0].get_title() == "accuracy"
    scores, losses = plot_metrics_by_model(table)
    assert len(scores.patches) == 6 * len(table) and len(losses.patches) == len(table)


def test_plot_helpers_draw_on_a_given_axes(two_models):
    from matplotlib.figure import Figure

    metrics, _ = two_models
    ax = Figure().add_subplot()
    assert plot_confusion_matrix(metrics["good"], ax=ax) is ax
    # The annotations are the counts from the metrics, not recomputed.
    texts = {t.get_text().split("\n")[0] for t in ax.texts}
    assert {str(c) for row in metrics["good"]["confusion_matrix"] for c in row} <= texts


def test_training_curves_phases_and_best_epoch():
    curves = training_curves(history(6))
    assert curves.best_epoch == 5
    assert curves.phase_starts == [(3, "finetune")]
    assert training_curves({"lr": [1, 2]}) is None


def test_recommend_flags_loss_that_disagrees_with_accuracy():
    y = np.array([0, 1, 2, 3] * 5)
    confident = np.full((20, 4), 0.0)
    confident[np.arange(20), y] = 1.0
    confident[0] = [0, 1, 0, 0]  # one mistake at full confidence: loss explodes
    hedging = np.full((20, 4), 0.1 / 3)
    hedging[np.arange(20), y] = 0.9  # two mistakes, but never certain: a moderate loss
    hedging[1] = [0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3]
    hedging[2] = [0.1 / 3, 0.1 / 3, 0.1 / 3, 0.9]
    metrics = {"sharp": classification_metrics(y, confident), "soft": classification_metrics(y, hedging)}
    assert metrics["sharp"]["accuracy"] > metrics["soft"]["accuracy"]
    assert metrics["sharp"]["loss"] > metrics["soft"]["loss"]
    advice = recommend(metrics)
    assert advice.ranking[0] == "sharp"
    assert any(c.startswith("sharp is more accurate than soft") and "higher loss" in c for c in advice.cautions)
    assert advice.basis == "test split"


def test_recommend_prefers_validation(two_models):
    metrics, _ = two_models
    # On validation the weak model wins by a hair: the choice follows validation. (Whether the two differ
    # is said from paired tests: test_evaluation.py.)
    validation = {"good": {**metrics["good"], "macro": {**metrics["good"]["macro"], "f1": 0.800}},
                  "weak": {**metrics["weak"], "macro": {**metrics["weak"]["macro"], "f1": 0.805}}}
    advice = recommend(metrics, selection_metrics=validation)
    assert advice.ranking == ["weak", "good"]
    assert advice.basis == "validation split"
    assert advice.summary[0].startswith("Prefer weak: it has the highest macro-F1 on the validation split (0.805")
    assert "played no part in the choice" in advice.summary[1]


def test_each_figure_is_laid_out_once_for_png_and_svg(tmp_path, monkeypatch):
    # Constrained layout runs at every draw unless the first save's positions are kept; the SVG then has
    # exactly the PNG's layout.
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from tumorbench.report.build import _save

    calls = []
    execute = ConstrainedLayoutEngine.execute
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", lambda self, fig: calls.append(1) or execute(self, fig))
    figure = Figure(figsize=(6, 3), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax in axes:
        ax.plot([0, 1], [1, 0])
        ax.set_title("a long title that the layout must make room for")
    png, svg = _save(figure, tmp_path, "f")
    assert (tmp_path / "f.png").stat().st_size > 0 and "<svg" in (tmp_path / "f.svg").read_text()
    assert (png, svg) == (f"{tmp_path.name}/f.png", f"{tmp_path.name}/f.svg")
    assert len(calls) == 1
