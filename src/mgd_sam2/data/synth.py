"""A synthetic high-resolution dataset that is hard in the ways DIS5K is, generated here from a seed.

Objects: wire towers and lattices (meshes with many holes), branching trees down to 1 px twigs,
hair-like strands around a head, solid shapes with holes, and thin cables between poles. They are
painted with saturated, textured colours onto muted backgrounds full of noise texture and thin
distractor clutter. Drawing is aliased and the image is the exact composite of object and background,
so the mask is exact. Every image depends only on (seed, index): generation is deterministic and
can run in any order or number of processes. Splits use the DIS5K layout (SYN-TR/VD/TE with im/, gt/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mgd_sam2.errors import ConfigError, UserError
from mgd_sam2.utils.files import atomic_path, check_output_dir, write_json
from mgd_sam2.utils.parallel import parallel_map


class SynthFolderError(UserError, FileExistsError):
    """The output folder holds something else; it is never overwritten."""


MANIFEST = "synth.json"


@dataclass(frozen=True)
class SynthConfig:
    num: int = 60  # images in all splits together
    seed: int = 0
    min_size: int = 1024  # side lengths are drawn from [min_size, max_size] pixels
    max_size: int = 2048
    val_fraction: float = 0.15
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        """Bad settings fail here, before anything is written."""
        if self.seed < 0:
            raise ConfigError(f"--seed must be 0 or more, got {self.seed}")
        if self.min_size < 64 or self.max_size < self.min_size:
            raise ConfigError(f"--size needs 64 <= MIN <= MAX, got {self.min_size} {self.max_size}")
        self.split_sizes()

    def split_sizes(self) -> dict[str, int]:
        test = max(1, round(self.num * self.test_fraction))
        val = max(1, round(self.num * self.val_fraction))
        if self.num - test - val < 1:
            raise ConfigError(f"--num {self.num} is too small for train/val/test splits (need at least 3)")
        return {"SYN-TR": self.num - test - val, "SYN-VD": val, "SYN-TE": test}

    def assignments(self) -> list[tuple[str, int]]:
        """(split, index) for every image, indices global so each image has its own seed."""
        out, index = [], 0
        for split, count in self.split_sizes().items():
            for _ in range(count):
                out.append((split, index))
                index += 1
        return out


def muted_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    gray = rng.uniform(30, 220)
    return tuple(int(np.clip(gray + rng.normal(0, 18), 0, 255)) for _ in range(3))


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Muted low-frequency colour field + multi-scale noise texture + thin and solid distractor clutter."""
    base = rng.uniform(40, 210, (4, 4, 3)).astype(np.float32)
    base = base.mean(axis=2, keepdims=True) + (base - base.mean(axis=2, keepdims=True)) * 0.3
    image = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    for cell, amplitude in ((6, 14.0), (24, 12.0), (96, 10.0)):
        noise = rng.normal(0, amplitude, (height // cell + 2, width // cell + 2)).astype(np.float32)
        image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    image = np.clip(image, 0, 255).astype(np.uint8)
    scale = (height + width) / 2
    for _ in range(int(rng.integers(20, 45))):
        colour = muted_colour(rng)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(0, 4)
        if kind == 0:
            size = rng.integers(scale / 60 + 1, scale / 6 + 2, 2)
            cv2.rectangle(
                image,
                (x, y),
                (x + int(size[0]), y + int(size[1])),
                colour,
                -1 if rng.random() < 0.6 else int(rng.integers(1, 6)),
            )
        elif kind == 1:
            axes = tuple(int(a) for a in rng.integers(scale / 100 + 1, scale / 8 + 2, 2))
            cv2.ellipse(
                image,
                (x, y),
                axes,
                float(rng.uniform(0, 180)),
                0,
                360,
                colour,
                -1 if rng.random() < 0.6 else int(rng.integers(1, 6)),
            )
        else:  # thin distractor lines and curves, like wires in the background
            points = np.cumsum(rng.normal(0, scale / 15, (int(rng.integers(3, 8)), 2)), axis=0) + (x, y)
            cv2.polylines(image, [points.astype(np.int32)], False, colour, int(rng.integers(1, 4)))
    return image


def foreground(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A saturated colour with stripes and grain: the object's paint."""
    hue = rng.uniform(0, 180)
    hsv = np.array([[[hue, rng.uniform(170, 255), rng.uniform(150, 255)]]], np.uint8)
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(8, 60)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 22 * np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
    grain = rng.normal(0, 10, (height, width)).astype(np.float32)
    return np.clip(colour + (stripes + grain)[..., None], 0, 255).astype(np.uint8)


def draw_lattice(rng, mask: np.ndarray) -> None:
    """A wire-tower-like frame with a mesh of bars inside: many holes, thin bars."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    rw, rh = rng.uniform(0.15, 0.4) * width, rng.uniform(0.2, 0.45) * height
    corners = np.array([[-rw, -rh], [rw, -rh], [rw, rh], [-rw, rh]]) * rng.uniform(0.8, 1.2, (4, 2)) + (cx, cy)
    if rng.random() < 0.5:  # tapering tower
        corners[:2, 0] = cx + (corners[:2, 0] - cx) * rng.uniform(0.2, 0.6)
    corners = corners.astype(np.int32)
    region = np.zeros_like(mask)
    cv2.fillPoly(region, [corners], 255)
    bars = np.zeros_like(mask)
    spacing, bar = int(rng.integers(18, 70)), int(rng.integers(2, 6))
    x0, x1, y0, y1 = corners[:, 0].min(), corners[:, 0].max(), corners[:, 1].min(), corners[:, 1].max()
    for x in range(x0, x1, spacing):
        cv2.line(bars, (x, y0), (x, y1), 255, bar)
    for y in range(y0, y1, spacing):
        cv2.line(bars, (x0, y), (x1, y), 255, bar)
    if rng.random() < 0.6:  # diagonal bracing
        for offset in range(-(y1 - y0), x1 - x0, 2 * spacing):
            cv2.line(bars, (x0 + offset, y0), (x0 + offset + (y1 - y0), y1), 255, max(1, bar - 1))
    mask |= bars & region
    cv2.polylines(mask, [corners], True, 255, int(rng.integers(4, 12)))


def draw_tree(rng, mask: np.ndarray) -> None:
    """Recursive branches whose thickness halves every two levels, ending in 1 px twigs."""
    height, width = mask.shape

    def branch(x: float, y: float, angle: float, length: float, thickness: float, depth: int) -> None:
        x2, y2 = x + length * np.cos(angle), y + length * np.sin(angle)
        cv2.line(mask, (int(x), int(y)), (int(x2), int(y2)), 255, max(1, int(round(thickness))))
        if depth == 0:
            return
        for _ in range(int(rng.integers(2, 4))):
            branch(x2, y2, angle + rng.uniform(-0.7, 0.7), length * rng.uniform(0.6, 0.8), thickness * 0.7, depth - 1)

    branch(
        rng.uniform(0.3, 0.7) * width,
        height * rng.uniform(0.85, 1.0),
        -np.pi / 2 + rng.uniform(-0.3, 0.3),
        height * rng.uniform(0.18, 0.28),
        rng.uniform(10, 24),
        int(rng.integers(5, 7)),
    )


def draw_hair(rng, mask: np.ndarray) -> None:
    """A head (filled ellipse) with hundreds of curved 1-2 px strands around it."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    ax, ay = rng.uniform(0.08, 0.16) * width, rng.uniform(0.1, 0.2) * height
    cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 255, -1)
    t = np.linspace(0, 1, 24)[:, None]
    for _ in range(int(rng.integers(150, 400))):
        theta = rng.uniform(0, 2 * np.pi)
        start = np.array([cx + ax * np.cos(theta), cy + ay * np.sin(theta)])
        outward = np.array([np.cos(theta), np.sin(theta)])
        length = rng.uniform(0.5, 1.6) * max(ax, ay)
        bend = rng.normal(0, 0.5, 2) * length
        control, end = start + outward * length * 0.5 + bend, start + outward * length + bend * 1.5
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
        cv2.polylines(mask, [curve.astype(np.int32)], False, 255, int(rng.integers(1, 3)))


def draw_holey(rng, mask: np.ndarray) -> None:
    """A solid shape with punched holes and a ring: topology with many inner boundaries."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
    radius = rng.uniform(0.15, 0.3) * min(height, width)
    polygon = np.stack(
        [
            cx + radius * rng.uniform(0.7, 1.3, len(angles)) * np.cos(angles),
            cy + radius * rng.uniform(0.7, 1.3, len(angles)) * np.sin(angles),
        ],
        axis=1,
    ).astype(np.int32)
    shape = np.zeros_like(mask)
    cv2.fillPoly(shape, [polygon], 255)
    for _ in range(int(rng.integers(3, 12))):
        hole = (int(cx + rng.normal(0, radius / 3)), int(cy + rng.normal(0, radius / 3)))
        cv2.circle(shape, hole, int(rng.uniform(0.03, 0.12) * radius + 2), 0, -1)
    cv2.circle(shape, (int(cx), int(cy)), int(radius * 1.45), 255, int(rng.integers(3, 9)))
    mask |= shape


def draw_wires(rng, mask: np.ndarray) -> None:
    """Two poles with 2-5 sagging cables of 1-3 px between them."""
    height, width = mask.shape
    left, right = rng.uniform(0.05, 0.3) * width, rng.uniform(0.7, 0.95) * width
    top = rng.uniform(0.15, 0.4) * height
    for x in (left, right):
        cv2.rectangle(mask, (int(x) - 6, int(top)), (int(x) + 6, height - 1), 255, -1)
    xs = np.linspace(left, right, 200)
    middle, half = (left + right) / 2, (right - left) / 2
    for _ in range(int(rng.integers(2, 6))):
        anchor, sag = top + rng.uniform(0, 0.2) * height, rng.uniform(0.02, 0.25) * height
        ys = anchor + sag * (1 - ((xs - middle) / half) ** 2)  # lowest in the middle
        cv2.polylines(mask, [np.stack([xs, ys], axis=1).astype(np.int32)], False, 255, int(rng.integers(1, 4)))


OBJECTS = (draw_lattice, draw_tree, draw_hair, draw_holey, draw_wires)


def generate_sample(seed: int, index: int, min_size: int = 1024, max_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image and its exact (H, W) uint8 mask (0/255), from (seed, index) alone."""
    rng = np.random.default_rng([seed, index])
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
    image = background(rng, height, width)
    mask = np.zeros((height, width), np.uint8)
    kinds = [OBJECTS[int(rng.integers(len(OBJECTS)))]]
    if rng.random() < 0.35:
        kinds.append(OBJECTS[int(rng.integers(len(OBJECTS)))])
    for draw in kinds:
        draw(rng, mask)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    paint = foreground(rng, y1 - y0, x1 - x0)
    inside = mask[y0:y1, x0:x1] > 0
    image[y0:y1, x0:x1][inside] = paint[inside]
    return image, mask


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
        image, mask = generate_sample(self.config.seed, index, self.config.min_size, self.config.max_size)
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
    workers: int = 2,
    show: bool = True,
    splits: tuple[str, ...] | None = None,
) -> dict[str, int]:
    """Generate (or finish generating) the dataset under ``out``, or only its ``splits``; returns
    {"written": n, "kept": n}. A dataset already there with other settings is never touched: the call fails.
    """
    out = check_output_dir(out, "--out")
    manifest = out / MANIFEST
    settings = asdict(config)
    if manifest.is_file():
        existing = json.loads(manifest.read_text())
        if existing != settings:
            raise SynthFolderError(
                f"{out} holds a synthetic dataset made with other settings ({existing}); "
                f"choose another --out or delete that folder first"
            )
    elif out.exists() and any(out.iterdir()):
        raise SynthFolderError(
            f"{out} exists and is not a synthetic dataset made by this command; choose another --out"
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
    workers: int = 2,
    show: bool = True,
    splits: tuple[str, ...] | None = None,
) -> SynthConfig:
    """Use the synthetic dataset under ``out`` whatever its settings (finishing it, or its ``splits``, if
    interrupted), or generate one with ``config``; returns the settings of the dataset that is there."""
    manifest = Path(out) / MANIFEST
    if manifest.is_file():
        config = SynthConfig(**json.loads(manifest.read_text()))
    write_dataset(out, config, workers=workers, show=show, splits=splits)
    return config
