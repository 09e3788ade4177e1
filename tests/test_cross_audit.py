"""The cross-dataset audit on two datasets built here: planted exact copies, a resized and re-encoded
near copy and a copy filed under another class are found with A's split and label, unrelated images
are not; the run's helper flags only copies of development images; `audit A --against B` prints and
writes its file; bad input gives one clear line. A `shared` test checks a few known pairs of the real
Sartaj and figshare datasets."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHARED, slice_image
from PIL import Image

from tumorbench.audit import (
    CROSS_AUDIT_FILE,
    copies_in,
    cross_audit,
    external_copies,
    label_relation,
    load_cross_audit,
)
from tumorbench.cli import main

A_CLASSES = ("glioma", "meningioma", "no_tumor", "pituitary")


def _reencoded(img: Image.Image, *, scale: float, quality: int) -> Image.Image:
    """The slice resized by `scale` and saved as a JPEG of `quality`: how collections republish."""
    resized = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    resized.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A: Training (6 per class) and Testing (2 per class), every image distinct. B: Testing/ with
    unrelated images plus planted copies of A's images:

    - glioma/exact_bytes.png      the bytes of A Training/glioma/glioma_00.png
    - glioma/exact_pixels.png     A Training/glioma/glioma_01.png as an RGB PNG (same pixels)
    - meningioma/near.jpg         A Training/meningioma/meningioma_00.png x1.5, JPEG q80
    - glioma/conflict.jpg         A Training/pituitary/pituitary_00.png x0.75, JPEG q90 (filed as glioma)
    - no_tumor/from_test.jpg      A Testing/no_tumor/no_tumor_00.png, JPEG q85
    """
    a, b = tmp_path / "A", tmp_path / "B"
    seed = 0
    for split, n in (("Training", 6), ("Testing", 2)):
        for label in A_CLASSES:
            (a / split / label).mkdir(parents=True)
            for i in range(n):
                seed += 1
                slice_image(seed).save(a / split / label / f"{label}_{i:02d}.png")
    for label in A_CLASSES:
        (b / "Testing" / label).mkdir(parents=True)
        for i in range(3):
            slice_image(10_000 + 10 * A_CLASSES.index(label) + i).save(b / "Testing" / label / f"other_{i}.png")
    shutil.copy(a / "Training/glioma/glioma_00.png", b / "Testing/glioma/exact_bytes.png")
    Image.open(a / "Training/glioma/glioma_01.png").convert("RGB").save(b / "Testing/glioma/exact_pixels.png")
    _reencoded(Image.open(a / "Training/meningioma/meningioma_00.png"), scale=1.5, quality=80).save(
        b / "Testing/meningioma/near.jpg")
    _reencoded(Image.open(a / "Training/pituitary/pituitary_00.png"), scale=0.75, quality=90).save(
        b / "Testing/glioma/conflict.jpg")
    _reencoded(Image.open(a / "Testing/no_tumor/no_tumor_00.png"), scale=1.0, quality=85).save(
        b / "Testing/no_tumor/from_test.jpg")
    return a, b


PLANTED = {  # B image -> (kind, matches' kinds, A image, A split, A label, labels)
    "Testing/glioma/exact_bytes.png": ("exact", "bytes", "Training/glioma/glioma_00.png", "train", "glioma", "agree"),
    "Testing/glioma/exact_pixels.png": ("exact", "pixels", "Training/glioma/glioma_01.png", "train", "glioma", "agree"),
    "Testing/meningioma/near.jpg": ("near", "near", "Training/meningioma/meningioma_00.png", "train", "meningioma",
                                    "agree"),
    "Testing/glioma/conflict.jpg": ("near", "near", "Training/pituitary/pituitary_00.png", "train", "pituitary",
                                    "conflict"),
    "Testing/no_tumor/from_test.jpg": ("near", "near", "Testing/no_tumor/no_tumor_00.png", "test", "no_tumor", "agree"),
}


