"""``benchmark backends``: one trained model's accuracy on every CPU backend and precision, next to torch fp32.

The weights are exported once per form with ``mgd-sam2 model export`` (ONNX fp32, ONNX Runtime int8, OpenVINO
int8 calibrated on ``calibration`` images, and ``--fastest``: the path chosen for this CPU's kind, run in the
precision it records), in a child process as a user runs it; each configuration then
predicts every split through `Segmenter` (predict's path), the files are
scored with the folder evaluator, and the 8-bit maps are compared with torch fp32's pixel for pixel (mean and
largest difference in grey levels). A bf16 configuration on a CPU without native bf16 is reported as skipped,
with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mgd_sam2.benchmark.accuracy import predict_split
from mgd_sam2.data.layouts import Split
from mgd_sam2.errors import UserError
from mgd_sam2.inference.cpu_kind import CpuKind
from mgd_sam2.inference.fastest import FASTEST, fastest_files
from mgd_sam2.metrics.evaluate import evaluate_folders
from mgd_sam2.utils.progress import console

SCORES = ("Smeasure", "maxFm", "MAE", "mBA", "HCE")  # what the table shows of each split


@dataclass(frozen=True)
class BackendRun:
    label: str  # as the table shows it
    form: str  # the weights it runs: "weights" (as given), "onnx", "onnx-int8", "openvino-int8" or "fastest" (exports)
    backend: str  # predict's --backend
    precision: str  # predict's --precision (auto: what the file records)


RUNS = (
    BackendRun("torch fp32", "weights", "torch", "32-true"),
    BackendRun("torch bf16", "weights", "torch", "bf16-mixed"),
    BackendRun("ONNX Runtime fp32", "onnx", "onnx", "32-true"),
    BackendRun("ONNX Runtime int8", "onnx-int8", "onnx", "32-true"),
    BackendRun("OpenVINO fp32", "onnx", "openvino", "32-true"),
    BackendRun("OpenVINO bf16", "onnx", "openvino", "bf16-mixed"),
    BackendRun("OpenVINO int8, fp32", "openvino-int8", "openvino", "32-true"),
    BackendRun("OpenVINO int8, bf16", "openvino-int8", "openvino", "bf16-mixed"),
    BackendRun("model export --fastest", "fastest", "auto", "auto"),
)
EXPORT_FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx", "openvino-int8": "model_int8.xml"}
FASTEST_STEM = "fastest"


def export_forms(
    weights: Path, weights_extra: Path | None, calibration: Path, count: int, folder: Path, cpu: CpuKind
) -> dict:
    """{form: file}: the weights as given, their three exports and the file of ``--fastest`` for ``cpu``'s kind,
    written by ``mgd-sam2 model export``."""
    files = {form: folder / name for form, name in EXPORT_FILES.items()}
    command = [sys.executable, "-m", "mgd_sam2.cli", "model", "export", "--ckpt", str(weights)]
    command += ["--weights", str(weights_extra)] if weights_extra else []
    calibrated = ["--calibration", str(calibration), "--calibration-images", str(count)]
    fastest = fastest_files(cpu, folder / FASTEST_STEM)
    for arguments in (["--onnx", str(files["onnx"]), "--int8", str(files["onnx-int8"]), "--openvino-int8",
                       str(files["openvino-int8"]), *calibrated],
                      ["--fastest", str(folder / FASTEST_STEM), "--cpu-kind", cpu.kind,
                       *(calibrated if fastest.openvino_int8 else [])]):  # fmt: skip
        if subprocess.run([*command, *arguments]).returncode != 0:
            raise UserError(f"mgd-sam2 model export failed (its message is above): {' '.join(command + arguments)}")
    return {"weights": weights, **files, "fastest": fastest.runs}


def map_distance(folder: Path, reference: Path) -> tuple[int, int, int]:
    """(sum of absolute differences, largest difference, pixels) of the 8-bit maps of ``folder`` from the maps of
    the same names in ``reference``."""
    total = largest = pixels = 0
    for path in sorted(reference.glob("*.png")):
        expected = np.asarray(Image.open(path), dtype=np.int16)
        difference = np.abs(np.asarray(Image.open(folder / path.name), dtype=np.int16) - expected)
        total, largest, pixels = (
            total + int(difference.sum()),
            max(largest, int(difference.max())),
            pixels + difference.size,
        )
    return total, largest, pixels


def predictions_folder(out: Path, run: BackendRun) -> Path:
    """Where ``run`` writes its maps (one folder per split below it)."""
    return out / "predictions" / f"{run.backend}-{run.form}" / run.precision


def fastest_label(run: BackendRun, cpu_kind: str, precision: str | None = None) -> str:
    """The --fastest row's label: the path chosen for ``cpu_kind``, run in ``precision`` (default: the recorded)."""
    return f"{run.label} ({cpu_kind}: {FASTEST[cpu_kind].describe(precision)})"


def run_backends(
    forms: dict[str, Path], weights_extra: Path | None, splits: list[Split], out: Path, cpu_kind: str, workers: int = 0
) -> list[dict[str, Any]]:
    """One row per configuration of RUNS: {"label", "backend", "precision", "file", "scores": {split: {metric:
    value}}, "maps_vs_fp32": {"mean", "max"}} or {"label", ..., "skipped": why}; the --fastest row's label and
    "cpu_kind" say the path chosen and the CPU kind it was chosen for."""
    from mgd_sam2.inference.segmenter import Segmenter

    rows: list[dict[str, Any]] = []
    reference = predictions_folder(out, RUNS[0])
    for run in RUNS:
        row: dict[str, Any] = {"label": run.label, "backend": run.backend, "precision": run.precision,
                               "file": forms[run.form].name}  # fmt: skip
        if run.form == "fastest":  # says what it chose
            row.update(label=fastest_label(run, cpu_kind), cpu_kind=cpu_kind)
        extra = weights_extra if run.form == "weights" else None
        try:
            segmenter = Segmenter.load(forms[run.form], weights_extra=extra, backend=run.backend, device="cpu",
                                       precision=run.precision)  # fmt: skip
        except UserError as error:  # bf16 on a CPU without native bf16
            rows.append({**row, "skipped": str(error)})
            console().print(f"[yellow]{run.label}: skipped: {error}")
            continue
        row["backend"], row["precision"] = segmenter.settings.backend, segmenter.settings.precision  # auto resolved
        if run.form == "fastest":  # in the precision it runs in, which a CPU without bf16 may not record
            row["label"] = fastest_label(run, cpu_kind, row["precision"])
        predictions = predictions_folder(out, run)
        row["scores"], total, largest, pixels = {}, 0, 0, 0
        for split in splits:
            folder = predict_split(segmenter, split, predictions, batch_size=1, workers=workers, tta=False)
            result = evaluate_folders(folder, split.mask_dir, workers=workers, progress=False)
            row["scores"][split.name] = {key: result.scores[key] for key in SCORES}
            distance = map_distance(folder, reference / split.name)
            total, largest, pixels = total + distance[0], max(largest, distance[1]), pixels + distance[2]
        row["maps_vs_fp32"] = {"mean": total / pixels, "max": largest}
        rows.append(row)
    return rows
