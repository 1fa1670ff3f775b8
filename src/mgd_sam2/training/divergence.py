"""Stopping a diverged run before it is saved: the policy, in every precision.

A non-finite training loss (checked in ``training_step``, agreed by every process) or non-finite gradients
(``on_before_optimizer_step``, before clipping; identical on every process under DDP) stop the run with a
one-line NonFiniteError naming the step and what to try, before the optimizer step and before any checkpoint
of it. bf16 has fp32's exponent range, so a non-finite value there is divergence too, not an overflow that a
skipped step would cure: bf16-mixed stops like 32-true. Only 16-mixed keeps its gradient scaler's own policy
for gradients (it skips the step and lowers the scale, as designed). Last guards: no checkpoint with
non-finite weights is written (``on_save_checkpoint``) and no such model is validated or tested.
"""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule

from mgd_sam2.errors import NonFiniteError
from mgd_sam2.models.finite import non_finite, require_finite

FP32 = "32-true"


def advice(module: LightningModule) -> str:
    """What to try: a lower LR, and fp32 when the run is not in fp32."""
    tips = [f"a lower --model.lr (now {module.hparams.lr:g})"]
    precision = str(module.trainer.precision)
    if precision != FP32:
        tips.append(f"--trainer.precision {FP32} (now {precision})")
    return "try " + " or ".join(tips)


def where(module: LightningModule) -> str:
    return f"at step {module.global_step} (epoch {module.current_epoch})"


def stop_on_non_finite_loss(module: LightningModule, loss: torch.Tensor) -> None:
    """A NonFiniteError on every process when the loss of any process is NaN or infinite."""
    finite_here = bool(torch.isfinite(loss.detach()).all())
    if module.trainer.strategy.reduce_boolean_decision(not finite_here, all=False):
        value = f"{float(loss.detach().float().mean()):g}" if not finite_here else "not finite on another process"
        raise NonFiniteError(f"training diverged {where(module)}: the loss is {value}; stopped before this step "
                             f"changed the weights or was saved; {advice(module)}")  # fmt: skip


def stop_on_non_finite_gradients(module: LightningModule) -> None:
    """A NonFiniteError when a gradient holds NaN or inf, except under a gradient scaler (16-mixed), which skips
    such steps itself."""
    if getattr(module.trainer.precision_plugin, "scaler", None) is not None:
        return
    bad, _ = non_finite((name, parameter.grad) for name, parameter in module.named_parameters())
    if bad:
        raise NonFiniteError(f"training diverged {where(module)}: the gradients of {len(bad)} tensors hold NaN or "
                             f"infinite values (e.g. {bad[0]}); stopped before the optimizer step; "
                             f"{advice(module)}")  # fmt: skip


def refuse_non_finite_model(module: LightningModule, stage: str) -> None:
    """A NonFiniteError instead of validating or testing a model with non-finite weights."""
    source = module.trainer.ckpt_path
    what = f"the model to {stage} ({f'from {source}' if source else f'step {module.global_step}'})"
    require_finite([*module.named_parameters(), *module.named_buffers()], what)


def refuse_non_finite_checkpoint(module: LightningModule, checkpoint: dict) -> None:
    """A NonFiniteError instead of writing a checkpoint whose weights are not finite. The advice (which reads the
    trainer's precision) is only worked out then, so a module a trainer saves without fitting it is saved too."""
    state = checkpoint["state_dict"].items()
    if non_finite(state)[0]:
        require_finite(state, f"the checkpoint {where(module)}", f"it is not saved: the run diverged; {advice(module)}")
