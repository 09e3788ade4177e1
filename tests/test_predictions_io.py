"""The predictions-file contract: what is refused, what is corrected (and said), what passes unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.predictions.io import (
    COLUMNS,
    check_same_images,
    predictions_frame,
    read_predictions,
    write_predictions,
)

HEADER = ",".join(COLUMNS)


def clean_frame(n=8, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), n)
    labels = [CLASS_NAMES[i % 4] for i in range(n)]
    return predictions_frame([f"{lab}/img ({i}).jpg" for i, lab in enumerate(labels)], labels, probs)


def write_csv(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_round_trip_is_clean(tmp_path):
    frame = clean_frame()
    path = write_predictions(tmp_path / "p.csv", frame)
    read = read_predictions(path)
    assert read.attrs["notes"] == []
    assert read.attrs["path"] == str(path)
    assert read["image"].tolist() == frame["image"].tolist()
    assert read["label"].tolist() == frame["label"].tolist()
    np.testing.assert_allclose(read[list(PROB_COLUMNS)], frame[list(PROB_COLUMNS)], atol=1e-7)
    np.testing.assert_allclose(read[list(PROB_COLUMNS)].sum(axis=1), 1.0, atol=1e-12)


def test_unknown_labels_are_allowed_empty(tmp_path):
    frame = clean_frame()
    frame.loc[2, "label"] = ""
    read = read_predictions(write_predictions(tmp_path / "p.csv", frame))
    assert read.loc[2, "label"] == ""
    assert read.attrs["notes"] == []


def test_class_name_spellings_are_mapped_with_a_note(tmp_path):
    path = write_csv(tmp_path, f"{HEADER}\na.jpg,glioma_tumor,1,0,0,0\nb.jpg,notumor,0,0,1,0\n"
                               "c.jpg,pituitary,0,0,0,1\n")
    read = read_predictions(path)
    assert read["label"].tolist() == ["glioma", "no_tumor", "pituitary"]
    assert read.attrs["notes"] == [
        "p.csv: class names mapped onto the canonical names: 'glioma_tumor' -> 'glioma', 'notumor' -> 'no_tumor'."
    ]


def test_small_drift_is_renormalised_with_a_note(tmp_path):
    path = write_csv(tmp_path, f"{HEADER}\na.jpg,glioma,0.5,0.2,0.2,0.11\nb.jpg,glioma,0.7,0.1,0.1,0.1\n")
    read = read_predictions(path)
    assert read.loc[0, "prob_glioma"] == pytest.approx(0.5 / 1.01)
    assert read.loc[1, "prob_glioma"] == pytest.approx(0.7)
    assert len(read.attrs["notes"]) == 1
    assert "1 rows of probabilities summed to between 1.0000 and 1.0100" in read.attrs["notes"][0]
    assert "renormalised" in read.attrs["notes"][0]


def test_rounding_noise_is_renormalised_silently(tmp_path):
    path = write_csv(tmp_path, f"{HEADER}\na.jpg,glioma,0.333333,0.333333,0.333333,0\n")
    read = read_predictions(path)
    assert read.attrs["notes"] == []
    assert read.loc[0, list(PROB_COLUMNS)].sum() == pytest.approx(1.0, abs=1e-12)


def test_logits_are_converted_with_softmax_and_a_note(tmp_path):
    logits = np.array([[2.0, -1.0, 0.5, 0.0], [-0.3, 3.1, 0.2, -2.0]])
    frame = predictions_frame(["a.jpg", "b.jpg"], ["glioma", "meningioma"], logits)
    read = read_predictions(write_predictions(tmp_path / "p.csv", frame))
    np.testing.assert_allclose(read[list(PROB_COLUMNS)].to_numpy(), softmax(logits, axis=1), rtol=1e-6)
    assert len(read.attrs["notes"]) == 1 and "were logits" in read.attrs["notes"][0]
    assert "softmax" in read.attrs["notes"][0]


def test_positive_logits_above_one_are_converted(tmp_path):
    logits = np.array([[4.0, 1.0, 2.0, 3.0], [1.5, 6.0, 2.0, 1.0]])
    frame = predictions_frame(["a.jpg", "b.jpg"], ["glioma", "meningioma"], logits)
    read = read_predictions(write_predictions(tmp_path / "p.csv", frame))
    np.testing.assert_allclose(read[list(PROB_COLUMNS)].to_numpy(), softmax(logits, axis=1), rtol=1e-6)


@pytest.mark.parametrize(
    "text, match",
    [
        ("image,label,prob_glioma\na.jpg,glioma,1\n", r"p\.csv: missing columns \['prob_<class>"),
        (f"{HEADER},prob_notumor\na.jpg,glioma,1,0,0,0,0\n", r"several probability columns mean class 'no_tumor'"),
        ("", r"p\.csv: the file is empty"),
        (f"{HEADER}\n", "has a header but no rows"),
        (f"{HEADER},prob_a b\na.jpg,glioma,1,0,0,0,0\n", r"column 'prob_a b'.*letters, digits"),
        (f"{HEADER}\na.jpg,glioma,0.5,NaN,0.25,0.25\n", r"'prob_meningioma' has 1 missing, NaN.*line 2 \('a\.jpg'\)"),
        (f"{HEADER}\na.jpg,glioma,0.5,,0.25,0.25\n", r"'prob_meningioma' has 1 missing"),
        (f"{HEADER}\na.jpg,glioma,0.5,abc,0.25,0.25\n", r"first: 'abc'"),
        (f"{HEADER}\na.jpg,glioma,inf,0,0,0\n", r"'prob_glioma' has 1 missing, NaN, infinite"),
        (f"{HEADER}\na.jpg,glioma,1,0,0,0\na.jpg,glioma,1,0,0,0\n", r"1 images appear more than once \('a\.jpg'\)"),
        (f"{HEADER}\n,glioma,1,0,0,0\n", "1 rows have no image name"),
        (f"{HEADER}\na.jpg,glioma,0.9,0.8,0.1,0.0\n", r"rows do not sum to 1 \(line 2 sums to 1\.8"),
        (f"{HEADER}\na.jpg,glioma,0,0,0,0\n", "rows do not sum to 1"),
        (f"{HEADER}\na.jpg,glioma,70,10,10,10\n", "percentages.*divide them by 100"),
    ],
    ids=["missing-columns", "two-columns-one-class", "empty-file", "header-only", "bad-class-column", "nan",
         "empty-cell", "non-numeric", "infinite", "duplicate-image", "empty-image", "not-a-distribution",
         "all-zero-row", "percentages"],
)
def test_bad_files_are_refused(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_predictions(write_csv(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv: predictions file not found"):
        read_predictions(tmp_path / "nope.csv")


def test_writer_refuses_incomplete_tables(tmp_path):
    with pytest.raises(ValueError, match="lacks columns"):
        write_predictions(tmp_path / "p.csv", pd.DataFrame({"image": ["a"]}))


# ---------------------------------------------------------------- comparing files

def test_same_images_in_another_order_compare(tmp_path):
    frame = clean_frame()
    check_same_images({"a.csv": frame, "b.csv": frame.iloc[::-1].reset_index(drop=True)})


def test_different_image_sets_are_refused():
    a, b = clean_frame(8), clean_frame(8)
    b = b.iloc[:6].copy()
    b.loc[6] = ["extra.jpg", "glioma", 1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"a\.csv and b\.csv predict different image sets: 2 images only in the "
                                         r"first, 1 only in the second"):
        check_same_images({"a.csv": a, "b.csv": b})


def test_different_labels_for_the_same_images_are_refused():
    a, b = clean_frame(), clean_frame()
    b.loc[0, "label"] = "pituitary"
    with pytest.raises(ValueError, match=r"disagree on the true label of 1 images"):
        check_same_images({"a.csv": a, "b.csv": b})


def test_results_are_written_atomically_with_the_usual_file_mode(tmp_path):
    import os

    from tumorbench._io import atomic_write, write_text

    target = write_text(tmp_path / "metrics.json", "{}")
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable like any new file, not 0600
    with pytest.raises(RuntimeError):
        atomic_write(target, lambda p: (p.write_text("half"), (_ for _ in ()).throw(RuntimeError("crash"))))
    assert target.read_text() == "{}"  # the old result is intact
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # and no temporary file is left


def test_rows_with_more_fields_than_the_header_are_refused(tmp_path):
    # Found by tests/test_fuzz.py: pandas read the first field as an index and shifted every column, so the
    # label read "0.0" (a class name of its own since any class set is accepted).
    path = tmp_path / "p.csv"
    path.write_text("image,label,prob_glioma,prob_meningioma,prob_no_tumor,prob_pituitary\n"
                    "img0.png,glioma,0.0,0.0,0.0,1,5\n")
    with pytest.raises(ValueError, match=r"p\.csv: the rows have more fields than the header's 6 columns"):
        read_predictions(path)
