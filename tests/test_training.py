"""Training with Lightning on CPU (micro preset): steps, exact resume after kill -9, configs, prediction, weights."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import linked_split
from mgd_sam2.cli import main
from mgd_sam2.commands.demo import same_score
from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.data.io import read_mask
from mgd_sam2.data.synth import SynthConfig, write_dataset
from mgd_sam2.data.view_cutting import tile
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.loading import export_trained_weights, load_network
from mgd_sam2.models.checkpoints import CheckpointError
from mgd_sam2.models.groups import TRUNK, module_group
from mgd_sam2.models.multi_view import arrange_views, resize
from mgd_sam2.models.network import MGDSAM2, NetworkConfig
from mgd_sam2.training import cli as training_cli
from mgd_sam2.training.checkpoint_io import AtomicCheckpointIO
from mgd_sam2.training.cli import build_cli
from mgd_sam2.training.loss import bce_iou, iou_loss, mgd_loss
from mgd_sam2.training.module import MGDSAM2Module

ROOT = Path(__file__).resolve().parent.parent
MGD_SAM2 = Path(sys.executable).parent / "mgd-sam2"
CONFIGS = [
    ROOT / "lightning_config.yaml",
    ROOT / "src/mgd_sam2/configs/hrsod.yaml",
    ROOT / "src/mgd_sam2/configs/demo.yaml",
]


def micro_module(**hparams) -> MGDSAM2Module:
    seed_everything(0)
    return MGDSAM2Module(
        network=NetworkConfig(preset="micro"),
        val_metrics=["S", "MAE"],
        test_metrics=["S", "MAE", "F"],
        log_images_every_n_steps=1,
        **hparams,
    )


def datamodule(root: Path, module: MGDSAM2Module, **kwargs) -> SegmentationDataModule:
    return SegmentationDataModule(
        root=str(root),
        train=["synthetic/SYN-TR"],
        val=["synthetic/SYN-VD"],
        test=["synthetic/SYN-TE"],
        input_size=module.input_size,
        grid=module.grid,
        batch_size=2,
        num_workers=0,
        check=False,
        **kwargs,
    )


def trainer(tmp_path: Path, **kwargs) -> Trainer:
    return Trainer(
        accelerator="cpu",
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        **kwargs,
    )


def test_a_few_fit_steps_train_and_log(synthetic_root: Path, tmp_path: Path) -> None:
    module = micro_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fit = trainer(tmp_path, max_epochs=1, limit_train_batches=2, log_every_n_steps=1)
    fit.fit(module, datamodule=datamodule(synthetic_root, module))
    after = module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("model.encoder.adapters.") for k in changed) and any(
        k.startswith("model.drm.") for k in changed
    )
    assert not any(k.startswith("model.encoder.trunk.") for k in changed)  # frozen
    logged = fit.callback_metrics
    assert torch.isfinite(logged["train/loss"]) and "val/SYN-VD/Smeasure" in logged and "val/Smeasure" in logged
    assert (Path(fit.log_dir) / "checkpoints").is_dir()


def test_the_demo_config_trains_the_same_weights_twice(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    """index.md: "on one machine a rerun gives the same numbers". The demo's config (no ``deterministic`` flag)
    trains bit-identical weights in two runs of the same command."""
    from mgd_sam2.training.cli import build_cli

    monkeypatch.chdir(tmp_path)
    weights = []
    for run in ("first", "second"):
        cli = build_cli(["fit", "-c", str(ROOT / "src/mgd_sam2/configs/demo.yaml"), "--data.root", str(synthetic_root),
                         "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2", "--data.batch_size", "2",
                         "--trainer.default_root_dir", run])  # fmt: skip
        assert cli.trainer.global_step == 4
        weights.append(cli.model.state_dict())
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    start = build_cli(["-c", str(ROOT / "src/mgd_sam2/configs/demo.yaml")], run=False).model.state_dict()
    assert not all(torch.equal(start[key], weights[0][key]) for key in start)  # it trained


def test_optimizer_groups_and_poly_schedule(synthetic_root: Path, tmp_path: Path) -> None:
    module = micro_module(lr=1e-3)
    fit = trainer(tmp_path, max_epochs=4, limit_train_batches=1, limit_val_batches=0)
    fit.fit(module, datamodule=datamodule(synthetic_root, module))
    optimizer = fit.optimizers[0]
    new, pretrained = optimizer.param_groups
    assert (new["name"], pretrained["name"]) == ("new", "pretrained")
    assert new["weight_decay"] == 0.0 and pretrained["weight_decay"] == 1e-5
    groups = module.model.parameter_groups()
    assert len(new["params"]) == len(groups["new"]) and len(pretrained["params"]) == len(groups["pretrained"])
    # after 4 of 4 epochs the poly factor (1 - 4/4)^0.9 is 0; check the intermediate values from the scheduler itself
    scheduler = fit.lr_scheduler_configs[0].scheduler
    factors = [scheduler.lr_lambdas[0](epoch) for epoch in range(4)]
    np.testing.assert_allclose(factors, [(1 - e / 4) ** 0.9 for e in range(4)])
    assert pretrained["initial_lr"] == pytest.approx(0.1 * new["initial_lr"]) and new["initial_lr"] == 1e-3
    assert fit.lr_scheduler_configs[0].interval == "epoch"


def test_loss_is_bce_plus_iou_with_a_view_term() -> None:
    torch.manual_seed(0)
    logits, mask = torch.randn(2, 1, 64, 64), (torch.rand(2, 1, 64, 64) > 0.5).float()
    prob = torch.sigmoid(logits)
    inter = (prob * mask).sum(dim=(1, 2, 3))
    expected_iou = (1 - inter / (prob.sum(dim=(1, 2, 3)) + mask.sum(dim=(1, 2, 3)) - inter)).mean()
    torch.testing.assert_close(iou_loss(logits, mask), expected_iou)
    view_logits = torch.randn(10, 1, 8, 8)
    view_targets = arrange_views(tile(mask, 2, global_mode="nearest"))  # (10, 1, 32, 32)
    losses = mgd_loss(logits, view_logits, mask, view_targets)
    torch.testing.assert_close(losses["final"], bce_iou(logits, mask))
    torch.testing.assert_close(losses["aux"], bce_iou(resize(view_logits, (32, 32)), view_targets))
    torch.testing.assert_close(losses["loss"], losses["final"] + 0.3 * losses["aux"])


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`mgd-sam2 ARGS` in ``cwd`` (tests/ importable, for tests/callbacks.py)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    return subprocess.run([str(MGD_SAM2), *args], cwd=cwd, capture_output=True, text=True, env=env)


def run_folder(cwd: Path, synthetic_root: Path) -> Path:
    cwd.mkdir()
    (cwd / "data").mkdir()
    (cwd / "data" / "synthetic").symlink_to(synthetic_root / "synthetic")
    return cwd


@pytest.mark.slow
def test_kill_minus_nine_then_the_readme_resume_command_continues_exactly(synthetic_root: Path, tmp_path: Path) -> None:
    """README: `mgd-sam2 fit -c CONFIG --ckpt_path last` after a kill -9 continues the same run, bit for bit."""
    config = str(ROOT / "tests/fixtures/resume.yaml")
    whole = run_folder(tmp_path / "whole", synthetic_root)
    assert cli(whole, "fit", "-c", config).returncode == 0
    killed = run_folder(tmp_path / "killed", synthetic_root)
    nothing = cli(killed, "fit", "-c", config, "--ckpt_path", "last")  # nothing to resume yet: say so, fail
    assert nothing.returncode == 1 and "nothing to resume" in nothing.stderr
    assert not (killed / "runs").exists()
    # epoch 1 has 3 batches: step 4 is its second
    interrupted = cli(
        killed, "fit", "-c", config, "--trainer.callbacks+=callbacks.KillAtStep", "--trainer.callbacks.step=4"
    )
    assert interrupted.returncode == -9
    run = killed / "runs/resume/version_0"
    before = {path: path.read_bytes() for path in run.iterdir() if path.is_file()}
    other = cli(killed, "fit", "-c", config, "--ckpt_path", "last", "--model.network.use_mcem", "false")
    assert other.returncode == 1 and "Traceback" not in other.stderr  # another network: refused, the run untouched
    assert other.stderr.strip().splitlines()[-1].startswith("error: the checkpoint's network is not the one this")
    assert {path: path.read_bytes() for path in run.iterdir() if path.is_file()} == before
    resumed = cli(killed, "fit", "-c", config, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(p.name for p in (killed / "runs/resume").iterdir()) == ["version_0"]  # the same run folder
    assert (run / "config.yaml").read_bytes() == before[run / "config.yaml"]  # the run's own, kept
    assert "ckpt_path: " in (run / "config_resumed_1.yaml").read_text()  # the resume's, beside it
    reference = torch.load(whole / "runs/resume/version_0/checkpoints/last.ckpt", weights_only=False)
    again = torch.load(killed / "runs/resume/version_0/checkpoints/last.ckpt", weights_only=False)
    assert (reference["epoch"], reference["global_step"]) == (again["epoch"], again["global_step"]) == (2, 9)
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key
    for index, state in reference["optimizer_states"][0]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, again["optimizer_states"][0]["state"][index][name]), (index, name)
    logged = EventAccumulator(str(killed / "runs/resume/version_0")).Reload().Scalars("train/loss")
    assert {event.step for event in logged} >= set(range(4, 9))  # the resumed steps went on in the same run


def test_weights_cast_from_fp32_are_one_line_before_any_run_folder(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """bf16-true, 16-true and 64-true cast sam2's decoder, whose positional encoding multiplies a float32 grid by it:
    a traceback of a hundred lines at the first batch, in fit, validate and test alike; a one-line error instead."""
    monkeypatch.chdir(run_folder(tmp_path / "half", synthetic_root))
    config = ["-c", str(ROOT / "tests/fixtures/resume.yaml")]
    for subcommand, precision, half in (("fit", "bf16-true", "bf16"), ("test", "16-true", "fp16"),
                                        ("validate", "64-true", "fp64")):  # fmt: skip
        extra = ["--data.test", "[synthetic/SYN-TE]"] if subcommand == "test" else []  # (validate: resume.yaml's val)
        assert main([subcommand, *config, *extra, "--trainer.precision", precision]) == 1
        err = capsys.readouterr().err  # (test's note that no --ckpt_path was given, first)
        assert err.strip().splitlines()[-1] == (
            f"error: trainer.precision: {precision} casts every weight to {half}, which sam2's mask decoder does not "
            "run in: use --trainer.precision bf16-mixed (products in bf16, weights in fp32) or 32-true"
        ), err
    assert not Path("runs").exists()


def test_a_fits_final_weights_are_in_its_last_checkpoint_and_resume_exactly(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Saving every 2 steps, a fit of 5 steps (or of 1 epoch of 3) ends with its final step's weights in last.ckpt
    (Lightning alone keeps step 4's, or 2's: it writes last.ckpt at the end only where no save came before), the file
    its last line names; a run resumed from it with a higher limit reaches the weights of an uninterrupted one, bit
    for bit, also where each epoch trains 2 of its 3 batches (limit_train_batches: the checkpoint at the second ends
    its epoch, and the next one starts at its first sample, not at its fifth)."""
    config = yaml.safe_load((ROOT / "tests/fixtures/resume.yaml").read_text())
    config["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = 2
    (tmp_path / "every2.yaml").write_text(yaml.safe_dump(config))
    fit = ["fit", "-c", str(tmp_path / "every2.yaml"), "--model.val_metrics", "[MAE]"]
    last = Path("runs/resume/version_0/checkpoints/last.ckpt")

    def weights(folder: Path, *limit: str, resume: str | None = None) -> dict:
        monkeypatch.chdir(folder)
        assert main([*fit, *limit, *(["--ckpt_path", resume] if resume else [])]) == 0
        return torch.load(last, weights_only=False)

    limited = ("--trainer.limit_train_batches", "2")
    for name, first, then, steps in (
        (
            "limited",
            ("--trainer.max_epochs", "1", *limited, "--trainer.logger.init_args.save_dir", "./runs"),
            ("--trainer.max_epochs", "2", *limited),
            (2, 4),
        ),  # fmt: skip
        ("steps", ("--trainer.max_steps", "5"), ("--trainer.max_steps", "8"), (5, 8)),
        ("epochs", ("--trainer.max_epochs", "1"), ("--trainer.max_epochs", "2"), (3, 6)),  # the runs below: its
    ):
        stopped = run_folder(tmp_path / f"{name}_stopped", synthetic_root)
        ended = weights(stopped, *first)
        assert ended["global_step"] == steps[0], name  # its final step, not a save step's
        out = capsys.readouterr().out
        assert out.strip().splitlines()[-1].endswith(f"last {'./' * (name == 'limited')}{last}")
        runs = ["version_0"]
        if name == "limited":  # an older run's last.ckpt by its path resumes that run in its folder, as `last` the
            (stopped / "runs/resume/version_1").mkdir()  # newest's: not in a version_2, nor as last-v1.ckpt there
            (stopped / "runs/resume/version_1/config.yaml").write_text("{}")  # (its ./runs as spelt, not as runs)
            runs.append("version_1")
        resumed = weights(stopped, *then, resume=str(last) if name == "limited" else "last")
        assert sorted(path.name for path in (stopped / "runs/resume").iterdir()) == runs, name
        assert not list((stopped / "runs/resume/version_0/checkpoints").glob("last-v*")), name
        whole = weights(run_folder(tmp_path / f"{name}_whole", synthetic_root), *then)
        assert resumed["global_step"] == whole["global_step"] == steps[1], name
        for key, value in whole["state_dict"].items():
            assert torch.equal(value, resumed["state_dict"][key]), (name, key)
    assert "note: no ModelCheckpoint of this fit monitors a score, so it writes no best checkpoint" in out
    assert isinstance(training_cli._fit_trainer.strategy.checkpoint_io, AtomicCheckpointIO)  # wrote them all
    assert "note: model.pretrained is null and the Hiera trunk is frozen (the paper's setting), so the trunk " in out
    assert "nothing was trained" not in out
    capsys.readouterr()
    assert main([*fit, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0  # a finished run resumed: it says so
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "note: nothing was trained: the checkpoint resumed had reached this fit's end (trainer.max_epochs or "
        "max_steps); raise it to train on"
    )
    # a resume goes on with the optimizer's state: a learning rate given would go unused (yet be recorded as used)
    before = {path: path.read_bytes() for path in last.parent.parent.rglob("*") if path.is_file()}
    resumed = [*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last", "--model.lr", "0.02"]
    assert main([*resumed, "--model.weight_decay", "0.1"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --ckpt_path {last} was trained with other optimizer settings than this fit is given (lr 0.0002 -> "
        "0.02, weight_decay 1e-05 -> 0.1): a resumed run goes on with its optimizer's state, whose learning rates "
        "and weight decay are the checkpoint's, so these would go unused; drop those --model flags, or start a new run"
    )
    assert {path: path.read_bytes() for path in last.parent.parent.rglob("*") if path.is_file()} == before
    # and in its precision (found by a try-out: a resume without the smoke run's flags went on in the recipe's bf16)
    assert torch.load(last, weights_only=True)["precision"] == "32-true"
    assert main([*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last", "--trainer.precision", "bf16-mixed"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --ckpt_path {last} was trained in 32-true and this fit would go on in bf16-mixed, which computes "
        "other numbers: add --trainer.precision 32-true (the run's), or start a new run"
    )
    assert {path: path.read_bytes() for path in last.parent.parent.rglob("*") if path.is_file()} == before


def test_a_finished_run_resumed_to_train_longer_keeps_the_best_checkpoint_of_its_last_validation(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The final last.ckpt is written at the final batch, before the final validation: the resumed fit validates that
    epoch again, as the uninterrupted run did after that batch, so best.ckpt is compared with its score (Lightning
    alone closes the epoch unvalidated, and the resumed run's best forgot it: a worse later epoch replaced best.ckpt).
    Scores given by epoch 0.2, 0.9, 0.5: the best is epoch 1's, resumed or not, and an EarlyStopping of patience 0
    stops the fit after epoch 2; resumed to train a fourth epoch, the run stops again at epoch 2's validation and
    says why nothing was trained."""
    config = yaml.safe_load((ROOT / "tests/fixtures/resume.yaml").read_text())
    config["trainer"]["callbacks"] += [
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
         "init_args": {"monitor": "val/given", "mode": "max", "filename": "best", "enable_version_counter": False}},
        {"class_path": "lightning.pytorch.callbacks.EarlyStopping",
         "init_args": {"monitor": "val/given", "mode": "max", "patience": 0}},
        {"class_path": "callbacks.ScoreByEpoch", "init_args": {"scores": [0.2, 0.9, 0.5, 0.95]}},
    ]  # fmt: skip
    (tmp_path / "best.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    fit = ["fit", "-c", str(tmp_path / "best.yaml"), "--model.val_metrics", "[MAE]"]
    best = Path("runs/resume/version_0/checkpoints/best.ckpt")

    def run(folder: Path, *args: str) -> dict:
        monkeypatch.chdir(folder)
        assert main([*fit, *args]) == 0
        return torch.load(best, weights_only=False)

    assert run(run_folder(tmp_path / "whole", synthetic_root))["epoch"] == 1
    stopped = run_folder(tmp_path / "stopped", synthetic_root)
    first = run(stopped, "--trainer.max_epochs", "2")
    resumed = run(stopped, "--ckpt_path", "last")
    assert first["epoch"] == resumed["epoch"] == 1  # epoch 1's weights (0.9), not epoch 2's (0.5)
    for key, value in first["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    capsys.readouterr()
    assert main([*fit, "--trainer.max_epochs", "4", "--ckpt_path", "last"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "note: nothing was trained: a callback stopped it (EarlyStopping, say) at the validation it ran again as it "
        "resumed"
    )


def test_a_checkpoint_callback_that_is_no_model_checkpoint_is_no_crash(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning's checkpoint_callbacks hold any Checkpoint; OnExceptionCheckpoint has no monitor, best or last."""
    monkeypatch.chdir(run_folder(tmp_path / "exc", synthetic_root))
    extra = ["--trainer.callbacks+=lightning.pytorch.callbacks.OnExceptionCheckpoint", "--trainer.callbacks.dirpath",
             "exc", "--trainer.max_steps", "1", "--model.val_metrics", "[MAE]"]  # fmt: skip
    assert main(["fit", "-c", str(ROOT / "tests/fixtures/resume.yaml"), *extra]) == 0


def test_a_sigterm_ends_a_fit_with_status_143_and_the_resume_command(synthetic_root: Path, tmp_path: Path) -> None:
    """A job scheduler's cancel or time limit sends SIGTERM: Lightning stops its loops with an exception that would
    end the command with status 0, so that `fit && test` would go on with a half-trained model."""
    config = str(ROOT / "tests/fixtures/resume.yaml")
    folder = run_folder(tmp_path / "term", synthetic_root)
    stop = ["--trainer.callbacks+=callbacks.KillAtStep", "--trainer.callbacks.step=2",
            "--trainer.callbacks.signal_name=SIGTERM"]  # fmt: skip
    done = cli(folder, "fit", "-c", config, *stop)
    assert done.returncode == 143, done.stderr[-3000:]
    resume = shlex.join(["mgd-sam2", "fit", "-c", config, *stop, "--ckpt_path", "last"])
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"terminated (SIGTERM): {resume} resumes the run from its last.ckpt (the steps after")
    kept = torch.load(folder / "runs/resume/version_0/checkpoints/last.ckpt", weights_only=False)
    assert kept["global_step"] == 3  # Lightning ends the step under way and its checkpoint, which the command resumes
    config = yaml.safe_load((ROOT / "tests/fixtures/resume.yaml").read_text())  # a save every 5 steps: none by step 2
    config["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = 5
    (tmp_path / "every5.yaml").write_text(yaml.safe_dump(config))
    early = cli(run_folder(tmp_path / "early", synthetic_root), "fit", "-c", str(tmp_path / "every5.yaml"), *stop)
    assert early.returncode == 143 and early.stderr.strip().splitlines()[-1] == (
        "terminated (SIGTERM) before the fit wrote its first last.ckpt: nothing to resume; start it again without "
        "--ckpt_path"
    ), early.stderr[-2000:]


@pytest.mark.slow
def test_slurms_requeue_signal_mid_step_saves_in_the_run_and_the_requeued_job_continues_exactly(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """SLURM's SIGUSR1 (--signal) in the middle of a step: the requeue checkpoint is saved at that step's end beside
    the run's last.ckpt and the job requeued; the requeued job (`--ckpt_path last`, as examples/slurm.sbatch runs it)
    reaches an uninterrupted run's weights bit for bit (Lightning's own save, inside the handler, made the resumed run
    skip the batch under way: a try-out). A SIGTERM after it names the resume."""
    config = yaml.safe_load((ROOT / "tests/fixtures/resume.yaml").read_text())  # no last.ckpt before the kill
    config["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = 100
    (tmp_path / "rare.yaml").write_text(yaml.safe_dump(config))
    fit = ["fit", "-c", str(tmp_path / "rare.yaml")]
    whole = run_folder(tmp_path / "whole", synthetic_root)
    assert cli(whole, *fit).returncode == 0
    job = run_folder(tmp_path / "job", synthetic_root)
    (job / "bin").mkdir()
    (job / "bin/scontrol").write_text(f'#!/bin/sh\necho "$@" >> {job}/scontrol.log\n')
    (job / "bin/scontrol").chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "mgd-sam2", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
             "SLURM_NNODES": "1", "SLURM_NODEID": "0", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
             "SLURM_NODELIST": "127.0.0.1", "PATH": f"{job / 'bin'}:{os.environ['PATH']}"}  # fmt: skip

    def in_job(*args: str, restart: int = 0) -> subprocess.CompletedProcess:
        env = {**os.environ, **slurm, "SLURM_RESTART_COUNT": str(restart), "PYTHONPATH": str(Path(__file__).parent)}
        return subprocess.run([str(MGD_SAM2), *args], cwd=job, capture_output=True, text=True, env=env)

    signals = ["--trainer.callbacks+=callbacks.KillAtStep", "--trainer.callbacks.step=4",
               "--trainer.callbacks.signal_name=SIGUSR1", "--trainer.callbacks+=callbacks.KillAtStep",
               "--trainer.callbacks.step=5", "--trainer.callbacks.signal_name=SIGTERM"]  # fmt: skip
    stopped = in_job(*fit, *signals)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    checkpoints = job / "runs/resume/version_0/checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["hpc_ckpt_1.ckpt"]
    assert not list(job.glob("hpc_ckpt_*")) and not list((job / "runs").glob("hpc_ckpt_*"))
    assert (job / "scontrol.log").read_text() == "requeue 4242\n"
    assert torch.load(checkpoints / "hpc_ckpt_1.ckpt", weights_only=False)["global_step"] == 5  # step 4's end
    resume = shlex.join(["mgd-sam2", *fit, *signals, "--ckpt_path", "last"])
    assert stopped.stderr.strip().splitlines()[-1].startswith(f"terminated (SIGTERM): {resume} resumes the run")
    resumed = in_job(*fit, "--ckpt_path", "last", restart=1)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        f"Restoring states from the checkpoint path at {Path('runs/resume/version_0/checkpoints/hpc_ckpt_1.ckpt')}"
        in (resumed.stdout + resumed.stderr)
    )
    reference = torch.load(whole / "runs/resume/version_0/checkpoints/last.ckpt", weights_only=False)
    again = torch.load(checkpoints / "last.ckpt", weights_only=False)
    assert reference["global_step"] == again["global_step"] == 9
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key


def test_a_batch_larger_than_the_training_split_is_one_line_and_leaves_no_run_folder(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Lightning would end the fit at step 0 and exit 0 with an empty run folder, which then stands as the newest run
    that `--ckpt_path last` finds nothing in; a batch size below 1 is refused as the DataModule is built."""
    from mgd_sam2.training.cli import newest_version

    monkeypatch.chdir(run_folder(tmp_path / "big", synthetic_root))
    config = str(ROOT / "tests/fixtures/resume.yaml")
    images = len(list((synthetic_root / "synthetic/SYN-TR/im").iterdir()))
    assert main(["fit", "-c", config, "--data.batch_size", str(images + 1)]) == 1
    out, error = capsys.readouterr()
    assert f"error: data.batch_size {images + 1} is more than the {images} training images, and an incomplete " in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert "removed runs/resume/version_0, runs/resume, runs: the fit ended before its first step" in out
    assert not Path("runs").exists()  # made for the run, as its name folder (a try-out found runs/NAME left empty)
    assert main(["fit", "-c", config, "--data.batch_size", "0"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: data.batch_size must be 1 or more, got 0"
    # a version the config names: the folder this fit made goes too; one that was there (an earlier run's) stays
    named = ["fit", "-c", config, "--data.batch_size", str(images + 1), "--trainer.logger.init_args.version"]
    assert main([*named, "exp9"]) == 1 and "removed runs/resume/exp9" in capsys.readouterr().out
    earlier = Path("runs/resume/exp8")
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("earlier run\n")
    assert main([*named, "exp8"]) == 1
    out, error = capsys.readouterr()
    assert "removed" not in out and error.strip().splitlines()[-1] == (
        "error: runs/resume/exp8 holds a training run already: give this run another version "
        "(--trainer.logger.init_args.version), or move that folder"
    )
    (earlier / "checkpoints").mkdir()
    (earlier / "checkpoints/last.ckpt").write_bytes(b"x")
    assert main([*named, "exp8"]) == 1  # with a last.ckpt, resuming is offered too
    assert "holds a training run already: resume it with --ckpt_path last, or give" in capsys.readouterr().err
    assert (earlier / "config.yaml").read_text() == "earlier run\n"
    assert sorted(path.name for path in Path("runs/resume").iterdir()) == ["exp8"]
    # a folder a validation wrote: a fit that fails there takes out what it added, not what was there
    assert main(["validate", "-c", config, "--trainer.logger.init_args.version", "exp7"]) == 0
    kept = sorted(path.name for path in Path("runs/resume/exp7").iterdir())
    capsys.readouterr()
    assert main([*named, "exp7"]) == 1
    assert "removed config.yaml" in capsys.readouterr().out
    assert sorted(path.name for path in Path("runs/resume/exp7").iterdir()) == kept
    assert main(["fit", "-c", config, "--trainer.max_steps", "1", "--trainer.logger.init_args.version", "exp7"]) == 0
    assert Path("runs/resume/exp7/config.yaml").is_file()  # not refused: no training had written there
    other = newest_version(Path("runs/resume/exp7/checkpoints/last.ckpt"))  # another run's, resumed into exp8:
    assert main([*named, "exp8", "--ckpt_path", str(other)]) == 1  # it would mix the two runs too
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: runs/resume/exp8 holds a training run already and --ckpt_path {other} is not one of its "
        "checkpoints: resume it with --ckpt_path last, or give this run another version "
        "(--trainer.logger.init_args.version), or move that folder"
    )
    resumed = [*named[:3], "--trainer.max_steps", "2", "--trainer.logger.init_args.version", "exp7"]
    assert main([*resumed, "--ckpt_path", "last"]) == 0  # the run's own last, resolved here: its own resume
    scratch = tmp_path / "scratch"  # its checkpoints/ a link to another disk: a file given through it is its own
    Path("runs/resume/exp7/checkpoints").rename(scratch)
    Path("runs/resume/exp7/checkpoints").symlink_to(scratch)
    own = newest_version(Path("runs/resume/exp7/checkpoints/last.ckpt"))
    resumed[resumed.index("--trainer.max_steps") + 1] = "3"
    assert main([*resumed, "--ckpt_path", str(own)]) == 0
    elsewhere = tmp_path / "elsewhere"  # a checkpoint file in it that is itself a link, to another folder
    elsewhere.mkdir()
    shutil.copy(newest_version(Path("runs/resume/exp7/checkpoints/last.ckpt")), elsewhere / "step3.ckpt")
    linked = Path("runs/resume/exp7/checkpoints/linked.ckpt")
    linked.symlink_to(elsewhere / "step3.ckpt")
    resumed[resumed.index("--trainer.max_steps") + 1] = "4"
    assert main([*resumed, "--ckpt_path", str(linked)]) == 0


def test_bf16_on_a_cpu_without_native_bf16_is_one_line_before_any_run_folder(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The recipe's precision, bf16-mixed, on a CPU without native bf16 kernels would run slower than fp32 (and on
    AVX2 crawl): fit, validate, test and predict -c refuse it in one line with the flag, as predict refuses it; on a
    CPU with them it runs (this CPU's answer is mocked both ways)."""
    from mgd_sam2.inference import devices
    from mgd_sam2.training.cli import refuse_cpu_bf16

    monkeypatch.chdir(run_folder(tmp_path / "bf16", synthetic_root))
    config = ["-c", str(ROOT / "tests/fixtures/resume.yaml"), "--trainer.precision", "bf16-mixed"]
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    images = str(synthetic_root / "synthetic/SYN-TE/im")
    writer = ["--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter", "--trainer.callbacks.output", "masks"]
    for subcommand, extra in (
        ("fit", []),
        ("validate", []),
        ("test", []),
        ("predict", ["--data.predict", images, *writer]),
    ):
        assert main([subcommand, *config, *extra]) == 1
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1] == (
            "error: trainer.precision: bf16-mixed on this CPU: it has no native bf16 kernels, so bf16 runs slower "
            "than fp32 here; add --trainer.precision 32-true (docs/speed-runs.md, bf16 on the CPU)"
        ), error
        assert "Traceback" not in "".join(error) and not Path("runs").exists() and not Path("masks").exists()
    half = ["fit", *config[:2], "--trainer.precision", "16-mixed"]  # which Lightning runs as bf16-mixed on a CPU
    assert main(half) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: trainer.precision: 16-mixed (which Lightning runs as bf16-mixed here) on this CPU")
    assert main(["fit", *config[:2], "--trainer.precision", "32-true", "--trainer.fast_dev_run", "true"]) == 0
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    refuse_cpu_bf16(Trainer(accelerator="cpu", precision="bf16-mixed", logger=False))  # native: it runs
    refuse_cpu_bf16(Trainer(accelerator="cpu", precision="16-mixed", logger=False), "16-mixed")  # and says in what
    assert "note: trainer.precision: 16-mixed runs as bf16-mixed on the CPU" in capsys.readouterr().out
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    refuse_cpu_bf16(Trainer(accelerator="cpu", precision="32-true", logger=False))  # fp32: nothing to refuse


def test_fast_dev_run_writes_no_checkpoint(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    """Lightning's fast_dev_run promises no checkpoints, but its ModelCheckpoint writes save_last's last.ckpt at the
    end of training (into the root folder: the logger is off)."""
    monkeypatch.chdir(run_folder(tmp_path / "dev", synthetic_root))
    assert main(["fit", "-c", str(ROOT / "tests/fixtures/resume.yaml"), "--trainer.fast_dev_run", "true"]) == 0
    assert not list(Path(".").rglob("*.ckpt"))


def test_fresh_fits_into_one_folder_save_their_config_as_fresh(
    synthetic_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """Without a logger every fit's folder is the root folder: a second fresh fit is no resume, and saves config.yaml
    as Lightning does (config_resumed_K.yaml is a resume's, with a ckpt_path)."""
    monkeypatch.chdir(run_folder(tmp_path / "root", synthetic_root))
    fit = ["fit", "-c", str(ROOT / "tests/fixtures/resume.yaml"), "--trainer.logger", "false",
           "--trainer.max_epochs", "1", "--trainer.default_root_dir", "out"]  # fmt: skip
    assert main(fit) == 0 and main(fit) == 0
    assert sorted(path.name for path in Path("out").glob("config*.yaml")) == ["config.yaml"]


@pytest.mark.slow
def test_a_run_resumed_twice_from_an_epochs_last_batch_continues_exactly(synthetic_root: Path, tmp_path: Path) -> None:
    """The first kill leaves last.ckpt on epoch 0's last batch (3 batches per epoch, a checkpoint every step), the
    second one mid-epoch in the resumed run: resumed twice, the run ends at the uninterrupted run's step and weights
    (Lightning alone trains an epoch too many there: training/resume.py)."""
    config = str(ROOT / "tests/fixtures/resume.yaml")
    whole = run_folder(tmp_path / "whole", synthetic_root)
    assert cli(whole, "fit", "-c", config).returncode == 0
    killed = run_folder(tmp_path / "killed", synthetic_root)
    kill = ["--trainer.callbacks+=callbacks.KillAtStep", "--trainer.callbacks.step"]
    assert cli(killed, "fit", "-c", config, *kill, "3").returncode == -9
    assert cli(killed, "fit", "-c", config, "--ckpt_path", "last", *kill, "7").returncode == -9
    resumed = cli(killed, "fit", "-c", config, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    last = "runs/resume/version_0/checkpoints/last.ckpt"  # and the end says so
    assert f"fit ended at step 9; run folder runs/resume/version_0; last {last}" in resumed.stdout
    reference = torch.load(whole / last, weights_only=False)
    again = torch.load(killed / last, weights_only=False)
    assert (again["epoch"], again["global_step"]) == (reference["epoch"], reference["global_step"]) == (2, 9)
    assert again["loops"]["fit_loop"]["epoch_progress"] == reference["loops"]["fit_loop"]["epoch_progress"]
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key


def test_the_split_list_forms_the_docs_give_parse(capsys) -> None:
    """docs/training.md and the one-word form's error give `--data.train "[A, B]"` and `--data.train+ C`."""
    config = str(ROOT / "src/mgd_sam2/configs/hrsod.yaml")
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "-c", config, "--data.train", "[HRSOD/HRSOD-TR, UHRSD/UHRSD-TR]", "--data.train+", "DUTS/DUTS-TR",
              "--print_config"])  # fmt: skip
    assert exit_.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["train"] == ["HRSOD/HRSOD-TR", "UHRSD/UHRSD-TR", "DUTS/DUTS-TR"]


def test_a_resume_in_a_precision_this_machine_cannot_run_says_where_to_go_on(monkeypatch) -> None:
    """A GPU run's 16-mixed, or bf16 on a CPU without native kernels: 'add the run's flag' would loop with the flag's
    own refusal, so the error says to resume where it can run."""
    from types import SimpleNamespace

    from lightning.pytorch.accelerators import CPUAccelerator

    from mgd_sam2.training.cli import refuse_other_precision

    cpu = SimpleNamespace(precision="bf16-mixed", accelerator=CPUAccelerator())
    refuse_other_precision("last.ckpt", None, cpu)  # a checkpoint of before: nothing recorded, nothing refused
    refuse_other_precision("last.ckpt", "bf16-mixed", cpu)
    with pytest.raises(ConfigError, match=r"^--ckpt_path last.ckpt was trained in 16-mixed, which this machine cannot "
                       r"go on in \(Lightning runs it as bf16-mixed on a CPU\): resume it on a GPU"):  # fmt: skip
        refuse_other_precision("last.ckpt", "16-mixed", cpu, "16-mixed")
    monkeypatch.setattr("mgd_sam2.inference.devices.cpu_has_native_bf16", lambda: False)
    fp32 = SimpleNamespace(precision="32-true", accelerator=CPUAccelerator())
    with pytest.raises(ConfigError, match=r"trained in bf16-mixed, which this machine cannot go on in \(this CPU has "
                       r"no native bf16 kernels\)"):  # fmt: skip
        refuse_other_precision("last.ckpt", "bf16-mixed", fp32)
    with pytest.raises(ConfigError, match=r"trained in 32-true and this fit would go on in bf16-mixed \(given as 16"
                       r"-mixed\), which computes other numbers: add --trainer.precision 32-true"):  # fmt: skip
        refuse_other_precision("last.ckpt", "32-true", cpu, "16-mixed")


def test_a_fit_ends_by_saying_what_it_left_where() -> None:
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint

    from mgd_sam2.training.cli import fit_outcome

    best = ModelCheckpoint(monitor="val/Smeasure")
    best.best_model_path, best.best_model_score = "runs/x/version_2/checkpoints/best.ckpt", torch.tensor(0.81234)
    last = ModelCheckpoint(save_last=True)
    last.last_model_path = "runs/x/version_2/checkpoints/last.ckpt"
    logger = SimpleNamespace(log_dir="runs/x/version_2")  # the folder the first logger writes into
    exception = OnExceptionCheckpoint("runs")  # a Checkpoint with no best or last: passed over
    trainer = SimpleNamespace(
        global_step=300,
        loggers=[logger],
        default_root_dir="runs",
        checkpoint_callbacks=[best, last, exception],
        fast_dev_run=0,
    )
    assert fit_outcome(trainer) == (
        "fit ended at step 300; run folder runs/x/version_2; best runs/x/version_2/checkpoints/best.ckpt "
        "(val/Smeasure 0.8123); last runs/x/version_2/checkpoints/last.ckpt"
    )
    best.best_model_score = None  # a resumed run that restored only the best file's path
    trainer.loggers = []  # no logger: the root folder
    assert fit_outcome(trainer) == (
        "fit ended at step 300; run folder runs; best runs/x/version_2/checkpoints/best.ckpt; "
        "last runs/x/version_2/checkpoints/last.ckpt"
    )
    best.best_model_path = ""  # a smoke run's max_steps before the first validation (a try-out's)
    assert fit_outcome(trainer) == (
        "fit ended at step 300; run folder runs; no best checkpoint: no validation logged val/Smeasure (a "
        "trainer.max_steps before the first validation, or a monitor that no validation logs?); last "
        "runs/x/version_2/checkpoints/last.ckpt"
    )
    trainer.fast_dev_run = 1  # which turns checkpointing off: nothing to say
    assert "no best" not in fit_outcome(trainer)


@pytest.mark.parametrize("written_at", ["the last training batch", "validation"])
def test_resumed_three_times_a_run_keeps_the_uninterrupted_runs_epochs(written_at: str, tmp_path: Path) -> None:
    """training/resume.py in a plain Lightning module: resumed three times from last.ckpt written at the end of an
    epoch's last training batch (which Lightning alone gets wrong from the second resume on) or at the end of its
    validation (which it gets right, and the correction leaves alone), a run starts each epoch once and ends at the
    uninterrupted run's step, epoch counters and weights."""
    from lightning.pytorch import LightningModule
    from lightning.pytorch.callbacks import ModelCheckpoint

    from mgd_sam2.training.resume import start_next_epoch_afresh

    inputs, targets = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), torch.linspace(-1, 1, 8)[:, None]

    class Line(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer, self.starts = torch.nn.Linear(2, 1), []

        def training_step(self, batch, index):
            return (self.layer(batch[0]) - batch[1]).square().mean()

        def validation_step(self, batch, index):
            self.log("val/loss", (self.layer(batch[0]) - batch[1]).square().mean())

        def on_train_epoch_start(self) -> None:
            self.starts.append(self.current_epoch)

        def on_train_start(self) -> None:
            start_next_epoch_afresh(self.trainer)

        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=0.05)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.8**epoch)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}

    def fit(folder: Path, max_epochs: int, resume: bool = False) -> Line:
        if written_at == "validation":
            checkpoint = ModelCheckpoint(dirpath=folder, monitor="val/loss", save_last=True)
        else:  # every 4 steps: every epoch's last batch (4 batches per epoch)
            checkpoint = ModelCheckpoint(dirpath=folder, every_n_train_steps=4, save_top_k=0, save_last=True)
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, targets), batch_size=2)
        torch.manual_seed(0)  # the same initial weights (a resumed run's are the checkpoint's)
        module = Line()
        Trainer(max_epochs=max_epochs, callbacks=[checkpoint], logger=False, enable_progress_bar=False,
                enable_model_summary=False, num_sanity_val_steps=0).fit(
            module, data, data, ckpt_path=folder / "last.ckpt" if resume else None)  # fmt: skip
        return module

    whole = fit(tmp_path / "whole", 12)
    segments = [fit(tmp_path / "resumed", 5)] + [fit(tmp_path / "resumed", epochs, True) for epochs in (7, 10, 12)]
    assert [epoch for segment in segments for epoch in segment.starts] == whole.starts == list(range(12))
    reference, again = (torch.load(tmp_path / run / "last.ckpt", weights_only=False) for run in ("whole", "resumed"))
    assert again["global_step"] == reference["global_step"] == 48
    assert again["loops"]["fit_loop"]["epoch_progress"] == reference["loops"]["fit_loop"]["epoch_progress"]
    assert torch.equal(segments[-1].layer.weight, whole.layer.weight)


def closed_epoch_fit(
    folder: Path, max_epochs: int, callbacks: list, resume: bool = False, link: bool = False, **trainer_args
):
    """A plain Lightning fit of 4 batches per epoch that logs ``score`` = SCORES[epoch] at each validation and
    ``train_score`` at each step, last.ckpt written every 4 steps (on each epoch's last batch; with ``link``, a link
    to a checkpoint kept at each of those steps), resumed from it where ``resume``, with the fit CLI's
    FinalLastCheckpoint; returns its module, whose ``validated`` lists the (epoch, step) of each validation."""
    from lightning.pytorch import LightningModule
    from lightning.pytorch.callbacks import ModelCheckpoint

    from mgd_sam2.training.final_checkpoint import FinalLastCheckpoint
    from mgd_sam2.training.resume import start_next_epoch_afresh

    class Scored(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer, self.validated = torch.nn.Linear(2, 1), []

        def training_step(self, batch, index):
            loss = self.layer(batch[0]).square().mean()
            self.log("train_score", loss)
            return loss

        def validation_step(self, batch, index):
            self.log("score", torch.tensor(SCORES[self.current_epoch]))

        def on_validation_start(self) -> None:
            if not self.trainer.sanity_checking:
                self.validated.append((self.current_epoch, self.global_step))

        def on_train_start(self) -> None:
            start_next_epoch_afresh(self.trainer)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    last = ModelCheckpoint(dirpath=folder, every_n_train_steps=4, save_top_k=-1 if link else 0,
                           save_last="link" if link else True)  # fmt: skip
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=2)
    torch.manual_seed(0)
    module = Scored()
    Trainer(max_epochs=max_epochs, callbacks=[last, FinalLastCheckpoint(), *callbacks], logger=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, **trainer_args).fit(
        module, data, data, ckpt_path=folder / "last.ckpt" if resume else None)  # fmt: skip
    return module


SCORES = [0.5, 0.6, 0.9, 0.7, 0.8]


class StopAtStep(Callback):
    """Stops a fit after the optimizer step ``step`` (as a time limit or a signal would, mid-epoch)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        trainer.should_stop = trainer.should_stop or trainer.global_step >= self.step


def test_a_resume_finishes_the_closed_epoch_as_the_run_that_wrote_it_did(tmp_path: Path, capsys) -> None:
    """Resumed from last.ckpt on an epoch's last batch: the validation that ended that epoch is run again only where
    that run ran one there (not where it validated every 3 batches); checkpoints monitoring its score save into the
    file that run wrote for them (no -v1 copy, and no other callback's file of that name replaced: the folder ends
    as the uninterrupted run's); a callback monitoring a training step's score is left out with a note rather than
    a crash; an EarlyStopping that stopped there stops the resume too and keeps last.ckpt (a file, or a link) as it
    was, so that a second resume stops again, while a resume that trains and stops early writes its last step."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    def saving(folder: Path) -> list:  # default file names and version counters; a keep-all every 2 steps beside
        return [ModelCheckpoint(dirpath=folder, monitor="score", mode="max", save_top_k=1),
                ModelCheckpoint(dirpath=folder, every_n_train_steps=2, save_top_k=-1)]  # fmt: skip

    def names(folder: Path) -> list[str]:
        return sorted(path.name for path in folder.iterdir())

    whole = closed_epoch_fit(tmp_path / "whole", 4, saving(tmp_path / "whole"))
    closed_epoch_fit(tmp_path / "resumed", 2, saving(tmp_path / "resumed"))
    resumed = closed_epoch_fit(tmp_path / "resumed", 4, saving(tmp_path / "resumed"), resume=True)
    assert resumed.validated == [(1, 8), (2, 12), (3, 16)] and whole.validated[1:] == resumed.validated
    assert names(tmp_path / "resumed") == names(tmp_path / "whole")
    assert "epoch=2-step=12-v1.ckpt" in names(tmp_path / "whole")  # the best (0.9), beside the keep-all's file
    every3 = {"val_check_interval": 3, "check_val_every_n_epoch": None}  # at steps 3, 6, 9, ...: never at an end
    whole = closed_epoch_fit(tmp_path / "whole3", 3, [], **every3)
    closed_epoch_fit(tmp_path / "every3", 2, [], **every3)
    assert whole.validated[2:] == closed_epoch_fit(tmp_path / "every3", 3, [], resume=True, **every3).validated
    assert whole.validated == [(0, 3), (1, 6), (2, 9), (2, 12)]

    def training() -> list:
        return [ModelCheckpoint(dirpath=tmp_path / "train", monitor="train_score"), EarlyStopping("train_score")]

    closed_epoch_fit(tmp_path / "train", 1, training())
    capsys.readouterr()
    assert closed_epoch_fit(tmp_path / "train", 2, training(), resume=True).validated == [(0, 4), (1, 8)]
    assert "but not the check of EarlyStopping(train_score), ModelCheckpoint(train_score)" in capsys.readouterr().out
    for link in (False, True):  # 0.5 then 0.6: an EarlyStopping of the minimum stops at epoch 1's validation
        folder = tmp_path / f"stop_{link}"
        closed_epoch_fit(folder, 2, [EarlyStopping("score", mode="min", patience=0)], link=link)
        written = (folder / "last.ckpt").read_bytes(), (folder / "last.ckpt").is_symlink()
        assert written[1] is link
        for _ in range(2):
            stopped = closed_epoch_fit(folder, 4, [EarlyStopping("score", mode="min", patience=0)], resume=True,
                                       link=link)  # fmt: skip
            assert stopped.validated == [(1, 8)] and stopped.global_step == 8
            assert ((folder / "last.ckpt").read_bytes(), (folder / "last.ckpt").is_symlink()) == written
    closed_epoch_fit(tmp_path / "early", 2, [])  # resumed, trains 2 steps and stops: last.ckpt at step 10
    assert closed_epoch_fit(tmp_path / "early", 4, [StopAtStep(10)], resume=True).global_step == 10
    assert torch.load(tmp_path / "early/last.ckpt", weights_only=False)["global_step"] == 10


def test_resuming_with_changed_data_is_refused(synthetic_root: Path, tmp_path: Path) -> None:
    module = micro_module()
    dm = datamodule(synthetic_root, module)
    dm.setup("fit")
    loader = dm.train_dataloader()
    state = loader.state_dict()
    with pytest.raises(ConfigError, match=r"data.batch_size 3 -> 2\); resume with the run's own settings"):
        loader.load_state_dict({**state, "batch_size": 3})


def test_a_checkpoint_is_written_beside_its_path_and_renamed(tmp_path: Path, monkeypatch) -> None:
    """Lightning's temporary file in the system's temporary folder is copied into place where that is another
    filesystem (a node's /tmp, a shared disk): a job killed then left a truncated last.ckpt (a try-out)."""
    from mgd_sam2.training import checkpoint_io

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    assert torch.load(path)["global_step"] == 1

    def killed(checkpoint: dict, file: Path) -> None:
        Path(file).write_bytes(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_io.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2}, path)
    assert torch.load(path)["global_step"] == 1 and [child.name for child in tmp_path.iterdir()] == ["last.ckpt"]
    killed_job = tmp_path / ".last.ckpt.999999999.0a1b2c3d.mgd-tmp"  # a process gone: removed at the next save
    killed_job.write_bytes(b"PK half")
    monkeypatch.undo()
    AtomicCheckpointIO().save_checkpoint({"global_step": 3}, path)
    assert [child.name for child in tmp_path.iterdir()] == ["last.ckpt"]
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    checkpoint_io.use_atomic_checkpoints(trainer)
    assert type(trainer.strategy.checkpoint_io) is AtomicCheckpointIO


def test_the_data_seed_follows_seed_everything_unless_given(tmp_path: Path, monkeypatch, capsys) -> None:
    """A try-out's runs with --seed_everything 1, 2, 3 shared one data order and set of augmentations (data.seed 0);
    a resume keeps its run's data seed (a run of seed_everything 3 before this trained at data seed 0). And
    --optimizer replaced both LR groups and the poly decay with a warning; a saved config's null one is no change."""
    from mgd_sam2.training.cli import resumed_data_seed

    monkeypatch.chdir(tmp_path)
    config = ["-c", str(ROOT / "tests/fixtures/resume.yaml")]
    torch.save({"datamodule_hyper_parameters": {"seed": 7}}, tmp_path / "new.ckpt")
    torch.save({"datamodule_hyper_parameters": {"root": "data"}}, tmp_path / "earlier.ckpt")
    seeds = [resumed_data_seed(name) for name in ("new.ckpt", "earlier.ckpt", None, "missing.ckpt")]
    assert seeds == [7, 0, None, None]
    assert main(["fit", *config, "--optimizer", "AdamW"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --optimizer would replace the recipe's optimizer, AdamW in two LR groups with a poly decay: set it "
        "with --model.lr, --model.pretrained_lr_scale, --model.weight_decay and --model.poly_power"
    )
    (tmp_path / "saved.yaml").write_text((ROOT / "tests/fixtures/resume.yaml").read_text() + "optimizer: null\n"
                                         "lr_scheduler: null\n")  # fmt: skip
    assert build_cli(["-c", str(tmp_path / "saved.yaml")], run=False).datamodule.seed == 0
    assert build_cli(config, run=False).datamodule.seed == 0  # the fixture's seed_everything
    assert build_cli([*config, "--seed_everything", "3"], run=False).datamodule.seed == 3
    assert build_cli([*config, "--seed_everything", "3", "--data.seed", "5"], run=False).datamodule.seed == 5
    assert build_cli([*config, "--seed_everything", "true"], run=False).datamodule.seed == 0  # no number given


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_configs_parse_and_build(config: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing is read or written at build time
    cli = build_cli(["-c", str(config)], run=False)
    assert isinstance(cli.model, MGDSAM2Module) and isinstance(cli.datamodule, SegmentationDataModule)
    assert cli.datamodule.input_size == cli.model.input_size and cli.datamodule.grid == cli.model.grid
    assert cli.trainer.max_epochs == yaml.safe_load(config.read_text())["trainer"]["max_epochs"]
    summaries = [type(callback).__name__ for callback in cli.trainer.callbacks if "Summary" in type(callback).__name__]
    assert summaries == ["ParameterSummary"]  # not also Lightning's, whose FLOPs read 0
    if config.name == "lightning_config.yaml":
        assert cli.model.hparams.network["preset"] == "base_plus" and cli.datamodule.specs["val"] == ["DIS5K/DIS-VD"]
        assert cli.trainer.precision == "bf16-mixed" and cli.datamodule.hparams.batch_size == 2
        assert cli.model.input_size == 1024 and cli.model.hparams.pretrained.endswith("sam2.1_hiera_base_plus.pt")
    if config.name == "hrsod.yaml":
        assert (
            cli.datamodule.specs["train"] == ["DUTS/DUTS-TR", "HRSOD/HRSOD-TR"]
            and cli.datamodule.hparams.val_holdout == 500
        )


def test_a_start_the_preset_cannot_take_is_a_clear_error_in_fit(
    synthetic_root: Path, trained_checkpoint: Path, tmp_path: Path
) -> None:
    """micro has no SAM2.1 size: a SAM2.1 file as its model.pretrained stops fit before anything runs (the missing
    file of a SAM2.1 size: tests/test_checkpoints.py). A training run's checkpoint starts a new fit (a fine-tune on
    other data): its network's weights, in a network of its preset."""
    from mgd_sam2.models.checkpoints import load_pretrained
    from mgd_sam2.training.cli import check_start

    module = micro_module(pretrained=str(tmp_path / "sam2.1_hiera_base_plus.pt"))
    fit = trainer(tmp_path, max_epochs=1, limit_train_batches=1)
    with pytest.raises(ConfigError, match="preset micro has no SAM2.1 weights"):
        fit.fit(module, datamodule=datamodule(synthetic_root, module))
    check_start({"pretrained": str(trained_checkpoint), "network": {"preset": "micro"}})  # fit's check passes it
    start = micro_module(pretrained=str(trained_checkpoint))
    start.setup("fit")
    saved = torch.load(trained_checkpoint, weights_only=True)["state_dict"]
    for key, value in start.model.state_dict().items():
        assert torch.equal(value, saved[f"model.{key}"]), key
    with pytest.raises(
        CheckpointError, match="is a training run of preset micro, and the network built is preset tiny"
    ):
        load_pretrained(MGDSAM2(NetworkConfig(preset="tiny")), trained_checkpoint)


def odd_images(folder: Path) -> dict[str, tuple[int, int]]:
    """Images of awkward kinds; returns {stem: (height, width)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (777, 333, 3), np.uint8)).save(folder / "odd.jpg")
    Image.fromarray(rng.integers(0, 255, (120, 201), np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (90, 64, 4), np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (70, 50)).astype(np.uint16)).save(folder / "sixteen.png")
    return {"odd": (777, 333), "gray": (120, 201), "rgba": (90, 64), "sixteen": (70, 50)}


def test_predict_writes_masks_at_original_sizes(trained_checkpoint: Path, tmp_path: Path, capsys) -> None:
    sizes = odd_images(tmp_path / "in")
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff this is no jpeg")
    out = tmp_path / "out"
    args = [
        "predict",
        "--ckpt",
        str(trained_checkpoint),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(out),
        "--workers",
        "0",
    ]
    assert main([*args, "--cutout"]) == 1  # one bad image: reported, the others written
    assert "broken.jpg" in capsys.readouterr().err
    for stem, (height, width) in sizes.items():
        mask = Image.open(out / f"{stem}.png")
        assert mask.mode == "L" and mask.size == (width, height)
        cutout = Image.open(out / f"{stem}_cutout.png")
        assert cutout.mode == "RGBA" and cutout.size == (width, height)
        alpha = np.array(mask, np.uint16)
        if stem == "rgba":  # its own transparency stays: its alpha times the mask
            alpha = (alpha * np.array(Image.open(tmp_path / "in/rgba.png"))[..., 3] + 127) // 255
        assert np.array_equal(np.array(cutout)[..., 3], alpha)
    stamp = (out / "odd.png").stat().st_mtime_ns
    main([*args, "--cutout"])
    assert (out / "odd.png").stat().st_mtime_ns == stamp  # finished images are skipped
    assert "4 of 5 images already have outputs" in capsys.readouterr().out
    main([*args, "--binary", "--overwrite"])
    assert set(np.unique(read_mask(out / "odd.png"))) <= {0, 255}


@pytest.mark.parametrize("name", ["weights.safetensors", "weights.pt"])
def test_predict_from_sam2_checkpoint_plus_exported_weights(
    trained_checkpoint: Path, tmp_path: Path, name: str
) -> None:
    network, _ = load_network(trained_checkpoint)
    exported = tmp_path / name
    assert main(["model", "export", "--ckpt", str(trained_checkpoint), "--out", str(exported)]) == 0
    if name.endswith(".safetensors"):  # no pickle: a JSON header (with the network settings) and raw tensors
        from safetensors import safe_open

        with safe_open(str(exported), framework="pt") as handle:
            assert json.loads(handle.metadata()["network"])["preset"] == "micro"
    # a SAM2 checkpoint in Meta's format for the micro preset: our pretrained parts under Meta's names
    sam2 = {}
    for key, value in network.state_dict().items():
        group = module_group(key)
        if group.sam2_prefix:
            sam2[group.sam2_prefix + key[len(group.prefix) :]] = value
    torch.save({"model": sam2}, tmp_path / "sam2_micro.pt")
    rebuilt, description = load_network(tmp_path / "sam2_micro.pt", exported)
    assert "trained weights" in description
    views = tile(torch.randn(1, 3, network.input_size, network.input_size), network.grid)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(views).logits, network(views).logits, rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="--weights"):
        load_network(tmp_path / "sam2_micro.pt")
    # another start of the same size: one trunk value one step away, and the export says it was not its start
    key = next(key for key in sam2 if key.startswith(TRUNK.sam2_prefix) and sam2[key].is_floating_point())
    other = {**sam2, key: sam2[key].clone()}
    other[key].view(-1)[0] = torch.nextafter(other[key].view(-1)[0], torch.tensor(math.inf))
    torch.save({"model": other}, tmp_path / "other_micro.pt")
    with pytest.raises(
        CheckpointError, match=f"--weights {exported} were trained on another frozen Hiera trunk"
    ) as error:
        load_network(tmp_path / "other_micro.pt", exported)
    assert "where that was another run's .ckpt, the one that run started from" in str(error.value)  # not a .ckpt
    if name.endswith(".pt"):  # an export written before the trunk's digest was recorded pairs with any start
        torch.save({k: v for k, v in torch.load(exported).items() if k != "trunk"}, tmp_path / "earlier.pt")
        load_network(tmp_path / "other_micro.pt", tmp_path / "earlier.pt")
    exported.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])  # truncated
    with pytest.raises(CheckpointError, match="not a readable"):
        load_network(tmp_path / "sam2_micro.pt", exported)


def test_a_trained_trunk_travels_in_the_exported_weights(tmp_path: Path) -> None:
    """With ``train_trunk`` the trunk gets gradients in the "pretrained" LR group, and trained weights carry it: a SAM2
    checkpoint's trunk does not replace it."""
    from safetensors import safe_open

    from mgd_sam2.inference.loading import export_trained_weights

    torch.manual_seed(0)
    frozen, trained = MGDSAM2(NetworkConfig(preset="micro")), MGDSAM2(NetworkConfig(preset="micro", train_trunk=True))
    trunk = [p for name, p in trained.named_parameters() if name.startswith(TRUNK.prefix)]
    assert trunk and all(p.requires_grad for p in trunk)
    assert {id(p) for p in trunk} <= {id(p) for p in trained.parameter_groups()["pretrained"]}
    assert not any(p.requires_grad for name, p in frozen.named_parameters() if name.startswith(TRUNK.prefix))
    for network, name in ((frozen, "frozen.safetensors"), (trained, "trained.safetensors")):
        export_trained_weights(network, tmp_path / name)
        with safe_open(str(tmp_path / name), framework="pt") as handle:
            has_trunk = any(key.startswith(TRUNK.prefix) for key in handle.keys())
        assert has_trunk == network.config.train_trunk, name
    sam2 = {}  # a SAM2 checkpoint in Meta's format whose trunk is all zeros
    for key, value in trained.state_dict().items():
        group = module_group(key)
        if group.sam2_prefix:
            zero = group is TRUNK and value.is_floating_point()
            sam2[group.sam2_prefix + key[len(group.prefix) :]] = torch.zeros_like(value) if zero else value
    torch.save({"model": sam2}, tmp_path / "sam2_micro.pt")
    rebuilt, _ = load_network(tmp_path / "sam2_micro.pt", tmp_path / "trained.safetensors")
    alone, description = load_network(tmp_path / "trained.safetensors")  # every weight is in it: no SAM2 needed
    assert description.endswith("trunk included (preset micro, input 2×64 = 128 px)")
    views = tile(torch.randn(1, 3, trained.input_size, trained.input_size), trained.grid)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(views).logits, trained.eval()(views).logits, rtol=0, atol=0)
        torch.testing.assert_close(alone(views).logits, trained(views).logits, rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="use it as `predict --weights`, with the SAM2.1 checkpoint"):
        load_network(tmp_path / "frozen.safetensors")  # the trunk is the SAM2 checkpoint's


def test_released_weights_load_for_prediction(tmp_path: Path) -> None:
    from test_checkpoints import released_state_dict

    torch.save(released_state_dict(), tmp_path / "mgdsam2_dis.pth")
    network, description = load_network(tmp_path / "mgdsam2_dis.pth")
    assert network.preset == "base_plus_official" and not network.training
    line = "; preset base_plus_official, input 2×512 = 1024 px"  # predict's model line
    assert "released" in description and description.endswith(line)
    # fine-tuned from them (model.pretrained): the exported trained parts over the released trunk (predict --weights)
    with torch.no_grad():
        network.decoder.mask_tokens.weight.add_(1.0)  # a trained part, as a fine-tune changes it
    assert export_trained_weights(network, tmp_path / "tuned.safetensors") < len(network.state_dict())  # no trunk
    rebuilt, description = load_network(tmp_path / "mgdsam2_dis.pth", tmp_path / "tuned.safetensors")
    assert description.startswith(f"released MGD-SAM2 trunk from {tmp_path / 'mgdsam2_dis.pth'} + trained weights")
    for key, value in rebuilt.state_dict().items():
        assert torch.equal(value, network.state_dict()[key]), key
    with pytest.raises(CheckpointError, match="but the released MGD-SAM2 weights: give them as --ckpt"):
        load_network(tmp_path / "mgdsam2_dis.pth", tmp_path / "mgdsam2_dis.pth")


def test_test_step_scores_at_gt_resolution(trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path) -> None:
    module = MGDSAM2Module.load_from_checkpoint(trained_checkpoint, weights_only=True)
    results = trainer(tmp_path, logger=False).test(
        module, datamodule=datamodule(synthetic_root, module), verbose=False
    )[0]
    assert {"test/SYN-TE/Smeasure", "test/SYN-TE/maxFm", "test/SYN-TE/MAE"} <= set(results)
    assert "test/Smeasure" not in results  # a split-less alias is validation's only, for the checkpoint's monitor
    assert 0 <= results["test/SYN-TE/Smeasure"] <= 1


def test_lightning_cli_validate_test_and_predict_subcommands(
    trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = str(ROOT / "src/mgd_sam2/configs/demo.yaml")
    data = ["-c", config, "--data.root", str(synthetic_root), "--data.num_workers", "0"]
    run = tmp_path / "runs" / "demo" / "version_3"  # the demo config's logger folder, a run of it
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(trained_checkpoint, run / "checkpoints" / "best.ckpt")
    in_run = [*data, "--ckpt_path", str(run / "checkpoints" / "best.ckpt")]
    assert main(["validate", *in_run]) == 0
    assert main(["test", *in_run]) == 0
    out = capsys.readouterr().out  # one row per split, a column per metric (not Lightning's table per dataloader)
    assert "test: scores per split" in out and "Test metric" not in out
    rows = [line for line in out.splitlines() if line.startswith(("│ SYN-TE", "│ SYN-HO"))]
    assert len(rows) == 2 and all(len(row.split("│")) == 2 + 6 for row in rows), out  # set, 5 metrics (F: 3)
    # a checkpoint of a run: validate and test log into that run's folder of each, with its own config, so that a
    # validation at step 0 joins no training curve
    assert sorted(path.name for path in (tmp_path / "runs" / "demo").iterdir()) == ["version_3"]
    assert (run / "validate/config_validate.yaml").is_file() and (run / "test/config_test.yaml").is_file()
    assert [len(list((run / sub).glob("events.out.tfevents.*"))) for sub in ("validate", "test")] == [1, 1]
    scalars = EventAccumulator(str(run / "test")).Reload().Tags()["scalars"]
    assert "test/SYN-TE/Smeasure" in scalars and "hp_metric" not in scalars  # no placeholder of TensorBoardLogger's
    assert not list(run.glob("events.out.tfevents.*"))
    writer = ["--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter", "--trainer.callbacks.output", "maps"]
    photos = ["--data.predict", str(synthetic_root / "synthetic/SYN-TE/im")]
    assert main(["predict", *in_run, *photos, *writer]) == 0  # and predict too
    assert (run / "predict/config_predict.yaml").is_file()
    assert sorted(p.name for p in (run.parent).iterdir()) == ["version_3"]
    # best: the newest training run's monitored checkpoint, logged into that run whatever the logger's name
    (run / "config.yaml").write_text("{}")  # what fit saves there
    renamed = ["--trainer.logger.init_args.name", "other"]
    assert main(["test", *data, "--data.test", "[synthetic/SYN-TE]", "--ckpt_path", "best"]) == 0
    assert main(["test", *in_run, "--data.test", "[synthetic/SYN-TE]", *renamed]) == 0
    assert f"--ckpt_path best: {Path('runs/demo/version_3/checkpoints/best.ckpt')}" in capsys.readouterr().err
    assert len(list((run / "test").glob("events.out.tfevents.*"))) == 3 and not (tmp_path / "runs" / "other").exists()
    assert main(["validate", *data, "--trainer.logger", "false", "--data.val", "[synthetic/SYN-TE]"]) == 0
    assert "note: no --ckpt_path: validate uses the network as the config builds it" in capsys.readouterr().err
    common = [*data, "--trainer.logger", "false", "--ckpt_path", str(trained_checkpoint)]
    # the checkpoint's weights replace model.pretrained, which is not read: a start file moved away is no error
    moved = ["--model.pretrained", str(tmp_path / "moved" / "start.ckpt")]  # a start micro takes, were it there
    assert main(["test", *common, "--data.test", "[synthetic/SYN-TE]", *moved]) == 0
    assert "loaded" not in capsys.readouterr().out
    sizes = odd_images(tmp_path / "in")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                *common,
                "--data.predict",
                str(tmp_path / "in"),
                "--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter",
                "--trainer.callbacks.output",
                str(out),
            ]
        )
        == 1  # one image skipped: exit 1, as plain predict
    )
    output = capsys.readouterr()
    assert "skipped" in output.err and f"ignored in {tmp_path / 'in'}: files without an image suffix" in output.out
    for stem, (height, width) in sizes.items():
        assert Image.open(out / f"{stem}.png").size == (width, height)
    # default_root_dir: runs; each subcommand saves its own config
    assert (tmp_path / "runs" / "config_predict.yaml").is_file() and not (tmp_path / "config.yaml").exists()


@pytest.mark.slow
def test_ddp_test_scores_every_image_once(trained_checkpoint: Path, tmp_path: Path) -> None:
    """7 images on 2 processes: Lightning's default sampler would repeat one; ours must give the 1-process scores."""
    root = tmp_path / "data"
    write_dataset(root / "synthetic", SynthConfig(num=11, min_size=96, max_size=128, held_out=0), workers=0, show=False)
    assert len(list((root / "synthetic/SYN-TR/im").iterdir())) == 7
    script = Path(__file__).parent / "ddp_run.py"
    done = subprocess.run(
        [sys.executable, str(script), str(root), str(trained_checkpoint), str(tmp_path / "ddp.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    distributed = json.loads((tmp_path / "ddp.json").read_text())
    module = MGDSAM2Module.load_from_checkpoint(trained_checkpoint, weights_only=True)
    data = SegmentationDataModule(
        root=str(root),
        test=["synthetic/SYN-TR"],
        input_size=module.input_size,
        grid=module.grid,
        num_workers=0,
        check=False,
    )
    single = trainer(tmp_path, logger=False).test(module, datamodule=data, verbose=False)[0]
    assert set(distributed) == set(single)
    for key, value in single.items():  # the same maps, their scores summed in another order and logged as float32
        assert same_score(distributed[key], value, 7), key


def test_the_scores_table_has_the_dis_overall_row_and_only_computed_columns(capsys) -> None:
    from mgd_sam2.training.cli import print_scores

    print_scores({f"DIS-TE{i}": {"Smeasure": i / 10, "MAE": 0.01 * i} for i in range(1, 5)}, "test")
    out = capsys.readouterr().out
    assert "│ Overall DIS-TE(1-4) │ 0.250 │ 0.025 │" in out and "maxFβ" not in out


def test_flags_given_with_a_checkpoint_win_over_its_hyperparameters(
    trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """LightningCLI lays the checkpoint's hyperparameters over the command line; explicit --model flags win."""
    monkeypatch.chdir(tmp_path)
    args = [
        "-c",
        str(ROOT / "src/mgd_sam2/configs/demo.yaml"),
        "--data.root",
        str(synthetic_root),
        "--data.num_workers",
        "0",
        "--data.test",
        "[synthetic/SYN-TE]",
        "--trainer.logger",
        "false",
        "--ckpt_path",
        str(trained_checkpoint),
    ]
    assert build_cli(["test", *args]).model.hparams.tta is False  # as trained
    cli = build_cli(["test", *args, "--model.tta", "true", "--model.test_metrics", "[S]"])
    assert cli.model.hparams.tta is True and cli.model.hparams.test_metrics == ["S"]
    assert set(cli.trainer.callback_metrics) == {"test/SYN-TE/Smeasure"}
    # the checkpoint's settings win over the config's: the recipe's base_plus config tests the micro checkpoint as micro
    recipe = ["-c", str(ROOT / "lightning_config.yaml"), *args[2:], "--trainer.precision", "32-true"]
    assert build_cli(["test", *recipe, "--model.test_metrics", "[S]"]).model.hparams.network["preset"] == "micro"
    # a network flag that builds another network than the checkpoint's: one line naming both, not a traceback
    for flag, value, change in (
        ("use_mcem", "false", "use_mcem True -> False"),
        ("preset", "tiny", "preset 'micro' -> 'tiny'"),
    ):
        assert main(["test", *args, f"--model.network.{flag}", value]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "size mismatch" not in err
        error = err.strip().splitlines()[-1]
        assert error.startswith(f"error: the checkpoint's network is not the one this command builds ({change}; e.g.")
    # a setting that keeps the weights' shapes (the view size): a note in test, refused in a fit resuming it
    assert main(["test", *args, "--model.network.view_size", "32", "--model.test_metrics", "[S]"]) == 0
    assert (f"note: test runs the weights of {trained_checkpoint} in a network built with other settings than they "
            "were trained with (view_size 64 -> 32)") in capsys.readouterr().err  # fmt: skip
    assert main(["test", *args, "--model.network.train_trunk", "true", "--model.test_metrics", "[S]"]) == 0
    assert "other settings" not in capsys.readouterr().err  # what a fit trains: nothing the test computes differently
    assert main(["fit", *args, "--model.network.view_size", "32"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --ckpt_path {trained_checkpoint} was trained with other network settings than this fit builds "
        "(view_size 64 -> 32): a resumed run goes on training its own network; drop the --model.network flags, or "
        "start a new run"
    )


def runs_config(tmp_path: Path, callbacks: list | None = None):
    """A parsed config's trainer part: root folder tmp_path/runs, a TensorBoardLogger of runs named x there."""
    from jsonargparse import Namespace

    logger = Namespace(class_path="TensorBoardLogger", init_args=Namespace(save_dir=str(tmp_path / "runs"), name="x"))
    return Namespace(trainer=Namespace(logger=logger, default_root_dir=str(tmp_path / "runs"), callbacks=callbacks))


def test_a_new_slurm_job_refuses_an_earlier_jobs_requeue_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """On SLURM, a fit without --ckpt_path resumes the newest hpc_ckpt_N.ckpt of the root folder (Lightning's
    requeue resume): in a job that was not requeued it can only be an earlier job's, of any run in that folder."""
    from mgd_sam2.training.cli import refuse_stale_hpc

    config = runs_config(tmp_path)
    (tmp_path / "runs").mkdir()
    refuse_stale_hpc(config)  # no SLURM
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "mgd-sam2")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    refuse_stale_hpc(config)  # no requeue checkpoint
    (tmp_path / "runs/hpc_ckpt_1.ckpt").write_bytes(b"x")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'runs/hpc_ckpt_1.ckpt'} is an earlier SLURM job's "
                                                    "requeue checkpoint, which Lightning would resume")):  # fmt: skip
        refuse_stale_hpc(config)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued job: its own, which Lightning resumes
    refuse_stale_hpc(config)
    (tmp_path / "runs/hpc_ckpt_1.ckpt").unlink()  # SlurmRequeue's in the run's folder, where Lightning does not look
    refuse_stale_hpc(config)  # (no run yet: a new one starts)
    (tmp_path / "runs/x/version_0/checkpoints").mkdir(parents=True)
    (tmp_path / "runs/x/version_0/checkpoints/hpc_ckpt_1.ckpt").write_bytes(b"x")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "this SLURM job was requeued (1x) and given no --ckpt_path, so it "
            "would start a new run: add --ckpt_path last to continue from"
        ),
    ):
        refuse_stale_hpc(config)


def older_run_only(tmp_path: Path, name: str) -> Path:
    """Two training runs of x, only the older with checkpoints/``name``; the newest run's path for it (not written)."""
    for version in (0, 1):
        (tmp_path / f"runs/x/version_{version}/checkpoints").mkdir(parents=True)
    (tmp_path / "runs/x/version_0/checkpoints" / name).write_bytes(b"x")
    return tmp_path / "runs/x/version_1/checkpoints" / name


def test_best_is_the_monitored_checkpoint_of_the_newest_training_run(tmp_path: Path) -> None:
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import best_checkpoint, resolve_checkpoint

    monitored = Namespace(class_path="lightning.pytorch.callbacks.ModelCheckpoint",
                          init_args=Namespace(monitor="val/Smeasure", filename="best"))  # fmt: skip
    last = Namespace(class_path="lightning.pytorch.callbacks.ModelCheckpoint", init_args=Namespace(save_last=True))
    config = runs_config(tmp_path, callbacks=[monitored, last])
    with pytest.raises(ConfigError, match="--ckpt_path best: no training run in"):
        best_checkpoint(config)
    newest = older_run_only(tmp_path, "best.ckpt")
    with pytest.raises(
        ConfigError, match=r"version_1, has no checkpoints/best.ckpt yet \(written at its first validation"
    ):
        best_checkpoint(config)
    (tmp_path / "runs/x/version_2").mkdir()  # a test run's folder: passed over
    newest.write_bytes(b"x")
    assert best_checkpoint(config) == (newest, 1)
    for keyword, name in (("best", "best.ckpt"), ("last", "last.ckpt")):  # predict -c resolves them as test does
        torch.save({"epoch": 0}, tmp_path / "runs/x/version_1/checkpoints" / name)
        predicting = Namespace(
            ckpt_path=keyword, trainer=copy.deepcopy(config.trainer), model=Namespace(pretrained=None)
        )
        resolve_checkpoint("predict", predicting)
        assert predicting.ckpt_path == str(tmp_path / "runs/x/version_1/checkpoints" / name)
    monitored.init_args.save_top_k = 3  # best.ckpt, best-v1.ckpt, best-v2.ckpt: the top 3, not one best
    with pytest.raises(ConfigError, match="keep one file \\(save_top_k: 1\\); with save_top_k: 3"):
        best_checkpoint(config)
    monitored.init_args.save_top_k = 1
    monitored.init_args.filename = "{epoch}-{val/Smeasure:.3f}"
    with pytest.raises(ConfigError, match="a fixed filename"):
        best_checkpoint(config)


@pytest.mark.parametrize("versions", [False, True])
def test_best_after_a_resume_is_the_resumed_runs_best(versions: bool, tmp_path: Path) -> None:
    """A run stopped after an epoch's validation wrote best.ckpt and before the next last.ckpt re-validates that epoch
    when resumed. The shipped configs (enable_version_counter: false) rewrite best.ckpt then; a config that keeps
    Lightning's version counter gets best-v1.ckpt beside the stale best.ckpt, and --ckpt_path best takes the newest.
    Either way best is the file the resumed run's callback keeps as its best."""
    from lightning.pytorch import LightningModule
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    from mgd_sam2.training.cli import newest_version

    for config in (ROOT / "lightning_config.yaml", *sorted((ROOT / "src/mgd_sam2/configs").glob("*.yaml"))):
        callbacks = yaml.safe_load(config.read_text())["trainer"]["callbacks"]
        best = next(c["init_args"] for c in callbacks if c["init_args"].get("monitor"))
        assert best["filename"] == "best" and best["enable_version_counter"] is False, config

    inputs, targets = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), torch.linspace(-1, 1, 8)[:, None]

    class Line(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, index):
            return (self.layer(batch[0]) - batch[1]).square().mean()

        def validation_step(self, batch, index):
            self.log("val/loss", (self.layer(batch[0]) - batch[1]).square().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    class StopAtStep(Callback):  # an interruption that writes no checkpoint
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == 5:
                raise KeyboardInterrupt

    def fit(folder: Path, *extra: Callback, resume: bool = False) -> None:
        # 4 batches per epoch: best.ckpt at step 4 (epoch 0's validation), last.ckpt every 3 steps
        best = ModelCheckpoint(dirpath=folder, monitor="val/loss", filename="best", enable_version_counter=versions)
        last = ModelCheckpoint(dirpath=folder, every_n_train_steps=3, save_top_k=0, save_last=True)
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, targets), batch_size=2)
        torch.manual_seed(0)
        Trainer(max_epochs=2, callbacks=[best, last, *extra], logger=False, enable_progress_bar=False,
                enable_model_summary=False, num_sanity_val_steps=0).fit(
            Line(), data, data, ckpt_path=folder / "last.ckpt" if resume else None)  # fmt: skip

    fit(tmp_path / "whole")
    with pytest.raises(SystemExit):  # Lightning's answer to Ctrl-C, after its shutdown
        fit(tmp_path / "resumed", StopAtStep())
    assert torch.load(tmp_path / "resumed/last.ckpt", weights_only=False)["global_step"] == 3
    fit(tmp_path / "resumed", resume=True)
    names = sorted(path.name for path in (tmp_path / "resumed").iterdir())
    assert names == (["best-v1.ckpt", "best.ckpt", "last.ckpt"] if versions else ["best.ckpt", "last.ckpt"])
    found = newest_version(tmp_path / "resumed/best.ckpt")
    assert found.name == ("best-v1.ckpt" if versions else "best.ckpt")
    reference = torch.load(tmp_path / "whole/best.ckpt", weights_only=False)
    again = torch.load(found, weights_only=False)
    assert again["global_step"] == reference["global_step"] == 8  # the last validation's, as uninterrupted
    tracked = next(state for key, state in again["callbacks"].items() if "val/loss" in key)
    assert tracked["best_model_path"] == str(found)  # the file the resumed run's callback kept as its best
    if versions:  # the interrupted run's file, from epoch 0
        assert torch.load(tmp_path / "resumed/best.ckpt", weights_only=False)["global_step"] == 4


def test_a_logger_that_names_its_version_has_that_run(tmp_path: Path) -> None:
    """A config whose logger sets its version (a name, or a number) keeps its runs in that folder: best and last are
    that run's, not the newest version_N's, and validate/test/predict of them log into its subcommand folder."""
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import best_checkpoint, last_checkpoint, resolve_checkpoint

    monitored = Namespace(class_path="lightning.pytorch.callbacks.ModelCheckpoint",
                          init_args=Namespace(monitor="val/Smeasure", filename="best"))  # fmt: skip
    config = runs_config(tmp_path, callbacks=[monitored])
    older_run_only(tmp_path, "best.ckpt").write_bytes(b"x")  # version_1: newer than the named runs, not theirs
    (tmp_path / "runs/x/version_1/checkpoints/last.ckpt").write_bytes(b"x")
    for version, folder in (("exp1", "exp1"), (0, "version_0")):
        config.trainer.logger.init_args.version = version
        run = tmp_path / "runs/x" / folder
        if version == "exp1":
            with pytest.raises(ConfigError, match=re.escape(f"--ckpt_path best: no training run in {run}; train")):
                best_checkpoint(config)
            with pytest.raises(ConfigError, match=re.escape(f"nothing to resume, no training run in {run}; start")):
                last_checkpoint(config)
            (run / "checkpoints").mkdir(parents=True)
            with pytest.raises(
                ConfigError, match=re.escape(f"the config's latest run, {run}, has no checkpoints/best.ckpt")
            ):
                best_checkpoint(config)
        for keyword in ("best", "last"):
            torch.save({"epoch": 0}, run / "checkpoints" / f"{keyword}.ckpt")
            assert (best_checkpoint if keyword == "best" else last_checkpoint)(config) == (
                run / "checkpoints" / f"{keyword}.ckpt",
                version,
            )
            testing = Namespace(ckpt_path=keyword, trainer=copy.deepcopy(config.trainer), model=Namespace())
            resolve_checkpoint("test", testing)
            assert testing.ckpt_path == str(run / "checkpoints" / f"{keyword}.ckpt")
            assert testing.trainer.logger.init_args.version == f"{folder}/test"
        fitting = Namespace(ckpt_path="last", trainer=copy.deepcopy(config.trainer), model=Namespace())
        resolve_checkpoint("fit", fitting)  # resumed in the same folder
        assert fitting.trainer.logger.init_args.version == version
    # SLURM's requeue checkpoint lies outside the runs: newer, it is this run's only where its callbacks wrote here
    hpc, last = tmp_path / "runs/hpc_ckpt_1.ckpt", run / "checkpoints/last.ckpt"
    for writer, expected in ((tmp_path / "runs/x/version_1", last), (run, hpc)):
        state = {"dirpath": str(writer / "checkpoints"), "monitor": None}
        torch.save({"epoch": 1, "callbacks": {"ModelCheckpoint{'monitor': None}": state}}, hpc)
        os.utime(hpc, ns=(last.stat().st_mtime_ns + 10**9,) * 2)
        assert last_checkpoint(config) == (expected, 0)
    other = tmp_path / "runs/hpc_ckpt_2.ckpt"  # another run's, numbered after this run's own: this run's is found
    state = {"dirpath": str(tmp_path / "runs/x/version_1/checkpoints"), "monitor": None}
    torch.save({"epoch": 1, "callbacks": {"ModelCheckpoint{'monitor': None}": state}}, other)
    assert last_checkpoint(config) == (hpc, 0)
    other.unlink()
    config.trainer.logger.init_args.version = "exp3"  # a run not there: nothing to resume, not another run's state
    with pytest.raises(ConfigError, match="nothing to resume, no training run in"):
        last_checkpoint(config)
    # another logger's version is its own thing (W&B's run id): the runs are the version_N folders
    config.trainer.logger.class_path = "lightning.pytorch.loggers.WandbLogger"
    hpc.unlink()
    assert best_checkpoint(config) == (tmp_path / "runs/x/version_1/checkpoints/best.ckpt", 1)


def test_best_and_last_are_in_a_checkpoint_callbacks_own_dirpath(tmp_path: Path) -> None:
    """A ModelCheckpoint given a dirpath writes there for every run, not in the run's folder: best and last are
    the files there, and a missing one is named where it was looked for."""
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import best_checkpoint, last_checkpoint

    callback = "lightning.pytorch.callbacks.ModelCheckpoint"
    monitored = Namespace(class_path=callback, init_args=Namespace(monitor="val/Smeasure", filename="best",
                                                                   dirpath=str(tmp_path / "kept")))  # fmt: skip
    last = Namespace(class_path=callback, init_args=Namespace(save_last=True, dirpath=str(tmp_path / "resume")))
    config = runs_config(tmp_path, callbacks=[monitored, last])
    older_run_only(tmp_path, "best.ckpt").write_bytes(b"x")  # the run folders' files are not these callbacks'
    (tmp_path / "runs/x/version_1/checkpoints/last.ckpt").write_bytes(b"x")
    with pytest.raises(ConfigError, match=re.escape(f"--ckpt_path best: no {tmp_path / 'kept/best.ckpt'}; train")):
        best_checkpoint(config)
    with pytest.raises(ConfigError, match=re.escape(f"nothing to resume, no {tmp_path / 'resume/last.ckpt'}; start")):
        last_checkpoint(config)
    for folder, name in (("kept", "best.ckpt"), ("resume", "last.ckpt")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"x")
    assert best_checkpoint(config) == (tmp_path / "kept/best.ckpt", None)
    assert last_checkpoint(config, "test") == (tmp_path / "resume/last.ckpt", None)
    newer = ((tmp_path / "resume/last.ckpt").stat().st_mtime_ns + 10**9,) * 2
    (tmp_path / "runs/hpc_ckpt_1.ckpt").write_bytes(b"x")  # in the root folder, of no run that wrote into resume/
    os.utime(tmp_path / "runs/hpc_ckpt_1.ckpt", ns=newer)
    assert last_checkpoint(config) == (tmp_path / "resume/last.ckpt", None)
    hpc = tmp_path / "resume/hpc_ckpt_1.ckpt"  # SLURM's requeue checkpoint beside last.ckpt, newer: resume from it
    hpc.write_bytes(b"x")
    os.utime(hpc, ns=newer)
    assert last_checkpoint(config) == (hpc, None)


def test_with_a_list_of_loggers_the_runs_are_the_first_loggers(tmp_path: Path) -> None:
    """Lightning's ModelCheckpoint writes into the first logger's run folder: best and last are found there, a resumed
    fit logs on into that run, and an empty list is no logger (the root folder's checkpoints)."""
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import best_checkpoint, last_checkpoint, resolve_checkpoint

    callback = "lightning.pytorch.callbacks.ModelCheckpoint"
    monitored = Namespace(class_path=callback, init_args=Namespace(monitor="val/Smeasure", filename="best"))
    config = runs_config(tmp_path, callbacks=[monitored])
    csv = Namespace(class_path="CSVLogger", init_args=Namespace(save_dir=str(tmp_path / "csv"), name="y"))
    config.trainer.logger = [config.trainer.logger, csv]
    older_run_only(tmp_path, "best.ckpt").write_bytes(b"x")
    torch.save({"epoch": 0}, tmp_path / "runs/x/version_1/checkpoints/last.ckpt")
    assert best_checkpoint(config) == (tmp_path / "runs/x/version_1/checkpoints/best.ckpt", 1)
    resuming = Namespace(ckpt_path="last", trainer=config.trainer, model=Namespace(pretrained=None))
    resolve_checkpoint("fit", resuming)
    assert resuming.ckpt_path == str(tmp_path / "runs/x/version_1/checkpoints/last.ckpt")
    assert config.trainer.logger[0].init_args.version == 1 and "version" not in csv.init_args
    config.trainer.logger = []
    with pytest.raises(ConfigError, match=re.escape(f"no {tmp_path / 'runs/checkpoints/best.ckpt'}")):
        best_checkpoint(config)
    for no_logger in ([], False):  # last too: the root folder's checkpoints, one line where there is none
        config.trainer.logger = no_logger
        with pytest.raises(
            ConfigError, match=re.escape(f"nothing to resume, no {tmp_path / 'runs/checkpoints/last.ckpt'}")
        ):
            last_checkpoint(config)
    # a logger of version_N runs whose save_dir may be unset (TensorBoard's and CSV's may not): the root folder's,
    # where Lightning's ModelCheckpoint then writes
    unsaved = Namespace(class_path="my_project.VersionedLogger", init_args=Namespace(save_dir=None, name="z"))
    config.trainer.logger = unsaved
    (tmp_path / "runs/z/version_0/checkpoints").mkdir(parents=True)
    (tmp_path / "runs/z/version_0/checkpoints/last.ckpt").write_bytes(b"x")
    assert last_checkpoint(config) == (tmp_path / "runs/z/version_0/checkpoints/last.ckpt", 0)


def test_the_run_keywords_are_refused_where_they_mean_nothing(tmp_path: Path) -> None:
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import resolve_checkpoint

    def config(keyword: str) -> Namespace:
        return Namespace(ckpt_path=keyword, trainer=runs_config(tmp_path).trainer, model=Namespace(pretrained=None))

    with pytest.raises(ConfigError, match="fit --ckpt_path best: resume with --ckpt_path last"):
        resolve_checkpoint("fit", config("best"))
    for subcommand in ("validate", "test", "predict"):  # not "nothing to resume": nothing to score
        with pytest.raises(ConfigError, match="--ckpt_path last: no checkpoint, no training run in .*; train first"):
            resolve_checkpoint(subcommand, config("last"))


def test_a_misspelt_option_is_a_two_line_error_naming_the_closest_one(tmp_path: Path, monkeypatch, capsys) -> None:
    """On the command line or in the config: the error with the option meant, and how to list them (for predict
    ``-c CONFIG --help``, since ``predict --help`` is the other predict's), not 80 lines of usage."""
    monkeypatch.chdir(tmp_path)
    config = ROOT / "lightning_config.yaml"
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(config.read_text().replace("  max_epochs:", "  max_epoks:", 1))
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  preset: micro\n")
    cases = [
        (["fit", "-c", str(config), "--trainer.max_epoks=3", "--data.bach_size", "2"],
         "unrecognized arguments: --trainer.max_epoks=3 --data.bach_size 2 "
         "(did you mean --trainer.max_epochs or --data.batch_size?)"),
        (["predict", "-c", str(misspelt)],
         f"Subcommand 'predict' does not accept option 'trainer.max_epoks' in {misspelt} "
         "(did you mean trainer.max_epochs?)"),
        (["fit", "-c", str(config), "-c", str(nested)],  # the file of several that holds the key; a group level up
         f"Subcommand 'fit' does not accept option 'model.preset' in {nested} (did you mean model.network.preset?)"),
        (["fit", f"-c={config}", f"-c={nested}"],
         f"Subcommand 'fit' does not accept option 'model.preset' in {nested} (did you mean model.network.preset?)"),
        (["test", "-c", str(config), "--zzz", "1"], "unrecognized arguments: --zzz 1"),
        (["fit", "-c", str(config), "--max_epochs", "3"],
         "unrecognized arguments: --max_epochs 3 (did you mean --trainer.max_epochs?)"),  # a group's key alone
        (["test", "-c", str(config), "--model.tt", "true", "--trainer.max_epoch", "3"],  # no abbreviations
         "unrecognized arguments: --model.tt true --trainer.max_epoch 3 "
         "(did you mean --model.tta or --trainer.max_epochs?)"),
        (["fit", "-c", str(config), "--trainer.max_ep", "1"],  # shortened: the option it starts, not max_steps
         "unrecognized arguments: --trainer.max_ep 1 (did you mean --trainer.max_epochs?)"),
        (["fit", "-c", str(config), "--trainer.max", "1"],  # the start of several: each, none picked at random
         "unrecognized arguments: --trainer.max 1 (did you mean --trainer.max_epochs or --trainer.max_steps or "
         "--trainer.max_time?)"),
        (["fit", "--print_config", "-c", str(misspelt)],  # checked by the top parser, which knows no subcommand
         f"Group 'trainer' does not accept option 'max_epoks' in {misspelt} (did you mean max_epochs?)"),
        (["fit", "-c", str(config), "--data.train", "A/A-TR,B/B-TR"],  # a split list as one word: the form to give
         "--data.train takes a list of splits, not 'A/A-TR,B/B-TR': --data.train \"[HRSOD/HRSOD-TR, UHRSD/UHRSD-TR]"
         "\" (YAML's list, quoted for the shell), or --data.train+ UHRSD/UHRSD-TR to add one to the config's; a "
         "split is a folder under data.root or {images: DIR, masks: DIR, name: NAME}"),
    ]  # fmt: skip
    for args, error in cases:
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2
        lines = capsys.readouterr().err.splitlines()
        command = "mgd-sam2 SUBCOMMAND" if "--print_config" in args else f"mgd-sam2 {args[0]}"
        assert lines == [f"error: {error}", f"{command} -c CONFIG --help lists the options"]
    listed = tmp_path / "listed.yaml"  # the parser takes a list as the model's entry; Lightning then fails on it
    listed.write_text("model:\n  - 1\n")
    for subcommand in ("fit", "test"):
        assert main([subcommand, "-c", str(config), "-c", str(listed)]) == 1
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            "error: model is [1] in the config, not the model's settings (model: network: preset: ..., lr: ...): "
            "check the model entry of the -c files"
        )
    assert not (tmp_path / "runs").exists()


