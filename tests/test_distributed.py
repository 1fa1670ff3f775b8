"""Multi-process training launched the ways users launch it: Lightning's own processes, torchrun and SLURM's
srun (CPU, gloo, micro preset, tests/fixtures/ddp.yaml: 2 processes x batch 1, 3 steps).

What the sampler guarantees (data/samplers.py): a step's global batch holds the same images with the same
augmentations whatever the number of processes. So every 2-process launch gives bit-identical weights; one
process with the doubled batch trains on the same batches, and reaches the same weights up to float rounding
where BatchNorm statistics are shared (sync_batchnorm, GPU only; on a CPU each process normalises its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import linked_split
from mgd_sam2.utils.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "tests/fixtures/ddp.yaml")
BIN = Path(sys.executable).parent
DDP_WARNINGS = ("Grad strides do not match bucket view strides", "sync_dist=True", "find_unused_parameters")


def workdir(tmp_path: Path, synthetic_root: Path, name: str) -> Path:
    folder = tmp_path / name
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "synthetic").symlink_to(synthetic_root / "synthetic")
    return folder


def fit_command(folder: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "mgd-sam2"),
        "fit",
        "-c",
        CONFIG,
        "--trainer.callbacks+=callbacks.RecordLaunch",
        f"--trainer.callbacks.folder={folder / 'launch'}",
        *extra,
    ]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parent), **extra}


def outcome(folder: Path) -> tuple[dict, dict[int, dict]]:
    """(final weights, {global rank: launch record})."""
    weights = torch.load(folder / "runs/ddp/version_0/checkpoints/last.ckpt", weights_only=True)
    records = [json.loads(path.read_text()) for path in sorted((folder / "launch").glob("rank*.json"))]
    return weights, {record["global_rank"]: record for record in records}


def assert_clean(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert not [warning for warning in DDP_WARNINGS if warning in output], output[-3000:]


@pytest.mark.slow
def test_lightning_torchrun_and_slurm_launches_train_the_same_weights(synthetic_root: Path, tmp_path: Path) -> None:
    spawned = workdir(tmp_path, synthetic_root, "spawned")  # Lightning starts the second process itself
    done = subprocess.run(fit_command(spawned), cwd=spawned, env=environment(), capture_output=True, text=True)
    assert_clean(done)

    torchrun = workdir(tmp_path, synthetic_root, "torchrun")  # the README's torchrun command
    command = [
        str(BIN / "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        *fit_command(torchrun),
    ]
    assert_clean(subprocess.run(command, cwd=torchrun, env=environment(), capture_output=True, text=True))

    slurm = workdir(tmp_path, synthetic_root, "slurm")  # two tasks with the variables srun sets
    port = str(free_port())
    tasks = [
        subprocess.Popen(
            fit_command(slurm),
            cwd=slurm,
            env=environment(
                SLURM_JOB_ID="4242",
                SLURM_JOB_NAME="mgd-sam2",
                SLURM_NTASKS="2",
                SLURM_NTASKS_PER_NODE="2",
                SLURM_NNODES="1",
                SLURM_NODEID="0",
                SLURM_PROCID=str(rank),
                SLURM_LOCALID=str(rank),
                SLURM_NODELIST="127.0.0.1",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    for task in tasks:
        stdout, stderr = task.communicate(timeout=600)
        assert_clean(subprocess.CompletedProcess(task.args, task.returncode, stdout, stderr))

    reference, records = outcome(spawned)
    assert {rank: record["environment"] for rank, record in records.items()} == {
        0: "LightningEnvironment",
        1: "LightningEnvironment",
    }
    for folder, detected in ((torchrun, "TorchElasticEnvironment"), (slurm, "SLURMEnvironment")):
        weights, records = outcome(folder)
        assert sorted(records) == [0, 1] and all(r["world_size"] == 2 for r in records.values())
        assert {record["environment"] for record in records.values()} == {detected}, records
        assert weights["global_step"] == reference["global_step"] == 3
        for key, value in reference["state_dict"].items():
            assert torch.equal(value, weights["state_dict"][key]), (folder.name, key)


def test_a_steps_global_batch_is_the_same_whatever_the_number_of_processes() -> None:
    """The sampler's guarantee: at every step the processes together see the images (and augmentation seeds) one
    process sees with the doubled batch, so DDP changes how a step is computed, not what it trains on."""
    from mgd_sam2.data.samplers import ResumableSampler

    for epoch in range(2):
        one = ResumableSampler(13, seed=7)
        ranks = [ResumableSampler(13, num_replicas=2, rank=rank, seed=7) for rank in range(2)]
        for sampler in (one, *ranks):
            sampler.set_epoch(epoch)
        single = list(one)
        sharded = [list(sampler) for sampler in ranks]
        per_process = 3  # batch size of each process; the single process takes 6 per step
        for step in range(len(sharded[0]) // per_process):
            together = [key for keys in sharded for key in keys[step * per_process : (step + 1) * per_process]]
            assert sorted(together) == sorted(single[step * 2 * per_process : (step + 1) * 2 * per_process])


def test_every_trainable_parameter_gets_a_gradient_in_its_own_layout() -> None:
    """DDP runs with find_unused_parameters=False (Lightning's "ddp"): right only if backward reaches every
    trainable parameter, for every switch combination the configs allow. And each gradient must have its
    parameter's strides, or DDP copies it into its buckets on every step (and warns)."""
    from mgd_sam2.data.view_cutting import tile
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    for switches in ({}, {"use_drm": False}, {"use_mcem": False}, {"use_hmim": False}, {"use_adapters": False}):
        model = MGDSAM2(NetworkConfig(preset="micro", **switches)).train()
        out = model(tile(torch.randn(2, 3, 128, 128), 2))
        (out.logits.mean() + out.view_logits.mean()).backward()
        unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not unused, (switches, unused)
        strided = [name for name, p in model.named_parameters() if p.grad is not None and p.grad.stride() != p.stride()]
        assert not strided, (switches, strided)


def test_the_recipes_sync_batchnorm_on_cpu_processes_is_one_line_before_any_run_folder(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """lightning_config.yaml's sync_batchnorm: true in a fit of 2 CPU processes: torch's DDP refuses SyncBatchNorm on
    the CPU in a traceback per process; the CLI says so in one line with the flag that fixes it, before the processes
    start and before a run folder is written. One CPU process (no DDP) ignores the setting, as Lightning does."""
    from lightning.pytorch import Trainer

    from mgd_sam2.cli import main
    from mgd_sam2.training.cli import refuse_cpu_sync_batchnorm

    monkeypatch.chdir(workdir(tmp_path, synthetic_root, "sync"))
    assert main(["fit", "-c", CONFIG, "--trainer.sync_batchnorm", "true"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("error: trainer.sync_batchnorm: true needs GPUs") and "Traceback" not in "".join(error)
    assert "--trainer.sync_batchnorm false" in error[-1] and not Path("runs").exists()
    refuse_cpu_sync_batchnorm(Trainer(accelerator="cpu", devices=1, sync_batchnorm=True, logger=False))
    refuse_cpu_sync_batchnorm(Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False))


@pytest.mark.slow
def test_a_ddp_fit_that_fails_before_its_first_step_is_one_line_and_leaves_no_run_folder(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """6 training images on 2 processes and a batch of 4: each process says so in one line, and rank 0 removes the
    run folder it began without a collective call (the other rank, failed too, would never join it)."""
    folder = workdir(tmp_path, synthetic_root, "unstarted")
    command = [str(BIN / "mgd-sam2"), "fit", "-c", CONFIG, "--data.batch_size", "4"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=environment(), timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "error: data.batch_size 4 is more than the 3 training images each of the 2 processes gets" in done.stderr
    assert "the fit ended before its first step" in done.stdout
    assert not list((folder / "runs/ddp").glob("version_*"))
    # a version folder where training wrote before, under torchrun: every process refuses it (a rank left going
    # would wait for rank 0 to join it, for the process group's half hour)
    (folder / "runs/ddp/exp1").mkdir(parents=True)
    (folder / "runs/ddp/exp1/config.yaml").write_text("earlier run\n")
    named = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
             str(BIN / "mgd-sam2"), "fit", "-c", CONFIG, "--trainer.logger.init_args.version", "exp1"]  # fmt: skip
    done = subprocess.run(named, cwd=folder, capture_output=True, text=True, env=environment(), timeout=300)
    assert done.returncode != 0 and done.stderr.count("holds a training run already") == 2, done.stderr[-3000:]
    assert (folder / "runs/ddp/exp1/config.yaml").read_text() == "earlier run\n"


@pytest.mark.slow
def test_two_processes_validate_and_predict_as_one(
    synthetic_root: Path, trained_checkpoint: Path, tmp_path: Path
) -> None:
    """A split of 3 images on 2 processes (shards of 2 and 1): every score and the loss are those one process logs.
    The loss was logged with Lightning's sync_dist, which averages the processes' batch sizes in integers: (2 + 1)
    / 2 became 1, and the summed loss was divided by 2 instead of 3. The scores are exact (torchmetrics gathers the
    states); the loss is a float64 mean whose terms are summed in another order, rounded to float32 once: within
    2^-23 relative (one float32 rounding of each, the float64 sums' error far below). A split of 1 image on 2
    processes is one line on each process (the second, without an image, failed alone in an assertion). A predict
    -c on 2 processes says its totals once and exits 1 where the second process skipped an image."""
    folder = workdir(tmp_path, synthetic_root, "validate")
    one_thread = environment(OMP_NUM_THREADS="1")  # the same kernels in each process and in one (Lightning divides
    # the cores between the processes where OMP_NUM_THREADS is unset), so each image's loss is the same float32
    linked_split(folder / "data/odd", synthetic_root, 3)
    linked_split(folder / "data/one", synthetic_root, 1)
    logged = {}
    for devices in (2, 1):
        record = folder / f"metrics{devices}"
        command = [str(BIN / "mgd-sam2"), "validate", "-c", CONFIG, "--ckpt_path", str(trained_checkpoint),
                   "--data.val", "[odd]", "--trainer.devices", str(devices), "--trainer.limit_val_batches", "null",
                   "--trainer.callbacks+=callbacks.RecordMetrics", f"--trainer.callbacks.folder={record}"]  # fmt: skip
        assert_clean(subprocess.run(command, cwd=folder, env=one_thread, capture_output=True, text=True))
        ranks = [json.loads(path.read_text()) for path in sorted(record.glob("rank*.json"))]
        assert len(ranks) == devices and all(rank == ranks[0] for rank in ranks), ranks
        logged[devices] = ranks[0]
    two, one = logged[2], logged[1]
    assert sorted(two) == sorted(one) and "val/odd/loss" in one, (two, one)
    assert {name: value for name, value in two.items() if not name.endswith("loss")} == {
        name: value for name, value in one.items() if not name.endswith("loss")
    }
    assert abs(two["val/odd/loss"] - one["val/odd/loss"]) <= 2**-23 * abs(one["val/odd/loss"]), (two, one)
    command = [str(BIN / "mgd-sam2"), "validate", "-c", CONFIG, "--ckpt_path", str(trained_checkpoint),
               "--data.val", "[one]"]  # fmt: skip
    done = subprocess.run(command, cwd=folder, env=one_thread, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.count("error: data.val: one has 1 image, fewer than the 2 processes") == 2, done.stderr[-3000:]
    # predict -c on 2 processes, the second one's image unreadable: the totals said once, and the exit status says
    # the skip (the launcher returns the first process's status, which knew only its own images)
    photos = folder / "photos"
    photos.mkdir()
    for index, path in enumerate(sorted((synthetic_root / "synthetic/SYN-TR/im").iterdir())[:3]):
        (photos / f"{index}{path.suffix}").write_bytes(path.read_bytes() if index != 1 else b"not an image")
    command = [str(BIN / "mgd-sam2"), "predict", "-c", CONFIG, "--ckpt_path", str(trained_checkpoint),
               "--data.predict", str(photos), "--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter",
               "--trainer.callbacks.output", str(folder / "masks")]  # fmt: skip
    done = subprocess.run(command, cwd=folder, env=one_thread, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and f"wrote 2 files to {folder / 'masks'}\n" in done.stdout, done.stdout
    assert done.stderr.count(f"skipped {photos / '1'}") == 1, done.stderr[-3000:]
    assert sorted(path.name for path in (folder / "masks").iterdir()) == ["0.png", "2.png"]
