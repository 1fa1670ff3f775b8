"""A disk cache of GT skeletons for HCE, keyed by the binarised GT's content, outside any dataset folder.

Skeletonising a large GT dominates HCE's cost (16 of 19 s on a 12 MP mask here); the skeleton
depends on the GT alone, so it is computed once per GT and reused by every later evaluation.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from mgd_sam2.metrics.functional import gt_skeleton


def default_cache_dir() -> Path:
    """``$MGD_SAM2_CACHE/skeletons``, else ``~/.cache/mgd_sam2/skeletons``."""
    root = os.environ.get("MGD_SAM2_CACHE")
    return Path(root) / "skeletons" if root else Path.home() / ".cache" / "mgd_sam2" / "skeletons"


class SkeletonCache:
    """``cache.get(gt)`` returns the skeleton of boolean ``gt``, from disk when seen before."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

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
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".png.tmp", delete=False) as handle:
            Image.fromarray(skeleton.astype(np.uint8) * 255).save(handle, format="PNG")
        os.replace(handle.name, path)  # atomic: concurrent writers (DDP ranks, workers) never expose half a file
        return skeleton
