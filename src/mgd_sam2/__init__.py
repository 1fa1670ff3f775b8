"""MGD-SAM2: SAM2 with multi-view adapters for prompt-free high-resolution segmentation.

``from mgd_sam2 import Segmenter`` is the Python API (inference/segmenter.py); the metrics are torchmetrics
classes (``from mgd_sam2 import SMeasure``); every error that is the input's fault is a ``UserError``.
"""

from __future__ import annotations

import os

from mgd_sam2.utils.lazy import lazy_exports

# albumentations asks pypi.org for a newer release as it is imported (predict imports it too): no calls home from a
# user's machine, as the app's Gradio analytics are off; a user's own setting wins
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

# importing mgd_sam2 stays light (the CLI's --help needs no torch): the public names load on first use
PUBLIC = {
    "Segmenter": "mgd_sam2.inference.segmenter",
    "InferenceSettings": "mgd_sam2.inference.segmenter",
    "Detail": "mgd_sam2.inference.detail",
    "MGDSAM2": "mgd_sam2.models.network",
    "NetworkConfig": "mgd_sam2.models.network",
    "SMeasure": "mgd_sam2.metrics.sod",
    "EMeasure": "mgd_sam2.metrics.sod",
    "FMeasure": "mgd_sam2.metrics.sod",
    "WeightedFMeasure": "mgd_sam2.metrics.sod",
    "MeanAbsoluteError": "mgd_sam2.metrics.sod",
    "HumanCorrectionEffort": "mgd_sam2.metrics.sod",
    "MeanBoundaryAccuracy": "mgd_sam2.metrics.sod",
    "UserError": "mgd_sam2.errors",
    "ConfigError": "mgd_sam2.errors",
    "CheckpointError": "mgd_sam2.models.checkpoints",
    "UnreadableImageError": "mgd_sam2.data.io",
}
__all__ = ["__version__", *PUBLIC]


__getattr__, __dir__ = lazy_exports(__name__, PUBLIC)
