"""Per-image measures at GT resolution, following the evaluation protocol of docs/design.md.

The measures take the arrays of one prepared image (``metrics.pairs.ImagePair``): the normalised
prediction, the binary GT, their threshold counts or the binarised prediction. pysodmetrics 1.6.2 is
used as is where it does the job (S-measure, weighted F, MAE, HCE's boundary bookkeeping); F- and
E-measure curves are computed here from one shared histogram pass (pysodmetrics builds it twice with
``np.histogram``), with pysodmetrics' exact formulas, which tests check to 1e-6; mBA is not in
pysodmetrics and follows CascadePSP's ``compute_boundary_acc``.
"""

from __future__ import annotations

from typing import Literal, get_args

import cv2
import numpy as np
from py_sod_metrics.sod_metrics import MAE, HumanCorrectionEffortMeasure, Smeasure, WeightedFmeasure
from py_sod_metrics.utils import EPS, prepare_data
from skimage.morphology import skeletonize

NUM_THRESHOLDS = 256  # curve index k <-> threshold 255 - k on the 8-bit map (pysodmetrics' order)
F_BETA2 = 0.3  # beta^2 of the F-measure
HceBinarization = Literal["dis", "pysod"]  # raw > 128 as the DIS repository; normalised > 0.5 as pysodmetrics
HCE_BINARIZATIONS: tuple[str, ...] = get_args(HceBinarization)


def check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    """Both 2-D uint8 of the same shape, or a ValueError saying which is off."""
    for name, array in (("prediction", pred), ("ground truth", gt)):
        if array.dtype != np.uint8 or array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D uint8 map, got {array.dtype} with shape {array.shape}")
    if pred.shape != gt.shape:
        raise ValueError(
            f"prediction {pred.shape} and ground truth {gt.shape} differ in size; resize the prediction to the GT"
        )


