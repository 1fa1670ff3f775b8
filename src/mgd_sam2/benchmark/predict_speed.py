"""``benchmark predict``: end-to-end ``predict`` throughput on a folder of photos, against the network alone.

Network alone: every image read, resized and cut into views beforehand (not timed), then one backend call
per batch of images. End to end: ``predict_files`` on the same images and batch size, with its loader workers and
its writer, into a temporary folder. Both after one untimed warm-up call. Their ratio is what reading, resizing
and writing cost beyond the network (goal: within 10 %).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mgd_sam2.data.datasets import Record, SegmentationDataset, collate, image_records
from mgd_sam2.data.io import DEFAULT_MAX_PIXELS
from mgd_sam2.data.synth import generate_sample
from mgd_sam2.errors import UserError
from mgd_sam2.inference.backends import Backend
from mgd_sam2.inference.predict import loader_workers, predict_files
from mgd_sam2.inference.writer import MaskWriter
from mgd_sam2.utils.progress import progress_bar

# (width, height) of the default photos: 1K to 4K, landscape and portrait, mixed megapixels
MIXED_SIZES = ((1024, 768), (1920, 1080), (2560, 1440), (3840, 2160), (1080, 1920), (4096, 3072), (3000, 2000),
               (1600, 1200))  # fmt: skip
PHOTO_QUALITY = 90  # JPEG quality of the default photos


def mixed_photos(folder: Path, count: int) -> list[Path]:
    """``count`` synthetic scenes (data/synth) saved as JPEGs at MIXED_SIZES, cycled; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with progress_bar(count, "drawing photos") as advance:
        for index in range(count):
            width, height = MIXED_SIZES[index % len(MIXED_SIZES)]
            side = max(width, height)
            image, _ = generate_sample(0, index, side, side)
            path = folder / f"photo_{index:02d}_{width}x{height}.jpg"
            Image.fromarray(image).resize((width, height), Image.BILINEAR).save(path, quality=PHOTO_QUALITY)
            paths.append(path)
            advance(1)
    return paths


def predict_throughput(
    backend: Backend,
    records: list[Record],
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    batch_size: int = 1,
) -> dict[str, float]:
    """Images/s of the network alone and of ``predict_files`` end to end (``batch_size`` images per call,
    ``workers`` loader processes; None: predict's default), their ratio, and the time per image predict's writer
    thread spent encoding and saving the maps (alongside the network: where it nears the end-to-end time per image,
    writing bounds predict)."""
    workers = loader_workers(backend) if workers is None else workers
    dataset = SegmentationDataset(records, backend.input_size, "predict", grid=backend.grid, max_pixels=max_pixels)
    batches = [collate([dataset[index] for index in range(start, min(start + batch_size, len(dataset)))])
               for start in range(0, len(dataset), batch_size)]  # fmt: skip
    unreadable = [error for batch in batches for error in batch.get("errors", [])]
    if unreadable:
        raise UserError(f"benchmark predict: cannot read {unreadable[0][0]} ({unreadable[0][1]}); time readable images")
    inputs = [batch["input"] for batch in batches]
    with torch.inference_mode(), progress_bar(len(inputs), "network alone") as advance:  # as predict_files runs it
        backend.logits(inputs[0]).cpu()  # warm-up
        start = time.perf_counter()
        for views in inputs:
            backend.logits(views).cpu()  # on a GPU: waits for the result, as predict's maps do
            advance(1)
        network_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        writer = TimedWriter(folder, settings={})
        start = time.perf_counter()
        predict_files(backend, records, writer, batch_size=batch_size, workers=workers, max_pixels=max_pixels)
        end_to_end_s = time.perf_counter() - start
    return {
        "images": len(records),
        "megapixels_mean": sum(int(h) * int(w) for batch in batches for h, w in batch["size"]) / len(records) / 1e6,
        "batch": batch_size,
        "workers": workers,
        "network_img_s": len(records) / network_s,
        "end_to_end_img_s": len(records) / end_to_end_s,
        "end_to_end_vs_network": network_s / end_to_end_s,
        "writing_ms_per_image": 1000 * writer.seconds / len(records),
    }


class TimedWriter(MaskWriter):
    """A `MaskWriter` that also adds up the seconds its ``write`` calls take (predict's writer thread)."""

    def __init__(self, output: str | Path, settings: dict[str, Any]) -> None:
        super().__init__(output, settings=settings)
        self.seconds = 0.0

    def write(self, prediction: dict[str, Any]) -> None:
        start = time.perf_counter()
        super().write(prediction)
        self.seconds += time.perf_counter() - start


def photos(input_path: Path | None, count: int, scratch: Path) -> list[Record]:
    """Records of the first ``count`` images at ``input_path`` (a file or folder, as predict reads it), or of
    ``count`` synthetic mixed 1-4K photos drawn into ``scratch``. (The network-alone pass holds every image's
    views in memory.)"""
    if input_path is not None:
        records, ignored = image_records(input_path)
        if ignored:
            print(f"note: ignored in {input_path}: {ignored}")
        return records[:count]
    return [Record(path.stem, "predict", path) for path in mixed_photos(scratch, count)]
