"""Saliency maps: where in the image a model looked for the class it was asked about.

Two methods, picked by what the model lets us reach:

- Grad-CAM and friends (the `grad-cam` package, `pytorch_grad_cam`) for tumorbench's own registered
  networks, whose layers are in hand: the gradient of the class score weighs the last feature map.
- Occlusion sensitivity for any other model (ONNX, Keras, TorchScript), which tumorbench can only run:
  a grey patch slides over the image and the drop of the class probability is the map. Costs one
  forward pass per patch position, so it runs on a coarse grid.

Every map is (H, W) at the model's input size, finite, scaled to [0, 1] per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Grad-CAM's relatives in pytorch_grad_cam, by the name the options use.
CAM_METHODS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
}
CAM_LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "hirescam": "HiResCAM",
              "xgradcam": "XGrad-CAM", "layercam": "LayerCAM", "eigencam": "Eigen-CAM"}
INSTALL_HINT = "pip install 'tumorbench[explain]'"


def grad_cam_available() -> bool:
    """Whether the optional `grad-cam` package can be imported."""
    try:
        import pytorch_grad_cam  # noqa: F401
    except ImportError:
        return False
    return True


def _unit(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] (a flat map stays 0); non-finite values become 0."""
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


def cam_layer(model: nn.Module, example: torch.Tensor) -> tuple[str, nn.Module]:
    """The module whose output is the network's last spatial feature map (4-D, more than 1x1), found
    by running `example` once: where Grad-CAM reads activations and gradients. Works for any
    registered architecture without naming its layers."""
    found: list[tuple[str, nn.Module]] = []
    hooks = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(mod, _inputs, output, name=name):
            if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[2] * output.shape[3] > 1:
                found.append((name, mod))
        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in hooks:
            h.remove()
    if not found:
        raise ValueError(f"{type(model).__name__}: no layer gives a spatial feature map; Grad-CAM does not "
                         "apply (use occlusion)")
    return found[-1]  # the last to finish: the outermost module around the last feature map


def gradcam_maps(model: nn.Module, x: torch.Tensor, targets: Sequence[int], *, method: str = "gradcam",
                 layer: nn.Module | None = None) -> np.ndarray:
    """Class-activation maps (N, H, W) in [0, 1] for a scaled input batch `x` (N, C, H, W) of a torch
    network; `targets[i]` is the output column explained for image i. Needs the `grad-cam` package."""
    if method not in CAM_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; valid methods: {', '.join(CAM_METHODS)}, occlusion")
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if layer is None:
        layer = cam_layer(model, x)[1]
    was_training = model.training
    model.eval()
    cam_class = getattr(pytorch_grad_cam, CAM_METHODS[method])
    try:
        with torch.enable_grad(), cam_class(model=model, target_layers=[layer]) as cam:
            maps = cam(input_tensor=x.float(), targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        model.train(was_training)
    return _unit(maps)


def occlusion_maps(predict_proba: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                   targets: Sequence[int], *, grid: int = 6) -> np.ndarray:
    """Occlusion sensitivity (N, H, W) in [0, 1] of a black-box model.

    `images` are uint8 (N, C, H, W) as the model takes them, `predict_proba` maps such a batch to
    probabilities (N, K), `targets[i]` the column explained. The image is cut into `grid` x `grid` patches;
    each in turn is filled with the image's mean grey, and the drop of the target probability (0 when it
    rises) is that patch's value. The grid of drops is interpolated to the image size. Costs grid² + 1
    forward passes per image: a coarse grid, as foreign models (VGG16 at 240 px) take ~0.5 s per image on
    one CPU core.
    """
    images = np.asarray(images)
    n, _, h, w = images.shape
    ys = np.linspace(0, h, grid + 1).round().astype(int)
    xs = np.linspace(0, w, grid + 1).round().astype(int)
    drops = np.zeros((n, grid, grid), dtype=np.float64)
    for i in range(n):
        image = images[i]
        fill = image.reshape(image.shape[0], -1).mean(axis=1).round().astype(image.dtype)[:, None, None]
        batch = [image]
        for a in range(grid):
            for b in range(grid):
                occluded = image.copy()
                occluded[:, ys[a]:ys[a + 1], xs[b]:xs[b + 1]] = fill
                batch.append(occluded)
        probs = np.asarray(predict_proba(np.stack(batch)), dtype=np.float64)[:, targets[i]]
        drops[i] = np.maximum(0.0, probs[0] - probs[1:]).reshape(grid, grid)
    # Bilinear from the patch centres: a smooth map, not a chessboard of patches.
    maps = torch.nn.functional.interpolate(torch.from_numpy(drops)[:, None], size=(h, w), mode="bilinear",
                                           align_corners=False)[:, 0].numpy()
    return _unit(maps)


@dataclass
class Explainer:
    """How one model's saliency is computed: `maps(images uint8, targets: indices of the model's classes)`."""

    method: str  # what the report calls it: "Grad-CAM (layer upper)", "occlusion sensitivity", ...
    maps: Callable[[np.ndarray, Sequence[int]], np.ndarray]
    note: str = ""  # why this method (e.g. grad-cam not installed)


def explainer_for(predictor, *, method: str = "gradcam", grid: int = 6) -> Explainer:
    """The saliency method a loaded Predictor allows: Grad-CAM (`method`) on a registered torch network
    when `grad-cam` is installed, else occlusion sensitivity through `predict_proba`, with a note why."""
    valid = (*CAM_METHODS, "occlusion")
    if method not in valid:
        raise ValueError(f"unknown saliency method {method!r}; valid methods: {', '.join(valid)}")

    def occlusion(images: np.ndarray, targets: Sequence[int]) -> np.ndarray:
        return occlusion_maps(predictor.predict_proba, images, targets, grid=grid)

    occlusion_name = f"occlusion sensitivity ({grid}x{grid} grey patches)"
    module = getattr(predictor, "module", None)
    if method == "occlusion":
        return Explainer(occlusion_name, occlusion)
    if module is None:
        return Explainer(occlusion_name, occlusion,
                         note=f"{predictor.format} model: its layers cannot be reached, so occlusion "
                              "sensitivity is shown instead of Grad-CAM")
    if not any(isinstance(m, nn.Conv2d) for m in module.modules()):
        # hog_svm and other fitted models: no convolutional feature map for Grad-CAM to weight.
        return Explainer(occlusion_name, occlusion,
                         note="not a convolutional network: occlusion sensitivity is shown instead of Grad-CAM")
    if not grad_cam_available():
        return Explainer(occlusion_name, occlusion,
                         note=f"the grad-cam package is not installed ({INSTALL_HINT}): occlusion "
                              "sensitivity is shown instead of Grad-CAM")
    chosen: dict[str, tuple[str, nn.Module]] = {}

    def cam(images: np.ndarray, targets: Sequence[int]) -> np.ndarray:
        x = predictor.prepare(images)
        device = next(module.parameters()).device
        x = x.to(device)
        if "layer" not in chosen:
            chosen["layer"] = cam_layer(module, x)
        columns = [predictor.column_order[t] for t in targets]
        return gradcam_maps(module, x, columns, method=method, layer=chosen["layer"][1])

    explainer = Explainer(CAM_LABELS[method], cam)

    # The layer's name is known after the first batch; the method string is read after that.
    def named(images, targets):
        out = cam(images, targets)
        explainer.method = f"{CAM_LABELS[method]} (layer {chosen['layer'][0]})"
        return out
    explainer.maps = named
    return explainer
