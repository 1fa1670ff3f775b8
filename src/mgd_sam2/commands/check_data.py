"""``mgd-sam2 check-data ROOT``: validate a dataset before training or testing on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.commands.arguments import add_workers_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="a split folder (with im/ and gt/), a dataset folder, or the data root")
    add_workers_argument(parser, "processes decoding files")
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors (non-zero exit)")
    parser.add_argument("--quiet", action="store_true", help="list errors only, not warnings")


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.data.check import (
        check_split,
        find_splits,
        folders_beside_splits,
        format_problems,
        misnamed_splits,
        summary_table,
        unarranged_datasets,
    )
    from mgd_sam2.errors import MissingFileError
    from mgd_sam2.utils.progress import console

    splits = find_splits(args.root)
    notes = unarranged_datasets(args.root)
    if not splits:
        raise MissingFileError(
            f"no split under {args.root}: a split is a folder with an image folder (im/, images/, ...) "
            "and a mask folder (gt/, masks/, ...); see data/README.md" + "".join(f"; {note}" for note in notes)
        )
    reports = [check_split(split, workers=args.workers) for split in splits]
    listing = format_problems(reports, warnings=not args.quiet)
    if listing:
        print(listing)
    console().print(summary_table(reports))
    for note in [*notes, *misnamed_splits(splits), *folders_beside_splits(args.root, splits)]:
        print(f"note: {note}")
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    failed = errors or (args.strict and warnings)
    print(f"{'FAILED' if failed else 'OK'}: {errors} errors, {warnings} warnings in {len(reports)} splits")
    return 1 if failed else 0
