"""BCE + IoU on the full-resolution logits plus 0.3 x (BCE + IoU) on the per-view logits (MODEL.md 3.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mgd_sam2.data.views import make_views, resize


def iou_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean over images of 1 - soft IoU; no smoothing term (as released). (N, 1, H, W) each."""
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum(dim=(1, 2, 3))
    union = prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) - intersection
    return (1 - intersection / union).mean()


def bce_iou(logits: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, target) + iou_loss(logits, target)


def view_targets(mask: Tensor, grid: int, multi_view: bool) -> Tensor:
    """Per-view targets from the (B, 1, gV, gV) mask: local tiles and the nearest-downsampled global view
    ((g*g*B + B), 1, V, V); with multi_view off, the global view only (B, 1, V, V)."""
    if multi_view:
        return make_views(mask, grid, global_mode="nearest")
    height, width = mask.shape[-2:]
    return resize(mask, (height // grid, width // grid), mode="nearest")


def mgd_loss(
    logits: Tensor, view_logits: Tensor, mask: Tensor, grid: int, multi_view: bool, aux_weight: float = 0.3
) -> dict[str, Tensor]:
    """{"loss", "final", "aux"}: logits (B, 1, gV, gV); view_logits (N, 1, V/4, V/4);
    mask (B, 1, gV, gV) soft in [0, 1]."""
    targets = view_targets(mask, grid, multi_view)
    view_logits = resize(view_logits.float(), targets.shape[-2:])  # bilinear, to the view size V
    final = bce_iou(logits.float(), mask)
    aux = bce_iou(view_logits, targets)
    return {"loss": final + aux_weight * aux, "final": final, "aux": aux}
