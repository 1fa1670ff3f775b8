"""The predict loop: image files -> views (loader workers) -> network -> 8-bit maps -> a writer."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mgd_sam2.data.datasets import Record, SegmentationDataset, collate
from mgd_sam2.data.io import DEFAULT_MAX_PIXELS
from mgd_sam2.inference.devices import resolve_device
from mgd_sam2.inference.maps import predict_logits, to_uint8_maps
from mgd_sam2.inference.writer import MaskWriter
from mgd_sam2.models.network import MGDSAM2
from mgd_sam2.utils.progress import progress_bar


def predict_batch(model: MGDSAM2, batch: dict[str, Any], tta: bool = False) -> dict[str, Any]:
    """A collated predict batch -> {"maps": [(H, W) uint8 at each original size], "name", "path", "errors"}.

    Images that failed to load pass through as ``errors`` for the writer to report.
    """
    maps = []
    if "input" in batch:
        logits = predict_logits(model, batch["input"], tta=tta)
        maps = [m.cpu() for m in to_uint8_maps(logits, batch["size"])]
    return {
        "maps": maps,
        "path": batch.get("path", []),
        "name": batch.get("name", []),
        "errors": batch.get("errors", []),
    }


def predict_files(
    model: MGDSAM2,
    images: list[Record] | list[str | Path],
    writer: MaskWriter,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 1,
    workers: int = 2,
    tta: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    show: bool = True,
) -> MaskWriter:
    """Predict ``images`` (records named by their outputs, or image paths named by their stems) with ``model``
    and save with ``writer`` (returned, with its ``written`` and ``failures``).

    Images are read, resized and cut into views in ``workers`` loader processes while the network runs.
    """
    target, autocast_dtype = resolve_device(device, precision)
    records = [item if isinstance(item, Record) else Record(Path(item).stem, "predict", Path(item)) for item in images]
    dataset = SegmentationDataset(records, model.input_size, "predict", grid=model.grid, max_pixels=max_pixels)
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate, pin_memory=target.type == "cuda"
    )
    model = model.to(target).eval()
    autocast = torch.autocast(target.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with torch.inference_mode(), autocast, progress_bar(len(records), "predicting", show=show) as advance:
        for batch in loader:
            if "input" in batch:
                batch["input"] = batch["input"].to(target)
            writer.write(predict_batch(model, batch, tta=tta))
            advance(len(batch.get("name", [])) + len(batch.get("errors", [])))
    writer.finish()
    return writer
