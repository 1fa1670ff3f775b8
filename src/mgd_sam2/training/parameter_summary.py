"""The parameter table at the start of a fit, in place of Lightning's model summary (whose FLOPs column reads 0
without an example input): total and trained parameters per part of the network, and the LR groups they train in."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback


class ParameterSummary(Callback):
    """Prints `parameter_table` of the module's network (its requires_grad flags and LR settings as they train)
    on the main process when a fit starts. The configs set ``enable_model_summary: false`` beside it."""

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        from mgd_sam2.models.summary import parameter_counts, parameter_table
        from mgd_sam2.utils.progress import console

        hp = pl_module.hparams
        network = pl_module.model
        title = f"MGD-SAM2 {network.described}: parameters"
        counts = parameter_counts(pl_module.model)
        console().print(parameter_table(counts, title, hp.pretrained_lr_scale, hp.weight_decay))
