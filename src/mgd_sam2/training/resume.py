"""Corrections to Lightning's fit loop when it resumes from a checkpoint written on an epoch's last batch.

Lightning (2.6) restores such a checkpoint as a mid-epoch restart and closes the restored epoch without the validation
that ended it (and the epoch-end checks that read its scores), then still treats
the next epoch as the one it restarted in: it neither counts that epoch as started nor calls its
``on_train_epoch_start`` hooks. The first resume trains the right steps, but the checkpoints it writes carry epoch
counters one behind, and resuming from one of them trains an epoch too many or too few (Lightning issues #19617 and
#19815 are of this family). A ``last.ckpt`` every N steps lands on an epoch's last batch whenever N divides the steps
trained, so a run resumed twice would not reach the weights of an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_next_epoch_afresh(trainer: Any) -> None:
    """At ``on_train_start``: where the fit loop restarted from a checkpoint written at the end of an epoch's last
    training batch (which its reset closed), finish that epoch as the run that wrote it did
    (`validate_the_closed_epoch`) and let the next epoch start as any other: counted as ready and started, with its
    hooks called. A checkpoint written at that epoch's validation leaves the epoch open: untouched."""
    loop = trainer.fit_loop
    epoch_loop = loop.epoch_loop  # written at a training batch's end (not at validation's), on the epoch's last
    if loop.restarted_mid_epoch and epoch_loop.restarted_on_train_batch_end and epoch_loop.batch_progress.is_last_batch:
        loop.reset_restart_stage()
        if not limits_reached(trainer):
            validate_the_closed_epoch(trainer)


def limits_reached(trainer: Any) -> bool:
    """Whether the restored checkpoint is at the fit's ``max_steps`` or ``max_epochs`` (a finished run resumed as it
    was): no step follows that a validation run again could guard, so none is run."""
    steps = trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps
    epochs = trainer.max_epochs not in (None, -1) and trainer.fit_loop.epoch_progress.current.processed >= (
        trainer.max_epochs
    )
    return steps or epochs


