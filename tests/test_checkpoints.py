"""Loading SAM2/SAM2.1 checkpoints and the authors' released MGD-SAM2 weights."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from bounds import FP32_KERNELS, RELEASED_LOGITS, RELEASED_VIEW_LOGITS
from mgd_sam2.models.checkpoints import CheckpointError, LoadReport, load_pretrained, read_weights_file
from mgd_sam2.models.network import MGDSAM2, NetworkConfig

FIXTURES = Path(__file__).parent / "fixtures"


def sam2_model(config: str, path: Path) -> torch.nn.Module:
    """A SAM2 model built by the sam2 package itself from its ``config`` (random weights), saved to ``path`` in
    Meta's checkpoint format."""
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    reference = build_sam2(config, ckpt_path=None, device="cpu", mode="eval")
    torch.save({"model": reference.state_dict()}, path)
    return reference


@pytest.fixture(scope="module")
def sam2_tiny(tmp_path_factory):
    """SAM2.1 tiny (random weights) and its checkpoint."""
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    return sam2_model("configs/sam2.1/sam2.1_hiera_t.yaml", path), path


def assert_encoder_matches(reference: torch.nn.Module, model: MGDSAM2) -> None:
    """Our encoder without adapters gives sam2's image encoder's features."""
    reference.image_encoder.neck.fpn_interp_model = (
        model.encoder.neck.fpn_interp_model
    )  # presets.py: bilinear, as released
    views = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        expected = reference.image_encoder(views)["backbone_fpn"]
        features = model.encoder(views)
    assert len(features) == len(expected) == 3
    for mine, theirs in zip(features, expected, strict=True):
        torch.testing.assert_close(mine, theirs, atol=FP32_KERNELS, rtol=0)  # other memory layouts: other kernels


def test_sam2_checkpoint_loads_and_encoder_matches_sam2(sam2_tiny) -> None:
    reference, path = sam2_tiny
    model = MGDSAM2(NetworkConfig(preset="tiny", use_adapters=False)).eval()
    report = load_pretrained(model, path)
    assert not [key for key in report.missing if key.startswith(("encoder.trunk.", "encoder.neck."))]
    assert report.reinitialised == ["decoder.mask_tokens.weight"]
    assert "sam_mask_decoder.iou_prediction_head.layers.2.weight" in report.ignored
    assert any(key.startswith("memory_attention.") for key in report.ignored)
    reference_state = reference.state_dict()
    ours = model.state_dict()
    for theirs, mine in [
        (
            "sam_mask_decoder.transformer.layers.1.mlp.layers.0.weight",
            "decoder.transformer.layers.1.mlp.layers.0.weight",
        ),
        (
            "sam_mask_decoder.output_hypernetworks_mlps.1.layers.2.bias",
            "decoder.output_hypernetworks_mlps.1.layers.2.bias",
        ),
        ("sam_mask_decoder.obj_score_token.weight", "decoder.obj_score_token.weight"),
        ("image_encoder.neck.convs.3.conv.weight", "encoder.neck.convs.3.conv.weight"),
    ]:
        assert torch.equal(reference_state[theirs], ours[mine]), mine
    assert_encoder_matches(reference, model)


def test_an_older_sam2_checkpoint_loads_too(sam2_tiny, tmp_path: Path) -> None:
    """checkpoints/README.md: SAM2 (not 2.1) files, sam2_hiera_*.pt, fill the same tensors as SAM2.1's."""
    path = tmp_path / "sam2_hiera_tiny.pt"
    reference = sam2_model("configs/sam2/sam2_hiera_t.yaml", path)
    model = MGDSAM2(NetworkConfig(preset="tiny", use_adapters=False)).eval()
    report = load_pretrained(model, path)
    newer = load_pretrained(MGDSAM2(NetworkConfig(preset="tiny", use_adapters=False)), sam2_tiny[1])
    assert (report.missing, report.reinitialised) == (newer.missing, newer.reinitialised)
    assert_encoder_matches(reference, model)