def test_a_run_checkpoint_redirects_only_loggers_of_version_folders(tmp_path: Path, monkeypatch) -> None:
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import log_into_run

    ckpt = tmp_path / "runs/x/version_3/checkpoints/best.ckpt"
    for class_path, moved in (("lightning.pytorch.loggers.TensorBoardLogger", True),
                              ("lightning.pytorch.loggers.CSVLogger", True),
                              ("lightning.pytorch.loggers.WandbLogger", False)):  # fmt: skip
        logger = Namespace(class_path=class_path, init_args=Namespace(save_dir="logs", name="other", version=None))
        log_into_run(ckpt, logger, "test")
        expected = (str(tmp_path / "runs"), "x", "version_3/test") if moved else ("logs", "other", None)
        assert (logger.init_args.save_dir, logger.init_args.name, logger.init_args.version) == expected, class_path
    tensorboard = "lightning.pytorch.loggers.TensorBoardLogger"
    (tmp_path / "runs/x/version_3").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs/x/version_3")  # checkpoints/best.ckpt, given from inside the run
    logger = Namespace(class_path=tensorboard, init_args=Namespace(save_dir="logs", name="other", version=None))
    log_into_run(Path("checkpoints/best.ckpt"), logger, "validate")
    assert (logger.init_args.save_dir, logger.init_args.version) == (str(tmp_path / "runs"), "version_3/validate")
    named = tmp_path / "runs/x/exp1/checkpoints/best.ckpt"  # a config's own version name
    logger = Namespace(
        class_path=tensorboard, init_args=Namespace(save_dir=str(tmp_path / "runs"), name="x", version="exp1")
    )
    log_into_run(named, logger, "test")
    assert logger.init_args.version == "exp1/test"


