"""A disk cache of GT skeletons for HCE, keyed by the binarised GT's content, outside any dataset folder.

Skeletonising a large GT dominates HCE's cost (16 of 19 s on a 12 MP mask here); the skeleton
depends on the GT alone, so it is computed once per GT and reused by every later evaluation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from mgd_sam2.metrics.functional import gt_skeleton
from mgd_sam2.utils.cache import cache_dir
from mgd_sam2.utils.files import atomic_path


class SkeletonCache:
    """``cache.get(gt)`` returns the skeleton of boolean ``gt``, from disk when seen before."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_dir("skeletons")

    @staticmethod
    def key(gt: np.ndarray) -> str:
        digest = hashlib.sha1(np.packbits(gt).tobytes())
        digest.update(np.asarray(gt.shape, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def get(self, gt: np.ndarray) -> np.ndarray:
        path = self.directory / f"{self.key(gt)}.png"
        if path.is_file():
            try:
                skeleton = np.asarray(Image.open(path)) > 0
                if skeleton.shape == gt.shape:
                    return skeleton
            except OSError:
                pass  # a damaged cache file is recomputed and replaced below
        skeleton = gt_skeleton(gt)
        with atomic_path(path) as temporary:  # concurrent writers (DDP ranks, workers) never expose half a file
            Image.fromarray(skeleton).save(temporary, format="PNG")  # 1-bit: an eighth of the bytes to write
        return skeleton
