"""What the files of ``model export`` are, by name and metadata: the suffixes predict tells the formats apart by,
and the keys of ``--fastest``'s recorded choice. Imports nothing of the backends, so the choice's table
(inference/fastest.py) and the backends that describe it can both read it."""

from __future__ import annotations

from pathlib import Path

from mgd_sam2.models.checkpoints import openvino_model_of

# an export's suffix: the backend that runs it, and its format in words
EXPORT_BACKENDS = {".onnx": "onnx", ".xml": "openvino"}
EXPORT_FORMATS = {".onnx": "ONNX", ".xml": "OpenVINO IR"}
# metadata of `model export --fastest`'s choice (inference/fastest.py): the CPU kind it chose for, the precision to run
RECORD_KIND, RECORD_PRECISION = "cpu_kind", "precision"


def is_export(path: str | Path) -> bool:
    """Whether ``path`` names an export of ``model export`` (.onnx, .xml, or the .bin of a .xml) by its name."""
    return Path(path).suffix in EXPORT_FORMATS or openvino_model_of(path) is not None
