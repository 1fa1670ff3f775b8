"""Benchmarks: the accuracy tables on synthetic data, the speed JSON, the ablation table."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bounds import FP32_KERNELS, MAP_LEVELS_FP32, QUANTIZED_MAP_MEAN, QUANTIZED_SMEASURE
from mgd_sam2.benchmark.accuracy import check_data_root, present_benchmarks, run_accuracy
from mgd_sam2.benchmark.backends import RUNS
from mgd_sam2.benchmark.speed import SpeedConfig, measure
from mgd_sam2.cli import main
from mgd_sam2.data import synth
from mgd_sam2.data.io import provenance
from mgd_sam2.data.layouts import DatasetLayoutError
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.segmenter import Segmenter
from mgd_sam2.metrics.evaluate import EvaluationError
from mgd_sam2.metrics.tables import LAYOUTS
from mgd_sam2.models.network import MGDSAM2, NetworkConfig


def test_accuracy_on_synthetic_writes_tables_and_plots(
    synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    segmenter = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro")), device="cpu", name="untrained micro")
    generate, asked = synth.ensure_dataset, []  # the stand-in is generated (or finished) with the run's workers
    monkeypatch.setattr(
        synth, "ensure_dataset", lambda *args, **kwargs: asked.append(kwargs) or generate(*args, **kwargs)
    )
    report = run_accuracy(segmenter, synthetic_root, tmp_path / "out", workers=0)
    assert [kwargs["workers"] for kwargs in asked] == [0]
    out = tmp_path / "out"
    dis5k = f"DIS5K skipped (DIS-VD, DIS-TE1, DIS-TE2, DIS-TE3, DIS-TE4): no folder {synthetic_root / 'DIS5K'}. Get "
    assert [note for note in report["notes"] if note.startswith(dis5k)]  # one note for a dataset not there at all
    assert any("synthetic dataset" in note for note in report["notes"])
    rows = list(csv.DictReader((out / "accuracy_dis.csv").open()))
    assert [row["set"] for row in rows] == ["SYN-VD", "SYN-TE"]
    assert list(rows[0]) == ["set"] + [key for key, _ in LAYOUTS["dis"]]
    assert all(0 <= float(row["maxFm"]) <= 1 for row in rows)
    markdown = (out / "accuracy.md").read_text()
    assert "maxFβ↑ | Fβw↑ | M↓ | Sα↑ | Eφm↑ | HCEγ↓" in markdown and "## Notes" in markdown
    notes = markdown.split("## Notes\n")[1].strip().split("\n")
    assert len(notes) == len(report["notes"]) > 1 and all(line.startswith("- ") for line in notes)  # a tight list
    saved = json.loads((out / "accuracy.json").read_text())
    saved_scores = saved["scores"]
    masks = sorted((synthetic_root / "synthetic/SYN-TE/gt").iterdir())  # each split's count and largest GT size
    largest = max((Image.open(path).size for path in masks), key=lambda size: size[0] * size[1])
    assert saved["images"]["SYN-TE"] == {"images": len(masks), "largest": list(largest)}
    assert f"SYN-TE {len(masks)} (largest {largest[0]}×{largest[1]})" in markdown
    assert set(saved["scores"]) == {"SYN-VD", "SYN-TE"} and len(saved["curves"]["SYN-TE"]["precision_curve"]) == 256
    assert saved["settings"] == {
        "weights": [],
        "tta": False,
        "backend": "torch",
        "precision": "32-true",
        "batch_size": 1,
    }
    assert "Settings: tta False, backend torch, precision 32-true, batch_size 1;" in markdown
    for plot in ("pr_curves.png", "fmeasure_curves.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "predictions" / "SYN-TE").glob("*.png"))) == len(
        list((synthetic_root / "synthetic/SYN-TE/gt").iterdir())
    )
    # another method's saved predictions, a folder per split: the same evaluator, the same tables
    saved = tmp_path / "other-method"
    shutil.copytree(out / "predictions" / "SYN-TE", saved / "SYN-TE")  # none for SYN-VD: noted
    (saved / "SYN-TE" / "readme.txt").write_text("BiRefNet's maps\n")  # evaluate's notes on the files: kept
    shutil.copytree(saved / "SYN-TE", saved / "DAVIS")  # as a method's release names it: not a split, noted
    report = run_accuracy(None, synthetic_root, tmp_path / "out4", workers=0, saved=saved)
    assert f"not scored: the folders DAVIS of {saved}, named after no benchmark split; a split's maps go in a " \
        "folder of its name (DIS-TE1, HRSOD-TE, DAVIS-S, ...)" in report["notes"]  # fmt: skip
    shutil.rmtree(saved / "DAVIS")
    ignored = f"SYN-TE: ignored in --pred {saved / 'SYN-TE'}: files without an image suffix"
    assert [note for note in report["notes"] if note.startswith(ignored)], report["notes"]
    assert f"- {ignored}" in (tmp_path / "out4" / "accuracy.md").read_text()
    (saved / "SYN-TE" / "readme.txt").unlink()
    assert report["scores"] == {"SYN-TE": saved_scores["SYN-TE"]} and report["settings"] == {
        "predictions": str(saved),
        "resize_pred": False,
    }
    assert f"SYN-VD skipped: no folder {saved / 'SYN-VD'} of saved predictions" in report["notes"]
    assert (tmp_path / "out4" / "accuracy_dis.csv").is_file() and not (tmp_path / "out4" / "predictions").exists()
    # a split of GT masks only: saved predictions need no photo (the split needed an im/ folder)
    shutil.copytree(synthetic_root / "synthetic/SYN-TE/gt", tmp_path / "gt-only/DIS5K/DIS-TE1/gt")
    shutil.copytree(saved / "SYN-TE", tmp_path / "gt-only-maps/DIS-TE1")
    shutil.copytree(saved / "SYN-TE", tmp_path / "gt-only-maps/DIS-TE2")  # a split whose GT is not there
    report = run_accuracy(None, tmp_path / "gt-only", tmp_path / "out-gt", workers=0, saved=tmp_path / "gt-only-maps")
    assert report["scores"] == {"DIS-TE1": saved_scores["SYN-TE"]}
    assert not [note for note in report["notes"] if "arrange it" in note], report["notes"]  # a GT-only layout is fine
    assert f"not scored: the folders DIS-TE2 of {tmp_path / 'gt-only-maps'}, whose splits are not scored here (not " \
        f"in --splits, or no GT masks of theirs under {tmp_path / 'gt-only'})" in report["notes"]  # fmt: skip
    args = ["benchmark", "accuracy", "--data-root", str(tmp_path / "gt-only"), "--workers", "0", "--splits", "DIS-TE1"]
    assert main([*args, "--predictions", str(tmp_path / "gt-only-maps"), "--out", str(tmp_path / "out-cli")]) == 0
    assert main([*args, "--out", str(tmp_path / "out-cli2")]) == 1  # a model's run needs the photos
    with pytest.raises(DatasetLayoutError, match="needs an image folder"):  # a model's predictions need the photos
        check_data_root(tmp_path / "gt-only", ["DIS-TE1"])
    args = ["benchmark", "accuracy", "--data-root", str(synthetic_root), "--workers", "0", "--predictions", str(saved)]
    assert main([*args, "--out", str(tmp_path / "out5")]) == 0
    for unused in (["--tta"], ["--precision", "32-true"], ["--batch-size", "2"]):  # a model's flags would be unused
        assert main([*args, "--out", str(tmp_path / "out6"), *unused]) == 1
    assert main([*args[:-2], "--out", str(tmp_path / "out6"), "--resize-pred"]) == 1  # and this without --predictions
    assert not (tmp_path / "out6").exists()
    earlier = {path.name: path.read_bytes() for path in (tmp_path / "out4").iterdir()}
    with pytest.raises(DatasetLayoutError, match="no folder named after a split present"):  # a refusal: kept
        run_accuracy(None, synthetic_root, tmp_path / "out4", workers=0, saved=tmp_path / "out5")
    assert {path.name: path.read_bytes() for path in (tmp_path / "out4").iterdir()} == earlier
    # a run that fails after its checks leaves no report that reads as its own: the earlier run's is removed first
    capsys.readouterr()
    with monkeypatch.context() as failing:
        failing.setattr("mgd_sam2.benchmark.accuracy.evaluate_folders", lambda *args, **kwargs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            run_accuracy(None, synthetic_root, tmp_path / "out4", workers=0, saved=saved)
    assert f"removed the earlier report in {tmp_path / 'out4'} (accuracy.md, accuracy.json, accuracy_dis.csv, " \
        "pr_curves.png, fmeasure_curves.png)" in capsys.readouterr().out  # fmt: skip
    assert not list((tmp_path / "out4").iterdir())
    with pytest.raises(DatasetLayoutError, match="no benchmark split with ground truth to score --predictions"):
        run_accuracy(None, tmp_path / "out5", tmp_path / "out7", workers=0, saved=saved)  # a root without data
    # every split's problems at once, before any split is scored
    shutil.copytree(out / "predictions" / "SYN-VD", saved / "SYN-VD")
    next((saved / "SYN-VD").iterdir()).unlink()
    wrong = next((saved / "SYN-TE").iterdir())
    Image.open(wrong).resize((7, 5)).save(wrong)
    with pytest.raises(EvaluationError) as error:
        run_accuracy(None, synthetic_root, tmp_path / "out7", workers=0, saved=saved)
    text = str(error.value)
    assert text.startswith("saved predictions that cannot be scored:\nSYN-VD: unpaired files (1):")
    assert f"SYN-TE: predictions not at ground-truth resolution (1):\n  {wrong.stem}: prediction 7x5" in text
    assert not (tmp_path / "out7").exists()
    # a split's maps one folder down, as an archive often unpacks: the fix is to move them up, not to give the folder
    nested = tmp_path / "nested"
    shutil.copytree(out / "predictions" / "SYN-TE", nested / "SYN-TE" / "SYN-TE")
    with pytest.raises(EvaluationError) as error:
        run_accuracy(None, synthetic_root, tmp_path / "out7", workers=0, saved=nested)
    assert f"holds no image files; its subfolder {nested / 'SYN-TE/SYN-TE'} does: move its files up into " \
        f"{nested / 'SYN-TE'}" in str(error.value) and "give that folder" not in str(error.value)  # fmt: skip
    # a split that lost an image: the map an earlier run wrote for it is removed, not scored as unpaired
    split = tmp_path / "smaller/DIS5K/DIS-TE1"
    shutil.copytree(synthetic_root / "synthetic/SYN-TE", split)
    run_accuracy(segmenter, tmp_path / "smaller", out, workers=0)
    gone = sorted((split / "im").iterdir())[0]
    assert (out / "predictions/DIS-TE1" / f"{gone.stem}.png").is_file()
    gone.unlink()
    (split / "gt" / f"{gone.stem}.png").unlink()
    report = run_accuracy(segmenter, tmp_path / "smaller", out, workers=0)
    assert not (out / "predictions/DIS-TE1" / f"{gone.stem}.png").exists() and "DIS-TE1" in report["scores"]
    # another run's table of splits this run does not score is removed, not left beside its tables
    shutil.copytree(synthetic_root / "synthetic/SYN-TE", tmp_path / "davis/DAVIS-S")
    assert (out / "accuracy_dis.csv").is_file()
    run_accuracy(segmenter, tmp_path / "davis", out, workers=0)
    assert (out / "accuracy_hrsod.csv").is_file() and not (out / "accuracy_dis.csv").exists()
    # a split straight under the root, its dataset's folder left out: that said, not "get DIS5K"
    misplaced = tmp_path / "misplaced"
    shutil.copytree(tmp_path / "davis/DAVIS-S", misplaced / "DAVIS-S")
    shutil.copytree(split, misplaced / "DIS-TE2")
    notes = present_benchmarks(misplaced)[1]
    assert [
        note for note in notes if f"({misplaced / 'DIS-TE2'} exists: the root holds one folder per dataset)" in note
    ]
    # --splits: only those, and each must be there
    shutil.copytree(split, tmp_path / "davis/DIS5K/DIS-TE1")
    report = run_accuracy(segmenter, tmp_path / "davis", out, workers=0, only=["DAVIS-S"])
    assert set(report["scores"]) == {"DAVIS-S"} and not [note for note in report["notes"] if "skipped" in note]
    with pytest.raises(DatasetLayoutError, match="--splits DIS-TE1,DIS-TE2: DIS5K/DIS-TE2 skipped: split"):
        run_accuracy(segmenter, tmp_path / "davis", out, workers=0, only=["DIS-TE1", "DIS-TE2"])
    # a DIS table with some of the four test splits: no overall row, and a note saying why
    partial = tmp_path / "partial"
    shutil.copytree(synthetic_root / "synthetic/SYN-TE", partial / "DIS5K/DIS-TE1")
    turned = sorted((partial / "DIS5K/DIS-TE1/im").iterdir())[0]  # turned 180° as it displays: same size, other map
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.open(turned).save(turned, exif=exif, quality=95)
    notes = run_accuracy(segmenter, partial, tmp_path / "out3", workers=0)["notes"]
    assert "no Overall DIS-TE(1-4) row: it is the mean of all four DIS-TE splits, and only DIS-TE1 is here" in notes
    count = len(list((partial / "DIS5K/DIS-TE1/im").iterdir()))  # a split of another size than DIS-TE1's 500
    assert f"DIS-TE1 has {count} images where the published split has 500: its scores do not compare with " \
        "published ones" in notes  # fmt: skip
    assert [note for note in notes if note.startswith("1 images of DIS-TE1 carry an EXIF orientation")], notes
    # a mistyped root is an error, not a synthetic set generated there
    for root, what in ((tmp_path / "nope", "no such folder"), (out / "accuracy.md", "not a folder")):
        with pytest.raises(DatasetLayoutError, match=f"--data-root {root}: {what}; give the folder that holds DAVIS-S"):
            run_accuracy(segmenter, root, tmp_path / "out2", workers=0)
    assert not (tmp_path / "nope").exists() and not (tmp_path / "out2").exists()
    unpacked = tmp_path / "unpacked/HRSOD_release/HRSOD_test"  # an archive as it ships: no split, no stand-in
    shutil.copytree(split / "im", unpacked)
    with pytest.raises(DatasetLayoutError, match=r"but other folders \(HRSOD_release\): arrange the datasets as"):
        run_accuracy(segmenter, tmp_path / "unpacked", tmp_path / "out2", workers=0)
    assert sorted(path.name for path in (tmp_path / "unpacked").iterdir()) == ["HRSOD_release"]
    # this project's own outputs beside the stand-in (the demo's and the detail benchmark's roots) and an unzip's
    # __MACOSX are no datasets: the stand-in is scored
    own = tmp_path / "own"
    shutil.copytree(synthetic_root / "synthetic", own / "synthetic")
    for other in ("demo-short", "detail-3840"):
        shutil.copytree(synthetic_root / "synthetic/SYN-TE", own / other / "synthetic/SYN-TE")
    shutil.copytree(split / "im", own / "__MACOSX")
    report = run_accuracy(None, own, tmp_path / "out9", workers=0, saved=out / "predictions")
    assert {"SYN-VD", "SYN-TE"} <= set(report["scores"])
    capsys.readouterr()
    assert main(["benchmark", "accuracy", "--data-root", str(tmp_path / "nope"), "--out", str(tmp_path / "out2")]) == 1
    out_text, err = capsys.readouterr()
    assert "no such folder" in err and "note:" not in out_text  # refused before a model is chosen or loaded


def test_accuracy_keeps_the_maps_an_earlier_or_interrupted_run_made(
    synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A rerun (after Ctrl-C, say) predicts only the images without a map made by these weights and settings: a lost
    map is made again, another batch size redoes them all; the scores are the same."""
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro")), device="cpu").save_pretrained(tmp_path / "m")
    segmenter, out = Segmenter.load(model, device="cpu"), tmp_path / "out"
    first = run_accuracy(segmenter, synthetic_root, out, workers=0)
    maps = sorted((out / "predictions/SYN-TE").glob("*.png"))
    made = {path: path.stat().st_mtime_ns for path in maps}
    maps[0].unlink()  # as a run stopped before its last map
    capsys.readouterr()
    again = run_accuracy(segmenter, synthetic_root, out, workers=0)
    printed = capsys.readouterr().out
    assert (
        f"{len(maps) - 1} of {len(maps)} maps of SYN-TE in {out / 'predictions/SYN-TE'} were made by an earlier run"
        in printed
    )
    assert [path.stat().st_mtime_ns == made[path] for path in maps] == [False] + [True] * (len(maps) - 1)
    assert again["scores"] == first["scores"]
    run_accuracy(segmenter, synthetic_root, out, workers=0, batch_size=2)
    assert "were made by an earlier run" not in capsys.readouterr().out
    assert all(provenance(path)["batch_size"] == 2 for path in maps)
    # a network built in memory names no weights file: its maps are all made again
    memory = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro")), device="cpu")
    for _ in range(2):
        run_accuracy(memory, synthetic_root, tmp_path / "memory", workers=0)
        assert "were made by an earlier run" not in capsys.readouterr().out
    # a file this project did not write where a later split's maps go: refused before any split is predicted
    Image.new("L", (4, 4)).save(maps[1])  # a user's file where a map goes (no provenance)
    made = {path: path.stat().st_mtime_ns for path in (out / "predictions/SYN-VD").iterdir()}
    with pytest.raises(
        ConfigError, match=r"predictions/SYN-TE \(--out\) holds 1 file\(s\) that mgd-sam2 did not write"
    ):
        run_accuracy(segmenter, synthetic_root, out, workers=0, batch_size=3)
    assert {path: path.stat().st_mtime_ns for path in (out / "predictions/SYN-VD").iterdir()} == made


