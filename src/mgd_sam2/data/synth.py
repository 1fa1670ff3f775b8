"""A synthetic high-resolution dataset that is hard in the ways DIS5K is, generated here from a seed.

Objects of eleven families of the kinds DIS5K holds (data/shapes.py: meshed, thin, hollow and solid)
on backgrounds of five families (data/scenes.py), painted from one colour distribution for object and
background alike, under lighting, often with a defocused background, sometimes with low contrast or
occluding clutter in front, with sensor noise and JPEG compression. Drawing is aliased and the image is
the exact composite of object, background and occluders, so the mask is exact (occluded object pixels
are background). Every image depends only on (seed, index): generation is deterministic and can run in
any order or number of processes.

Splits use the DIS5K layout (im/, gt/): SYN-TR, SYN-VD and SYN-TE draw from the training families;
SYN-HO draws only from families that no other split ever uses (``HELD_OUT_OBJECTS`` on
``HELD_OUT_BACKGROUNDS``), to measure what carries over to unseen kinds of objects and scenes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mgd_sam2.data.scenes import BACKGROUNDS, camera, defocus, lighting, random_colour, surface
from mgd_sam2.data.shapes import OBJECTS
from mgd_sam2.errors import ConfigError, UserError
from mgd_sam2.utils.files import atomic_path, check_output_dir, write_json
from mgd_sam2.utils.parallel import parallel_map


class SynthFolderError(UserError, FileExistsError):
    """The output folder holds something else; it is never overwritten."""


MANIFEST = "synth.json"
GENERATOR_VERSION = 2  # recorded in the manifest: datasets of another generator are not mixed with this one
HELD_OUT_OBJECTS = ("plant",)
HELD_OUT_BACKGROUNDS = ("bricks",)
HELD_OUT_SPLIT = "SYN-HO"
TRAINING_OBJECTS = tuple(name for name in OBJECTS if name not in HELD_OUT_OBJECTS)
TRAINING_BACKGROUNDS = tuple(name for name in BACKGROUNDS if name not in HELD_OUT_BACKGROUNDS)


@dataclass(frozen=True)
class HardCases:
    """How often each hard case occurs, as a fraction of images (the demo's dataset turns them off)."""

    sharp_background: float = 0.4  # the background in focus, as sharp as the object
    low_contrast: float = 0.2  # the object painted close to the colour behind it
    occluded: float = 0.3  # clutter in front of the object, cut out of its mask

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0 <= value <= 1:
                raise ConfigError(f"hard case {name} must be a fraction in [0, 1], got {value}")


@dataclass(frozen=True)
class SynthConfig:
    num: int = 60  # images of the training families: SYN-TR, SYN-VD and SYN-TE together
    seed: int = 0
    min_size: int = 1024  # side lengths are drawn from [min_size, max_size] pixels
    max_size: int = 2048
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    held_out: int = 12  # images of SYN-HO (held-out families only)
    hard_cases: HardCases = HardCases()
    generator: int = GENERATOR_VERSION
    objects: tuple[str, ...] = ()  # the object families of SYN-TR, SYN-VD and SYN-TE (empty: TRAINING_OBJECTS)

    @classmethod
    def from_dict(cls, values: dict) -> SynthConfig:
        """From a manifest (``asdict``); manifests written before ``hard_cases`` or ``objects`` existed get their
        defaults, which draw the same images."""
        return cls(
            **{**values, "hard_cases": HardCases(**values.get("hard_cases", {})),
               "objects": tuple(values.get("objects", ()))}
        )  # fmt: skip

    def __post_init__(self) -> None:
        """Bad settings fail here, before anything is written."""
        if self.seed < 0:
            raise ConfigError(f"--seed must be 0 or more, got {self.seed}")
        if self.min_size < 64 or self.max_size < self.min_size:
            raise ConfigError(f"--size needs 64 <= MIN <= MAX, got {self.min_size} {self.max_size}")
        if self.held_out < 0:
            raise ConfigError(f"--held-out must be 0 or more, got {self.held_out}")
        unknown = [name for name in self.objects if name not in TRAINING_OBJECTS]
        if unknown:
            raise ConfigError(
                f"--objects: {', '.join(unknown)} is no family of the training splits; choose from "
                f"{', '.join(TRAINING_OBJECTS)}"
            )
        self.split_sizes()

    def split_sizes(self) -> dict[str, int]:
        test = max(1, round(self.num * self.test_fraction))
        val = max(1, round(self.num * self.val_fraction))
        if self.num - test - val < 1:
            raise ConfigError(f"--num {self.num} is too small for train/val/test splits (need at least 3)")
        sizes = {"SYN-TR": self.num - test - val, "SYN-VD": val, "SYN-TE": test}
        return {**sizes, HELD_OUT_SPLIT: self.held_out} if self.held_out else sizes

    def assignments(self) -> list[tuple[str, int]]:
        """(split, index) for every image, indices global so each image has its own seed."""
        out, index = [], 0
        for split, count in self.split_sizes().items():
            for _ in range(count):
                out.append((split, index))
                index += 1
        return out


# The demo's dataset (`mgd-sam2 demo`, configs/demo.yaml, under data/demo/synthetic): images of 80-112 px, so that
# the micro model's 64 px input sees their objects, and none of the hard cases, so that a model with random weights
# learns to segment them on a CPU in minutes (docs/index.md, the demo: what was measured). Same families, colours,
# surfaces and camera as the full dataset.
DEMO_DATA = SynthConfig(num=2000, min_size=80, max_size=112, held_out=40, hard_cases=HardCases(0.0, 0.0, 0.0))


@dataclass
class SamplePlan:
    """What one sample is made of, decided by its first random draws (tests read the families from it)."""

    rng: np.random.Generator  # continues where the plan's draws stopped
    height: int
    width: int
    objects: tuple[str, ...]
    background: str
    hard_cases: HardCases = HardCases()


def plan_sample(
    seed: int,
    index: int,
    min_size: int,
    max_size: int,
    held_out: bool = False,
    hard_cases: HardCases = HardCases(),
    objects: tuple[str, ...] = (),
) -> SamplePlan:
    """``objects``: the families to draw from outside SYN-HO (empty: TRAINING_OBJECTS)."""
    rng = np.random.default_rng([seed, index])
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
    objects = HELD_OUT_OBJECTS if held_out else objects or TRAINING_OBJECTS
    backgrounds = HELD_OUT_BACKGROUNDS if held_out else TRAINING_BACKGROUNDS
    chosen = [objects[int(rng.integers(len(objects)))] for _ in range(1 if rng.random() < 0.7 else 2)]
    background = backgrounds[int(rng.integers(len(backgrounds)))]
    return SamplePlan(rng, height, width, tuple(chosen), background, hard_cases)


def object_paint(
    rng: np.random.Generator, height: int, width: int, behind: np.ndarray, low_contrast: float
) -> np.ndarray:
    """The object's surface, from the same colours as backgrounds; in a ``low_contrast`` fraction of images close
    to the colour ``behind`` it. (H, W, 3) float32."""
    colour = None
    if rng.random() < low_contrast:
        colour = np.clip(behind.reshape(-1, 3).mean(axis=0) + rng.normal(0, 18, 3), 0, 255).astype(np.float32)
    return surface(rng, height, width, colour if colour is not None else random_colour(rng))


def occlude(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, fraction: float) -> None:
    """Clutter in front of the object (rods, twigs, a blob) in a ``fraction`` of images: painted over the image and
    cut out of the mask, unless it would hide half of the object."""
    if rng.random() >= fraction:
        return
    height, width = mask.shape
    occluder = np.zeros_like(mask)
    for _ in range(int(rng.integers(1, 4))):
        OBJECTS[("cables", "tree", "blob")[int(rng.integers(3))]](rng, occluder)
    covered = (occluder > 0) & (mask > 0)
    if covered.sum() > 0.5 * np.count_nonzero(mask):
        return
    paint = surface(rng, height, width)
    inside = occluder > 0
    image[inside] = paint[inside]
    mask[inside] = 0


def render(plan: SamplePlan, paint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The scene before the camera: (H, W, 3) float32 image and its exact (H, W) uint8 mask.

    ``paint``: a plain RGB colour for the object instead of its drawn surface (the tests render a scene twice
    with two colours: the pixels that change are exactly the mask's).
    """
    rng, height, width, hard = plan.rng, plan.height, plan.width, plan.hard_cases
    image = defocus(rng, BACKGROUNDS[plan.background](rng, height, width), hard.sharp_background)
    mask = np.zeros((height, width), np.uint8)
    for name in plan.objects:
        OBJECTS[name](rng, mask)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    region = image[y0:y1, x0:x1]
    inside = mask[y0:y1, x0:x1] > 0
    if paint is None:
        paint = object_paint(rng, y1 - y0, x1 - x0, region, hard.low_contrast)[inside]
    region[inside] = paint
    occlude(rng, image, mask, hard.occluded)
    return image * lighting(rng, height, width), mask


def generate_sample(
    seed: int,
    index: int,
    min_size: int = 1024,
    max_size: int = 2048,
    held_out: bool = False,
    hard_cases: HardCases = HardCases(),
    objects: tuple[str, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image and its exact (H, W) uint8 mask (0/255), from (seed, index) alone; with
    ``held_out`` from the held-out families only, else from ``objects`` (empty: all training families)."""
    plan = plan_sample(seed, index, min_size, max_size, held_out, hard_cases, objects)
    image, mask = render(plan)
    return camera(plan.rng, image), mask


class SampleWriter:
    """Picklable: write sample (split, index) under ``out`` unless both files already exist."""

    def __init__(self, out: Path, config: SynthConfig) -> None:
        self.out, self.config = out, config

    def __call__(self, item: tuple[str, int]) -> str:
        split, index = item
        name = f"syn_{index:05d}"
        image_path, mask_path = self.out / split / "im" / f"{name}.jpg", self.out / split / "gt" / f"{name}.png"
        if image_path.is_file() and mask_path.is_file():
            return "kept"
        config = self.config
        image, mask = generate_sample(
            config.seed, index, config.min_size, config.max_size, split == HELD_OUT_SPLIT, config.hard_cases,
            config.objects,
        )  # fmt: skip
        with atomic_path(mask_path) as temporary:  # mask first: an image file implies its mask exists
            Image.fromarray(mask).save(temporary, format="PNG")
        with atomic_path(image_path) as temporary:
            Image.fromarray(image).save(
                temporary, format="JPEG", quality=95, subsampling=0
            )  # full-resolution chroma keeps 1 px wires coloured
        return "written"


def write_dataset(
    out: str | Path,
    config: SynthConfig,
    workers: int | None = None,
    show: bool = True,
    splits: tuple[str, ...] | None = None,
    flag: str = "--out",
) -> dict[str, int]:
    """Generate (or finish generating) the dataset under ``out``, or only its ``splits``; returns
    {"written": n, "kept": n}. A dataset already there with other settings is never touched: the call fails.
    Errors name ``out`` as the command-line ``flag`` the user gave it with.
    """
    out = check_output_dir(out, flag)
    manifest = out / MANIFEST
    settings = asdict(config)
    if manifest.is_file():
        existing = json.loads(manifest.read_text())
        if existing.get("generator") != GENERATOR_VERSION:
            raise SynthFolderError(
                f"{out} holds a synthetic dataset of an older generator; delete that folder (it is regenerated) or "
                f"choose another {flag}"
            )
        existing = asdict(SynthConfig.from_dict(existing))
        if existing != settings:
            differ = [key for key in settings if existing[key] != settings[key]]
            made = ", ".join(f"{key}={existing[key]}" for key in differ)
            asked = ", ".join(f"{key}={settings[key]}" for key in differ)
            raise SynthFolderError(
                f"{out} holds a synthetic dataset made with other settings ({made}, where this asks {asked}); "
                f"choose another {flag} or delete that folder first"
            )
    elif out.exists() and any(out.iterdir()):
        raise SynthFolderError(
            f"{out} exists and is not a synthetic dataset made by this command; choose another {flag}"
        )
    write_json(manifest, settings)
    counts = {"written": 0, "kept": 0}
    items = [item for item in config.assignments() if splits is None or item[0] in splits]
    for outcome in parallel_map(SampleWriter(out, config), items, workers, "generating", show=show):
        counts[outcome] += 1
    return counts


def ensure_dataset(
    out: str | Path,
    config: SynthConfig = SynthConfig(),
    workers: int | None = None,
    show: bool = True,
    splits: tuple[str, ...] | None = None,
    flag: str = "--data-root",
) -> SynthConfig:
    """Use the synthetic dataset under ``out`` whatever its settings (finishing it, or its ``splits``, if
    interrupted), or generate one with ``config``; returns the settings of the dataset that is there."""
    manifest = Path(out) / MANIFEST
    if manifest.is_file():
        existing = json.loads(manifest.read_text())
        if existing.get("generator") == GENERATOR_VERSION:
            config = SynthConfig.from_dict(existing)
    write_dataset(out, config, workers=workers, show=show, splits=splits, flag=flag)
    return config
