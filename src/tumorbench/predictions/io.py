"""The predictions file: the contract between everything that makes predictions and everything that
judges them.

One row per image: `image` (path relative to the dataset root, POSIX separators), `label` (true class
name, empty when unknown), then one `prob_<class>` column per class of the model, in the model's class
order (the seed's four for a four-class model), each row summing to 1. The columns are the truth about
the model's classes (`frame_classes`). Models trained anywhere enter the benchmark by writing this file.

`read_predictions` is strict about what would change a number (missing columns, unknown classes,
NaN, duplicate images, scores that are not probabilities) and states every correction it makes in
`frame.attrs["notes"]`, which the report shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tumorbench._io import atomic_write
from tumorbench.classes import CLASS_NAMES, check_class_name, map_class, prob_column
from tumorbench.inference.probabilities import to_probabilities

BASE_COLUMNS: tuple[str, ...] = ("image", "label")
PROB_PREFIX = "prob_"
# The columns of a four-class model's file (the seed's classes), for messages and examples.
COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, *(prob_column(c) for c in CLASS_NAMES))


def frame_classes(frame: pd.DataFrame) -> tuple[str, ...]:
    """The model's classes of a predictions table: its `prob_<class>` columns, in column order.

    >>> frame_classes(pd.DataFrame(columns=["image", "label", "prob_glioma", "prob_pituitary"]))
    ('glioma', 'pituitary')
    """
    return tuple(c[len(PROB_PREFIX):] for c in frame.columns if str(c).startswith(PROB_PREFIX))


def prob_columns(frame_or_classes) -> list[str]:
    """The probability columns of a predictions table, or of a class list, in order."""
    classes = frame_classes(frame_or_classes) if isinstance(frame_or_classes, pd.DataFrame) else frame_or_classes
    return [prob_column(c) for c in classes]

def predictions_frame(
    images: Sequence[str], labels: Sequence[str | None], probs: np.ndarray,
    classes: Sequence[str] = CLASS_NAMES,
) -> pd.DataFrame:
    """Build a predictions table in the contract's column order; `classes` names the columns of
    `probs` (the model's classes, in its order)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probabilities must have shape (n, {len(classes)}) for classes {list(classes)}, "
                         f"got {probs.shape}")
    if not (len(images) == len(labels) == len(probs)):
        raise ValueError(
            f"{len(images)} images, {len(labels)} labels and {len(probs)} probability rows: "
            "they must be equally many"
        )
    frame = pd.DataFrame({"image": list(images), "label": [lab or "" for lab in labels]})
    for i, column in enumerate(prob_columns(classes)):
        frame[column] = probs[:, i]
    return frame