def test_accuracy_refuses_a_split_with_errors_and_a_root_of_another_layout(
    synthetic_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """An image without its mask, or a mask of another size, is refused before any image is predicted (not dropped
    from the table, nor found after a whole split's predictions); a root one level too deep (the DIS5K folder
    itself) or a renamed dataset folder is an error, and no synthetic set is written into it."""
    from mgd_sam2.data.check import DatasetError

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    segmenter = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro")), device="cpu", name="untrained micro")
    root = tmp_path / "root"
    shutil.copytree(synthetic_root / "synthetic/SYN-TE", root / "DIS5K/DIS-TE1")
    missing = sorted((root / "DIS5K/DIS-TE1/gt").iterdir())[0]
    missing.unlink()
    with pytest.raises(DatasetError, match=f"the benchmark would fail on these files:\nerror: .*{missing.stem}"):
        run_accuracy(segmenter, root, tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()
    for wrong in (root / "DIS5K", tmp_path / "renamed"):
        if not wrong.exists():
            shutil.copytree(root / "DIS5K", wrong / "DIS5K-v1.0")
        with pytest.raises(
            DatasetLayoutError, match="benchmark splits in another layout: (DIS-TE1|DIS5K-v1.0/DIS-TE1)"
        ):
            run_accuracy(segmenter, wrong, tmp_path / "out", workers=0)
        assert not (wrong / "synthetic").exists()
    # other image/mask folders, such as the demo's data under the default root: the synthetic stand-in, as before
    demo = tmp_path / "data"
    shutil.copytree(synthetic_root / "synthetic/SYN-TE", demo / "demo/synthetic/SYN-TE")
    report = run_accuracy(segmenter, demo, tmp_path / "out8", workers=0)
    assert set(report["scores"]) == {"SYN-VD", "SYN-TE"} and (demo / "synthetic").is_dir()


def test_the_dry_run_model_is_the_same_in_every_run(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without --ckpt and a demo run, benchmark accuracy and detail score an untrained micro model: the same one in
    every run (its random weights are seeded), so two dry runs print the same table."""
    import torch

    from mgd_sam2.cli import subcommand_parser
    from mgd_sam2.commands.benchmark import scored_segmenter

    monkeypatch.chdir(tmp_path)  # no runs/demo here
    args = subcommand_parser("benchmark").parse_args(["accuracy", "--device", "cpu"])
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    masks = []
    for _ in range(2):
        torch.seed()  # whatever the global generator holds before each run
        masks.append(scored_segmenter(args).predict(image))
    assert "scoring an UNTRAINED micro model" in capsys.readouterr().out
    np.testing.assert_array_equal(*masks)


def test_dis_tables_get_the_overall_row(tmp_path: Path) -> None:
    from mgd_sam2.metrics.tables import OVERALL, with_dis_overall

    rows = {f"DIS-TE{i}": {"HCE": 100.0 * i, "maxFm": 0.5 + i / 10} for i in range(1, 5)}
    overall = with_dis_overall({"DIS-VD": {"HCE": 1.0, "maxFm": 0.1}, **rows})[OVERALL]
    assert overall == pytest.approx({"HCE": 250.0, "maxFm": 0.75})
    assert OVERALL not in with_dis_overall({"DIS-TE1": rows["DIS-TE1"]})


SPEED_FIELDS = {
    "preset",
    "device",
    "batch",
    "precision",
    "compile",
    "input_size",
    "latency_ms_p50",
    "latency_ms_p90",
    "throughput_img_s",
    "peak_gpu_memory_mb",
    "peak_host_memory_mb",
    "params_total",
    "params_trainable",
    "warmup",
    "iters",
    "sigmoid_diff_vs_fp32",
    "prepare_s",
    "export_peak_memory_mb",
}


def test_speed_json_has_its_fields(tmp_path: Path) -> None:
    assert (
        main(
            [
                "benchmark",
                "speed",
                "--preset",
                "micro",
                "--batch",
                "1,2",
                "--iters",
                "2",
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "s.json").read_text())["speed"]
    assert [row["batch"] for row in rows] == [1, 2]
    for row in rows:
        assert SPEED_FIELDS <= set(row)
        assert row["latency_ms_p90"] >= row["latency_ms_p50"] > 0 and row["throughput_img_s"] > 0
        assert row["peak_gpu_memory_mb"] is None and row["peak_host_memory_mb"] > 0
        assert row["sigmoid_diff_vs_fp32"] == 0.0  # the torch fp32 eager pass is the reference itself
        assert row["export_peak_memory_mb"] is None  # nothing exported


def test_speed_of_training_steps(tmp_path: Path) -> None:
    assert (
        main(
            [
                "benchmark",
                "speed",
                "--preset",
                "micro",
                "--batch",
                "2",
                "--train",
                "--iters",
                "2",
                "--json",
                str(tmp_path / "t.json"),
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "t.json").read_text())["speed"][0]
    assert row["train"] is True and SPEED_FIELDS <= set(row) and row["latency_ms_p50"] > 0


@pytest.mark.slow
def test_speed_profile_splits_each_backend_into_the_models_parts_and_leaks_no_semaphore(
    tmp_path: Path, without_isa_limits
) -> None:
    """The profile splits every backend's pass into the network's parts. Run as a user runs it, in a process of its
    own: every process the benchmark starts (a configuration's, an export step's) ends by returning, for a
    terminated one leaves the lock tqdm makes in torch's ONNX exporter registered, and Python warns of leaked
    semaphores at exit."""
    from mgd_sam2.inference.export import OPENVINO_INT8

    argv = ["benchmark", "speed", "--preset", "micro", "--iters", "1", "--profile", "--json", str(tmp_path / "p.json"),
            "--backend", "torch,onnx-int8,openvino,openvino-int8"]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "mgd_sam2.cli", *argv], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    assert "leaked semaphore" not in result.stderr and "resource_tracker" not in result.stderr, result.stderr
    rows = json.loads((tmp_path / "p.json").read_text())["speed"]
    assert [row["backend"] for row in rows] == ["torch", "onnx-int8", "openvino", "openvino-int8"]
    network_parts = ("Hiera trunk", "MPAdapter", "FPN neck", "SAM2 decoder", "MCEM", "HMIM", "DRM")
    for row in rows:
        parts = row["parts_s"]
        assert all(parts[part] > 0 for part in (*network_parts, "pre-processing", "post-processing")), parts
        inside = sum(parts[part] for part in network_parts)
        assert parts["other"] < inside and inside + parts["other"] <= 1.2 * parts["network"], parts
    assert rows[0]["sigmoid_diff_vs_fp32"] == 0.0
    assert all(0 <= row["sigmoid_diff_vs_fp32"] < 0.01 for row in rows[1:]), rows  # exported: within the goal
    assert rows[0]["export_peak_memory_mb"] is None and all(row["export_peak_memory_mb"] > 0 for row in rows[1:])
    # in fp32, whatever the CPU, openvino-int8 quantizes what a plain --openvino-int8 export does
    assert [row["int8_scope"] for row in rows] == [None, None, None, OPENVINO_INT8.describe()]
    assert "profile: micro onnx-int8" in result.stdout and "profile: micro openvino-int8" in result.stdout
    assert rows[0]["kernels_s"] == {}  # PyTorch's parts are timed by module hooks, not by kernel
    for row in rows[1:]:  # the runtime's own nodes, by kernel: the same counters as the parts
        kernels = row["kernels_s"]
        assert kernels and all(seconds > 0 for seconds in kernels.values()), kernels
        assert list(kernels.values()) == sorted(kernels.values(), reverse=True)
        assert sum(kernels.values()) <= 1.2 * row["parts_s"]["network"], kernels
    assert any("Integer" in kernel or "Quantize" in kernel for kernel in rows[1]["kernels_s"]), rows[1]["kernels_s"]
    assert any(kernel.startswith("FullyConnected ") for kernel in rows[3]["kernels_s"]), rows[3]["kernels_s"]
    assert all(f"kernels: micro {backend}" in result.stdout for backend in ("onnx-int8", "openvino", "openvino-int8"))
    assert "kernels: micro torch" not in result.stdout


@pytest.mark.parametrize(
    ("precision", "scope"), [("bf16-mixed", "amx"), ("32-true", None)], ids=["amx-bf16", "amx-fp32"]
)
def test_speed_quantizes_openvino_int8_as_fastest_does_for_its_cpu_kind(
    monkeypatch, tmp_path: Path, precision: str, scope: str | None
) -> None:
    """``benchmark speed``'s openvino-int8 row asks the export steps for ``--fastest``'s record of its CPU kind and
    precision, and reports the scope that record quantizes (the AMX scope in bf16 on AMX, the default one in fp32)
    and the largest step's memory peak."""
    from mgd_sam2.benchmark.speed import RandomNetwork, SpeedConfig, exported_backend
    from mgd_sam2.inference import backends, export_steps
    from mgd_sam2.inference.export import OPENVINO_INT8, OPENVINO_INT8_SCOPES
    from mgd_sam2.inference.export_formats import RECORD_KIND, RECORD_PRECISION

    asked = []
    steps = [(tmp_path / "model.onnx", {"peak_host_memory_mb": 900.0}), (tmp_path / "x", {"peak_host_memory_mb": 1e3})]
    monkeypatch.setattr(export_steps, "export_steps", lambda *args: asked.append(args) or iter(steps))
    monkeypatch.setattr(backends, "OpenVinoBackend", lambda *args, **kwargs: "loaded")
    config = SpeedConfig("micro", backend="openvino-int8", precision=precision, cpu_kind="amx")
    exported = exported_backend(RandomNetwork("micro"), tmp_path, config)
    assert asked[0][-1] == {RECORD_KIND: "amx", RECORD_PRECISION: precision}
    assert exported.path == tmp_path / "model_int8.xml" and exported.backend == "loaded"
    assert exported.int8_scope == (OPENVINO_INT8_SCOPES[scope] if scope else OPENVINO_INT8).describe()
    assert exported.peak_mb == 1e3  # the largest step's own peak


def test_speed_times_bf16_on_the_torch_and_openvino_backends_where_the_cpu_has_it(
    monkeypatch, without_isa_limits
) -> None:
    import argparse

    from mgd_sam2.commands.benchmark import add_arguments, speed_configs
    from mgd_sam2.inference import backends, devices
    from mgd_sam2.inference.cpu_kind import detect_cpu_kind

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    backends_flag = "torch,onnx,onnx-int8,openvino,openvino-int8"
    args = parser.parse_args(["speed", "--backend", backends_flag, "--precision", "32-true,bf16-mixed", "--profile"])
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(backends, "openvino_has_bf16", lambda: True)
    configs = speed_configs(args)
    assert [(c.backend, c.precision) for c in configs] == [
        ("torch", "32-true"), ("torch", "bf16-mixed"), ("onnx", "32-true"), ("onnx-int8", "32-true"),
        ("openvino", "32-true"), ("openvino", "bf16-mixed"), ("openvino-int8", "32-true"),
        ("openvino-int8", "bf16-mixed"),
    ]  # fmt: skip
    assert all(config.profile for config in configs)  # the bf16 passes are profiled too
    assert {config.cpu_kind for config in configs} == {detect_cpu_kind().kind}  # openvino-int8 quantizes for it
    forced = parser.parse_args(
        ["speed", "--backend", "openvino-int8", "--precision", "bf16-mixed", "--cpu-kind", "amx"]
    )
    assert [config.cpu_kind for config in speed_configs(forced)] == ["amx"]
    only_bf16 = parser.parse_args(["speed", "--backend", "onnx", "--precision", "bf16-mixed"])
    assert [(c.backend, c.precision) for c in speed_configs(only_bf16)] == [("onnx", "32-true")]
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="no native bf16 kernels"):
        speed_configs(args)
    assert [c.backend for c in speed_configs(only_bf16)] == ["onnx"]  # no torch pass: nothing to refuse
    monkeypatch.setattr(backends, "openvino_has_bf16", lambda: False)
    openvino_bf16 = parser.parse_args(["speed", "--backend", "openvino-int8", "--precision", "bf16-mixed"])
    with pytest.raises(ConfigError, match="OpenVINO reports no native bf16 kernels"):
        speed_configs(openvino_bf16)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # emulating a smaller CPU: ONNX Runtime cannot follow
    with pytest.raises(ConfigError, match="ONNX Runtime has no switch to limit its instruction sets, so under "
                       "ONEDNN_MAX_CPU_ISA=AVX2"):  # fmt: skip
        speed_configs(only_bf16)
    assert [c.backend for c in speed_configs(parser.parse_args(["speed", "--backend", "torch,openvino"]))] == [
        "torch", "openvino"
    ]  # fmt: skip


def test_sigmoid_drift_is_the_mean_probability_difference_from_torch_fp32() -> None:
    import torch

    from mgd_sam2.benchmark.speed import sigmoid_drift
    from mgd_sam2.data.view_cutting import tile
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    model = MGDSAM2(NetworkConfig(preset="micro")).eval()
    views = tile(torch.randn(1, 3, model.input_size, model.input_size), model.grid)
    with torch.inference_mode():
        reference = model(views).logits
    shifted = reference + 0.5
    expected = float((shifted.sigmoid() - reference.sigmoid()).abs().mean())
    for config in (SpeedConfig("micro", precision="bf16-mixed"), SpeedConfig("micro", backend="openvino")):
        assert sigmoid_drift(model, views, shifted, config) == pytest.approx(expected, rel=1e-5)
        assert sigmoid_drift(model, views, reference, config) < 1e-6
    assert sigmoid_drift(model, views, shifted, SpeedConfig("micro")) == 0.0  # torch fp32 eager is the reference


def test_interleaved_speed_takes_turns_and_pairs_each_round_with_the_first(monkeypatch) -> None:
    """Each configuration warms up once, then every round times one pass of each, in a balanced order; the
    paired speed-up is the median over rounds of the first configuration's seconds over each one's in the same
    round."""
    from mgd_sam2.benchmark import speed

    passes: list[int] = []
    models = []
    prepare = speed.prepare

    def recording(config, folder, networks):
        runner = prepare(config, folder, networks)
        models.append(runner.model)
        step = runner.step
        runner.step = lambda: (passes.append(config.batch), step())[1]
        return runner

    # seconds of each pass in order: two warm-ups (not paired), then rounds (batch 1, batch 2), (2, 1), (1, 2)
    seconds = iter([9.0, 9.0, 2.0, 1.0, 1.0, 4.0, 3.0, 1.0])
    monkeypatch.setattr(speed, "prepare", recording)
    monkeypatch.setattr(speed, "timed", lambda step: (next(seconds), step()))
    result = speed.measure_interleaved([SpeedConfig("micro", iters=3), SpeedConfig("micro", batch=2, iters=3)])
    assert passes == [1, 2, 1, 2, 2, 1, 1, 2]
    assert models[0] is models[1]  # one network for both batch sizes, not one each
    assert result["orders"] == [[0, 1], [1, 0], [0, 1]]
    first, second = result["rows"]
    assert (first["latencies_ms"], second["latencies_ms"]) == ([2000.0, 4000.0, 3000.0], [1000.0, 1000.0, 1000.0])
    assert (
        first["paired_speedup_vs_first"] == 1.0 and second["paired_speedup_vs_first"] == 6.0
    )  # per image: 2 images, median of 2, 4, 3
    assert (first["latency_ms_p50"], second["latency_ms_p50"]) == (3000.0, 1000.0)
    assert first["warmup_s"] == second["warmup_s"] == 9.0
    assert result["rounds"] == 3 and result["peak_host_memory_mb"] > 0 and result["peak_gpu_memory_mb"] is None
    assert all(row["peak_host_memory_mb"] is None for row in result["rows"])  # one process: not per configuration
    assert all(row["export_peak_memory_mb"] is None for row in result["rows"])  # torch: nothing exported
    exported = speed.Runner(None, None, None, None, types.SimpleNamespace(peak_mb=1234.5), None)
    assert speed.interleaved_memory(exported)["export_peak_memory_mb"] == 1234.5  # its steps' own peak
    assert second["sigmoid_diff_vs_fp32"] == 0.0  # torch fp32 eager: its own reference


def test_interleaved_rows_of_one_network_and_batch_share_one_fp32_reference(monkeypatch) -> None:
    """The drift of every interleaved row is measured from torch fp32 eager's own last pass where that row is among
    them (no reference pass for its batch size) and from one reference pass per other batch size, with the values
    a reference pass of each row's own gives."""
    from mgd_sam2.benchmark import speed

    computed: list[int] = []
    drift = speed.sigmoid_drift

    def counting(model, views, logits, config, references=None):
        before = dict(references or {})
        value = drift(model, views, logits, config, references)
        computed.extend(config.batch for key in (references or {}) if key not in before)
        fresh = drift(model, views, logits, config)  # its own reference pass
        assert value == pytest.approx(fresh, rel=0, abs=1e-6), config  # fp32 probabilities: a few ulp (1.2e-7) apart
        return value

    monkeypatch.setattr(speed, "sigmoid_drift", counting)
    bf16 = {"precision": "bf16-mixed", "iters": 1, "warmup": 0}
    configs = [SpeedConfig("micro", iters=1, warmup=0), SpeedConfig("micro", **bf16),
               SpeedConfig("micro", batch=2, **bf16), SpeedConfig("micro", batch=2, **bf16)]  # fmt: skip
    rows = speed.measure_interleaved(configs)["rows"]
    assert computed == [2]  # batch 1: torch fp32's pass; batch 2: one reference pass for both rows
    assert rows[0]["sigmoid_diff_vs_fp32"] == 0.0 and all(row["sigmoid_diff_vs_fp32"] > 0 for row in rows[1:])
    assert rows[2]["sigmoid_diff_vs_fp32"] == rows[3]["sigmoid_diff_vs_fp32"]


@pytest.mark.slow
def test_a_compiled_configuration_interleaves_with_eager_on_one_network() -> None:
    """``--compile`` beside eager in one interleaved process: the compiled network is the eager one's (torch.compile
    wraps it), compilation happens in its warm-up, and its probabilities match eager fp32's to fp32 rounding."""
    from mgd_sam2.benchmark import speed

    eager, compiled = SpeedConfig("micro", iters=2), SpeedConfig("micro", compile=True, iters=2)
    result = speed.measure_interleaved([eager, compiled])
    first, second = result["rows"]
    assert (first["compile"], second["compile"]) == (False, True) and result["orders"] == [[0, 1], [1, 0]]
    assert second["warmup_s"] > max(second["latencies_ms"]) / 1000  # the warm-up compiled it
    assert second["paired_speedup_vs_first"] > 0
    # inductor's fused kernels are another fp32 kernel set (FP32_KERNELS bounds the logits; sigmoid' <= 1/4); a bf16
    # pass drifts ~1e-3 here
    assert 0 <= second["sigmoid_diff_vs_fp32"] < FP32_KERNELS / 4


def test_benchmark_speed_interleave_writes_the_paired_speedups(tmp_path: Path) -> None:
    argv = ["benchmark", "speed", "--preset", "micro", "--batch", "1,2", "--iters", "2", "--interleave"]
    assert main([*argv, "--json", str(tmp_path / "s.json")]) == 0
    measured = json.loads((tmp_path / "s.json").read_text())
    assert measured["interleaved"]["rounds"] == 2 and measured["interleaved"]["peak_host_memory_mb"] > 0
    rows = measured["speed"]
    assert [row["batch"] for row in rows] == [1, 2] and rows[0]["paired_speedup_vs_first"] == 1.0
    assert rows[1]["paired_speedup_vs_first"] > 0 and all(SPEED_FIELDS <= set(row) for row in rows)
    for refused in ("--train", "--profile"):
        assert main([*argv, refused]) == 1


def test_the_kernel_table_shows_the_long_kernels_and_sums_the_rest() -> None:
    from mgd_sam2.commands.benchmark import kernel_rows

    rows = kernel_rows(
        {"FullyConnected brgemm": 0.5, "Eltwise jit": 0.3, "Reorder ref": 0.005, "Split ref": 0.004}, 1.0
    )
    assert [row["kernel"] for row in rows] == ["FullyConnected brgemm", "Eltwise jit", "2 others"]
    assert rows[-1]["ms"] == pytest.approx(9.0) and rows[0]["share_%"] == pytest.approx(50.0)


@pytest.mark.parametrize("count", range(1, 9))
def test_the_turn_order_is_balanced_in_place_and_neighbour(count: int) -> None:
    """Over a Williams design's period every configuration takes every place, and directly follows every other,
    equally often (a fixed or merely rotated order keeps each one's neighbour)."""
    from collections import Counter

    from mgd_sam2.benchmark.speed import balanced_period, round_order

    rows = [round_order(count, index) for index in range(balanced_period(count))]
    assert len(rows) == (count if count % 2 == 0 or count == 1 else 2 * count)
    assert all(sorted(row) == list(range(count)) for row in rows)
    places = Counter((value, place) for row in rows for place, value in enumerate(row))
    neighbours = Counter(pair for row in rows for pair in zip(row, row[1:], strict=False))
    assert len(places) == count**2 and len(set(places.values())) == 1
    assert len(neighbours) == count * (count - 1) and len(set(neighbours.values())) <= 1


def test_rounds_short_of_a_whole_period_are_noted() -> None:
    """12 rounds of 5 configurations (a period of 10) and 3 of 4 are noted, with the nearest whole number of
    periods; 10 and 20 rounds of 5, and any number of rounds of 1, are not."""
    from mgd_sam2.commands.benchmark import unbalanced_note

    note = unbalanced_note(5, 12)
    assert note and "period (10 rounds for 5 configurations): the last 2 repeat the first 2 of a period" in note
    assert note.endswith("--iters 10 would be")
    short = unbalanced_note(4, 3)
    assert short and "they are less than one period" in short and short.endswith("--iters 4 would be")
    assert unbalanced_note(5, 10) is None and unbalanced_note(5, 20) is None and unbalanced_note(1, 7) is None


def test_an_interleaved_run_says_what_its_paired_speedups_are_over() -> None:
    from mgd_sam2.commands.benchmark import paired_over

    fp32 = {"backend": "torch", "precision": "32-true", "compile": False}
    assert paired_over(fp32).endswith("over the first configuration, torch 32-true")
    for other in ({**fp32, "precision": "bf16-mixed"}, {**fp32, "compile": True}, {**fp32, "backend": "openvino"}):
        assert "not torch fp32: list torch and 32-true first" in paired_over(other)


def test_interleaving_is_refused_in_one_wording_before_anything_runs(capsys) -> None:
    """The CLI refuses --train, --profile (before exporting) with the library's own reason."""
    from mgd_sam2.benchmark.speed import interleave_refusal, measure_interleaved

    configs = [SpeedConfig("micro", train=True)]
    with pytest.raises(ValueError) as raised:
        measure_interleaved(configs)
    assert interleave_refusal(configs) is not None and str(raised.value) == interleave_refusal(configs)
    assert interleave_refusal([SpeedConfig("micro", iters=2), SpeedConfig("micro", iters=3)]) is not None
    assert interleave_refusal([SpeedConfig("micro"), SpeedConfig("micro", batch=2)]) is None
    assert interleave_refusal([SpeedConfig("micro"), SpeedConfig("micro", device="cuda")]) is not None
    assert main(["benchmark", "speed", "--preset", "micro", "--interleave", "--train"]) == 1
    assert f"benchmark speed --interleave: {interleave_refusal(configs)}" in capsys.readouterr().err


def test_speed_protocol_counts_the_switched_model() -> None:
    full = measure(SpeedConfig("micro", iters=1))
    bare = measure(
        SpeedConfig(
            "micro",
            iters=1,
            switches=(("use_adapters", False), ("use_mcem", False), ("use_hmim", False), ("use_drm", False)),
        )
    )
    assert bare["params_trainable"] < full["params_trainable"] and bare["use_drm"] is False


@pytest.mark.slow
def test_ablation_table(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    from mgd_sam2.benchmark.ablation import ABLATIONS, CONSTANT, run_ablation
    from mgd_sam2.commands.demo import CONFIG

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    rows = run_ablation(
        CONFIG,
        synthetic_root,
        tmp_path / "ablation",
        epochs=1,
        speed_iters=1,
        extra=["--trainer.limit_train_batches", "1", "--data.batch_size", "2"],  # 6 training images
    )
    assert [row["configuration"] for row in rows] == [CONSTANT] + [name for name, _ in ABLATIONS]
    constant, rows = rows[0], rows[1:]
    assert constant["SYN-TE/MAE"] > 0 and "params_trainable" not in constant  # nothing trained, nothing timed
    trainable = [row["params_trainable"] for row in rows]
    assert trainable[0] == trainable[1] < trainable[2] < trainable[3] < trainable[4] < trainable[5]
    assert all("SYN-TE/Smeasure" in row and "SYN-HO/Smeasure" in row and row["latency_ms_p50"] > 0 for row in rows)
    table = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "| + DRM |" in table and f"| {CONSTANT} | – | – |" in table


def test_data_and_metric_benchmarks_report_their_figures(synthetic_root: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "benchmark",
                "metrics",
                "--pairs",
                "2",
                "--size",
                "128",
                "--hce-sizes",
                "64",
                "128",
                "--workers",
                "0",
                "--memory-size",
                "1200x900",
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["evaluation"]["pairs"] == 2 and metrics["evaluation"]["speedup_cold"] > 0
    assert metrics["curves"]["speedup"] > 0 and [row["size"] for row in metrics["hce"]] == [64, 128]
    memory = metrics["memory"]  # a fresh process's peak above its own start: the pair's arrays and the metrics'
    assert (memory["width"], memory["height"]) == (1200, 900) and 0 < memory["started_rss_mb"] < memory["peak_rss_mb"]
    assert memory["bytes_per_pixel"] == (memory["peak_rss_mb"] - memory["started_rss_mb"]) * 2**20 / (1200 * 900)
    assert (
        main(
            [
                "benchmark",
                "data",
                "--root",
                str(synthetic_root),
                "--input-size",
                "64",
                "--batches",
                "2",
                "--workers",
                "0",
                "--sizes",
                "64",
                "--json",
                str(tmp_path / "d.json"),
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["loader"]["train_images_per_s"] > 0 and data["generator"][0]["size"] == 64


def test_scaling_benchmark_times_training_steps(tmp_path: Path, monkeypatch) -> None:
    """One fit per device count, each timed by its StepTimer; the fits leave nothing in the working folder (their
    saved config.yaml went to its runs/, over a user's run's)."""
    from mgd_sam2.benchmark.scaling import run_scaling
    from mgd_sam2.commands.demo import CONFIG
    from mgd_sam2.data.synth import SynthConfig, write_dataset

    write_dataset(
        tmp_path / "synthetic", SynthConfig(num=8, held_out=0, min_size=64, max_size=96), workers=0, show=False
    )
    extra = ["--data.root", str(tmp_path), "--data.test", "null", "--data.num_workers", "0"]
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    rows = run_scaling(CONFIG, [1], global_batch=2, steps=2, warmup=1, extra=extra)
    assert rows[0]["devices"] == 1 and rows[0]["steps_per_s"] > 0 and rows[0]["efficiency"] == 1.0
    assert not list((tmp_path / "cwd").rglob("*"))


def test_predict_benchmark_times_predict_end_to_end_against_the_network(
    trained_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    from mgd_sam2.benchmark.predict_speed import MIXED_SIZES

    argv = ["benchmark", "predict", "--ckpt", str(trained_checkpoint), "--device", "cpu", "--workers", "0"]
    assert main([*argv, "--images", "3", "--batch", "1,2", "--json", str(tmp_path / "p.json")]) == 0
    rows = json.loads((tmp_path / "p.json").read_text())["predict"]
    assert [(row["batch"], row["images"], row["workers"]) for row in rows] == [(1, 3, 0), (2, 3, 0)]
    for row in rows:  # batch 2: a batch of 2 and one of 1, every image timed once
        assert row["megapixels_mean"] == pytest.approx(sum(w * h for w, h in MIXED_SIZES[:3]) / 3e6)
        assert row["network_img_s"] > 0 and row["end_to_end_img_s"] > 0
        assert 0 < row["writing_ms_per_image"] < 1000 / row["end_to_end_img_s"]  # the writer thread's share of it
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    assert main([*argv, "--input", str(photos)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_backends_benchmark_scores_every_configuration_against_torch_fp32(
    overfit_run, tmp_path: Path, without_isa_limits
) -> None:
    """``benchmark backends`` on a model that fits its 4 images: torch fp32 is its own reference, the fp32 exports
    are within one grey level of it, the quantized and bf16 ones within their bounds (tests/bounds.py); a bf16 row
    is skipped only on a CPU without native bf16, saying why; the JSON says when, how and on what it was measured."""
    from mgd_sam2.inference.backends import openvino_has_bf16
    from mgd_sam2.inference.cpu_kind import detect_cpu_kind
    from mgd_sam2.inference.fastest import FASTEST, fastest_files

    split = overfit_run.root / "synthetic/SYN-TR"
    out, measured = tmp_path / "out", tmp_path / "backends.json"
    # in its own process, as a user runs it: the OpenVINO and ONNX Runtime sessions stay out of pytest's process
    # (with them loaded there, a later fork of pytest crashed in a full run)
    command = [sys.executable, "-m", "mgd_sam2.cli", "benchmark", "backends", "--ckpt", str(overfit_run.checkpoint),
               "--data-root", str(overfit_run.root), "--splits", "synthetic/SYN-TR", "--calibration", str(split / "im"),
               "--calibration-images", "2", "--out", str(out), "--json", str(measured)]  # fmt: skip
    assert subprocess.run(command).returncode == 0
    saved = json.loads(measured.read_text())
    assert set(saved) == {"date", "command", "machine", "backends"}
    assert saved["command"].startswith("mgd-sam2 benchmark backends") and "flags" in saved["machine"]
    rows = {row["label"]: row for row in saved["backends"]}
    assert [label.split(" (")[0] for label in rows] == [run.label for run in RUNS]
    cpu = detect_cpu_kind()
    fastest, chosen = saved["backends"][-1], fastest_files(cpu, out / "exports" / "fastest")
    assert (
        fastest["label"] == f"model export --fastest ({cpu.kind}: {FASTEST[cpu.kind].describe(fastest['precision'])})"
    )
    assert fastest["cpu_kind"] == cpu.kind and fastest["backend"] == ("openvino" if chosen.openvino_int8 else "onnx")
    recorded = FASTEST[cpu.kind].precision == "bf16-mixed" and openvino_has_bf16()
    assert fastest["precision"] == ("bf16-mixed" if recorded else "32-true")  # what the file records, where it can
    reference = rows["torch fp32"]
    assert reference["maps_vs_fp32"] == {"mean": 0.0, "max": 0}
    for label, row in rows.items():
        if "skipped" in row:
            assert row["precision"] == "bf16-mixed" and "bf16" in row["skipped"]
            continue
        distance, quantized = row["maps_vs_fp32"], "int8" in label or row["precision"] == "bf16-mixed"
        if not quantized:
            assert distance["max"] <= MAP_LEVELS_FP32, label
        assert distance["mean"] <= QUANTIZED_MAP_MEAN, label
        difference = row["scores"]["SYN-TR"]["Smeasure"] - reference["scores"]["SYN-TR"]["Smeasure"]
        assert abs(difference) <= QUANTIZED_SMEASURE, label
    written = [chosen.onnx, chosen.int8, chosen.openvino_int8]
    written += [chosen.openvino_int8.with_suffix(".bin")] if chosen.openvino_int8 else []
    assert sorted(path.name for path in (out / "exports").iterdir()) == sorted(
        ["model.onnx", "model_int8.bin", "model_int8.onnx", "model_int8.xml", *(path.name for path in written if path)]
    )
    assert fastest["file"] == chosen.runs.name


def test_the_detail_benchmarks_intervals_are_paired_bootstrap_percentiles() -> None:
    from mgd_sam2.benchmark.detail import gain, paired_interval, ratio

    base = np.array([3.0, 5.0, 8.0, 13.0])
    assert paired_interval(base, base + 0.5, gain) == (0.5, 0.5)  # the same change on every image: no spread
    assert paired_interval(base, 2 * base, ratio) == (2.0, 2.0)
    # two images whose changes are -1 and +1: a draw's mean is -1, 0 or +1, the extremes each a quarter of draws
    assert paired_interval(np.ones(2), np.array([0.0, 2.0]), gain) == (-1.0, 1.0)
    # an image without a value (NaN) is left out of each draw's statistic
    assert paired_interval(np.array([1.0, np.nan, 3.0]), np.array([2.0, np.nan, 4.0]), gain) == (1.0, 1.0)
    assert paired_interval(base, base[::-1], ratio, seed=1) == paired_interval(base, base[::-1], ratio, seed=1)


@pytest.mark.slow
def test_detail_benchmark_scores_and_times_each_mode(trained_checkpoint: Path, tmp_path: Path, capsys) -> None:
    argv = ["benchmark", "detail", "--ckpt", str(trained_checkpoint), "--device", "cpu", "--data-root",
            str(tmp_path / "data"), "--size", "256", "256", "--images", "2", "--modes", "off,tiles", "--zooms", "2",
            "--out", str(tmp_path / "out"), "--preset", "micro", "--megapixels", "0.07", "--timed-zooms", "2",
            "--workers", "0", "--json", str(tmp_path / "d.json")]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((tmp_path / "d.json").read_text())
    synth = report["synth"]
    assert report["images"] == 2 and synth["min_size"] == 256 and synth["hard_cases"]["occluded"] == 0
    off, tiles, empty = report["accuracy"]
    assert (off["configuration"], tiles["configuration"], empty["configuration"]) == ("off", "tiles x2", "empty mask")
    assert empty["s_per_image"] is None is empty["time_ratio"]  # the trivial baseline, not timed
    assert empty["per_image"]["name"] == off["per_image"]["name"]
    assert all(np.isfinite(empty[f"{key}_interval"]).all() for key in ("Smeasure_gain", "mBA_gain", "HCE_ratio"))
    for name in empty["per_image"]["name"]:
        mask = np.asarray(Image.open(Path(empty["predictions"]) / f"{name}.png"))
        gt = Image.open(tmp_path / "data/synthetic/SYN-TE/gt" / f"{name}.png")
        assert mask.shape == gt.size[::-1] and mask.dtype == np.uint8 and not mask.any()
    for row in (off, tiles):
        assert 0 <= row["Smeasure"] <= 1 and 0 <= row["maxFm"] <= 1 and row["HCE"] >= 0 and row["s_per_image"] > 0
        assert len(list(Path(row["predictions"]).glob("*.png"))) == 2
    assert off["mBA_gain"] == 0 and off["time_ratio"] == 1 and tiles["mBA_gain"] == tiles["mBA"] - off["mBA"]
    assert off["Smeasure_gain_interval"] == off["mBA_gain_interval"] == [0, 0] and off["HCE_ratio_interval"] == [1, 1]
    assert tiles["per_image"]["name"] == off["per_image"]["name"] == ["syn_00008", "syn_00009"]
    assert np.mean(tiles["per_image"]["HCE"]) == tiles["HCE"]
    for key in ("Smeasure_gain", "mBA_gain", "HCE_ratio"):
        low, high = tiles[f"{key}_interval"]
        assert low <= high and np.isfinite([low, high]).all(), key
    figure = Image.open(report["figure"])
    assert figure.size == (4 * 256, 256 + 16)  # input, GT, off, tiles x2 (not the empty mask)
    cost_off, cost_tiles = report["cost"]
    assert (cost_off["width"], cost_off["height"]) == (353, 199) and cost_off["passes"] == 1
    assert cost_tiles["passes"] == 1 + 2  # the 128 px input: two tiles across, one down; both uncertain
    assert all(row["peak_rss_mb"] >= row["model_rss_mb"] > 0 and row["seconds"] > 0 for row in report["cost"])
    # --images 0: the cost alone, with no split generated nor model scored
    argv[argv.index("--images") + 1] = "0"
    argv[argv.index("--data-root") + 1] = str(tmp_path / "none")
    assert main(argv) == 0
    assert "note: --images 0: no accuracy part; only the time and memory of micro" in capsys.readouterr().out
    report = json.loads((tmp_path / "d.json").read_text())
    assert set(report) == {"command", "date", "machine", "cost"} and len(report["cost"]) == 2
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_the_torch_profile_runs_in_the_timed_passes_precision(monkeypatch, precision: str) -> None:
    """``--profile`` on torch times its parts under the autocast its timed passes run under (bf16 or none)."""
    import torch

    from mgd_sam2.benchmark import speed

    states = []

    def recording(*args):
        states.append(torch.is_autocast_enabled("cpu"))
        return {}, {}

    monkeypatch.setattr(speed, "profile_parts", recording)
    measure(SpeedConfig("micro", precision=precision, profile=True, warmup=0, iters=1))
    assert states == [precision == "bf16-mixed"]
