"""The training path can fit a handful of images, and the Trainer flags a Lightning user debugs with work with our
DataModule, module and CLI (issue: Lightning's debugging flags)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import OVERFIT_EVERY, OVERFIT_STEPS, OverfitRun
from mgd_sam2.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "src/mgd_sam2/configs/demo.yaml")


def test_the_training_path_fits_four_images(overfit_run: OverfitRun) -> None:
    """Sα >= 0.9 and MAE <= 0.05 on the images trained on: what a broken link between the data, the views, the
    network and the loss could not reach (the untrained model scores about 0.4 and 0.4)."""
    curve = overfit_run.curve
    assert [point["step"] for point in curve] == list(range(OVERFIT_EVERY, OVERFIT_STEPS + 1, OVERFIT_EVERY))
    assert curve[-1]["Smeasure"] >= 0.9 and curve[-1]["MAE"] <= 0.05, curve
    assert curve[-1]["loss"] < curve[0]["loss"] and curve[-1]["Smeasure"] > curve[0]["Smeasure"], curve


def fit(tmp_path: Path, synthetic_root: Path, *flags: str) -> tuple[int, dict]:
    """`mgd-sam2 fit` of the demo config for 2 epochs on the test data in ``tmp_path``, with ``flags``; (exit status,
    steps.json)."""
    argv = [
        "fit", "-c", DEMO, "--data.root", str(synthetic_root), "--data.num_workers", "0", "--data.batch_size", "2",
        "--trainer.max_epochs", "2", "--trainer.check_val_every_n_epoch", "1",
        "--trainer.callbacks+=callbacks.RecordSteps", f"--trainer.callbacks.folder={tmp_path}", *flags,
    ]  # fmt: skip
    code = main(argv)
    steps = tmp_path / "steps.json"
    return code, json.loads(steps.read_text()) if steps.is_file() else {}


# flags -> what the run must show; the data: 6 training images, batch 2 -> 3 batches an epoch; 2 validation images
FLAGS = {
    "overfit_batches": (["--trainer.overfit_batches", "1"], {"global_step": 2, "train": 2}),
    "fast_dev_run": (["--trainer.fast_dev_run", "true"], {"global_step": 1, "train": 1, "val": 1}),
    "limit_batches": (
        ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"],
        {"global_step": 4, "train": 4, "val": 2},
    ),
    "limit_fractions": (["--trainer.limit_train_batches", "0.67"], {"global_step": 4, "train": 4}),
    "detect_anomaly": (["--trainer.detect_anomaly", "true"], {"global_step": 6}),
    "profiler_simple": (["--trainer.profiler", "simple"], {"global_step": 6}),
    "profiler_advanced": (["--trainer.profiler", "advanced"], {"global_step": 6}),
    "num_sanity_val_steps": (["--trainer.num_sanity_val_steps", "1"], {"sanity": 1, "val": 2 * 1}),
    "accumulate_grad_batches": (["--trainer.accumulate_grad_batches", "3"], {"global_step": 2, "train": 6}),
    "gradient_clip_val": (["--trainer.gradient_clip_val", "0.5"], {"global_step": 6}),
    "gradient_clip_value": (
        ["--trainer.gradient_clip_val", "0.5", "--trainer.gradient_clip_algorithm", "value"],
        {"global_step": 6},
    ),
    "deterministic": (["--trainer.deterministic", "true"], {"global_step": 6}),
    "no_augmentation": (["--data.augment", "false"], {"global_step": 6}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FLAGS))
def test_lightning_debugging_flags_work(
    name: str, synthetic_root: Path, tmp_path: Path, capsys, caplog, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the run folder goes here
    lightning_log = logging.getLogger("lightning.pytorch")  # does not propagate: caplog listens to it directly
    lightning_log.addHandler(caplog.handler)
    try:
        flags, expected = FLAGS[name]
        code, steps = fit(tmp_path, synthetic_root, *flags)
    finally:
        lightning_log.removeHandler(caplog.handler)
    assert code == 0, capsys.readouterr().err[-2000:]
    assert {key: steps[key] for key in expected} == expected, steps
    if name.startswith("profiler"):
        assert "FIT Profiler Report" in caplog.text


def test_a_batch_limit_below_one_batch_is_a_one_line_error(
    synthetic_root: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _ = fit(tmp_path, synthetic_root, "--trainer.limit_train_batches", "0.1")
    err = capsys.readouterr().err.strip()
    assert code == 1 and "limit_train_batches" in err and len(err.splitlines()) == 1, err
