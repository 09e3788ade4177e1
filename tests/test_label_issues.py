"""Suspect labels: planted mislabelled images rank at the top, from the mechanism alone and in a report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import draw_sample, make_dataset

from tumorbench.classes import CLASS_NAMES

pytest.importorskip("cleanlab")

PLANTED = (("Training", "glioma", "no_tumor", 3), ("Testing", "meningioma", "pituitary", 2))


def planted_dataset(root: Path) -> tuple[Path, list[str]]:
    """A 4-class dataset (30 training, 10 test images a class) plus images drawn as one class and filed
    under another: the planted label issues."""
    counts = {"Training": {c: 30 for c in CLASS_NAMES}, "Testing": {c: 10 for c in CLASS_NAMES}}
    make_dataset(root, counts)
    rng = np.random.default_rng(7)
    planted = []
    for split, drawn, filed, n in PLANTED:
        for i in range(n):
            path = root / split / filed / f"planted_{drawn}_{i}.png"
            draw_sample(drawn, rng).save(path)
            planted.append(path.relative_to(root).as_posix())
    return root, planted


def drawn_class(image: str) -> str:
    """The class an image of `planted_dataset` was drawn as (its file name says so)."""
    stem = Path(image).stem
    return stem.split("_", 2)[1] if stem.startswith("planted_") else stem.rsplit("_", 1)[0]


def test_confident_learning_ranks_planted_training_labels_first(tmp_path):
    from tumorbench.evaluation.label_issues import confident_learning
    from tumorbench.evaluation.thumbnails import decode_thumbnails, fit_thumbnail_model

    root, planted = planted_dataset(tmp_path / "data")
    train = sorted(p.relative_to(root).as_posix() for p in (root / "Training").rglob("*.png"))
    labels = [Path(p).parent.name for p in train]
    x, ok, bad = decode_thumbnails(root, train)
    assert not bad and ok == train
    classes, oof, _ = fit_thumbnail_model(x, labels, x[:0])
    found = confident_learning(train, labels, classes, oof, split="training")
    planted_train = [p for p in planted if p.startswith("Training/")]
    # The planted images are the top candidates, each with the class it was drawn as suggested.
    assert set(found["image"].head(len(planted_train))) == set(planted_train)
    top = found.set_index("image").loc[planted_train]
    assert (top["suggested"] == "glioma").all()
    assert (top["label_quality"] < 0.5).all()


def _fake_run(root: Path, planted: list[str], run: Path) -> Path:
    """A run folder without training: the audit, split lists, and a model whose test predictions follow
    what each image shows (so it contradicts the planted test labels)."""
    import tumorbench as tb
    from tumorbench.data.folder import ImageRecord
    from tumorbench.data.split import write_split_list
    from tumorbench.predictions.io import predictions_frame, write_predictions
    from tumorbench.runfolder import RunFolder

    tb.audit(root, out=run)
    folder = RunFolder(run)
    records = {s: sorted(p.relative_to(root).as_posix() for p in (root / s).rglob("*.png"))
               for s in ("Training", "Testing")}
    rec = {s: [ImageRecord(p, Path(p).parent.name) for p in paths] for s, paths in records.items()}
    write_split_list(folder.split_list("train"), rec["Training"][::2] + rec["Training"][1::4])
    write_split_list(folder.split_list("val"), rec["Training"][3::4])
    write_split_list(folder.split_list("test"), rec["Testing"])
    rng = np.random.default_rng(0)
    images = records["Testing"]
    probs = rng.dirichlet(np.ones(len(CLASS_NAMES)), len(images)) * 0.3
    for i, image in enumerate(images):
        probs[i, CLASS_NAMES.index(drawn_class(image))] += 0.7
    frame = predictions_frame(images, [Path(p).parent.name for p in images], probs)
    write_predictions(folder.model("sees_the_image") / "predictions_test.csv", frame)
    (run / "config.yaml").write_text("models: [sees_the_image]\nevaluation: {bootstrap: {resamples: 200}}\n")
    return run


def test_report_lists_planted_labels_at_the_top_with_thumbnails(tmp_path):
    from tumorbench.api import report

    root, planted = planted_dataset(tmp_path / "data")
    run = _fake_run(root, planted, tmp_path / "run")
    result = report(run)
    table = pd.read_csv(run / "label_issues.csv", keep_default_na=False)
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert set(table["image"].head(len(planted))) == set(planted)
    by_image = table.set_index("image")
    assert by_image.loc[[p for p in planted if p.startswith("Testing/")], "split"].eq("test").all()
    # Found by confident learning itself, not only by the audit's copies.
    assert all("confident learning" in by_image.loc[p, "source"] for p in planted)
    html = result.report_path.read_text()
    assert 'id="label-issue-gallery"' in html and html.count("data:image/jpeg;base64,") >= len(planted)
    assert "Suspect labels" in (run / "report.md").read_text()
    assert result.label_issues["image"].head(len(planted)).tolist() == table["image"].head(len(planted)).tolist()
    # The same run's verdict and segments, on the notebook result: the simple baseline is the thumbnail
    # model fitted on the split lists, and the segments have every dimension a run folder can give.
    checks = result.checks.set_index("key")
    assert len(checks) == 8 and checks.loc["beats_simple_baseline", "status"] != "not run"
    assert checks.loc["test_copies", "status"] != "not run" and checks.loc["generalisation_gap", "status"] == "not run"
    assert {"size", "colour", "cluster", "copy"} <= set(result.segments["dimension"])
    n_test = 4 * 10 + sum(n for split, *_, n in PLANTED if split == "Testing")
    assert result.segments.groupby("dimension")["n"].sum().eq(n_test).all()  # each test image in one segment each


def test_audit_finds_merge_with_confident_learning_one_row_per_image():
    from tumorbench.evaluation.label_issues import (
        LABEL_CONFLICT,
        audit_issues,
        merge_issues,
    )

    audit = {"label_conflicts": [{"a": "Training/m/x.jpg", "b": "Testing/g/y.jpg", "split_a": "train",
                                  "split_b": "test", "label_a": "meningioma", "label_b": "glioma",
                                  "kind": "exact", "distance": 0}]}
    found = audit_issues(audit,
                         {"Testing/g/y.jpg": frozenset({"meningioma"}), "Testing/g/z.jpg": frozenset({"glioma"})},
                         {"Testing/g/y.jpg": "glioma", "Testing/g/z.jpg": "glioma"})
    # Both sides of the conflict; the copy filed under another class; not the copy under its own class.
    assert sorted(found["image"]) == ["Testing/g/y.jpg", "Testing/g/y.jpg", "Training/m/x.jpg"]
    learned = pd.DataFrame({"image": ["Testing/g/w.jpg", "Testing/g/y.jpg"], "split": "test",
                            "label": "glioma", "suggested": "meningioma", "label_quality": [0.01, 0.2],
                            "source": "confident learning"})
    merged = merge_issues(learned, found)
    assert merged["image"].is_unique and list(merged["rank"]) == [1, 2, 3]
    # Three sources agree on y.jpg: first; then the lowest label quality; the audit-only find last.
    assert merged["image"].tolist() == ["Testing/g/y.jpg", "Testing/g/w.jpg", "Training/m/x.jpg"]
    top = merged.iloc[0]
    assert top["label_quality"] == 0.2 and LABEL_CONFLICT in top["source"] and "confident learning" in top["source"]
    assert merged.iloc[2]["split"] == "training"


def test_file_attributes_read_size_band_and_colour_from_the_header(tmp_path):
    from PIL import Image

    from tumorbench.evaluation.segments import file_attributes, size_band

    Image.new("L", (512, 512)).save(tmp_path / "a.png")
    Image.new("RGB", (300, 200)).save(tmp_path / "b.jpg")
    found = file_attributes(tmp_path, ["a.png", "b.jpg", "missing.jpg"])
    assert found.loc["a.png"].tolist() == ["512 px", "PNG L"]
    assert found.loc["b.jpg"].tolist() == ["256-511 px", "JPEG RGB"]
    assert found.loc["missing.jpg"].isna().all()
    assert size_band(1024, 10) == ">= 1024 px" and size_band(None, 5) is None


def test_thumbnail_model_fits_with_one_blas_thread(monkeypatch):
    # Its products are small: two BLAS threads spin waiting for each other (10x slower beside a busy
    # process, measured), so the fits run with one.
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    from tumorbench.evaluation.thumbnails import fit_thumbnail_model

    seen: list[int] = []
    fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 1, 64, 64), dtype=np.uint8)
    classes, oof, test = fit_thumbnail_model(x, ["a", "b"] * 10, x[:3])
    assert classes == ["a", "b"] and oof.shape == (20, 2) and test.shape == (3, 2)
    assert seen and set(seen) == {1}
