"""``benchmark detail``: what the detail modes (inference/detail.py) add on large images, and what they cost.

Accuracy: a synthetic split drawn by the project's generator at 4K by default (sides of 2160-3840 px; 8K with
``--size 4320 7680``) from the thin families (``THIN_OBJECTS``: 1-4 px structures at that size) and without the hard
cases, i.e. the demo's data but for the size, is predicted with each configuration (off, crop, tiles at each zoom,
guided) and scored at GT resolution (Sα, maxFβ, MAE, mBA, HCEγ); seconds per image are predict's, reading and
writing included. Each configuration's change against the first (Sα and mBA gained, HCEγ as a ratio) comes with a 95 %
bootstrap interval over the images (the same images drawn for both, so it is a paired comparison): the change varies
widely from image to image (docs/benchmarks.md, Detail), and the interval says whether the split's figure settles a
goal. A last row scores the trivial baseline, an empty mask: on thin structures it can score mBA and HCEγ better
than a blurred mask does, so a mode's gain there counts where it beats that row too. A figure shows one crop of the
first image: input, GT and each configuration's mask.

Cost: one image per size in megapixels (random pixels, 16:9) with a preset's random weights, every probability near
0.5 so every tile runs (the worst case), timed in a fresh process per size and configuration after one warm-up pass,
so that the peak resident memory reported is that process's own.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mgd_sam2.data.datasets import split_records
from mgd_sam2.data.layouts import DatasetLayoutError, Split, resolve_split
from mgd_sam2.data.synth import HardCases, SynthConfig, ensure_dataset
from mgd_sam2.inference.detail import DEFAULT_ZOOM, Detail
from mgd_sam2.inference.segmenter import Segmenter
from mgd_sam2.utils.isolated import run_isolated

DETAIL_SPLIT = "SYN-TE"
SCORED = ("S", "F", "MAE", "HCE", "mBA")  # metric names (metrics/sod.py)
SHOWN = ("Smeasure", "maxFm", "MAE", "mBA", "HCE")  # their results in the table
PAIRED = ("Smeasure", "mBA", "HCE")  # per image, for the intervals of the changes against the first configuration
FIGURE_SIDE = 512  # pixels of the image shown in each panel of the figure
INTERVAL = 0.95  # of the bootstrap intervals of each configuration's change against the first
RESAMPLES = 10_000  # bootstrap draws of the images
EMPTY = "empty mask"  # the trivial baseline's row: every pixel background


def paired_interval(
    base: np.ndarray, other: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], np.ndarray], seed: int = 0
) -> tuple[float, float]:
    """The INTERVAL percentile bootstrap interval of ``statistic`` over images drawn with replacement, the same
    images from ``base`` and ``other`` ((N,) per-image values, NaN where an image has none); ``statistic`` maps two
    (R, N) draws to (R,)."""
    drawn = np.random.default_rng(seed).integers(0, len(base), (RESAMPLES, len(base)))
    tail = (1 - INTERVAL) / 2 * 100
    low, high = np.nanpercentile(statistic(base[drawn], other[drawn]), [tail, 100 - tail])
    return float(low), float(high)


def gain(base: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The mean per-image gain of ``other`` over ``base`` along the last axis (images without a value left out; NaN
    where none has one, as a bootstrap draw of only such images, without numpy's empty-slice warning)."""
    change = other - base
    valid = ~np.isnan(change)
    count = valid.sum(axis=-1)
    total = np.where(valid, change, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def ratio(base: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other``'s mean over ``base``'s along the last axis: the ratio of the split's scores."""
    return np.nansum(other, axis=-1) / np.nansum(base, axis=-1)


def configurations(modes: list[str], zooms: list[int]) -> list[Detail]:
    """Each of ``modes`` in order, tiles once per zoom."""
    return [Detail(mode, zoom) for mode in modes for zoom in (zooms if mode == "tiles" else [DEFAULT_ZOOM])]


def detail_split(
    root: Path, images: int, sides: tuple[int, int], objects: tuple[str, ...]
) -> tuple[Split, SynthConfig]:
    """The split under ``root``/synthetic (generated if missing, else used whatever its settings) and its settings."""
    wanted = SynthConfig(num=5 * images, min_size=sides[0], max_size=sides[1], held_out=0,
                         hard_cases=HardCases(0.0, 0.0, 0.0), objects=objects)  # fmt: skip
    config = ensure_dataset(root / "synthetic", wanted, splits=(DETAIL_SPLIT,), flag="--data-root")
    return resolve_split(root, f"synthetic/{DETAIL_SPLIT}"), config


def empty_masks(split: Split, folder: Path) -> Path:
    """An all-background 8-bit mask at each GT's size, in ``folder``: the trivial baseline of the thin families, whose
    objects cover a few percent of the image."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for record in split_records(split):
        with Image.open(record.mask) as mask:
            Image.new("L", mask.size, 0).save(folder / f"{record.name}.png")
    return folder


def scored_row(label: str, folder: Path, split: Split, workers: int, seconds: float | None) -> dict[str, Any]:
    """The scores of the masks in ``folder`` against ``split``'s GT at its resolution, per image too."""
    from mgd_sam2.metrics.evaluate import evaluate_folders

    evaluation = evaluate_folders(folder, split.mask_dir, metric_names=list(SCORED), workers=workers)
    per_image = {key: [image[key] for image in evaluation.per_image] for key in ("name", *PAIRED)}
    return {"configuration": label, **{key: evaluation.scores[key] for key in SHOWN}, "s_per_image": seconds,
            "predictions": str(folder), "per_image": per_image}  # fmt: skip


def score(segmenter: Segmenter, split: Split, details: list[Detail], out: Path, workers: int) -> list[dict[str, Any]]:
    """Per configuration, then for EMPTY (all-background masks, not timed): the scores of its predictions (written to
    out/predictions/<configuration>) at GT resolution, per image too, seconds per image, and against the first
    configuration (off, where given): Sα and mBA gained and HCEγ and time as ratios, the first three with their
    bootstrap intervals (`paired_interval`)."""
    records = split_records(split)
    rows = []
    for detail in details:
        configured = segmenter.with_detail(detail)
        folder = out / "predictions" / detail.label.replace(" ", "-")
        start = time.perf_counter()
        writer = configured.predict_files(records, configured.writer(folder))
        seconds = (time.perf_counter() - start) / len(records)
        if writer.failures:
            raise DatasetLayoutError(f"could not read {writer.failures[0][0]}: {writer.failures[0][1]}")
        rows.append(scored_row(detail.label, folder, split, workers, seconds))
    rows.append(scored_row(EMPTY, empty_masks(split, out / "predictions" / "empty"), split, workers, None))
    base = rows[0]  # evaluate_folders pairs every GT, by stem: each row's per-image lists are of the same images
    for row in rows:
        row["Smeasure_gain"] = row["Smeasure"] - base["Smeasure"]
        row["mBA_gain"] = row["mBA"] - base["mBA"]
        row["HCE_ratio"] = row["HCE"] / base["HCE"] if base["HCE"] else None
        row["time_ratio"] = None if row["s_per_image"] is None else row["s_per_image"] / base["s_per_image"]
        for key, change, statistic in (("Smeasure", "Smeasure_gain", gain), ("mBA", "mBA_gain", gain),
                                       ("HCE", "HCE_ratio", ratio)):  # fmt: skip
            values = [np.array(r["per_image"][key], dtype=float) for r in (base, row)]  # None (no boundary): NaN
            row[f"{change}_interval"] = paired_interval(*values, statistic)
    return rows


def figure(split: Split, rows: list[dict[str, Any]], path: Path, side: int = FIGURE_SIDE) -> Path:
    """One crop of the split's first image, where its GT has the most boundary: input, GT and each row's mask side by
    side, labelled, as a PNG at ``path``."""
    import cv2
    from PIL import Image, ImageDraw

    from mgd_sam2.data.io import read_image, read_mask, read_prediction
    from mgd_sam2.utils.files import atomic_path

    record = split_records(split)[0]
    image, gt = read_image(record.image), read_mask(record.mask)
    side = min(side, *gt.shape)
    boundary = cv2.morphologyEx(gt, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    density = cv2.boxFilter(boundary, -1, (side, side), normalize=False)  # boundary pixels in the window centred here
    centre = side // 2
    density = density[centre : centre + gt.shape[0] - side + 1, centre : centre + gt.shape[1] - side + 1]
    top, left = np.unravel_index(int(np.argmax(density)), density.shape)
    window = np.s_[top : top + side, left : left + side]
    panels = [("input", image[window]), ("GT", gt[window])]
    panels += [(row["configuration"], read_prediction(Path(row["predictions"]) / f"{record.name}.png")[window])
               for row in rows]  # fmt: skip
    label = 16
    canvas = Image.new("RGB", (side * len(panels), side + label), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (name, pixels) in enumerate(panels):
        canvas.paste(Image.fromarray(pixels).convert("RGB"), (index * side, label))
        draw.text((index * side + 4, 2), name, fill="black")
    with atomic_path(path) as temporary:
        canvas.save(temporary, format="PNG")
    return path


@dataclass(frozen=True)
class CostConfig:
    preset: str
    megapixels: float
    mode: str
    zoom: int
    device: str = "cpu"


class CountedBackend:
    """A backend that counts its passes."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.passes = backend, 0
        self.name, self.preset, self.grid, self.input_size = (
            backend.name,
            backend.preset,
            backend.grid,
            backend.input_size,
        )

    def logits(self, views: Any) -> Any:
        self.passes += 1
        return self.backend.logits(views)

    def accepts(self, size: int) -> bool:
        return self.backend.accepts(size)


def random_image(megapixels: float, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 random pixels, 16:9, of about ``megapixels``."""
    width = round((megapixels * 1e6 * 16 / 9) ** 0.5)
    return np.random.default_rng(seed).integers(0, 256, (round(width * 9 / 16), width, 3), dtype=np.uint8)


def measure_cost(config: CostConfig) -> dict[str, Any]:
    """Seconds, network passes and peak memory of one ``Segmenter.predict`` of a random image, in this process."""
    import torch

    from mgd_sam2.benchmark.speed import RandomNetwork

    loaded = Segmenter.from_network(RandomNetwork(config.preset).load(), device=config.device)
    backend = CountedBackend(loaded.backend)
    segmenter = Segmenter(backend, loaded.settings, loaded.description).with_detail(Detail(config.mode, config.zoom))
    cuda = loaded.settings.device == "cuda"
    segmenter.predict(random_image(backend.input_size**2 / 1e6, seed=1))  # warm-up: the plain path at the input size
    model_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    image = random_image(config.megapixels)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    backend.passes = 0
    start = time.perf_counter()
    segmenter.predict(image)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        **asdict(config),
        "configuration": segmenter.settings.detail.label,
        "width": image.shape[1],
        "height": image.shape[0],
        "seconds": seconds,
        "passes": backend.passes,
        "model_rss_mb": model_mb,
        "peak_rss_mb": peak_mb,
        "image_rss_mb": peak_mb - model_mb,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "threads": torch.get_num_threads(),
    }


def measure_cost_isolated(config: CostConfig) -> dict[str, Any]:
    """`measure_cost` in a fresh spawned process."""
    return run_isolated(measure_cost, config)


def cost(preset: str, megapixels: list[float], details: list[Detail], device: str) -> list[dict[str, Any]]:
    """Per size and configuration, `measure_cost` in its own process, with the time against the first
    configuration's (off, where given) at that size."""
    rows = []
    for size in megapixels:
        measured = [measure_cost_isolated(CostConfig(preset, size, d.mode, d.zoom, device)) for d in details]
        rows += [{**row, "time_ratio": row["seconds"] / measured[0]["seconds"]} for row in measured]
    return rows