def test_a_csv_loggers_training_metrics_survive_a_test_and_a_resume(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Lightning's CSVLogger deletes the metrics.csv of the folder it starts in: a test of the run's checkpoint logs
    into the run's test/ folder (a second test keeps the first's as metrics_1.csv, beside its config_test_1.yaml), and
    a resumed fit keeps the run's file as metrics_before_resume_1.csv. A test or a resume that fails before its first
    batch or step (a split not found, changed data) leaves the folder as it found it: the earlier files keep their
    names (they were renamed, and the failed run's own files left in their place)."""

    def files(folder: Path) -> dict[str, bytes]:
        return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}

    monkeypatch.chdir(run_folder(tmp_path / "csv", synthetic_root))
    logger = ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", "runs",
              "--trainer.logger.name", "csv"]  # fmt: skip
    config = ["-c", str(ROOT / "tests/fixtures/resume.yaml"), "--trainer.max_epochs", "1", *logger, "--data.test",
              "[synthetic/SYN-TE]"]  # fmt: skip
    assert main(["fit", *config]) == 0
    run = Path("runs/csv/version_0")
    trained = (run / "metrics.csv").read_bytes()
    assert b"train/loss" in trained
    with warnings.catch_warnings(record=True) as caught:  # the training's ModelCheckpoint and callback states: unused
        warnings.simplefilter("always")
        assert main(["test", *config, "--ckpt_path", "last"]) == 0
    said = [str(warning.message) for warning in caught]
    assert not [text for text in said if "dirpath has changed" in text or "callbacks used to create" in text], said
    tested = (run / "test/metrics.csv").read_bytes()
    assert (run / "metrics.csv").read_bytes() == trained and b"test/SYN-TE/Smeasure" in tested
    first = (run / "test/config_test.yaml").read_text()
    assert main(["test", *config, "--ckpt_path", "last", "--model.test_metrics", "[MAE]"]) == 0  # a second test
    assert (run / "test/metrics_1.csv").read_bytes() == tested  # the first's scores and config, numbered alike
    assert (run / "test/config_test_1.yaml").read_text() == first
    assert b"test/SYN-TE/MAE" in (run / "test/metrics.csv").read_bytes()
    assert "- MAE" in (run / "test/config_test.yaml").read_text()
    before = files(run)
    capsys.readouterr()
    assert main(["test", *config, "--ckpt_path", "last", "--data.test", "[synthetic/NOPE]"]) == 1
    assert files(run) == before
    test_folder = run / "test"
    assert f"put back {test_folder / 'config_test.yaml'}, {test_folder / 'metrics.csv'}: the test ended before " in (
        capsys.readouterr().out
    )
    resume = ["fit", *config, "--ckpt_path", "last", "--trainer.max_epochs", "2"]
    assert main([*resume, "--data.batch_size", "1"]) == 1  # changed data: refused in one line, nothing changed
    assert files(run) == before
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip().splitlines()[-1] == (
        "error: cannot resume this run exactly: its training order depends on settings that changed since its "
        "checkpoint (data.batch_size 2 -> 1); resume with the run's own settings (its config.yaml, on as many "
        "processes), or start a new run"
    )
    assert f"put back {run / 'metrics.csv'}: the fit ended before its first step" in captured.out
    assert main(resume) == 0
    assert (run / "metrics_before_resume_1.csv").read_bytes() == trained
    assert b"train/loss" in (run / "metrics.csv").read_bytes()


