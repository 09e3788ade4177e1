"""External test sets: `run --external`, `external:`, `tb.run(external=)`, `evaluate/predict RUN --data B`.

One tiny run (hog_svm and model_1 at 24 px, one epoch, the ensemble of both) on a four-class dataset, with
an external three-class dataset that holds one planted copy of a training image and one unreadable file,
and externals that cannot be scored (missing folder, empty split).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import draw_sample, make_dataset
from PIL import Image

import tumorbench as tb
from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.config import make_config
from tumorbench.runfolder import RunFolder, external_predictions_file

FAST = {"threads": 1, "evaluation.bootstrap.resamples": 200, "ensemble": ["hog_svm", "model_1"]}
OTHER = ("glioma", "meningioma", "pituitary")  # the external set's classes: no no_tumor


def make_other_dataset(root: Path, *, per_class: int = 6, seed: int = 5, classes=OTHER, split: str = "Testing",
                       folders: dict[str, str] | None = None) -> Path:
    """A `Testing/` set (or, with split="", one folder per class) whose images look unlike the conftest
    ones (a low-frequency texture over the drawing), so the copy search finds only what a test plants."""
    rng = np.random.default_rng(seed)
    for label in classes:
        folder = root / split / (folders or {}).get(label, label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            drawn = np.asarray(draw_sample(label, rng), dtype=float)
            texture = np.asarray(Image.fromarray((rng.random((6, 6)) * 255).astype(np.uint8))
                                 .resize(drawn.shape[::-1], Image.BICUBIC), dtype=float)
            Image.fromarray(np.clip(0.3 * drawn + 0.7 * texture, 0, 255).astype(np.uint8)).save(
                folder / f"{label}_{i}.png")
    return root


@pytest.fixture(scope="module")
def run_with_externals(tmp_path_factory):
    root = tmp_path_factory.mktemp("external")
    data = make_dataset(root / "a", {"Training": {c: 12 for c in CLASS_NAMES}, "Testing": {c: 4 for c in CLASS_NAMES}})
    other = make_other_dataset(root / "other")
    planted = other / "Testing" / "glioma" / "planted_copy.png"
    shutil.copy(data / "Training" / "glioma" / "glioma_000.png", planted)
    (other / "Testing" / "meningioma" / "broken.png").write_bytes(b"not an image")
    (root / "empty" / "Testing" / "glioma").mkdir(parents=True)
    make_other_dataset(root / "flat", split="", seed=6)
    make_other_dataset(root / "yes-no", split="", seed=7, classes=("glioma", "no_tumor"),
                       folders={"glioma": "yes", "no_tumor": "no"})
    make_other_dataset(root / "pets", split="", per_class=2, seed=8, classes=("cat", "dog"))
    result = tb.run(data, models=["hog_svm", "model_1"], epochs=1, image_size=24, out=root / "run",
                    external=[other, root / "missing", {"path": root / "empty", "name": "empty set"}, root / "flat",
                              {"path": root / "yes-no", "class_map": {"yes": "tumor", "no": "no_tumor"}},
                              root / "pets"],
                    overrides=FAST, verbose=False)
    return root, data, other, result


@pytest.mark.slow
def test_every_model_and_the_ensemble_predicts_the_external_set(run_with_externals):
    _, _, other, result = run_with_externals
    run = RunFolder(result.folder)
    frames = {m: pd.read_csv(external_predictions_file(run.model(m), "other"))
              for m in ("hog_svm", "model_1", "ensemble")}
    readable = {p.relative_to(other).as_posix() for p in other.rglob("*.png")} - {"Testing/meningioma/broken.png"}
    for frame in frames.values():
        assert set(frame["image"]) == readable
        assert np.allclose(frame[list(PROB_COLUMNS)].sum(axis=1), 1)
    # The ensemble is its members' external predictions averaged with the weights chosen on validation.
    weights = json.loads((run.model("ensemble") / "info.json").read_text())["member_weights"]
    mixed = sum(w * frames[m].set_index("image").loc[frames["ensemble"]["image"], list(PROB_COLUMNS)].to_numpy()
                for m, w in weights.items())
    assert np.allclose(mixed, frames["ensemble"][list(PROB_COLUMNS)].to_numpy(), atol=1e-6)
    info = json.loads((run.external("other") / "dataset.json").read_text())
    assert info["status"] == "scored" and info["split"] == "test" and info["classes"] == list(OTHER)
    assert info["n_images"] == len(readable) + 1 and info["skipped_images"] == 1
    skipped = pd.read_csv(run.external("other") / "skipped_files.csv")
    assert skipped["path"].tolist() == ["Testing/meningioma/broken.png"]


@pytest.mark.slow
def test_the_planted_copy_is_flagged_and_scores_differ_without_it(run_with_externals):
    _, _, _, result = run_with_externals
    copies = pd.read_csv(RunFolder(result.folder).external("other") / "copies.csv")
    assert copies["image"].tolist() == ["Testing/glioma/planted_copy.png"]
    assert copies["kind"].tolist() == ["exact"] and copies["match"].tolist() == ["Training/glioma/glioma_000.png"]
    entry = result.document["external"]["other"]
    assert entry["copies"]["n"] == 1
    for name, m in entry["models"].items():
        assert m["n"] == 19 and m["without_copies"]["n"] == 18, name
        right = np.trace(np.array(m["confusion_matrix"]))
        right_clean = np.trace(np.array(m["without_copies"]["confusion_matrix"]))
        # The copy is in the full count and not in the other: the two confusion matrices differ by it alone.
        assert np.array(m["confusion_matrix"]).sum() - np.array(m["without_copies"]["confusion_matrix"]).sum() == 1
        assert right - right_clean in (0, 1)
        assert m["intervals"]["accuracy"] is not None and m["without_copies"]["intervals"]["accuracy"] is not None


@pytest.mark.slow
def test_metrics_json_holds_the_gap_with_an_interval(run_with_externals):
    _, _, _, result = run_with_externals
    gap = result.document["external"]["other"]["gap"]
    assert set(gap) == {"hog_svm", "model_1", "ensemble"}
    for model, entry in gap.items():
        own = result.document["models"][model]
        for images in ("all", "without_copies"):
            g = entry[images]["accuracy"]
            external = result.document["external"]["other"]["models"][model]
            score = external["accuracy"] if images == "all" else external["without_copies"]["accuracy"]
            assert g["source"] == pytest.approx(own["accuracy"]) and g["external"] == pytest.approx(score)
            assert g["gap"] == pytest.approx(score - own["accuracy"])
            low, high = g["interval"]
            assert low <= g["gap"] + 1e-9 and g["gap"] - 1e-9 <= high
    assert result.generalisation["best"] in gap
    table = result.generalisation_gap
    assert set(table["images"]) == {"all", "without_copies"} and table["low"].notna().any()


@pytest.mark.slow
def test_report_has_a_section_per_external_set_and_the_gap_table(run_with_externals):
    _, _, _, result = run_with_externals
    md = (result.folder / "report.md").read_text()
    html = (result.folder / "report.html").read_text()
    for text in (md, html):
        assert "Generalisation gap" in text and "External test set: other" in text
        assert "External test set: missing" in text and "External test set: empty set" in text
    assert "| hog_svm | other | accuracy |" in md
    assert "Testing/glioma/planted_copy.png" in md
    assert any(line.startswith("- Generalises best:") for line in md.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("name, reason", [
    ("missing", r"missing: external dataset folder not found; fix its path"),
    ("empty_set", r"empty/Testing: the external test split has no images; add images or remove"),
    ("pets", r"pets: its classes \(cat, dog\) share none with the models' \(glioma, meningioma, no_tumor, "
             r"pituitary\) .* class map"),
], ids=["missing-folder", "empty-split", "classes-share-nothing"])
def test_an_external_that_cannot_be_scored_is_reported_and_the_run_goes_on(run_with_externals, name, reason):
    _, _, _, result = run_with_externals
    info = json.loads((RunFolder(result.folder).external(name) / "dataset.json").read_text())
    assert info["status"] == "unusable"
    assert len(info["reason"].splitlines()) == 1
    import re

    assert re.search(reason, info["reason"]), info["reason"]
    assert result.document["external"][name]["status"] == "unusable"
    assert "other" in result.document["external"] and result.has_report


@pytest.mark.slow
def test_a_flat_three_class_set_is_scored_whole_over_its_classes(run_with_externals):
    _, _, _, result = run_with_externals
    entry = result.document["external"]["flat"]
    assert entry["status"] == "scored" and entry["dataset"]["split"] == "all"
    assert entry["dataset"]["n_images"] == 18 and entry["dataset"]["classes"] == list(OTHER)
    for name, m in entry["models"].items():
        # A four-class model on three classes: macro-F1 over the classes present, absent no_tumor left out.
        f1 = [m["per_class"][c]["f1"] for c in OTHER]
        assert m["macro"]["f1"] == pytest.approx(np.mean(f1)), name
        # Its predictions of no_tumor still count as errors: the confusion matrix keeps the model's columns.
        assert np.array(m["confusion_matrix"]).shape[1] == 4
        assert np.array(m["confusion_matrix"]).sum() == 18


@pytest.mark.slow
def test_a_yes_no_set_with_a_class_map_is_scored_on_the_binary_view(run_with_externals):
    _, _, _, result = run_with_externals
    entry = result.document["external"]["yes-no"]
    assert entry["status"] == "scored" and entry["dataset"]["classes"] == ["no_tumor", "tumor"]
    assert entry["dataset"]["class_map"] == {"yes": "tumor", "no": "no_tumor"}
    for name, m in entry["models"].items():
        assert m["binary"]["defined"] and m["binary"]["n_tumour"] == 6 and m["binary"]["n_no_tumour"] == 6, name
        # Scored on the binary view only: the per-class metrics would leave its tumor images out.
        assert set(entry["gap"][name]["all"]) == {"binary_auc"}
        g = entry["gap"][name]["all"]["binary_auc"]
        own = result.document["models"][name]["binary"]["auc"]
        assert g["gap"] == pytest.approx(m["binary"]["auc"] - own) and g["interval"] is not None
    md = (result.folder / "report.md").read_text()
    assert "| hog_svm | yes-no | tumour vs no tumour AUC |" in md and "| hog_svm | yes-no | accuracy |" not in md
    assert result.generalisation["scores"]["yes-no"] == "binary_auc"


def test_classes_that_share_nothing_are_refused_with_the_fix():
    from tumorbench.crossdata.sets import ExternalSet, ExternalUnusable, check_classes
    from tumorbench.data.folder import ImageRecord

    animals = ExternalSet("pets", "pets", Path("/data/pets"), "all", [ImageRecord("a.png", "cat"),
                                                                      ImageRecord("b.png", "dog")])
    with pytest.raises(ExternalUnusable, match=r"/data/pets: its classes \(cat, dog\) share none .* class map"):
        check_classes(animals, CLASS_NAMES)
    binary = ExternalSet("yes-no", "yes-no", Path("/d"), "all",
                         [ImageRecord("a", "tumor"), ImageRecord("b", "no_tumor")])
    check_classes(binary, ("glioma", "no_tumor"))  # shares no_tumor
    check_classes(binary, ("glioma", "meningioma", "no_tumor"))  # and a binary view


@pytest.mark.slow
def test_evaluate_and_predict_with_data_score_an_existing_run(run_with_externals, tmp_path):
    from tumorbench.cli import main

    root, _, _, result = run_with_externals
    second = make_other_dataset(tmp_path / "second", per_class=3, seed=9)
    out = CliRunner().invoke(main, ["predict", str(result.folder), "--data", str(second), "--name", "later"])
    assert out.exit_code == 0, out.output
    run = RunFolder(result.folder)
    for model in ("hog_svm", "model_1", "ensemble"):
        assert len(pd.read_csv(external_predictions_file(run.model(model), "later"))) == 9
    document = json.loads(run.metrics_json.read_text())
    assert document["external"]["later"]["status"] == "scored" and "hog_svm" in document["external"]["later"]["gap"]
    assert "External test set: later" in run.report_md.read_text()

    out = CliRunner().invoke(main, ["evaluate", str(result.folder), "--data", str(root / "nowhere")])
    assert out.exit_code == 1
    assert out.output.strip().splitlines()[-1].startswith(f"Error: {root / 'nowhere'}: external dataset folder "
                                                          "not found")
    assert "Traceback" not in out.output
    assert "External test set: nowhere" in run.report_md.read_text()  # the report says so too


@pytest.mark.parametrize("layer, message", [
    ({"external": "data/b"}, "external must be a list of dataset folders"),
    ({"external": [{"name": "b"}]}, r"external\[0\]: an external dataset needs its folder as `path`"),
    ({"external": [{"path": "b", "classmap": {}}]}, r"external\[0\]: unknown key\(s\) \['classmap'\]"),
    ({"external": [{"path": "b", "class_map": "yes"}]}, r"external\[0\].class_map: .yes. is not FOLDER=CLASS"),
    ({"external": ["x/b", "y/b"]}, "external datasets must have distinct names"),
], ids=["not-a-list", "no-path", "unknown-key", "bad-class-map", "same-name"])
def test_bad_external_entries_fail_early(layer, message):
    with pytest.raises(ValueError, match=message):
        make_config(layer)


def test_external_entries_in_config_and_cli():
    from tumorbench.api._config import external_entries

    config = make_config({"external": ["data/figshare", {"path": "data/yes-no", "class_map": "yes=tumor,no=no_tumor"}]})
    assert [e.label for e in config.external] == ["figshare", "yes-no"]
    assert config.external[1].class_map == {"yes": "tumor", "no": "no_tumor"}
    assert external_entries(["d/figshare", "d/yes-no"], ["yes-no:yes=tumor,no=no_tumor"]) == [
        "d/figshare", {"path": "d/yes-no", "class_map": {"yes": "tumor", "no": "no_tumor"}}]
    assert external_entries(["d/yes-no"], ["yes=tumor"]) == [{"path": "d/yes-no", "class_map": {"yes": "tumor"}}]
    with pytest.raises(ValueError, match="say whose classes it maps: NAME:yes=tumor"):
        external_entries(["d/a", "d/b"], ["yes=tumor"])
    with pytest.raises(ValueError, match="no --external dataset is called 'c'"):
        external_entries(["d/a", "d/b"], ["c:yes=tumor"])


def test_gap_interval_resamples_both_test_sets_independently():
    from tumorbench.evaluation.bootstrap import Replicates
    from tumorbench.evaluation.gap import metric_gap
    from tumorbench.evaluation.settings import BootstrapSettings

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.02, 4000), rng.normal(0.6, 0.04, 4000)

    def reps(values):
        return Replicates({"m": {"accuracy": values}}, None, BootstrapSettings(), np.zeros(1), {})

    g = metric_gap("accuracy", {"accuracy": 0.9}, {"accuracy": 0.6}, confidence=0.95, source_reps=reps(a),
                   external_reps=reps(b), model="m")
    assert g["gap"] == pytest.approx(-0.3)
    # Independent: the spread of the difference is sqrt(0.02² + 0.04²), so the 95 % interval is ±1.96 of it.
    half = 1.96 * np.hypot(0.02, 0.04)
    assert g["interval"][0] == pytest.approx(-0.3 - half, abs=0.006)
    assert g["interval"][1] == pytest.approx(-0.3 + half, abs=0.006)
    # Without bootstrap values (a rank metric), the two normal intervals combine the same way.
    z = 1.959964
    g = metric_gap("accuracy", {"accuracy": 0.9, "intervals": {"accuracy": [0.9 - z * 0.02, 0.9 + z * 0.02]}},
                   {"accuracy": 0.6, "intervals": {"accuracy": [0.6 - z * 0.04, 0.6 + z * 0.04]}}, confidence=0.95)
    assert g["interval"] == pytest.approx([-0.3 - z * np.hypot(0.02, 0.04), -0.3 + z * np.hypot(0.02, 0.04)])
