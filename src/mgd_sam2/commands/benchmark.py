"""``mgd-sam2 benchmark ACTION``: reproducible measurements, each printed as a table and optionally saved as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.cli import HelpFormatter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    data = actions.add_parser("data", help="data loader throughput and synthetic generator scaling", formatter_class=HelpFormatter)
    data.add_argument("--root", type=Path, default=Path("data"), help="data root; synthetic/ is generated there if missing")
    data.add_argument("--split", default="synthetic/SYN-TR", help="split to load")
    data.add_argument("--input-size", type=int, default=1024, help="model input side in pixels")
    data.add_argument("--workers", type=int, default=2, help="loader processes")
    data.add_argument("--batches", type=int, default=20, help="batches timed per loader (batch size 2)")
    data.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096], help="generator side lengths to time")
    data.add_argument("--json", type=Path, help="also write the results here")

    metrics = actions.add_parser("metrics", help="full evaluation vs pysodmetrics alone; HCE time vs image size", formatter_class=HelpFormatter)
    metrics.add_argument("--pairs", type=int, default=20, help="prediction/GT pairs of thin-structure masks")
    metrics.add_argument("--size", type=int, default=2048, help="side of each mask in pixels")
    metrics.add_argument("--workers", type=int, default=2, help="processes of our evaluator")
    metrics.add_argument("--hce-sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096], help="sides for the HCE scaling")
    metrics.add_argument("--json", type=Path, help="also write the results here")


def print_rows(title: str, rows: list[dict]) -> None:
    from rich.table import Table

    from mgd_sam2.utils.progress import console

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()])
    console().print(table)


def run(args: argparse.Namespace) -> int:
    results: dict = {}
    if args.action == "data":
        from mgd_sam2.benchmark.data_speed import generator_scaling, loader_throughput
        from mgd_sam2.data.synth import ensure_dataset

        if args.split.startswith("synthetic/"):
            ensure_dataset(args.root / "synthetic")
        results["loader"] = {"split": args.split, "input_size": args.input_size, "workers": args.workers,
                             **loader_throughput(args.root, args.split, args.input_size, args.workers, args.batches)}
        print_rows("data loader (batch 2)", [results["loader"]])
        results["generator"] = generator_scaling(args.sizes)
        print_rows("synthetic generator, seconds per image", results["generator"])
    elif args.action == "metrics":
        from mgd_sam2.benchmark.metrics_speed import full_evaluation, hce_scaling

        results["evaluation"] = full_evaluation(args.pairs, args.size, args.workers)
        print_rows("all metrics vs pysodmetrics alone (seconds)", [results["evaluation"]])
        results["hce"] = hce_scaling(args.hce_sizes)
        print_rows("HCE seconds per image", results["hce"])
    if args.json:
        from mgd_sam2.utils.files import write_json

        write_json(args.json, results)
    return 0
