"""``model export``'s ONNX export and quantizations, each in a fresh process (utils/isolated.py), so that their
memory peaks do not add up: the export holds the PyTorch network and its exporter's graphs, ONNX Runtime's and NNCF's
quantizations hold the ONNX model and their own copies (docs/benchmarks.md, Speed, for the peaks). The export also
computes PyTorch's logits the quantized models are compared with, so the quantizations need no network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from mgd_sam2.models.network import MGDSAM2
from mgd_sam2.utils.isolated import run_isolated


class NetworkSource(Protocol):
    """What builds the network to export, in the export's own process (it must pickle)."""

    def load(self) -> MGDSAM2: ...


@dataclass(frozen=True)
class Exported:
    """The fp32 export's check and what its quantizations need from PyTorch."""

    report: dict[str, float]  # export_onnx's: "seconds" and the distance from PyTorch
    input_size: int
    grid: int
    check_logits: np.ndarray  # PyTorch's logits on the seeded check input
    calibration_logits: np.ndarray | None  # and on the first calibration image (None: no calibration)


def export_network(
    source: NetworkSource, path: Path, calibration: list[Path], record: dict[str, str] | None
) -> Exported:
    """Load the network, export it to ``path`` and compute PyTorch's logits on the first ``calibration`` image
    (the export's step; run in its own process)."""
    from mgd_sam2.inference.export import CalibrationViews, export_onnx, torch_logits

    network = source.load()
    export = export_onnx(network, path, record)
    first = CalibrationViews(calibration[:1], network.input_size, network.grid)[0] if calibration else None
    calibration_logits = torch_logits(network, first) if first is not None else None
    return Exported(export.report, network.input_size, network.grid, export.check_logits, calibration_logits)


def export_steps(
    source: NetworkSource,
    onnx: Path,
    int8: Path | None = None,
    openvino_int8: Path | None = None,
    calibration: list[Path] | None = None,
    record: dict[str, str] | None = None,
) -> Iterator[tuple[Path, dict[str, float]]]:
    """Write the fp32 ONNX export, then ONNX Runtime's int8 (``int8``) and OpenVINO's calibrated int8
    (``openvino_int8``, needs ``calibration`` images), each in a fresh process; yields (file, its distance from
    PyTorch) after each. ``record`` goes into the metadata of the file predict should run: the quantized one, else
    the fp32 export."""
    from mgd_sam2.inference.export import CalibrationViews, quantize_onnx, quantize_openvino

    calibration = calibration or []
    quantized = int8 or openvino_int8
    exported = run_isolated(export_network, source, onnx, calibration if openvino_int8 else [],
                            None if quantized else record)  # fmt: skip
    yield onnx, exported.report
    if int8:
        yield int8, run_isolated(quantize_onnx, onnx, int8, exported.check_logits, record)
    if openvino_int8:
        views = CalibrationViews(calibration, exported.input_size, exported.grid)
        report = run_isolated(quantize_openvino, onnx, openvino_int8, views, exported.calibration_logits, record)
        yield openvino_int8, report
