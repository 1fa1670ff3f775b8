"""One torchmetrics ``Metric`` per measure, on prepared prediction/GT pairs at GT resolution.

Every dataset number is a mean over images of a per-image scalar or of a per-image 256-point curve
(max/mean taken on the mean curve), so the states are sums, reduced by ``sum`` under DDP and giving
exactly the one-process result. Per-image values are kept as a ``cat`` list state for reports.

Each metric splits its work into ``measure(pair) -> result`` (numpy, reading the arrays that the
``ImagePair`` shares with the other metrics; the folder evaluator runs it in worker processes) and the
state update, reached through ``update`` either with pairs (``update(pairs)``) or with measured results
(``update(results=[...])``), so torchmetrics' update bookkeeping (compute cache, update count) always
runs. ``build_metrics`` groups them in a ``MetricCollection``; ``collection.update(image_pairs(preds,
target))`` prepares each image once for all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from mgd_sam2.metrics import functional as fn
from mgd_sam2.metrics.pairs import ImagePair, batch_pairs
from mgd_sam2.metrics.skeletons import SkeletonCache


class ImageMeasure(Metric):
    """Base class: per-image scalars (``SCALARS``, the columns of the ``sums`` and ``values`` states) averaged
    over images. Subclasses add their curve states (summed 256-point curves) in their own ``__init__``."""

    SCALARS: tuple[str, ...] = ()
    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("sums", torch.zeros(len(self.SCALARS), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("values", [], dist_reduce_fx="cat")  # one (1, len(SCALARS)) float64 row per image

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        """Per-image work -> {scalar name: float, curve name: (256,) array}."""
        raise NotImplementedError

    def add(self, result: dict[str, Any]) -> None:
        """State update for one measured image; called by ``update`` only."""
        row = torch.tensor([[result[name] for name in self.SCALARS]], dtype=torch.float64, device=self.device)
        self.count += 1
        self.values.append(row)
        self.sums += row[0]

    def update(self, preds: Any = (), target: Any = None, *, results: Iterable[dict[str, Any]] = ()) -> None:
        """As torchmetrics: ``update(preds, target)`` (or ``metric(preds, target)``, which returns the batch's
        values) with (H, W) or (N, H, W) tensors or arrays at GT resolution: predictions as uint8 maps or float
        probabilities in [0, 1], GT as uint8 (foreground > 128), bool or 0/1 floats. Or ``update(pairs)``: prepared
        ``ImagePair``s (``image_pairs`` makes them once for a whole collection); ``results``: outputs of
        `measure` computed elsewhere (the folder evaluator's workers)."""
        pairs: Sequence[ImagePair] = preds if target is None else batch_pairs(preds, target)
        for pair in pairs:
            if not isinstance(pair, ImagePair):
                raise TypeError(f"update takes ImagePairs (see image_pairs), got {type(pair).__name__}")
            self.add(self.measure(pair))
        for result in results:
            self.add(result)

    def means(self) -> dict[str, Tensor]:
        """The mean over images of each per-image scalar."""
        return dict(zip(self.SCALARS, self.sums / self.count.clamp(min=1), strict=True))

    def compute(self) -> dict[str, Tensor]:
        """Dataset values (curve measures override this)."""
        return self.means()

    def per_image(self) -> dict[str, Tensor]:
        """(N,) float64 per scalar, in update order (gathered across processes when called inside compute)."""
        values = self.values  # a list of rows before syncing, one (N, len(SCALARS)) tensor after it
        if isinstance(values, list):
            values = torch.cat(values) if values else torch.empty(0, len(self.SCALARS), dtype=torch.float64)
        return dict(zip(self.SCALARS, values.T, strict=True))


class SMeasure(ImageMeasure):
    """Structure measure S_alpha (alpha = 0.5), Fan et al. ICCV 2017."""

    SCALARS = ("Smeasure",)

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        return {"Smeasure": fn.s_measure(pair.pred_norm, pair.gt)}


class MeanAbsoluteError(ImageMeasure):
    """MAE of the normalised prediction against the binary GT, averaged per image (not per pixel)."""

    SCALARS = ("MAE",)
    higher_is_better = False

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        return {"MAE": fn.mae(pair.pred_norm, pair.gt)}


class WeightedFMeasure(ImageMeasure):
    """Weighted F-measure (beta^2 = 1), Margolin et al. CVPR 2014; 0 for an empty GT."""

    SCALARS = ("wFmeasure",)

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        return {"wFmeasure": fn.weighted_f_measure(pair.pred_norm, pair.gt)}


class EMeasure(ImageMeasure):
    """Enhanced-alignment measure: adaptive, and mean/max of the mean-over-images 256-threshold curve."""

    SCALARS = ("adpEm", "meanEm", "maxEm")  # per image; dataset mean/max come from the mean curve

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("em_curve", torch.zeros(fn.NUM_THRESHOLDS, dtype=torch.float64), dist_reduce_fx="sum")

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        result = fn.e_measure(pair.pred_norm, pair.gt, pair.counts)
        curve = result["curve"]
        return {
            "em_curve": curve,
            "adpEm": result["adaptive"],
            "meanEm": float(curve.mean()),
            "maxEm": float(curve.max()),
        }

    def add(self, result: dict[str, Any]) -> None:
        super().add(result)
        self.em_curve += self.em_curve.new_tensor(result["em_curve"])

    def compute(self) -> dict[str, Tensor]:
        curve = self.em_curve / self.count.clamp(min=1)
        return {"adpEm": self.means()["adpEm"], "meanEm": curve.mean(), "maxEm": curve.max(), "em_curve": curve}


class FMeasure(ImageMeasure):
    """F-measure (beta^2 = 0.3): adaptive, and mean/max of the mean-over-images curve; with PR curves."""

    SCALARS = ("adpFm", "meanFm", "maxFm")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("fm_curve", torch.zeros(fn.NUM_THRESHOLDS, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("precision_curve", torch.zeros(fn.NUM_THRESHOLDS, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("recall_curve", torch.zeros(fn.NUM_THRESHOLDS, dtype=torch.float64), dist_reduce_fx="sum")

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        result = fn.f_measure(pair.pred_norm, pair.gt, pair.counts)
        curve = result["curve"]
        return {
            "fm_curve": curve,
            "precision_curve": result["precision"],
            "recall_curve": result["recall"],
            "adpFm": result["adaptive"],
            "meanFm": float(curve.mean()),
            "maxFm": float(curve.max()),
        }

    def add(self, result: dict[str, Any]) -> None:
        super().add(result)
        self.fm_curve += self.fm_curve.new_tensor(result["fm_curve"])
        self.precision_curve += self.precision_curve.new_tensor(result["precision_curve"])
        self.recall_curve += self.recall_curve.new_tensor(result["recall_curve"])

    def compute(self) -> dict[str, Tensor]:
        n = self.count.clamp(min=1)
        curve = self.fm_curve / n
        return {
            "adpFm": self.means()["adpFm"],
            "meanFm": curve.mean(),
            "maxFm": curve.max(),
            "fm_curve": curve,
            "precision_curve": self.precision_curve / n,
            "recall_curve": self.recall_curve / n,
        }


class HumanCorrectionEffort(ImageMeasure):
    """HCE_gamma (relax 5, epsilon 2.0), Qin et al. ECCV 2022; lower is better.

    ``binarize="dis"`` (default, for DIS5K tables) thresholds the raw prediction at > 128 as the DIS
    repository does; ``"pysod"`` min-max normalises first and thresholds at > 0.5 as pysodmetrics
    does (on a map spanning 0-255 a pixel of exactly 128 counts as foreground there; on a narrower one the threshold
    moves with its range). GT skeletons are cached on disk
    (``skeleton_cache``: a folder, True for the default ~/.cache/mgd_sam2/skeletons, False for none).
    """

    SCALARS = ("HCE",)
    higher_is_better = False

    def __init__(self, binarize: str = "dis", skeleton_cache: bool | str | Path = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fn.check_binarize(binarize)
        self.binarize = binarize
        self.skeletons = SkeletonCache(None if skeleton_cache is True else skeleton_cache) if skeleton_cache else None

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        skeleton = self.skeletons.get(pair.gt) if self.skeletons else None
        return {"HCE": fn.human_correction_effort(pair.binarized_pred(self.binarize), pair.gt, skeleton=skeleton)}


class MeanBoundaryAccuracy(ImageMeasure):
    """mBA (CascadePSP): boundary accuracy over 5 band radii, averaged over the images whose GT has a boundary;
    the others are NaN per image."""

    SCALARS = ("mBA",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("bounded", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def measure(self, pair: ImagePair) -> dict[str, Any]:
        accuracy = fn.boundary_accuracy(pair.pred_fg, pair.gt)
        return {"mBA": float("nan") if accuracy is None else accuracy}

    def add(self, result: dict[str, Any]) -> None:
        value = result["mBA"]
        self.count += 1
        self.values.append(torch.tensor([[value]], dtype=torch.float64, device=self.device))
        if not np.isnan(value):
            self.bounded += 1
            self.sums += value

    def compute(self) -> dict[str, Tensor]:
        """NaN when no image has a GT boundary (mBA is undefined then, not 0)."""
        if not self.bounded:
            return {"mBA": torch.tensor(float("nan"), dtype=torch.float64, device=self.sums.device)}
        return {"mBA": self.sums[0] / self.bounded}


MetricName = Literal["S", "E", "F", "wF", "MAE", "HCE", "mBA"]  # the keys of METRIC_CLASSES, as a type for configs
METRIC_CLASSES: dict[str, type[ImageMeasure]] = {
    "S": SMeasure,
    "E": EMeasure,
    "F": FMeasure,
    "wF": WeightedFMeasure,
    "MAE": MeanAbsoluteError,
    "HCE": HumanCorrectionEffort,
    "mBA": MeanBoundaryAccuracy,
}
# The JSON keys of every scalar result, in table order (pysodmetrics' names): each scalar that a class of
# METRIC_CLASSES computes, and only those (a test checks; a key missing here would be dropped from every report).
SCALAR_KEYS = ("Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "maxEm", "adpFm", "meanFm", "maxFm", "HCE", "mBA")


def reordering_bound(images: int) -> float:
    """Largest relative change of a dataset value when the same per-image values are added in another order (another
    batching, another process split, another evaluator).

    Every state is a float64 sum of non-negative per-image values; by the standard bound on recursive summation a sum
    of n terms moves by at most (n - 1) unit roundoffs (2^-53) of itself, and the division by n adds one, so
    (n + 2) * 2^-52 covers a mean and the mean or max of a mean curve.
    """
    return (images + 2) * 2.0**-52


def build_metrics(
    names: Iterable[str] = METRIC_CLASSES,
    hce_binarize: str = "dis",
    skeleton_cache: bool | str | Path = True,
    prefix: str | None = None,
) -> MetricCollection:
    """The measures called ``names`` (keys of METRIC_CLASSES), configured, in one collection whose
    compute() keys start with ``prefix`` (e.g. "val/DIS-VD/")."""
    metrics: dict[str, ImageMeasure] = {}
    for name in names:
        if name not in METRIC_CLASSES:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_CLASSES)}")
        options = {"binarize": hce_binarize, "skeleton_cache": skeleton_cache} if name == "HCE" else {}
        metrics[name] = METRIC_CLASSES[name](**options)
    return MetricCollection(metrics, prefix=prefix, compute_groups=False)


def measure_all(metrics: MetricCollection, pair: ImagePair) -> dict[str, Any]:
    """Every metric's ``measure`` of one pair in one result (their keys are distinct), for
    ``metrics.update(results=[...])``."""
    return {key: value for metric in metrics.values() for key, value in metric.measure(pair).items()}


def scalar_results(computed: Mapping[str, Tensor], prefix: str | None = None) -> dict[str, float]:
    """The scalars of a collection's compute(), as floats keyed by pysodmetrics' names in table order."""
    prefix = prefix or ""
    return {key: float(computed[prefix + key]) for key in SCALAR_KEYS if prefix + key in computed}
