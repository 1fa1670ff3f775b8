"""The ``guided`` detail mode: the plain probabilities upsampled to the image's size with a colour guided filter whose
guide is the image's own pixels (He, Sun, Tang, "Guided image filtering", TPAMI 2013; the fast variant of He & Sun,
arXiv 1505.00996, computes the filter's coefficients on a coarse grid).

Within each window the filter fits the plain probability as a linear function of the pixel's colour,
``q = a . rgb + b``, and averages the fits of the windows over a pixel; so an edge that the image has and the plain
probability only suggests (a thin part that the model input blurred into a grey smear) comes back at the image's
resolution, and where the plain probability is flat (all background, all object) so is the result. No network pass:
the same weights, one plain pass, then arithmetic on the image's pixels. It assumes what a guided filter assumes:
that the object and its surroundings differ in colour within a window.

Coefficients are solved on a grid of CELLS cells per model-input pixel (at most one per image pixel), over square
windows of RADIUS x CELLS cells (RADIUS input pixels; image pixels along a side shorter than the input), then upsampled
bilinearly to the image's size one at a time: besides the image, the memory holds three float32 maps at its size (the
result, one coefficient, one colour channel), within the detail modes' DETAIL_BYTES_PER_PIXEL.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from mgd_sam2.inference.maps import to_uint8_maps
from mgd_sam2.models.multi_view import resize

RADIUS = 16  # window radius in model-input pixels (chosen on the tuning split: docs/benchmarks.md, Detail)
CELLS = 1  # coefficient grid cells per model-input pixel along each side
EPSILON = 1e-4  # regularisation of a window's colour covariance (colours in [0, 1]): below it, a colour edge is noise


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over (2 radius + 1)² windows of (h, w[, c]) float32, edges reflected; OpenCV's box filter takes the same
    time for any radius."""
    side = 2 * radius + 1
    return cv2.boxFilter(x, -1, (side, side), borderType=cv2.BORDER_REFLECT).reshape(x.shape)


def coefficients(colour: np.ndarray, probability: np.ndarray, radius: int, epsilon: float = EPSILON) -> np.ndarray:
    """(h, w, 3) colours and (h, w) probabilities (float32) -> (h, w, 4) window-averaged ``a`` (3) and ``b``."""
    mean_colour = box_mean(colour, radius)
    mean_probability = box_mean(probability, radius)
    covariance = box_mean(colour * probability[..., None], radius) - mean_colour * mean_probability[..., None]
    outer = (colour[..., :, None] * colour[..., None, :]).reshape(*colour.shape[:2], 9)
    variance = box_mean(outer, radius).reshape(*colour.shape[:2], 3, 3)
    variance -= mean_colour[..., :, None] * mean_colour[..., None, :]
    variance += epsilon * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(variance, covariance[..., None])[..., 0]
    b = mean_probability - (a * mean_colour).sum(-1)
    return box_mean(np.concatenate([a, b[..., None]], -1), radius)


def guided_map(plain: Tensor, image: np.ndarray) -> Tensor:
    """(1, 1, S, S) plain logits (any device) and (H, W, 3) uint8 RGB pixels -> (H, W) uint8 map; the plain path's map,
    byte for byte, where the image is no larger than the model input."""
    height, width = image.shape[:2]
    size = plain.shape[-1]
    if height <= size and width <= size:
        return to_uint8_maps(plain, [(height, width)])[0]
    rows, columns = min(height, CELLS * size), min(width, CELLS * size)
    colour = cv2.resize(image, (columns, rows), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    probability = resize(plain.float().cpu(), (rows, columns))[0, 0].sigmoid().numpy()
    coarse = torch.from_numpy(coefficients(colour, probability, RADIUS * CELLS)).permute(2, 0, 1)[None]
    coarse[:, :3] /= 255  # so that a applies to 8-bit colours
    # q = b + sum over colours of a * colour, one coefficient map at the image's size at a time (b's map may be a view
    # of coarse where the grid is the image's size: only b is written)
    out = resize(coarse[:, 3:], (height, width))[0, 0]
    for channel in range(3):
        out.addcmul_(resize(coarse[:, channel : channel + 1], (height, width))[0, 0],
                     torch.from_numpy(image[..., channel].astype(np.float32)))  # fmt: skip
    return out.clamp_(0, 1).mul_(255).to(torch.uint8)
