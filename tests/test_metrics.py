"""Our metrics against pysodmetrics 1.6.2 (the reference) and its stored reference scores."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
import torch
from PIL import Image

from bounds import METRICS_FLOAT64
from mgd_sam2.data.io import read_mask
from mgd_sam2.metrics import functional as fn
from mgd_sam2.metrics.pairs import ImagePair, image_pairs
from mgd_sam2.metrics.skeletons import SkeletonCache
from mgd_sam2.metrics.sod import METRIC_CLASSES, SCALAR_KEYS, build_metrics, measure_all, scalar_results

FIXTURE = Path(__file__).parent / "fixtures" / "pysodmetrics"


def fixture_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(read_mask(FIXTURE / "preds" / p.name), read_mask(p)) for p in sorted((FIXTURE / "masks").glob("*.png"))]


def scores(pairs, **options) -> dict[str, float]:
    metrics = build_metrics(**options)
    metrics.update(image_pairs([p for p, _ in pairs], [g for _, g in pairs]))
    return scalar_results(metrics.compute())


def test_fixture_equals_pysodmetrics_reference_scores(tmp_path: Path) -> None:
    reference = json.loads((FIXTURE / "reference_scores.json").read_text())["scores"]
    # The stored reference HCE is pysodmetrics' own binarisation, computed with OpenCV 4.10 (pinned).
    assert cv2.__version__.startswith("4.10."), (
        "HCE reference needs opencv 4.10 (approxPolyDP differs in 4.14; 4.11-4.13 not checked)"
    )
    ours = scores(fixture_pairs(), hce_binarize="pysod", skeleton_cache=tmp_path)
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=METRICS_FLOAT64), key


def reference_per_image(pred: np.ndarray, gt: np.ndarray) -> dict[str, object]:
    """pysodmetrics' own classes on one pair; HCE both ways (docs/design.md, evaluation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure (v1) warns that it is deprecated
        f_v1 = psm.Fmeasure()
    f_v2 = psm.FmeasureV2({"fm": psm.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=0.3)})
    evaluators = {
        "S": psm.Smeasure(),
        "E": psm.Emeasure(),
        "wF": psm.WeightedFmeasure(),
        "MAE": psm.MAE(),
        "F": f_v1,
        "F2": f_v2,
        "HCE": psm.HumanCorrectionEffortMeasure(),
    }
    for evaluator in evaluators.values():
        evaluator.step(pred, gt)
    results = {name: evaluator.get_results() for name, evaluator in evaluators.items()}
    hce_dis = psm.HumanCorrectionEffortMeasure().cal_hce((pred > 128).astype(float), gt > 128)
    return {
        "Smeasure": results["S"]["sm"],
        "MAE": results["MAE"]["mae"],
        "wFmeasure": results["wF"]["wfm"],
        "adpEm": results["E"]["em"]["adp"],
        "em": results["E"]["em"]["curve"],
        "adpFm": results["F"]["fm"]["adp"],
        "fm": results["F"]["fm"]["curve"],
        "precision": results["F"]["pr"]["p"],
        "recall": results["F"]["pr"]["r"],
        "fm_v2": results["F2"]["fm"]["dynamic"],
        "adpFm_v2": results["F2"]["fm"]["adaptive"],
        "HCE_pysod": results["HCE"]["hce"],
        "HCE_dis": hce_dis,
    }


