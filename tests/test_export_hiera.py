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
from mgd_sam2.inference.export_hiera import (
    PROJECTIONS,
    ChannelsLastMaxPool,
    attention_modules,
    hiera_for_export,
    token_linears,
    tokens_linear_forward,
)
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
            wide = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(2))  # H != W
            assert torch.equal(embed(wide), type(embed).forward(embed, wide))
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
            linears = token_linears(network)
            assert len(linears) > 3 * len(blocks) and all("forward" in vars(linear) for linear in linears)
            raise RuntimeError("inside")
        assert vars(first)["forward"] is own
    finally:
        del first.forward
    after = network.state_dict()
    assert list(after) == list(state) and all(torch.equal(after[name], value) for name, value in state.items())
    for module in (first, *others):
        assert "forward" not in vars(module) and not any(hasattr(module, name) for name in PROJECTIONS)
    assert all(block.pool is pool and block.attn.q_pool is pool for block, pool in zip(blocks, pools, strict=True))
    assert not any(
        "forward" in vars(module) for module in network.modules() if isinstance(module, (PatchEmbed, nn.Linear))
    )


class NotCalled(nn.MaxPool2d):
    """A max pool that fails if called: what ChannelsLastMaxPool wraps where it must compute the maxima itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the wrapped pool was called")


@pytest.mark.parametrize(
    ("kernel", "ceil_mode", "height", "width"),
    [((2, 2), False, 8, 6), (2, False, 2, 4), ((2, 3), False, 8, 6), ((2, 2), True, 4, 6)],
)
def test_the_channels_last_max_pool_computes_the_max_pool_s_values(
    kernel, ceil_mode: bool, height: int, width: int
) -> None:
    """Where the kernel divides the sides, its own maxima equal the max pool's (torch.equal: maxima, no arithmetic),
    for int and tuple kernels, square or not, and ceil_mode (which changes nothing where the sides divide)."""
    x = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(height * width))
    pool = ChannelsLastMaxPool(NotCalled(kernel_size=kernel, ceil_mode=ceil_mode))
    assert pool.exact
    assert torch.equal(pool(x), nn.MaxPool2d(kernel_size=kernel, ceil_mode=ceil_mode)(x))


@pytest.mark.parametrize(
    ("pool", "shape"),
    [
        (nn.MaxPool2d(2), (2, 4, 7, 6)),  # a side the kernel does not divide
        (nn.MaxPool2d(2, padding=1), (2, 4, 6, 6)),
        (nn.MaxPool2d(2, stride=1), (2, 4, 6, 6)),
        (nn.MaxPool2d(2, dilation=2), (2, 4, 8, 8)),
        (nn.MaxPool2d(2), (4, 6, 6)),  # unbatched
    ],
)
def test_any_other_pooling_goes_through_the_pool_it_replaces(pool: nn.MaxPool2d, shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    calls = []
    pool.register_forward_hook(lambda *_: calls.append(1))
    assert torch.equal(ChannelsLastMaxPool(pool)(x), pool(x)) and len(calls) == 2


@pytest.mark.parametrize("shape", [(2, 5, 7, 16), (2, 35, 16), (35, 16), (1, 2, 3, 4, 16)])
def test_token_products_are_the_linear_layers_products(shape: tuple[int, ...]) -> None:
    """``tokens_linear_forward`` on [B, ..., C]: nn.Linear's output and shape within FP32_KERNELS (the same
    16-term sums; only the bias may be added in another order), for 2-D to 5-D input."""
    torch.manual_seed(0)
    layer, x = nn.Linear(16, 24), torch.randn(shape)
    with torch.inference_mode():
        expected, got = layer(x), tokens_linear_forward(layer, x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= FP32_KERNELS * max(1.0, expected.abs().max().item())
