"""Saliency maps: Grad-CAM on the registry's CNNs, occlusion sensitivity on models tumorbench can only run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tumorbench.classes import CLASS_NAMES
from tumorbench.explain import (
    cam_layer,
    explainer_for,
    grad_cam_available,
    gradcam_maps,
    occlusion_maps,
)
from tumorbench.external import load_model_source
from tumorbench.models import create_model, get_model_entry, list_models

needs_grad_cam = pytest.mark.skipif(not grad_cam_available(),
                                    reason="grad-cam is not installed (pip install 'tumorbench[explain]')")


def quadrant_model(images: np.ndarray) -> np.ndarray:
    """A non-CNN 'model': class k's score is the brightness of quadrant k (top-left, top-right,
    bottom-left, bottom-right), so the evidence for each class sits in a known place."""
    x = np.asarray(images, dtype=np.float64)[:, 0]
    h, w = x.shape[1] // 2, x.shape[2] // 2
    scores = np.stack([x[:, :h, :w].mean((1, 2)), x[:, :h, w:].mean((1, 2)),
                       x[:, h:, :w].mean((1, 2)), x[:, h:, w:].mean((1, 2))], axis=1) / 10.0
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def bright_quadrants(n=2, size=48, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, 1, size, size)).astype(np.uint8)
    images[:, :, : size // 2, : size // 2] += 150  # class 0's quadrant is bright
    images[:, :, size // 2:, size // 2:] += 120  # and class 3's
    return images


def test_occlusion_finds_where_each_class_is():
    images = bright_quadrants()
    maps0 = occlusion_maps(quadrant_model, images, [0, 0], grid=4)
    maps3 = occlusion_maps(quadrant_model, images, [3, 3], grid=4)
    assert maps0.shape == (2, 48, 48) and maps0.dtype == np.float32
    assert np.isfinite(maps0).all() and maps0.min() >= 0 and maps0.max() == pytest.approx(1.0)
    for maps, (ys, xs) in ((maps0, (slice(0, 24), slice(0, 24))), (maps3, (slice(24, 48), slice(24, 48)))):
        quadrant = np.zeros((48, 48), dtype=bool)
        quadrant[ys, xs] = True
        assert maps[:, quadrant].mean() > 2 * maps[:, ~quadrant].mean()  # the class's own quadrant lights up
    assert not np.allclose(maps0, maps3)


def small_cnn(seed=0, size=32):
    torch.manual_seed(seed)
    spec = get_model_entry("model_1").preprocess.with_size(size)
    return create_model("model_1", spec).eval(), spec


@needs_grad_cam
def test_gradcam_maps_of_a_registry_cnn():
    model, spec = small_cnn()
    x = torch.rand(3, spec.channels, 32, 32)
    maps = {k: gradcam_maps(model, x, [k] * 3) for k in range(len(CLASS_NAMES))}
    for m in maps.values():
        assert m.shape == (3, 32, 32) and np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1
    assert any(m.max() > 0 for m in maps.values())
    assert not np.allclose(maps[0], maps[2])  # another class, another explanation


# hog_svm is no CNN (HOG features + SVM head, unusable before its head is fitted): it gets occlusion.
@pytest.mark.parametrize("arch", [m for m in list_models() if m != "hog_svm"])
def test_every_registry_network_has_a_feature_map_for_grad_cam(arch):
    entry = get_model_entry(arch)
    spec = entry.preprocess.with_size(max(entry.min_size, 64))
    model = create_model(arch, spec).eval()
    name, layer = cam_layer(model, torch.rand(1, spec.channels, spec.size, spec.size))
    outputs = []
    handle = layer.register_forward_hook(lambda m, i, o: outputs.append(o))
    with torch.no_grad():
        model(torch.rand(1, spec.channels, spec.size, spec.size))
    handle.remove()
    assert outputs[0].ndim == 4 and outputs[0].shape[2] > 1, name


def test_explainer_follows_what_the_model_allows(tmp_path, monkeypatch):
    model, _ = small_cnn()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    predictor = load_model_source(tmp_path / "m.pt", arch="model_1", spec={"input_size": 32})
    images = np.random.default_rng(0).integers(0, 255, (2, 1, 32, 32), dtype=np.uint8)
    if grad_cam_available():
        cam = explainer_for(predictor)
        maps = cam.maps(images, [0, 1])
        assert cam.method.startswith("Grad-CAM (layer ") and cam.note == ""
        assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    # Without the package, or for a model whose layers are out of reach: occlusion, and the reason.
    monkeypatch.setattr("tumorbench.explain.saliency.grad_cam_available", lambda: False)
    fallback = explainer_for(predictor)
    assert fallback.method.startswith("occlusion") and "grad-cam package is not installed" in fallback.note
    assert fallback.maps(images, [0, 1]).shape == (2, 32, 32)
    predictor.module = None
    predictor.format = "onnx"
    assert "onnx model: its layers cannot be reached" in explainer_for(predictor).note
    with pytest.raises(ValueError, match="valid methods: gradcam, gradcam"):
        explainer_for(predictor, method="magic")


def test_a_model_without_convolutions_gets_occlusion_and_says_why(tmp_path):
    # hog_svm's module has no parameters and no feature map: Grad-CAM used to fail on it (StopIteration).
    model, _ = small_cnn()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    predictor = load_model_source(tmp_path / "m.pt", arch="model_1", spec={"input_size": 32})
    predictor.module = torch.nn.Flatten()
    explainer = explainer_for(predictor)
    assert explainer.method.startswith("occlusion") and "not a convolutional network" in explainer.note
    images = np.random.default_rng(0).integers(0, 255, (2, 1, 32, 32), dtype=np.uint8)
    assert explainer.maps(images, [0, 1]).shape == (2, 32, 32)
