"""The first README command, `make demo`, run end to end (shortened: few small images, 2 epochs)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgd_sam2.commands.demo import changed_maps, rescoring_bound, rescoring_mismatches, same_score

ROOT = Path(__file__).resolve().parent.parent
SHORT_DEMO = "--num 20 --held-out 3 --epochs 2 --data-root data/demo-short"  # docs/index.md: the short version
FIXTURE = ROOT / "tests" / "fixtures" / "pysodmetrics"


def test_rescoring_bound_is_float32_rounding_plus_float64_sums() -> None:
    assert rescoring_bound(10) == 2**-24 + 12 * 2**-52
    assert same_score(3104.833251953125, 3104.8333333333335, 24)  # HCE: float32 of the float64 value
    assert same_score(float(np.float32(0.2648433515357216)), 0.2648433515357216, 24)
    # the AMX machine's failure: maps that differ by a grey level here and there are not float rounding
    assert not same_score(0.26484447717666626, 0.2648433515357216, 24)
    assert not same_score(3104.8, 3105.8, 24) and not same_score(0.0, 1e-12, 24)
    assert same_score(float("nan"), float("nan"), 3) and not same_score(float("nan"), 0.5, 3)


def test_the_same_maps_rescore_within_the_bound_in_any_order_and_batch(tmp_path: Path) -> None:
    """The demo's two paths on the same maps: the test step's metric states (fed in batches, in the loader's order,
    logged as float32) and the folder evaluator (its own order, float64)."""
    from mgd_sam2.data.io import read_mask
    from mgd_sam2.metrics.evaluate import evaluate_folders
    from mgd_sam2.metrics.pairs import image_pairs
    from mgd_sam2.metrics.sod import build_metrics, scalar_results

    names = sorted(path.name for path in (FIXTURE / "masks").glob("*.png"))
    maps = {name: (read_mask(FIXTURE / "preds" / name), read_mask(FIXTURE / "masks" / name)) for name in names}
    rescored = evaluate_folders(FIXTURE / "preds", FIXTURE / "masks", skeleton_cache=tmp_path, progress=False).scores
    for order, batch in ((names, 1), (names[::-1], 2), (names[1:] + names[:1], 3)):
        metrics = build_metrics(skeleton_cache=tmp_path)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            metrics.update(image_pairs([maps[n][0] for n in chunk], [maps[n][1] for n in chunk]))
        scores = {key: float(np.float32(value)) for key, value in scalar_results(metrics.compute()).items()}
        assert not rescoring_mismatches({"fixture": scores}, {"fixture": rescored}, {"fixture": len(names)})


def test_the_demo_refuses_a_dataset_made_with_other_settings(tmp_path: Path, capsys, monkeypatch) -> None:
    """A short demo after a full one (or the reverse) would otherwise train on the dataset already there: refused
    before any work, naming the settings that differ and the flag to change."""
    from dataclasses import replace

    from mgd_sam2.cli import main
    from mgd_sam2.data.synth import DEMO_DATA, write_dataset

    monkeypatch.chdir(tmp_path)  # where a demo that was not refused would write its run
    made = replace(DEMO_DATA, num=4, min_size=64, max_size=64, held_out=1)
    write_dataset(tmp_path / "demo" / "synthetic", made, workers=0, show=False)
    argv = ["demo", "--data-root", str(tmp_path / "demo"), "--report", str(tmp_path / "report.json")]
    assert main([*argv, "--num", "20", "--held-out", "3", "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert (
        "made with other settings (num=4, min_size=64, max_size=64, held_out=1, where this asks num=20, "
        f"min_size={DEMO_DATA.min_size}, max_size={DEMO_DATA.max_size}, held_out=3)" in err
    )
    assert "choose another --data-root" in err and "Traceback" not in err
    assert not (tmp_path / "report.json").exists()


def test_the_demo_check_finds_one_grey_level_on_one_pixel(
    trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    from lightning.pytorch import Trainer

    from mgd_sam2.data.datamodule import SegmentationDataModule
    from mgd_sam2.data.io import read_prediction
    from mgd_sam2.metrics.evaluate import evaluate_folders
    from mgd_sam2.training.module import MGDSAM2Module
    from mgd_sam2.training.runs import scored_map_writer, test_scores

    module = MGDSAM2Module.load_from_checkpoint(trained_checkpoint, weights_only=True)
    data = SegmentationDataModule(
        root=str(synthetic_root), test=["synthetic/SYN-TE"], input_size=module.input_size, grid=module.grid,
        eval_batch_size=2, num_workers=0, check=False,
    )  # fmt: skip
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    writer = scored_map_writer(tmp_path / "maps", str(trained_checkpoint), trainer, tta=False)
    trainer.callbacks.append(writer)
    logged = test_scores(trainer, module, data)
    folder, gt = tmp_path / "maps" / "SYN-TE", synthetic_root / "synthetic" / "SYN-TE" / "gt"
    images = {"SYN-TE": len(writer.digests["SYN-TE"])}
    assert images["SYN-TE"] == 2 and changed_maps(folder, writer.digests["SYN-TE"]) == []
    rescored = {"SYN-TE": evaluate_folders(folder, gt, ["S", "MAE", "F"], workers=0, progress=False).scores}
    assert set(rescored["SYN-TE"]) <= set(logged["SYN-TE"]) and not rescoring_mismatches(logged, rescored, images)

    path = sorted(folder.glob("*.png"))[0]  # one grey level less on the brightest pixel: the normalisation moves
    altered = read_prediction(path)
    y, x = np.unravel_index(np.argmax(altered), altered.shape)
    assert altered[y, x] > altered.min()
    altered[y, x] -= 1
    Image.fromarray(altered).save(path)
    assert changed_maps(folder, writer.digests["SYN-TE"]) == [f"{path} is not the map the test step scored"]
    rescored = {"SYN-TE": evaluate_folders(folder, gt, ["S", "MAE", "F"], workers=0, progress=False).scores}
    assert "SYN-TE/Smeasure" in rescoring_mismatches(logged, rescored, images)


@pytest.mark.slow
def test_make_demo_exits_0_with_its_report(tmp_path: Path) -> None:
    from mgd_sam2.metrics.baseline import constant_scores, mean_mask

    result = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "demo", f"DEMO_ARGS={SHORT_DEMO}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # output to a pipe, where the progress bar draws nothing until the end: a line per epoch (validated every 2)
    assert re.search(r"^epoch 1/2, step \d+: train/loss [0-9.]+ \(\d+ min \d+ s\)$", result.stdout, re.M), result.stdout
    assert re.search(r"^epoch 2/2, step \d+: train/loss [0-9.]+, val/Smeasure [0-9.]+, val/MAE", result.stdout, re.M)
    # the parameter table, trained at the demo config's LR settings, instead of Lightning's summary and its 0 FLOPs
    assert (
        "MGD-SAM2 preset micro, input 2×32 = 64 px: parameters" in result.stdout
        and "LR group 'pretrained' (1x LR, wd 1e-05)" in result.stdout
    )
    assert "FLOPs" not in result.stdout and "Epoch 1/1" not in result.stdout  # nor the bar's 0-based last state
    report = json.loads((tmp_path / "runs/demo/report.json").read_text())
    kinds = {"before", "constant", "after", "after_rescored"}
    assert set(report) == kinds | {"seconds", "checkpoint", "predictions", "grid"}
    documented = " ".join((Path(__file__).parents[1] / "docs/index.md").read_text().split())
    assert all(f'"{key}": ' in documented for key in report), "docs/index.md names every key of report.json"
    splits = {"SYN-TE", "SYN-HO"}  # the training families' test split and the held-out families'
    assert all(set(report[kind]) == splits for kind in kinds)
    keys = {"Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "maxEm", "adpFm", "meanFm", "maxFm", "HCE", "mBA"}
    synthetic = tmp_path / "data/demo-short/synthetic"
    mean = mean_mask(sorted((synthetic / "SYN-TR/gt").glob("*.png")))  # the training masks, and only those
    for split, count in (("SYN-TE", 4), ("SYN-HO", 3)):
        assert all(set(report[kind][split]) == keys for kind in kinds)
        for key in keys:  # the saved PNGs score what the test step scored
            assert same_score(report["after"][split][key], report["after_rescored"][split][key], count), (split, key)
        assert len(list((tmp_path / report["predictions"] / split).glob("*.png"))) == count
        assert report["constant"][split] == constant_scores(mean, sorted((synthetic / split / "gt").glob("*.png")))
    assert (tmp_path / report["checkpoint"]).is_file()
    grid = Image.open(tmp_path / report["grid"])
    assert grid.size == (240 * 7, 240 * 3)  # 4 + 3 images: input, GT and prediction each
