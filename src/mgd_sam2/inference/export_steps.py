"""``model export``'s ONNX export and quantizations, each in a fresh process (utils/isolated.py), so that their
memory peaks do not add up: the export holds the PyTorch network and its exporter's graphs, ONNX Runtime's and NNCF's
quantizations hold the ONNX model and their own copies (docs/benchmarks.md, Speed, for the peaks). The export also
computes PyTorch's logits the quantized models are compared with, so the quantizations need no network.

Each file written is also checked as a user runs it: its mask of a check image (the seeded `check_image`; for the
calibrated int8, an image held out of its calibration) through `Segmenter` (predict's path:
views, backend, resizing, 8-bit map), against PyTorch's mask of the same image through the same path, in grey levels
("mask_mean_levels", "mask_max_levels" in each step's report), and each report has its process's own memory peak
("peak_host_memory_mb"). The fp32 export is refused beyond
EXPORT_MASK_LEVELS; a quantized file's distance is reported (its bounds are the user's to judge: docs/benchmarks.md;
``model export`` warns where the calibrated int8's is past BOUND_MASK_LEVELS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mgd_sam2.errors import ConfigError
from mgd_sam2.models.network import MGDSAM2
from mgd_sam2.utils.isolated import resident_mb, run_isolated


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
    held_out_logits: np.ndarray | None  # and on the image held out of the calibration (None: no calibration)
    check_mask: np.ndarray  # PyTorch's (H, W) uint8 mask of check_image through Segmenter
    held_out_mask: np.ndarray | None  # and of the held-out image


# Largest difference, in grey levels, between the fp32 export's mask and PyTorch's: logits within EXPORT_TOLERANCE
# of their scale, for logits up to about 30, move 255 sigmoid by at most 255 * 0.03 / 4 < 2 levels, and the
# truncation to 8 bits by one more; views cut or resized otherwise than predict does move regions by tens of levels.
EXPORT_MASK_LEVELS = 4

# The mean distance, in grey levels, within which every path --fastest chooses kept the demo model's masks
# (docs/benchmarks.md, Goals and terms): a calibrated int8 file farther on its held-out image gets a warning.
BOUND_MASK_LEVELS = 1.0


def check_image(input_size: int, seed: int = 0) -> np.ndarray:
    """A seeded (1.5 S, 2 S, 3) uint8 RGB image of noise, S the input size: larger than the input and not square, so
    that the masks compared go through predict's resizing both ways."""
    shape = (input_size + input_size // 2, 2 * input_size, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def mask_distance(path: Path, image: np.ndarray | Path, expected: np.ndarray, precision: str = "32-true") -> dict:
    """How far the mask of ``image`` from the export at ``path``, loaded and run as predict runs it (on the CPU, in
    ``precision``; OpenVINO without its compile cache, as the file may be thrown away), is from ``expected``: mean and
    largest difference in grey levels of 255."""
    from mgd_sam2.inference.detail import OFF
    from mgd_sam2.inference.segmenter import InferenceSettings, Segmenter

    settings = InferenceSettings.resolve(str(path), None, "auto", "cpu", precision, OFF)
    mask = Segmenter.from_settings(settings, cache=False).predict(image)
    difference = np.abs(mask.astype(np.int16) - expected)
    return {"mask_mean_levels": float(difference.mean()), "mask_max_levels": int(difference.max())}


def export_network(source: NetworkSource, path: Path, held_out: Path | None, record: dict[str, str] | None) -> Exported:
    """Load the network, export it to ``path``, check the export's mask against PyTorch's, and compute PyTorch's
    logits and mask of the ``held_out`` image, which a calibrated int8 file is checked on (the export's step; run in
    its own process)."""
    from mgd_sam2.inference.export import CalibrationViews, export_onnx, torch_logits
    from mgd_sam2.inference.segmenter import Segmenter

    network = source.load()
    export = export_onnx(network, path, record)
    reference = Segmenter.from_network(network, device="cpu", precision="32-true")
    image = check_image(network.input_size)
    check_mask = reference.predict(image)
    report = {**export.report, **mask_distance(path, image, check_mask)}
    if report["mask_max_levels"] > EXPORT_MASK_LEVELS:
        Path(path).unlink()
        raise ConfigError(
            f"the ONNX export's mask differs from PyTorch's by up to {report['mask_max_levels']} grey levels (allowed "
            f"{EXPORT_MASK_LEVELS}) although its logits agree; not written. Please report it with the preset and "
            "torch version."
        )
    held_out_logits = held_out_mask = None
    if held_out is not None:
        held_out_logits = torch_logits(network, CalibrationViews([held_out], network.input_size, network.grid)[0])
        held_out_mask = reference.predict(held_out)
    report["peak_host_memory_mb"] = resident_mb()[1]
    return Exported(report, network.input_size, network.grid, export.check_logits, held_out_logits, check_mask,
                    held_out_mask)  # fmt: skip


def quantize_checked(
    quantize: Callable[..., dict],
    image: np.ndarray | Path,
    expected_mask: np.ndarray,
    source: Path,
    path: Path,
    *args: Any,
) -> dict:
    """``quantize(source, path, *args)``, which writes ``path``, then its report with `mask_distance` of ``image`` (in
    bf16 where the report says the logits were compared in bf16, as predict runs it fastest) and this process's
    memory peak."""
    report = quantize(source, path, *args)
    precision = "bf16-mixed" if report.get("bf16") else "32-true"
    return {**report, **mask_distance(path, image, expected_mask, precision), "peak_host_memory_mb": resident_mb()[1]}


def export_steps(
    source: NetworkSource,
    onnx: Path,
    int8: Path | None = None,
    openvino_int8: Path | None = None,
    calibration: list[Path] | None = None,
    held_out: Path | None = None,
    record: dict[str, str] | None = None,
) -> Iterator[tuple[Path, dict[str, float]]]:
    """Write the fp32 ONNX export, then ONNX Runtime's int8 (``int8``) and OpenVINO's calibrated int8
    (``openvino_int8``: needs ``calibration`` images, and a ``held_out`` image like them, not among them, to check it
    on: checked on an image it was calibrated on, a model calibrated on too few images looks closer to PyTorch than
    it is), each in a fresh process; yields (file, its distance from PyTorch) after each. ``record`` goes into the
    metadata of the file predict should run: the quantized one, else the fp32 export."""
    from mgd_sam2.inference.export import CalibrationViews, quantize_onnx, quantize_openvino

    if openvino_int8 and (not calibration or held_out is None or held_out in calibration):
        raise ValueError("OpenVINO int8 needs calibration images and a held-out image not among them")
    quantized = int8 or openvino_int8
    exported = run_isolated(export_network, source, onnx, held_out if openvino_int8 else None,
                            None if quantized else record)  # fmt: skip
    yield onnx, exported.report
    if int8:
        yield int8, run_isolated(quantize_checked, quantize_onnx, check_image(exported.input_size),
                                 exported.check_mask, onnx, int8, exported.check_logits, record)  # fmt: skip
    if openvino_int8:
        views = CalibrationViews(calibration, exported.input_size, exported.grid)
        check = CalibrationViews([held_out], exported.input_size, exported.grid)  # read in the quantization's process
        report = run_isolated(quantize_checked, quantize_openvino, held_out, exported.held_out_mask, onnx,
                              openvino_int8, views, check, exported.held_out_logits, record)  # fmt: skip
        yield openvino_int8, report
