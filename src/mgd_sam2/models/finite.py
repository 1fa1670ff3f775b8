"""Whether weights are finite: a diverged training run leaves NaN or infinite tensors, whose masks are all black.

Training stops at the first non-finite loss or gradient (training/module.py), saves no checkpoint with
non-finite weights and validates none; loading weights for inference (inference/loading.py) refuses them.
"""

from __future__ import annotations

from typing import Iterable

import torch

from mgd_sam2.errors import NonFiniteError

DIVERGED_ADVICE = "the training run diverged: use a checkpoint from before, or train again with a lower --model.lr"


def non_finite(tensors: Iterable[tuple[str, torch.Tensor | None]]) -> tuple[list[str], int]:
    """(names of the floating-point tensors holding NaN or inf, how many floating-point tensors there are). One
    device synchronisation when all are finite (a training step checks its gradients with it)."""
    named = [(name, tensor) for name, tensor in tensors if tensor is not None and torch.is_floating_point(tensor)]
    if not named:
        return [], 0
    flags = [torch.isfinite(tensor).all() for _, tensor in named]
    if bool(torch.stack([flag.to(flags[0].device) for flag in flags]).all()):
        return [], len(named)
    return [name for (name, _), flag in zip(named, flags, strict=True) if not bool(flag)], len(named)


def require_finite(tensors: Iterable[tuple[str, torch.Tensor]], what: str, advice: str = DIVERGED_ADVICE) -> None:
    """A one-line NonFiniteError naming ``what`` (e.g. "weights file X") unless every tensor is finite."""
    bad, total = non_finite(tensors)
    if bad:
        raise NonFiniteError(f"{what} holds NaN or infinite values in {len(bad)} of {total} tensors (e.g. {bad[0]}); "
                             f"{advice}")  # fmt: skip
