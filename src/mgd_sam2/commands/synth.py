"""``mgd-sam2 synth``: generate the embedded synthetic high-resolution dataset (DIS5K layout)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.commands.arguments import non_negative_int, positive_int


def add_generator_arguments(parser: argparse.ArgumentParser, when: str = "") -> None:
    """The generator's settings (shared with `mgd-sam2 demo`, which generates the dataset when it is missing)."""
    parser.add_argument(
        "--num",
        type=positive_int,
        default=60,
        help=f"images of the training families: 20%% test, 15%% validation, the rest train{when}",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        nargs=2,
        default=(1024, 2048),
        metavar=("MIN", "MAX"),
        help=f"range of side lengths in pixels{when}",
    )
    parser.add_argument(
        "--held-out",
        type=non_negative_int,
        default=12,
        help=f"images of SYN-HO, drawn only from object and background families no other split uses{when}",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"), help="dataset folder to create (or finish)")
    add_generator_arguments(parser)
    parser.add_argument("--seed", type=non_negative_int, default=0, help="every image is a function of (seed, index)")
    parser.add_argument("--workers", type=non_negative_int, default=2, help="processes generating images (0: none)")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.synth import SynthConfig, write_dataset

    config = SynthConfig(
        num=args.num, seed=args.seed, min_size=args.size[0], max_size=args.size[1], held_out=args.held_out
    )
    counts = write_dataset(args.out, config, workers=args.workers)
    sizes = ", ".join(f"{split} {n}" for split, n in config.split_sizes().items())
    print(f"{args.out}: {sizes} ({counts['written']} written, {counts['kept']} already there)")
    return 0
