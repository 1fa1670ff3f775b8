"""Backbone presets as data: Hiera sizes of SAM2.1 plus a micro one for CPU tests.

Values for tiny/small/base_plus/large are those of Meta's SAM2.1 configs
(``sam2/configs/sam2.1/sam2.1_hiera_*.yaml`` and the Hiera defaults). ``base_plus_official``
differs from ``base_plus`` only in ``global_att_blocks`` ([12, 16, 10], the value of the
authors' released MGD-SAM2 config): same parameters, different outputs, and the one that
reproduces their released weights' outputs. Tested for one forward pass: weights in the released file's layout, loaded
through the converter, give the authors' code's logits on one 1024 px image in fp32, at one scale, without TTA
(tests/test_checkpoints.py, within 3e-4); the loss and training are not compared.

Decision (FPN top-down interpolation, ``fpn_interp``): bilinear in every preset. The authors build
sam2's ``FpnNeck`` without the interpolation argument, so their training and their released weights
ran its class default, bilinear; the ``fpn_interp_model: nearest`` line of their config is never
read. Meta's SAM2.1 configs use nearest. The neck has no parameters, so both load the same weights,
but only bilinear reproduces the released model's outputs (with nearest the stride-16 embedding
differs by up to 25 % relative, and the test above fails), and every preset is trained by the same
recipe, so all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from mgd_sam2.errors import ConfigError


def check_global_att_blocks(blocks: tuple[int, ...], stages: tuple[int, ...]) -> None:
    """A ConfigError for global attention blocks the trunk cannot run as asked: an index outside its blocks (sam2
    would build no global block for it, without a word), or the first block of a stage after the first, which pools
    its query and needs a window (sam2 fails inside its forward with a ZeroDivisionError)."""
    depth = sum(stages)
    pooling = [sum(stages[:stage]) for stage in range(1, len(stages))]
    outside = [block for block in blocks if not 0 <= block < depth]
    pooled = [block for block in blocks if block in pooling]
    if outside or pooled:
        problem = (f"{outside} outside blocks 0..{depth - 1}" if outside else "") + ("; " if outside and pooled else "")
        problem += f"{pooled} pooling the query (a stage's first block)" if pooled else ""
        why = f"; the first blocks of the later stages ({', '.join(map(str, pooling))}) need windowed attention"
        raise ConfigError(
            f"global_att_blocks {list(blocks)}: {problem}. Stages {list(stages)} have blocks 0..{depth - 1}"
            + (why if pooled else "")
        )


@dataclass(frozen=True)
class Preset:
    """Hiera trunk geometry plus the default multi-view geometry for one model size."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_spec: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    view_size: int = 512  # V: per-view encoder input, pixels
    grid: int = 2  # g: local views per side; model input is (g*V)^2
    sam2_checkpoint: str | None = None  # Meta's file name for this size, under checkpoints/
    adapter_ratio: int = 32  # MPAdapter bottleneck d = max(1, D // ratio)
    fpn_interp: str = "bilinear"  # FPN top-down upsampling, as the released code runs it (see the module docstring)
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.window_spec) != len(self.stages):
            raise ConfigError(f"a preset needs one window size per stage: window_spec {self.window_spec}, stages "
                              f"{self.stages}")  # fmt: skip
        check_global_att_blocks(self.global_att_blocks, self.stages)

    @property
    def channel_list(self) -> list[int]:
        """Trunk output channels per stage, coarsest first (the FPN neck's order)."""
        dims = [self.embed_dim * 2**i for i in range(len(self.stages))]
        return dims[::-1]

    @property
    def depth(self) -> int:
        return sum(self.stages)


PRESETS: dict[str, Preset] = {
    "micro": Preset(
        embed_dim=32,
        num_heads=1,
        stages=(1, 1, 2, 1),
        global_att_blocks=(3,),
        window_spec=(8, 4, 4, 2),
        window_pos_embed_bkg_spatial_size=(4, 4),
        view_size=64,
        notes="CPU tests only: 5 blocks, width 32, 64 px views (random weights)",
    ),
    "tiny": Preset(
        embed_dim=96,
        num_heads=1,
        stages=(1, 2, 7, 2),
        global_att_blocks=(5, 7, 9),
        window_spec=(8, 4, 14, 7),
        window_pos_embed_bkg_spatial_size=(7, 7),
        sam2_checkpoint="sam2.1_hiera_tiny.pt",
    ),
    "small": Preset(
        embed_dim=96,
        num_heads=1,
        stages=(1, 2, 11, 2),
        global_att_blocks=(7, 10, 13),
        window_spec=(8, 4, 14, 7),
        window_pos_embed_bkg_spatial_size=(7, 7),
        sam2_checkpoint="sam2.1_hiera_small.pt",
    ),
    "base_plus": Preset(
        embed_dim=112,
        num_heads=2,
        stages=(2, 3, 16, 3),
        global_att_blocks=(12, 16, 20),
        window_spec=(8, 4, 14, 7),
        window_pos_embed_bkg_spatial_size=(14, 14),
        sam2_checkpoint="sam2.1_hiera_base_plus.pt",
        notes="the paper's backbone, with SAM2.1's global attention blocks",
    ),
    "large": Preset(
        embed_dim=144,
        num_heads=2,
        stages=(2, 6, 36, 4),
        global_att_blocks=(23, 33, 43),
        window_spec=(8, 4, 16, 8),
        window_pos_embed_bkg_spatial_size=(7, 7),
        sam2_checkpoint="sam2.1_hiera_large.pt",
    ),
}

# The released MGD-SAM2 config's value; reproduces their weights' outputs (docs/design.md, decision 2).
RELEASED_PRESET = "base_plus_official"
PRESETS[RELEASED_PRESET] = replace(
    PRESETS["base_plus"],
    global_att_blocks=(12, 16, 10),
    notes="base_plus with the released MGD-SAM2 config's global_att_blocks [12, 16, 10]",
)


# The preset names as a type, so configs and --help list the choices (a test keeps it equal to PRESETS).
PresetName = Literal["micro", "tiny", "small", "base_plus", "base_plus_official", "large"]


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a clear error listing the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
