"""Reading PyTorch files without running code from them.

`torch.save` files are pickles, and unpickling can call any Python function the file names: a model
file someone hands you can delete files or open a shell the moment it is loaded. tumorbench reads
every `.pt`/`.pth` file with PyTorch's weights-only unpickler, which accepts tensors and plain
containers (dict, list, tuple, str, numbers, None) and nothing else; tumorbench checkpoints hold only
those. A file that needs more is refused with one line, unless the user passes `--trust-pickle`
(`trust_pickle=True`), which is for files whose origin they trust, and says so in the log.
"""

from __future__ import annotations

import logging
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

TRUST_FLAG = "--trust-pickle"


class UnsafePickleError(ValueError):
    """The file needs arbitrary objects unpickled (which can run code) and trust was not given."""


_IMPORT_OPS = {"GLOBAL", "STACK_GLOBAL", "INST"}
_SCAN_LIMIT = 64 << 20  # bytes of a plain pickle scanned for the objects it names


# Objects PyTorch's own archives name (tensor rebuilding, storages, ordered dicts): not worth quoting.
_PLAIN_PREFIXES = ("torch.", "collections.OrderedDict")


def _named_globals(data: bytes) -> list[str] | None:
    """The Python objects a pickle imports, read with pickletools without running anything, PyTorch's
    own left out; None when the bytes are not a pickle at all."""
    names: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if isinstance(arg, str):
                strings.append(arg)
            if op.name == "GLOBAL" or op.name == "INST":
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                names.append(".".join(strings[-2:]) if len(strings) >= 2 else "?")
    except Exception:  # pickletools raises ValueError and others on bytes that are no pickle
        return None
    return [n for n in names if not n.startswith(_PLAIN_PREFIXES)]


def _pickle_bytes(path: Path) -> bytes:
    """The pickle of a file: the file itself, or the data.pkl inside a torch.save zip archive."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            inner = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            return zf.read(inner[0])[:_SCAN_LIMIT] if inner else b""
    with open(path, "rb") as fh:
        return fh.read(_SCAN_LIMIT)


def _reason(exc: BaseException, path: Path) -> str | None:
    """What the weights-only unpickler objected to, without PyTorch's advice to turn the check off;
    None when the file is no pickle at all (damaged, or another format)."""
    names = _named_globals(_pickle_bytes(path))
    if names:
        return f"it names the Python object(s) {', '.join(sorted(set(names))[:5])}"
    found = re.search(r"unsupported GLOBAL ([\w.]+)", str(exc), re.I)
    if found:
        return f"it names the Python object {found.group(1)}"
    if names is None and not zipfile.is_zipfile(path):
        return None
    return "it holds objects other than tensors and plain data"


def torch_load(path: str | os.PathLike, *, trust_pickle: bool = False, fix: str | None = None) -> Any:
    """`torch.load` that never runs code from the file unless `trust_pickle` is given.

    Raises UnsafePickleError (a ValueError) for a file that holds arbitrary pickled objects, and
    ValueError for a file that is not a readable PyTorch file; both name the file and the fix (`fix`
    replaces the advice to pass --trust-pickle where a command has no such flag).
    """
    path = Path(path)
    if trust_pickle:
        log.warning("%s: loading with full unpickling (%s): this file can run any code; use it only for "
                    "files whose origin you trust", path, TRUST_FLAG)
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a damaged archive, not a torch file, a class that no longer exists...
            raise ValueError(f"{path}: cannot read as a PyTorch file ({type(exc).__name__}: "
                             f"{_first_line(exc)})") from None
    try:
        with warnings.catch_warnings():
            # PyTorch warns about the pickle protocol of files it is about to refuse; the refusal says enough.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _reason(exc, path) if "weights only load failed" in str(exc).lower() else None
        if reason is None:
            raise ValueError(f"{path}: cannot read as a PyTorch file (neither a PyTorch archive nor a pickle); "
                             "it may be damaged or incomplete, or in another format") from None
        advice = fix or f"if you trust where this file comes from, pass {TRUST_FLAG}"
        raise UnsafePickleError(
            f"{path}: refused: {reason}, and unpickling such a file can run code; tumorbench reads "
            f"tensors and plain data only: {advice}"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, zipfile errors... for non-torch files
        raise ValueError(f"{path}: cannot read as a PyTorch file ({type(exc).__name__}: {_first_line(exc)}); "
                         "it may be damaged or incomplete, or in another format") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
