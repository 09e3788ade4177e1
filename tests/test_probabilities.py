"""The one probability policy (tumorbench.inference.probabilities): a model's outputs and a predictions
file's columns get the same treatment on the edge cases where the two old policies disagreed."""

from __future__ import annotations

import numpy as np
import pytest

from tumorbench.classes import CLASS_NAMES
from tumorbench.inference.probabilities import NonFiniteOutputs, softmax, to_probabilities
from tumorbench.predictions.io import predictions_frame, read_predictions, write_predictions

PROBS = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])


def _from_file(tmp_path, raw):
    frame = predictions_frame([f"{i}.jpg" for i in range(len(raw))], ["glioma"] * len(raw), raw)
    read = read_predictions(write_predictions(tmp_path / "p.csv", frame))
    return read[[f"prob_{c}" for c in CLASS_NAMES]].to_numpy(), read.attrs["notes"]


def _from_model(raw):
    return to_probabilities(raw, where="m.onnx", classes=CLASS_NAMES)


@pytest.mark.parametrize("scale, noted", [(1.01, True), (1.0005, True), (1.00001, False)],
                         ids=["sum-1.01", "sum-1.0005", "sum-1.00001"])
def test_rows_near_one_are_renormalised_not_softmaxed_by_both_paths(tmp_path, scale, noted):
    raw = PROBS * scale
    for probs, notes in (_from_model(raw), _from_file(tmp_path, raw)):
        np.testing.assert_allclose(probs, PROBS, rtol=1e-9)  # softmax would flatten them towards 0.25
        assert bool(notes) == noted
        assert not any("LOGITS" in n for n in notes)
        if noted:
            assert "renormalised" in notes[0]


def test_a_negative_value_makes_logits_for_both_paths(tmp_path):
    raw = np.array([[2.0, -1.0, 0.5, 0.0], [-0.3, 3.1, 0.2, -2.0]])
    for probs, notes in (_from_model(raw), _from_file(tmp_path, raw)):
        np.testing.assert_allclose(probs, softmax(raw), rtol=1e-6)
        assert len(notes) == 1 and "CONVERTED FROM LOGITS" in notes[0] and "softmax applied" in notes[0]


def test_a_mix_of_probability_rows_and_logit_rows_is_refused_by_both_paths(tmp_path):
    raw = np.array([[0.1, 0.2, 0.3, 0.4], [2.0, -1.0, 0.5, 0.0]])
    with pytest.raises(ValueError, match=r"m\.onnx: 1 rows are probabilities but 1 are not, the first at row 1"):
        _from_model(raw)
    with pytest.raises(ValueError, match=r"p\.csv: 1 rows are probabilities but 1 are not, the first at line 3"):
        _from_file(tmp_path, raw)


def test_stated_logits_resolve_a_mix_for_a_model():
    raw = np.array([[0.1, 0.2, 0.3, 0.4], [2.0, -1.0, 0.5, 0.0]])
    probs, notes = to_probabilities(raw, mode="logits", where="m", classes=CLASS_NAMES)
    np.testing.assert_allclose(probs, softmax(raw))
    assert "stated in the spec" in notes[0]


def test_nan_is_refused_by_both_paths(tmp_path):
    raw = np.array([[0.1, np.nan, 0.4, 0.5], [0.25, 0.25, 0.25, 0.25]])
    with pytest.raises(NonFiniteOutputs, match=r"m\.onnx: the model output NaN or infinite values for 1 of 2"):
        _from_model(raw)
    with pytest.raises(ValueError, match="p.csv"):
        _from_file(tmp_path, raw)


def test_sigmoid_scores_and_percentages_are_refused():
    with pytest.raises(ValueError, match="do not sum to 1.*sigmoid"):
        to_probabilities(np.array([[0.9, 0.8, 0.1, 0.0]]), where="m")
    with pytest.raises(ValueError, match="percentages"):
        to_probabilities(np.array([[50.0, 20.0, 20.0, 10.0]]), where="m")


def test_rounding_noise_outside_zero_one_is_clipped_with_a_note():
    probs, notes = to_probabilities(np.array([[1.0000005, 0.0, 0.0, -5e-7]]), where="m")
    assert probs.min() == 0.0 and probs.sum() == pytest.approx(1.0) and "clipped" in notes[0]
