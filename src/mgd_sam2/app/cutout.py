"""One request of the app: uploaded files -> masks and cut-outs, written to a request folder for download.

`CutoutService` loads the weights once as a `Segmenter`; each upload is decoded once
(``Segmenter.read``, predict's rules), segmented in memory (``Segmenter.predict``, the Python API's path) and
saved with the ``MaskWriter`` of ``mgd-sam2 predict --cutout`` and the same recorded settings, so a mask (and
cut-out) from the page equals predict's file byte for byte. The binary mask and the overlay shown by the page
are made from that 8-bit mask.

Memory is bounded per request: a request's uploads together may hold at most ``max_request_bytes``, and
each image at most ``max_pixels`` (checked from its header, before it is decoded); the images of a request
are processed one at a time, so the largest image sets the peak (about APP_BYTES_PER_PIXEL per pixel).
Messages meant for the page name uploads by their file names, never by their paths on the server.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mgd_sam2.data.io import UnreadableImageError, read_image
from mgd_sam2.errors import UserError
from mgd_sam2.inference.segmenter import Segmenter
from mgd_sam2.inference.writer import binary_mask, output_paths
from mgd_sam2.utils.files import atomic_path

OVERLAY_COLOUR = np.array([255, 0, 80], np.float32)  # foreground tint of the overlay
OVERLAY_OPACITY = 0.55
REQUEST_MAX_AGE_S = 3600  # request folders older than this are removed at the next request
OVERLAY_ROWS = 512  # the overlay is computed in blocks of rows, so that its float32 arrays stay small
APP_MAX_PIXELS = 25_000_000  # per image: a 24-megapixel camera's 6000 x 4000 photo
APP_MAX_REQUEST_MB = 50  # uploads of one request together, in MB of 2**20 bytes (as Gradio counts them)
MB = 2**20
BROWSER_FORMATS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")  # shown as uploaded; others as a JPEG preview
# Peak memory of the app per pixel of the largest image of a request, above the app's own (model, libraries): the
# decoded image, its 8-bit mask, the full-size logits, the RGBA cut-out and the overlay; the measured figure rounded
# up, so that the memory note does not promise less (measured: docs/design.md, measured constants).
APP_BYTES_PER_PIXEL = 22


class RequestRefused(UserError):
    """A request over the server's limits; the message is for the page."""


@dataclass
class Cutout:
    name: str  # the upload's file name
    image: Path  # the upload, linked into the request's folder
    mask: Path  # 8-bit mask PNG, as `mgd-sam2 predict` writes it (NAME.png)
    cutout: Path  # RGBA cut-out PNG, as `mgd-sam2 predict --cutout` writes it (NAME_cutout.png)
    megapixels: float  # the image's pixels, in millions (the server's console line)

    @property
    def views(self) -> Path:
        """This image's own folder for what the page derives from its files (downloads, previews, binary masks), so
        that no derived name can meet another upload's files."""
        return self.mask.parent / "views" / self.mask.stem


