"""How fast the data pipeline feeds the model, and how the synthetic generator scales with image size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mgd_sam2.data.datamodule import SegmentationDataModule
from mgd_sam2.data.synth import SampleWriter, SynthConfig, generate_sample


def loader_throughput(
    root: Path, split: str, input_size: int, workers: int, batches: int, batch_size: int = 2
) -> dict[str, float]:
    """Images/s delivered by the training and the evaluation loaders (after one warm-up batch)."""
    settings = dict(root=str(root), input_size=input_size, batch_size=batch_size, eval_batch_size=batch_size,
                    num_workers=workers, check=False)  # fmt: skip
    training, evaluation = (
        SegmentationDataModule(train=[split], **settings),
        SegmentationDataModule(val=[split], **settings),
    )
    training.setup("fit")  # the one split, timed by each loader (a fit would refuse it as both)
    evaluation.setup("validate")
    results = {}
    for mode, loader in (("train", training.train_dataloader()), ("eval", evaluation.val_dataloader()[0])):
        iterator = iter(loader)
        next(iterator)  # workers started, first batch out
        start, images = time.perf_counter(), 0
        for _ in range(batches):
            try:
                batch = next(iterator)
            except StopIteration:
                iterator = iter(loader)
                batch = next(iterator)
            images += batch["input"].full.shape[0]
        results[f"{mode}_images_per_s"] = images / (time.perf_counter() - start)
    return results


def generator_scaling(sizes: list[int], repeats: int = 3) -> list[dict[str, float]]:
    """Seconds per image to draw (generate_sample) and to draw + encode + write (JPEG + PNG), per side length."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            config = SynthConfig(num=repeats + 2, min_size=size, max_size=size)
            start = time.perf_counter()
            for index in range(repeats):
                generate_sample(config.seed, index, size, size)
            draw = (time.perf_counter() - start) / repeats
            writer = SampleWriter(Path(folder) / str(size), config)
            start = time.perf_counter()
            for index in range(repeats):
                writer(("SYN-TR", index))
            total = (time.perf_counter() - start) / repeats
            rows.append({"size": size, "megapixels": size * size / 1e6, "draw_s": draw, "draw_and_write_s": total})
    return rows
