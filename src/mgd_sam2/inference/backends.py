"""Backends that turn views into logits: the PyTorch network, or an ONNX export run by ONNX Runtime or OpenVINO.

Each takes the same `Views` (cut by ``data.view_cutting.tile``) and returns float32
``(B, 1, S, S)`` logits on the CPU or the backend's device, so reading, resizing, TTA, turning logits into
8-bit maps and writing are one code path for all (inference/maps.py, inference/predict.py).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from mgd_sam2.errors import ConfigError, UserError
from mgd_sam2.inference.export_formats import EXPORT_FORMATS, RECORD_KIND, RECORD_PRECISION
from mgd_sam2.models.multi_view import Views
from mgd_sam2.models.network import MGDSAM2

ONNX_INPUTS = ("full", "local_views", "global_view")  # the fields of Views, in order
ONNX_OUTPUT = "logits"
ONNX_FORMAT = "mgd-sam2 onnx v1"  # metadata "format" of our exports
Shape = tuple[int | None, ...]  # a graph input's shape (None: a dynamic axis)


class Backend(Protocol):
    name: str
    preset: str
    grid: int
    input_size: int  # the side the network was built or exported for

    def logits(self, views: Views) -> Tensor: ...

    def accepts(self, size: int) -> bool: ...


class TorchBackend:
    """The PyTorch network, on ``device`` (None: where it is) under ``autocast_dtype`` (None: its own dtype)."""

    name = "torch"

    def __init__(
        self, network: MGDSAM2, device: torch.device | None = None, autocast_dtype: torch.dtype | None = None
    ) -> None:
        self.network, self.device, self.autocast_dtype = network, device, autocast_dtype
        self.grid, self.input_size, self.preset = network.grid, network.input_size, network.preset
        if device is not None:
            self.network.to(device)

    def logits(self, views: Views) -> Tensor:
        if self.device is not None:
            views = views.to(self.device)
        device_type = views.full.device.type
        autocast = (
            torch.autocast(device_type, dtype=self.autocast_dtype) if self.autocast_dtype else contextlib.nullcontext()
        )
        with autocast:
            return self.network(views).logits.float()

    def accepts(self, size: int) -> bool:
        return True  # any size that tiles (TTA scales included)


class OnnxBackendError(UserError, ValueError):
    """An ONNX file that cannot serve as a backend; the message says why and what to do."""


class ExportedBackend:
    """What the runtimes of an export (``mgd-sam2 model export --onnx``) share: its file's settings, read from the
    metadata the export wrote, and one image at a time at the input size it was exported for. A subclass sets
    ``name`` and ``runtime`` and implements ``run``."""

    name: str
    runtime: str  # the runtime's name, for descriptions

    def __init__(self, path: Path, metadata: dict[str, str], inputs: dict[str, Shape], outputs: list[str]) -> None:
        """``inputs``: the graph's input names and shapes (None: a dynamic axis); ``outputs``: its output names."""
        if metadata.get("format") != ONNX_FORMAT:
            raise OnnxBackendError(f"{path} is an ONNX model, but not one exported by `mgd-sam2 model export --onnx`")
        self.path = path
        try:
            self.grid, self.input_size = int(metadata["grid"]), int(metadata["input_size"])
            self.network_config = json.loads(metadata["network"])
            self.preset = self.network_config["preset"]
        except (KeyError, ValueError, TypeError) as error:
            raise OnnxBackendError(
                f"{path}: its mgd-sam2 metadata is incomplete ({error!r}); export it again"
            ) from None
        self.quantization = metadata.get("quantization", "none")
        self.chosen_for, self.recorded_precision = metadata.get(RECORD_KIND), metadata.get(RECORD_PRECISION)
        self.check_graph(inputs, outputs)

    def expected_inputs(self) -> dict[str, Shape]:
        """The inputs of an export of one image at ``input_size`` with ``grid`` (inference/export.py)."""
        size, grid = self.input_size, self.grid
        view = size // grid
        return {"full": (1, 3, size, size), "local_views": (1, grid * grid, 3, view, view),
                "global_view": (1, 3, view, view)}  # fmt: skip

    def check_graph(self, inputs: dict[str, Shape], outputs: list[str]) -> None:
        """A one-line error unless the graph takes and returns what its metadata says (metadata copied into another
        network's file would otherwise fail inside the runtime)."""
        expected = self.expected_inputs()
        if inputs != expected or ONNX_OUTPUT not in outputs:
            found = ", ".join(f"{name} {list(shape)}" for name, shape in inputs.items())
            wanted = ", ".join(f"{name} {list(shape)}" for name, shape in expected.items())
            raise OnnxBackendError(
                f"{self.path}: its graph does not match the mgd-sam2 metadata it carries (inputs {found}; outputs "
                f"{', '.join(outputs)}; an export of preset {self.preset} takes {wanted} and returns {ONNX_OUTPUT}): "
                "it is another network's file; export the model again with `mgd-sam2 model export --onnx`"
            )

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One image's ``ONNX_INPUTS`` (float32 arrays with a batch of 1) -> its (1, 1, S, S) logits."""
        raise NotImplementedError

    def logits(self, views: Views) -> Tensor:
        size = views.full.shape[-1]
        if not self.accepts(size):
            raise ConfigError(
                f"the ONNX model takes {self.input_size} px inputs, got {size} (TTA needs --backend torch)"
            )
        outputs = []
        for index in range(views.full.shape[0]):
            feed = {name: getattr(views, name)[index : index + 1].cpu().numpy() for name in ONNX_INPUTS}
            outputs.append(self.run(feed))
        return torch.from_numpy(np.concatenate(outputs)).float()

    def accepts(self, size: int) -> bool:
        return size == self.input_size

    def details(self) -> str:
        """What the description adds after the runtime's name ("": nothing)."""
        return ""

    def describe(self) -> str:
        quantized = "" if self.quantization == "none" else f", {self.quantization}"
        details = f", {self.details()}" if self.details() else ""
        chosen = ""
        if self.chosen_for:
            from mgd_sam2.inference.cpu_kind import detect_cpu_kind
            from mgd_sam2.inference.fastest import FASTEST, writes_the_same

            here = detect_cpu_kind().kind
            if self.chosen_for not in FASTEST:  # recorded by another version of this project
                other = (f"; a CPU kind this version does not know, so export again with --fastest on this machine "
                         f"(its kind: {here})")  # fmt: skip
            elif here == self.chosen_for:
                other = ""
            elif writes_the_same(here, self.chosen_for):  # e.g. avx512's ONNX Runtime int8 is avx2's
                other = f"; this CPU is of kind {here}, for which --fastest writes this same form"
            else:
                # OpenVINO int8 where --fastest chose ONNX Runtime int8, the kinds measured without VNNI
                saturated = (
                    " (OpenVINO int8's maps were past the demo model's bounds on CPUs without VNNI)"
                    if FASTEST[self.chosen_for].backend == "openvino-int8" and here in ("avx2", "avx512")
                    else ""
                )
                other = (f"; this CPU is of kind {here}, for which --fastest chooses {FASTEST[here].describe()}"
                         f"{saturated}, so export again with --cpu-kind {here}, or on this machine")  # fmt: skip
            chosen = (f"; chosen by model export --fastest for {self.chosen_for} CPUs, to run in "
                      f"{self.recorded_precision}{other}")  # fmt: skip
        return f"{model_kind(self.path)} {self.path} (preset {self.preset}{quantized}, {self.runtime}{details}{chosen})"


