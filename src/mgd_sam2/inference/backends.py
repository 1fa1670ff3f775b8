"""Backends that turn views into logits: the PyTorch network, or an ONNX export run by ONNX Runtime.

Both take the same :class:`~mgd_sam2.models.views.Views` (cut by ``data.views.tile``) and return float32
``(B, 1, S, S)`` logits on the CPU or the backend's device, so reading, resizing, TTA, turning logits into
8-bit maps and writing are one code path for both (inference/maps.py, inference/predict.py).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from mgd_sam2.errors import ConfigError, UserError
from mgd_sam2.models.network import MGDSAM2
from mgd_sam2.models.views import Views

ONNX_INPUTS = ("full", "local_views", "global_view")  # the fields of Views, in order
ONNX_OUTPUT = "logits"
ONNX_FORMAT = "mgd-sam2 onnx v1"  # metadata "format" of our exports


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


class OnnxBackend:
    """An exported network (``mgd-sam2 model export --onnx``) run by ONNX Runtime on the CPU, at the input size it
    was exported for; batches run one image at a time."""

    name = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("the ONNX backend needs onnxruntime: pip install 'mgd-sam2[onnx]'") from None
        path = Path(path)
        if not path.is_file():
            raise OnnxBackendError(f"ONNX file not found: {path}; write one with `mgd-sam2 model export --onnx`")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise OnnxBackendError(
                f"{path} is not a readable ONNX model ({str(error).splitlines()[0][:200]}); export it again"
            ) from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        if metadata.get("format") != ONNX_FORMAT:
            raise OnnxBackendError(f"{path} is an ONNX model, but not one exported by `mgd-sam2 model export --onnx`")
        self.grid, self.input_size = int(metadata["grid"]), int(metadata["input_size"])
        self.network_config = json.loads(metadata["network"])
        self.preset = self.network_config["preset"]
        self.quantization = metadata.get("quantization", "none")

    def logits(self, views: Views) -> Tensor:
        size = views.full.shape[-1]
        if not self.accepts(size):
            raise ConfigError(
                f"the ONNX model takes {self.input_size} px inputs, got {size} (TTA needs --backend torch)"
            )
        outputs = []
        for index in range(views.full.shape[0]):
            feed = {name: getattr(views, name)[index : index + 1].cpu().numpy() for name in ONNX_INPUTS}
            outputs.append(self.session.run([ONNX_OUTPUT], feed)[0])
        return torch.from_numpy(np.concatenate(outputs)).float()

    def accepts(self, size: int) -> bool:
        return size == self.input_size
