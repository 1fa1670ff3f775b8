"""Score a folder of saved 8-bit predictions against a folder of GT masks, at GT resolution.

Files pair by stem (``a.png`` with ``a.jpg`` is fine; two files with one stem is an error). The
per-image numpy work of every metric runs in DataLoader worker processes; the main process only
adds results to the metric states, so the numbers are those of the Metric classes used in training.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torchmetrics import MetricCollection

from mgd_sam2.data.io import UnreadableImageError, read_mask
from mgd_sam2.data.layouts import pair_by_stem
from mgd_sam2.errors import UserError
from mgd_sam2.metrics.pairs import ImagePair
from mgd_sam2.metrics.sod import METRIC_CLASSES, SCALAR_KEYS, build_metrics, measure_all, scalar_results
from mgd_sam2.utils.parallel import parallel_map


class EvaluationError(UserError, ValueError):
    """Inputs that cannot be scored as given; the message lists every offending file."""


def list_problems(title: str, items: list[str], hint: str, limit: int = 20) -> str:
    shown = "\n".join(f"  {item}" for item in items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n{shown}{more}\n{hint}"


def pair_files(pred_dir: str | Path, gt_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """[(stem, prediction, GT)] sorted by stem; every GT needs a prediction and vice versa."""
    for folder, role in ((Path(pred_dir), "prediction"), (Path(gt_dir), "ground-truth")):
        if not folder.is_dir():
            raise EvaluationError(f"{role} folder not found: {folder}")
    pairing = pair_by_stem(Path(pred_dir), Path(gt_dir))
    if pairing.stem_clashes:
        raise EvaluationError(
            list_problems("files sharing a name stem", pairing.stem_clashes, "Keep one file per stem.")
        )
    problems = [f"{path.stem}: no prediction in {pred_dir}" for path in pairing.masks_without_image]
    problems += [f"{path.stem}: no ground truth in {gt_dir}" for path in pairing.images_without_mask]
    if problems:
        raise EvaluationError(
            list_problems(
                "unpaired files",
                problems,
                "Predictions and GT masks pair by file stem; add or remove files so both folders match.",
            )
        )
    if not pairing.pairs:
        raise EvaluationError(f"no image files to score in {pred_dir} and {gt_dir}")
    return pairing.pairs


def check_headers(pairs: list[tuple[str, Path, Path]]) -> tuple[list[str], list[str]]:
    """(size mismatches, unreadable files), from the file headers only (no decoding)."""
    mismatched, unreadable = [], []
    for name, pred, gt in pairs:
        sizes = []
        for path in (pred, gt):
            try:
                with Image.open(path) as image:
                    sizes.append(image.size)
            except OSError as error:
                unreadable.append(f"{path}: {error}")
        if len(sizes) == 2 and sizes[0] != sizes[1]:
            mismatched.append(
                f"{name}: prediction {sizes[0][0]}x{sizes[0][1]} vs ground truth {sizes[1][0]}x{sizes[1][1]}"
            )
    return mismatched, unreadable


class PairMeasurer:
    """Picklable per-pair work: read both maps, prepare them once and run every metric's ``measure``.

    Returns (stem, (H, W), merged result of every metric), or (stem, None, error message) for a bad pair.
    """

    def __init__(self, metrics: MetricCollection, resize_pred: bool) -> None:
        self.metrics, self.resize_pred = metrics, resize_pred

    def __call__(self, pair: tuple[str, Path, Path]) -> tuple[str, Any, Any]:
        name, pred_path, gt_path = pair
        try:
            pred, gt = read_mask(pred_path), read_mask(gt_path)
        except UnreadableImageError as error:
            return name, None, str(error)
        if pred.shape != gt.shape:
            if not self.resize_pred:
                return name, None, f"prediction {pred.shape[::-1]} vs ground truth {gt.shape[::-1]} (W x H)"
            pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
        return name, gt.shape, measure_all(self.metrics, ImagePair(pred, gt))


@dataclass
class Evaluation:
    scores: dict[str, float]
    num_images: int
    per_image: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)

    def per_image_csv(self) -> str:
        buffer = io.StringIO()
        if self.per_image:
            writer = csv.DictWriter(buffer, fieldnames=list(self.per_image[0]))
            writer.writeheader()
            writer.writerows(self.per_image)
        return buffer.getvalue()


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    metric_names: list[str] | None = None,
    hce_binarize: str = "dis",
    skeleton_cache: bool | str | Path = True,
    workers: int = 2,
    resize_pred: bool = False,
    progress: bool = True,
) -> Evaluation:
    """All metrics over the paired folders; raises EvaluationError listing every bad file."""
    pairs = pair_files(pred_dir, gt_dir)
    mismatched, unreadable = check_headers(pairs)
    if unreadable:
        raise EvaluationError(list_problems("unreadable files", unreadable, "Re-export or remove them and run again."))
    if mismatched and not resize_pred:
        raise EvaluationError(
            list_problems(
                "predictions not at ground-truth resolution",
                mismatched,
                "Scores are computed at GT resolution: save predictions at each GT's size, or pass --resize-pred to "
                "resize them bilinearly (as PySODEvalToolkit does).",
            )
        )
    metrics = build_metrics(
        metric_names or list(METRIC_CLASSES), hce_binarize=hce_binarize, skeleton_cache=skeleton_cache
    )
    per_image, errors = [], []
    for name, shape, result in parallel_map(
        PairMeasurer(metrics, resize_pred), pairs, workers, "evaluating", show=progress
    ):
        if shape is None:
            errors.append(f"{name}: {result}")
            continue
        metrics.update(results=[result])
        scalars = {key: result[key] for key in SCALAR_KEYS if key in result}
        per_image.append({"name": name, "height": shape[0], "width": shape[1], **scalars})
    if errors:
        raise EvaluationError(
            list_problems("files that could not be scored", errors, "Fix or remove them and run again.")
        )
    computed = metrics.compute()
    curves = {name: value.tolist() for name, value in computed.items() if name.endswith("_curve")}
    return Evaluation(scores=scalar_results(computed), num_images=len(per_image), per_image=per_image, curves=curves)


def versions() -> dict[str, str]:
    """Library versions that the numbers depend on (HCE on OpenCV's approxPolyDP)."""
    from importlib.metadata import version

    return {
        "opencv": cv2.__version__,
        "pysodmetrics": version("pysodmetrics"),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
