"""Where this project caches derived data: never inside a user's dataset folder."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """``$MGD_SAM2_CACHE/<kind>``, else ``~/.cache/mgd_sam2/<kind>``."""
    root = os.environ.get("MGD_SAM2_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "mgd_sam2") / kind
