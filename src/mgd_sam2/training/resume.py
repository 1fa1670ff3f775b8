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

from typing import Any


def start_next_epoch_afresh(trainer: Any) -> None:
    """At ``on_train_start``: where the fit loop restarted from a checkpoint written at the end of an epoch's last
    training batch (which its reset closed), run the validation that ended that epoch in the run that wrote it, and
    let the next epoch start as any other: counted as ready and started, with its hooks called. A checkpoint written
    at that epoch's validation leaves the epoch open: untouched."""
    loop = trainer.fit_loop
    epoch_loop = loop.epoch_loop  # written at a training batch's end (not at validation's), on the epoch's last
    if loop.restarted_mid_epoch and epoch_loop.restarted_on_train_batch_end and epoch_loop.batch_progress.is_last_batch:
        loop.reset_restart_stage()
        validate_the_closed_epoch(trainer)


def validate_the_closed_epoch(trainer: Any) -> None:
    """The validation after the restored epoch's last batch, where the run that wrote the checkpoint ran one (as its
    training loop decides: validation on, ``check_val_every_n_epoch``), and the epoch-end checks of the callbacks
    that read its scores. Lightning closes that epoch without them, so their states are those before it: a
    ModelCheckpoint's best score that validation had raised is forgotten, and a later, worse epoch replaces the best
    checkpoint (the final ``last.ckpt`` of a finished run resumed to train longer is written there, before the final
    validation). Its scores are logged again."""
    epoch_loop, epochs = trainer.fit_loop.epoch_loop, trainer.fit_loop.epoch_progress
    epochs.current.completed -= 1  # the restart counted the closed epoch as completed: as it was at its validation
    epochs.total.completed -= 1
    try:
        if trainer.enable_validation and epoch_loop._should_check_val_epoch():
            epoch_loop.val_loop.restarting = False  # a validation of its own, not one resumed mid-way
            trainer.validating = True  # as the training loop runs it (its on_advance_end)
            epoch_loop.val_loop.run()
            trainer.training = True
            end_the_closed_epoch(trainer)
    finally:
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


def end_the_closed_epoch(trainer: Any) -> None:
    """What the epoch's end did with its validation's scores in the run that wrote the checkpoint, in Lightning's
    order: each EarlyStopping's check, then the top-k save of each monitoring ModelCheckpoint that saves at an
    epoch's end (one that saves at validation's end has saved in it). Lightning's criteria and calls (no public
    equivalent), as FinalLastCheckpoint's; no last checkpoint is written, since the loops are mid-restart."""
    from lightning.pytorch.callbacks import EarlyStopping

    from mgd_sam2.training.final_checkpoint import model_checkpoints

    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping):
            callback.on_train_epoch_end(trainer, trainer.lightning_module)
    for callback in model_checkpoints(trainer):
        every = callback._every_n_epochs
        if (callback.monitor is not None and callback._should_save_on_train_epoch_end(trainer)
                and not callback._should_skip_saving_checkpoint(trainer)
                and every >= 1 and (trainer.current_epoch + 1) % every == 0):  # fmt: skip
            callback._save_topk_checkpoint(trainer, callback._monitor_candidates(trainer))