@pytest.mark.parametrize("node", [0, 1])
def test_a_resumes_csv_metrics_are_kept_by_the_first_nodes_main_process_alone(tmp_path: Path, node: int) -> None:
    """On a multi-node fit that Lightning launches, every node's first process has rank 0 before the launch (NODE_RANK
    alone tells them apart): only the first node's keeps metrics.csv, so nodes sharing the folder do not race."""
    from types import SimpleNamespace

    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.loggers import CSVLogger

    from mgd_sam2.training.cli import keep_csv_metrics

    logger = CSVLogger(tmp_path, name="csv", version=0)
    Path(logger.log_dir).mkdir(parents=True)
    (Path(logger.log_dir) / "metrics.csv").write_text("step,train/loss\n")
    environment = LightningEnvironment()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NODE_RANK", str(node))
        keep_csv_metrics(SimpleNamespace(loggers=[logger], strategy=SimpleNamespace(cluster_environment=environment)))
    kept = sorted(path.name for path in Path(logger.log_dir).iterdir())
    assert kept == (["metrics_before_resume_1.csv"] if node == 0 else ["metrics.csv"])


def test_files_set_aside_go_back_in_every_loggers_folder_and_spawned_runs_count_as_started(
    tmp_path: Path, capsys
) -> None:
    """A resume that ends before its first step puts back the CSV logger's metrics.csv (and its hparams.yaml's
    content) wherever that logger is in the list, even behind a logger of another kind, whose folder it cannot
    clean. Where the loops ran in spawned processes, the main process cannot tell whether the run started: it takes
    it as started, and leaves its folder alone."""
    from types import SimpleNamespace

    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher

    from mgd_sam2.training.cli import MGDSAM2CLI, keep_csv_metrics, remove_unstarted_run

    csv = CSVLogger(tmp_path, name="csv", version=0)
    folder = Path(csv.log_dir)
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("step,train/loss\n0,1.0\n")
    (folder / "hparams.yaml").write_text("lr: 0.1\n")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    strategy = SimpleNamespace(cluster_environment=LightningEnvironment(), launcher=None)
    trainer = SimpleNamespace(loggers=[SimpleNamespace(), csv], strategy=strategy, is_global_zero=True)
    set_aside = keep_csv_metrics(trainer)
    (folder / "metrics.csv").write_text("step\n")  # the failed resume's own
    (folder / "hparams.yaml").write_text("lr: 0.2\n")
    remove_unstarted_run(trainer, None, set_aside, "fit", {folder / "hparams.yaml": before["hparams.yaml"]})
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert capsys.readouterr().out == f"put back {folder / 'metrics.csv'}: the fit ended before its first step\n"
    spawned = SimpleNamespace(launcher=object.__new__(_MultiProcessingLauncher))
    for launcher, ckpt, started in (
        (spawned, "last.ckpt", True),
        (spawned, None, True),
        (strategy, "last.ckpt", False),
    ):
        cli = SimpleNamespace(trainer=SimpleNamespace(strategy=launcher, global_step=0, test_loop=SimpleNamespace(
            batch_progress=SimpleNamespace(total=SimpleNamespace(ready=0)))), checkpoint_step=5 if ckpt else None,
            config_init={"fit": {"ckpt_path": ckpt}, "test": {"ckpt_path": ckpt}})  # fmt: skip
        assert MGDSAM2CLI.started(cli, "fit") is started and MGDSAM2CLI.started(cli, "test") is (launcher is spawned)


