"""One interface for every model, wherever it was made: uint8 images in, probabilities out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from tumorbench.classes import CLASS_NAMES
from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.inference.probabilities import to_probabilities

if TYPE_CHECKING:
    from tumorbench.inference.compute import ComputePlan

Forward = Callable[[torch.Tensor], np.ndarray]  # scaled float32 CPU batch in the model's layout -> raw outputs


@dataclass
class Predictor:
    """A loaded model with its preprocessing: `predict_proba(uint8 (N, C, H, W)) -> (N, len(classes))`.

    Images are decoded with `spec` (size, colour mode, resize filter: pass it to `load_images`), then
    `predict_proba` scales them, lays them out as the model wants, runs the model and returns
    probabilities in `classes` order. Anything done on the way (softmax on logits, assumptions about
    an unstated spec) is appended to `notes`, which predictions info and reports carry.
    """

    name: str  # display name
    format: str  # checkpoint, state_dict, torchscript, onnx, keras
    detail: str  # what the loader found, e.g. "ONNX model, input input [?, 240, 240, 3]"
    spec: PreprocessSpec  # decoding (size, mode, resize), scaling, channel order and layout
    forward: Forward
    column_order: list[int]  # model output index of each class of `classes`
    outputs: str = "auto"  # auto, probabilities or logits (see `to_probabilities`)
    source: str = ""  # the model file or zoo name it was loaded from
    preprocessing: str = ""  # human-readable preprocessing, for reports
    notes: list[str] = field(default_factory=list)
    provenance: str = ""  # where the model comes from (zoo entry, sidecar `description`)
    batch_size: int = 32
    # The torch network of a registered architecture, whose layers Grad-CAM can reach (its scaled input in
    # the model's layout, raw logits in its column order); None for foreign formats (ONNX, Keras, ...).
    module: Any = field(default=None, repr=False)
    # The class of each column of predict_proba's result: a tumorbench checkpoint's own class list, or the
    # seed's four for a foreign model (its spec maps its outputs onto them).
    classes: tuple[str, ...] = CLASS_NAMES
    # The context around all batches of one predict_proba call: a tumorbench network's keeps autocast's
    # bf16 copies of the weights for the whole call (ComputePlan.step_scope): cast once, not per batch.
    scope: Callable[[], contextlib.AbstractContextManager] = field(default=contextlib.nullcontext, repr=False)

    @property
    def layout(self) -> str:
        """What the model takes: NCHW or NHWC (the spec's)."""
        return self.spec.layout

    @property
    def description(self) -> str:
        """Format and provenance, one line."""
        return f"{self.detail}; {self.provenance}" if self.provenance else self.detail

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def prepare(self, batch_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Scale and lay out a uint8 (N, C, H, W) batch as the model's input (float32, CPU)."""
        x = torch.as_tensor(batch_uint8)
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"{self.name}: predict_proba takes a uint8 batch (N, C, H, W), got "
                             f"{x.dtype} of shape {tuple(x.shape)}")
        expected = (self.spec.channels, self.spec.size, self.spec.size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.name}: images must be decoded with the model's spec to shape "
                             f"(N, {', '.join(map(str, expected))}), got {tuple(x.shape)}; "
                             "use `load_images(..., predictor.spec)`")
        return self.spec.to_tensor(x).contiguous()

    def predict_proba(self, batch_uint8: np.ndarray | torch.Tensor, *, batch_size: int | None = None) -> np.ndarray:
        """Probabilities (N, len(classes)) in `classes` order for a uint8 batch decoded with `self.spec`."""
        n = len(batch_uint8)
        if n == 0:
            return np.zeros((0, len(self.classes)))
        step = batch_size or self.batch_size
        with self.scope():
            raw = [np.asarray(self.forward(self.prepare(batch_uint8[i:i + step]))) for i in range(0, n, step)]
        where = f"{self.name} ({self.source})" if self.source and self.source != self.name else self.name
        # Logits are detected over all rows at once: one decision for the whole model, not per batch.
        probs, notes = to_probabilities(np.concatenate(raw), mode=self.outputs, where=where, classes=self.classes)
        for note in notes:
            self._note(note)
        return probs[:, self.column_order]

    def info(self) -> dict[str, Any]:
        """Model details in the shape of a run folder's info.json (read by the report)."""
        return {
            "name": self.name, "architecture": f"{self.format}: {self.detail}",
            "weights": self.provenance or self.source, "source": self.source, "format": self.format,
            "preprocessing": self.preprocessing,
            "preprocess": self.spec.to_dict(), "layout": self.spec.layout, "bgr": self.spec.bgr,
            "classes": list(self.classes),
            "class_columns": {c: int(i) for c, i in zip(self.classes, self.column_order)},
            "notes": list(self.notes),
        }



def torch_forward(model: torch.nn.Module, device: torch.device, *, softmax: bool,
                  compute: ComputePlan | None = None) -> Forward:
    """The forward function of a PyTorch model. With `compute` (a tumorbench network), it runs with the
    training code's plan (precision, memory layout), so a checkpoint predicts what its run predicted."""
    if compute is not None:
        compute.apply()
        compute.prepare_model(model)

    def forward(x: torch.Tensor) -> np.ndarray:
        with (compute.no_grad() if compute else torch.inference_mode()), \
                (compute.autocast() if compute else contextlib.nullcontext()):
            out = model(compute.to_input(x) if compute else x.to(device))
            if isinstance(out, (tuple, list)):
                out = out[0]
            out = out.float()
            return (F.softmax(out, dim=1) if softmax else out).cpu().numpy()
    return forward


def network_predictor(model: torch.nn.Module, spec: PreprocessSpec, *, name: str, compute: ComputePlan | None = None,
                      device: torch.device | str = "cpu", column_order: list[int] | None = None,
                      classes: tuple[str, ...] | list[str] = CLASS_NAMES,
                      format: str = "checkpoint", detail: str = "", source: str = "", provenance: str = "",
                      notes: list[str] | None = None) -> Predictor:
    """A registered tumorbench network (trained by `run` or loaded from a checkpoint or state dict) as a
    Predictor: what `run` predicts its validation and test splits with, and what `predict` uses, so the
    two give the same numbers. `compute` defaults to the plan for `device`."""
    from tumorbench.inference.compute import plan_compute

    compute = (compute or plan_compute(torch.device(device))).for_network(model)
    model.eval()
    return Predictor(
        name=name, format=format, detail=detail or f"tumorbench network {name}", spec=spec,
        forward=torch_forward(model, compute.device, softmax=True, compute=compute),
        column_order=list(range(len(classes))) if column_order is None else column_order, classes=tuple(classes),
        outputs="probabilities",  # registered networks end in logits by design: softmax in forward
        source=source, preprocessing=spec.describe(), notes=list(notes or []), provenance=provenance,
        batch_size=compute.eval_batch_size(spec.size),
        module=model,
        scope=compute.step_scope,
    )
