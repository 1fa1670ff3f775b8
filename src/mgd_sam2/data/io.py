"""Reading images, masks and prediction maps: the one place that decides how pixels come off disk.

PIL decodes everything (a truncated file raises instead of yielding a half-grey image). The rules:

* **Photos are read as they display**: EXIF orientation is applied to every image, in prediction,
  training, evaluation and ``check-data`` alike. Masks and prediction maps carry no orientation and are
  read as stored; ``check-data`` reports a dataset image whose mask only matches it unrotated.
* **Label maps**: a GT mask whose values are only 0 and 1 is read as 0/255 (``check-data`` and
  ``evaluate`` say so), since foreground is > 128 everywhere else.
* **16-bit images** are scaled to 8 bits (value >> 8), except GT masks of only 0 and 1 or only 0 and 255 (a label
  map or an 8-bit mask saved in 16 bits), read as they are: scaled, every pixel would be 0. A photo whose differing
  values would all read as one level (8-bit values in wider pixels, floats far beyond [0, 1]), or below level 16 (12-bit
  values in 16-bit pixels), is refused, naming the file.
* **Prediction maps** with an alpha channel (our cut-outs, or any RGBA map) are read from the alpha
  channel unless it is fully opaque; otherwise from their gray values.
* **Our own outputs**: PNGs written by ``mgd-sam2 predict`` carry their settings in a text chunk
  (`provenance`); ``<stem>_cutout.png`` files are its RGBA cut-outs.
* **Size limit**: images over ``max_pixels`` (default 300 megapixels) are refused with a message
  naming the option that raises it; PIL's own decompression-bomb limit (179 megapixels) is replaced by it.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from mgd_sam2.errors import UserError

FOREGROUND_THRESHOLD = 128  # a mask or 8-bit prediction pixel is foreground when > 128 (DIS and pysodmetrics)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
DEFAULT_MAX_PIXELS = 300_000_000
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # 16-bit, 32-bit and float images
DARK_LEVELS = 16  # a wide photo read below this 8-bit level everywhere holds fewer bits than its pixels (12 in 16)
Image.MAX_IMAGE_PIXELS = None  # our max_pixels check replaces PIL's fixed one
PROVENANCE_KEY = "mgd-sam2"  # PNG text chunk of our predictions: how they were made (JSON)
CUTOUT_SUFFIX = "_cutout"  # <stem>_cutout.png: predict's RGBA cut-out of <stem>


class UnreadableImageError(UserError, OSError):
    """An image or mask file that cannot be decoded; the message names the file."""


def open_image(path: str | Path, exif_transpose: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode ``path`` (first frame of an animation), or raise UnreadableImageError naming it."""
    with opened_image(path, max_pixels) as image:
        image.load()
        return ImageOps.exif_transpose(image) if exif_transpose else image.copy()


@contextlib.contextmanager
def opened_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Image.Image]:
    """``path`` opened, its header read and within ``max_pixels``, its pixels not yet decoded; any failure inside
    (decoding included) is an UnreadableImageError naming the file. Alone, a check of a file before a model loads."""
    try:
        with Image.open(path) as image:
            check_pixels(*image.size, max_pixels, str(path))
            yield image
    except FileNotFoundError as error:
        raise UnreadableImageError(f"image not found: {path}") from error
    except IsADirectoryError as error:
        raise UnreadableImageError(f"{path} is a folder, not an image: give its image files") from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, UnreadableImageError):
            raise
        reason = unreadable_reason(path, error)
        advice = "" if reason == HEIF_REASON else " Re-export or remove the file."  # the HEIC reason gives its own
        raise UnreadableImageError(f"cannot read {path}: {reason}.{advice}") from error


def unreadable_reason(path: str | Path, error: Exception) -> str:
    """Why PIL could not read ``path``, in words that do not repeat the path: "the file is empty", "the file is
    truncated", or its error."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        return "the file is empty"
    if any(word in str(error).lower() for word in ("truncated", "incomplete")):  # PIL's words for a cut-off file
        return "the file is truncated"
    if is_heif(path):
        return HEIF_REASON
    return str(error).replace(f" '{path}'", "").replace(str(path), "the file")


HEIF_REASON = "a HEIC/HEIF photo (phones' default format), which Pillow does not read: convert it to JPEG or PNG"
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")  # ISO BMFF "ftyp" brands


def is_heif(path: str | Path) -> bool:
    """Whether ``path`` starts as a HEIC/HEIF file does (its ``ftyp`` box and brand)."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def megapixels(pixels: int) -> str:
    """``pixels`` in megapixels for a message: three significant figures, whole ones from 1000 on."""
    value = pixels / 1e6
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Refuse an image of more than ``max_pixels`` (UnreadableImageError naming ``what``)."""
    if width * height > max_pixels:
        raise UnreadableImageError(
            f"{what} is {width}x{height} = {megapixels(width * height)} megapixels, over the limit of "
            f"{megapixels(max_pixels)} megapixels ({max_pixels} pixels: a guard against decompression bombs); "
            "`predict --max-pixels` (max_pixels in Python), in pixels, raises it if you trust the file and have the "
            "memory"
        )


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored; 5-8 swap width and height)."""
    return image.getexif().get(0x0112, 1) or 1


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


