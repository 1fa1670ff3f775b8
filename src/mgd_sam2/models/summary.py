"""Parameter counts of an MGDSAM2, per module and per LR group."""

from __future__ import annotations

from torch import nn

# Most specific prefix first; every parameter falls in exactly one part.
PARTS = (
    ("encoder.trunk", "Hiera trunk (frozen)"),
    ("encoder.adapters", "MPAdapter"),
    ("encoder.neck", "FPN neck"),
    ("decoder.mcem", "MCEM"),
    ("decoder.hmim_s8", "HMIM (stride 8)"),
    ("decoder.hmim_s4", "HMIM (stride 4)"),
    ("decoder", "SAM2 mask decoder + no-mask embedding"),
    ("drm", "DRM"),
)


def parameter_counts(model: nn.Module) -> dict:
    """{"total", "trainable", "frozen", "parts": {prefix: {"label", "total", "trainable"}}, "groups": {name: n}}."""
    parts = {prefix: {"label": label, "total": 0, "trainable": 0} for prefix, label in PARTS}
    for name, parameter in model.named_parameters():
        prefix = next(p for p, _ in PARTS if name.startswith(p + "."))
        parts[prefix]["total"] += parameter.numel()
        parts[prefix]["trainable"] += parameter.numel() if parameter.requires_grad else 0
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    groups = {name: sum(p.numel() for p in params) for name, params in model.parameter_groups().items()}
    present = {prefix: part for prefix, part in parts.items() if part["total"]}
    return {"total": total, "trainable": trainable, "frozen": total - trainable, "parts": present, "groups": groups}
