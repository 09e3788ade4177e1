"""Pictures of what a model got wrong and where it looked: saliency maps and the report's gallery.

    from tumorbench.explain import write_gallery
    write_gallery("out/preds.csv", frame, images, predictor=predictor)
    # -> PosixPath('out/preds.gallery/index.json')

Grad-CAM needs the optional `grad-cam` package (`pip install 'tumorbench[explain]'`); without it, and for
models whose layers tumorbench cannot reach, occlusion sensitivity is computed instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tumorbench.explain.gallery import (
    DEFAULT_BUDGET_S,
    gallery_for_images,
    select_gallery,
    write_gallery,
)
from tumorbench.explain.saliency import (
    CAM_METHODS,
    Explainer,
    cam_layer,
    explainer_for,
    grad_cam_available,
    gradcam_maps,
    occlusion_maps,
)

log = logging.getLogger(__name__)

__all__ = [
    "CAM_METHODS",
    "DEFAULT_BUDGET_S",
    "Explainer",
    "cam_layer",
    "explainer_for",
    "gallery_for_images",
    "gallery_for_run_model",
    "grad_cam_available",
    "gradcam_maps",
    "occlusion_maps",
    "select_gallery",
    "write_gallery",
]


def gallery_for_run_model(folder: Path, decoded, *, budget_s: float = DEFAULT_BUDGET_S) -> Path | None:
    """The gallery of a run folder's finished model (`folder`: models/<name>), from its checkpoint and
    the run's decoded images (`decoded`: paths and uint8 arrays at the model's spec).

    A picture gallery decorates the report: when it cannot be made the run goes on, with a warning."""
    from tumorbench.external import load_model_source
    from tumorbench.predictions.io import read_predictions
    from tumorbench.runfolder import CHECKPOINT_FILE, TEST_PREDICTIONS

    folder = Path(folder)
    try:
        predictor = load_model_source(folder / CHECKPOINT_FILE)
        frame = read_predictions(folder / TEST_PREDICTIONS)
        return gallery_for_images(folder / TEST_PREDICTIONS, frame, decoded.paths, decoded.x,
                                  predictor=predictor, name=folder.name, budget_s=budget_s)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("%s: no picture gallery (%s); the report lists its mistakes without pictures", folder.name, exc)
        return None