def photo_to_uint8(values: np.ndarray, what: str) -> np.ndarray:
    """`to_uint8` of a photo's grey values, refusing (UnreadableImageError naming ``what``) values that differ but
    would all read as one grey level, a blank picture: floats far outside [0, 1] (read as 0 to 1, then clipped) and
    integers of at most 255 in wider pixels (scaled down by their width); and wide integers that would all read
    below level `DARK_LEVELS`, a nearly black picture (12-bit data in 16-bit pixels)."""
    eight = to_uint8(values)
    wide = np.issubdtype(values.dtype, np.integer) and values.dtype.itemsize > 1 and values.size
    if wide and eight.min() < eight.max() and eight.max() < DARK_LEVELS:
        raise UnreadableImageError(
            f"{what} has {values.dtype.itemsize * 8}-bit pixels of values {values.min()} to {values.max()}, which "
            f"scale down to levels {eight.min()} to {eight.max()} of 255, a nearly black picture: where they hold "
            "10- or 12-bit data, scale them to the full range (value << 4 for 12 bits), or save an 8-bit image"
        )
    if not values.size or eight.min() < eight.max() or values.min() == values.max():
        return eight
    if np.issubdtype(values.dtype, np.floating):
        raise UnreadableImageError(
            f"{what} is a float image with values from {values.min():g} to {values.max():g}: float images are read "
            "as 0 to 1, so every pixel would read alike; save it as an 8-bit image"
        )
    raise UnreadableImageError(
        f"{what} has {values.dtype.itemsize * 8}-bit pixels of values {values.min()} to {values.max()}, which scale "
        "down to one 8-bit level: every pixel would read alike; save it as an 8-bit image"
    )


def image_to_rgb(image: Image.Image, what: str = "the image") -> np.ndarray:
    """(H, W, 3) uint8 RGB from any PIL mode: grayscale is replicated, alpha dropped, 16-bit scaled
    (`photo_to_uint8`)."""
    if image.mode in HIGH_DEPTH_MODES:
        gray = photo_to_uint8(np.array(image), what)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.array(image.convert("RGB"))


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info)


def has_transparency(image: Image.Image) -> bool:
    """Whether an image (decoded, or only its header read) has an alpha channel or a transparent colour."""
    return "A" in image.getbands() or "transparency" in image.info


def rgb_profile(source: str | Path | Image.Image | np.ndarray) -> bytes | None:
    """The ICC colour profile embedded in an image (a file's header, a PIL image's info) where it describes RGB, so
    that the RGB values read carry it on (a cut-out keeps the photo's colours); None for none, an array, or a grey,
    CMYK or Lab profile, which an RGB image cannot carry."""
    if isinstance(source, np.ndarray):
        return None
    if isinstance(source, Image.Image):
        profile = source.info.get("icc_profile")
    else:
        try:
            with Image.open(source) as header:
                profile = header.info.get("icc_profile")
        except OSError:
            return None  # reading the pixels names the file and the problem
    return profile if profile and profile[16:20] == b"RGB " else None  # the header's data colour space


def image_alpha(image: Image.Image) -> np.ndarray | None:
    """(H, W) uint8 opacity of a decoded image: its alpha channel, or its transparent colour; None where its mode
    makes every pixel opaque."""
    if not has_transparency(image):
        return None
    if "A" in image.getbands():  # LA, RGBA, PA: the channel alone, not an RGBA copy of a large image
        return np.array(image.getchannel("A"))
    return np.array(image.convert("RGBA").getchannel("A"))  # a palette's or a grey or RGB image's transparent colour


