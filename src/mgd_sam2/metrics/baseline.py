"""The trivial baseline a trained model must beat: one constant image, the mean of the training masks.

The mean is taken over the training masks only, each resized to a common square (bilinear, in [0, 1]); for every
test image it is resized to the image's size and saved as its 8-bit prediction (x255, truncated, as predictions
are), then scored like any prediction. A model that scores no better than this has learnt where objects tend to be,
not what they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from mgd_sam2.data.io import read_mask
from mgd_sam2.metrics.pairs import image_pairs
from mgd_sam2.metrics.sod import METRIC_CLASSES, build_metrics, scalar_results

MEAN_MASK_SIDE = 256  # the common square the training masks are averaged at, in pixels


def mean_mask(masks: Iterable[str | Path], side: int = MEAN_MASK_SIDE) -> np.ndarray:
    """(side, side) float32 in [0, 1]: the mean of the masks, each resized bilinearly to the square."""
    total, count = np.zeros((side, side), np.float64), 0
    for path in masks:
        mask = Image.fromarray(read_mask(path)).resize((side, side), Image.Resampling.BILINEAR)
        total += np.asarray(mask, np.float64) / 255
        count += 1
    if not count:
        raise ValueError("no training masks to average")
    return (total / count).astype(np.float32)


def constant_map(mean: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) uint8: the mean mask resized bilinearly to an image's size, x255 and truncated."""
    resized = Image.fromarray(mean, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return (np.clip(np.asarray(resized), 0, 1) * 255).astype(np.uint8)


def constant_scores(
    mean: np.ndarray, gt_masks: Iterable[str | Path], metric_names: Iterable[str] = METRIC_CLASSES
) -> dict[str, float]:
    """Scores (pysodmetrics' names) of predicting ``mean`` for every GT mask, at the GT's resolution."""
    metrics = build_metrics(list(metric_names))
    for path in gt_masks:
        gt = read_mask(path)
        metrics.update(image_pairs([constant_map(mean, *gt.shape)], [gt]))
    return scalar_results(metrics.compute())


def synthetic_constant_scores(synthetic: str | Path, splits: Iterable[str]) -> dict[str, dict[str, float]]:
    """{split: scores} of the mean SYN-TR mask predicted for every image of each split of a synthetic dataset
    (``mgd-sam2 demo`` and ``benchmark ablation`` report it)."""
    synthetic = Path(synthetic)
    mean = mean_mask(sorted((synthetic / "SYN-TR" / "gt").glob("*.png")))  # the training masks, and only those
    return {split: constant_scores(mean, sorted((synthetic / split / "gt").glob("*.png"))) for split in splits}
