"""The commands that take a dataset and no training: `audit` it, `predict` it with any model,
`score_external` (a run's trained models on it). Importable from `tumorbench.api.commands` too.

    import tumorbench as tb
    tb.audit("data/sartaj", against="data/figshare").copies
    tb.predict("runs/sartaj/models/model_1/best.pt", "data/figshare").metrics
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tumorbench.api._config import spec_from_options
from tumorbench.api.errors import typed_errors

if TYPE_CHECKING:
    from tumorbench.api.audit_result import AuditResult
    from tumorbench.api.prediction_result import PredictionResult
    from tumorbench.api.results import RunResult

PathLike = str | os.PathLike


def score_external(run_dir: PathLike, data: PathLike, *, name: str | None = None,
                   class_map: str | Mapping[str, str] | None = None, device: str = "auto",
                   **report_options: Any) -> RunResult:
    """Score every complete model of an existing run folder on another dataset, as `run(external=...)`
    does after training (`tumorbench evaluate RUN --data B`, `tumorbench predict RUN --data B`): its
    predictions, copies and dataset.json go into the run folder (`external/<name>/`, replacing an earlier
    scoring of the same name), and the report is rebuilt with its section and the generalisation gap.
    `class_map`: `{"yes": "tumor", "no": "no_tumor"}` or "yes=tumor,no=no_tumor". A dataset that cannot be
    scored is recorded as such (`result.external[name]["reason"]`) and the report says so.

        tb.score_external("runs/sartaj", "data/yes-no", class_map="yes=tumor,no=no_tumor")
    """
    from tumorbench.api.results import RunResult
    from tumorbench.classes import parse_class_map
    from tumorbench.crossdata import score_externals
    from tumorbench.device import select_device
    from tumorbench.runfolder import RunFolder
    from tumorbench.sections import write_full_report

    started = time.perf_counter()
    with typed_errors():
        run = RunFolder(Path(run_dir))
        if not run.config.is_file() or not run.models_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: not a run folder (no config.yaml and models/); give the folder "
                                    "`tumorbench run` wrote")
        entry = {"path": str(data), "name": name,
                 "class_map": parse_class_map(class_map, where="class map") if class_map is not None else None}
        [found] = score_externals(run.root, [entry], device=str(select_device(device)))
        write_full_report(run.root, **report_options)
    return RunResult(run.root, seconds=time.perf_counter() - started)


def audit(data: PathLike, *, out: PathLike | None = None, threshold: int | None = None,
          cache: bool = True, class_map: str | Mapping[str, str] | None = None, against: PathLike | None = None,
          against_class_map: str | Mapping[str, str] | None = None) -> AuditResult:
    """Audit a dataset (`tumorbench audit`): duplicates within and across splits, label conflicts, file
    properties per class, and whether file properties alone give the class away. Writes audit.json,
    audit.html and audit.md into `out` (default: runs/audit-<timestamp>). `class_map` renames class
    folders (`{"yes": "tumor"}`, as `run`'s).

    `against`: a second dataset (its folders renamed by `against_class_map`); every one of its images is
    looked up in `data` (exact and near copies, `data`'s split and label), written as cross_audit.json
    and a section of the page (`result.cross`, `result.copies`)."""
    from tumorbench.api.audit_result import AuditResult
    from tumorbench.audit import audit_dataset, cross_audit, write_audit
    from tumorbench.data.folder import scan_dataset
    from tumorbench.run import default_run_dir

    with typed_errors():
        cache_dir = None if cache else False
        # Both datasets are read (and a bad --against refused) before the long within-dataset audit.
        index = scan_dataset(data, class_map=class_map)
        other = scan_dataset(against, class_map=against_class_map) if against is not None else None
        cross = None
        if other is not None:
            cross = cross_audit(index, other, near_threshold=threshold, cache_dir=cache_dir)
        found = audit_dataset(index, near_threshold=threshold, cache_dir=cache_dir)
        if out is None:
            stamped = default_run_dir()
            out = stamped.with_name(f"audit-{stamped.name}")
        write_audit(found, Path(out), cross=cross)
    return AuditResult(found, Path(out), cross)


def predict(
    model: PathLike,
    data: PathLike,
    *,
    split: str = "Testing",
    class_map: str | Mapping[str, str] | None = None,
    out: PathLike | None = None,
    info: PathLike | None = None,
    device: str = "auto",
    batch_size: int = 64,
    spec_file: PathLike | None = None,
    arch: str | None = None,
    input_size: int | None = None,
    color: str | None = None,
    scaling: str | None = None,
    layout: str | None = None,
    classes: str | Sequence[str] | Mapping[str, int] | None = None,
    trust_pickle: bool = False,
) -> PredictionResult:
    """The predictions (image, label, prob_<class>...) of any model on a dataset split (`tumorbench
    predict`): a tumorbench checkpoint, state dict (`arch=`), TorchScript, ONNX, Keras file or `zoo:NAME`.

    Foreign models are read with their own preprocessing: the zoo entry, the sidecar, `spec_file`, then
    `input_size`, `color`, `scaling`, `layout`, `classes`, each overriding the one before. `out`: the CSV
    to write (default: kept in memory; `result.save(path)` writes it later), with its details in `info`
    (default: beside it, `<out>.info.json`). PyTorch files holding pickled objects are refused unless
    `trust_pickle` (dangerous: only for files whose origin you trust). `class_map` renames the dataset's
    class folders (as `run`'s); a dataset without split folders is predicted whole.
    """
    from tumorbench._io import read_json
    from tumorbench.api.prediction_result import PredictionResult
    from tumorbench.device import select_device
    from tumorbench.predict import predict_folder
    from tumorbench.predictions.io import read_predictions
    from tumorbench.runfolder import info_path

    with typed_errors(), tempfile.TemporaryDirectory(prefix="tumorbench-predict-") as scratch:
        target = Path(out) if out is not None else Path(scratch) / "predictions.csv"
        details = Path(info) if info is not None else info_path(target)
        path, _rows, bad = predict_folder(
            model, data, split=split, class_map=class_map, out=target, device=select_device(device),
            batch_size=batch_size,
            spec=spec_from_options(input_size=input_size, color=color, scaling=scaling, layout=layout,
                                   classes=classes),
            spec_file=spec_file, arch=arch, info=details, trust_pickle=trust_pickle)
        frame = read_predictions(path)
        return PredictionResult(frame, path=path if out is not None else None, skipped=bad,
                                info=read_json(details))
