"""The embedded default dataset: synthetic four-class brain MRI slices built from the MNI152 template.

`tumorbench run` must work on a machine that has nothing but the project, so the package can generate
a small benchmark dataset itself. It is **synthetic and NOT clinical data**: no patient image is used,
and no conclusion about any real scanner, patient or tumour should be drawn from results on it. Its
job is to exercise the whole pipeline (training, predictions, metrics, report) with a task that is
neither trivial nor impossible.

One module, over 400 lines, because it is cohesive: the anatomy, the lesions, the nuisances and the
per-image random streams define one dataset version together (any change to one changes every image,
and the version in README.txt pins them all), so they are read and changed as one piece.

How an image is made:

* **Anatomy.** The brains are 2-D slices of the ICBM 2009a MNI152 T1 template, with its white-matter
  probability map, both read with nibabel from inside the installed `nilearn` wheel (nothing is
  downloaded). A slice is resampled directly at the output resolution (`scipy.ndimage.map_coordinates`).
* **Lesions**, with the traits radiologists use to tell the classes apart:
  glioma: irregular, infiltrative intra-axial mass centred in white matter, with an oedema halo that
  follows the white matter (hypo- or hyper-intense, as on T1 or T2-like contrasts), sometimes a
  necrotic core and an enhancing rim;
  meningioma: round, well-circumscribed, extra-axial mass sitting against the dura at the brain
  surface;
  pituitary: small, midline mass at the sella turcica (drawn where the sella projects into the slice
  plane, below the hypothalamus on coronal and sagittal slices);
  no_tumor: none. Lesion sizes and contrasts vary, so some cases are subtle.
* **Nuisance**, drawn from one distribution for every class, so that nothing but the lesion tells the
  label: slice plane (mostly axial, also coronal and sagittal) and position, affine jitter (in-plane
  rotation, tilt, scale, shift), a normal pituitary gland where the slice crosses the sella, a skull
  and scalp ring around the brain (the template is skull-stripped), a smooth bias field, window,
  gamma, blur and Rician noise, on a dark background. Every image is an 8-bit grayscale PNG of the
  same size.

Simplification: on axial slices above the skull base the pituitary mass is still drawn at the
in-plane position of the sella, so that the slice level does not give the class away.

Generation is deterministic: each image has its own random stream seeded from
(seed, split, class, index), so the same seed gives byte-identical files in any order.

    root = ensure_default_dataset()
    sorted(p.name for p in (root / "Training").iterdir())
    # -> ['glioma', 'meningioma', 'no_tumor', 'pituitary']
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from tumorbench.classes import CLASS_NAMES, class_index

__all__ = [
    "SYNTHETIC_VERSION",
    "SPLITS",
    "DEFAULT_COUNTS",
    "SyntheticImage",
    "synthesize_image",
    "generate_synthetic_dataset",
    "default_cache_dir",
    "ensure_default_dataset",
]

logger = logging.getLogger(__name__)

# Bump whenever the pixels of any image change: it is part of the cache folder name.
SYNTHETIC_VERSION = 1

SPLITS: tuple[str, ...] = ("Training", "Testing")

# Imbalanced like the public dataset: no_tumor has about half as many images as each tumour class.
DEFAULT_COUNTS: dict[str, dict[str, int]] = {
    "Training": {"glioma": 200, "meningioma": 200, "no_tumor": 100, "pituitary": 200},
    "Testing": {"glioma": 80, "meningioma": 80, "no_tumor": 40, "pituitary": 80},
}

_TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}

# Centre of the pituitary fossa in MNI mm: midline, just below the hypothalamus (the template's
# brain mask ends at z ~ -18 there).
_SELLA_MM = np.array([0.0, -1.0, -27.0])

# Unit vectors (MNI RAS mm) of image-right and image-down for each plane, radiological display:
# patient's right on the viewer's left, anterior up on axial, superior up on coronal and sagittal.
_PLANE_AXES = {
    "axial": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "coronal": ((-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0)),
}
_PLANE_PROBS = {"axial": 0.6, "coronal": 0.2, "sagittal": 0.2}


@dataclass(frozen=True)
class _Template:
    t1: np.ndarray  # T1 intensities scaled to [0, 1], float32, voxel grid
    wm: np.ndarray  # white-matter probability in [0, 1], float32, same grid
    inv_affine: np.ndarray  # 4x4 world (MNI mm) -> voxel


@dataclass(frozen=True)
class SyntheticImage:
    """One generated slice with the anatomy it was drawn from (for tests and figures)."""

    image: np.ndarray  # uint8 (H, W): the PNG pixels
    plane: str  # "axial", "coronal" or "sagittal"
    world_mm: np.ndarray  # float32 (3, H, W): MNI coordinates of every pixel centre
    brain: np.ndarray  # bool (H, W): inside the template brain
    white_matter: np.ndarray  # float32 (H, W): white-matter probability
    mm_per_pixel: float  # mean pixel spacing


def _template_dir() -> Path:
    import nilearn  # imported lazily: only dataset generation needs it

    return Path(nilearn.__file__).parent / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def _load_template() -> _Template:
    """Read the MNI152 T1 and white-matter volumes once per process."""
    import nibabel as nib

    folder = _template_dir()
    arrays = {}
    affine = None
    for key, name in _TEMPLATE_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: MNI152 template not found in the installed nilearn package; "
                "reinstall it with `pip install --force-reinstall 'nilearn>=0.10'`"
            )
        img = nib.load(path)
        arrays[key] = np.ascontiguousarray(np.asarray(img.dataobj, dtype=np.float32) / 255.0)
        affine = img.affine if affine is None else affine
    return _Template(t1=arrays["t1"], wm=arrays["wm"], inv_affine=np.linalg.inv(affine))


def _rng_streams(seed: int, split: str, class_name: str, index: int) -> tuple[np.random.Generator, ...]:
    # Independent streams for the nuisance and the lesion: an image rendered without its lesion has
    # exactly the same slice, noise and contrast as the one with it.
    ss = np.random.SeedSequence([int(seed), SPLITS.index(split), class_index(class_name), int(index)])
    return tuple(np.random.default_rng(s) for s in ss.spawn(2))


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _slice_geometry(rng: np.random.Generator, size: int) -> tuple[str, np.ndarray, float]:
    """Sample a plane, its position and an affine jitter; return (plane, world_mm (3,H,W), mm/px)."""
    planes = list(_PLANE_PROBS)
    plane = planes[rng.choice(len(planes), p=list(_PLANE_PROBS.values()))]
    right, down = (np.array(v) for v in _PLANE_AXES[plane])
    normal = np.cross(right, down)
    centre = np.array([0.0, -18.0, 8.0])  # middle of the MNI brain's bounding box
    if plane == "axial":
        centre[2] = rng.uniform(-30.0, 50.0)
    elif plane == "coronal":
        centre[1] = rng.uniform(-45.0, 25.0)
    else:
        centre[0] = rng.uniform(-18.0, 18.0)
    # Tilt out of plane, then rotate in plane.
    tilt = _rotation(right, rng.normal(0, np.radians(4))) @ _rotation(down, rng.normal(0, np.radians(4)))
    spin = _rotation(normal, rng.uniform(-np.radians(12), np.radians(12)))
    rot = spin @ tilt
    right, down = rot @ right, rot @ down
    fov = rng.uniform(205.0, 245.0)  # mm across the image: the scale jitter
    aspect = rng.uniform(0.95, 1.05)
    sx, sy = fov / size * aspect, fov / size / aspect
    shift = rng.normal(0, 6.0, size=2)
    centre = centre + shift[0] * right + shift[1] * down
    u = (np.arange(size) - (size - 1) / 2) * sx
    v = (np.arange(size) - (size - 1) / 2) * sy
    world = (
        centre[:, None, None] + right[:, None, None] * u[None, None, :] + down[:, None, None] * v[None, :, None]
    )
    return plane, world.astype(np.float32), float(np.sqrt(sx * sy))


def _sample(volume: np.ndarray, inv_affine: np.ndarray, world: np.ndarray) -> np.ndarray:
    vox = np.einsum("ij,jhw->ihw", inv_affine[:3, :3], world) + inv_affine[:3, 3, None, None]
    return ndimage.map_coordinates(volume, vox, order=1, mode="constant", cval=0.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _polar(shape: tuple[int, int], cy: float, cx: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    return np.hypot(yy - cy, xx - cx), np.arctan2(yy - cy, xx - cx)


def _wobble(rng: np.random.Generator, theta: np.ndarray, amount: float) -> np.ndarray:
    """A random radius modulation 1 + sum_k a_k cos(k theta + phi_k): irregular outlines."""
    out = np.ones_like(theta)
    for k in range(2, 7):
        out += amount * rng.uniform(0, 1) / np.sqrt(k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return out


def _anatomy(rng: np.random.Generator, world: np.ndarray, mm: float) -> dict[str, np.ndarray]:
    """Brain slice + CSF + normal pituitary + skull/scalp ring; lesion-free, class-independent."""
    tpl = _load_template()
    t1 = _sample(tpl.t1, tpl.inv_affine, world)
    wm = np.clip(_sample(tpl.wm, tpl.inv_affine, world), 0.0, 1.0)
    brain = t1 > 0.1
    # The skull follows a smoothed hull of the brain, not every sulcus; the space between is CSF.
    hull = ndimage.gaussian_filter(brain.astype(np.float32), 5.0 / mm) > 0.3
    hull = ndimage.binary_fill_holes(hull | brain)
    dist_out = ndimage.distance_transform_edt(~hull) * mm  # mm outside the hull
    img = np.where(brain, t1, rng.uniform(0.08, 0.16)).astype(np.float32)

    # Normal gland (every class, wherever the slice crosses the sella): makes small adenomas subtle.
    rel = (world - _SELLA_MM[:, None, None]) / np.array([6.0, 5.0, 4.0])[:, None, None]
    gland = _smoothstep((1.0 - np.sqrt((rel**2).sum(0))) * 3.0)
    img = img * (1 - gland) + rng.uniform(0.5, 0.65) * gland

    # Skull: CSF gap | inner table (dark) | diploe (bright marrow) | outer table (dark) | scalp.
    gap = rng.uniform(0.5, 2.5)
    inner = gap + rng.uniform(1.0, 2.5)
    diploe = inner + rng.uniform(2.0, 5.0)
    outer = diploe + rng.uniform(1.0, 2.0)
    scalp = outer + rng.uniform(3.0, 7.0)
    layers = np.select(
        [dist_out <= 0, dist_out < gap, dist_out < inner, dist_out < diploe, dist_out < outer, dist_out < scalp],
        [img, rng.uniform(0.08, 0.16), 0.04, rng.uniform(0.55, 0.9), 0.04, rng.uniform(0.6, 0.95)],
        default=0.0,
    ).astype(np.float32)
    # Texture in marrow and scalp so the ring is not a flat band.
    ring = (dist_out >= inner) & (dist_out < scalp)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, img.shape).astype(np.float32), 1.5)
    layers = np.where(ring, layers * (1 + 0.25 * texture), layers)
    return {"img": layers, "wm": wm, "brain": brain, "hull": hull}


def _glioma(rng: np.random.Generator, img: np.ndarray, anat: dict, mm: float) -> np.ndarray:
    wm, brain = anat["wm"], anat["brain"]
    weights = np.where(brain & (wm > 0.5), wm**2, 0.0).ravel()
    if weights.sum() == 0:  # a slice with no white matter: fall back to any brain pixel
        weights = brain.ravel().astype(float)
    cy, cx = divmod(int(rng.choice(weights.size, p=weights / weights.sum())), img.shape[1])
    r = rng.uniform(18.0, 30.0) / mm
    dist, theta = _polar(img.shape, cy + rng.uniform(-0.5, 0.5), cx + rng.uniform(-0.5, 0.5))
    rho = dist / (r * _wobble(rng, theta, 0.5))
    # Infiltrative: a soft margin, not a crisp edge.
    core = _smoothstep((1.0 - rho) / rng.uniform(0.25, 0.5) + 0.5)
    edema_r = rng.uniform(1.6, 2.8)
    edema = _smoothstep((edema_r - dist / (r * _wobble(rng, theta, 0.6))) / (0.6 * edema_r))
    edema = edema * np.sqrt(wm) * brain * rng.uniform(0.6, 1.0)  # vasogenic oedema tracks white matter
    tissue = float(np.median(img[brain])) if brain.any() else 0.7
    edema_value = tissue * rng.uniform(0.55, 0.8) if rng.random() < 0.65 else rng.uniform(0.95, 1.1)
    out = img * (1 - edema) + edema_value * edema
    core_value = np.full(img.shape, rng.uniform(0.3, 0.6), np.float32)
    if rng.random() < 0.5:  # high grade: necrotic centre inside an enhancing rim
        core_value = np.where(rho < rng.uniform(0.4, 0.7), rng.uniform(0.15, 0.35), rng.uniform(0.85, 1.1))
    return (out * (1 - core) + core_value * core).astype(np.float32)


def _meningioma(rng: np.random.Generator, img: np.ndarray, anat: dict, mm: float) -> np.ndarray:
    hull = anat["hull"]
    edge = hull & ~ndimage.binary_erosion(hull)
    pts = np.argwhere(edge)
    if len(pts) == 0:
        return img
    by, bx = pts[rng.integers(len(pts))]
    inward = ndimage.distance_transform_edt(hull)
    gy, gx = np.gradient(ndimage.gaussian_filter(inward, 2.0))
    n = np.array([gy[by, bx], gx[by, bx]])
    n = n / (np.linalg.norm(n) + 1e-6)
    r = rng.uniform(15.0, 30.0) / mm
    cy, cx = np.array([by, bx]) + n * r * rng.uniform(0.4, 0.8)
    dist, theta = _polar(img.shape, cy, cx)
    rho = dist / (r * _wobble(rng, theta, 0.08))
    # Well circumscribed: about a pixel of edge; it stays inside the dura (the hull).
    mass = _smoothstep((1.0 - rho) * r + 0.5) * ndimage.binary_dilation(hull)
    value = rng.uniform(0.7, 1.1) * (1 + 0.04 * ndimage.gaussian_filter(rng.normal(0, 1, img.shape), 1.0))
    out = img * (1 - mass) + value * mass
    if rng.random() < 0.5:  # a thin CSF cleft around the mass, on the brain side
        cleft = np.clip(1 - np.abs(rho - 1.08) * r / 1.0, 0, 1) * anat["brain"] * rng.uniform(0.4, 0.8)
        out = out * (1 - cleft) + 0.15 * cleft
    return out.astype(np.float32)


def _pituitary(
    rng: np.random.Generator, img: np.ndarray, anat: dict, world: np.ndarray, mm: float, plane: str
) -> np.ndarray:
    # Where the sella projects into this slice plane: the pixel whose in-plane coordinates match it.
    axes = {"axial": (0, 1), "coronal": (0, 2), "sagittal": (1, 2)}[plane]
    d2 = sum((world[a] - _SELLA_MM[a]) ** 2 for a in axes)
    cy, cx = np.unravel_index(int(np.argmin(d2)), d2.shape)
    r = rng.uniform(12.0, 18.0) / mm
    dist, theta = _polar(img.shape, cy + rng.normal(0, 1.0 / mm), cx + rng.normal(0, 1.0 / mm))
    # Macroadenomas grow upwards out of the sella: taller than wide on coronal and sagittal slices.
    stretch = rng.uniform(1.0, 1.4) if plane != "axial" else 1.0
    yy = np.sin(theta) * dist / stretch
    xx = np.cos(theta) * dist
    rho = np.hypot(yy, xx) / (r * _wobble(rng, theta, 0.1))
    mass = _smoothstep((1.0 - rho) * r * 0.8 + 0.5)
    value = rng.uniform(0.95, 1.2)
    return (img * (1 - mass) + value * mass).astype(np.float32)


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Pointwise scanner effects (bias field, window, gamma, Rician noise) and 8-bit quantisation."""
    h, w = img.shape
    coarse = rng.normal(0, 1, (4, 4))
    bias = np.exp(0.2 * ndimage.zoom(coarse, (h / 4, w / 4), order=3, mode="nearest")[:h, :w])
    x = img * bias * rng.uniform(0.85, 1.15)
    lo, hi = rng.uniform(0.0, 0.08), rng.uniform(0.9, 1.2)
    x = np.clip((x - lo) / (hi - lo), 0.0, None) ** rng.uniform(0.7, 1.4)
    sigma = rng.uniform(0.01, 0.05)
    x = np.hypot(x + rng.normal(0, sigma, x.shape), rng.normal(0, sigma, x.shape))
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def synthesize_image(
    class_name: str,
    *,
    seed: int = 0,
    split: str = "Training",
    index: int = 0,
    image_size: int = 128,
    lesion: bool = True,
) -> SyntheticImage:
    """Render one image of the dataset; `lesion=False` renders the same slice without its lesion.

    >>> a = synthesize_image("glioma", index=3)
    >>> b = synthesize_image("glioma", index=3, lesion=False)
    >>> bool((a.image != b.image).any())      # only the lesion differs
    True
    """
    class_index(class_name)  # validates the name
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    nuisance, lesion_rng = _rng_streams(seed, split, class_name, index)
    plane, world, mm = _slice_geometry(nuisance, image_size)
    anat = _anatomy(nuisance, world, mm)
    img = anat["img"]
    # Resolution varies by scanner: blur the anatomy, and give the lesion the same softness below.
    blur = nuisance.uniform(0.0, 0.8)
    img = ndimage.gaussian_filter(img, blur) if blur > 0.05 else img
    if lesion and class_name != "no_tumor":
        drawn = {
            "glioma": lambda: _glioma(lesion_rng, img, anat, mm),
            "meningioma": lambda: _meningioma(lesion_rng, img, anat, mm),
            "pituitary": lambda: _pituitary(lesion_rng, img, anat, world, mm, plane),
        }[class_name]()
        # Soften the lesion like the anatomy was; the change spreads at most a few pixels.
        change = drawn - img
        img = img + (ndimage.gaussian_filter(change, blur) if blur > 0.05 else change)
    return SyntheticImage(
        image=_finish(nuisance, img),
        plane=plane,
        world_mm=world,
        brain=anat["brain"],
        white_matter=anat["wm"],
        mm_per_pixel=mm,
    )


