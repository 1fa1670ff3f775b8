"""Exporting a network to ONNX for the CPU backends (ONNX Runtime, OpenVINO), checked against PyTorch; optional int8.

The graph takes the three fields of `Views` for one image at the network's
input size and returns its logits, so cutting views, resizing and writing stay in the shared Python code
(inference/predict.py). Its metadata records the format, the network settings, grid, input size, opset and
quantization. Two int8 forms: ONNX Runtime's dynamic quantization of the MatMul/Gemm weights (the Hiera
trunk's, the decoder's and the adapters' linear layers), one scale per output channel and 7-bit weights (see
`int8_weights`), activations quantized per call (ONNX Runtime's static int8 of the convolutions did not pay:
docs/benchmarks.md, Speed); and OpenVINO's calibrated int8 (NNCF) of the trunk and adapters (`int8_scope`: less
for AMX in bf16), written as OpenVINO IR. The quantized models are compared with PyTorch's logits computed
beforehand, so that quantizing needs no PyTorch network (inference/export_steps.py runs each step in its own
process).

``record``: entries for the metadata of the file written (``model export --fastest``'s choice,
inference/fastest.py), which predict reads back; its CPU kind and precision also pick OpenVINO int8's scope.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mgd_sam2.data.view_cutting import tile
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.backends import (
    ONNX_FORMAT,
    ONNX_INPUTS,
    ONNX_OUTPUT,
    ExportedBackend,
    OnnxBackend,
    OpenVinoBackend,
    import_openvino,
    openvino_has_bf16,
)
from mgd_sam2.inference.export_formats import RECORD_KIND, RECORD_PRECISION
from mgd_sam2.inference.export_hiera import hiera_for_export
from mgd_sam2.inference.nncf_memory import statistics_outputs_first
from mgd_sam2.models.groups import part_of
from mgd_sam2.models.multi_view import Views
from mgd_sam2.models.network import MGDSAM2
from mgd_sam2.models.presets import get_preset
from mgd_sam2.utils.files import atomic_path, disk_full_errors, temporary_folder

OPSET = 20  # Gelu as one operator, which ONNX Runtime runs fused
# Largest difference of the fp32 export's logits from PyTorch's, relative to the logits' scale (their largest
# magnitude, at least 1). Two fp32 runtimes differ in the order of their sums only: a few units in the last place
# (2^-24) of the activations per layer. A broken graph is off by the logits' own size.
EXPORT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Int8Scope:
    """What OpenVINO int8 quantizes: the matrix products and convolutions of ``parts``, except the MLPs of the
    trunk's first ``bf16_mlp_stages`` stages."""

    parts: tuple[str, ...]
    bf16_mlp_stages: int = 0

    def describe(self) -> str:
        """In words, for the quantized file's record."""
        kept = f", without the MLPs of the trunk's first {self.bf16_mlp_stages} stages" if self.bf16_mlp_stages else ""
        return " and ".join(self.parts) + kept


# The frozen trunk and its adapters (most of the time). Quantizing the decoder, neck, MCEM, HMIM and DRM too moved
# the demo model's SYN-TE S-measure by -0.0046 instead of +0.0002 (docs/speed-runs.md, "OpenVINO int8").
OPENVINO_INT8 = Int8Scope(("Hiera trunk", "MPAdapter"))
# Where the export is for AMX and run in bf16 (`model export --fastest` there), the adapters and the MLPs of the
# trunk's first two stages (many tokens, few channels) stay bf16: there int8 saves less in their products than the
# pass that dequantizes and requantizes between them costs (docs/speed-runs.md, "int8 where it pays").
OPENVINO_INT8_SCOPES = {"amx": Int8Scope(("Hiera trunk",), bf16_mlp_stages=2)}
TRUNK_MLP = re.compile(r"encoder\.trunk\.blocks\.(\d+)\.mlp\b")


def int8_scope(record: dict[str, str] | None) -> Int8Scope:
    """What OpenVINO int8 quantizes for the path ``record`` names (``model export --fastest``'s CPU kind and the
    precision predict runs the file in): the kind's own scope where that precision is bf16, the parts it leaves out
    of int8 running in bf16; else `OPENVINO_INT8` (a plain ``--openvino-int8`` export, run in fp32 unless asked)."""
    record = record or {}
    if record.get(RECORD_PRECISION) != "bf16-mixed":
        return OPENVINO_INT8
    return OPENVINO_INT8_SCOPES.get(record.get(RECORD_KIND, ""), OPENVINO_INT8)


