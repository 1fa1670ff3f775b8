"""The first README command, `make demo`, run end to end (shortened: few small images, 2 epochs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mgd_sam2.commands.demo import same_score

ROOT = Path(__file__).resolve().parent.parent


def test_rescoring_tolerance_fits_each_metric_scale() -> None:
    assert same_score(3104.833251953125, 3104.8333333333335)  # HCE logged as float32 vs float64
    assert same_score(0.62345678, 0.6234568)
    assert not same_score(3104.8, 3105.8) and not same_score(0.623, 0.624) and not same_score(0.0, 1e-6)


@pytest.mark.slow
def test_make_demo_exits_0_with_its_report(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "demo", "DEMO_ARGS=--num 10 --held-out 3 --size 96 128 --epochs 2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "runs/demo/report.json").read_text())
    assert set(report) == {"before", "after", "after_rescored", "seconds", "checkpoint", "predictions", "grid"}
    splits = {"SYN-TE", "SYN-HO"}  # the training families' test split and the held-out families'
    assert set(report["before"]) == set(report["after"]) == set(report["after_rescored"]) == splits
    keys = {"Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "maxEm", "adpFm", "meanFm", "maxFm", "HCE", "mBA"}
    for split, count in (("SYN-TE", 2), ("SYN-HO", 3)):
        assert set(report["before"][split]) == set(report["after"][split]) == keys
        for key in keys:  # the saved PNGs score what the test step scored
            assert same_score(report["after"][split][key], report["after_rescored"][split][key]), (split, key)
        assert len(list((tmp_path / report["predictions"] / split).glob("*.png"))) == count
    assert (tmp_path / report["checkpoint"]).is_file()
    grid = Image.open(tmp_path / report["grid"])
    assert grid.size == (240 * 5, 240 * 3)  # 2 + 3 images: input, GT and prediction each