def test_model_load_lists_every_key_by_name(sam2_tiny, capsys) -> None:
    from mgd_sam2.cli import main

    _, path = sam2_tiny
    assert main(["model", "load", "--preset", "tiny", "--ckpt", str(path)]) == 0
    out = capsys.readouterr().out
    assert "re-initialised (shape differs by design) (1):\n  decoder.mask_tokens.weight" in out
    assert "  encoder.adapters.0.down.weight\n" in out  # missing: a new module
    assert "  sam_mask_decoder.iou_prediction_head.layers.0.weight\n" in out  # ignored: not part of MGD-SAM2
    assert main(["model", "load", "--ckpt", str(path)]) == 0  # no --preset: the checkpoint's size, Hiera-T
    assert "preset tiny, input 2×512 = 1024 px (the checkpoint's size; --preset for another)" in capsys.readouterr().out
    assert "  memory_attention.layers.0.self_attn.q_proj.weight\n" in out
    assert "  encoder.trunk.blocks.0.attn.qkv.weight\n" in out  # loaded


def test_full_model_loads_sam2_and_keeps_new_modules_initialised(sam2_tiny) -> None:
    _, path = sam2_tiny
    torch.manual_seed(0)
    model = MGDSAM2(NetworkConfig(preset="tiny"))
    adapters_before = model.encoder.adapters[0].down.weight.clone()
    tokens_before = model.decoder.mask_tokens.weight.clone()
    report = load_pretrained(model, path)
    assert any(key.startswith("encoder.adapters.") for key in report.missing)
    assert torch.equal(model.encoder.adapters[0].down.weight, adapters_before)
    assert torch.equal(model.decoder.mask_tokens.weight, tokens_before)
    assert model.decoder.mask_tokens.weight.shape == (2, 256)


def released_state_dict() -> dict[str, torch.Tensor]:
    """Random tensors with exactly the key names and shapes of the released MGD-SAM2 (DIS, B+) weights."""
    torch.manual_seed(0)
    state = {}
    with open(FIXTURES / "official_mgdsam2_dis_b+_state_dict.tsv") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            shape = [] if row["shape"] == "scalar" else [int(n) for n in row["shape"].split("x")]
            state[row["key"]] = torch.randint(0, 5, shape) if row["dtype"] == "int64" else torch.randn(shape)
    return state