def trunk_stages(model) -> tuple[int, ...]:
    """Blocks per stage of the trunk of an exported network read by OpenVINO (``model``: an ``ov.Model`` of the
    ONNX export or its int8 IR; its preset from the export's metadata)."""
    return get_preset(json.loads(model.get_rt_info(["framework", "network"]).astype(str))["preset"]).stages


class ViewsToLogits(nn.Module):
    """The network with the fields of Views as separate inputs (an ONNX graph takes plain tensors)."""

    def __init__(self, network: MGDSAM2) -> None:
        super().__init__()
        self.network = network

    def forward(self, full: torch.Tensor, local_views: torch.Tensor, global_view: torch.Tensor) -> torch.Tensor:
        return self.network(Views(full, local_views, global_view)).logits


def node_modules(path: str | Path) -> dict[str, str]:
    """ONNX node name (and output name) -> the innermost module of the network it comes from, as a path in it
    (``encoder.trunk.blocks.3.mlp``), from the module paths (``pkg.torch.onnx.name_scopes``) the exporter records."""
    import onnx

    modules = {}
    for node in onnx.load(str(path)).graph.node:
        scopes = {prop.key: prop.value for prop in node.metadata_props}.get("pkg.torch.onnx.name_scopes")
        paths = [scope for scope in ast.literal_eval(scopes or "[]") if scope.startswith("network.")]
        if paths:
            modules.update(dict.fromkeys([node.name, *node.output], paths[-1][len("network.") :]))
    return modules


def node_parts(path: str | Path) -> dict[str, str]:
    """ONNX node name (and output name) -> part (models/groups.py), from `node_modules`."""
    return {name: part for name, module in node_modules(path).items() if (part := part_of(module))}


def quantized_in(scope: Int8Scope, module: str | None, stages: tuple[int, ...]) -> bool:
    """Whether int8 of ``scope`` quantizes the node of ``module`` (a `node_modules` path; None: the network's glue)
    in a trunk of ``stages`` (blocks per stage)."""
    if module is None or part_of(module) not in scope.parts:
        return False
    mlp = TRUNK_MLP.match(module)
    return not (mlp and int(mlp.group(1)) < sum(stages[: scope.bf16_mlp_stages]))


def check_views(model: MGDSAM2 | ExportedBackend, seed: int = 0) -> Views:
    """A seeded random input at the input size and grid of a network or an export (the export's example and the
    check of it and of its quantized forms)."""
    size = model.input_size
    return tile(torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed)), model.grid)


def torch_logits(network: MGDSAM2, views: Views) -> np.ndarray:
    """The network's float32 logits for ``views`` (what its exports are compared with)."""
    with torch.inference_mode():
        return network.eval()(views).logits.float().numpy()