def structured_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2026)
    cases = []

    def blob(h, w, count=3):
        mask = np.zeros((h, w), np.uint8)
        for _ in range(count):
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(3, max(4, w // 3))), int(rng.integers(3, max(4, h // 3))))
            cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        return mask

    def soft(mask, sigma=3.0, noise=40):
        pred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) + rng.normal(0, noise, mask.shape)
        return np.clip(pred, 0, 255).astype(np.uint8)

    def thin(h, w, spacing=9):
        mask = np.zeros((h, w), np.uint8)
        for x in range(int(rng.integers(0, spacing)), w, spacing):
            cv2.line(mask, (x, 0), (int(x + rng.integers(-20, 20)), h - 1), 255, 1)
        for y in range(int(rng.integers(0, spacing)), h, 2 * spacing):
            cv2.line(mask, (0, y), (w - 1, int(y + rng.integers(-10, 10))), 255, 1)
        return mask

    for i in range(20):  # random blobs with soft noisy predictions, various shapes
        h, w = int(rng.integers(40, 300)), int(rng.integers(40, 300))
        gt = blob(h, w)
        cases.append((f"blob{i}", soft(blob(h, w, 1) | gt if i % 3 else gt, sigma=float(rng.uniform(0.5, 6))), gt))
    for i in range(8):  # pure noise predictions
        h, w = int(rng.integers(20, 200)), int(rng.integers(20, 200))
        cases.append((f"noise{i}", rng.integers(0, 256, (h, w), dtype=np.uint8), blob(h, w)))
    for i in range(6):  # thin structures: wires and lattices, predicted with gaps and shifts
        h, w = int(rng.integers(100, 400)), int(rng.integers(100, 400))
        gt = thin(h, w)
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=1)
        pred[rng.random(pred.shape) < 0.3] = 0
        cases.append((f"thin{i}", soft(pred, sigma=0.7, noise=10), gt))
    h, w = 97, 131
    gt = blob(h, w)
    cases += [
        ("empty_gt", soft(blob(h, w)), np.zeros((h, w), np.uint8)),
        ("empty_gt_empty_pred", np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)),
        ("full_gt", soft(blob(h, w)), np.full((h, w), 255, np.uint8)),
        ("full_gt_full_pred", np.full((h, w), 255, np.uint8), np.full((h, w), 255, np.uint8)),
        ("const_0", np.zeros((h, w), np.uint8), gt),
        ("const_128", np.full((h, w), 128, np.uint8), gt),
        ("const_255", np.full((h, w), 255, np.uint8), gt),
        ("const_77", np.full((h, w), 77, np.uint8), gt),
        ("perfect", gt.copy(), gt),
        ("inverted", 255 - gt, gt),
        ("pred_128_square", np.pad(np.full((20, 20), 128, np.uint8), 22), np.pad(np.full((20, 20), 255, np.uint8), 22)),
        ("binary_pred", (soft(gt) > 100).astype(np.uint8) * 255, gt),
        ("two_levels", np.where(gt > 0, 200, 60).astype(np.uint8), gt),
        ("non_binary_gt", soft(gt), cv2.GaussianBlur(gt, (0, 0), 4)),
        ("gt_values_near_128", soft(gt), np.where(gt > 0, 129, 128).astype(np.uint8)),
        ("tall", soft(blob(300, 31)), blob(300, 31)),
        ("wide", soft(blob(23, 311)), blob(23, 311)),
        (
            "tiny",
            np.array([[0, 255, 128, 7, 255, 3, 9]] * 3, np.uint8),
            np.array([[0, 255, 255, 0, 0, 0, 255]] * 3, np.uint8),
        ),
        (
            "single_fg_pixel",
            soft(np.pad(np.full((1, 1), 255, np.uint8), 30)),
            np.pad(np.full((1, 1), 255, np.uint8), 30),
        ),
    ]
    big = thin(2048, 2048, spacing=17)  # large thin-structure mask
    big_pred = np.roll(big, 1, axis=0)
    big_pred[rng.random(big.shape) < 0.2] = 0
    cases.append(("large_thin_2048", soft(big_pred, sigma=0.8, noise=15), big))
    return cases


CASES = structured_cases()


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50


def test_the_two_hce_binarisations_differ_as_the_evaluation_page_says() -> None:
    """docs/evaluation.md: on a map spanning 0 to 255 the DIS (> 128) and pysodmetrics (normalised > 0.5) cuts differ
    at 128 only; on a narrower map pysodmetrics cuts halfway between the map's own extremes (140..144: over 142)."""
    gt = np.array([[0, 255, 0, 255, 0]], np.uint8)
    full = ImagePair(np.array([[0, 127, 128, 129, 255]], np.uint8), gt)
    assert full.binarized_pred("dis").tolist() == [[False, False, False, True, True]]
    assert full.binarized_pred("pysod").tolist() == [[False, False, True, True, True]]
    narrow = ImagePair(np.array([[140, 141, 142, 143, 144]], np.uint8), gt)
    assert narrow.binarized_pred("dis").all()
    assert narrow.binarized_pred("pysod").tolist() == [[False, False, False, True, True]]


