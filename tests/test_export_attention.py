"""The export's attention (inference/export_attention.py): sam2's function of the same weights, only while exporting."""

from __future__ import annotations

import types

import pytest
import torch

from bounds import FP32_KERNELS
from mgd_sam2.inference.export import check_views, torch_logits
from mgd_sam2.inference.export_attention import PROJECTIONS, attention_modules, split_qkv_attention
from mgd_sam2.models.network import MGDSAM2, NetworkConfig


@pytest.fixture(scope="module")
def network() -> MGDSAM2:
    torch.manual_seed(0)
    return MGDSAM2(NetworkConfig(preset="micro")).eval()


def test_each_attention_computes_what_sam2s_computes(network: MGDSAM2) -> None:
    """Every trunk attention, pooling ones included, gives sam2's output within FP32_KERNELS (the same fp32
    products summed in another order), and so does the whole network."""
    modules = attention_modules(network)
    assert any(module.q_pool for module in modules) and any(not module.q_pool for module in modules)
    inputs = [torch.randn(2, 8, 8, module.dim, generator=torch.Generator().manual_seed(i)) for i, module in
              enumerate(modules)]  # fmt: skip
    views = check_views(network)
    with torch.inference_mode():
        before = [module(x) for module, x in zip(modules, inputs, strict=True)]
        expected = torch_logits(network, views)
        with split_qkv_attention(network):
            after = [module(x) for module, x in zip(modules, inputs, strict=True)]
            logits = torch_logits(network, views)
    for old, new in zip(before, after, strict=True):
        assert new.shape == old.shape
        assert (new - old).abs().max().item() <= FP32_KERNELS * max(1.0, old.abs().max().item())
    assert abs(logits - expected).max() <= FP32_KERNELS * max(1.0, abs(expected).max())


def test_the_modules_are_as_they_were_after_the_block_even_after_an_error(network: MGDSAM2) -> None:
    """The same parameters (names and values), no added layer, and each module's own forward: the class's, or one
    set on the module before (kept, not deleted)."""
    state = {name: value.clone() for name, value in network.state_dict().items()}
    first, *others = attention_modules(network)
    own = first.forward = types.MethodType(type(first).forward, first)
    try:
        with pytest.raises(RuntimeError, match="inside"), split_qkv_attention(network):
            assert all(hasattr(module, name) for module in (first, *others) for name in PROJECTIONS)
            raise RuntimeError("inside")
        assert vars(first)["forward"] is own
    finally:
        del first.forward
    after = network.state_dict()
    assert list(after) == list(state) and all(torch.equal(after[name], value) for name, value in state.items())
    for module in (first, *others):
        assert "forward" not in vars(module) and not any(hasattr(module, name) for name in PROJECTIONS)
