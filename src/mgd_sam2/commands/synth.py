"""``mgd-sam2 synth``: generate the embedded synthetic high-resolution dataset (DIS5K layout)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"), help="dataset folder to create (or finish)")
    parser.add_argument(
        "--num", type=int, default=60, help="images in all splits (20%% test, 15%% validation, rest train)"
    )
    parser.add_argument("--seed", type=int, default=0, help="every image is a function of (seed, index)")
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(1024, 2048),
        metavar=("MIN", "MAX"),
        help="range of side lengths in pixels",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes generating images")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.synth import SynthConfig, write_dataset

    config = SynthConfig(num=args.num, seed=args.seed, min_size=args.size[0], max_size=args.size[1])
    counts = write_dataset(args.out, config, workers=args.workers)
    sizes = ", ".join(f"{split} {n}" for split, n in config.split_sizes().items())
    print(f"{args.out}: {sizes} ({counts['written']} written, {counts['kept']} already there)")
    return 0
