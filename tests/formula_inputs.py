"""Weights and an image given by a closed formula, the same bits on every machine: for comparing two networks'
outputs through a fixture computed elsewhere (tests/fixtures/official_forward.pt, tools/reference/official_forward.py).

Every value comes from exact arithmetic: a 64-bit integer hash (splitmix64's finaliser, wrapping uint64 products,
shifts and xors) of the tensor's name (zlib.crc32) and the element's index, turned into a float64 in [-1, 1) by
exact operations, scaled by a float64 product and rounded once to float32 (IEEE: the same rounding everywhere). No
random generator, no library transcendental function: ``numpy.sin`` and friends are not correctly rounded and differ
in the last bit between libm and numpy's SIMD kernels (AVX2, AVX-512), and a sinusoid over a tensor's flat index would
make every weight matrix of rank two (each row the same wave, shifted).

Scales keep activations of order one through the network, neither saturated nor vanishing: weights of linear and
convolution layers have standard deviation 1/sqrt(fan-in), so each layer keeps its input's variance; norm weights are
1 +- 0.1; biases and BatchNorm running means small; running variances in [0.5, 1.5); embeddings and tokens of
standard deviation 1; Hiera's position embeddings 0.1 against its patch embedding's 1.
"""

from __future__ import annotations

import csv
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np
import torch

RELEASED_KEYS = Path(__file__).parent / "fixtures" / "official_mgdsam2_dis_b+_state_dict.tsv"
IMAGE_SIDE = 1024  # base_plus_official's input (grid 2 x view 512), the size the released test.py resizes to

GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's constants


def uniform(name: str, count: int) -> np.ndarray:
    """``count`` float64 values in [-1, 1), a hash of ``name`` and each index; mean 0, variance 1/3."""
    with np.errstate(over="ignore"):
        z = np.arange(count, dtype=np.uint64) * np.uint64(GOLDEN) + np.uint64(zlib.crc32(name.encode()) << 32)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0  # 53-bit integers: exact in float64


def formula_tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The value of the tensor ``name`` (a state-dict key) of ``shape``, by the rules of the module docstring."""
    count = math.prod(shape)
    if dtype == torch.int64:  # BatchNorm's num_batches_tracked: unused in eval, any count
        return torch.full(shape, zlib.crc32(name.encode()) % 1000, dtype=torch.int64)
    u = uniform(name, count)
    unit = math.sqrt(3.0)  # u * sqrt(3): variance 1
    last = name.rsplit(".", 1)[-1]
    if last == "running_var":
        values = 1.0 + 0.5 * u
    elif last == "running_mean":
        values = (0.1 * unit) * u
    elif last == "bias":
        values = (0.02 * unit) * u
    elif last == "weight" and len(shape) == 1:  # LayerNorm, LayerNorm2d, BatchNorm
        values = 1.0 + 0.1 * u
    elif name.endswith(("embed.weight", "token.weight", "tokens.weight", "positional_encoding_gaussian_matrix")):
        values = unit * u  # nn.Embedding rows and SAM's random Fourier features: standard deviation 1
    elif last in ("pos_embed", "pos_embed_window"):
        values = (0.1 * unit) * u
    elif last == "weight":  # Linear (out, in), Conv (out, in/groups, *kernel), ConvTranspose (in, out, *kernel)
        values = (unit / math.sqrt(math.prod(shape[1:]))) * u
    else:
        raise ValueError(f"no formula for {name} {tuple(shape)}")
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def released_key_shapes() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """{key: (shape, dtype)} of the authors' released MGD-SAM2 (DIS, B+) state dict, from the fixture's table."""
    found = {}
    with open(RELEASED_KEYS) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            shape = () if row["shape"] == "scalar" else tuple(int(n) for n in row["shape"].split("x"))
            found[row["key"]] = (shape, {"float32": torch.float32, "int64": torch.int64}[row["dtype"]])
    return found


def released_formula_state_dict() -> dict[str, torch.Tensor]:
    """Every tensor of the released MGD-SAM2 state dict (the authors' key names), by formula."""
    return {key: formula_tensor(key, shape, dtype) for key, (shape, dtype) in released_key_shapes().items()}


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the tensors' names and bytes in key order: the same formula gives the same digest on any machine."""
    found = hashlib.sha256()
    for key in sorted(tensors):
        found.update(key.encode())
        found.update(tensors[key].numpy().tobytes())
    return found.hexdigest()


def formula_image() -> np.ndarray:
    """(1024, 1024, 3) uint8 RGB in integer arithmetic: smooth gradients, a textured disc, a thin ring and a diagonal
    line (edges and fine detail at several scales, nothing flat)."""
    side = IMAGE_SIDE
    y, x = np.mgrid[0:side, 0:side].astype(np.int64)
    disc = (x - 600) ** 2 + (y - 450) ** 2 < 260**2
    ring = np.abs((x - 300) ** 2 + (y - 700) ** 2 - 150**2) < 1500
    red = np.where(disc, 190 + ((x ^ y) & 63), x * 255 // side)
    green = np.where(disc, 40 + ((x * y >> 7) & 127), y * 255 // side)
    blue = np.where(ring, 250, (x + 2 * y) * 255 // (3 * side))
    image = np.stack([red, green, blue], axis=-1)
    image[np.abs(x - y) < 3] = (20, 20, 20)
    return image.astype(np.uint8)
