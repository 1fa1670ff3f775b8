"""One torchmetrics ``Metric`` per measure, on uint8 prediction/GT maps at GT resolution.

Every dataset number is a mean over images of a per-image scalar or of a per-image 256-point curve
(max/mean taken on the mean curve), so the states are sums, reduced by ``sum`` under DDP and giving
exactly the one-process result. Per-image values are kept as ``cat`` list states for reports.

Each metric splits its work into ``measure(pred, gt) -> result`` (the numpy part, picklable, so the
folder evaluator runs it in worker processes) and the state update, reached through ``update``
either with maps (``update(preds, target)``) or with measured results (``update(results=[...])``),
so torchmetrics' update bookkeeping (compute cache, update count) always runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from mgd_sam2.metrics import functional as fn
from mgd_sam2.metrics.skeletons import SkeletonCache


def as_uint8_map(x: Tensor | np.ndarray) -> np.ndarray:
    """A 2-D uint8 numpy map from a tensor or array ((1, H, W) is squeezed)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    return x


class ImageMeasure(Metric):
    """Base class: per-image scalars (``SCALARS``) and 256-point curves (``CURVES``) summed over images."""

    SCALARS: tuple[str, ...] = ()
    CURVES: tuple[str, ...] = ()
    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        for name in self.SCALARS:
            self.add_state(f"sum_{name}", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"values_{name}", [], dist_reduce_fx="cat")
        for name in self.CURVES:
            self.add_state(f"curve_{name}", torch.zeros(fn.NUM_THRESHOLDS, dtype=torch.float64), dist_reduce_fx="sum")

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        """Per-image work on raw uint8 maps -> {scalar name: float, curve name: (256,) array}."""
        raise NotImplementedError

    def add(self, result: dict[str, Any]) -> None:
        """State update for one measured image; called by ``update`` only."""
        self.count += 1
        for name in self.SCALARS:
            value = result[name]
            getattr(self, f"values_{name}").append(torch.tensor([value], dtype=torch.float64, device=self.device))
            setattr(self, f"sum_{name}", getattr(self, f"sum_{name}") + value)
        for name in self.CURVES:
            curve = getattr(self, f"curve_{name}")
            setattr(
                self,
                f"curve_{name}",
                curve + torch.from_numpy(np.asarray(result[name], dtype=np.float64)).to(curve.device),
            )

    def update(
        self,
        preds: Iterable[Tensor | np.ndarray] = (),
        target: Iterable[Tensor | np.ndarray] = (),
        results: Iterable[dict[str, Any]] = (),
    ) -> None:
        """preds, target: sequences (or (N, H, W) tensors) of uint8 maps, pairwise of equal size;
        or ``results`` of :meth:`measure` computed elsewhere."""
        for pred, gt in zip(preds, target, strict=True):
            pred, gt = as_uint8_map(pred), as_uint8_map(gt)
            fn.check_pair(pred, gt)
            self.add(self.measure(pred, gt))
        for result in results:
            self.add(result)

    def mean(self, name: str) -> Tensor:
        return getattr(self, f"sum_{name}") / self.count.clamp(min=1)

    def compute(self) -> dict[str, Tensor]:
        """Dataset values: the mean over images of each per-image scalar (curve measures override this)."""
        return {name: self.mean(name) for name in self.SCALARS}

    def per_image(self) -> dict[str, Tensor]:
        """Per-image values in update order (gathered across processes when called inside compute)."""
        values = {name: getattr(self, f"values_{name}") for name in self.SCALARS}
        # a list state is a list before syncing and one concatenated tensor after it
        return {
            name: dim_zero_cat(v) if isinstance(v, Tensor) or v else torch.empty(0, dtype=torch.float64)
            for name, v in values.items()
        }


class SMeasure(ImageMeasure):
    """Structure measure S_alpha (alpha = 0.5), Fan et al. ICCV 2017."""

    SCALARS = ("Smeasure",)

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        return {"Smeasure": fn.s_measure(*fn.normalize(pred, gt))}


class MeanAbsoluteError(ImageMeasure):
    """MAE of the normalised prediction against the binary GT, averaged per image (not per pixel)."""

    SCALARS = ("MAE",)
    higher_is_better = False

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        return {"MAE": fn.mae(*fn.normalize(pred, gt))}


class WeightedFMeasure(ImageMeasure):
    """Weighted F-measure (beta^2 = 1), Margolin et al. CVPR 2014; 0 for an empty GT."""

    SCALARS = ("wFmeasure",)

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        return {"wFmeasure": fn.weighted_f_measure(*fn.normalize(pred, gt))}