def existing_export(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise OnnxBackendError(f"ONNX file not found: {path}; write one with `mgd-sam2 model export --onnx`")
    return path


def model_kind(path: Path) -> str:
    """ "OpenVINO IR model" for a .xml (``model export --openvino-int8``), else "ONNX model" (`EXPORT_FORMATS`)."""
    return f"{EXPORT_FORMATS.get(path.suffix, EXPORT_FORMATS['.onnx'])} model"


def unreadable(path: Path, error: Exception) -> OnnxBackendError:
    reason = openvino_weights_problem(path) if path.suffix == ".xml" else None
    if reason is not None:
        return OnnxBackendError(
            f"OpenVINO model {path}: {reason}; copy the .xml and its .bin together, or export again "
            "(`mgd-sam2 model export --openvino-int8 OUT.xml` writes both)"
        )
    return OnnxBackendError(f"{path} is not a readable {model_kind(path)} ({runtime_reason(error)}); export it again")


# OpenVINO's lines that only name its own source: "Exception from src/inference/src/cpp/core.cpp:117:", and "Check
# 'shape.compatible(...)' failed at src/plugins/intel_cpu/src/infer_request.cpp:385:" before the sentence that says why.
SOURCE_LINE = re.compile(r"Exception from \S+:\d+:|Check '.*' failed at \S+:\d+:")


def runtime_reason(error: Exception) -> str:
    """The first line of a runtime's error that says something: OpenVINO's first lines only name its own source
    files (``SOURCE_LINE``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line for line in lines if not SOURCE_LINE.fullmatch(line)]
    return (said or lines or [type(error).__name__])[0][:200]


def openvino_ir_problem(path: Path) -> str | None:
    """Why ``path`` is not OpenVINO IR (an XML file whose root element is ``<net>``), read from its first element
    without OpenVINO, whose readers of other formats would first print parse errors of their own (a renamed
    checkpoint); None where it is."""
    import xml.etree.ElementTree as ElementTree

    try:
        _, root = next(ElementTree.iterparse(path, events=("start",)))
    except (ElementTree.ParseError, StopIteration, LookupError):  # LookupError: an encoding Python does not know
        return "not an XML file"
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    return None if root.tag == "net" else f"an XML file whose root is <{root.tag}>, not OpenVINO's <net>"


def recorded_precision(path: str | Path) -> str | None:
    """The precision ``model export --fastest`` recorded in an OpenVINO .xml (its rt_info, where OpenVINO keeps an ONNX
    file's metadata), read without OpenVINO; None for another file or none recorded. (ONNX files record 32-true
    only: ONNX Runtime runs fp32.)"""
    import xml.etree.ElementTree as ElementTree

    path = Path(path)
    if path.suffix != ".xml" or not path.is_file():
        return None
    try:
        found = ElementTree.parse(path).find(f"rt_info/framework/{RECORD_PRECISION}")
    except (ElementTree.ParseError, OSError, LookupError):
        return None  # the backend's load says what is wrong with it
    return None if found is None else found.get("value")


def openvino_weights_problem(path: Path) -> str | None:
    """What is wrong with the weights file (.bin) of the OpenVINO IR ``path``: missing, or shorter than the
    offsets its constants name; None when neither."""
    import xml.etree.ElementTree as ElementTree

    weights = path.with_suffix(".bin")
    if not weights.is_file():
        return f"its weights file {weights} is missing"
    try:
        constants = [data for data in ElementTree.parse(path).iter("data") if "offset" in data.attrib]
        needed = max((int(data.get("offset")) + int(data.get("size", 0)) for data in constants), default=0)
    except (ElementTree.ParseError, ValueError, LookupError):
        return None
    size = weights.stat().st_size
    if size < needed:
        return f"its weights file {weights} is {size} bytes, shorter than the {needed} its constants need (truncated)"
    return None


class OnnxBackend(ExportedBackend):
    """An export run by ONNX Runtime on the CPU in fp32 (or with the int8 file's weights)."""

    name, runtime = "onnx", "ONNX Runtime"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("the ONNX backend needs onnxruntime: pip install 'mgd-sam2[onnx]'") from None
        path = existing_export(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise unreadable(path, error) from error
        inputs = {
            node.name: tuple(d if isinstance(d, int) else None for d in node.shape)
            for node in self.session.get_inputs()
        }
        outputs = [node.name for node in self.session.get_outputs()]
        super().__init__(path, self.session.get_modelmeta().custom_metadata_map, inputs, outputs)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([ONNX_OUTPUT], feed)[0]


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise ConfigError("the OpenVINO backend needs openvino: pip install 'mgd-sam2[openvino]'") from None
    return openvino


def openvino_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin reports native bf16 kernels here (BF16 among its optimization capabilities;
    AVX512-BF16 or AMX, for example). Under oneDNN's ISA limit (cpu_kind.ONEDNN_SWITCHES) the plugin still reports the
    CPU's capabilities while its oneDNN kernels obey the limit (bf16 then fails to compile), so there the CPU's flags
    and the limit decide (devices.cpu_has_native_bf16)."""
    from mgd_sam2.inference.cpu_kind import ONEDNN_SWITCHES, isa_limits
    from mgd_sam2.inference.devices import cpu_has_native_bf16

    if set(ONEDNN_SWITCHES) & set(isa_limits()) and not cpu_has_native_bf16():
        return False
    return "BF16" in import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_properties(precision: str, threads: int | None = None) -> dict[str, Any]:
    """How we compile for OpenVINO's CPU plugin: ``precision`` ("f32" or "bf16") always set (OpenVINO would otherwise
    choose bf16 by itself where the CPU has it), one request's latency first, ``threads`` where given."""
    properties: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        properties["INFERENCE_NUM_THREADS"] = threads
    return properties


def require_openvino_bf16() -> None:
    """A one-line error unless OpenVINO has native bf16 kernels on this CPU (without them it would not run bf16)."""
    if not openvino_has_bf16():
        raise ConfigError(
            "bf16 with the openvino backend: OpenVINO reports no native bf16 kernels on this CPU; use fp32 "
            "(--precision 32-true)"
        )


class OpenVinoBackend(ExportedBackend):
    """An export run by OpenVINO on the CPU, in fp32 or (``bf16``, where the CPU has native bf16 kernels) bf16.

    OpenVINO picks bf16 by itself on such CPUs; here the precision is always the one asked for. One infer request
    runs the model, one call at a time (a lock: calls from several threads shared its input and output buffers, and
    got each other's logits). Compiled models
    are cached under ``cache_dir("openvino")/<precision>`` (keyed by the model's content), so only a file's first
    load takes its compile time; ``cache=False`` for throwaway files. ``profiling``: per-node counters for
    ``request.get_profiling_info()`` (benchmark/profile.py).
    """

    name, runtime = "openvino", "OpenVINO"

    def __init__(
        self,
        path: str | Path,
        bf16: bool = False,
        threads: int | None = None,
        cache: bool = True,
        profiling: bool = False,
    ) -> None:
        from mgd_sam2.utils.cache import cache_dir
        from mgd_sam2.utils.progress import console

        ov = import_openvino()
        path = existing_export(path)
        if bf16:
            require_openvino_bf16()
        if path.suffix == ".xml" and (problem := openvino_ir_problem(path)):
            raise OnnxBackendError(f"{path} is not OpenVINO IR ({problem}): give the .xml that `mgd-sam2 model "
                                   "export --openvino-int8` wrote")  # fmt: skip
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as error:  # OpenVINO raises RuntimeError subclasses for bad files
            raise unreadable(path, error) from error
        metadata = {}
        if model.has_rt_info(["framework"]):  # where OpenVINO keeps an ONNX file's metadata
            metadata = {key: value.astype(str) for key, value in model.get_rt_info(["framework"]).astype(dict).items()}
        inputs = {
            node.get_any_name(): tuple(d.get_length() if d.is_static else None for d in node.get_partial_shape())
            for node in model.inputs
        }
        outputs = [name for node in model.outputs for name in node.get_names()]
        super().__init__(path, metadata, inputs, outputs)
        self.precision = "bf16" if bf16 else "f32"
        properties = {**openvino_properties(self.precision, threads), "PERF_COUNT": profiling}
        if cache:  # one folder per precision: OpenVINO 2026.4's cache key leaves the precision out (docs/design.md)
            properties["CACHE_DIR"] = str(cache_dir("openvino") / self.precision)
        note = " (a file's first load only; cached after)" if cache else ""
        try:
            with console().status(f"compiling {path.name} for OpenVINO{note}"):
                self.compiled = core.compile_model(model, "CPU", properties)
        except RuntimeError as error:  # e.g. a full or unwritable cache folder, an operator OpenVINO cannot run
            other = ("run the ONNX export it was quantized from with ONNX Runtime (--ckpt MODEL.onnx)"
                     if path.suffix == ".xml" else "use --backend onnx")  # fmt: skip
            raise OnnxBackendError(
                f"OpenVINO could not compile {path} ({runtime_reason(error)}); with a full or unwritable "
                f"{properties.get('CACHE_DIR', 'cache')}, set MGD_SAM2_CACHE to a writable folder, else {other}"
            ) from error
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        with self.lock:
            return self.request.infer(feed)[ONNX_OUTPUT].copy()  # the request reuses its output buffer

    def details(self) -> str:
        return "bf16" if self.precision == "bf16" else "fp32"