def write_predictions(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write a predictions table atomically as CSV."""
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if missing or len(frame_classes(frame)) < 2:
        raise ValueError(f"predictions table lacks columns {missing or ['prob_<class>, one per class']}; "
                         f"expected image, label and one prob_<class> column per class, e.g. {list(COLUMNS)}")
    columns = [*BASE_COLUMNS, *prob_columns(frame)]
    return atomic_write(
        path, lambda p: frame.loc[:, columns].to_csv(p, index=False, float_format="%.8g")
    )


_MAX_LISTED = 5  # examples quoted in an error message: enough to find the problem, short enough to read


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read a predictions file, checking it against the contract.

    Returns the table with float64 probabilities that sum to 1 per row and canonical class names in
    `label` ("" when unknown). Corrections made on the way are listed in `frame.attrs["notes"]`
    (a list of sentences, empty when the file was clean); `frame.attrs["path"]` names the file.

    Refused with ValueError (message names the file, the value and the fix): missing or extra
    probability columns, an empty file, empty or duplicate image names, labels that are not a class,
    NaN/infinite/non-numeric probabilities, non-negative scores whose rows do not sum to 1, and
    percentages, and files that mix probability rows with other rows. Corrected with a note: class-name
    spellings such as `glioma_tumor`, rounding noise outside [0, 1] (clipped), rows that drift from 1 by
    at most SUM_RENORMALISE_ATOL (renormalised), and files of logits (no row a distribution, values
    outside [0, 1]; converted with softmax). See `_as_probabilities` for the policy.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file not found")
    try:
        frame = pd.read_csv(path, keep_default_na=False, dtype={"image": str, "label": str})
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty; a predictions file has columns {list(COLUMNS)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc}); write it with write_predictions") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # Every row has more fields than the header: pandas then reads the first field(s) as an index and
        # every column shifts by one (a label would read "0.0"). Refused, not guessed.
        raise ValueError(f"{path}: the rows have more fields than the header's {len(frame.columns)} columns (a "
                         "number written with a decimal comma, such as 1,5, or an unquoted comma in a name); "
                         "write it with write_predictions")
    missing = [c for c in BASE_COLUMNS if c not in frame.columns]
    if len(frame_classes(frame)) < 2:
        missing.append("prob_<class> (one per class of the model, at least two)")
    if missing:
        raise ValueError(
            f"{path}: missing columns {missing}; a predictions file has columns image, label and one "
            f"prob_<class> per class, e.g. {list(COLUMNS)}"
        )
    notes: list[str] = []
    frame = _canonical_columns(path, frame, notes)
    if frame.empty:
        raise ValueError(f"{path}: the file has a header but no rows; it holds no predictions")

    _check_images(path, frame)
    frame["label"] = _canonical_labels(path, frame, notes)
    probs = _numeric_probabilities(path, frame)
    probs = _as_probabilities(path, probs, notes)
    for i, column in enumerate(prob_columns(frame)):
        frame[column] = probs[:, i]
    frame.attrs["notes"] = notes
    frame.attrs["path"] = str(path)
    return frame


def _row_names(frame: pd.DataFrame, mask: np.ndarray) -> str:
    """The first few offending rows, as file line numbers and image names, for error messages."""
    rows = np.flatnonzero(mask)
    # +2: one for the header line, one because people count lines from 1.
    shown = ", ".join(f"line {r + 2} ({frame['image'].iloc[r]!r})" for r in rows[:_MAX_LISTED])
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return shown + more


def _check_images(path: Path, frame: pd.DataFrame) -> None:
    images = frame["image"].astype(str)
    empty = (images.str.strip() == "").to_numpy()
    if empty.any():
        raise ValueError(
            f"{path}: {int(empty.sum())} rows have no image name ({_row_names(frame, empty)}); "
            "every row must name the image it predicts"
        )
    duplicated = images.duplicated(keep=False).to_numpy()
    if duplicated.any():
        names = sorted(set(images[duplicated]))
        shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
        raise ValueError(
            f"{path}: {len(names)} images appear more than once ({shown}"
            f"{', ...' if len(names) > _MAX_LISTED else ''}); each image must have exactly one row: "
            "check that the image list given to the model had no repeats"
        )


def _canonical_columns(path: Path, frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The probability columns under their classes' canonical names (`prob_notumor` -> `prob_no_tumor`),
    with a note; refused when a name cannot be a class or two columns mean one class."""
    classes = frame_classes(frame)
    mapped = [map_class(c) for c in classes]
    for column, name in zip(prob_columns(classes), mapped):
        check_class_name(name, where=f"{path}: column {column!r}")
    twice = sorted({c for c in mapped if mapped.count(c) > 1})
    if twice:
        raise ValueError(f"{path}: several probability columns mean class {twice[0]!r} "
                         f"({[c for c, m in zip(prob_columns(classes), mapped) if m == twice[0]]}); keep one per class")
    renamed = {prob_column(a): prob_column(b) for a, b in zip(classes, mapped) if a != b}
    if renamed:
        notes.append(f"{path.name}: probability columns renamed to the canonical class names: "
                     + ", ".join(f"{a!r} -> {b!r}" for a, b in renamed.items()) + ".")
        frame = frame.rename(columns=renamed)
    return frame


def _canonical_labels(path: Path, frame: pd.DataFrame, notes: list[str]) -> pd.Series:
    """Labels under canonical names where they are a known spelling (`glioma_tumor` -> glioma), else as
    written: a label that is no class of the model is scored by the views that can (see evaluation)."""
    raw = frame["label"].astype(str).str.strip()
    mapped = raw.map(lambda name: "" if name == "" else map_class(name))
    renamed = sorted({(a, b) for a, b in zip(raw, mapped) if a != b})
    if renamed:
        spelled = ", ".join(f"{a!r} -> {b!r}" for a, b in renamed)
        notes.append(f"{path.name}: class names mapped onto the canonical names: {spelled}.")
    return mapped.astype(str)


def _numeric_probabilities(path: Path, frame: pd.DataFrame) -> np.ndarray:
    columns = []
    for column in prob_columns(frame):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raw = frame[column].iloc[int(np.flatnonzero(bad)[0])]
            raise ValueError(
                f"{path}: column {column!r} has {int(bad.sum())} missing, NaN, infinite or non-numeric "
                f"values (first: {raw!r} at {_row_names(frame, bad)}); the model produced no usable "
                "probability for these images: fix the model's output or remove those rows"
            )
        columns.append(values)
    return np.column_stack(columns)


def _as_probabilities(path: Path, probs: np.ndarray, notes: list[str]) -> np.ndarray:
    """Rows that sum to 1, by the one policy of `tumorbench.inference.probabilities` (the same as for
    a model's outputs); a file's rows are named by their line."""
    probs, more = to_probabilities(probs, where=str(path), classes=None, name=path.name, what="the probability columns",
                                   row_name=lambda r: f"line {r + 2}")
    notes.extend(more)
    return probs


def check_same_images(frames: Mapping[str, pd.DataFrame]) -> None:
    """Refuse to compare predictions made on different image sets.

    `frames` maps a name (a file path or model name, quoted in the error) to a predictions table.
    Comparing models on different images would rank the images, not the models.
    """
    items = list(frames.items())
    if len(items) < 2:
        return
    first_name, first = items[0]
    reference = set(first["image"])
    for name, frame in items[1:]:
        images = set(frame["image"])
        if images != reference:
            only_first = len(reference - images)
            only_other = len(images - reference)
            example = sorted((reference - images) or (images - reference))[0]
            raise ValueError(
                f"{first_name} and {name} predict different image sets: {only_first} images only in "
                f"the first, {only_other} only in the second (e.g. {example!r}); models are compared "
                "on the same images only: predict the same split with every model"
            )
        labels_first = first.set_index("image")["label"]
        labels_other = frame.set_index("image")["label"].reindex(labels_first.index)
        disagree = labels_first != labels_other
        if disagree.any():
            example = labels_first.index[disagree.to_numpy()][0]
            raise ValueError(
                f"{first_name} and {name} disagree on the true label of {int(disagree.sum())} images "
                f"(e.g. {example!r}: {labels_first[example]!r} vs {labels_other[example]!r}); both "
                "files must come from the same split list"
            )
