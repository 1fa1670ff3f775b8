"""The Hiera trunk written for the exported graph: sam2's arithmetic in forms OpenVINO's CPU plugin runs faster.

Four rewrites, each the same function of the same weights, applied only while exporting (``hiera_for_export``):
PyTorch runs sam2's own code, and ``export_onnx`` checks the graph against PyTorch's logits computed beforehand
(EXPORT_TOLERANCE). docs/speed-runs.md ("The export's Hiera") has the measurements behind each.

- Attention: sam2's ``MultiScaleAttention`` computes q, k and v with one product, splits them with a strided slice
  of a 5-D tensor, and calls ``scaled_dot_product_attention``, which the ONNX exporter writes (at export.OPSET 20)
  with k reshaped to 3-D; OpenVINO runs that split as a node of its own in a reference kernel. Here q, k and v come
  from three products (the rows of the same weight and bias, copied into three linear layers) and
  softmax(q kᵀ / √d) v is written out in 4-D.
- Patch embedding: sam2 permutes the convolution's [B, C, H, W] output to channels-last [B, H, W, C]. OpenVINO
  keeps the convolution's output channels-last in memory and ran that permute as a real transpose into a layout
  the rest of the trunk then kept (reordering the trunk's tensors around most of its element-wise nodes). Written
  as [B, C, HW] -> [B, HW, C] -> [B, H, W, C], the same values, OpenVINO drops the transpose and the trunk runs
  in its planar layout.
- Q pooling: sam2 pools [B, H, W, C] tokens by permuting them to [B, C, H, W], max-pooling 2×2 and permuting back.
  `ChannelsLastMaxPool` takes the maximum of each block's rows, then columns, in channels-last (element-wise
  maxima: the same values), so the permutes around it cancel.
- Token products: the trunk's and the adapters' linear layers take [B, H, W, C] tokens. OpenVINO's CPU plugin fuses
  what follows a product (int8's dequantization, the bias, GELU, the next quantization) into the product only where
  its input is at most 3-D; on 4-D input each runs as an element-wise pass of its own. `tokens_linear_forward`
  computes the product on [B, HW, C] and reshapes back.
"""

from __future__ import annotations

import contextlib
import functools
import math
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from sam2.modeling.backbones.hieradet import Hiera, MultiScaleAttention, MultiScaleBlock, do_pool
from sam2.modeling.backbones.utils import PatchEmbed
from torch import nn

from mgd_sam2.models.mpadapter import MPAdapter

PROJECTIONS = ("q_proj", "k_proj", "v_proj")  # the three products added to each attention while exporting


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


