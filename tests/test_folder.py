from pathlib import Path

import pytest

from tests.conftest import make_dataset
from tumorbench.data.folder import DatasetLayoutError, resolve_split_name, scan_dataset


def test_sartaj_layout_is_read_with_canonical_classes(tiny_dataset):
    index = scan_dataset(tiny_dataset)
    assert set(index.splits) == {"train", "test"}
    assert index.split_dirs == {"train": "Training", "test": "Testing"}
    assert index.class_counts("train") == {"glioma": 16, "meningioma": 16, "no_tumor": 8, "pituitary": 16}
    rec = index.records("Testing")[0]
    assert rec.path.startswith("Testing/") and rec.label in ("glioma", "meningioma", "no_tumor", "pituitary")


@pytest.mark.parametrize("train, val, test", [("train", "val", "test"), ("TRAIN", "Validation", "Test")])
def test_split_folder_names_in_any_case(tmp_path, train, val, test):
    make_dataset(tmp_path, {train: {"glioma": 2, "notumor": 2}, val: {"glioma": 1}, test: {"pituitary": 1}},
                 folder_names={"notumor": "notumor"})
    index = scan_dataset(tmp_path)
    assert set(index.splits) == {"train", "val", "test"}
    assert index.class_counts("train")["no_tumor"] == 2


def test_other_class_folders_are_kept_as_they_are(tmp_path):
    make_dataset(tmp_path, {"Training": {"glioma": 1, "astrocytoma": 1}})
    index = scan_dataset(tmp_path)
    assert index.classes == ("glioma", "astrocytoma")
    assert index.class_counts("train") == {"glioma": 1, "astrocytoma": 1}


def test_two_folders_for_one_class_are_refused(tmp_path):
    make_dataset(tmp_path, {"Training": {"notumor": 1, "no_tumor": 1}})
    with pytest.raises(DatasetLayoutError, match="both mean class 'no_tumor'"):
        scan_dataset(tmp_path)


def test_non_image_and_hidden_files_are_ignored(tmp_path):
    make_dataset(tmp_path, {"Training": {"glioma": 2}})
    folder = tmp_path / "Training" / "glioma"
    (folder / ".DS_Store").write_bytes(b"\0\1junk")
    (folder / "._glioma_000.png").write_bytes(b"resource fork")
    (folder / "notes.txt").write_text("hello")
    (tmp_path / "Training" / "__MACOSX").mkdir()
    (tmp_path / "README.md").write_text("dataset card")
    index = scan_dataset(tmp_path)
    assert [Path(r.path).name for r in index.records("train")] == ["glioma_000.png", "glioma_001.png"]


def test_a_folder_without_images_is_refused_with_the_layouts(tmp_path):
    (tmp_path / "glioma").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"no images found.*<root>/<class>/<image>; found: glioma"):
        scan_dataset(tmp_path)


def test_images_straight_in_a_split_folder_have_unknown_labels(tmp_path):
    make_dataset(tmp_path, {"Testing": {"glioma": 2}})
    for p in (tmp_path / "Testing" / "glioma").iterdir():
        p.rename(tmp_path / "Testing" / p.name)
    (tmp_path / "Testing" / "glioma").rmdir()
    recs = scan_dataset(tmp_path).records("test")
    assert len(recs) == 2 and all(r.label is None for r in recs)


def test_missing_folder_and_unknown_split_name():
    with pytest.raises(DatasetLayoutError, match="not found"):
        scan_dataset("/nonexistent/dataset")
    with pytest.raises(ValueError, match="accepted names"):
        resolve_split_name("holdout")