def test_released_weights_convert_and_load_strictly(tmp_path: Path) -> None:
    state = released_state_dict()
    assert len(state) == 804
    path = tmp_path / "mgdsam2_dis.pth"
    torch.save(state, path)
    model = MGDSAM2(NetworkConfig(preset="base_plus_official"))
    report = load_pretrained(model, path)
    assert report.kind == "released MGD-SAM2"
    assert len(report.ignored) == 48  # the keys their forward never reaches
    assert len(report.loaded) == len(model.state_dict())
    # named by module: the adapters they never run, not "image_encoder.trunk", which reads as the trunk dropped
    assert report.summary().endswith("ignored 48 (not used by MGD-SAM2): image_encoder.trunk.mpadapter (40), "
                                     "sam_mask_decoder.iou_prediction_head.layers (6), "
                                     "sam_mask_decoder.pred_obj_score_head (2)")  # fmt: skip
    # base_plus has the same parameters (the load alone would succeed) but other global attention blocks
    refusal = r"trained as preset base_plus_official \(global attention in Hiera blocks \[12, 16, 10\]\); the network"
    with pytest.raises(CheckpointError, match=refusal + r" built \(preset base_plus\) .* --model.network.preset base_"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus")), path)
    # the blocks built decide, not the preset's name
    with pytest.raises(CheckpointError, match=refusal + r" built \(preset base_plus_official\) .* \[12, 16, 20\]"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus_official", global_att_blocks=(12, 16, 20))), path)
    assert load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus", global_att_blocks=(12, 16, 10))), path).loaded
    ours = model.state_dict()
    pairs = {
        "image_encoder.trunk.mpadapter.lightweight_mlp1_2.0.weight": "encoder.adapters.2.down.weight",
        "image_encoder.trunk.mpadapter.lightweight_mlp2_0.1.dwconv_glb.weight": "encoder.adapters.3.global_fuse.weight",
        "image_encoder.trunk.mpadapter.lightweight_mlp3_15.1.dwconv_loc.bias": "encoder.adapters.21.local_fuse.bias",
        "image_encoder.trunk.mpadapter.lightweight_mlp4_1.3.weight": "encoder.adapters.23.up.weight",
        "sam_mask_decoder.new_multifieldcrossatt.attention.0.q_proj.weight": "decoder.mcem.to_global.q_proj.weight",
        "sam_mask_decoder.new_multifieldcrossatt.attention.4.out_proj.bias": "decoder.mcem.to_local.3.out_proj.bias",
        "sam_mask_decoder.new_multifieldcrossatt.norm3.weight": "decoder.mcem.local_norm1.weight",
        "sam_mask_decoder.new_fusion1.fuse3.2.weight": "decoder.hmim_s4.out.2.weight",
        "sam_mask_decoder.new_fusion2.locpre2glb.weight": "decoder.hmim_s8.prior_to_global.weight",
        "detail_enhance.img_er.conv3.1.running_var": "drm.image_enhance.branches.2.1.running_var",
        "detail_enhance.fusion_feature.weight": "drm.view_fusion.weight",
        "detail_enhance.feature_upsample3.2.weight": "drm.up2.2.weight",
        "no_mask_embed.weight": "decoder.no_mask_embed.weight",
        "pe_layer.positional_encoding_gaussian_matrix": "decoder.pe_layer.positional_encoding_gaussian_matrix",
        "sam_mask_decoder.mask_tokens.weight": "decoder.mask_tokens.weight",
        "image_encoder.trunk.blocks.23.mlp.layers.1.weight": "encoder.trunk.blocks.23.mlp.layers.1.weight",
    }
    for theirs, mine in pairs.items():
        assert torch.equal(state[theirs], ours[mine]), mine


def test_released_weights_wrapped_by_ddp_and_a_model_key_load(tmp_path: Path) -> None:
    state = {f"module.{key}": value for key, value in released_state_dict().items()}
    path = tmp_path / "wrapped.pth"
    torch.save({"model": state, "epoch": 60}, path)
    assert load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus_official")), path).kind == "released MGD-SAM2"


def test_released_weights_need_every_module(tmp_path: Path) -> None:
    path = tmp_path / "mgdsam2_dis.pth"
    torch.save(released_state_dict(), path)
    with pytest.raises(CheckpointError, match="all modules must be on"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus_official", use_drm=False)), path)


@pytest.mark.slow
def test_base_plus_official_computes_what_the_released_code_computes(tmp_path: Path) -> None:
    """Weights in the layout of the authors' released file, converted into ``base_plus_official``, give the outputs
    the authors' own code gives with them.

    What is compared: one fp32 forward pass, one 1024 px image at one scale, no TTA (test.py's identity pass), the
    final logits and SAM2's per-view low-resolution logits (before DRM), every 3rd pixel (prime to the 4-pixel period
    of SAM2's two stride-2 transposed convolutions). Not compared: the loss, training, TTA, other sizes or precisions.
    The weights are every key of the released state dict by closed formula (tests/formula_inputs.py), saved as a
    ``.pth`` and loaded through ``load_pretrained`` (the converter, as the authors' file is); the image is a formula
    image cut by our own preprocessing (``SegmentationDataset.predict_input``). The fixture was computed by the
    authors' code, 70a9f8d, on the CPU (tools/reference/official_forward.py).

    The bounds (tests/bounds.py), from measurements on an AMD EPYC (flags avx2, avx512f, avx512_bf16; fp32 runs its
    AVX-512 kernels) with torch 2.14.1, one thread unless said. The fixture's logits lie in [-2.4, 0], its view logits
    in [-2.3, 6.5]. Our pass differs from theirs by at most 1.9e-6 (logits) and 3.9e-5 (view logits): what our own
    pass moves under another reduction order or kernel set, 2 threads 1.8e-6 / 3.3e-5, oneDNN off 2.4e-6 / 7.7e-5,
    AVX2 kernels (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2) 2.4e-6 / 3.0e-5, no SIMD (ATEN_CPU_CAPABILITY=
    default ONEDNN_MAX_CPU_ISA=SSE41) 2.7e-6 / 6.9e-5. The bounds, 3e-4 and 8e-3, are about 100 times the largest of
    these, for other CPUs' kernels. Minimal mistakes move the outputs by (logits / view logits): FPN top-down nearest
    instead of bilinear 7.7e-4 / 3.5e-2 (the smallest: 2.6 and 4.4 times the bounds; the test fails with it); the last
    adapter's two fusion convolutions swapped 3.0e-3 / 7.7e-2, the first's 0.23 / 3.4; base_plus's global attention
    blocks [12, 16, 20] 2.2e-2 / 1.1; MCEM's first two local attentions swapped 9.7e-2 / 3.5; local views 0 and 1
    swapped 0.29 / 4.1; HMIM's stride-8 and stride-4 modules swapped 0.70 / 5.1; DRM's two upsampling stages swapped
    2.4 / none (DRM comes after the view logits).
    """
    from formula_inputs import digest, formula_image, released_formula_state_dict
    from mgd_sam2.data.datasets import SegmentationDataset
    from mgd_sam2.inference.loading import weights_network

    reference = torch.load(FIXTURES / "official_forward.pt", weights_only=True)
    state = released_formula_state_dict()
    image = formula_image()
    stale = "the formula of tests/formula_inputs.py changed: run tools/reference/official_forward.py again"
    assert digest(state) == reference["weights_sha256"], stale
    assert digest({"image": torch.from_numpy(image)}) == reference["image_sha256"], stale
    path = tmp_path / "mgdsam2_dis.pth"
    torch.save(state, path)
    del state
    torch.manual_seed(0)
    model = MGDSAM2(NetworkConfig(preset="base_plus_official"))
    assert load_pretrained(model, path).kind == "released MGD-SAM2"
    assert weights_network(read_weights_file(path), path)[0] == NetworkConfig(preset="base_plus_official")
    model.eval()
    views = SegmentationDataset([], model.input_size, "predict", grid=model.grid).predict_input(image)["input"]
    # our preprocessing (a resize to 1024 that keeps this image, normalisation) gives their test dataset's input exactly
    assert digest({"input": views.full[0]}) == reference["input_sha256"]
    with torch.no_grad():
        out = model(views)
    every = reference["stride"]
    torch.testing.assert_close(
        out.view_logits[..., ::every, ::every], reference["view_logits"], rtol=0, atol=RELEASED_VIEW_LOGITS
    )
    torch.testing.assert_close(out.logits[..., ::every, ::every], reference["logits"], rtol=0, atol=RELEASED_LOGITS)


def fake_sam2(embed_dim: int, blocks: int) -> dict:
    trunk = {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(embed_dim, 3, 7, 7)}
    trunk.update({f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(blocks)})
    return {"model": trunk}


def test_checkpoint_of_another_size_names_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "sam2.1_hiera_large.pt"
    torch.save(fake_sam2(embed_dim=144, blocks=48), path)
    with pytest.raises(CheckpointError, match=r"size large .*preset 'base_plus'"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="base_plus")), path)


def test_truncated_sam2_checkpoint_is_refused(sam2_tiny, tmp_path: Path) -> None:
    _, path = sam2_tiny
    content = torch.load(path, weights_only=True)
    del content["model"]["image_encoder.neck.convs.0.conv.weight"]
    broken = tmp_path / "broken.pt"
    torch.save(content, broken)
    with pytest.raises(CheckpointError, match="lacks 1 pretrained tensors"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="tiny")), broken)


