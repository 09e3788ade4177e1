"""One preprocessing spec for every model: its scalings, the one function that applies it (training
batches, Predictor, the module inside ONNX exports), and its resolution from what a model states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tumorbench.data.preprocess import (
    IMAGENET_MEAN,
    SCALING_TEXT,
    Preprocess,
    PreprocessSpec,
)
from tumorbench.external.spec import Declared, ExternalSpec, resolve_spec
from tumorbench.inference.predictor import Predictor

PIXELS = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8))


@pytest.mark.parametrize("scaling", list(SCALING_TEXT))
def test_every_scaling_round_trips_through_its_name_and_the_checkpoint_dict(scaling):
    spec = PreprocessSpec.from_scaling(scaling, size=8, grayscale=False, layout="NHWC")
    assert spec.scaling == scaling and f"scaling {scaling}" in spec.describe()
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec


def test_the_scalings_compute_what_their_names_say():
    x = PIXELS.float()
    want = {
        "[0,1]": x / 255, "[-1,1]": x / 127.5 - 1, "raw": x,
        "imagenet": ((x / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
                     / torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)),
        "caffe": (x - torch.tensor((123.68, 116.779, 103.939)).view(1, 3, 1, 1)).flip(1),
    }
    for name, expected in want.items():
        got = PreprocessSpec.from_scaling(name, size=8, grayscale=False).to_tensor(PIXELS)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5, msg=name)


def test_training_the_predictor_and_the_export_module_apply_a_spec_identically():
    spec = PreprocessSpec.from_scaling("caffe", size=8, grayscale=False, layout="NHWC")
    batch = spec.to_tensor(PIXELS)
    assert batch.shape == (2, 8, 8, 3)  # NHWC, as the model takes it
    predictor = Predictor(name="m", format="onnx", detail="", spec=spec, forward=lambda x: x, column_order=[0, 1, 2, 3])
    assert predictor.layout == "NHWC"
    torch.testing.assert_close(predictor.prepare(PIXELS), batch, rtol=0, atol=0)
    torch.testing.assert_close(Preprocess(spec)(PIXELS.float()), batch, rtol=0, atol=0)


def test_a_custom_mean_and_std_survive_resolution_and_checkpoints():
    """A registered architecture with its own mean/std keeps them when loaded from a state dict: the
    old conversion to a sidecar spec turned them into None."""
    base = PreprocessSpec(size=32, grayscale=False, standardize=True, mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))
    resolved = resolve_spec(ExternalSpec(), Declared(), where="w.pt", hint="h", base=base)
    assert resolved.preprocess == base and resolved.scaling_mode == "custom"
    assert resolved.notes[-1].startswith("class order")
    assert "mean [0.1, 0.2, 0.3]" in resolved.describe()
    # Stated values override the base layer; the declared input shape overrides both when unstated.
    resized = resolve_spec(ExternalSpec(input_size=48, resize="bicubic"), Declared(), where="w.pt", hint="h", base=base)
    assert (resized.preprocess.size, resized.preprocess.resize, resized.preprocess.mean) == (48, "bicubic", base.mean)
    declared = resolve_spec(ExternalSpec(), Declared(64, 3, "NCHW"), where="w.pt", hint="h", base=base)
    assert declared.preprocess.size == 64
    with pytest.raises(ValueError, match="unknown layout 'NWHC'; valid layouts: NHWC, NCHW"):
        PreprocessSpec(layout="NWHC")


def test_checkpoints_written_before_layout_and_bgr_existed_still_load():
    old = {"size": 24, "grayscale": True, "normalize": True, "standardize": False, "mean": [0.5], "std": [0.5],
           "resize": "bilinear"}
    spec = PreprocessSpec.from_dict(old)
    assert (spec.layout, spec.bgr, spec.scaling) == ("NCHW", False, "[0,1]")