def read_alpha(
    source: str | Path | Image.Image | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray | None:
    """The opacity (`image_alpha`) of an image as predict and the Python API take it, as it displays: a file (only
    decoded where its header has transparency), a PIL image or an (H, W, 4) RGBA array; None for an opaque one."""
    if isinstance(source, np.ndarray):
        return to_uint8(source[..., 3]) if source.ndim == 3 and source.shape[2] == 4 else None
    if isinstance(source, Image.Image):
        return image_alpha(ImageOps.exif_transpose(source))
    try:
        with Image.open(source) as header:
            if not has_transparency(header):
                return None
    except OSError:
        pass  # open_image names the file and the problem
    return image_alpha(open_image(source, exif_transpose=True, max_pixels=max_pixels))


def image_to_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 grayscale from any PIL mode (RGB by ITU-R 601 luma; 16-bit scaled); alpha is ignored."""
    if image.mode in HIGH_DEPTH_MODES:
        return to_uint8(np.array(image))
    if has_alpha(image):
        image = image.convert("RGBA").convert("RGB")  # a mask's gray values, never its alpha
    elif image.mode == "LAB":  # Pillow converts LAB to RGB only
        image = image.convert("RGB")
    return np.array(image.convert("L"))


def is_label_map(values: np.ndarray) -> bool:
    """True for a mask whose values are only 0 and 1 with some 1s (a label map, not an 8-bit mask)."""
    return int(values.max(initial=0)) == 1


# A GT mask is black and white with soft edges: a share of grey pixels this large (values away from both 0 and 255)
# is an image, not a mask (a grey gradient, a photo, a probability map); masks of even very thin structures have
# far fewer edge pixels.
GREY_MARGIN = 16  # values within this of 0 or 255 count as black or white
GREY_SHARE = 0.25


COLOUR_SHARE = 0.01  # an image with more pixels than this whose channels differ by over GREY_MARGIN is in colour


def is_colour_image(image: Image.Image) -> bool:
    """True for an image whose colour channels differ (over GREY_MARGIN) at more than COLOUR_SHARE of its pixels: a
    photo or a coloured overlay, not a map saved as RGB."""
    if image.mode not in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return False
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return bool((spread > GREY_MARGIN).mean() > COLOUR_SHARE) if spread.size else False


def in_between(values: np.ndarray) -> int:
    """The pixels of a uint8 map that are neither 0 nor 255 (a mask's soft edge, or a soft map)."""
    return int(values.size - np.count_nonzero(values == 0) - np.count_nonzero(values == 255))


def two_levels(values: np.ndarray) -> tuple[int, int] | None:
    """The two values of a uint8 map that holds exactly two (a mask, however it was drawn: e.g. (0, 100) for an object
    drawn at 100), or None."""
    levels = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
    return (int(levels[0]), int(levels[1])) if len(levels) == 2 else None


def is_grey_map(values: np.ndarray) -> bool:
    """True for a (H, W) uint8 map of which more than GREY_SHARE of the pixels are grey, not near 0 or 255, in more
    than two values (an image or a soft map; a map of two values is a mask drawn in a grey, `two_levels`)."""
    if not values.size:
        return False
    grey = (values >= GREY_MARGIN) & (values <= 255 - GREY_MARGIN)
    return bool(grey.mean() > GREY_SHARE) and two_levels(values) is None


def dark_object(values: np.ndarray) -> int | None:
    """The value an object is drawn in, where a uint8 mask holds only 0 and one value that foreground (> 128) does
    not reach (e.g. 100), or None. Such a mask reads as empty; 1 is a label map's (read as 255), not this."""
    levels = two_levels(values)
    return levels[1] if levels and levels[0] == 0 and 1 < levels[1] <= FOREGROUND_THRESHOLD else None


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB image as it displays (EXIF orientation applied)."""
    return image_to_rgb(open_image(path, exif_transpose=True, max_pixels=max_pixels), str(path))


def image_from_memory(image: Image.Image | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image in memory, by the rules `read_image` applies to files: a PIL image
    as it displays (EXIF orientation applied), grey replicated, alpha dropped, 16-bit scaled; an array of shape
    (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, of uint8, uint16 (scaled, `photo_to_uint8`) or bool. Raises
    UnreadableImageError."""
    if isinstance(image, Image.Image):
        check_pixels(image.width, image.height, max_pixels, "the image")
        return image_to_rgb(ImageOps.exif_transpose(image))
    if not isinstance(image, np.ndarray):
        tensor = " (a torch tensor: give its .numpy(), (H, W, 3) uint8)" if type(image).__name__ == "Tensor" else ""
        raise UnreadableImageError(
            f"not an image: a {type(image).__name__}; give a path, a PIL image or an array{tensor}"
        )
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        image = image[..., 0] if image.shape[2] == 1 else image[..., :3]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or min(image.shape[:2]) < 1:
        raise UnreadableImageError(f"an image array must be (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, bool):
        raise UnreadableImageError(
            f"an image array must be uint8 (0-255), uint16 or bool, got {image.dtype}: convert it, e.g. "
            "(array * 255).round().astype(np.uint8) for values in [0, 1], array.astype(np.uint8) for values 0-255"
        )
    check_pixels(image.shape[1], image.shape[0], max_pixels, "the image")
    image = photo_to_uint8(image, "the image")
    return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image)


def mask_values(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """(mask gray values with a 0/1 label map turned into 0/255, whether it was one)."""
    label_map = is_label_map(values)
    return (values * np.uint8(255) if label_map else values), label_map


def mask_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 gray values of a GT mask: `image_to_gray`, except that a 16-bit mask of only 0 and 1 or only 0
    and 255 keeps its values (a float mask, in [0, 1], is scaled as before)."""
    if image.mode in HIGH_DEPTH_MODES:
        values = np.array(image)
        integer = np.issubdtype(values.dtype, np.integer)
        if integer and (np.isin(values, (0, 1)).all() or np.isin(values, (0, 255)).all()):
            return values.astype(np.uint8)
    return image_to_gray(image)


def decode_mask(image: Image.Image) -> tuple[np.ndarray, bool]:
    """((H, W) uint8 GT mask of an opened image, whether it was a 0/1 label map read as 0/255); foreground is > 128."""
    return mask_values(mask_gray(image))


def read_mask(path: str | Path) -> np.ndarray:
    """(H, W) uint8 GT mask; foreground is > 128. A 0/1 label map is read as 0/255."""
    return decode_mask(open_image(path))[0]


def is_alpha_shape(image: Image.Image, values: np.ndarray) -> bool:
    """True for a mask whose grey ``values`` are all black and whose alpha channel varies: a shape drawn in the
    alpha, which a mask's reading ignores (as pysodmetrics' does), so it reads as empty."""
    if not has_alpha(image) or values.any():
        return False
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    return bool(alpha.min() < alpha.max())


def read_prediction(path: str | Path) -> np.ndarray:
    """(H, W) uint8 prediction map: the alpha channel of an RGBA map (a cut-out's mask) unless it is fully
    opaque, else the gray values."""
    return prediction_map(open_image(path))[0]


def prediction_map(image: Image.Image) -> tuple[np.ndarray, bool]:
    """`read_prediction` of an opened image, and whether its grey values were read (not its alpha channel)."""
    if has_alpha(image):
        alpha = np.array(image.convert("RGBA").getchannel("A"))
        if alpha.min() < 255:
            return alpha, False
    return image_to_gray(image), True


def provenance(path: str | Path) -> dict | None:
    """The settings recorded in a PNG that ``mgd-sam2 predict`` wrote, or None for any other file."""
    try:
        with Image.open(path) as image:
            recorded = image.info.get(PROVENANCE_KEY)  # text chunks before the pixels: no decoding
    except (OSError, SyntaxError, ValueError):
        return None
    try:
        settings = json.loads(recorded) if isinstance(recorded, str) else None
    except json.JSONDecodeError:
        return None
    return settings if isinstance(settings, dict) else None


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return find_images(folder)[0]


def find_images(folder: str | Path, recursive: bool = False) -> tuple[list[Path], Counter[str]]:
    """(image files in ``folder``, or in its whole tree, sorted; what was passed over, counted by reason).

    Hidden entries (names starting with ".", such as AppleDouble ``._x.jpg`` files) are skipped, and counted; linked
    folders are not followed (a link loop cannot recurse forever)."""
    images: list[Path] = []
    ignored: Counter[str] = Counter()
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            ignored["hidden entries (names starting with '.')"] += 1
            continue
        if path.is_symlink() and not path.exists():
            ignored["broken links"] += 1
        elif path.is_dir() and path.is_symlink():
            ignored["linked folders (not followed)"] += 1
        elif path.is_dir():
            if recursive:
                found, skipped = find_images(path, recursive=True)
                images += found
                ignored += skipped
            else:
                ignored["subfolders"] += 1
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            ignored[f"files without an image suffix ({', '.join(IMAGE_SUFFIXES)})"] += 1
    return images, ignored


def passed_over(ignored: Counter[str]) -> str:
    """`find_images`' count of what it passed over, in words ("" when nothing)."""
    return "; ".join(f"{reason}: {count}" for reason, count in ignored.items())
