"""Time of the full evaluation (all metrics) against pysodmetrics alone, HCE's growth with image size, and the memory
one large pair takes the evaluator."""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics as psm
from PIL import Image

from mgd_sam2.data.io import read_mask
from mgd_sam2.data.shapes import cables, hair, lattice, tree
from mgd_sam2.metrics import functional as fn
from mgd_sam2.metrics.evaluate import evaluate_folders
from mgd_sam2.metrics.pairs import ImagePair
from mgd_sam2.metrics.skeletons import SkeletonCache
from mgd_sam2.utils.isolated import reset_peak, resident_mb, run_isolated

THIN_DRAWERS = (lattice, tree, hair, cables)  # thin families of data/shapes.py drawn into the GTs


def thin_pair(index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A thin-structure GT (two synthetic thin objects) and a plausible 8-bit prediction of it:
    shifted by a pixel, blurred, with broken strands, noise and a false-positive blob."""
    rng = np.random.default_rng([7, index, size])
    gt = np.zeros((size, size), np.uint8)
    for _ in range(2):
        THIN_DRAWERS[int(rng.integers(len(THIN_DRAWERS)))](rng, gt)
    pred = np.roll(gt, int(rng.integers(-1, 2)), axis=int(rng.integers(0, 2))).astype(np.float32)
    pred[rng.random(pred.shape) < 0.15] = 0
    cv2.circle(pred, (int(rng.integers(0, size)), int(rng.integers(0, size))), size // 40, 200, -1)
    pred = cv2.GaussianBlur(pred, (0, 0), 1.0) + rng.normal(0, 12, pred.shape)
    return np.clip(pred, 0, 255).astype(np.uint8), gt


def write_pairs(folder: Path, pairs: int, size: int) -> tuple[Path, Path]:
    pred_dir, gt_dir = folder / "pred", folder / "gt"
    pred_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    for index in range(pairs):
        pred, gt = thin_pair(index, size)
        Image.fromarray(pred).save(pred_dir / f"{index:03d}.png")
        Image.fromarray(gt).save(gt_dir / f"{index:03d}.png")
    return pred_dir, gt_dir


def pysodmetrics_alone(pred_dir: Path, gt_dir: Path) -> float:
    """Seconds for pysodmetrics' own classes (S, E, F, weighted F, MAE, HCE) over the folder, one process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluators = [
            psm.Smeasure(),
            psm.Emeasure(),
            psm.WeightedFmeasure(),
            psm.MAE(),
            psm.HumanCorrectionEffortMeasure(),
            psm.FmeasureV2({"fm": psm.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=0.3)}),
        ]
    start = time.perf_counter()
    for gt_path in sorted(gt_dir.iterdir()):
        pred, gt = read_mask(pred_dir / gt_path.name), read_mask(gt_path)
        for evaluator in evaluators:
            evaluator.step(pred, gt)
    return time.perf_counter() - start


def full_evaluation(pairs: int = 20, size: int = 2048, workers: int = 2) -> dict[str, float]:
    """Ours (all 7 metrics, cold and warm skeleton cache) vs pysodmetrics alone on the same files."""
    with tempfile.TemporaryDirectory() as folder:
        pred_dir, gt_dir = write_pairs(Path(folder), pairs, size)
        reference = pysodmetrics_alone(pred_dir, gt_dir)
        timings = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            evaluate_folders(
                pred_dir, gt_dir, skeleton_cache=Path(folder) / "skeletons", workers=workers, progress=False
            )
            timings[label] = time.perf_counter() - start
    return {
        "pairs": pairs,
        "size": size,
        "workers": workers,
        "pysodmetrics_s": reference,
        "ours_cold_cache_s": timings["cold"],
        "ours_warm_cache_s": timings["warm"],
        "speedup_cold": reference / timings["cold"],
        "speedup_warm": reference / timings["warm"],
    }


def curve_measures(pairs: int = 20, size: int = 2048) -> dict[str, float]:
    """Seconds for the F- and E-measure curves of ``pairs`` pairs, in memory, one process: pysodmetrics'
    Emeasure + FmeasureV2 against ours (one shared histogram pass); the reason ours exists."""
    data = [thin_pair(index, size) for index in range(pairs)]
    start = time.perf_counter()
    for pred, gt in data:
        psm.Emeasure().step(pred, gt)
        psm.FmeasureV2({"fm": psm.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=0.3)}).step(pred, gt)
    reference = time.perf_counter() - start
    start = time.perf_counter()
    for pred, gt in data:
        pair = ImagePair(pred, gt)
        fn.e_measure(pair.pred_norm, pair.gt, pair.counts)
        fn.f_measure(pair.pred_norm, pair.gt, pair.counts)
    ours = time.perf_counter() - start
    return {"pairs": pairs, "size": size, "pysodmetrics_s": reference, "ours_s": ours, "speedup": reference / ours}


def hce_scaling(sizes: list[int], repeats: int = 2) -> list[dict[str, float]]:
    """Seconds per image of HCE: pysodmetrics, ours without a cached skeleton, ours with it."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = SkeletonCache(folder)
        for size in sizes:
            pairs = [thin_pair(index, size) for index in range(repeats)]
            timings = {}
            start = time.perf_counter()
            for pred, gt in pairs:
                psm.HumanCorrectionEffortMeasure().cal_hce(*fn.normalize(pred, gt))
            timings["pysodmetrics_s"] = (time.perf_counter() - start) / repeats
            for label in ("ours_cold_s", "ours_cached_s"):  # the first pass fills the cache
                start = time.perf_counter()
                for pred, gt in pairs:
                    pair = ImagePair(pred, gt)
                    fn.human_correction_effort(pair.pred_fg, pair.gt, skeleton=cache.get(pair.gt))
                timings[label] = (time.perf_counter() - start) / repeats
            rows.append({"size": size, **timings})
    return rows


def evaluation_memory(width: int, height: int) -> dict[str, float]:
    """The memory one (height, width) thin-structure pair takes ``evaluate_folders`` with every metric, one process:
    the peak resident set of a fresh process while it scores (its peak reset once everything is imported) above its
    resident set then, in MiB and in bytes per pixel (what ``metrics.evaluate.EVALUATION_BYTES_PER_PIXEL`` budgets)."""
    with tempfile.TemporaryDirectory() as folder:
        pred, gt = thin_pair(0, max(width, height))
        pred_dir, gt_dir = Path(folder) / "pred", Path(folder) / "gt"
        for directory, mask in ((pred_dir, pred), (gt_dir, gt)):
            directory.mkdir()
            Image.fromarray(mask[:height, :width]).save(directory / "000.png")
        started_mb, peak_mb = run_isolated(evaluated_peak, pred_dir, gt_dir)
    pixels = width * height
    return {"width": width, "height": height, "started_rss_mb": started_mb, "peak_rss_mb": peak_mb,
            "bytes_per_pixel": (peak_mb - started_mb) * 2**20 / pixels}  # fmt: skip


def evaluated_peak(pred_dir: Path, gt_dir: Path) -> tuple[float, float]:
    """(resident set before, its peak while scoring) in MiB of this process evaluating the folders (every metric, no
    workers)."""
    reset_peak()
    started = resident_mb()[0]
    evaluate_folders(pred_dir, gt_dir, workers=0, progress=False)
    return started, resident_mb()[1]
