"""Parameter counts of an MGDSAM2, per module group and per LR group."""

from __future__ import annotations

from mgd_sam2.models.groups import GROUPS, module_group
from mgd_sam2.models.network import MGDSAM2


def parameter_counts(model: MGDSAM2) -> dict:
    """{"total", "trainable", "frozen", "parts": {prefix: {"label", "total", "trainable"}}, "groups": {name: n}}.

    ``parts`` lists the module groups (models/groups.py) that hold parameters, in the table's order.
    """
    parts = {group.prefix: {"label": group.label, "total": 0, "trainable": 0} for group in GROUPS}
    for name, parameter in model.named_parameters():
        part = parts[module_group(name).prefix]
        part["total"] += parameter.numel()
        part["trainable"] += parameter.numel() if parameter.requires_grad else 0
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    groups = {name: sum(p.numel() for p in params) for name, params in model.parameter_groups().items()}
    present = {prefix.removesuffix("."): part for prefix, part in parts.items() if part["total"]}
    return {"total": total, "trainable": trainable, "frozen": total - trainable, "parts": present, "groups": groups}