def test_planted_copies_are_found_with_a_split_and_label_and_nothing_else(pair, tmp_path):
    a, b = pair
    cross = cross_audit(a, b, cache_dir=tmp_path / "cache")
    by_path = {e["path"]: e for e in cross["images"]}
    assert len(by_path) == 4 * 3 + len(PLANTED)  # every image of B is listed, copied or not
    for path, (kind, match_kind, a_path, a_split, a_label, labels) in PLANTED.items():
        entry = by_path[path]
        assert entry["kind"] == kind, path
        assert [(m["path"], m["split"], m["label"], m["kind"]) for m in entry["matches"]] == [
            (a_path, a_split, a_label, match_kind)], path
        assert entry["labels"] == labels, path
    for path, entry in by_path.items():
        if path not in PLANTED:
            assert entry["kind"] is None and entry["matches"] == [] and entry["labels"] is None, path
    assert cross["totals"] == {"n": 17, "exact": 2, "near": 3, "none": 12, "unreadable": 0, "label_conflicts": 1}
    assert cross["per_class"]["glioma"]["exact"] == 2 and cross["per_class"]["glioma"]["near"] == 1
    assert cross["per_class"]["glioma"]["label_conflicts"] == 1
    assert cross["per_class"]["glioma"]["a_labels"] == {"glioma": 2, "pituitary": 1}
    assert cross["per_a_split"] == {"train": {"exact": 2, "near": 2, "any": 4},
                                    "test": {"exact": 0, "near": 1, "any": 1}}
    assert cross["label_conflicts"] == [{
        "b": "Testing/glioma/conflict.jpg", "label_b": "glioma", "split_b": "test",
        "a": "Training/pituitary/pituitary_00.png", "label_a": "pituitary", "split_a": "train",
        "kind": "near", "distance": by_path["Testing/glioma/conflict.jpg"]["matches"][0]["distance"]}]


def test_a_threshold_of_zero_keeps_exact_copies_only(pair, tmp_path):
    a, b = pair
    cross = cross_audit(a, b, cache_dir=tmp_path / "cache", near_threshold=0)
    assert cross["totals"]["exact"] == 2 and cross["totals"]["near"] == 0
    assert cross["near_duplicates"]["threshold"] == 0


def test_copies_in_and_external_copies_flag_copies_of_development_images_only(pair, tmp_path):
    a, b = pair
    dev = sorted(p.relative_to(a).as_posix() for p in (a / "Training").rglob("*.png"))
    scored = sorted(p.relative_to(b).as_posix() for p in b.rglob("*.*"))
    flagged, cross = external_copies(a, b, dev_paths=dev, scored_paths=scored, cache_dir=tmp_path / "cache")
    # The copy of an A *test* image is in the cross audit, but it is no leak: not flagged.
    assert flagged == {"Testing/glioma/exact_bytes.png": "exact", "Testing/glioma/exact_pixels.png": "exact",
                       "Testing/meningioma/near.jpg": "near", "Testing/glioma/conflict.jpg": "near"}
    assert copies_in(cross)["Testing/no_tumor/from_test.jpg"] == "near"
    assert copies_in(cross, a_paths=dev, kinds=("exact",)) == {
        "Testing/glioma/exact_bytes.png": "exact", "Testing/glioma/exact_pixels.png": "exact"}
    assert copies_in(cross, b_paths=["Testing/meningioma/near.jpg"]) == {"Testing/meningioma/near.jpg": "near"}


