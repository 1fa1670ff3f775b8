"""From network input to the 8-bit maps that are saved and scored, with optional test-time augmentation."""

from __future__ import annotations

import torch
from torch import Tensor

from mgd_sam2.data.view_cutting import tile
from mgd_sam2.inference.backends import Backend
from mgd_sam2.models.multi_view import Views, nearest_input_size, resize

TTA_SCALES = (0.75, 1.0, 1.25)  # the released test.py: horizontal flip x these scales, logits averaged


def tta_input_sizes(size: int, grid: int, scales: tuple[float, ...] = TTA_SCALES) -> list[int]:
    """Input sides for each TTA scale, rounded to the nearest side that tiles (1024 -> 768, 1024, 1280)."""
    return [nearest_input_size(size * scale, grid) for scale in scales]


def predict_logits(backend: Backend, views: Views, tta: bool = False) -> Tensor:
    """Views of (B, 3, S, S) normalised inputs -> (B, 1, S, S) float32 logits; with ``tta``, the mean over hflip x
    3 scales.

    TTA follows the released test.py (ttach) in its float order too: flip, then resize and cut the views
    again; the logits are resized back, then unflipped; passes run flip-major and are summed in that
    order, then divided.
    """
    if not tta:
        return backend.logits(views)
    image = views.full
    size = image.shape[-2:]
    total, passes = None, 0
    for flip in (False, True):
        flipped = image.flip(-1) if flip else image
        for side in tta_input_sizes(size[-1], backend.grid):
            logits = resize(backend.logits(tile(resize(flipped, (side, side)), backend.grid)), size)
            logits = logits.flip(-1) if flip else logits
            total = logits if total is None else total + logits
            passes += 1
    return total / passes


def to_uint8_maps(logits: Tensor, sizes: list[tuple[int, int]]) -> list[Tensor]:
    """(B, 1, S, S) logits -> per image an (H, W) uint8 map at its original size.

    As the released test.py: logits resized bilinearly to the original size, then sigmoid; then
    x255 and truncation to uint8, which is what saving an 8-bit PNG does (docs/design.md, evaluation).
    """
    maps = []
    for logit, (height, width) in zip(logits.float(), sizes, strict=True):
        prob = torch.sigmoid(resize(logit[None], (int(height), int(width))))[0, 0]
        maps.append((prob * 255).to(torch.uint8))
    return maps