# node metadata of torch's exporter that holds the exporting machine's source paths (its Python traceback per node)
STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def set_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Write ``metadata`` into the ONNX file ``path``, and drop the nodes' stack traces: they name the folders of the
    machine that exported it (its user name among them) in a file meant to be shared, and run nothing."""
    import onnx

    model = onnx.load(str(path))
    existing = {prop.key: prop for prop in model.metadata_props}
    for key, value in metadata.items():
        prop = existing.get(key) or model.metadata_props.add()
        prop.key, prop.value = key, value
    graphs = [model.graph, *model.functions]
    while graphs:  # the main graph, the functions, and the bodies of If, Loop and Scan nodes
        for node in graphs.pop().node:
            kept = [prop for prop in node.metadata_props if prop.key != STACK_TRACE_KEY]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
            for attribute in node.attribute:
                graphs += [*attribute.graphs, *([attribute.g] if attribute.HasField("g") else [])]
    onnx.save(model, str(path))


def compare(backend: ExportedBackend, expected: np.ndarray, views: Views) -> dict[str, float]:
    """How far the exported model's logits and probabilities on ``views`` are from PyTorch's, ``expected``
    (torch_logits; the seeded check input, or for a calibrated model an image like its calibration, not noise)."""
    expected = torch.from_numpy(expected)
    got = backend.logits(views)
    return {
        "max_abs_logit": float(expected.abs().max()),
        "max_abs_logit_diff": float((got - expected).abs().max()),
        "mean_abs_sigmoid_diff": float((got.sigmoid() - expected.sigmoid()).abs().mean()),
    }


@dataclass(frozen=True)
class OnnxExport:
    report: dict[str, float]  # "seconds" and compare's distance from PyTorch
    check_logits: np.ndarray  # PyTorch's logits on the check input (check_views), for the quantized forms


def export_onnx(
    network: MGDSAM2, path: str | Path, record: dict[str, str] | None = None, opset: int = OPSET
) -> OnnxExport:
    """Write the network as ONNX to ``path`` (atomically) and check it: a ConfigError unless its logits are within
    EXPORT_TOLERANCE of PyTorch's (relative to their scale)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxscript: pip install 'mgd-sam2[onnx]'") from None
    path = Path(path)
    network = network.eval()
    views = check_views(network)
    expected = torch_logits(network, views)
    start = time.perf_counter()
    with atomic_path(path) as temporary:
        with hiera_for_export(network):  # sam2's Hiera in forms OpenVINO runs faster (export_hiera.py)
            torch.onnx.export(
                ViewsToLogits(network).eval(),
                tuple(getattr(views, name) for name in ONNX_INPUTS),
                str(temporary),
                dynamo=True,
                opset_version=opset,
                input_names=list(ONNX_INPUTS),
                output_names=[ONNX_OUTPUT],
                external_data=False,
                verbose=False,
            )
        set_metadata(temporary, {
            "format": ONNX_FORMAT, "network": json.dumps(network.config.to_dict()), "grid": str(network.grid),
            "input_size": str(network.input_size), "opset": str(opset), "quantization": "none",
            "exporter": f"torch {torch.__version__}", **(record or {}),
        })  # fmt: skip
        report = {"seconds": time.perf_counter() - start, **compare(OnnxBackend(temporary), expected, views)}
        allowed = EXPORT_TOLERANCE * max(1.0, report["max_abs_logit"])
        if report["max_abs_logit_diff"] > allowed:
            raise ConfigError(
                f"the ONNX export differs from PyTorch by {report['max_abs_logit_diff']:.2e} in the logits (allowed "
                f"{allowed:.1e}); not written. Please report it with the preset and torch version."
            )
    return OnnxExport(report, expected)


def import_nncf():
    """NNCF (OpenVINO int8), or a one-line error saying how to install it."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # nncf's import: "No CUDA runtime is found"
    try:
        import nncf
    except ImportError:
        raise ConfigError("OpenVINO int8 needs nncf: pip install 'mgd-sam2[openvino]'") from None
    return nncf


def quantize_openvino(
    source: str | Path,
    path: str | Path,
    calibration: Sequence[Views],
    check: Sequence[Views],
    expected: np.ndarray,
    record: dict[str, str] | None = None,
) -> dict[str, float]:
    """OpenVINO int8 of an fp32 export (NNCF's post-training quantization with its transformer rules: int8
    MatMuls and convolutions in the `int8_scope` of the path ``record`` names;
    calibrated on ``calibration``, one image's views each), written as OpenVINO IR: ``path`` (.xml) and its
    weights beside it (.bin). An old .xml is removed first and the new one written last, so a reader never pairs
    an .xml with another export's .bin. Returns its distance from PyTorch's logits (``expected``) on ``check[0]``,
    the views of an image held out of the calibration, run in the precision predict runs the file in (``"bf16"``: bf16
    where ``record`` names it and OpenVINO has it; else fp32, predict's default for an export)."""
    nncf = import_nncf()
    ov = import_openvino()
    path = Path(path)
    scope = int8_scope(record)
    model = ov.Core().read_model(str(source))
    modules = node_modules(source)
    stages = trunk_stages(model)
    kept = [op.get_friendly_name() for op in model.get_ops()
            if not quantized_in(scope, openvino_part(op.get_friendly_name(), modules), stages)]  # fmt: skip
    if len(kept) == len(model.get_ops()):
        raise ConfigError(f"{source}: no node of the trunk or adapters found (no module paths recorded); export it "
                          "again with this torch version")  # fmt: skip
    data = nncf.Dataset(calibration, lambda views: {name: getattr(views, name).numpy() for name in ONNX_INPUTS})
    nncf.set_log_level(logging.ERROR)  # its INFO lines list every node it leaves alone
    with statistics_outputs_first():
        quantized = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration),
                                  ignored_scope=nncf.IgnoredScope(names=kept, validate=False))  # fmt: skip
    quantized.set_rt_info(f"int8 (OpenVINO NNCF, static, {len(calibration)} calibration images; {scope.describe()})",
                          ["framework", "quantization"])  # fmt: skip
    for key, value in (record or {}).items():  # where OpenVINO keeps an ONNX file's metadata
        quantized.set_rt_info(value, ["framework", key])
    path.parent.mkdir(parents=True, exist_ok=True)
    with temporary_folder(path.parent, path.name) as folder, disk_full_errors(path):
        ov.save_model(quantized, str(folder / "model.xml"), compress_to_fp16=False)
        path.unlink(missing_ok=True)
        os.replace(folder / "model.bin", path.with_suffix(".bin"))
        os.replace(folder / "model.xml", path)
    bf16 = (record or {}).get(RECORD_PRECISION) == "bf16-mixed" and openvino_has_bf16()
    return {**compare(OpenVinoBackend(path, bf16=bf16, cache=False), expected, check[0]), "bf16": bf16}