@pytest.mark.slow
def test_every_metric_equals_pysodmetrics_per_image_and_over_the_set(tmp_path: Path) -> None:
    metrics = build_metrics(hce_binarize="pysod", skeleton_cache=tmp_path)
    dis_hce = build_metrics(["HCE"], hce_binarize="dis", skeleton_cache=tmp_path)["HCE"]
    references = []
    for name, pred, gt in CASES:
        reference = reference_per_image(pred, gt)
        references.append(reference)
        pair = ImagePair(pred, gt)
        f_result = fn.f_measure(pair.pred_norm, pair.gt, pair.counts)
        e_result = fn.e_measure(pair.pred_norm, pair.gt, pair.counts)
        np.testing.assert_allclose(f_result["curve"], reference["fm"], atol=METRICS_FLOAT64, rtol=0, err_msg=name)
        np.testing.assert_allclose(f_result["curve"], reference["fm_v2"], atol=METRICS_FLOAT64, rtol=0, err_msg=name)
        np.testing.assert_allclose(
            f_result["precision"], reference["precision"], atol=METRICS_FLOAT64, rtol=0, err_msg=name
        )
        np.testing.assert_allclose(f_result["recall"], reference["recall"], atol=METRICS_FLOAT64, rtol=0, err_msg=name)
        np.testing.assert_allclose(e_result["curve"], reference["em"], atol=METRICS_FLOAT64, rtol=0, err_msg=name)
        assert f_result["adaptive"] == pytest.approx(reference["adpFm"], abs=METRICS_FLOAT64), name
        assert f_result["adaptive"] == pytest.approx(reference["adpFm_v2"], abs=METRICS_FLOAT64), name
        assert e_result["adaptive"] == pytest.approx(reference["adpEm"], abs=METRICS_FLOAT64), name
        hce_pysod = fn.human_correction_effort(pair.binarized_pred("pysod"), pair.gt)
        hce_dis = fn.human_correction_effort(pair.binarized_pred("dis"), pair.gt)
        assert hce_pysod == reference["HCE_pysod"], name
        assert hce_dis == reference["HCE_dis"], name
        metrics.update([pair])
        dis_hce.update([pair])
    ours = scalar_results(metrics.compute())
    n = len(CASES)
    em_curve = np.mean([r["em"] for r in references], axis=0)
    fm_curve = np.mean([r["fm"] for r in references], axis=0)
    expected = {
        "Smeasure": np.mean([r["Smeasure"] for r in references]),
        "MAE": np.mean([r["MAE"] for r in references]),
        "wFmeasure": np.mean([r["wFmeasure"] for r in references]),
        "adpEm": np.mean([r["adpEm"] for r in references]),
        "meanEm": em_curve.mean(),
        "maxEm": em_curve.max(),
        "adpFm": np.mean([r["adpFm"] for r in references]),
        "meanFm": fm_curve.mean(),
        "maxFm": fm_curve.max(),
        "HCE": np.mean([r["HCE_pysod"] for r in references]),
    }
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=METRICS_FLOAT64), key
    assert float(dis_hce.compute()["HCE"]) == pytest.approx(np.mean([r["HCE_dis"] for r in references]), abs=1e-9)
    assert metrics["S"].per_image()["Smeasure"].shape == (n,)
    # the two HCE binarisations really differ where a prediction pixel is exactly 128
    square = references[[name for name, _, _ in CASES].index("pred_128_square")]
    assert square["HCE_pysod"] != square["HCE_dis"]


def reference_boundary_accuracy(gt_raw: np.ndarray, pred_raw: np.ndarray) -> float:
    """CascadePSP's compute_boundary_acc, transcribed literally (uint8 arithmetic, float radius)."""
    gt = (gt_raw > 128).astype(np.uint8)
    seg = (pred_raw > 128).astype(np.uint8)
    h, w = gt.shape
    min_radius, max_radius, num_steps = 1, (w + h) / 300, 5
    accuracies = []
    for i in range(num_steps):
        radius = min_radius + int((max_radius - min_radius) / num_steps * i)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (radius * 2 + 1, radius * 2 + 1))
        boundary = cv2.morphologyEx(gt, cv2.MORPH_GRADIENT, kernel) > 0
        gt_in, seg_in = gt[boundary], seg[boundary]
        good = ((gt_in) * (seg_in) + (1 - gt_in) * (1 - seg_in)).sum()
        accuracies.append(good / boundary.sum())
    return sum(accuracies) / num_steps


def test_boundary_accuracy_follows_cascadepsp() -> None:
    checked = 0
    for name, pred, gt in CASES:
        pair = ImagePair(pred, gt)
        ours = fn.boundary_accuracy(pair.pred_fg, pair.gt)
        if not (gt > 128).any() or (gt > 128).all():
            assert ours is None, name  # no boundary band: left out of mBA
            continue
        assert ours == pytest.approx(reference_boundary_accuracy(gt, pred), abs=1e-12), name
        checked += 1
    assert checked >= 45


