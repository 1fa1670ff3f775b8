"""Under DDP (2 CPU processes, gloo) the metrics give exactly the one-process result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from mgd_sam2.metrics.pairs import image_pairs
from mgd_sam2.metrics.sod import build_metrics, reordering_bound, scalar_results
from mgd_sam2.utils.ports import free_port
from test_metrics import CASES

SMALL_CASES = [case for case in CASES if case[1].size < 500_000]


def score_shard(rank: int, world_size: int, port: int, out: str, cache: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        metrics = build_metrics(skeleton_cache=cache)
        shard = SMALL_CASES[rank::world_size]  # disjoint shards of different lengths
        metrics.update(image_pairs([pred for _, pred, _ in shard], [gt for _, _, gt in shard]))
        result = scalar_results(metrics.compute())  # compute() all-reduces the sum states
        result["n_per_image"] = len(gathered_per_image(metrics["S"]))
        if rank == 0:
            Path(out).write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def gathered_per_image(metric) -> list[float]:
    """Per-image S-measures of every process."""
    metric.sync()
    values = metric.per_image()["Smeasure"].tolist()
    metric.unsync()
    return values


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp.json"
    mp.spawn(score_shard, args=(2, free_port(), str(out), str(tmp_path / "cache")), nprocs=2, join=True)
    distributed = json.loads(out.read_text())
    single = build_metrics(skeleton_cache=tmp_path / "cache")
    single.update(image_pairs([pred for _, pred, _ in SMALL_CASES], [gt for _, _, gt in SMALL_CASES]))
    expected = scalar_results(single.compute())
    assert distributed.pop("n_per_image") == len(SMALL_CASES)
    assert set(distributed) == set(expected)
    for key, value in expected.items():  # the same per-image values, summed in another order
        assert distributed[key] == pytest.approx(value, abs=0, rel=reordering_bound(len(SMALL_CASES))), key
