"""Any class set (issue 24, part 1 and the multiclass half of part 2): classes from the folders, the class
map, datasets without split folders, and a model scored on a dataset with other classes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SHARED, make_dataset
from tumorbench.classes import parse_class_map
from tumorbench.config import make_config
from tumorbench.data.duplicates import DuplicateGroups
from tumorbench.data.folder import FLAT_SPLIT, DatasetLayoutError, scan_dataset
from tumorbench.data.split import split_dataset


def _all(records):
    return list(records)


def make_flat(root: Path, counts: dict[str, int], **kwargs) -> Path:
    """`<root>/<class folder>/<image>`: one folder per class, no split folders (figshare, yes/no)."""
    return make_dataset(root, {".": counts}, **kwargs)


# --- classes from the folders --------------------------------------------------------------------------


def test_known_spellings_map_onto_canonical_names_and_others_are_kept(tmp_path):
    make_dataset(tmp_path, {"Training": {"glioma": 2, "yes": 2, "tumor": 1}, "Testing": {"glioma": 1, "yes": 1}},
                 folder_names={"glioma": "glioma_tumor"})
    index = scan_dataset(tmp_path)
    assert index.classes == ("glioma", "tumor", "yes")  # the seed's first, then the others sorted
    assert {r.label for r in index.records("train")} == {"glioma", "tumor", "yes"}
    assert index.class_counts("test") == {"glioma": 1, "tumor": 0, "yes": 1}


def test_class_map_renames_folders(tmp_path):
    make_flat(tmp_path, {"yes": 3, "no": 2})
    index = scan_dataset(tmp_path, class_map="yes=tumor,no=notumor")  # values in known spellings too
    assert index.classes == ("no_tumor", "tumor")
    assert index.class_counts(FLAT_SPLIT) == {"no_tumor": 2, "tumor": 3}
    assert index.class_map == {"yes": "tumor", "no": "no_tumor"}


def test_class_map_from_yaml_reads_bare_yes_and_no_as_folder_names(tmp_path):
    import yaml

    layer = yaml.safe_load("class_map: {yes: tumor, no: no_tumor}")  # YAML 1.1: the keys read as True/False
    assert make_config(("config.yaml", layer)).class_map == {"yes": "tumor", "no": "no_tumor"}
    assert make_config(sets=["class_map=yes=tumor,no=no_tumor"]).class_map == {"yes": "tumor", "no": "no_tumor"}


@pytest.mark.parametrize("value, match", [
    ("yes", "not FOLDER=CLASS"),
    ("yes=tumor,yes=no_tumor", "mapped twice"),
    ("yes=", "needs a folder name and a class name"),
    ("yes=brain tumour", "letters, digits"),
    ({"yes": "a,b"}, "letters, digits"),
], ids=["no-equals", "repeated", "empty-class", "space", "comma"])
def test_bad_class_maps_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        parse_class_map(value)
    with pytest.raises(ValueError, match=f"config.yaml: class_map.*{match}"):
        make_config(("config.yaml", {"class_map": value}))


def test_two_folders_of_one_class_are_refused_naming_them(tmp_path):
    make_dataset(tmp_path, {"Training": {"glioma": 1, "x": 1}}, folder_names={"x": "glioma_tumor"})
    with pytest.raises(DatasetLayoutError, match=r"'glioma' and 'glioma_tumor' both mean class 'glioma'; merge them"):
        scan_dataset(tmp_path)


def test_a_class_map_sending_two_folders_to_one_class_is_refused(tmp_path):
    make_flat(tmp_path, {"yes": 1, "no": 1})
    with pytest.raises(DatasetLayoutError, match=r"'no' and 'yes' both mean class 'tumor'; fix the class map"):
        scan_dataset(tmp_path, class_map={"yes": "tumor", "no": "tumor"})
    with pytest.raises(DatasetLayoutError, match=r"'no' and 'yes' both mean class 'yes'; fix the class map"):
        scan_dataset(tmp_path, class_map={"no": "yes"})


def test_a_class_map_naming_a_missing_folder_lists_the_folders(tmp_path):
    make_flat(tmp_path, {"yes": 1, "no": 1})
    with pytest.raises(DatasetLayoutError, match=r"names folder\(s\) \['maybe'\].*folders found: no, yes"):
        scan_dataset(tmp_path, class_map="yes=tumor,maybe=tumor")


def test_a_folder_name_that_cannot_be_a_column_suffix_is_refused_with_the_class_map_fix(tmp_path):
    make_flat(tmp_path, {"a": 1, "b": 1}, folder_names={"a": "brain tumour", "b": "no"})
    with pytest.raises(DatasetLayoutError, match=r"folder 'brain tumour'.*--class-map 'brain tumour=brain_tumour'"):
        scan_dataset(tmp_path)
    assert scan_dataset(tmp_path, class_map="brain tumour=tumor").classes == ("no", "tumor")


# --- datasets without split folders --------------------------------------------------------------------


def test_a_flat_dataset_is_one_split_named_all(tmp_path):
    make_flat(tmp_path, {"glioma": 4, "meningioma": 3, "pituitary": 5})
    (tmp_path / "README.txt").write_text("source and licence")
    index = scan_dataset(tmp_path)
    assert index.flat and list(index.splits) == [FLAT_SPLIT]
    assert index.class_counts(FLAT_SPLIT) == {"glioma": 4, "meningioma": 3, "pituitary": 5}
    with pytest.raises(DatasetLayoutError, match="without split folders"):
        index.records("test")
    assert not scan_dataset(make_dataset(tmp_path / "s", {"Training": {"glioma": 1}})).flat


def test_a_flat_dataset_gets_a_stratified_test_split_fixed_by_the_seed(tmp_path):
    counts = {"glioma": 40, "meningioma": 20, "pituitary": 30}
    index = scan_dataset(make_flat(tmp_path, counts))
    splits = split_dataset(index, _all, val_fraction=0.25, test_fraction=0.2, seed=0)
    test, val, train = (Counter(r.label for r in getattr(splits, s)) for s in ("test", "val", "train"))
    assert test == {"glioma": 8, "meningioma": 4, "pituitary": 6}  # 20 % of each class
    assert val == {"glioma": 8, "meningioma": 4, "pituitary": 6}  # 25 % of the rest
    assert sum(train.values()) + sum(val.values()) + sum(test.values()) == 90
    paths = [{r.path for r in getattr(splits, s)} for s in ("train", "val", "test")]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    again = split_dataset(index, _all, val_fraction=0.25, test_fraction=0.2, seed=0)
    other = split_dataset(index, _all, val_fraction=0.25, test_fraction=0.2, seed=1)
    assert again == splits and other.test != splits.test


def test_test_fraction_is_checked_and_named(tmp_path):
    with pytest.raises(ValueError, match="test_fraction must be below 1"):
        make_config({"test_fraction": 1.0})
    index = scan_dataset(make_flat(tmp_path, {"glioma": 3, "pituitary": 3}))
    with pytest.raises(ValueError, match="no split folders.*lower test_fraction"):
        split_dataset(index, _all, val_fraction=0.2, test_fraction=0.9, seed=0)


def test_group_split_draws_a_flat_datasets_test_by_duplicate_groups(tmp_path):
    index = scan_dataset(make_flat(tmp_path, {"glioma": 20, "pituitary": 20}))
    paths = sorted(r.path for r in index.records(FLAT_SPLIT))
    copies = (paths[0], paths[1], paths[2])  # three copies of one glioma stay together
    groups = DuplicateGroups(links={a: {b: "exact" for b in copies if b != a} for a in copies}, groups=(copies,))
    splits = split_dataset(index, _all, val_fraction=0.25, test_fraction=0.25, seed=0, dedup="group_split",
                           duplicates=groups)
    where = {name for name in ("train", "val", "test") for r in getattr(splits, name) if r.path in copies}
    assert len(where) == 1
    assert 8 <= len(splits.test) <= 12  # about a quarter of the 40 images


def test_drop_test_on_a_flat_dataset_leaves_out_drawn_test_images_copied_in_training(tmp_path):
    index = scan_dataset(make_flat(tmp_path, {"glioma": 20, "pituitary": 20}))
    plain = split_dataset(index, _all, val_fraction=0.25, seed=0)
    copied, original = plain.test[0].path, plain.train[0].path
    groups = DuplicateGroups(links={copied: {original: "exact"}, original: {copied: "exact"}},
                             groups=((copied, original),))
    dropped = split_dataset(index, _all, val_fraction=0.25, seed=0, dedup="drop_test", duplicates=groups)
    assert [r.path for r in dropped.test] == [r.path for r in plain.test if r.path != copied]


# --- the shared datasets (scan only) -------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("name, class_map, expected", [
    ("figshare", None, {"glioma": 1426, "meningioma": 708, "pituitary": 930}),
    ("yes-no", None, {"no": 98, "yes": 155}),
    ("yes-no", "yes=tumor,no=no_tumor", {"no_tumor": 98, "tumor": 155}),
], ids=["figshare", "yes-no", "yes-no-mapped"])
def test_shared_flat_datasets_are_read(name, class_map, expected):
    root = SHARED / "datasets" / name
    if not root.is_dir():
        pytest.skip(f"the shared {name} dataset is not at {root} (tests read ../shared in place)")
    index = scan_dataset(root, class_map=class_map)
    assert index.flat and index.class_counts(FLAT_SPLIT) == expected


# --- a model of another class set, end to end ------------------------------------------------------------


@pytest.mark.slow
def test_a_three_class_flat_dataset_trains_a_three_output_model(tmp_path):
    from tumorbench.data.split import read_split_list
    from tumorbench.evaluation.classification import compute_metrics
    from tumorbench.inference.checkpoint import load_checkpoint
    from tumorbench.predict import predict_folder
    from tumorbench.predictions.io import frame_classes, read_predictions
    from tumorbench.run import run_benchmark

    data = make_flat(tmp_path / "data", {"a": 10, "b": 10, "c": 10},
                     folder_names={"a": "glioma_tumor", "b": "Meningioma", "c": "pituitary"})
    config = make_config({"image_size": 32, "train": {"epochs": 1, "batch_size": 8}, "models": ["model_1"],
                          "threads": 1, "test_fraction": 0.2})
    out = run_benchmark(config, data_root=data, out=tmp_path / "run")
    classes = ("glioma", "meningioma", "pituitary")
    test = read_split_list(out / "splits" / "test.csv")  # the drawn test split is saved like validation's
    assert Counter(r.label for r in test) == {c: 2 for c in classes}
    model = load_checkpoint(out / "models" / "model_1" / "checkpoint.pt")
    assert model.meta["class_names"] == list(classes)
    assert model.model(torch_zeros(model.spec)).shape[1] == 3
    frame = read_predictions(out / "models" / "model_1" / "predictions_test.csv")
    assert frame_classes(frame) == classes and set(frame["image"]) == {r.path for r in test}
    metrics = compute_metrics(frame)
    assert metrics["classes"] == list(classes) and metrics["absent_classes"] == []
    assert len(metrics["confusion_matrix"]) == 3 and len(metrics["confusion_matrix"][0]) == 3
    # The checkpoint predicts a dataset without split folders whole, in its own three columns.
    path, rows, _ = predict_folder(out / "models" / "model_1" / "checkpoint.pt", data, split="Testing",
                                   out=tmp_path / "p.csv", gallery=False)
    assert rows == 30 and frame_classes(read_predictions(path)) == classes


def torch_zeros(spec):
    import torch

    return torch.zeros(1, spec.channels, spec.size, spec.size)


# --- scoring a model on a dataset with other classes ------------------------------------------------------


def _frame(labels, predicted, classes=("glioma", "meningioma", "no_tumor", "pituitary")):
    """A predictions table whose most probable class is `predicted` (0.7 against 0.1 each)."""
    import numpy as np

    from tumorbench.predictions.io import predictions_frame

    probs = np.full((len(labels), len(classes)), 0.3 / (len(classes) - 1))
    for i, p in enumerate(predicted):
        probs[i, classes.index(p)] = 0.7
    return predictions_frame([f"img{i}.png" for i in range(len(labels))], labels, probs, classes)


def test_a_four_class_model_is_scored_on_the_three_classes_present():
    from sklearn.metrics import f1_score

    from tumorbench.evaluation.classification import compute_metrics

    labels = ["glioma"] * 3 + ["meningioma"] * 2 + ["pituitary"] * 3
    predicted = ["glioma", "no_tumor", "meningioma", "meningioma", "glioma", "pituitary", "no_tumor", "pituitary"]
    m = compute_metrics(_frame(labels, predicted))
    # Written by hand: rows the present true classes, columns all four of the model's classes.
    #              glioma  meningioma  no_tumor  pituitary
    expected = [[1, 1, 1, 0],   # glioma
                [1, 1, 0, 0],   # meningioma
                [0, 0, 1, 2]]   # pituitary
    assert m["confusion_matrix"] == expected
    assert m["classes"] == ["glioma", "meningioma", "no_tumor", "pituitary"]
    assert m["present_classes"] == ["glioma", "meningioma", "pituitary"] and m["absent_classes"] == ["no_tumor"]
    assert set(m["per_class"]) == {"glioma", "meningioma", "pituitary"}
    assert m["accuracy"] == pytest.approx(4 / 8)  # the two images called no_tumor are errors
    assert m["per_class"]["glioma"]["recall"] == pytest.approx(1 / 3)
    present = ["glioma", "meningioma", "pituitary"]
    assert m["macro"]["f1"] == pytest.approx(f1_score(labels, predicted, labels=present, average="macro"))
    # Averaging in the absent class as 0 (the old way) would give three quarters of that.
    assert m["macro"]["f1"] > f1_score(labels, predicted, labels=present + ["no_tumor"], average="macro")
    assert any("absent from these images: no_tumor" in n and "2 predicted no_tumor" in n for n in m["notes"])


def test_intervals_leave_the_absent_class_out():
    from tumorbench.evaluation.assess import _contexts
    from tumorbench.evaluation.bootstrap import intervals
    from tumorbench.evaluation.classification import compute_metrics
    from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings

    labels = ["glioma"] * 6 + ["meningioma"] * 6 + ["pituitary"] * 6
    predicted = (["glioma"] * 5 + ["no_tumor"] + ["meningioma"] * 4 + ["glioma"] * 2
                 + ["pituitary"] * 5 + ["no_tumor"])
    frame = _frame(labels, predicted)
    m = compute_metrics(frame)
    ci = intervals(_contexts({"m": frame}, EvaluationSettings()), {"m": m}, BootstrapSettings(resamples=200))["m"]
    assert ci["no_tumor_recall"] is None and ci["glioma_recall"] is not None
    low, high = ci["macro_f1"]
    assert low <= m["macro"]["f1"] <= high


def test_labels_that_are_no_class_of_the_model_are_left_out_with_their_count():
    from tumorbench.evaluation.classification import compute_metrics

    # A four-class model on a binary dataset (yes=tumor, no=no_tumor): only no_tumor can be scored here.
    labels = ["no_tumor", "no_tumor", "no_tumor", "tumor", "tumor", "tumor", "tumor"]
    predicted = ["no_tumor", "glioma", "no_tumor", "glioma", "pituitary", "no_tumor", "meningioma"]
    m = compute_metrics(_frame(labels, predicted))
    assert m["n"] == 3
    assert m["confusion_matrix"] == [[1, 0, 2, 0]]  # row no_tumor; columns glioma, meningioma, no_tumor, pituitary
    assert m["absent_classes"] == ["glioma", "meningioma", "pituitary"]
    assert any(n.startswith("4 of 7 images have a true label that is no class of the model (4 tumor")
               for n in m["notes"])


def test_a_model_sharing_no_class_with_the_labels_is_not_scorable():
    from tumorbench.evaluation.classification import NotScorableError, compute_metrics

    frame = _frame(["yes", "no"], ["glioma", "no_tumor"])
    with pytest.raises(NotScorableError, match=r"not scorable.*share nothing with the true labels \(no, yes\)"):
        compute_metrics(frame)


def test_predictions_files_of_any_class_set_are_read_and_checked(tmp_path):
    from tumorbench.predictions.io import frame_classes, read_predictions

    path = tmp_path / "p.csv"
    path.write_text("image,label,prob_no,prob_yes\na.png,yes,0.2,0.8\nb.png,tumor,0.6,0.4\n")
    frame = read_predictions(path)
    assert frame_classes(frame) == ("no", "yes") and list(frame["label"]) == ["yes", "tumor"]
    path.write_text("image,label,prob_glioma_tumor,prob_notumor\na.png,glioma,0.2,0.8\n")
    frame = read_predictions(path)
    assert frame_classes(frame) == ("glioma", "no_tumor") and "renamed" in frame.attrs["notes"][0]


def test_audit_reads_the_class_map(tmp_path):
    import tumorbench as tb

    data = make_flat(tmp_path / "data", {"yes": 3, "no": 3})
    found = tb.audit(data, out=tmp_path / "audit", class_map="yes=tumor,no=no_tumor", cache=False)
    assert found.audit["classes"] == ["no_tumor", "tumor"]
    assert found.audit["class_counts"] == {FLAT_SPLIT: {"no_tumor": 3, "tumor": 3}}


@pytest.mark.slow
def test_the_report_states_absent_classes_and_unscorable_labels(tmp_path):
    import json

    import tumorbench as tb

    labels = ["glioma"] * 6 + ["meningioma"] * 6 + ["pituitary"] * 6 + ["tumor"] * 2
    predicted = (["glioma"] * 5 + ["no_tumor"] + ["meningioma"] * 4 + ["glioma"] * 2 + ["pituitary"] * 5
                 + ["no_tumor"] + ["glioma"] * 2)
    tb.evaluate({"four": _frame(labels, predicted)}, out=tmp_path / "r",
                overrides={"evaluation.bootstrap.resamples": 200})
    model = json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]["four"]
    assert model["absent_classes"] == ["no_tumor"] and model["n"] == 18
    assert model["confusion_matrix"] == [[5, 0, 1, 0], [2, 4, 0, 0], [0, 0, 1, 5]]
    for name in ("report.md", "report.html"):
        text = (tmp_path / "r" / name).read_text()
        assert "absent from these images: no_tumor" in text and "2 predicted no_tumor" in text
        assert "2 of 20 images have a true label that is no class of the model (2 tumor" in text
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "| true \\ predicted | glioma | meningioma | no_tumor | pituitary |" in markdown  # the model's columns
    assert "\n| no_tumor |" not in markdown  # no row (confusion or per-class) for the absent class
