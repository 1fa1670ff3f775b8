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

from mgd_sam2.data.io import FOREGROUND_THRESHOLD
from mgd_sam2.metrics import functional as fn


def as_uint8_map(x: Tensor | np.ndarray) -> np.ndarray:
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
        ``"pysod"`` = normalised > 0.5 (pysodmetrics; >= 128 on a 0..255 map)."""
        fn.check_binarize(binarize)
        return self.pred_fg if binarize == "dis" else self.pred_norm > 0.5


def image_pairs(preds: Iterable[Tensor | np.ndarray], target: Iterable[Tensor | np.ndarray]) -> list[ImagePair]:
    """Pairs from sequences (or (N, H, W) tensors) of uint8 maps, pairwise of equal size."""
    return [ImagePair(as_uint8_map(pred), as_uint8_map(gt)) for pred, gt in zip(preds, target, strict=True)]


def to_map(x: Tensor | np.ndarray) -> np.ndarray:
    """One (H, W) map as uint8 0-255 from what torchmetrics users pass: uint8 as is; bool as 0/255; floats as
    probabilities in [0, 1], x255 and truncated (what saving an 8-bit PNG does, inference/maps.py)."""
    x = as_uint8_map(x)
    if x.dtype == bool:
        return x.astype(np.uint8) * 255
    if np.issubdtype(x.dtype, np.floating):
        if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1 or np.isnan(x).any()):
            raise ValueError("float maps must be probabilities in [0, 1]; give uint8 maps (0-255) otherwise")
        return (x * 255).astype(np.uint8)
    return x


def batch_pairs(preds: Tensor | np.ndarray | Iterable, target: Tensor | np.ndarray | Iterable) -> list[ImagePair]:
    """The torchmetrics call's pairs: ``preds`` and ``target`` as (H, W) or (N, H, W) tensors or arrays, or sequences
    of (H, W) maps; each map as :func:`to_map` reads it (a GT is foreground above 128 of 255)."""

    def maps(x: Tensor | np.ndarray | Iterable) -> list[np.ndarray]:
        if isinstance(x, (Tensor, np.ndarray)):
            x = as_uint8_map(x)
            return [to_map(x)] if x.ndim == 2 else [to_map(item) for item in x]
        return [to_map(item) for item in x]

    return [ImagePair(pred, gt) for pred, gt in zip(maps(preds), maps(target), strict=True)]
