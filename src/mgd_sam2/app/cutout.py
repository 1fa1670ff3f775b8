"""One request of the app: uploaded files -> masks and cut-outs, by the predict loop, in a temporary folder.

:class:`CutoutService` loads the weights once as a :class:`Segmenter` and runs its ``predict_files`` with the
``MaskWriter`` of ``mgd-sam2 predict --cutout`` and the same recorded settings, so a mask (and cut-out)
from the page equals predict's file byte for byte. The binary mask and the overlay shown by the page are
made from that 8-bit mask.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mgd_sam2.data.datasets import Record
from mgd_sam2.data.io import read_image
from mgd_sam2.inference.segmenter import Segmenter
from mgd_sam2.inference.writer import binary_mask, output_paths
from mgd_sam2.utils.files import atomic_path

OVERLAY_COLOUR = np.array([255, 0, 80], np.float32)  # foreground tint of the overlay
OVERLAY_OPACITY = 0.55
REQUEST_MAX_AGE_S = 3600  # request folders older than this are removed at the next request


@dataclass
class Cutout:
    name: str  # the upload's file name
    image: Path  # the upload
    mask: Path  # 8-bit mask PNG, as `mgd-sam2 predict` writes it
    cutout: Path  # RGBA cut-out PNG, as `mgd-sam2 predict --cutout` writes it


@dataclass
class CutoutResult:
    cutouts: list[Cutout]
    failures: list[tuple[str, str]]  # (file name, why it was skipped)
    seconds: float  # wall time of the prediction, all images
    folder: Path  # where this request's files are


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image tinted where (H, W) uint8 ``mask`` is foreground (its value is the tint's weight)."""
    weight = (mask.astype(np.float32) / 255 * OVERLAY_OPACITY)[..., None]
    return (image.astype(np.float32) * (1 - weight) + OVERLAY_COLOUR * weight).round().astype(np.uint8)


class CutoutService:
    """The model, loaded once, and the folder that holds every request's files (removed by the caller)."""

    def __init__(self, segmenter: Segmenter, workdir: str | Path) -> None:
        self.segmenter, self.workdir, self.max_pixels = segmenter, Path(workdir), segmenter.max_pixels
        self.backend, self.description = segmenter.backend, segmenter.description

    def run(self, files: list[str | Path]) -> CutoutResult:
        """Predict each file; unreadable files, non-images and images over the pixel limit are listed in
        ``failures`` instead."""
        self.remove_old_requests()
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.workdir))
        records, names = [], set()
        for file in files:
            stem = name = Path(file).stem or "image"
            copy = 1
            while name in names:  # two uploads called a.jpg and a.png
                copy += 1
                name = f"{stem}-{copy}"
            names.add(name)
            records.append(Record(name, "predict", Path(file)))
        writer = self.segmenter.writer(folder, cutout=True)
        start = time.perf_counter()
        self.segmenter.predict_files(records, writer, workers=0, show=False)
        seconds = time.perf_counter() - start
        cutouts = []
        for record in records:
            mask, cutout = output_paths(folder, record.name, cutout=True)
            if mask.is_file() and cutout.is_file():
                cutouts.append(Cutout(record.image.name, record.image, mask, cutout))
        failures = [(Path(path).name, message) for path, message in writer.failures]
        return CutoutResult(cutouts, failures, seconds, folder)

    def views(self, cutout: Cutout, binary: bool, threshold: int) -> tuple[Path, Path]:
        """(the mask shown and downloaded: the 8-bit mask, or its binary version at ``threshold``; the overlay)."""
        mask = np.asarray(Image.open(cutout.mask))
        shown = cutout.mask
        if binary:
            mask = binary_mask(mask, threshold)
            shown = cutout.mask.with_name(f"{cutout.mask.stem}_binary{threshold}.png")
            write_image(mask, shown)
        tinted = cutout.mask.with_name(f"{cutout.mask.stem}_overlay{f'_binary{threshold}' if binary else ''}.jpg")
        write_image(overlay(read_image(cutout.image, max_pixels=self.max_pixels), mask), tinted)
        return shown, tinted

    def remove_old_requests(self) -> None:
        now = time.time()
        for folder in self.workdir.glob("request-*"):
            if now - folder.stat().st_mtime > REQUEST_MAX_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)


def write_image(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as temporary:
        Image.fromarray(array).save(temporary, format="JPEG" if path.suffix == ".jpg" else "PNG", quality=90)


def zip_files(paths: list[Path], path: Path) -> Path:
    """``paths`` in one ZIP at ``path`` (stored under their names)."""
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in paths:
            archive.write(file, file.name)
    return path
