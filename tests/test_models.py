"""The MGD-SAM2 network: shapes, trainable set, ablation switches."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from sam2.modeling.backbones.image_encoder import FpnNeck
from sam2.modeling.position_encoding import PositionEmbeddingSine

from bounds import FP32_KERNELS
from mgd_sam2.data.view_cutting import tile
from mgd_sam2.errors import ConfigError
from mgd_sam2.models.encoder import AdaptedImageEncoder
from mgd_sam2.models.multi_view import resize, split_views, stitch_locals
from mgd_sam2.models.network import MGDSAM2, NetworkConfig
from mgd_sam2.models.presets import PRESETS
from mgd_sam2.models.summary import parameter_counts


def network(preset: str = "micro", **settings) -> MGDSAM2:
    return MGDSAM2(NetworkConfig(preset=preset, **settings))


def micro(**switches) -> MGDSAM2:
    torch.manual_seed(0)
    return network(**switches).eval()


@pytest.mark.parametrize(("grid", "view_size"), [(2, 64), (3, 96), (1, 64)])
def test_output_shapes(grid: int, view_size: int) -> None:
    model = network(grid=grid, view_size=view_size)
    image = torch.randn(2, 3, grid * view_size, grid * view_size)
    out = model(tile(image, grid))
    assert out.logits.shape == (2, 1, grid * view_size, grid * view_size)
    assert out.view_logits.shape == (2 * (grid * grid + 1), 1, view_size // 4, view_size // 4)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_runs_a_forward_at_its_input_size(preset: str) -> None:
    """Shapes only, on the meta device (no arithmetic): a preset whose geometry the trunk cannot run fails here, not
    in a user's first step."""
    model = MGDSAM2(NetworkConfig(preset=preset)).eval().to("meta")
    side, grid, view = model.input_size, model.grid, model.view_size
    with torch.no_grad():
        out = model(tile(torch.empty(1, 3, side, side, device="meta"), grid))
    assert out.logits.shape == (1, 1, side, side)
    assert out.view_logits.shape == (grid * grid + 1, 1, view // 4, view // 4)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [((2,), r"\[2\] pooling the query"), ((5,), r"\[5\] outside blocks 0..4"), ((-1,), "outside")],
)
def test_global_attention_blocks_the_trunk_cannot_run_are_refused(blocks: tuple[int, ...], message: str) -> None:
    """micro's stages (1, 1, 2, 1): blocks 1, 2 and 4 pool the query (sam2 divides by the window there, 0 for a global
    block), and 5 is past the last (sam2 would build no global block, without a word)."""
    with pytest.raises(ConfigError, match=message):
        MGDSAM2(NetworkConfig(preset="micro", global_att_blocks=blocks))
    with pytest.raises(ConfigError, match="one window size per stage"):
        replace(PRESETS["micro"], window_spec=(8, 4, 4))
    with pytest.raises(ConfigError, match=message):
        replace(PRESETS["micro"], global_att_blocks=blocks)
    assert MGDSAM2(NetworkConfig(preset="micro", global_att_blocks=(0, 3))).encoder.trunk.blocks[0].window_size == 0


def test_untileable_input_is_refused() -> None:
    with pytest.raises(ValueError, match="does not tile"):
        network(grid=3, view_size=64)
    with pytest.raises(ValueError, match="square"):
        tile(torch.randn(1, 3, 128, 96), 2)
    with pytest.raises(ValueError, match="does not tile"):
        tile(torch.randn(1, 3, 96, 96), 2)
    with pytest.raises(ValueError, match="grid"):
        network()(tile(torch.randn(1, 3, 192, 192), 3))


def test_backward_reaches_exactly_the_trainable_parameters() -> None:
    model = network().train()
    out = model(tile(torch.randn(2, 3, 128, 128), 2))
    (out.logits.mean() + out.view_logits.mean()).backward()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert parameter.grad is not None, f"trainable {name} got no gradient"
        else:
            assert parameter.grad is None, f"frozen {name} got a gradient"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith("encoder.trunk.") for name in frozen)
    assert not any(p.requires_grad for p in model.encoder.trunk.parameters())