def normalize(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pysodmetrics' input preparation: GT > 128; prediction / 255, min-max normalised when not constant."""
    return prepare_data(pred, gt)


def threshold_counts(pred_norm: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background GT pixels predicted >= each threshold, index 0 = threshold 255.

    One ``bincount`` over ``value + 256 * gt`` replaces pysodmetrics' two ``np.histogram`` calls;
    the counts are the same integers.
    """
    levels = (pred_norm * 255).astype(np.uint8)  # truncation, as pysodmetrics
    hist = np.bincount(levels.ravel().astype(np.int64) + 256 * gt.ravel(), minlength=512)
    bg_hist, fg_hist = hist[:256], hist[256:]
    return np.cumsum(np.flip(fg_hist)), np.cumsum(np.flip(bg_hist))


def adaptive_threshold(pred_norm: np.ndarray) -> float:
    return min(2 * pred_norm.mean(), 1)


def f_measure(
    pred_norm: np.ndarray, gt: np.ndarray, counts: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray | float]:
    """F-measure (beta^2 = 0.3) curve with its precision and recall, plus the adaptive F."""
    tp, fp = counts
    predicted = tp + fp
    predicted[predicted == 0] = 1
    precision = tp / predicted
    recall = tp / max(np.count_nonzero(gt), 1)
    numerator = (1 + F_BETA2) * precision * recall
    curve = numerator / np.where(numerator == 0, 1, F_BETA2 * precision + recall)

    binary = pred_norm >= adaptive_threshold(pred_norm)
    intersection = binary[gt].sum()
    if intersection == 0:
        adaptive = 0.0
    else:
        pre, rec = intersection / np.count_nonzero(binary), intersection / np.count_nonzero(gt)
        adaptive = (1 + F_BETA2) * pre * rec / (F_BETA2 * pre + rec)
    return {"curve": curve, "precision": precision, "recall": recall, "adaptive": float(adaptive)}


def _enhanced_alignment_sum(tp, fp, gt_fg: int, size: int):
    """Sum of the enhanced alignment matrix for binary maps with ``tp``/``fp`` counts (scalars or curves)."""
    pred_fg = tp + fp
    pred_bg = size - pred_fg
    if gt_fg == 0:
        return pred_bg
    if gt_fg == size:
        return pred_fg
    fn = gt_fg - tp
    tn = pred_bg - fn
    mean_pred, mean_gt = pred_fg / size, gt_fg / size
    parts = (
        (tp, 1 - mean_pred, 1 - mean_gt),
        (fp, 1 - mean_pred, -mean_gt),
        (fn, -mean_pred, 1 - mean_gt),
        (tn, -mean_pred, -mean_gt),
    )
    total = 0
    for numel, demeaned_pred, demeaned_gt in parts:
        align = 2 * (demeaned_pred * demeaned_gt) / (demeaned_pred**2 + demeaned_gt**2 + EPS)
        total = total + (align + 1) ** 2 / 4 * numel
    return total


def e_measure(
    pred_norm: np.ndarray, gt: np.ndarray, counts: tuple[np.ndarray, np.ndarray]
) -> dict[str, np.ndarray | float]:
    """E-measure curve over the 256 thresholds and the adaptive E (Fan et al. 2018)."""
    size = gt.size
    gt_fg = int(np.count_nonzero(gt))
    tp, fp = counts
    curve = _enhanced_alignment_sum(tp, fp, gt_fg, size) / (size - 1 + EPS)
    binary = pred_norm >= adaptive_threshold(pred_norm)
    adaptive_tp = np.count_nonzero(binary & gt)
    adaptive_fp = np.count_nonzero(binary & ~gt)
    adaptive = _enhanced_alignment_sum(adaptive_tp, adaptive_fp, gt_fg, size) / (size - 1 + EPS)
    return {"curve": np.asarray(curve, dtype=np.float64), "adaptive": float(adaptive)}


def s_measure(pred_norm: np.ndarray, gt: np.ndarray) -> float:
    return float(Smeasure(alpha=0.5).cal_sm(pred_norm, gt))


def weighted_f_measure(pred_norm: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F (beta^2 = 1); 0 for an empty GT, as pysodmetrics."""
    return 0.0 if not gt.any() else float(WeightedFmeasure(beta=1).cal_wfm(pred_norm, gt))


def mae(pred_norm: np.ndarray, gt: np.ndarray) -> float:
    return float(MAE().cal_mae(pred_norm, gt))


def gt_skeleton(gt: np.ndarray) -> np.ndarray:
    """Skeleton of the binarised GT (bool), as both DIS and pysodmetrics compute it."""
    return skeletonize(gt).astype(bool)


_HCE_BOOKKEEPING = HumanCorrectionEffortMeasure(relax=5, epsilon=2.0)


def check_binarize(binarize: str) -> None:
    if binarize not in HCE_BINARIZATIONS:
        raise ValueError(f"HCE binarize must be one of {HCE_BINARIZATIONS}, got {binarize!r}")


def human_correction_effort(
    pred: np.ndarray, gt: np.ndarray, skeleton: np.ndarray | None = None, relax: int = 5, epsilon: float = 2.0
) -> float:
    """HCE (Qin et al. 2022) of a binary prediction against the binary GT, both (H, W) bool.

    The prediction's binarisation is the caller's choice (``ImagePair.binarized_pred``). ``skeleton`` is the
    GT skeleton when cached, else it is computed here.
    """
    if skeleton is None:
        skeleton = gt_skeleton(gt)
    kernel = _HCE_BOOKKEEPING.morphology_kernel
    tp = gt & pred
    fp = pred ^ tp
    fn = gt ^ tp
    eroded_union = cv2.erode((gt | pred).astype(np.uint8), kernel, iterations=relax)

    fp_relaxed = fp & eroded_union.astype(bool)  # FP slivers within `relax` px of the true region are forgiven
    for _ in range(relax):
        fp_relaxed = cv2.dilate(fp_relaxed.astype(np.uint8), kernel).astype(bool) & ~gt
    fp_relaxed &= fp
    fn_relaxed = fn & eroded_union.astype(bool)
    for _ in range(relax):
        fn_relaxed = cv2.dilate(fn_relaxed.astype(np.uint8), kernel).astype(bool) & ~pred
    fn_relaxed &= fn
    fn_relaxed |= skeleton ^ (tp & skeleton)  # missed thin structures always count

    total = 0
    for region, condition in ((fp_relaxed, tp | fn_relaxed), (fn_relaxed, ~(tp | fp_relaxed | fn_relaxed))):
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        boundaries, independent = _HCE_BOOKKEEPING.filter_conditional_boundary(contours, region, condition)
        total += _HCE_BOOKKEEPING.count_polygon_control_points(boundaries, epsilon=epsilon) + independent
    return float(total)


def boundary_accuracy(pred: np.ndarray, gt: np.ndarray, num_steps: int = 5) -> float | None:
    """BA of CascadePSP: accuracy of the binary prediction (the raw map > 128) within GT boundary bands of
    5 radii from 1 to (h+w)/300; ``pred`` and ``gt`` (H, W) bool.

    Returns None when the GT has no boundary (empty or full mask): the band is empty and the
    reference divides 0 by 0. Such images are left out of mBA.
    """
    height, width = gt.shape
    max_radius = (width + height) / 300
    accuracies = []
    for step in range(num_steps):
        radius = 1 + int((max_radius - 1) / num_steps * step)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        band = cv2.morphologyEx(gt.view(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0
        band_pixels = np.count_nonzero(band)
        if band_pixels == 0:
            return None
        accuracies.append(np.count_nonzero(gt[band] == pred[band]) / band_pixels)
    return float(sum(accuracies) / num_steps)