def test_boundary_accuracy_simple_cases() -> None:
    gt = np.zeros((300, 300), np.uint8)
    gt[100:200, 100:200] = 255
    assert fn.boundary_accuracy(gt > 128, gt > 128) == 1.0
    # predicting nothing: inside each band only the background half is right
    inside = fn.boundary_accuracy(np.zeros(gt.shape, bool), gt > 128)
    assert 0.3 < inside < 0.7
    assert fn.boundary_accuracy(gt <= 128, gt > 128) == 0.0
    metric = build_metrics(["mBA"])["mBA"]
    metric.update(image_pairs([gt, gt], [gt, np.zeros_like(gt)]))  # the empty GT is not counted
    assert float(metric.compute()["mBA"]) == 1.0
    assert torch.isnan(metric.per_image()["mBA"][1])


def test_skeleton_cache_is_reused_and_keyed_by_content(tmp_path: Path, monkeypatch) -> None:
    cache = SkeletonCache(tmp_path / "skeletons")
    gt = np.zeros((64, 80), bool)
    gt[10:50, 20:30] = True
    first = cache.get(gt)
    files = list((tmp_path / "skeletons").glob("*.png"))
    assert len(files) == 1 and first.any()
    calls = []
    monkeypatch.setattr("mgd_sam2.metrics.skeletons.gt_skeleton", lambda mask: calls.append(1) or fn.gt_skeleton(mask))
    assert np.array_equal(cache.get(gt.copy()), first) and not calls  # same content: read back, not recomputed
    assert Image.open(files[0]).mode == "1"  # one bit per pixel
    Image.fromarray(first.astype(np.uint8) * 255).save(files[0])  # an 8-bit file, as earlier commits wrote them
    assert np.array_equal(cache.get(gt), first) and not calls
    other = gt.copy()
    other[5, 5] = True
    cache.get(other)
    assert calls == [1] and len(list((tmp_path / "skeletons").glob("*.png"))) == 2
    assert not list((tmp_path / "skeletons").glob("*.tmp"))


def test_hce_metric_with_cache_equals_without(tmp_path: Path) -> None:
    pairs = [(pred, gt) for _, pred, gt in CASES[:10]]
    cached = build_metrics(["HCE"], skeleton_cache=tmp_path)["HCE"]
    uncached = build_metrics(["HCE"], skeleton_cache=False)["HCE"]
    for metric in (cached, uncached, cached):  # the second pass over `cached` reads every skeleton from disk
        metric.update(image_pairs([p for p, _ in pairs], [g for _, g in pairs]))
    assert float(cached.compute()["HCE"]) == float(uncached.compute()["HCE"])
    assert len(list(tmp_path.glob("*.png"))) == len({SkeletonCache.key(g > 128) for _, g in pairs})


def test_update_rejects_mismatched_or_non_uint8_maps() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        image_pairs([np.zeros((4, 5), np.uint8)], [np.zeros((5, 4), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        image_pairs([np.zeros((4, 5), np.float32)], [np.zeros((4, 5), np.uint8)])
    with pytest.raises(TypeError, match="ImagePair"):
        build_metrics(["MAE"]).update([np.zeros((4, 5), np.uint8)])


def test_measured_results_update_the_collection_as_pairs_do() -> None:
    pairs = image_pairs([pred for _, pred, _ in CASES[:6]], [gt for _, _, gt in CASES[:6]])
    direct = build_metrics(["S", "E", "F", "MAE", "mBA"], prefix="val/SET/")
    direct.update(pairs)
    measured = build_metrics(["S", "E", "F", "MAE", "mBA"])
    measured.update(results=[measure_all(measured, pair) for pair in pairs[:5]])
    before = scalar_results(measured.compute())
    measured.update(results=[measure_all(measured, pairs[5])])  # a later update clears the compute cache
    assert all(metric.update_count == 2 for metric in measured.values())
    assert scalar_results(measured.compute()) != before
    assert scalar_results(measured.compute()) == scalar_results(direct.compute(), "val/SET/")
    assert {"val/SET/Smeasure", "val/SET/fm_curve", "val/SET/em_curve"} <= set(direct.compute())


def test_every_scalar_key_is_produced(tmp_path: Path) -> None:
    """SCALAR_KEYS (what logs, JSON and tables keep) is exactly the scalars every metric class computes: a metric
    added to METRIC_CLASSES with a key missing there fails here rather than being dropped from every report."""
    metrics = build_metrics(skeleton_cache=tmp_path)
    pairs = fixture_pairs()
    metrics.update(image_pairs([p for p, _ in pairs], [g for _, g in pairs]))
    computed = {key for key, value in metrics.compute().items() if torch.as_tensor(value).dim() == 0}
    assert computed == set(SCALAR_KEYS)
    assert set(scores(pairs, skeleton_cache=tmp_path)) == set(SCALAR_KEYS)
    assert set(METRIC_CLASSES) == {"S", "E", "F", "wF", "MAE", "HCE", "mBA"}
