"""The trivial baseline, the mean training mask: computed from the training masks alone, scored like a prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgd_sam2.metrics.baseline import constant_map, constant_scores, mean_mask
from mgd_sam2.metrics.evaluate import evaluate_folders
from mgd_sam2.metrics.sod import reordering_bound


def masks(folder: Path, arrays: dict[str, np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        Image.fromarray(array).save(folder / f"{name}.png")
    return sorted(folder.glob("*.png"))


def test_the_mean_mask_is_the_mean_of_the_training_masks_at_each_size(tmp_path: Path) -> None:
    left = np.zeros((40, 60), np.uint8)
    left[:, :30] = 255
    train = masks(tmp_path / "train", {"a": left, "b": np.zeros((80, 120), np.uint8)})
    mean = mean_mask(train, side=64)
    assert mean.shape == (64, 64) and mean[:, :31].min() == 0.5 and mean[:, 33:].max() == 0.0
    constant = constant_map(mean, 20, 50)  # resized to the image, x255, truncated like a prediction
    assert constant.shape == (20, 50) and constant[:, :20].min() == 127 and constant[:, 30:].max() == 0
    with pytest.raises(ValueError, match="no training masks"):
        mean_mask([])


def test_the_constant_scores_as_its_saved_maps_do(tmp_path: Path) -> None:
    """Predicting the mean for each test image and scoring it in memory equals saving those maps and evaluating the
    files; the test masks never enter the mean (training masks on the left, test objects on the right)."""
    rng = np.random.default_rng(0)
    train = {f"t{i}": np.zeros((48, 64), np.uint8) for i in range(3)}
    for array in train.values():
        array[:, : int(rng.integers(10, 30))] = 255
    test = {f"s{i}": np.zeros((int(rng.integers(30, 70)), int(rng.integers(30, 70))), np.uint8) for i in range(4)}
    for array in test.values():
        array[:, array.shape[1] // 2 :] = 255
    mean = mean_mask(masks(tmp_path / "train", train))
    gts = masks(tmp_path / "gt", test)
    scores = constant_scores(mean, gts)
    (tmp_path / "pred").mkdir()
    for path in gts:
        gt = np.asarray(Image.open(path))
        Image.fromarray(constant_map(mean, *gt.shape)).save(tmp_path / "pred" / path.name)
    expected = evaluate_folders(tmp_path / "pred", tmp_path / "gt", workers=0, progress=False).scores
    assert set(scores) == set(expected)
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, abs=0, rel=reordering_bound(len(gts))), key
    assert scores["MAE"] > 0.5 and scores["Smeasure"] < 0.5  # left-side prior against right-side objects
