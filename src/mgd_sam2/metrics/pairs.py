"""One prediction/GT pair prepared once and shared by every measure.

Each array is computed on first use and then read by every metric that needs it, so an image is
normalised, binarised and histogrammed once however many metrics score it. Measures must not write
into these arrays: the other measures read them after.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterable

import numpy as np
from torch import Tensor

from mgd_sam2.data.io import FOREGROUND_THRESHOLD, mask_values
from mgd_sam2.metrics import functional as fn


def as_map_array(x: Tensor | np.ndarray) -> np.ndarray:
    """A 2-D numpy map from a tensor or array ((1, H, W) is squeezed)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    return x


class ImagePair:
    """A uint8 (H, W) prediction and its uint8 (H, W) GT, checked, with the arrays the measures share."""

    def __init__(self, pred: np.ndarray, gt: np.ndarray) -> None:
        fn.check_pair(pred, gt)
        self.pred_raw, self.gt_raw = pred, gt

    @cached_property
    def _normalized(self) -> tuple[np.ndarray, np.ndarray]:
        return fn.normalize(self.pred_raw, self.gt_raw)

    @property
    def pred_norm(self) -> np.ndarray:
        """(H, W) float64 in [0, 1]: pysodmetrics' normalised prediction (min-max unless constant)."""
        return self._normalized[0]

    @property
    def gt(self) -> np.ndarray:
        """(H, W) bool: GT > FOREGROUND_THRESHOLD, pysodmetrics' binary GT (also the HCE skeleton's key)."""
        return self._normalized[1]

    @cached_property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(256,) int64 each: foreground and background GT pixels predicted >= each threshold (E and F)."""
        return fn.threshold_counts(self.pred_norm, self.gt)

    @cached_property
    def pred_fg(self) -> np.ndarray:
        """(H, W) bool: raw prediction > FOREGROUND_THRESHOLD, as DIS (HCE) and CascadePSP (mBA) binarise it."""
        return self.pred_raw > FOREGROUND_THRESHOLD

    def binarized_pred(self, binarize: str) -> np.ndarray:
        """HCE's binary prediction: ``"dis"`` = raw > 128 (the DIS repository, used for DIS5K tables);
        ``"pysod"`` = normalised > 0.5 (pysodmetrics; >= 128 on a map spanning 0..255)."""
        fn.check_binarize(binarize)
        return self.pred_fg if binarize == "dis" else self.pred_norm > 0.5


def image_pairs(preds: Iterable[Tensor | np.ndarray], target: Iterable[Tensor | np.ndarray]) -> list[ImagePair]:
    """Pairs from sequences (or (N, H, W) tensors) of uint8 maps, pairwise of equal size."""
    return [ImagePair(as_map_array(pred), as_map_array(gt)) for pred, gt in zip(preds, target, strict=True)]


def to_map(x: Tensor | np.ndarray, gt: bool = False) -> np.ndarray:
    """One (H, W) map as uint8 0-255 from what torchmetrics users pass: integers 0-255 as they are; bool as 0/255;
    floats as probabilities in [0, 1], x255 and truncated (what saving an 8-bit PNG does, inference/maps.py). A GT
    (``gt``) holding only 0 and 1 is a label map, read as 0/255 as the evaluator reads one (data.io.mask_values)."""
    x = as_map_array(x)
    if x.dtype == bool:
        x = x.astype(np.uint8) * 255
    elif np.issubdtype(x.dtype, np.floating):
        if x.size and (np.isnan(x).any() or x.min() < 0 or x.max() > 1):
            raise ValueError("float maps must be probabilities in [0, 1]; give uint8 maps (0-255) otherwise")
        x = (x * 255).astype(np.uint8)
    elif x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"integer maps must hold 0-255, got {x.min()}..{x.max()} ({x.dtype})")
        x = x.astype(np.uint8)
    return mask_values(x)[0] if gt else x


def batch_pairs(preds: Tensor | np.ndarray | Iterable, target: Tensor | np.ndarray | Iterable) -> list[ImagePair]:
    """The torchmetrics call's pairs: ``preds`` and ``target`` as (H, W) or (N, H, W) tensors or arrays, or sequences
    of (H, W) maps; each map as `to_map` reads it (a GT is foreground above 128 of 255)."""

    def maps(x: Tensor | np.ndarray | Iterable, gt: bool) -> list[np.ndarray]:
        if isinstance(x, (Tensor, np.ndarray)):
            x = as_map_array(x)
            return [to_map(x, gt)] if x.ndim == 2 else [to_map(item, gt) for item in x]
        return [to_map(item, gt) for item in x]

    return [ImagePair(pred, gt) for pred, gt in zip(maps(preds, False), maps(target, True), strict=True)]