def tokens_linear_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``nn.Linear.forward`` on 3-D input: x [B, ..., in] -> [B, ..., out], the product on [B, prod(...), in]."""
    if x.dim() <= 3:
        return F.linear(x, self.weight, self.bias)
    return F.linear(x.flatten(1, -2), self.weight, self.bias).unflatten(1, x.shape[1:-1])


def patch_embed_forward(self: PatchEmbed, x: torch.Tensor) -> torch.Tensor:
    """``PatchEmbed.forward`` with its permute to channels-last as a swap of the last two axes of [B, C, HW].
    x: [B, 3, H, W] -> [B, H/4, W/4, C] (sam2's stride-4 embedding)."""
    x = self.proj(x)
    B, C, H, W = x.shape
    return x.reshape(B, C, H * W).transpose(1, 2).reshape(B, H, W, C)


class ChannelsLastMaxPool(nn.Module):
    """A max pool whose stride is its kernel (Hiera's 2×2 q pooling), computed in channels-last: [B, C, H, W] ->
    [B, C, H/k_h, W/k_w].

    It takes and returns sam2's [B, C, H, W] (``do_pool`` permutes around it) and permutes to [B, H, W, C] and back
    itself, so that in the graph each permute meets its inverse. Any other pooling, or sides the kernel does not
    divide, goes through the pool it replaces."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.pool = pool
        self.kernel = nn.modules.utils._pair(pool.kernel_size)
        self.exact = (
            nn.modules.utils._pair(pool.stride) == self.kernel
            and nn.modules.utils._pair(pool.padding) == (0, 0)
            and nn.modules.utils._pair(pool.dilation) == (1, 1)
            and not pool.return_indices
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k_h, k_w = self.kernel
        if not self.exact or x.dim() != 4 or x.shape[2] % k_h or x.shape[3] % k_w:
            return self.pool(x)
        B, C, H, W = x.shape
        x = x.permute(0, 2, 3, 1).reshape(B * H // k_h, k_h, W // k_w, k_w * C)
        x = functools.reduce(torch.maximum, x.unbind(1))  # [B H/k, W/k, k C]: each block's rows
        x = x.reshape(B * H // k_h * (W // k_w), k_w, C)
        x = functools.reduce(torch.maximum, x.unbind(1))  # [B H/k W/k, C]: and its columns
        return x.reshape(B, H // k_h, W // k_w, C).permute(0, 3, 1, 2)


def token_linears(network: nn.Module) -> list[nn.Linear]:
    """The linear layers of ``network``'s Hiera trunks and MPAdapters: the ones taking [B, H, W, C] tokens."""
    owners = [module for module in network.modules() if isinstance(module, (Hiera, MPAdapter))]
    return [layer for owner in owners for layer in owner.modules() if isinstance(layer, nn.Linear)]


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
def hiera_for_export(network: nn.Module) -> Iterator[None]:
    """Within the block, every ``MultiScaleAttention`` of ``network`` runs ``split_forward``, every ``PatchEmbed``
    ``patch_embed_forward``, every linear layer of a Hiera trunk or an MPAdapter (the attentions' three products
    included) ``tokens_linear_forward``, and every max pool of a ``MultiScaleBlock`` (its ``pool``, which in sam2 is
    also its attention's ``q_pool``: one wrapper for both) is a `ChannelsLastMaxPool` of it: the same functions of
    the same weights. On leaving it, even by an error, each module has its own forward, parameters and pools again."""
    modules = attention_modules(network)
    embeds = [module for module in network.modules() if isinstance(module, PatchEmbed)]
    linears = token_linears(network)
    pools = [
        (block, block.pool, block.attn.q_pool) for block in network.modules() if isinstance(block, MultiScaleBlock)
    ]
    forwards = {id(module): vars(module).get("forward") for module in (*modules, *embeds, *linears)}
    try:
        for module in modules:
            out = module.dim_out
            for index, name in enumerate(PROJECTIONS):
                setattr(module, name, linear_rows(module.qkv, slice(index * out, (index + 1) * out)))
            module.forward = types.MethodType(split_forward, module)
        for linear in token_linears(network):  # ``linears`` and the three products just added
            linear.forward = types.MethodType(tokens_linear_forward, linear)
        for embed in embeds:
            embed.forward = types.MethodType(patch_embed_forward, embed)
        wrappers: dict[int, ChannelsLastMaxPool] = {}  # one per max pool, however many attributes hold it

        def channels_last(pool: nn.Module | None) -> nn.Module | None:
            if not isinstance(pool, nn.MaxPool2d):
                return pool
            return wrappers.setdefault(id(pool), ChannelsLastMaxPool(pool))

        for block, pool, q_pool in pools:
            block.pool, block.attn.q_pool = channels_last(pool), channels_last(q_pool)
        yield
    finally:
        for block, pool, q_pool in pools:
            block.pool, block.attn.q_pool = pool, q_pool
        for module in (*modules, *embeds, *linears):
            module.__dict__.pop("forward", None)
            if forwards[id(module)] is not None:
                module.forward = forwards[id(module)]
        for module in modules:
            for name in PROJECTIONS:
                module._modules.pop(name, None)
