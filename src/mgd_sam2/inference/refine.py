"""The passes of a detail mode (inference/detail.py): a second look at a large image's own pixels, blended into the
plain logits.

The plain path sees every image resized to the model input (S x S). ``crop`` and ``tiles`` run the same network again on
parts of the image (``guided`` runs no part: inference/guided.py, called from `detail_map`), each cut from the original
pixels and resized to S x S as the plain input is, and blend their logits into the plain logits at the image's size:

- ``crop``: one part, the object's bounding box in the plain mask (probability above 0.5) plus a margin: the object
  seen larger when it is small in the frame;
- ``tiles``: up to ``zoom`` x ``zoom`` overlapping parts, each about 1/``zoom`` of the image's sides and none smaller
  than S x S in original pixels: the image seen at up to ``zoom`` times the plain resolution, refined in the plain
  mask's uncertain band only (tiles that the band does not reach are not run), where their logits and the plain
  logits have equal shares: a tile sees more pixels but less of the scene than the plain pass, and on the synthetic
  4K benchmark (docs/benchmarks.md, Detail) replacing the plain logits outright cost Sα where averaging gained it.

The crop keeps the image's aspect ratio, so the square input squeezes it exactly as it squeezes the plain image (and as
training did); so do tiles where both axes are cut into as many parts (`axis_parts` cuts an axis too short for that
many parts of at least S into fewer, and its tiles are then squeezed more along the other axis).

Blending: ``out = (1 - band) * plain + band * sum_t window_t * part_t``, where ``band`` is continuous in [0, 1] (at
most TILE_SHARE for tiles) and the windows (linear ramps across each overlap, 1 elsewhere) sum to 1 wherever
``band`` is non-zero, so neither tile borders nor the edge of the band leave a seam. Parts run one at a time: besides
one part's tensors, the memory holds two float32 maps at the image's size (the logits and the band), then the plain
path's conversion to 8 bits. Where no part is needed (an image no larger than the input, nothing uncertain, no object)
the map is the plain path's, byte for byte.

The weights are used as they are: the network only ever sees inputs of its own size, cut into its own views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from mgd_sam2.data.datasets import SegmentationDataset
from mgd_sam2.inference.backends import Backend
from mgd_sam2.inference.detail import Detail
from mgd_sam2.inference.guided import guided_map
from mgd_sam2.inference.maps import predict_logits, to_uint8_maps
from mgd_sam2.models.multi_view import resize
from mgd_sam2.utils.progress import progress_bar

OVERLAP = 0.25  # of a tile's side shared with each neighbour: the width of the blending ramps
UNCERTAIN = (0.05, 0.95)  # plain probabilities that tiles refine
BAND_RADIUS = 1 / 64  # of the input side: how far around an uncertain pixel the band stays 1 (then falls to 0)
TILE_SHARE = 0.5  # the tiles' share of the logits where the band is 1 (the plain pass keeps the rest)
CROP_MARGIN = 0.1  # of the object box's longer side, added on every side
CROP_MIN_ZOOM = 1.25  # a crop that would enlarge the object less than this is not worth a second pass
PROGRESS_PARTS = 8  # images with this many parts or more show their own progress line
# A detail mode's peak memory above the plain path's, per pixel of the image (the logits and band at its size and
# their temporaries; measured: docs/design.md, measured constants)
DETAIL_BYTES_PER_PIXEL = 16


@dataclass(frozen=True)
class Box:
    """A rectangle of the image in pixels: rows [top, bottom), columns [left, right)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def size(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left


@dataclass
class Part:
    """One extra pass: the box it sees and its blending window, the outer product of ``rows`` (h,) and
    ``columns`` (w,)."""

    box: Box
    rows: Tensor
    columns: Tensor


@dataclass
class Plan:
    """The parts to run, and ``band``: (H, W) in [0, 1], their share of the result (None when there are none)."""

    parts: list[Part]
    band: Tensor | None = None


def ramp(length: int) -> Tensor:
    """(length,) float32 weights rising linearly from 0 to 1 at pixel centres: (k + 0.5) / length."""
    return (torch.arange(length, dtype=torch.float32) + 0.5) / length


def axis_parts(length: int, count: int, least: int, overlap: float = OVERLAP) -> list[tuple[int, int]]:
    """(start, end) of at most ``count`` equal parts covering [0, length), each sharing about ``overlap`` of its side
    with each neighbour; fewer parts where they would be shorter than ``least`` (one part: the whole axis)."""
    for parts in range(count, 1, -1):
        side = math.ceil(length / (1 + (parts - 1) * (1 - overlap)))
        if side >= least:
            return [(start, start + side) for start in (round(i * (length - side) / (parts - 1)) for i in range(parts))]
    return [(0, length)]


def axis_windows(parts: list[tuple[int, int]]) -> list[Tensor]:
    """Each part's weights along the axis: a ramp up across the overlap with the previous part, a ramp down across the
    overlap with the next (1 minus the next part's ramp up), 1 elsewhere; they sum to 1 at every pixel."""
    windows = []
    for index, (start, end) in enumerate(parts):
        window = torch.ones(end - start)
        if index > 0:
            shared = parts[index - 1][1] - start
            window[:shared] = ramp(shared)
        if index + 1 < len(parts):
            shared = end - parts[index + 1][0]
            window[end - start - shared :] = 1 - ramp(shared)
        windows.append(window)
    return windows


def uncertain_band(plain: Tensor) -> Tensor:
    """(S, S) plain logits (CPU) -> (S, S) band in [0, 1]: 1 within r = BAND_RADIUS of the input side of a pixel whose
    probability is UNCERTAIN, falling to 0 over twice as far (exactly 0 beyond 3 r)."""
    radius = max(1, round(plain.shape[-1] * BAND_RADIUS))
    side = 2 * radius + 1
    probability = plain.sigmoid()
    uncertain = ((probability > UNCERTAIN[0]) & (probability < UNCERTAIN[1])).numpy().astype(np.uint8)
    widened = cv2.dilate(uncertain, np.ones((4 * radius + 1, 4 * radius + 1), np.uint8))
    # OpenCV's box filter takes the same time for any window (torch's pooling grows with its area); whole-number
    # sums, so the band is exactly 1 inside and 0 outside
    counts = cv2.boxFilter(widened, cv2.CV_32F, (side, side), normalize=False)
    return torch.from_numpy(counts) / side**2


def touches(band: Tensor, box: Box, height: int, width: int) -> bool:
    """Whether ``band`` (at the input's size) is non-zero anywhere it reaches ``box`` once resized bilinearly to
    (height, width): the box mapped onto the band, one band pixel more on each side for the interpolation."""
    rows, columns = band.shape
    top, bottom = max(0, box.top * rows // height - 1), min(rows, -(-box.bottom * rows // height) + 1)
    left, right = max(0, box.left * columns // width - 1), min(columns, -(-box.right * columns // width) + 1)
    return bool((band[top:bottom, left:right] > 0).any())


def tile_plan(plain: Tensor, height: int, width: int, zoom: int) -> Plan:
    """The tiles that the uncertain band of ``plain`` ((S, S) logits) reaches, for an image of (height, width)."""
    size = plain.shape[-1]
    rows = axis_parts(height, zoom, min(height, size))
    columns = axis_parts(width, zoom, min(width, size))
    if len(rows) == len(columns) == 1:
        return Plan([])
    band = uncertain_band(plain)
    tiles = [
        Part(Box(top, bottom, left, right), row_window, column_window)
        for (top, bottom), row_window in zip(rows, axis_windows(rows), strict=True)
        for (left, right), column_window in zip(columns, axis_windows(columns), strict=True)
    ]
    parts = [tile for tile in tiles if touches(band, tile.box, height, width)]
    return Plan(parts, resize(band[None, None] * TILE_SHARE, (height, width))[0, 0]) if parts else Plan([])


def object_box(plain: Tensor, height: int, width: int) -> Box | None:
    """The bounding box, in image pixels, of the plain mask's object (probability above 0.5); None without one."""
    rows, columns = torch.nonzero(plain > 0, as_tuple=True)
    if rows.numel() == 0:
        return None
    side_rows, side_columns = plain.shape
    return Box(
        int(rows.min()) * height // side_rows,
        -(-(int(rows.max()) + 1) * height // side_rows),
        int(columns.min()) * width // side_columns,
        -(-(int(columns.max()) + 1) * width // side_columns),
    )


def placed(start: int, end: int, side: int, length: int) -> tuple[int, int]:
    """[start, end) grown to ``side`` (at most ``length``) around its centre, shifted to lie within [0, length)."""
    side = min(side, length)
    first = min(max(0, round((start + end - side) / 2)), length - side)
    return first, first + side


def crop_plan(plain: Tensor, height: int, width: int) -> Plan:
    """One part: the object's box in ``plain`` ((S, S) logits) plus CROP_MARGIN, grown to the image's aspect ratio
    and to at least S x S image pixels; blended in with ramps across half the margin on the sides inside the image."""
    box = object_box(plain, height, width)
    if box is None:
        return Plan([])
    size = plain.shape[-1]
    margin = math.ceil(CROP_MARGIN * max(box.size))
    rows, columns = box.bottom - box.top + 2 * margin, box.right - box.left + 2 * margin
    rows, columns = max(rows, math.ceil(columns * height / width)), max(columns, math.ceil(rows * width / height))
    grow = max(1.0, min(height, size) / rows, min(width, size) / columns)  # both sides at least S, aspect kept
    top, bottom = placed(box.top - margin, box.bottom + margin, math.ceil(rows * grow), height)
    left, right = placed(box.left - margin, box.right + margin, math.ceil(columns * grow), width)
    if (bottom - top) * CROP_MIN_ZOOM > height and (right - left) * CROP_MIN_ZOOM > width:
        return Plan([])
    crop = Box(top, bottom, left, right)
    band = torch.zeros(height, width)
    band[crop.slices] = torch.outer(edge_window(top, bottom, box.top, box.bottom, height),
                                    edge_window(left, right, box.left, box.right, width))  # fmt: skip
    return Plan([Part(crop, torch.ones(bottom - top), torch.ones(right - left))], band)


def edge_window(start: int, end: int, inner_start: int, inner_end: int, length: int) -> Tensor:
    """Weights over [start, end) that ramp from 0 at a side inside [0, length) to 1 halfway to [inner_start,
    inner_end); 1 at a side on the image's border."""
    window = torch.ones(end - start)
    if start > 0:
        rising = max(1, (inner_start - start) // 2)
        window[:rising] = ramp(rising)
    if end < length:
        falling = max(1, (end - inner_end) // 2)
        window[end - start - falling :] = torch.minimum(window[end - start - falling :], 1 - ramp(falling))
    return window


def plan(detail: Detail, plain: Tensor, height: int, width: int) -> Plan:
    """The parts ``detail`` runs for an image of (height, width) whose plain logits are ``plain`` (S, S)."""
    if detail.mode == "tiles":
        return tile_plan(plain, height, width, detail.zoom)
    if detail.mode == "crop":
        return crop_plan(plain, height, width)
    return Plan([])


def detail_map(
    backend: Backend, plain: Tensor, image: np.ndarray, detail: Detail, tta: bool = False, show: bool = False
) -> Tensor:
    """One image's (H, W) uint8 map with ``detail``, from its plain logits (1, 1, S, S) (on any device) and its
    (H, W, 3) uint8 RGB pixels; each part runs through ``backend`` (with ``tta``, as the plain pass did). ``show``:
    a progress line on images of PROGRESS_PARTS parts or more. ``guided`` runs no part (inference/guided.py)."""
    if detail.mode == "guided":
        return guided_map(plain, image)
    height, width = image.shape[:2]
    chosen = plan(detail, plain[0, 0].float().cpu(), height, width)
    if not chosen.parts:
        return to_uint8_maps(plain, [(height, width)])[0]
    inputs = SegmentationDataset([], backend.input_size, "predict", grid=backend.grid)
    logits = resize(plain.float().cpu(), (height, width))[0, 0]
    logits -= chosen.band * logits  # (1 - band) * plain; the parts add band * window * theirs in place
    label = f"{detail.label}, {width}x{height}"
    with progress_bar(len(chosen.parts), label, show=show and len(chosen.parts) >= PROGRESS_PARTS) as advance:
        for part in chosen.parts:
            rows, columns = part.box.slices
            views = inputs.predict_input(image[rows, columns])["input"]
            seen = resize(predict_logits(backend, views, tta=tta).float(), part.box.size).cpu()[0, 0]
            weight = chosen.band[rows, columns] * part.rows[:, None]  # then in place: one map of the part's size
            logits[rows, columns] += weight.mul_(part.columns).mul_(seen)
            advance()
    del chosen  # the band, before the map's own temporaries at the image's size
    return to_uint8_maps(logits[None, None], [(height, width)])[0]