def test_a_start_that_cannot_load_its_pretrained_weights_leaves_no_run_folder(
    synthetic_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """fit checks model.pretrained before Lightning saves the run's config.yaml, so no empty run is left for
    --ckpt_path last/best to stop at."""
    monkeypatch.chdir(tmp_path)
    config = ["-c", str(ROOT / "src/mgd_sam2/configs/demo.yaml"), "--data.root", str(synthetic_root)]
    assert main(["fit", *config, "--model.pretrained", str(tmp_path / "sam2.1_hiera_base_plus.pt")]) == 1
    assert "preset micro has no SAM2.1 weights" in capsys.readouterr().err
    tiny = ["--model.network.preset", "tiny", "--model.pretrained", str(tmp_path / "sam2.1_hiera_tiny.pt")]
    assert main(["fit", *config, *tiny]) == 1
    assert "weights file not found" in capsys.readouterr().err
    assert not list(tmp_path.rglob("config.yaml")) and not list(tmp_path.rglob("version_*"))


def test_resume_picks_the_newest_run_and_slurms_requeue_checkpoint(tmp_path: Path) -> None:
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import last_checkpoint

    config = runs_config(tmp_path)
    with pytest.raises(ConfigError, match="nothing to resume"):
        last_checkpoint(config)
    newest = older_run_only(tmp_path, "last.ckpt")
    with pytest.raises(ConfigError, match=r"version_1, has no checkpoints/last.ckpt yet \(save_last.*version_0"):
        last_checkpoint(config)  # the newest run never wrote one: say so, and name the older run's file
    newest.write_bytes(b"x")
    assert last_checkpoint(config) == (newest, 1)
    (tmp_path / "runs/x/version_2").mkdir()  # a start that failed before training
    (tmp_path / "runs/x/version_3").mkdir()
    (tmp_path / "runs/x/version_3/config_test.yaml").write_text("{}")  # a test run's folder
    assert last_checkpoint(config) == (newest, 1)  # neither is a training run

    def requeue_checkpoint(path: Path, run: Path, seconds_newer: int) -> Path:
        """A SLURM requeue checkpoint of the run whose ModelCheckpoint wrote into ``run``, newer than last.ckpt."""
        torch.save({"callbacks": {"ModelCheckpoint{}": {"dirpath": str(run)}}}, path)
        os.utime(path, ns=(newest.stat().st_mtime_ns + seconds_newer * 10**9,) * 2)
        return path

    other_run = requeue_checkpoint(tmp_path / "runs/hpc_ckpt_3.ckpt", tmp_path / "runs/y/version_0/checkpoints", 3)
    assert last_checkpoint(config) == (newest, 1)  # newer, in the shared root folder, but another run's (a try-out)
    lightnings = requeue_checkpoint(tmp_path / "runs/hpc_ckpt_2.ckpt", newest.parent, 1)  # its plugin's, in the root
    requeue_checkpoint(tmp_path / "runs/hpc_ckpt_1.ckpt", newest.parent, 1)
    assert last_checkpoint(config) == (lightnings, 1)  # newer than last.ckpt: continue from it, in version_1
    own = requeue_checkpoint(newest.parent / "hpc_ckpt_1.ckpt", newest.parent, 2)  # SlurmRequeue's, in the run
    assert last_checkpoint(config) == (own, 1)
    default_logger = Namespace(trainer=Namespace(logger=True, default_root_dir=str(tmp_path / "runs")))
    with pytest.raises(ConfigError, match="lightning_logs"):
        last_checkpoint(Namespace(trainer=Namespace(logger=True, default_root_dir=str(tmp_path / "other"))))
    with pytest.raises(ConfigError, match="no training run in"):  # the root's files are other loggers' runs'
        last_checkpoint(default_logger)
    assert other_run.is_file()


@pytest.mark.parametrize(("terminal", "main_process", "printed"), [(False, True, True), (True, True, False),
                                                                     (False, False, False)])  # fmt: skip
def test_epoch_log_prints_only_on_the_main_process_and_off_a_terminal(
    terminal: bool, main_process: bool, printed: bool, monkeypatch, capsys
) -> None:
    from types import SimpleNamespace

    from mgd_sam2.training.epoch_log import EpochLog

    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    metrics = {"train/loss": torch.tensor(0.5), "val/Smeasure": torch.tensor(0.75)}  # no val/MAE logged: left out
    trainer = SimpleNamespace(is_global_zero=main_process, callback_metrics=metrics, current_epoch=2, max_epochs=12,
                              global_step=300)  # fmt: skip
    log = EpochLog()
    log.on_validation_end(SimpleNamespace(sanity_checking=False, current_epoch=2), None)
    log.on_train_epoch_end(trainer, None)
    expected = "epoch 3/12, step 300: train/loss 0.5000, val/Smeasure 0.7500 (0 min 0 s)\n"
    assert capsys.readouterr().out == (expected if printed else "")
    # the next epoch runs no validation: its scores are the last one's, and say so
    log.on_validation_end(SimpleNamespace(sanity_checking=True, current_epoch=3), None)  # a sanity check: not one
    log.on_train_epoch_end(SimpleNamespace(**{**vars(trainer), "current_epoch": 3, "global_step": 400}), None)
    expected = "epoch 4/12, step 400: train/loss 0.5000, val/Smeasure 0.7500 (epoch 3's validation) (0 min 0 s)\n"
    assert capsys.readouterr().out == (expected if printed else "")
    log.keys = ("val/Smeasure", "train/loss")  # the tag follows the validation's scores, wherever they are shown
    log.on_train_epoch_end(SimpleNamespace(**{**vars(trainer), "current_epoch": 3, "global_step": 400}), None)
    expected = "epoch 4/12, step 400: val/Smeasure 0.7500 (epoch 3's validation), train/loss 0.5000 (0 min 0 s)\n"
    assert capsys.readouterr().out == (expected if printed else "")


@pytest.mark.parametrize("main_process", [True, False])
def test_a_fit_starts_with_the_parameter_table_of_the_module_as_it_trains(main_process: bool, capsys) -> None:
    from types import SimpleNamespace

    from mgd_sam2.models.summary import parameter_counts
    from mgd_sam2.training.parameter_summary import ParameterSummary

    network = NetworkConfig(preset="micro", view_size=64)
    module = MGDSAM2Module(network=network, pretrained_lr_scale=0.5, weight_decay=0.01)
    ParameterSummary().on_fit_start(SimpleNamespace(is_global_zero=main_process), module)
    out = " ".join(capsys.readouterr().out.split())
    if not main_process:
        assert out == ""
        return
    counts = parameter_counts(module.model)
    assert "MGD-SAM2 preset micro, input 2×64 = 128 px: parameters" in out  # the input the network trains at
    assert counts["frozen"] > 0  # the recipe's trunk: frozen, and the table says so
    assert f"all │ {counts['total']:,} │ {counts['trainable']:,}" in out
    assert f"LR group 'pretrained' (0.5x LR, wd 0.01) │ │ {counts['groups']['pretrained']:,}" in out
    hiera = counts["parts"]["encoder.trunk"]
    assert f"Hiera trunk │ {hiera['total']:,} │ 0 │" in out


@pytest.mark.parametrize("terminal", [False, True])
def test_off_a_terminal_the_fit_prints_epoch_lines_and_no_progress_bar(terminal: bool, tmp_path: Path, monkeypatch,
                                                                       capsys) -> None:  # fmt: skip
    """Off a terminal the bar would print only its last state after the fit, its epochs counted from 0: EpochLog
    turns it off for the fit (a test after it in the same trainer shows it again); on a terminal both are as
    Lightning draws them."""
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import RichProgressBar

    from mgd_sam2.training.epoch_log import EpochLog

    class Tiny(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, index):
            loss = self.layer(batch[0]).square().mean()
            self.log("train/loss", loss)
            return loss

        def test_step(self, batch, index):
            self.log("test/loss", self.layer(batch[0]).square().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    import rich

    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    monkeypatch.setattr(rich, "_console", None)  # rich's global console, made here for the fake terminal: not kept
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)
    bar = RichProgressBar()
    enabled_during_fit, own_hook = [], bar.on_train_epoch_start

    def on_train_epoch_start(trainer: Trainer, module: LightningModule) -> None:
        enabled_during_fit.append(bar.is_enabled)
        own_hook(trainer, module)

    bar.on_train_epoch_start = on_train_epoch_start
    log = EpochLog()

    def trainer_of_both() -> Trainer:
        return Trainer(max_epochs=2, callbacks=[bar, log], logger=False, enable_checkpointing=False,
                       enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip

    trainer = trainer_of_both()
    trainer.fit(Tiny(), data)
    out = capsys.readouterr().out
    assert enabled_during_fit == [terminal, terminal]
    assert ("Epoch 1/1" in out) == terminal  # the bar's last state, its epochs counted from 0
    assert ("epoch 2/2, step 4: train/loss" in out) != terminal
    assert bar.is_enabled
    trainer.test(Tiny(), data, verbose=False)
    assert "Testing" in capsys.readouterr().out

    class Failing(Tiny):
        def training_step(self, batch, index):
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):  # Lightning does not tear callbacks down after a failed fit
        trainer_of_both().fit(Failing(), data)
    assert bar.is_enabled


def test_configs_merge_in_order_and_print_config_gives_the_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """docs/training.md: several -c files merge in order, flags override both, --print_config prints the merge; and
    make train passes TRAIN_ARGS on."""
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine.yaml"
    mine.write_text("trainer:\n  max_epochs: 3\ndata:\n  batch_size: 4\n")
    args = ["fit", "-c", str(ROOT / "lightning_config.yaml"), "-c", str(mine), "--data.batch_size", "6"]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--print_config"])
    assert exit_.value.code == 0
    merged = yaml.safe_load(capsys.readouterr().out)
    recipe = yaml.safe_load((ROOT / "lightning_config.yaml").read_text())
    assert merged["trainer"]["max_epochs"] == 3 and merged["data"]["batch_size"] == 6
    assert (
        merged["trainer"]["precision"] == recipe["trainer"]["precision"]
        and merged["model"]["lr"] == recipe["model"]["lr"]
    )
    (tmp_path / "merged.yaml").write_text(yaml.safe_dump(merged))  # saved, it is a config of its own
    with pytest.raises(SystemExit):
        main(["fit", "-c", str(tmp_path / "merged.yaml"), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == merged
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MAKE")}  # under make test
    command = ["make", "-n", "--no-print-directory", "-f", str(ROOT / "Makefile"), "train", "TRAIN_ARGS=-c mine.yaml"]
    dry = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    fit = [line for line in dry.stdout.splitlines() if " fit -c " in line]
    assert fit and fit[-1].endswith("fit -c lightning_config.yaml -c mine.yaml"), dry.stdout


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_lightning_subcommands_help_says_what_they_do_and_what_ckpt_path_means_here(
    subcommand: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning's texts describe a Python session's trainer (best and last of its previous fit) and cut test's
    first sentence; --help gives this project's, whole."""
    from mgd_sam2.training.cli import CKPT_PATH_HELP, SUBCOMMAND_HELP

    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps at hyphens (mgd-sam2) at a narrow terminal's width
    with pytest.raises(SystemExit):
        main([subcommand, "-c", str(ROOT / "lightning_config.yaml"), "--help"])  # predict -c: Lightning's
    text = " ".join(capsys.readouterr().out.split())
    assert SUBCOMMAND_HELP[subcommand] in text and "It's separated from fit" not in text
    assert CKPT_PATH_HELP["fit" if subcommand == "fit" else "evaluate"] in text and '``"registry"``' not in text


def test_the_validation_loss_is_the_mean_over_images_not_over_batches(synthetic_root: Path, tmp_path: Path) -> None:
    """3 images in batches of 2 and 1, each batch's loss stood in by its image count (2 and 1): the logged loss is
    (2 x 2 + 1 x 1) / 3 per image, exactly in float64 (not the mean of the batches' means, 1.5, which a weight that
    torchmetrics' MeanMetric drops gave)."""
    linked_split(tmp_path / "three", synthetic_root, 3)
    module = MGDSAM2Module(network=NetworkConfig(preset="micro"), val_metrics=["MAE"])
    module.loss = lambda out, target: {"loss": torch.tensor(float(target.full.shape[0]))}
    size = {"input_size": module.input_size, "grid": module.grid}
    data = SegmentationDataModule(root=str(tmp_path), train=[], val=["three"], eval_batch_size=2, num_workers=0,
                                  check=False, **size)  # fmt: skip
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(module, datamodule=data, verbose=False)
    assert trainer.callback_metrics["val/three/loss"].item() == np.float32(5 / 3)
