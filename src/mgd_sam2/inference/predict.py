"""The predict loop: image files -> views (loader workers) -> a backend -> 8-bit maps -> a writer (its own thread)."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mgd_sam2.data.datasets import PredictBatch, Record, SegmentationDataset, collate
from mgd_sam2.data.io import DEFAULT_MAX_PIXELS
from mgd_sam2.errors import ConfigError
from mgd_sam2.inference.backends import Backend, TorchBackend
from mgd_sam2.inference.detail import OFF, Detail
from mgd_sam2.inference.maps import TTA_SCALES, predict_logits, to_uint8_maps, tta_input_sizes
from mgd_sam2.inference.refine import detail_map
from mgd_sam2.inference.writer import MaskWriter
from mgd_sam2.utils.interrupts import interrupt_once
from mgd_sam2.utils.progress import progress_bar

PENDING_WRITES = 2  # batches of maps held at once, the writer thread's and the newest: bounds their memory


def predict_batch(
    backend: Backend, batch: PredictBatch, tta: bool = False, detail: Detail = OFF, show: bool = False
) -> dict[str, Any]:
    """A collated predict batch -> {"maps": [(H, W) uint8 at each original size], "name", "path", "errors"}.

    Images that failed to load pass through as ``errors`` for the writer to report. With a ``detail`` mode other than
    off, each image is then refined in turn from its pixels (``batch["image"]``; inference/detail.py), ``show``: with
    a progress line for images of many parts.
    """
    maps = []
    if "input" in batch:
        logits = predict_logits(backend, batch["input"], tta=tta)
        if detail.mode == "off":
            maps = [m.cpu() for m in to_uint8_maps(logits, batch["size"])]
        else:
            maps = [detail_map(backend, logit[None], image, detail, tta=tta, show=show).cpu()
                    for logit, image in zip(logits, batch["image"], strict=True)]  # fmt: skip
    return {"maps": maps, **{key: batch.get(key, []) for key in ("path", "name", "errors")}}


def check_tta(backend: Backend, tta: bool) -> None:
    """Refuse TTA on a backend that runs one input size only (an export)."""
    if tta and not all(backend.accepts(side) for side in tta_input_sizes(backend.input_size, backend.grid)):
        raise ConfigError(f"--tta needs inputs of other sizes than the {backend.name} model's; use --backend torch")


def tta_note(backend: Backend) -> str | None:
    """A note where TTA's scales round to fewer input sizes than they are (a small model's input: 64 px gives
    64 three times), so that its six passes are fewer distinct ones; None where each scale has its own."""
    sizes = tta_input_sizes(backend.input_size, backend.grid)
    if len(set(sizes)) == len(sizes):
        return None
    shown = ", ".join(str(side) for side in sizes)
    scales = ", ".join(f"{scale:g}" for scale in TTA_SCALES)
    differ = "the flip only, each pass repeated" if len(set(sizes)) == 1 else "the flip and those sizes only"
    return (f"note: at this model's {backend.input_size} px input, TTA's scales {scales} round to {shown} px "
            f"(inputs that tile into the views): its {2 * len(sizes)} passes differ by {differ}")  # fmt: skip


def backend_device(backend: Backend) -> torch.device:
    """Where ``backend`` runs: its device, or for a TorchBackend left where it is, its network's (ONNX: the CPU)."""
    device = getattr(backend, "device", None)
    if device is None and isinstance(backend, TorchBackend):
        device = next(backend.network.parameters()).device
    return device or torch.device("cpu")


def loader_workers(backend: Backend) -> int:
    """predict's default loader processes: 2 while a GPU runs the network; 0 on the CPU, whose cores the network's
    threads already use, so that reader processes would only take cores from it (measured: docs/speed-runs.md,
    End to end)."""
    return 2 if backend_device(backend).type == "cuda" else 0


def predict_files(
    backend: Backend,
    images: list[Record] | list[str | Path],
    writer: MaskWriter,
    batch_size: int = 1,
    workers: int | None = None,
    tta: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    show: bool = True,
    detail: Detail = OFF,
) -> MaskWriter:
    """Predict ``images`` (records named by their outputs, or image paths named by their stems) with ``backend``
    and save with ``writer`` (returned, with its ``written`` and ``failures``).

    Images are read, resized and cut into views in ``workers`` loader processes while the network runs (None:
    `loader_workers`); the maps are encoded and saved in one writer thread while the next batch runs (Pillow
    encodes without holding the GIL), in order, with at most `PENDING_WRITES` batches of maps held; a write's error
    is raised here before the next batch runs, and on any error the writes still queued are dropped (each file is
    written atomically); the writer's summary (files written, images skipped) is printed in any case. ``detail``: a
    detail mode (inference/detail.py).
    """
    check_tta(backend, tta)
    records = [item if isinstance(item, Record) else Record(Path(item).stem, "predict", Path(item)) for item in images]
    dataset = SegmentationDataset(
        records, backend.input_size, "predict", grid=backend.grid, max_pixels=max_pixels,
        keep_images=detail.mode != "off",
    )  # fmt: skip
    device = backend_device(backend)
    cuda = device.type == "cuda"
    workers = loader_workers(backend) if workers is None else workers
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate, pin_memory=cuda)
    pending: deque[Future] = deque()
    try:
        with (
            interrupt_once("the write under way"),  # a second Ctrl-C must not cut short the wait for it
            torch.inference_mode(),
            progress_bar(len(records), "predicting", show=show) as advance,
            ThreadPoolExecutor(1, thread_name_prefix="mask-writer") as writing,
        ):
            # its thread starts with a task that writes nothing: the executor registers a thread (which its shutdown
            # joins) after starting it, so a Ctrl-C at a first submit that writes would leave that write unjoined
            writing.submit(int).result()
            try:
                for batch in loader:
                    if len(pending) == PENDING_WRITES:
                        pending.popleft().result()
                    if "input" in batch:  # on the CPU a no-op, the same call as on a GPU
                        batch["input"] = batch["input"].to(device, non_blocking=cuda)
                    prediction = predict_batch(backend, batch, tta=tta, detail=detail, show=show)
                    pending.append(writing.submit(writer.write, prediction))
                    advance(len(batch.get("name", [])) + len(batch.get("errors", [])))
                while pending:
                    pending.popleft().result()
            except BaseException:
                writing.shutdown(cancel_futures=True)  # the write under way ends; an error it raises is this one's
                raise
    finally:  # also after an error or Ctrl-C: what was written, and the images skipped before it
        writer.finish()
    return writer
