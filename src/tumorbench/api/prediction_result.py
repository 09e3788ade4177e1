"""What `tb.predict` returns: a model's predictions on a dataset split, in the predictions contract, with
their point metrics when every image is labelled."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tumorbench.api._html import render

if TYPE_CHECKING:
    import pandas as pd


class PredictionResult:
    """A model's predictions on a dataset split (`tb.predict`), in the predictions contract."""

    def __init__(self, predictions: pd.DataFrame, *, path: Path | None, skipped: list[tuple[str, str]],
                 info: dict):
        self.predictions = predictions  # image, label, prob_<class>...
        self.path = path  # the CSV written, or None when kept in memory (see `save`)
        self.skipped = list(skipped)  # (image, reason) of unreadable images left out
        self.info = info  # the model's details and the notes made reading it

    @property
    def name(self) -> str:
        return str(self.info.get("name") or "model")

    def __repr__(self) -> str:
        return f"<PredictionResult of {self.name}: {len(self.predictions)} images>"

    @property
    def labelled(self) -> bool:
        return bool((self.predictions["label"] != "").all())

    @cached_property
    def metrics(self) -> dict | None:
        """Point metrics (compute_metrics) when every image has a label, else None."""
        from tumorbench.evaluation.classification import compute_metrics

        return compute_metrics(self.predictions) if self.labelled else None

    def save(self, path: str | Path) -> Path:
        """Write the predictions CSV and its details (`<path>.info.json`, read by `evaluate`)."""
        from tumorbench._io import write_json
        from tumorbench.predictions.io import write_predictions
        from tumorbench.runfolder import info_path

        written = write_predictions(path, self.predictions)
        write_json(info_path(written), self.info)
        self.path = written
        return written

    def _repr_html_(self) -> str:
        m = self.metrics
        return render("predictions", name=self.name, n=len(self.predictions), skipped=len(self.skipped),
                      accuracy=None if m is None else m["accuracy"], notes=self.info.get("notes") or [],
                      head=self.predictions.head(5), path=self.path)