@dataclass
class CutoutResult:
    cutouts: list[Cutout]
    failures: list[tuple[str, str]]  # (file name, why it was skipped)
    seconds: float  # wall time of reading, predicting and writing, all images
    folder: Path  # where this request's files are


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image tinted where (H, W) uint8 ``mask`` is foreground (its value is the tint's weight)."""
    tinted = np.empty_like(image)
    for top in range(0, image.shape[0], OVERLAY_ROWS):
        rows = slice(top, top + OVERLAY_ROWS)
        weight = (mask[rows].astype(np.float32) / 255 * OVERLAY_OPACITY)[..., None]
        tinted[rows] = (image[rows].astype(np.float32) * (1 - weight) + OVERLAY_COLOUR * weight).round()
    return tinted


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding it; None for a file that is no image (the predict
    loop reports it)."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError):
        return None


class CutoutService:
    """The model, loaded once, and the folder that holds every request's files (removed by the caller)."""

    def __init__(
        self, segmenter: Segmenter, workdir: str | Path, max_request_bytes: int = APP_MAX_REQUEST_MB * MB
    ) -> None:
        self.segmenter, self.workdir, self.max_pixels = segmenter, Path(workdir), segmenter.max_pixels
        self.max_request_bytes = max_request_bytes
        self.backend, self.description = segmenter.backend, segmenter.description  # for the server's console
        self.public_description = segmenter.public_description  # for the page

    def admit(self, files: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
        """(the files within the per-image pixel limit, [(name, why)] for those over it); a RequestRefused when the
        request's files together are over the byte limit."""
        total = sum(file.stat().st_size for file in files)
        if total > self.max_request_bytes:
            raise RequestRefused(
                f"the upload holds {total / MB:.1f} MB, over this server's limit of "
                f"{self.max_request_bytes / MB:g} MB per request: send fewer or smaller files at a time"
            )
        admitted, refused = [], []
        for file in files:
            size = image_size(file)
            if size is not None and size[0] * size[1] > self.max_pixels:
                pixels = f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} megapixels"
                refused.append(
                    (file.name, f"{pixels}, over this server's limit of {self.max_pixels / 1e6:g} megapixels")
                )
            else:
                admitted.append(file)
        return admitted, refused

    def run(self, files: list[str | Path]) -> CutoutResult:
        """Predict each file; unreadable files, non-images and images over the pixel limit are listed in
        ``failures`` instead (a RequestRefused for a request over the byte limit)."""
        files, failures = self.admit([Path(file) for file in files])
        self.remove_old_requests()
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.workdir))
        writer = self.segmenter.writer(folder, cutout=True)
        cutouts = []
        start = time.perf_counter()
        for upload, name in zip(files, output_names(files), strict=True):
            # the upload linked into the request's folder: Gradio removes its uploads on its own clock, and the page
            # reads the image again while the request's results last (the overlay at another threshold)
            file = linked(upload, folder / "uploads" / name / upload.name)
            try:
                image = self.segmenter.read(file)
            except UnreadableImageError as error:
                failures.append((file.name, self.without_paths(str(error))))
                continue
            written = writer.save(self.segmenter.predict(image), name, file, image)
            if len(written) == 2:
                cutouts.append(Cutout(file.name, file, *written, megapixels=image.shape[0] * image.shape[1] / 1e6))
        seconds = time.perf_counter() - start
        failures += [(Path(path).name, self.without_paths(message)) for path, message in writer.failures]
        return CutoutResult(cutouts, failures, seconds, folder)

    def without_paths(self, message: str) -> str:
        """``message`` with every path under the app's folder (uploads, results) cut to its file name."""
        return re.sub(re.escape(str(self.workdir)) + r"[^\s:,;]*", lambda path: Path(path.group()).name, message)

    def views(self, cutout: Cutout, binary: bool, threshold: int) -> tuple[Path, Path, Path, Path]:
        """What the page shows and gives of one image, in its ``views`` folder: (the input as a browser shows it:
        the upload, or a JPEG of it for formats browsers do not show (TIFF); the mask to download, NAME_mask.png, or
        its binary version at ``threshold``, NAME_mask_binaryT.png; the overlay; the cut-out to download). The
        downloads are links to predict's files, named so that they do not take the uploads' own names."""
        cutout.views.mkdir(parents=True, exist_ok=True)
        stem = cutout.mask.stem
        image = read_image(cutout.image, max_pixels=self.max_pixels)
        shown_input = cutout.image
        if cutout.image.suffix.lower() not in BROWSER_FORMATS:
            shown_input = cutout.views / f"{stem}_input.jpg"
            if not shown_input.is_file():
                write_image(image, shown_input)
        mask = np.asarray(Image.open(cutout.mask))
        if binary:
            mask = binary_mask(mask, threshold)
            shown = cutout.views / f"{stem}_mask_binary{threshold}.png"
            write_image(mask, shown)
        else:
            shown = linked(cutout.mask, cutout.views / f"{stem}_mask.png")
        tinted = cutout.views / f"{stem}_overlay{f'_binary{threshold}' if binary else ''}.jpg"
        write_image(overlay(image, mask), tinted)
        return shown_input, shown, tinted, linked(cutout.cutout, cutout.views / cutout.cutout.name)

    def remove_old_requests(self) -> None:
        now = time.time()
        for folder in self.workdir.glob("request-*"):
            if now - folder.stat().st_mtime > REQUEST_MAX_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)


def output_names(files: list[Path]) -> list[str]:
    """The names the files' masks and cut-outs are written under (NAME.png, NAME_cutout.png): their stems, the later
    of two that would write one file made unique with "-2", "-3"... (a.jpg and a.png: a, a-2; a.jpg and
    a_cutout.png, whose mask would be a.jpg's cut-out: a, a_cutout-2)."""
    names: list[str] = []
    taken: set[Path] = set()  # the files the names so far write
    for file in files:
        stem = name = file.stem or "image"
        copy = 1
        while taken.intersection(output_paths(Path(), name, cutout=True)):
            copy += 1
            name = f"{stem}-{copy}"
        names.append(name)
        taken.update(output_paths(Path(), name, cutout=True))
    return names


def linked(path: Path, link: Path) -> Path:
    """``link``, a hard link to ``path`` (the same bytes under another name, no copy), made where it is not there."""
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, link)
    return link


def write_image(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as temporary:
        Image.fromarray(array).save(temporary, format="JPEG" if path.suffix == ".jpg" else "PNG", quality=90)


def zip_files(paths: list[Path], path: Path) -> Path:
    """``paths`` in one ZIP at ``path`` (stored under their names)."""
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in paths:
            archive.write(file, file.name)
    return path
