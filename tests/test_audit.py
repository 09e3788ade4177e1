"""The dataset audit on datasets built here: planted duplicates, a label conflict and a size shortcut
are all found; clean data gives nothing; and a benchmark run reports full and de-duplicated metrics."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import slice_image
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tumorbench.audit import (
    AUDIT_FILE,
    NEAR_THRESHOLD,
    audit_dataset,
    default_cache_dir,
    duplicate_groups,
    shortcut_sentence,
    write_audit,
)
from tumorbench.audit._near import near_pairs, pair_distances
from tumorbench.audit._shortcut import LEAK_MARGIN
from tumorbench.classes import CLASS_NAMES
from tumorbench.cli import main
from tumorbench.config import make_config
from tumorbench.data.duplicates import clean_validation
from tumorbench.data.folder import ImageRecord
from tumorbench.data.split import read_split_list
from tumorbench.evaluation.model_result import copy_breakdown, dedup_metrics
from tumorbench.metrics import compute_metrics
from tumorbench.predictions.io import predictions_frame
from tumorbench.run import run_benchmark
from tumorbench.sections import write_full_report

N_TRAIN, N_TEST = 10, 5


def make_clean(root: Path, *, sizes: dict[str, tuple[int, int]] | None = None) -> Path:
    """Training/<class>/<class>_NN.png and Testing/..., every image distinct."""
    seed = 0
    for split, n in (("Training", N_TRAIN), ("Testing", N_TEST)):
        for label in CLASS_NAMES:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                seed += 1
                slice_image(seed, (sizes or {}).get(label, (96, 96))).save(folder / f"{label}_{i:02d}.png")
    return root


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def _gamma(img: Image.Image, g: float) -> Image.Image:
    return img.point(lambda v: round(255 * (v / 255) ** g))


# Planted in Testing/, from Training/ images: {test path: (kind of relation, training source)}.
PLANTED = {
    "Testing/glioma/bytes_copy.png": ("exact", "Training/glioma/glioma_00.png"),
    "Testing/meningioma/pixel_copy.png": ("exact", "Training/meningioma/meningioma_00.png"),
    "Testing/no_tumor/rgb_copy.png": ("exact", "Training/no_tumor/no_tumor_00.png"),
    "Testing/pituitary/conflict.png": ("exact", "Training/glioma/glioma_02.png"),
    "Testing/glioma/near_jpeg.jpg": ("near", "Training/glioma/glioma_01.png"),
    "Testing/meningioma/near_resized.png": ("near", "Training/meningioma/meningioma_01.png"),
    "Testing/pituitary/near_cropped.png": ("near", "Training/pituitary/pituitary_01.png"),
    "Testing/no_tumor/near_gamma.png": ("near", "Training/no_tumor/no_tumor_01.png"),
}
WITHIN_TRAIN_COPY = ("Training/meningioma/meningioma_copy.png", "Training/meningioma/meningioma_02.png")


def make_planted(root: Path) -> Path:
    make_clean(root)
    src = {k: Image.open(root / v[1]).copy() for k, v in PLANTED.items()}
    for path, (_, source) in PLANTED.items():
        if path.endswith(("bytes_copy.png", "conflict.png")):
            shutil.copyfile(root / source, root / path)
    # Same pixels, other bytes: another compression level with a text chunk; and an RGB copy of a gray slice.
    meta = PngInfo()
    meta.add_text("Software", "re-saved")
    src["Testing/meningioma/pixel_copy.png"].save(root / "Testing/meningioma/pixel_copy.png", compress_level=1,
                                                  pnginfo=meta)
    src["Testing/no_tumor/rgb_copy.png"].convert("RGB").save(root / "Testing/no_tumor/rgb_copy.png")
    src["Testing/glioma/near_jpeg.jpg"].save(root / "Testing/glioma/near_jpeg.jpg", quality=70)
    src["Testing/meningioma/near_resized.png"].resize((128, 128), Image.Resampling.BICUBIC).save(
        root / "Testing/meningioma/near_resized.png")
    src["Testing/pituitary/near_cropped.png"].crop((2, 2, 94, 94)).save(root / "Testing/pituitary/near_cropped.png")
    _gamma(src["Testing/no_tumor/near_gamma.png"], 0.8).save(root / "Testing/no_tumor/near_gamma.png")
    shutil.copyfile(root / WITHIN_TRAIN_COPY[1], root / WITHIN_TRAIN_COPY[0])
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = make_planted(tmp_path_factory.mktemp("planted") / "data")
    return root, audit_dataset(root, cache_dir=False)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = make_clean(tmp_path_factory.mktemp("clean") / "data")
    return root, audit_dataset(root, cache_dir=False)


# ---------------------------------------------------------------- what the audit finds

def test_every_planted_test_duplicate_is_found_with_its_kind(planted):
    _, audit = planted
    found = {d["path"]: d["kind"] for d in audit["test_duplicates"]}
    assert found == {path: kind for path, (kind, _) in PLANTED.items()}
    for d in audit["test_duplicates"]:
        assert PLANTED[d["path"]][1] in [m["path"] for m in d["matches"]]


def test_exact_duplicates_by_bytes_and_by_pixels(planted):
    _, audit = planted
    kinds = {tuple(m["path"] for m in g["members"]): g["kind"] for g in audit["exact_duplicates"]["groups"]}
    assert kinds == {
        ("Testing/glioma/bytes_copy.png", "Training/glioma/glioma_00.png"): "bytes",
        ("Testing/meningioma/pixel_copy.png", "Training/meningioma/meningioma_00.png"): "pixels",
        ("Testing/no_tumor/rgb_copy.png", "Training/no_tumor/no_tumor_00.png"): "pixels",
        ("Testing/pituitary/conflict.png", "Training/glioma/glioma_02.png"): "bytes",
        ("Training/meningioma/meningioma_02.png", "Training/meningioma/meningioma_copy.png"): "bytes",
    }


def test_near_pairs_are_the_planted_ones_within_the_threshold(planted):
    _, audit = planted
    near = audit["near_duplicates"]
    assert near["threshold"] == NEAR_THRESHOLD and near["hash_bits"] == 256
    pairs = {frozenset((p["a"], p["b"])): p["distance"] for p in near["pairs"]}
    expected = {frozenset((path, src)) for path, (kind, src) in PLANTED.items() if kind == "near"}
    assert set(pairs) == expected
    assert all(0 <= d <= NEAR_THRESHOLD for d in pairs.values())


def test_counts_per_class_across_and_within_splits(planted):
    _, audit = planted
    block = audit["cross_split"]["test~train"]
    assert block["images"] == {"n": 4 * N_TEST + len(PLANTED), "exact": 4, "near": 4}
    for label in CLASS_NAMES:
        assert block["per_class"][label] == {"n": N_TEST + 2, "exact": 1, "near": 1}
    within = audit["within_split"]
    assert within["train"]["meningioma"] == {"n": N_TRAIN + 1, "exact": 2, "near": 0}
    assert sum(v["exact"] + v["near"] for c, v in within["train"].items() if c != "meningioma") == 0
    assert sum(v["exact"] + v["near"] for v in within["test"].values()) == 0


def test_the_planted_label_conflict_and_only_it(planted):
    _, audit = planted
    assert [(c["a"], c["b"], c["kind"]) for c in audit["label_conflicts"]] == [
        ("Training/glioma/glioma_02.png", "Testing/pituitary/conflict.png", "bytes")]
    assert {audit["label_conflicts"][0]["label_a"], audit["label_conflicts"][0]["label_b"]} == {"glioma", "pituitary"}


def test_clean_data_gives_no_duplicate_no_conflict_and_no_shortcut(clean):
    _, audit = clean
    assert audit["n_images"] == 4 * (N_TRAIN + N_TEST)
    assert audit["exact_duplicates"]["groups"] == []
    assert audit["near_duplicates"]["pairs"] == []
    assert audit["label_conflicts"] == [] and audit["test_duplicates"] == [] and audit["groups"] == []
    assert audit["unreadable"] == []
    sc = audit["shortcut"]
    assert sc["leak"] is False and sc["leaks"] == []
    assert sc["accuracy"] < sc["majority_baseline"] + LEAK_MARGIN
    sentence = shortcut_sentence(sc)
    assert "No file property gives the label away" in sentence or "not a strong shortcut" in sentence


def test_a_class_with_its_own_image_size_is_a_shortcut(tmp_path):
    root = make_clean(tmp_path / "data", sizes={"pituitary": (96, 80)})
    sc = audit_dataset(root, cache_dir=False)["shortcut"]
    assert sc["leak"] is True
    assert {"height", "aspect"} & set(sc["leaks"])
    assert sc["accuracy"] >= sc["majority_baseline"] + LEAK_MARGIN
    assert sc["recall"]["pituitary"] > 0.9
    sentence = shortcut_sentence(sc)
    assert "give the label away" in sentence and ("image height" in sentence or "aspect ratio" in sentence)


def test_unreadable_files_are_listed_not_fatal(tmp_path):
    root = make_clean(tmp_path / "data")
    good = (root / "Training/glioma/glioma_00.png").read_bytes()
    (root / "Training/glioma/truncated.png").write_bytes(good[: len(good) // 3])
    (root / "Training/pituitary/empty.png").write_bytes(b"")
    (root / "Testing/glioma/not_an_image.jpg").write_text("hello")
    audit = audit_dataset(root, cache_dir=False)
    bad = {u["path"]: u["reason"] for u in audit["unreadable"]}
    assert set(bad) == {"Training/glioma/truncated.png", "Training/pituitary/empty.png",
                        "Testing/glioma/not_an_image.jpg"}
    assert all(bad.values())
    assert audit["n_images"] == 4 * (N_TRAIN + N_TEST) + 3
    assert audit["test_duplicates"] == [] and audit["shortcut"]["n_images"] == 4 * (N_TRAIN + N_TEST)
    page = write_audit(audit, tmp_path / "out").read_text()
    assert "truncated.png" in page and "Unreadable files" in page


# ---------------------------------------------------------------- index, cache, dedup helpers

def test_the_index_finds_exactly_the_pairs_a_full_comparison_finds():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2**63, size=(400, 3, 4), dtype=np.uint64)
    # Plant pairs at distances around the threshold: a copy of a hash with k bits flipped.
    for k, (a, b) in enumerate(zip(range(0, 40), range(200, 240))):
        flip = rng.choice(256, size=k % (NEAR_THRESHOLD + 4), replace=False)
        bits = np.unpackbits(words[a, 0].astype(">u8").view(np.uint8))
        bits[flip] ^= 1
        words[b, 0] = np.packbits(bits).view(">u8").astype(np.uint64)
    i, j, d, _ = near_pairs(words, NEAR_THRESHOLD)
    ii, jj = np.triu_indices(len(words), 1)
    full = pair_distances(words, ii, jj)
    expected = {(int(x), int(y)) for x, y in zip(ii[full <= NEAR_THRESHOLD], jj[full <= NEAR_THRESHOLD])}
    assert {(int(x), int(y)) for x, y in zip(i, j)} == expected
    assert len(expected) >= 30  # the planted ones within the threshold


def test_features_are_cached_per_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TUMORBENCH_AUDIT_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    root = make_clean(tmp_path / "data")
    first = audit_dataset(root)
    assert first["cache"]["misses"] == first["n_images"] and Path(first["cache"]["path"]).parent == tmp_path / "cache"
    slice_image(999).save(root / "Training/glioma/glioma_00.png")  # changed content: recomputed
    second = audit_dataset(root)
    assert (second["cache"]["hits"], second["cache"]["misses"]) == (first["n_images"] - 1, 1)
    assert second["near_duplicates"]["pairs"] == first["near_duplicates"]["pairs"] == []


def test_dedup_metrics_are_the_metrics_of_the_kept_images():
    rng = np.random.default_rng(0)
    labels = [CLASS_NAMES[i % 4] for i in range(40)]
    probs = rng.dirichlet(np.ones(4), size=40)
    frame = predictions_frame([f"Testing/{lab}/{i}.png" for i, lab in enumerate(labels)], labels, probs)
    duplicated = {frame["image"][0]: "exact", frame["image"][1]: "near", frame["image"][2]: "near"}
    full = compute_metrics(frame)
    block = dedup_metrics(frame, duplicated, full)
    expected = compute_metrics(frame.iloc[3:].reset_index(drop=True))
    assert (block["n"], block["n_full"], block["removed"]) == (37, 40, {"exact": 1, "near": 2})
    assert block["accuracy"] == pytest.approx(expected["accuracy"])
    assert block["macro"] == pytest.approx(expected["macro"])
    assert block["confusion_matrix"] == expected["confusion_matrix"]
    everything = {img: "exact" for img in frame["image"]}
    assert dedup_metrics(frame, everything, full)["n"] == 0


def test_copy_labels_are_the_labels_of_each_test_images_copies_in_the_reference(planted):
    _, audit = planted
    reference = [ImageRecord(src, src.split("/")[1]) for _, src in PLANTED.values()]
    labels = duplicate_groups(audit).copy_labels(list(PLANTED), reference)
    assert labels == {path: frozenset({src.split("/")[1]}) for path, (_, src) in PLANTED.items()}
    assert labels["Testing/pituitary/conflict.png"] == {"glioma"}  # filed as pituitary, its copy as glioma
    # Copies outside the reference do not count, nor reference records without a label.
    assert duplicate_groups(audit).copy_labels(list(PLANTED), reference[:1]) == {
        "Testing/glioma/bytes_copy.png": {"glioma"}}
    unlabelled = [ImageRecord(r.path, None) for r in reference]
    assert duplicate_groups(audit).copy_labels(list(PLANTED), unlabelled) == {}


def test_copy_breakdown_counts_what_was_recalled_contradicted_and_generalised():
    images = [f"Testing/{CLASS_NAMES[i % 4]}/{i}.png" for i in range(12)]
    labels = [CLASS_NAMES[i % 4] for i in range(12)]
    predicted = [0, 1, 0, 3, 1, 0, 2, 3, 1, 1, 1, 1]  # right on images 0, 1, 3, 6, 7, 9
    probs = np.eye(4)[predicted] * 0.9 + 0.025
    frame = predictions_frame(images, labels, probs)
    copy_labels = {images[0]: frozenset({"glioma"}), images[1]: frozenset({"meningioma", "glioma"}),
                   images[2]: frozenset({"no_tumor"}),  # image 2 is no_tumor too: same class, predicted wrong
                   images[3]: frozenset({"glioma"}),  # a pituitary image whose copy is filed as glioma
                   images[4]: frozenset({"meningioma"})}  # a glioma filed as meningioma in training, predicted so
    assert copy_breakdown(frame, copy_labels) == {
        "same_label": {"n": 3, "correct": 2}, "other_label": {"n": 2, "correct": 1}, "no_copy": {"n": 7, "correct": 3}}
    duplicated = {image: "exact" for image in copy_labels}
    block = dedup_metrics(frame, duplicated, compute_metrics(frame), copy_labels=copy_labels)
    assert block["by_copy"]["no_copy"]["n"] == block["n"] == 7
    assert block["by_copy"]["no_copy"]["correct"] == round(block["accuracy"] * 7)
    assert "by_copy" not in dedup_metrics(frame, duplicated, compute_metrics(frame))


# ---------------------------------------------------------------- command line

def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_audit_writes_json_html_markdown_and_a_summary(planted, tmp_path):
    root, _ = planted
    result = invoke("audit", root, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "test images with a duplicate in train: 8 of 28 (4 exact, 4 near only" in result.output
    assert "label conflicts: 1" in result.output
    audit = json.loads((tmp_path / "a" / AUDIT_FILE).read_text())
    assert len(audit["test_duplicates"]) == 8
    page = (tmp_path / "a" / "audit.html").read_text()
    # Each pair side by side as thumbnails, inlined.
    assert page.count('src="data:image/png;base64,') >= 2 * (4 + 1)
    assert "near_cropped.png" in page and "conflict.png" in page
    assert "Duplicates across splits" in (tmp_path / "a" / "audit.md").read_text() or "test vs train" in (
        tmp_path / "a" / "audit.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["audit", "/nonexistent"], "dataset folder not found"),
    (["audit", "{data}", "--threshold", "500"], "choose a Hamming distance between 0 and 127"),
    (["run", "--data", "{data}", "--set", "dedup=sometimes"], "valid: none, drop_test, clean_val, group_split"),
], ids=["missing-data", "bad-threshold", "bad-dedup"])
def test_bad_audit_input_gives_one_clear_line(clean, args, message):
    root, _ = clean
    result = invoke(*[a.format(data=root) for a in args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- in a benchmark run

def _run(root: Path, out: Path, **extra) -> Path:
    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1"], **extra})
    run_benchmark(config, data_root=root, out=out)
    write_full_report(out)
    return out


@pytest.mark.slow
def test_run_audits_first_and_reports_full_and_deduplicated_metrics(planted, tmp_path):
    root, _ = planted
    out = _run(root, tmp_path / "run")
    assert (out / AUDIT_FILE).is_file()
    metrics = json.loads((out / "metrics.json").read_text())["models"]["model_1"]
    for key in ("accuracy", "loss", "confusion_matrix", "per_class", "weighted", "global_f1", "macro", "micro_auc"):
        assert key in metrics  # the public contract is unchanged
    dedup = metrics["dedup"]
    assert (dedup["n_full"], dedup["n"]) == (metrics["n"], metrics["n"] - len(PLANTED))
    assert dedup["removed"] == {"exact": 4, "near": 4}
    assert set(dedup) >= {"accuracy", "loss", "macro", "per_class", "confusion_matrix"}
    html = (out / "report.html").read_text()
    assert html.index("Dataset audit") < html.index('id="recommendation"')
    assert "Full vs de-duplicated test split" in html and 'id="dedup-table"' in html
    md = (out / "report.md").read_text()
    assert md.index("## Dataset audit") < md.index("## Recommendation")
    assert f"| model_1 | {metrics['n']} | {metrics['n'] - len(PLANTED)} | 4 / 4 |" in md
    # Where the score comes from: the planted conflict (a pituitary test image whose copy in training is
    # filed as glioma) is the one contradicted by the training data.
    by_copy = dedup["by_copy"]
    assert {g: c["n"] for g, c in by_copy.items()} == {
        "same_label": len(PLANTED) - 1, "other_label": 1, "no_copy": metrics["n"] - len(PLANTED)}
    assert by_copy["no_copy"]["correct"] == round(dedup["accuracy"] * dedup["n"])
    assert sum(c["correct"] for c in by_copy.values()) == round(metrics["accuracy"] * metrics["n"])
    row = next(line for line in md.splitlines() if line.startswith(f"| model_1 | {metrics['n']} |"))
    assert row.endswith(" | ".join(f"{c['correct']} / {c['n']}" for c in by_copy.values()) + " |")
    assert "right: copy, other class" in md
    assert "right: copy, other class" in html and "filed only under another class" in html

    # Without the split lists the report falls back on the audit's own folders: the same groups here.
    for name in ("train", "val"):
        (out / "splits" / f"{name}.csv").rename(out / "splits" / f"{name}.csv.bak")
    write_full_report(out)
    again = json.loads((out / "metrics.json").read_text())["models"]["model_1"]["dedup"]["by_copy"]
    assert again == by_copy
    for name in ("train", "val"):
        (out / "splits" / f"{name}.csv.bak").rename(out / "splits" / f"{name}.csv")

    # A corrupt audit.json: one clear message naming the file, no traceback.
    (out / AUDIT_FILE).write_text('{"not": "an audit"}')
    result = invoke("report", out)
    assert result.exit_code != 0 and "audit.json" in result.output and "tumorbench audit" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_drop_test_leaves_the_duplicated_test_images_out(planted, tmp_path):
    root, audit = planted
    # Seed 3 draws the planted training copy `meningioma_copy.png` into validation, its twin into training.
    out = _run(root, tmp_path / "run", dedup="drop_test", seed=3)
    test = {r.path for r in read_split_list(out / "splits" / "test.csv")}
    assert len(test) == 4 * N_TEST and not test & set(PLANTED)
    assert yaml.safe_load((out / "config.yaml").read_text())["dedup"] == "drop_test"
    dedup = json.loads((out / "metrics.json").read_text())["models"]["model_1"]["dedup"]
    assert (dedup["n"], dedup["n_full"], dedup["removed"]) == (4 * N_TEST, 4 * N_TEST, {"exact": 0, "near": 0})
    assert "dedup=drop_test" in (out / "report.html").read_text()
    # Validation holds no copy of a training image: the best epoch is not chosen on memorised images.
    train = read_split_list(out / "splits" / "train.csv")
    val = read_split_list(out / "splits" / "val.csv")
    assert duplicate_groups(audit).duplicated(val, train) == {}
    assert "Training/meningioma/meningioma_copy.png" in {r.path for r in train}
    assert len(train) + len(val) == sum(1 for _ in (root / "Training").rglob("*.png"))


@pytest.mark.slow
def test_clean_val_cleans_validation_and_keeps_the_whole_test_split(planted, tmp_path):
    root, audit = planted
    out = _run(root, tmp_path / "run", dedup="clean_val", seed=3)  # seed 3: a planted copy lands in validation
    test = {r.path for r in read_split_list(out / "splits" / "test.csv")}
    assert test == {str(p.relative_to(root)) for p in (root / "Testing").rglob("*") if p.is_file()}  # all kept
    assert test & set(PLANTED)  # the duplicated test images are still scored ...
    dedup = json.loads((out / "metrics.json").read_text())["models"]["model_1"]["dedup"]
    assert dedup["n"] < dedup["n_full"] == len(test)  # ... and the de-duplicated figures are reported beside
    train = read_split_list(out / "splits" / "train.csv")
    val = read_split_list(out / "splits" / "val.csv")
    assert duplicate_groups(audit).duplicated(val, train) == {}
    assert "Training/meningioma/meningioma_copy.png" in {r.path for r in train}
    assert "dedup=clean_val" in (out / "report.html").read_text()


def test_validation_copies_of_training_images_move_to_training(planted):
    _, audit = planted
    train, val = ["Training/meningioma/meningioma_02.png", "Training/glioma/glioma_01.png"], \
        ["Training/meningioma/meningioma_copy.png", "Training/glioma/glioma_03.png"]
    new_train, new_val, moved = clean_validation(train, val, duplicate_groups(audit))
    assert moved == 1 and new_val == ["Training/glioma/glioma_03.png"]
    assert new_train == [*train, "Training/meningioma/meningioma_copy.png"]
    assert clean_validation(train, ["Training/glioma/glioma_03.png"], duplicate_groups(audit))[2] == 0


@pytest.mark.slow
def test_group_split_keeps_every_duplicate_group_on_one_side(planted, tmp_path):
    root, audit = planted
    out = _run(root, tmp_path / "run", dedup="group_split")
    side = {r.path: name for name in ("train", "val", "test")
            for r in read_split_list(out / "splits" / f"{name}.csv")}
    assert len(side) == audit["n_images"]
    assert any(v == "test" and p.startswith("Training/") for p, v in side.items())  # really re-split
    for members in audit["groups"]:
        assert len({side[p] for p in members}) == 1, members
    ids = duplicate_groups(audit).group_ids(side)
    assert len(set(ids.values())) == audit["n_images"] - sum(len(g) - 1 for g in audit["groups"])
    assert yaml.safe_load((out / "config.yaml").read_text())["dedup"] == "group_split"
    dedup = json.loads((out / "metrics.json").read_text())["models"]["model_1"]["dedup"]
    assert dedup["removed"] == {"exact": 0, "near": 0} and dedup["n"] == dedup["n_full"]


def test_run_cli_has_a_dedup_option():
    result = invoke("run", "--help")
    assert "--dedup [none|drop_test|clean_val|group_split]" in result.output
