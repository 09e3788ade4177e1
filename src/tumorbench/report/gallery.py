"""The report's picture gallery of a model, read from the gallery folder beside its predictions file
(written by `tumorbench.explain` where the model was loaded). Needs no model and no PyTorch.

The JPEGs are inlined as base64 data URIs, so report.html stays one file that works offline.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tumorbench._io import read_json
from tumorbench.predictions.io import frame_classes, prob_columns
from tumorbench.runfolder import GALLERY_FORMAT, GALLERY_INDEX, gallery_dir

# Why a model has no pictures, when nothing more specific is known.
NO_MODEL_NOTE = ("No pictures: there is no picture gallery beside the predictions ({folder}/). It is made where "
                 "the model itself is loaded: by `tumorbench run`, and by `tumorbench predict --model FILE ...`, "
                 "beside the predictions it writes; a predictions file alone cannot show what the model saw.")


@dataclass
class Tile:
    """One thumbnail: the picture, its saliency overlay (None when none was computed), its numbers."""

    key: str  # unique in the report: model slug + item number
    image: str
    label: str
    predicted: str
    confidence: float
    probs: list[tuple[str, float]]
    src: str  # data URI of the plain picture
    overlay: str | None  # data URI of the picture with the saliency overlay

    @property
    def probs_data(self) -> str:
        """'glioma=0.9100;meningioma=0.0500;...': what the enlarged view draws as bars."""
        return ";".join(f"{c}={p:.4f}" for c, p in self.probs)

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


@dataclass
class GalleryView:
    method: str  # saliency method, e.g. "Grad-CAM (layer upper)"
    target: str
    input: str  # what the model saw: "128 px L"
    mistakes: list[Tile]
    per_class: list[tuple[str, list[Tile], list[Tile]]]  # (class, correct, wrong)
    notes: list[str] = field(default_factory=list)

    @property
    def tiles(self) -> list[Tile]:
        seen: dict[str, Tile] = {t.key: t for t in self.mistakes}
        for _, correct, wrong in self.per_class:
            seen.update({t.key: t for t in (*correct, *wrong)})
        return list(seen.values())


def _uri(folder: Path, name: str | None) -> str | None:
    if not name:
        return None
    path = folder / name
    if Path(name).name != name or not path.is_file():  # a file name only: never a path out of the folder
        return None
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def load_gallery(predictions: Path, frame: pd.DataFrame, *, slug: str) -> tuple[GalleryView | None, str]:
    """The gallery stored beside `predictions` as a view for the report, or (None, why there is none).

    A gallery that does not match the predictions (the file was re-written since) is left out, with a
    note saying how to make it again; a damaged index.json is a ValueError naming the file and the fix."""
    folder = gallery_dir(predictions)
    index_path = folder / GALLERY_INDEX
    if not index_path.is_file():
        return None, NO_MODEL_NOTE.format(folder=folder.name)
    index = read_json(index_path)
    fix = f"delete the folder {folder} (the report then shows no pictures) or re-run the step that wrote it"
    if not isinstance(index, dict) or index.get("format") != GALLERY_FORMAT or not isinstance(index.get("items"), list):
        raise ValueError(f"{index_path}: not a tumorbench gallery index; {fix}")
    by_image = frame.set_index(frame["image"].astype(str))
    classes = frame_classes(frame)
    tiles = []
    try:
        for k, item in enumerate(index["items"]):
            image = str(item["image"])
            if image not in by_image.index:
                return None, (f"The picture gallery in {folder.name}/ shows images that are not in the predictions "
                              f"(first: {image}): it is out of date, so it is left out; {fix}.")
            row = by_image.loc[image]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            probs = [float(row[c]) for c in prob_columns(classes)]
            predicted = classes[max(range(len(probs)), key=probs.__getitem__)]
            if predicted != item["predicted"]:
                return None, (f"The picture gallery in {folder.name}/ was made from other predictions ({image}: "
                              f"{item['predicted']} there, {predicted} here): it is left out; {fix}.")
            src = _uri(folder, item.get("file"))
            if src is None:
                return None, f"{folder / str(item.get('file'))}: picture missing; {fix}."
            tiles.append(Tile(key=f"{slug}-{k}", image=image, label=str(row["label"]), predicted=predicted,
                              confidence=max(probs), probs=list(zip(classes, probs)), src=src,
                              overlay=_uri(folder, item.get("overlay"))))
        mistakes = [tiles[i] for i in index.get("mistakes", [])]
        per_class = [(c, [tiles[i] for i in index["per_class"][c]["correct"]],
                      [tiles[i] for i in index["per_class"][c]["wrong"]]) for c in classes
                     if c in index["per_class"]]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"{index_path}: damaged gallery index ({type(exc).__name__}: {exc}); {fix}") from None
    notes = [str(n) for n in index.get("notes") or []]
    if tiles and all(t.overlay is None for t in tiles) and not notes:
        notes.append("no saliency overlay was stored with these pictures")
    return GalleryView(method=str(index.get("method", "")), target=str(index.get("target", "predicted class")),
                       input=str(index.get("input", "")), mistakes=mistakes, per_class=per_class,
                       notes=notes), ""