class EMeasure(ImageMeasure):
    """Enhanced-alignment measure: adaptive, and mean/max of the mean-over-images 256-threshold curve."""

    SCALARS = ("adpEm", "meanEm", "maxEm")  # per image; dataset mean/max come from the mean curve
    CURVES = ("em",)

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        pred_norm, gt_bool = fn.normalize(pred, gt)
        result = fn.e_measure(pred_norm, gt_bool, fn.threshold_counts(pred_norm, gt_bool))
        curve = result["curve"]
        return {"em": curve, "adpEm": result["adaptive"], "meanEm": float(curve.mean()), "maxEm": float(curve.max())}

    def compute(self) -> dict[str, Tensor]:
        curve = self.curve_em / self.count.clamp(min=1)
        return {"adpEm": self.mean("adpEm"), "meanEm": curve.mean(), "maxEm": curve.max(), "em_curve": curve}


class FMeasure(ImageMeasure):
    """F-measure (beta^2 = 0.3): adaptive, and mean/max of the mean-over-images curve; with PR curves."""

    SCALARS = ("adpFm", "meanFm", "maxFm")
    CURVES = ("fm", "precision", "recall")

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        pred_norm, gt_bool = fn.normalize(pred, gt)
        result = fn.f_measure(pred_norm, gt_bool, fn.threshold_counts(pred_norm, gt_bool))
        curve = result["curve"]
        return {
            "fm": curve,
            "precision": result["precision"],
            "recall": result["recall"],
            "adpFm": result["adaptive"],
            "meanFm": float(curve.mean()),
            "maxFm": float(curve.max()),
        }

    def compute(self) -> dict[str, Tensor]:
        n = self.count.clamp(min=1)
        curve = self.curve_fm / n
        return {
            "adpFm": self.mean("adpFm"),
            "meanFm": curve.mean(),
            "maxFm": curve.max(),
            "fm_curve": curve,
            "precision_curve": self.curve_precision / n,
            "recall_curve": self.curve_recall / n,
        }


class HumanCorrectionEffort(ImageMeasure):
    """HCE_gamma (relax 5, epsilon 2.0), Qin et al. ECCV 2022; lower is better.

    ``binarize="dis"`` (default, for DIS5K tables) thresholds the raw prediction at > 128 as the DIS
    repository does; ``"pysod"`` min-max normalises first and thresholds at > 0.5 as pysodmetrics
    does (a pixel of exactly 128 counts as foreground there). GT skeletons are cached on disk
    (``skeleton_cache``: a folder, True for the default ~/.cache/mgd_sam2/skeletons, False for none).
    """

    SCALARS = ("HCE",)
    higher_is_better = False

    def __init__(self, binarize: str = "dis", skeleton_cache: bool | str | Path = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fn.check_binarize(binarize)
        self.binarize = binarize
        self.skeletons = SkeletonCache(None if skeleton_cache is True else skeleton_cache) if skeleton_cache else None

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        skeleton = self.skeletons.get(gt > 128) if self.skeletons else None
        return {"HCE": fn.human_correction_effort(pred, gt, skeleton=skeleton, binarize=self.binarize)}


class MeanBoundaryAccuracy(ImageMeasure):
    """mBA (CascadePSP): boundary accuracy over 5 band radii, averaged over the images whose GT has a boundary."""

    SCALARS = ("mBA",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("bounded", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def measure(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
        accuracy = fn.boundary_accuracy(pred, gt)
        return {"mBA": float("nan") if accuracy is None else accuracy}

    def add(self, result: dict[str, Any]) -> None:
        value = result["mBA"]
        self.count += 1
        self.values_mBA.append(torch.tensor([value], dtype=torch.float64, device=self.device))
        if not np.isnan(value):
            self.bounded += 1
            self.sum_mBA = self.sum_mBA + value

    def compute(self) -> dict[str, Tensor]:
        return {"mBA": self.sum_mBA / self.bounded.clamp(min=1)}


METRIC_CLASSES: dict[str, type[ImageMeasure]] = {
    "S": SMeasure,
    "E": EMeasure,
    "F": FMeasure,
    "wF": WeightedFMeasure,
    "MAE": MeanAbsoluteError,
    "HCE": HumanCorrectionEffort,
    "mBA": MeanBoundaryAccuracy,
}
# The JSON keys of every scalar result, in table order (pysodmetrics' names).
SCALAR_KEYS = ("Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "maxEm", "adpFm", "meanFm", "maxFm", "HCE", "mBA")


def build_metrics(
    names: Iterable[str] = METRIC_CLASSES, hce_binarize: str = "dis", skeleton_cache: bool | str | Path = True
) -> dict[str, ImageMeasure]:
    """The measures called ``names`` (keys of METRIC_CLASSES), configured."""
    metrics: dict[str, ImageMeasure] = {}
    for name in names:
        if name not in METRIC_CLASSES:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_CLASSES)}")
        options = {"binarize": hce_binarize, "skeleton_cache": skeleton_cache} if name == "HCE" else {}
        metrics[name] = METRIC_CLASSES[name](**options)
    return metrics


def scalar_results(metrics: dict[str, ImageMeasure]) -> dict[str, float]:
    """compute() of every metric, scalars only, as floats keyed by pysodmetrics' names in table order."""
    merged: dict[str, Tensor] = {}
    for metric in metrics.values():
        merged.update(metric.compute())
    return {key: float(merged[key]) for key in SCALAR_KEYS if key in merged}
