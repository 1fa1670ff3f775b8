"""Hiera's attention written for the exported graph: sam2's arithmetic in the layout OpenVINO fuses.

sam2's ``MultiScaleAttention`` computes q, k and v with one product, splits them with a strided slice of a 5-D
tensor, and calls ``scaled_dot_product_attention``, which the ONNX exporter writes with k reshaped to 3-D and
transposed there. OpenVINO's CPU plugin leaves that split and those transposes outside its fused attention kernel,
as separate nodes, the split in a reference kernel (docs/benchmarks.md, "The export's attention"). While exporting, each
such module here computes q, k and v with three products (the rows of the same weight and bias, copied into three
linear layers) and softmax(q kᵀ / √d) v in 4-D, as OpenVINO's attention fusion expects. Only the export sees it:
PyTorch runs sam2's own code, and ``export_onnx`` checks the graph against PyTorch's logits computed beforehand.
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Iterator

import torch
from sam2.modeling.backbones.hieradet import MultiScaleAttention, do_pool
from torch import nn

PROJECTIONS = ("q_proj", "k_proj", "v_proj")  # the three products added to each module while exporting


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d) v, written out. q: [B, heads, Nq, d]; k, v: [B, heads, N, d] -> [B, heads, Nq, d]."""
    scores = (q * (1 / math.sqrt(q.shape[-1]))) @ k.transpose(-2, -1)  # [B, heads, Nq, N]
    return torch.softmax(scores, dim=-1) @ v


def split_forward(self: MultiScaleAttention, x: torch.Tensor) -> torch.Tensor:
    """``MultiScaleAttention.forward`` with q, k and v from three products. x: [B, H, W, dim] -> [B, H', W', dim_out]
    (H', W' halved where the module pools q)."""
    B, H, W, _ = x.shape
    q, k, v = (getattr(self, name)(x).reshape(B, H * W, self.num_heads, -1) for name in PROJECTIONS)  # [B, HW, h, d]
    if self.q_pool:
        q = do_pool(q.reshape(B, H, W, -1), self.q_pool)
        H, W = q.shape[1:3]
        q = q.reshape(B, H * W, self.num_heads, -1)
    x = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)  # [B, H'W', h, d]
    return self.proj(x.reshape(B, H, W, -1))


def linear_rows(layer: nn.Linear, rows: slice) -> nn.Linear:
    """A linear layer computing ``rows`` of ``layer``'s outputs (a copy of those weights and biases)."""
    part = nn.Linear(layer.in_features, rows.stop - rows.start, bias=layer.bias is not None)
    with torch.no_grad():
        part.weight.copy_(layer.weight[rows])
        if layer.bias is not None:
            part.bias.copy_(layer.bias[rows])
    return part.to(layer.weight.device, layer.weight.dtype)


@contextlib.contextmanager
def fusable_attention(network: nn.Module) -> Iterator[None]:
    """Within the block, every ``MultiScaleAttention`` of ``network`` runs ``split_forward`` (the same function of
    the same weights); on leaving it, even by an error, the modules are as they were."""
    modules = [module for module in network.modules() if isinstance(module, MultiScaleAttention)]
    try:
        for module in modules:
            out = module.dim_out
            for index, name in enumerate(PROJECTIONS):
                setattr(module, name, linear_rows(module.qkv, slice(index * out, (index + 1) * out)))
            module.forward = types.MethodType(split_forward, module)
        yield
    finally:
        for module in modules:
            module.__dict__.pop("forward", None)
            for name in PROJECTIONS:
                module._modules.pop(name, None)
