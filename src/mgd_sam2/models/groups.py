"""Which part of MGD-SAM2 a parameter or module belongs to: the one table that loading, LR groups, ``model info``,
the speed profiles and the int8 export ask.

Like timm's ``group_matcher``: a parameter (or buffer) name maps to the first group whose prefix it
starts with, most specific first. A group says where its tensors come from when training starts
(a SAM2 checkpoint, or their initialisation because they are new in MGD-SAM2) and how they train
(docs/design.md, decision 5: new modules at the base LR without weight decay; SAM2's neck and decoder at 0.1x LR
with weight decay; the trunk frozen, or with them when ``NetworkConfig.train_trunk``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LRGroup = Literal["new", "pretrained"]
NEW_WEIGHT_DECAY = 0.0  # the "new" group's weight decay (it trains at the base LR)
PRETRAINED_LR_SCALE = 0.1  # the "pretrained" group's LR over the base LR (the module's default)
PRETRAINED_WEIGHT_DECAY = 1e-5  # the "pretrained" group's weight decay (the module's default)


@dataclass(frozen=True)
class ModuleGroup:
    prefix: str  # start of the tensor names in MGDSAM2's state dict
    label: str  # shown by `mgd-sam2 model info`
    lr_group: (
        LRGroup  # of its trainable tensors: "new": base LR, no weight decay; "pretrained": lr_scale x LR, weight decay
    )
    part: str  # the part of the paper's figure that profiles and the int8 export speak of
    sam2_prefix: str | None = None  # the same tensors' prefix in Meta's SAM2 checkpoints; None: new in MGD-SAM2
    reinitialised: bool = False  # in SAM2 checkpoints with another shape: starts from its initialisation


# frozen unless NetworkConfig.train_trunk (models/encoder.py)
TRUNK = ModuleGroup("encoder.trunk.", "Hiera trunk", "pretrained", "Hiera trunk", sam2_prefix="image_encoder.trunk.")
GROUPS: tuple[ModuleGroup, ...] = (
    TRUNK,
    ModuleGroup("encoder.adapters.", "MPAdapter", "new", "MPAdapter"),
    ModuleGroup("encoder.neck.", "FPN neck", "pretrained", "FPN neck", sam2_prefix="image_encoder.neck."),
    ModuleGroup("decoder.mcem.", "MCEM", "new", "MCEM"),
    ModuleGroup("decoder.hmim_s8.", "HMIM (stride 8)", "new", "HMIM"),
    ModuleGroup("decoder.hmim_s4.", "HMIM (stride 4)", "new", "HMIM"),
    # SAM2 has 4 mask tokens, MGD-SAM2 2: the released code drops them from the checkpoint and trains them anew
    ModuleGroup(
        "decoder.mask_tokens.",
        "mask tokens",
        "new",
        "SAM2 decoder",
        sam2_prefix="sam_mask_decoder.mask_tokens.",
        reinitialised=True,
    ),
    # the prompt-free inputs are attributes of the released wrapper, not of SAM2's prompt encoder: they start random
    ModuleGroup("decoder.no_mask_embed.", "no-mask embedding", "new", "SAM2 decoder"),
    ModuleGroup("decoder.pe_layer.", "decoder position encoding (buffer)", "new", "SAM2 decoder"),
    ModuleGroup("decoder.", "SAM2 mask decoder", "pretrained", "SAM2 decoder", sam2_prefix="sam_mask_decoder."),
    ModuleGroup("drm.", "DRM", "new", "DRM"),
)


def module_group(name: str) -> ModuleGroup:
    """The group of the parameter or buffer called ``name`` (a key of MGDSAM2's state dict)."""
    for group in GROUPS:
        if name.startswith(group.prefix):
            return group
    raise KeyError(f"{name!r} is in no module group of MGD-SAM2 (models/groups.py)")


def part_of(name: str) -> str | None:
    """The part a module (or an exported ONNX node, through the module path it records) called ``name`` belongs to:
    the first group in ``GROUPS`` (most specific first) whose prefix it starts with; None outside every group (the
    network's own glue)."""
    for group in GROUPS:
        prefix = group.prefix.rstrip(".")
        if name == prefix or name.startswith(group.prefix):
            return group.part
    return None


def from_sam2_name(key: str) -> str | None:
    """Our name for a tensor of Meta's SAM2 checkpoint, or None when MGD-SAM2 has no such part."""
    for group in GROUPS:
        if group.sam2_prefix and key.startswith(group.sam2_prefix):
            return group.prefix + key[len(group.sam2_prefix) :]
    return None
