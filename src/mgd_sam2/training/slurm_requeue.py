"""SLURM's requeue signal, saved where a resume continues exactly: at the end of a training step, in the run's folder.

Lightning's SLURM plugin saves ``<default_root_dir>/hpc_ckpt_N.ckpt`` inside the signal handler, wherever the
signal finds the process: in the middle of a step, the checkpoint counts a batch as taken that the optimizer never
stepped on, and the run resumed from it skipped that batch (found by a try-out: its final weights were not an
uninterrupted run's). Its file also lies in the root folder that every run of a config shares, where the newest of
any run's is the one Lightning resumes. `SlurmRequeue` takes the signal in its place (Lightning leaves a signal
that already has a handler alone), saves at the end of the step in which any process received it, where the
ModelCheckpoint's own saves are, into the folder of the run's ``last.ckpt`` (keeping the newest such file only),
then asks SLURM to requeue the job as Lightning does. ``fit --ckpt_path last`` resumes the newest of the run's
``last.ckpt`` and this file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback

from mgd_sam2.training.final_checkpoint import model_checkpoints

REQUEUE_CHECKPOINT = re.compile(r"hpc_ckpt_(\d+)\.ckpt$")  # Lightning's name for it, which its tools know


def requeue_checkpoints(folder: Path) -> list[Path]:
    """The ``hpc_ckpt_<N>.ckpt`` files of ``folder``, newest (highest N) first."""
    numbered = [(int(match.group(1)), path) for path in folder.glob("hpc_ckpt_*.ckpt")
                if (match := REQUEUE_CHECKPOINT.match(path.name))]  # fmt: skip
    return [path for _, path in sorted(numbered, reverse=True)]


def job_id() -> str:
    """The id ``scontrol requeue`` takes: ``<array job>_<task>`` for a job array's task, else the job's."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]


class SlurmRequeue(Callback):
    """On SLURM with Lightning's auto-requeue (its default), the requeue signal (``--signal=SIGUSR1@...``) saves
    ``hpc_ckpt_<N>.ckpt`` beside the run's ``last.ckpt`` at the end of the training step in which any process
    received it, then requeues the job; the fit CLI adds it."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the signal taken, where this fit runs on SLURM with auto-requeue
        self.previous: Any = None
        self.received = False
        self.saved: Path | None = None
        self.pid = os.getpid()  # a forked DataLoader worker inherits the handler, and SLURM signals it too

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        environment = trainer._accelerator_connector.cluster_environment  # what Lightning's signal handling reads
        if stage != "fit" or not isinstance(environment, SLURMEnvironment) or not environment.auto_requeue:
            return
        if environment.requeue_signal is None or threading.current_thread() is not threading.main_thread():
            return
        self.signum, self.pid = environment.requeue_signal, os.getpid()
        self.previous = signal.signal(self.signum, self.receive)  # before Lightning's, which then adds none

    def receive(self, signum: int, frame: Any) -> None:
        if os.getpid() == self.pid:  # only a flag: a handler that prints can interrupt a print
            self.received = True

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.signum is None or self.saved is not None or trainer.fit_loop.epoch_loop._should_accumulate():
            return  # (between the batches of one optimizer step, the gradients so far would not be saved)
        # one collective a step of one flag: all processes save at the same step
        if not trainer.strategy.reduce_boolean_decision(self.received, all=False):  # any process's signal
            return
        folder = self.folder(trainer)
        earlier = requeue_checkpoints(folder)
        number = int(REQUEUE_CHECKPOINT.match(earlier[0].name).group(1)) + 1 if earlier else 1
        path = folder / f"hpc_ckpt_{number}.ckpt"
        for logger in trainer.loggers:  # as Lightning's: the curves so far are on disk before SLURM ends the job
            logger.finalize("finished")
        trainer.save_checkpoint(path)
        self.saved = path
        if trainer.is_global_zero:
            for old in earlier:  # each holds the optimizer's state too: the newest is the one resumed
                old.unlink(missing_ok=True)
            self.requeue(path)

    @staticmethod
    def folder(trainer: Any) -> Path:
        """The folder of the run's ``last.ckpt`` (its first ModelCheckpoint that keeps one), else the root folder."""
        dirpaths = [callback.dirpath for callback in model_checkpoints(trainer) if callback.save_last]
        return Path(dirpaths[0] if dirpaths and dirpaths[0] else trainer.default_root_dir)

    @staticmethod
    def requeue(path: Path) -> None:
        job = job_id()
        try:
            status = subprocess.run(["scontrol", "requeue", job]).returncode
        except FileNotFoundError:
            status = None
        failed = "no scontrol" if status is None else status
        then = (f"requeued job {job}, which resumes from there" if status == 0 else
                f"`scontrol requeue {job}` failed ({failed}): resubmit the job to resume from there")  # fmt: skip
        print(f"SLURM's requeue signal: saved {path}; {then}", file=sys.stderr)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.restore()  # Lightning runs no teardown hook then

    def restore(self) -> None:
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signum, self.previous if self.previous is not None else signal.SIG_DFL)
            self.signum = None
