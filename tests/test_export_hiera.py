"""The export's Hiera (inference/export_hiera.py): sam2's function of the same weights, only while exporting."""

from __future__ import annotations

import types

import pytest
import torch
from sam2.modeling.backbones.hieradet import MultiScaleBlock
from sam2.modeling.backbones.utils import PatchEmbed
from torch import nn

from bounds import FP32_KERNELS
from mgd_sam2.inference.export import check_views, torch_logits
from mgd_sam2.inference.export_hiera import PROJECTIONS, ChannelsLastMaxPool, attention_modules, hiera_for_export
from mgd_sam2.models.network import MGDSAM2, NetworkConfig


@pytest.fixture(scope="module")
def network() -> MGDSAM2:
    torch.manual_seed(0)
    return MGDSAM2(NetworkConfig(preset="micro")).eval()


def test_each_attention_computes_what_sam2s_computes(network: MGDSAM2) -> None:
    """Every trunk attention, pooling ones included, gives sam2's output within FP32_KERNELS (the same fp32
    products summed in another order), and so does the whole network; the patch embedding's output is sam2's to the
    bit (the same convolution, only moved)."""
    modules = attention_modules(network)
    assert any(module.q_pool for module in modules) and any(not module.q_pool for module in modules)
    inputs = [torch.randn(2, 8, 8, module.dim, generator=torch.Generator().manual_seed(i)) for i, module in
              enumerate(modules)]  # fmt: skip
    views = check_views(network)
    embed = next(module for module in network.modules() if isinstance(module, PatchEmbed))
    with torch.inference_mode():
        before = [module(x) for module, x in zip(modules, inputs, strict=True)]
        expected, embedded = torch_logits(network, views), embed(views.global_view)
        with hiera_for_export(network):
            after = [module(x) for module, x in zip(modules, inputs, strict=True)]
            logits = torch_logits(network, views)
            assert torch.equal(embed(views.global_view), embedded)
    for old, new in zip(before, after, strict=True):
        assert new.shape == old.shape
        assert (new - old).abs().max().item() <= FP32_KERNELS * max(1.0, old.abs().max().item())
    assert abs(logits - expected).max() <= FP32_KERNELS * max(1.0, abs(expected).max())


def test_the_modules_are_as_they_were_after_the_block_even_after_an_error(network: MGDSAM2) -> None:
    """The same parameters (names and values), no added layer, each module's own forward: the class's, or one
    set on the module before (kept, not deleted), and each block's own max pool (its attention's too)."""
    state = {name: value.clone() for name, value in network.state_dict().items()}
    blocks = [module for module in network.modules() if isinstance(module, MultiScaleBlock) and module.pool]
    pools = [block.pool for block in blocks]
    assert pools and all(isinstance(pool, nn.MaxPool2d) for pool in pools)
    first, *others = attention_modules(network)
    own = first.forward = types.MethodType(type(first).forward, first)
    try:
        with pytest.raises(RuntimeError, match="inside"), hiera_for_export(network):
            assert all(hasattr(module, name) for module in (first, *others) for name in PROJECTIONS)
            assert all(isinstance(block.pool, ChannelsLastMaxPool) and block.attn.q_pool is block.pool
                       for block in blocks)  # fmt: skip
            raise RuntimeError("inside")
        assert vars(first)["forward"] is own
    finally:
        del first.forward
    after = network.state_dict()
    assert list(after) == list(state) and all(torch.equal(after[name], value) for name, value in state.items())
    for module in (first, *others):
        assert "forward" not in vars(module) and not any(hasattr(module, name) for name in PROJECTIONS)
    assert all(block.pool is pool and block.attn.q_pool is pool for block, pool in zip(blocks, pools, strict=True))
    assert not any("forward" in vars(module) for module in network.modules() if isinstance(module, PatchEmbed))


@pytest.mark.parametrize(("channels", "height", "width"), [(3, 8, 6), (5, 2, 4), (4, 7, 6), (2, 6, 5)])
def test_the_channels_last_max_pool_gives_the_max_pool_s_values(channels: int, height: int, width: int) -> None:
    """Bit for bit (maxima, no arithmetic), odd sides included (those go through the pool it replaces); and any
    other pool (here with padding) is left to that pool."""
    x = torch.randn(2, channels, height, width, generator=torch.Generator().manual_seed(height * width))
    pool = nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2), ceil_mode=False)
    assert torch.equal(ChannelsLastMaxPool(pool)(x), pool(x))
    padded = nn.MaxPool2d(kernel_size=2, stride=2, padding=1)
    assert not ChannelsLastMaxPool(padded).exact and torch.equal(ChannelsLastMaxPool(padded)(x), padded(x))