def test_base_plus_parameter_counts_match_the_released_forward() -> None:
    # official_mgdsam2_notes.md: 6,348,667 trainable parameters reached by the released forward,
    # 75,313,177 in total of which 288,798 are never used (and not built here).
    counts = parameter_counts(network("base_plus"))
    assert counts["trainable"] == 6_348_667
    assert counts["total"] == 75_313_177 - 288_798
    assert counts["parts"]["encoder.trunk"]["total"] == 68_675_712
    assert counts["parts"]["encoder.adapters"]["total"] == 334_538
    assert counts["parts"]["decoder.mcem"]["total"] == 1_186_432
    assert counts["parts"]["decoder.hmim_s8"]["total"] + counts["parts"]["decoder.hmim_s4"]["total"] == 668_160
    assert counts["parts"]["drm"]["total"] == 57_649
    assert counts["groups"]["new"] + counts["groups"]["pretrained"] == counts["trainable"]
    assert counts["groups"]["pretrained"] == 431_104 + 3_670_016  # FPN neck + SAM2 decoder parts but mask tokens
    unused = {}  # the released checkpoint's parameters its forward never uses, by group (the fixture's key list)
    with open(Path(__file__).parent / "fixtures/official_mgdsam2_dis_b+_state_dict.tsv") as table:
        for row in csv.DictReader(table, delimiter="\t"):
            if row["kind"] == "param" and row["used_in_forward"] == "no":
                size = math.prod(int(side) for side in row["shape"].split("x"))
                unused[row["official_group"]] = unused.get(row["official_group"], 0) + size
    assert unused == {"lr": 156_443, "lr_0.1": 132_355}  # adapters and shared_mlp; the IoU and object-score heads
    released_prints = 6_637_465  # what the released train.py prints as model_grad_params (MODEL.md)
    assert released_prints - counts["trainable"] == sum(unused.values()) == 288_798
    design = " ".join((Path(__file__).parents[1] / "docs/design.md").read_text().split())
    assert (
        f"counts {counts['trainable']:,} trainable parameters of {counts['total']:,} where the released "
        f"`train.py` prints {released_prints:,} of about 75.3 M: the {sum(unused.values()):,} between"
    ) in design


def test_base_plus_exported_weights_are_the_size_the_docs_give(tmp_path: Path) -> None:
    """prediction.md and checkpoints/README.md: `model export --out` writes about 25 MB for base_plus."""
    from mgd_sam2.inference.loading import export_trained_weights

    export_trained_weights(network("base_plus"), tmp_path / "trained.safetensors")
    megabytes = round((tmp_path / "trained.safetensors").stat().st_size / 1e6)
    root = Path(__file__).resolve().parents[1]
    for page in ("docs/prediction.md", "checkpoints/README.md"):
        assert f"about {megabytes} MB for base_plus" in " ".join((root / page).read_text().split()), page


def test_lr_groups_hold_the_right_modules() -> None:
    model = network()
    groups = model.parameter_groups()
    ids = {name: {id(p) for p in params} for name, params in groups.items()}
    named = dict(model.named_parameters())
    for name in (
        "decoder.mask_tokens.weight",
        "decoder.no_mask_embed.weight",
        "drm.out_conv.weight",
        "encoder.adapters.0.down.weight",
    ):
        assert id(named[name]) in ids["new"], name
    for name in (
        "encoder.neck.convs.0.conv.weight",
        "decoder.iou_token.weight",
        "decoder.conv_s0.weight",
        "decoder.output_hypernetworks_mlps.1.layers.0.weight",
        "decoder.transformer.layers.0.norm1.weight",
    ):
        assert id(named[name]) in ids["pretrained"], name


def test_drm_switch_upsamples_the_stitched_view_masks() -> None:
    model = micro(use_drm=False)
    assert model.drm is None
    out = model(tile(torch.randn(1, 3, 128, 128), 2))
    assert torch.equal(out.logits, resize(stitch_locals(out.view_logits, 2), (128, 128)))
    with_drm = micro()
    out_drm = with_drm(tile(torch.randn(1, 3, 128, 128), 2))
    assert not torch.allclose(out_drm.logits, resize(stitch_locals(out_drm.view_logits, 2), (128, 128)))


def test_global_only_runs_sam2_on_the_downsampled_image() -> None:
    model = micro(multi_view=False, use_adapters=False, use_mcem=False, use_hmim=False, use_drm=False)
    image = torch.randn(2, 3, 128, 128)
    out = model(tile(image, 2))
    assert out.view_logits.shape == (2, 1, 16, 16)  # one view per image
    assert torch.equal(out.logits, resize(out.view_logits, (128, 128)))
    with pytest.raises(ValueError, match="multi_view=False"):
        network(multi_view=False)


