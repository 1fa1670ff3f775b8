"""Reading images and masks, the one place that decides how pixels come off disk.

PIL decodes everything (a truncated file raises instead of yielding a half-grey image). EXIF
orientation is *not* applied to dataset files, matching the DIS/BiRefNet readers (masks carry no
EXIF, so rotating only the image would misalign the pair); ``mgd-sam2 check-data`` reports such
images. ``predict`` applies it, so masks match the photo as viewers show it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mgd_sam2.errors import UserError

FOREGROUND_THRESHOLD = 128  # a mask or 8-bit prediction pixel is foreground when > 128 (DIS and pysodmetrics)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class UnreadableImageError(UserError, OSError):
    """An image or mask file that cannot be decoded; the message names the file."""


def open_image(path: str | Path, exif_transpose: bool = False) -> Image.Image:
    """Open and fully decode ``path``, or raise UnreadableImageError naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image) if exif_transpose else image.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"cannot read {path}: {error}. Re-export or remove the file.") from error


def to_uint8(array: np.ndarray) -> np.ndarray:
    """8-bit view of an integer image: 16-bit (and 32-bit 'I') maps are scaled down, not clipped."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        bits = 16 if array.max(initial=0) <= 0xFFFF else 32
        return (array.astype(np.uint64) >> (bits - 8)).astype(np.uint8)
    return np.clip(array * 255, 0, 255).astype(np.uint8)  # float images in [0, 1]


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any PIL mode: grayscale is replicated, alpha dropped, 16-bit scaled."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        gray = to_uint8(np.array(image))
        return np.repeat(gray[..., None], 3, axis=2)
    return np.array(image.convert("RGB"))


def image_to_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 grayscale from any PIL mode (RGB by ITU-R 601 luma; 16-bit scaled)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return to_uint8(np.array(image))
    if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")  # a mask's gray values, never its alpha
    return np.array(image.convert("L"))


def read_image(path: str | Path, exif_transpose: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB image."""
    return image_to_rgb(open_image(path, exif_transpose))


def read_mask(path: str | Path) -> np.ndarray:
    """(H, W) uint8 mask or prediction map; foreground is > 128."""
    return image_to_gray(open_image(path))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