def openvino_part(name: str, parts: dict[str, str]) -> str | None:
    """What ``parts`` (`node_parts`, or `node_modules`) gives an OpenVINO node: OpenVINO and NNCF name the nodes
    they split or insert "<exported name>/..."."""
    return parts.get(name) or parts.get(name.split("/")[0])


class CalibrationViews(Sequence):
    """The views of each calibration image, read and cut as predict does, when used (NNCF passes over them
    twice, so they are not all held in memory)."""

    def __init__(self, images: Sequence[Path], input_size: int, grid: int) -> None:
        from mgd_sam2.data.datasets import Record, SegmentationDataset

        records = [Record(image.stem, "calibration", image) for image in images]
        self.dataset = SegmentationDataset(records, input_size, "predict", grid=grid)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Views:
        item = self.dataset[index]
        if "error" in item:
            raise ConfigError(f"--calibration: {item['error']}")
        return item["input"]


def int8_weights(source: str | Path, target: str | Path) -> None:
    """ONNX Runtime's dynamic int8 of the MatMul/Gemm weights of ``source`` (one scale per output channel), written
    to ``target``. The weights take 7 bits (-64 to 64, ONNX Runtime's ``reduce_range``): on x86 CPUs without VNNI,
    ONNX Runtime multiplies its unsigned 8-bit activations by the signed weights with an instruction that adds each
    pair of products in 16 bits, saturating past 32767; with 7-bit weights a pair is at most 255 × 64 × 2 = 32640, so
    every CPU computes the same integer sums (the accuracy measured on one holds on the others, up to floating-point
    rounding). ONNX Runtime logs a generic advice ("consider pre-processing") on the root logger at every call; it is
    not about our model, so it is kept out of our output."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = logging.Filter()
    advice.filter = lambda record: "pre-processing before quantization" not in record.getMessage()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul", "Gemm"],
                         weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)  # fmt: skip
    finally:
        logging.getLogger().removeFilter(advice)


def quantize_onnx(
    source: str | Path, path: str | Path, expected: np.ndarray, record: dict[str, str] | None = None
) -> dict[str, float]:
    """int8 weights for the MatMul/Gemm layers of an fp32 export; returns its distance from PyTorch's logits on the
    check input, ``expected`` (the accuracy cost; never applied unless asked for)."""
    with atomic_path(path) as temporary:
        int8_weights(source, temporary)
        quantization = "int8 (dynamic, MatMul/Gemm, per-channel 7-bit weights)"
        set_metadata(temporary, {"quantization": quantization, **(record or {})})
        backend = OnnxBackend(temporary)
        report = compare(backend, expected, check_views(backend))
    return report