def local_view_response(model: MGDSAM2) -> torch.Tensor:
    """How much each local view's logits move when only the bottom-right tile of the image changes."""
    torch.manual_seed(1)
    image = torch.randn(1, 3, 128, 128)
    changed = image.clone()
    changed[..., 64:, 64:] += torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = split_views(model(tile(image, 2)).view_logits, 2)[0]
        after = split_views(model(tile(changed, 2)).view_logits, 2)[0]
    return (after - before).abs().flatten(1).amax(dim=1)  # per local view: TL, TR, BL, BR


def test_views_are_independent_with_every_fusion_switched_off() -> None:
    response = local_view_response(micro(use_adapters=False, use_mcem=False, use_hmim=False, use_drm=False))
    assert response[3] > 0
    assert torch.all(response[:3] == 0)


@pytest.mark.parametrize("module", ["use_adapters", "use_mcem", "use_hmim"])
def test_each_fusion_module_mixes_views(module: str) -> None:
    switches = dict(use_adapters=False, use_mcem=False, use_hmim=False, use_drm=False)
    switches[module] = True
    response = local_view_response(micro(**switches))
    assert torch.all(response[:3] > 1e-6), f"{module} on: tiles TL/TR/BL should see the change in BR"


def test_switches_remove_their_modules() -> None:
    model = network(use_adapters=False, use_mcem=False, use_hmim=False)
    assert model.encoder.adapters is None and model.decoder.mcem is None and model.decoder.hmim_s8 is None
    names = [name for name, _ in model.named_parameters()]
    assert not any(name.startswith(("encoder.adapters", "decoder.mcem", "decoder.hmim")) for name in names)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_fpn_neck_runs_what_the_released_code_runs(preset: str) -> None:
    """The released models/sam.py builds sam2's FpnNeck with these arguments and no interpolation one,
    so its top-down path is FpnNeck's default (bilinear), whatever their config file says."""
    spec = PRESETS[preset]
    released = FpnNeck(
        position_encoding=PositionEmbeddingSine(num_pos_feats=256),
        d_model=256,
        backbone_channel_list=spec.channel_list,
        fpn_top_down_levels=[2, 3],
    ).eval()
    ours = AdaptedImageEncoder(spec, grid=2, use_adapters=False).eval()
    released.load_state_dict(ours.neck.state_dict())
    torch.manual_seed(0)
    stage_outputs = [
        torch.randn(1, dim, side, side) for dim, side in zip(spec.channel_list[::-1], (32, 16, 8, 4), strict=True)
    ]
    with torch.no_grad():
        expected, mine = released(stage_outputs)[0], ours.fpn(stage_outputs)
        released.fpn_interp_model = "nearest"  # the test can tell the two apart
        nearest = released(stage_outputs)[0]
    for level, (a, b) in enumerate(zip(mine, expected, strict=True)):
        assert torch.equal(a, b), f"FPN level {level} differs from the released neck"
    assert not torch.equal(mine[2], nearest[2])  # stride 16, the only level with a top-down input


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("g2", {}),
        ("g3", {"grid": 3, "view_size": 96}),
        (
            "global_only",
            {"use_adapters": False, "use_mcem": False, "use_hmim": False, "use_drm": False, "multi_view": False},
        ),
    ],
)
def test_outputs_equal_those_of_the_in_model_tiling_code(name: str, settings: dict) -> None:
    """tests/fixtures/reference_outputs.pt holds what the code before the data pipeline cut the views (commit
    c6964d7, views cut inside forward) computed for these seeds; every 4th pixel of the logits is kept."""
    from mgd_sam2.inference.backends import TorchBackend
    from mgd_sam2.inference.maps import predict_logits

    reference = torch.load(Path(__file__).parent / "fixtures" / "reference_outputs.pt", weights_only=True)[name]
    torch.manual_seed(0)
    model = network(**settings).eval()
    image = torch.randn(1, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(tile(image, model.grid))
        tta = predict_logits(TorchBackend(model), tile(image, model.grid), tta=True)
    # computed on another machine: the same fp32 arithmetic in other kernels
    torch.testing.assert_close(out.logits[..., ::4, ::4], reference["logits"], rtol=0, atol=FP32_KERNELS)
    torch.testing.assert_close(out.view_logits, reference["view_logits"], rtol=0, atol=FP32_KERNELS)
    torch.testing.assert_close(tta[..., ::4, ::4], reference["tta"], rtol=0, atol=FP32_KERNELS)
