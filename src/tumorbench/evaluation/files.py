"""Predictions files evaluated: read each file, check they cover the same images, and evaluate each into a
ModelResult (the report is written elsewhere: `tumorbench.report.evaluate_files`).

    from tumorbench.evaluation.files import evaluate_predictions
    evaluate_predictions([Path("a/predictions_test.csv"), Path("b.csv")])
    # -> [ModelResult(name='a', ...), ModelResult(name='b', ...)]
"""

from __future__ import annotations

from pathlib import Path

from tumorbench._io import read_json
from tumorbench.evaluation.model_result import ModelResult, evaluate_model
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.predictions.io import check_same_images, read_predictions
from tumorbench.runfolder import GENERIC_STEMS, HISTORY_FILE, info_path


def default_name(path: Path) -> str:
    """A model name for a predictions file: its stem, or its folder's name when the stem is generic."""
    path = Path(path)
    if GENERIC_STEMS.match(path.stem):
        folder = path.resolve().parent.name
        if folder:
            return folder
    return path.stem


def evaluate_predictions(paths: list[Path], *, names: list[str] | None = None,
                         settings: EvaluationSettings | None = None, history=None) -> list[ModelResult]:
    """Each predictions file evaluated (metrics, curves, calibration), named by `names` or its file name.

    Files are compared on the same images only: two files over different image sets raise ValueError
    naming both files and the number of differing images. `history` gives training histories of models
    trained elsewhere: a mapping model name -> file, or `NAME=FILE` strings (see
    `tumorbench.evaluation.history.read_history_file` for the formats)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no predictions files given; pass at least one predictions CSV")
    if names is None:
        names = [default_name(p) for p in paths]
    elif len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} predictions files; give one name per file")
    names = [str(n).strip() for n in names]
    if any(not n for n in names):
        raise ValueError("model names must not be empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"several files would be called {', '.join(map(repr, repeated))}; give distinct names "
            "(--names on the command line)"
        )
    histories = _histories(history, names)
    frames = {str(p): read_predictions(p) for p in paths}
    check_same_images(frames)
    # The model's details travel beside its predictions, so notes such as "logits: softmax applied"
    # reach the report however the predictions were made.
    infos = {path: read_json(info_path(path)) if info_path(path).is_file() else None for path in frames}
    return [
        evaluate_model(name, frame, source=Path(path), info=infos[path], settings=settings,
                       history=histories[name][1] if name in histories else None,
                       history_source=str(histories[name][0]) if name in histories else HISTORY_FILE)
        for name, (path, frame) in zip(names, frames.items())
    ]


def _histories(history, names: list[str]) -> dict[str, tuple[Path, dict]]:
    """{model name: (file, history dict)} of `--history NAME=FILE`; every file read and checked before any
    work is done, and every NAME must be one of the evaluated models."""
    from tumorbench.evaluation.history import parse_history_options, read_history_file

    files = parse_history_options(history or {})
    unknown = [n for n in files if n not in names]
    if unknown:
        raise ValueError(f"--history names {', '.join(map(repr, unknown))}, not among the evaluated models "
                         f"({', '.join(map(repr, names))}); use one of these names (set them with --names)")
    return {name: (path, read_history_file(path, name)) for name, path in files.items()}
