"""Parameter counts of an MGDSAM2, per module group and per LR group, and their table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mgd_sam2.models.groups import GROUPS, NEW_WEIGHT_DECAY, module_group
from mgd_sam2.models.network import MGDSAM2

if TYPE_CHECKING:
    from rich.table import Table


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


def parameter_table(counts: dict, title: str, pretrained_lr_scale: float, weight_decay: float) -> Table:
    """``counts`` (`parameter_counts`) as a table: total and trainable per module group, then the LR groups with the
    learning-rate factor and weight decay they train at."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("module", "total", "trainable"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for part in counts["parts"].values():
        table.add_row(part["label"], f"{part['total']:,}", f"{part['trainable']:,}")
    table.add_section()
    table.add_row("all", f"{counts['total']:,}", f"{counts['trainable']:,}")
    table.add_row(f"LR group 'new' (base LR, wd {NEW_WEIGHT_DECAY:g})", "", f"{counts['groups']['new']:,}")
    pretrained = f"LR group 'pretrained' ({pretrained_lr_scale:g}x LR, wd {weight_decay:g})"
    table.add_row(pretrained, "", f"{counts['groups']['pretrained']:,}")
    return table