def validate_the_closed_epoch(trainer: Any) -> None:
    """The validation after the restored epoch's last batch, where the run that wrote the checkpoint ran one (its
    training loop's own decision on that batch; not where validation is timed, whose moment is not recorded), and
    the checks of the callbacks that read its scores. Lightning closes that epoch without them, so their states are
    those before it: a ModelCheckpoint's best score that validation had raised is forgotten, and a later, worse epoch
    replaces the best checkpoint (the final ``last.ckpt`` of a finished run resumed to train longer is written
    there, before the final validation). Its scores are logged again, at the same step. Plateau schedulers are not
    stepped (nor does Lightning step them on a restart)."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    epoch_loop, epochs = trainer.fit_loop.epoch_loop, trainer.fit_loop.epoch_progress
    epochs.current.completed -= 1  # the restart counted the closed epoch as completed: as it was at its validation
    epochs.total.completed -= 1
    callbacks = trainer.callbacks
    try:
        if (not trainer.enable_validation or getattr(trainer, "_val_check_time_interval", None) is not None
                or not epoch_loop._should_check_val_fx(trainer.fit_loop._data_fetcher)):  # fmt: skip
            return
        epoch_loop.val_loop.restarting = False  # a validation of its own, not one resumed mid-way
        first_loop_iter = trainer._logger_connector._first_loop_iter
        # the callbacks that read a score check it below, once: a score the training steps log is not there yet
        trainer.callbacks = [callback for callback in callbacks
                             if not isinstance(callback, (ModelCheckpoint, EarlyStopping))]  # fmt: skip
        trainer.validating = True  # as the training loop runs it (its on_advance_end)
        epoch_loop.val_loop.run()
        trainer.training = True
        trainer._logger_connector._first_loop_iter = first_loop_iter
        trainer.callbacks = callbacks
        check_the_closed_epoch(trainer)
    finally:
        trainer.callbacks = callbacks
        epochs.current.completed += 1
        epochs.total.completed += 1


def follow_the_schedule(trainer: Any) -> None:
    """At ``on_train_start`` of a resumed fit: each LambdaLR's learning rates recomputed from its schedule as this fit
    builds it. Lightning steps an epoch's scheduler before that epoch's last batch ends, so a checkpoint written there
    holds the next epoch's rates, computed with the ``max_epochs`` of the run that wrote it: a resume that raises it
    (the poly decay's horizon) would train that epoch at the old schedule's rate (0 where the old run ended). Where
    nothing changed, the same rates are computed again, as LambdaLR computes them."""
    from torch.optim.lr_scheduler import LambdaLR

    if trainer.ckpt_path is None:
        return
    for config in trainer.lr_scheduler_configs:
        schedule = config.scheduler
        if isinstance(schedule, LambdaLR):
            for group, base, rate in zip(schedule.optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas,
                                         strict=True):  # fmt: skip
                group["lr"] = base * rate(schedule.last_epoch)


def check_the_closed_epoch(trainer: Any) -> None:
    """What the run that wrote the checkpoint did with the closed epoch's validation scores, at validation's end or
    at the epoch's, in Lightning's order: each EarlyStopping's check, then the top-k save of each ModelCheckpoint
    that monitors a score every N epochs, into the file of that epoch and step that run wrote for it where there is
    one (`own_file`: no ``-vN`` copy beside it, and no other callback's file replaced). A callback whose score is
    not among those logged (one the training steps log) is left out, and said so. Lightning's criteria and calls
    (no public equivalent), as FinalLastCheckpoint's."""
    from lightning.pytorch.callbacks import EarlyStopping

    from mgd_sam2.training.final_checkpoint import model_checkpoints

    logged, left_out = trainer.callback_metrics, []
    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping) and not callback._should_skip_check(trainer):
            if callback.monitor in logged:
                callback._run_early_stopping_check(trainer)
            else:
                left_out.append(f"EarlyStopping({callback.monitor})")
    for callback in model_checkpoints(trainer):
        every = callback._every_n_epochs
        if (callback.monitor is None or callback._should_skip_saving_checkpoint(trainer)
                or every < 1 or (trainer.current_epoch + 1) % every):  # fmt: skip
            continue
        if callback.monitor not in logged:
            left_out.append(f"ModelCheckpoint({callback.monitor})")
            continue
        candidates = callback._monitor_candidates(trainer)
        own = trainer.strategy.broadcast(own_file(callback, trainer, candidates) if trainer.is_global_zero else None)
        if own is not None:  # Lightning's version counter passes over it: its name is taken again, no -vN copy
            exists = callback.file_exists  # called for every name, on every rank: a collective call
            callback.file_exists = lambda path, trainer, exists=exists, own=own: exists(path, trainer) and path != own
        try:
            callback._save_topk_checkpoint(trainer, candidates)
        finally:
            callback.__dict__.pop("file_exists", None)
    if left_out and trainer.is_global_zero:
        print(f"note: the resumed fit ran epoch {trainer.current_epoch + 1}'s validation again (its checkpoint was "
              f"written before it), but not the check of {', '.join(left_out)}: that score is logged by training "
              "steps, which the resume has not run yet")  # fmt: skip


def own_file(callback: Any, trainer: Any, candidates: dict[str, Any]) -> str | None:
    """The file that ``callback`` (a ModelCheckpoint monitoring a score) saved at this step in the run that wrote the
    resumed checkpoint, among the names its version counter tries (``epoch=1-step=8.ckpt``, ``-v1``, ...): one whose
    own state of that callback lists it among its top k, at this global step; None where there is none."""
    from mgd_sam2.errors import UserError
    from mgd_sam2.models.checkpoints import load_torch_file

    for version in range(100):
        path = callback.format_checkpoint_name(candidates, ver=version or None)
        if not callback._fs.exists(path):
            return None
        try:
            checkpoint = load_torch_file(Path(path), mmap=True)
        except UserError:  # not a checkpoint of plain values: not one to replace
            continue
        state = checkpoint.get("callbacks", {}).get(callback.state_key, {})
        if checkpoint.get("global_step") == trainer.global_step and path in state.get("best_k_models", {}):
            return path
    return None