def test_subsets_of_both_datasets_are_compared_and_unknown_paths_refused(pair, tmp_path):
    a, b = pair
    cross = cross_audit(a, b, a_paths=["Training/glioma/glioma_00.png"],
                        b_paths=["Testing/glioma/exact_bytes.png", "Testing/meningioma/near.jpg"],
                        cache_dir=tmp_path / "cache")
    assert cross["a"]["subset"] and cross["a"]["n_images"] == 1 and cross["b"]["n_images"] == 2
    assert {e["path"]: e["kind"] for e in cross["images"]} == {"Testing/glioma/exact_bytes.png": "exact",
                                                               "Testing/meningioma/near.jpg": None}
    with pytest.raises(ValueError, match=r"1 of the 1 A path\(s\) given are not images of this dataset "
                                         r"\(first: 'Training/glioma/nope.png'\)"):
        external_copies(a, b, dev_paths=["Training/glioma/nope.png"], cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("label_a, label_b, expected", [
    ("glioma", "glioma", "agree"),
    ("glioma", "tumor", "agree"),
    ("no_tumor", "tumor", "conflict"),
    ("meningioma", "pituitary", "conflict"),
    ("glioma", "yes", "unknown"),
    (None, "glioma", "unknown"),
], ids=["same", "tumour-type-vs-tumour", "no-tumour-vs-tumour", "two-types", "unmapped-name", "unlabelled"])
def test_label_relation(label_a, label_b, expected):
    assert label_relation(label_a, label_b) == expected


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_audit_against_prints_counts_and_writes_the_file_and_the_section(pair, tmp_path):
    a, b = pair
    out = tmp_path / "out"
    result = invoke("audit", a, "--against", b, "--out", out)
    assert result.exit_code == 0, result.output
    assert "5 of 17 B images (29.4 %) have a copy in A (2 exact, 3 near only; 4 in train; 1 in test); 12 have none." \
        in result.output
    assert "1 of them are filed under another class in A" in result.output
    assert ("glioma           3 of     6 with a copy (2 exact, 1 near; 3 without; 1 label conflicts); "
            "A labels: glioma 2, pituitary 1") in result.output
    assert "copies in A test: 1 B images (0 exact, 1 near only)" in result.output
    cross = load_cross_audit(out / CROSS_AUDIT_FILE)
    assert cross["totals"]["exact"] == 2 and cross["b"]["root"] == str(b.resolve())
    page = (out / "audit.html").read_text()
    assert "Copies of B in A" in page and "conflict.jpg" in page
    assert page.count('src="data:image/png;base64,') >= 2 * len(PLANTED)
    markdown = (out / "audit.md").read_text()
    assert "| `glioma` | 6 | 2 | 1 | 3 | 3 | 0 | 1 |" in markdown


def test_unreadable_files_of_b_are_named_and_the_rest_is_audited(pair, tmp_path):
    a, b = pair
    (b / "Testing/glioma/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = invoke("audit", a, "--against", b, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "1 could not be read" in result.output
    assert "unreadable in B: Testing/glioma/broken.png: " in result.output
    cross = json.loads((tmp_path / "out" / CROSS_AUDIT_FILE).read_text())
    assert cross["totals"]["unreadable"] == 1 and cross["totals"]["exact"] == 2


def _flat_with_one_image(b: Path) -> None:
    (b / "yes").mkdir(parents=True)
    slice_image(30_000).save(b / "yes" / "one.png")


@pytest.mark.parametrize("make_b, extra, message", [
    (lambda b: None, [], "dataset folder not found"),
    (lambda b: (b / "Testing" / "glioma").mkdir(parents=True), [], "dataset B has no images"),
    (_flat_with_one_image, ["--against-class-map", "y=tumor"], "class map names folder(s) ['y']"),
], ids=["b-missing", "b-empty", "b-class-map"])
def test_bad_against_gives_one_clear_line(pair, tmp_path, make_b, extra, message):
    a, _ = pair
    other = tmp_path / "other"
    make_b(other)
    result = invoke("audit", a, "--against", other, "--out", tmp_path / "out", *extra)
    assert result.exit_code != 0
    assert message in result.output and str(other) in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before the long within-dataset audit


@pytest.mark.parametrize("class_map, labels", [(None, "unknown"), ("yes=tumor,no=no_tumor", "agree")],
                         ids=["unmapped", "mapped"])
def test_a_flat_binary_dataset_is_compared_on_its_one_split(pair, tmp_path, class_map, labels):
    from tumorbench.data.folder import FLAT_SPLIT, scan_dataset

    a, _ = pair
    flat = tmp_path / "yes-no"
    for folder in ("yes", "no"):
        (flat / folder).mkdir(parents=True)
        slice_image(20_000 + len(folder)).save(flat / folder / "own.png")
    _reencoded(Image.open(a / "Training/glioma/glioma_02.png"), scale=1.2, quality=75).save(flat / "yes/copy.jpg")
    cross = cross_audit(a, scan_dataset(flat, class_map=class_map), cache_dir=tmp_path / "cache")
    by_path = {e["path"]: e for e in cross["images"]}
    assert set(by_path) == {"yes/own.png", "no/own.png", "yes/copy.jpg"}
    assert {e["split"] for e in by_path.values()} == {FLAT_SPLIT}
    assert [m["path"] for m in by_path["yes/copy.jpg"]["matches"]] == ["Training/glioma/glioma_02.png"]
    assert by_path["yes/copy.jpg"]["labels"] == labels  # an unmapped `yes` cannot be compared with glioma
    assert by_path["yes/own.png"]["kind"] is None and by_path["no/own.png"]["kind"] is None


def test_python_api_audit_against(pair, tmp_path):
    import tumorbench as tb

    a, b = pair
    result = tb.audit(a, against=b, out=tmp_path / "out")
    assert result.cross["totals"]["exact"] == 2
    copies = result.copies.set_index("path")
    assert len(copies) == 17
    assert copies.loc["Testing/glioma/conflict.jpg", "copy"] == "Training/pituitary/pituitary_00.png"
    assert copies.loc["Testing/glioma/conflict.jpg", "labels"] == "conflict"
    assert copies["kind"].isna().sum() == 12
    assert "5 of 17 B images" in result.summary
    result.save(tmp_path / "again")
    assert load_cross_audit(tmp_path / "again" / CROSS_AUDIT_FILE)["totals"] == result.cross["totals"]


def test_load_cross_audit_refuses_another_file(tmp_path):
    (tmp_path / "x.json").write_text('{"audit_version": 1}')
    with pytest.raises(ValueError, match="not a tumorbench cross-dataset audit"):
        load_cross_audit(tmp_path / "x.json")


# --- the shared datasets: a fixed handful of files, inspected by eye (see docs/cross-dataset-audit.md) ---

SARTAJ_FIGSHARE = {  # figshare image -> (its copy in Sartaj or None, Sartaj's label, relation of the labels)
    "glioma/1895.jpg": ("Training/glioma_tumor/gg (504).jpg", "glioma", "agree"),
    "meningioma/425.jpg": ("Training/meningioma_tumor/m2 (32).jpg", "meningioma", "agree"),
    # A figshare meningioma that Sartaj files as a pituitary tumour (test split): a label conflict.
    "meningioma/227.jpg": ("Testing/pituitary_tumor/image(79).jpg", "pituitary", "conflict"),
    # Another patient's slice at the same level (32 px thumbnails correlate 0.95): not a copy.
    "glioma/1861.jpg": (None, None, None),
}
SARTAJ_YES_NO = {  # yes-no image (yes=tumor) -> its copy in Sartaj (Y28 is 630 px, its copy 554 px)
    "yes/Y28.jpg": ("Testing/glioma_tumor/image(27).jpg", "glioma", "agree"),
    "no/N21.jpg": ("Training/no_tumor/image(241).jpg", "no_tumor", "agree"),
}


@pytest.mark.shared
@pytest.mark.parametrize("name, class_map, expected", [
    ("figshare", None, SARTAJ_FIGSHARE),
    ("yes-no", "yes=tumor,no=no_tumor", SARTAJ_YES_NO),
], ids=["figshare", "yes-no"])
def test_shared_known_copies_between_sartaj_and_another_dataset(tmp_path, name, class_map, expected):
    from tumorbench.data.folder import FLAT_SPLIT, scan_dataset

    sartaj, other = SHARED / "datasets" / "sartaj", SHARED / "datasets" / name
    for root in (sartaj, other):
        if not root.is_dir():
            pytest.skip(f"the shared dataset is not at {root} (tests read ../shared in place)")
    a_paths = [copy for copy, _, _ in expected.values() if copy] + ["Training/glioma_tumor/gg (478).jpg"]
    cross = cross_audit(sartaj, scan_dataset(other, class_map=class_map), a_paths=a_paths, b_paths=list(expected),
                        cache_dir=tmp_path / "cache")
    found = {e["path"]: e for e in cross["images"]}
    for path, (copy, label, relation) in expected.items():
        entry = found[path]
        assert entry["split"] == FLAT_SPLIT
        expected = [(copy, label, "near")] if copy else []
        assert [(m["path"], m["label"], m["kind"]) for m in entry["matches"]] == expected
        assert entry["labels"] == relation, path


def test_the_near_search_between_two_stacked_datasets_skips_pairs_within_one():
    from tumorbench.audit._near import hashes_to_words, near_pairs

    same, other = "ab" * 32, "5c" * 32  # 256-bit hashes in hex: two identical images in A, one in B
    words = hashes_to_words([[same] * 8, [same] * 8, [same] * 8, [other] * 8])
    i, j, d, _ = near_pairs(words, 4, between=2)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 2), (1, 2)] and d.tolist() == [0, 0]
    i, j, _, _ = near_pairs(words, 4)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2)]