def test_missing_file_says_where_to_get_checkpoints(tmp_path: Path) -> None:
    """The hint fits the file's name: SAM2.1's download, a run's checkpoints beside a mistyped one, the authors'."""
    with pytest.raises(FileNotFoundError, match="facebookresearch/sam2"):
        load_pretrained(MGDSAM2(NetworkConfig(preset="micro")), tmp_path / "sam2.1_hiera_micro.pt")
    run = tmp_path / "runs/x/version_0/checkpoints"
    run.mkdir(parents=True)
    (run / "best.ckpt").touch()
    with pytest.raises(FileNotFoundError, match=f"bets.ckpt. Checkpoints of training runs .*; {run} holds best.ckpt"):
        read_weights_file(run / "bets.ckpt")
    with pytest.raises(FileNotFoundError, match="released MGD-SAM2 weights .*github.com/sevenshr/MGD-SAM2"):
        read_weights_file(tmp_path / "official" / "mgdsam2_dis.pth")


def test_a_start_that_cannot_fit_the_preset_is_named_before_any_file_is_read(tmp_path: Path, monkeypatch) -> None:
    """Training's model.pretrained: micro (no SAM2.1 size) takes none; a missing SAM2.1 file of another size's name
    names the preset's own, as when a recipe's base_plus start is kept with --model.network.preset tiny."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.training.module import MGDSAM2Module

    module = MGDSAM2Module(network=NetworkConfig(preset="micro"), pretrained="checkpoints/sam2.1_hiera_base_plus.pt")
    monkeypatch.setattr("mgd_sam2.training.module.load_pretrained", lambda *a: pytest.fail("a file was read"))
    with pytest.raises(ConfigError, match="preset micro has no SAM2.1 weights .* set --model.pretrained null"):
        module.setup("fit")
    tiny = MGDSAM2Module(network=NetworkConfig(preset="tiny"), pretrained=str(tmp_path / "sam2.1_hiera_base_plus.pt"))
    with pytest.raises(FileNotFoundError, match="preset tiny starts from sam2.1_hiera_tiny.pt, not sam2.1_hiera_base"):
        tiny.setup("fit")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a checkpoint", "is not a weights file: neither a PyTorch checkpoint"),
        (b"PK\x03\x04, then a damaged zip", "not a readable PyTorch checkpoint"),
        (b"", r"is empty or cut short \(0 bytes\): download or export it again"),
        ({"weights": torch.zeros(3)}, "neither a SAM2/SAM2.1 checkpoint"),
        ([torch.zeros(3)], "holds a list"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "file.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        load_pretrained(MGDSAM2(NetworkConfig(preset="micro")), path)


class NotAWeight:
    pass


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": NotAWeight()}, path)
    with pytest.raises(CheckpointError, match="refused because loading it could run arbitrary code") as raised:
        load_pretrained(MGDSAM2(NetworkConfig(preset="micro")), path)
    assert "weights_only" not in str(raised.value)  # never the advice to turn the safety off


def test_a_load_summary_names_the_modules_it_passes_over() -> None:
    """By module, three names deep (a trunk's unused adapters are not "image_encoder.trunk"), and a tensor of the top
    level by its own name (SAM2's no_mem_embed), never an empty one."""
    keys = [
        "no_mem_embed",
        "image_encoder.trunk.mpadapter.shared_mlp1.0.weight",
        "memory_attention.layers.0.norm1.bias",
    ]
    summary = LoadReport("x.pt", "SAM2", ignored=keys).summary()
    assert summary.endswith("ignored 3 (not used by MGD-SAM2): image_encoder.trunk.mpadapter (1), "
                            "memory_attention.layers (1), no_mem_embed (1)")  # fmt: skip
