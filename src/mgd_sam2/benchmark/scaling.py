"""``benchmark scaling``: training throughput with 1, 2, 4, ... DDP processes and the scaling efficiency.

Each device count is a separate ``mgd-sam2 fit`` (Lightning launches the processes as it does for users),
with the global batch kept fixed (per-process batch = global batch / devices, so every row trains the same
images per step, data/samplers.py) and validation, logging and checkpoints off. `StepTimer` times
the steps after a warm-up. Efficiency is throughput(N) / (N x throughput(1)); on a CPU the processes share
its cores, so there it measures the cost of DDP itself rather than a speed-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback

from mgd_sam2.errors import ConfigError
from mgd_sam2.utils.files import write_json


class StepTimer(Callback):
    """Seconds for the training steps after ``warmup`` steps; global rank 0 writes them to ``out`` as JSON."""

    def __init__(self, out: str, warmup: int = 2) -> None:
        self.out, self.warmup = out, warmup
        self.start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            trainer.strategy.barrier()
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.strategy.barrier()
        if trainer.is_global_zero and self.start is not None:
            steps = trainer.global_step - self.warmup
            write_json(self.out, {"steps": steps, "seconds": time.perf_counter() - self.start})


def run_scaling(
    config: Path,
    devices: list[int],
    accelerator: str = "cpu",
    global_batch: int = 4,
    steps: int = 10,
    warmup: int = 2,
    extra: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per device count: steps/s, images/s, speedup over the first row and efficiency (speedup per device,
    relative to one device's throughput)."""
    rows = []
    for count in devices:
        if global_batch % count:
            raise ConfigError(f"--global-batch {global_batch} does not split over {count} devices")
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "timing.json"
            timer = {"class_path": f"{__name__}.StepTimer", "init_args": {"out": str(out), "warmup": warmup}}
            command = [
                sys.executable, "-m", "mgd_sam2.cli", "fit", "-c", str(config),
                "--trainer.accelerator", accelerator, "--trainer.devices", str(count),
                "--trainer.strategy", "ddp" if count > 1 else "auto",
                "--trainer.max_steps", str(warmup + steps), "--trainer.max_epochs", "-1",
                "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
                "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
                "--trainer.callbacks", json.dumps([timer]), "--trainer.enable_checkpointing", "false",
                "--trainer.default_root_dir", folder,  # its saved config there, not in the user's runs/
                "--data.batch_size", str(global_batch // count), "--data.check", "false",
                *(extra or []),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not out.is_file():
                raise RuntimeError(f"the {count}-device fit failed:\n{done.stderr[-3000:]}")
            timing = json.loads(out.read_text())
        rate = timing["steps"] / timing["seconds"]
        rows.append({"devices": count, "global_batch": global_batch, "steps_per_s": rate,
                     "images_per_s": rate * global_batch})  # fmt: skip
    base = rows[0]["images_per_s"] / rows[0]["devices"]
    for row in rows:
        row["speedup"] = row["images_per_s"] / (rows[0]["images_per_s"])
        row["efficiency"] = row["images_per_s"] / (row["devices"] * base)
    return rows