def _resolve_counts(counts: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    if counts is None:
        return {split: dict(per_class) for split, per_class in DEFAULT_COUNTS.items()}
    resolved: dict[str, dict[str, int]] = {}
    for split, per_class in counts.items():
        if split not in SPLITS:
            raise ValueError(f"counts: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        for name, n in per_class.items():
            class_index(name)
            if int(n) != n or n < 0:
                raise ValueError(f"counts[{split!r}][{name!r}] = {n!r}: must be a non-negative integer")
        resolved[split] = {name: int(per_class.get(name, 0)) for name in CLASS_NAMES}
    return resolved


def generate_synthetic_dataset(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    counts: Mapping[str, Mapping[str, int]] | None = None,
    image_size: int = 128,
) -> Path:
    """Write `<root>/<split>/<class>/<class>_0001.png ...` and return `root`.

    `counts` maps split -> class -> number of images (default `DEFAULT_COUNTS`); splits left out are
    not written, classes left out of a split get an empty folder.

        generate_synthetic_dataset("/tmp/tiny", counts={"Testing": {"glioma": 2}})
        # -> PosixPath('/tmp/tiny')
    """
    if int(image_size) != image_size or image_size < 32:
        raise ValueError(f"image_size={image_size!r}: must be an integer >= 32")
    root = Path(root)
    plan = _resolve_counts(counts)
    started = time.perf_counter()
    total = 0
    for split, per_class in plan.items():
        for name in CLASS_NAMES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class[name]):
                sample = synthesize_image(name, seed=seed, split=split, index=i, image_size=image_size)
                Image.fromarray(sample.image, mode="L").save(folder / f"{name}_{i + 1:04d}.png", format="PNG")
                total += 1
    logger.info("wrote %d synthetic images to %s in %.1f s", total, root, time.perf_counter() - started)
    return root


def default_cache_dir() -> Path:
    """`$TUMORBENCH_CACHE`, else `$XDG_CACHE_HOME/tumorbench`, else `~/.cache/tumorbench`."""
    if os.environ.get("TUMORBENCH_CACHE"):
        return Path(os.environ["TUMORBENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tumorbench"


def _readme(seed: int, image_size: int, counts: Mapping[str, Mapping[str, int]]) -> str:
    import nilearn

    lines = [
        "SYNTHETIC DATA - NOT CLINICAL DATA",
        "",
        "Generated by tumorbench (tumorbench.data.synthetic) as its embedded default benchmark dataset.",
        "Brains are slices of the ICBM 2009a MNI152 T1 template shipped with nilearn; the tumours are",
        "simulated (glioma, meningioma, pituitary) and every image has random slice, scanner and noise",
        "variation. No patient data was used. Do not use it to draw clinical conclusions.",
        "",
        f"synthetic_version: {SYNTHETIC_VERSION}",
        f"seed: {seed}",
        f"image_size: {image_size}x{image_size}, 8-bit grayscale PNG",
        f"classes: {', '.join(CLASS_NAMES)}",
        f"template: {_TEMPLATE_FILES['t1']} (nilearn {nilearn.__version__})",
    ]
    for split, per_class in counts.items():
        lines.append(f"{split}: " + ", ".join(f"{name} {per_class[name]}" for name in CLASS_NAMES))
    return "\n".join(lines) + "\n"


def ensure_default_dataset(cache_dir: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """Return `<cache>/synthetic-v{SYNTHETIC_VERSION}-seed{seed}`, generating it on first use.

    The dataset is built in a temporary sibling folder and renamed into place in one step, so an
    interrupted generation never leaves a half dataset that a later call would trust.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / f"synthetic-v{SYNTHETIC_VERSION}-seed{seed}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    logger.info("generating the synthetic default dataset (not clinical data) into %s", target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache))
    try:
        generate_synthetic_dataset(tmp, seed=seed)
        (tmp / "README.txt").write_text(_readme(seed, 128, _resolve_counts(None)), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process: a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
