"""Hiera's attention written for the exported graph: sam2's arithmetic without its strided split.

sam2's ``MultiScaleAttention`` computes q, k and v with one product, splits them with a strided slice of a 5-D
tensor, and calls ``scaled_dot_product_attention``, which the ONNX exporter writes (at export.OPSET 20) with k
reshaped to 3-D and transposed there. OpenVINO's CPU plugin runs that split as a node of its own in a reference
kernel (docs/benchmarks.md, "The export's attention"). While exporting, each such module here computes q, k and v
with three products (the rows of the same weight and bias, copied into three linear layers) and
softmax(q kᵀ / √d) v written out in 4-D. Only the export sees it: PyTorch runs sam2's own code, and ``export_onnx``
checks the graph against PyTorch's logits computed beforehand (EXPORT_TOLERANCE).
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


def attention_modules(network: nn.Module) -> list[MultiScaleAttention]:
    """The Hiera trunk's attention modules of ``network``."""
    return [module for module in network.modules() if isinstance(module, MultiScaleAttention)]


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
    """A linear layer computing ``rows`` of ``layer``'s outputs: [..., in] -> [..., rows] (a copy of those weights
    and biases, on their device and in their dtype)."""
    weight = layer.weight
    part = nn.utils.skip_init(nn.Linear, layer.in_features, rows.stop - rows.start, bias=layer.bias is not None,
                              device=weight.device, dtype=weight.dtype)  # fmt: skip
    with torch.no_grad():
        part.weight.copy_(weight[rows])
        if layer.bias is not None:
            part.bias.copy_(layer.bias[rows])
    return part


@contextlib.contextmanager
def split_qkv_attention(network: nn.Module) -> Iterator[None]:
    """Within the block, every ``MultiScaleAttention`` of ``network`` runs ``split_forward`` (the same function of
    the same weights); on leaving it, even by an error, each module has its own forward and parameters again."""
    modules = attention_modules(network)
    forwards = [vars(module).get("forward") for module in modules]
    try:
        for module in modules:
            out = module.dim_out
            for index, name in enumerate(PROJECTIONS):
                setattr(module, name, linear_rows(module.qkv, slice(index * out, (index + 1) * out)))
            module.forward = types.MethodType(split_forward, module)
        yield
    finally:
        for module, forward in zip(modules, forwards, strict=True):
            module.__dict__.pop("forward", None)
            if forward is not None:
                module.forward = forward
            for name in PROJECTIONS:
                module._modules.pop(name, None)
