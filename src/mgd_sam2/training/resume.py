"""Two corrections to Lightning's fit loop when it resumes from a checkpoint written on an epoch's last batch.

Lightning (2.6) restores such a checkpoint as a mid-epoch restart, closes the restored epoch, and then still treats
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
    training batch (which its reset closed), let the next epoch start as any other: counted as ready and started,
    with its hooks called. A checkpoint written at that epoch's validation leaves the epoch open: untouched."""
    loop = trainer.fit_loop
    epoch_loop = loop.epoch_loop  # written at a training batch's end (not at validation's), on the epoch's last
    if loop.restarted_mid_epoch and epoch_loop.restarted_on_train_batch_end and epoch_loop.batch_progress.is_last_batch:
        loop.reset_restart_stage()


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
