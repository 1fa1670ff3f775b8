"""BCE + IoU on the full-resolution logits plus 0.3 x (BCE + IoU) on the per-view logits (docs/design.md, loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mgd_sam2.models.multi_view import resize


def iou_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean over images of 1 - soft IoU; no smoothing term (as released). (N, 1, H, W) each."""
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum(dim=(1, 2, 3))
    union = prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) - intersection
    return (1 - intersection / union).mean()


AUX_WEIGHT = 0.3  # the released weight of the per-view auxiliary term


def bce_iou(logits: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, target) + iou_loss(logits, target)


def mgd_loss(
    logits: Tensor, view_logits: Tensor, mask: Tensor, view_targets: Tensor, aux_weight: float = AUX_WEIGHT
) -> dict[str, Tensor]:
    """{"loss", "final", "aux"}.

    logits: (B, 1, gV, gV) final logits; mask: (B, 1, gV, gV) soft target in [0, 1];
    view_logits: (N, 1, V/4, V/4) per-view logits; view_targets: (N, 1, V, V), the target views in the
    same order (``MGDSAM2.arrange`` of the target `Views`). View logits are upsampled bilinearly to V.
    """
    view_logits = resize(view_logits.float(), view_targets.shape[-2:])
    final = bce_iou(logits.float(), mask)
    aux = bce_iou(view_logits, view_targets)
    return {"loss": final + aux_weight * aux, "final": final, "aux": aux}
