"""``mgd-sam2 evaluate``: score a folder of saved predictions against GT masks (protocol: docs/design.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mgd_sam2.commands.arguments import add_workers_argument, comma_list
from mgd_sam2.metrics.functional import HCE_BINARIZATIONS
from mgd_sam2.metrics.sod import METRIC_CLASSES
from mgd_sam2.metrics.tables import LAYOUTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pred",
        type=Path,
        nargs="+",
        required=True,
        help="folder of 8-bit prediction maps (PNG), one per GT, same stem; RGBA maps are read from their alpha, "
        "and predict's <stem>_cutout.png files are left out. Several folders (methods) give a row each in one table",
    )
    parser.add_argument(
        "--gt", type=Path, required=True, help="folder of GT masks (foreground > 128; 0/1 label maps read as 0/255)"
    )
    parser.add_argument("--json", type=Path, help="write scores (pysodmetrics key names), curves and versions here")
    parser.add_argument("--csv", type=Path, help="write per-image values here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument(
        "--metrics",
        type=comma_list(str, METRIC_CLASSES),
        default=list(METRIC_CLASSES),
        help=f"comma-separated subset of {','.join(METRIC_CLASSES)} (default: all)",
    )
    parser.add_argument(
        "--hce-binarize",
        choices=HCE_BINARIZATIONS,
        default="dis",
        help="HCE prediction binarisation: 'dis' = raw > 128 (DIS repository, used for DIS5K tables); "
        "'pysod' = min-max normalised > 0.5 (pysodmetrics)",
    )
    parser.add_argument(
        "--layout", choices=list(LAYOUTS), default="all", help="table columns: DIS paper, HRSOD papers, or all"
    )
    parser.add_argument(
        "--name",
        nargs="+",
        default=None,
        help="row name in the table, one per --pred folder (default: each folder's name; where two folders share it, "
        "parent/name)",
    )
    add_workers_argument(
        parser, "processes computing the per-image measures (fewer when memory is short for the largest pair)"
    )
    parser.add_argument(
        "--resize-pred", action="store_true", help="resize predictions not at GT size bilinearly instead of failing"
    )
    parser.add_argument(
        "--no-skeleton-cache", action="store_true", help="recompute GT skeletons for HCE instead of caching them"
    )


def row_names(folders: list[Path], names: list[str] | None) -> list[str]:
    """The table's row name of each prediction folder: ``names`` as given (one per folder, all different), else the
    folder's name, or parent/name where two folders share a name (methodA/DIS-TE1 and methodB/DIS-TE1)."""
    from mgd_sam2.errors import ConfigError

    if names is None:
        names = [folder.name for folder in folders]
        names = [f"{folder.parent.name}/{folder.name}" if names.count(folder.name) > 1 else folder.name
                 for folder in folders]  # fmt: skip
    elif len(names) != len(folders):
        raise ConfigError(f"--name gives {len(names)} row names for {len(folders)} --pred folders: give one per folder")
    if len(set(names)) < len(names):
        raise ConfigError(f"rows would share a name ({', '.join(names)}): give --name, one per --pred folder")
    return names


def run(args: argparse.Namespace) -> int:
    from mgd_sam2.metrics.evaluate import EvaluationError, checked_pairs, evaluate_folders, per_image_csv, versions
    from mgd_sam2.metrics.tables import columns, markdown_table, rich_table
    from mgd_sam2.utils.files import check_output_file, write_json, write_text
    from mgd_sam2.utils.progress import console

    for flag in ("json", "csv", "markdown"):
        if getattr(args, flag):
            check_output_file(getattr(args, flag), f"--{flag}")
    names = row_names(args.pred, args.name)
    if len(names) > 1:  # every folder's files checked before any is scored, as one folder's are
        problems = []
        for name, folder in zip(names, args.pred, strict=True):
            try:
                checked_pairs(folder, args.gt, args.resize_pred)
            except EvaluationError as error:
                problems.append(f"{name}: {error}")
        if problems:
            raise EvaluationError("\n".join(problems))
    results = {}
    for name, folder in zip(names, args.pred, strict=True):
        results[name] = evaluate_folders(
            folder,
            args.gt,
            args.metrics,
            hce_binarize=args.hce_binarize,
            skeleton_cache=not args.no_skeleton_cache,
            workers=args.workers,
            resize_pred=args.resize_pred,
        )
    shared = [note for note in results[names[0]].notes if all(note in result.notes for result in results.values())]
    for note in shared:  # the GT's, said once
        print(f"note: {note}")
    for name, result in results.items():
        for note in result.notes:
            if note not in shared:
                print(f"note: {name}: {note}")
    shown = {key for key, _ in columns(args.layout)}
    hidden = [name for name in args.metrics if not shown & set(METRIC_CLASSES[name].SCALARS)]
    table_notes = []
    if hidden and set(args.metrics) != set(METRIC_CLASSES):  # asked for by name, no column in the paper's table
        table_notes.append(f"computed but not a column of --layout {args.layout}: {', '.join(hidden)} (--json and "
                           "--csv have them; --layout all shows every column)")  # fmt: skip
    for note in table_notes:
        print(f"note: {note}")
    rows = {name: result.scores for name, result in results.items()}
    first = next(iter(results.values()))
    binarised = f", HCE binarisation '{args.hce_binarize}'" if "HCE" in shown & set(first.scores) else ""
    console().print(rich_table(rows, args.layout, f"{first.num_images} images{binarised}", computed=True))
    if args.json:
        methods = {
            name: {
                "scores": result.scores,
                "num_images": result.num_images,
                "pred": str(folder),
                "notes": result.notes,
                "curves": result.curves,
            }
            for (name, result), folder in zip(results.items(), args.pred, strict=True)
        }
        settings = {"gt": str(args.gt), "hce_binarize": args.hce_binarize, "metrics": args.metrics,
                    "resize_pred": args.resize_pred, "versions": versions()}  # fmt: skip
        if len(methods) == 1:  # one folder: its entries at the top level, as before
            one = next(iter(methods.values()))
            write_json(args.json, {**one, **settings, "notes": one["notes"] + table_notes})
        else:
            write_json(args.json, {"methods": methods, **settings, "notes": table_notes})
    if args.csv:
        write_text(args.csv, per_image_csv({name: result.per_image for name, result in results.items()}))
    if args.markdown:
        write_text(args.markdown, markdown_table(rows, args.layout, computed=True))
    return 0
