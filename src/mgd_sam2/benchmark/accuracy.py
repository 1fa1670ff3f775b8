"""``benchmark accuracy``: the published tables (docs/design.md, evaluation) for every benchmark split that is present.

Each split is predicted to 8-bit PNGs at GT resolution (``Segmenter.predict_files``, predict's path) and those
files are scored with the folder evaluator. Other methods' saved predictions (``saved``: a folder per split, named as
the split) go through the same evaluator into the same tables.
Every split is checked as training and testing check theirs (``check-data``'s errors: an image without its mask,
sizes that differ, ...) before any is predicted. Splits that are missing get a note; with none present, the synthetic
dataset stands in so the command always shows its output, unless the root holds other folders (image/mask folders
in another layout, a root one level too deep, a dataset unpacked as its archive ships): that is an error, and no
synthetic set is written beside them.
The settings the scores depend on (TTA, backend, precision, weights, batch size) are written with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mgd_sam2.data.check import find_splits, require_clean
from mgd_sam2.data.datasets import split_records
from mgd_sam2.data.io import list_images, provenance
from mgd_sam2.data.layouts import DATASETS, DatasetLayoutError, Split, download_hint, resolve_split
from mgd_sam2.errors import some_of
from mgd_sam2.inference.writer import MaskWriter, OutputPlan, plan_outputs
from mgd_sam2.metrics.evaluate import EvaluationError, checked_pairs, evaluate_folders, versions
from mgd_sam2.metrics.tables import (
    BENCHMARK_SPLITS,
    BENCHMARKS,
    DIS_TEST_SPLITS,
    OVERALL,
    PUBLISHED_IMAGES,
    csv_table,
    markdown_table,
    with_dis_overall,
)
from mgd_sam2.utils.cache import cache_dir
from mgd_sam2.utils.files import atomic_path, write_json, write_text

if TYPE_CHECKING:
    from mgd_sam2.inference.segmenter import Segmenter

SYNTHETIC: dict[str, tuple[str, list[str]]] = {
    "dis": (
        "Synthetic stand-in (no benchmark dataset found; DIS table layout)",
        ["synthetic/SYN-VD", "synthetic/SYN-TE"],
    ),
}
REPORT_MARKDOWN, REPORT_JSON = "accuracy.md", "accuracy.json"  # beside a CSV table per layout, `table_file`
# the curve plots: {file name: (x curve or None for the threshold, y curve, x label, y label)}
CURVE_PLOTS: dict[str, tuple[str | None, str, str, str]] = {
    "pr_curves.png": ("recall_curve", "precision_curve", "recall", "precision"),
    "fmeasure_curves.png": (None, "fm_curve", "threshold (8-bit)", "F-measure (β² = 0.3)"),
}


def present_benchmarks(
    data_root: Path, only: list[str] | None = None, need_images: bool = True
) -> tuple[dict[str, tuple[str, list[Split]]], list[str]]:
    """{layout: (title, present splits)} and a note for every missing split; ``only``: of these split names;
    without ``need_images``, a split of GT masks only is present (saved predictions need no photo)."""
    present, notes = {}, []
    for layout, (title, specs) in BENCHMARKS.items():
        splits, absent = [], {}  # absent: {dataset folder not there: its splits}, said in one note each
        for spec in specs:
            if only is not None and spec.split("/")[-1] not in only:
                continue
            dataset, name = spec.split("/")[0], spec.split("/")[-1]
            # a dataset folder not there at all, nor its split straight under the root (resolve_split says that)
            if "/" in spec and not (data_root / dataset).is_dir() and not (data_root / name).is_dir():
                absent.setdefault(dataset, []).append(spec)
                continue
            try:
                splits.append(resolve_split(data_root, spec, need_images=need_images))
            except DatasetLayoutError as error:
                notes.append(f"{spec} skipped: {error}")
        for dataset, missing in absent.items():
            names = ", ".join(spec.split("/")[-1] for spec in missing)
            notes.append(f"{dataset} skipped ({names}): no folder {data_root / dataset}. "
                         f"{download_hint(missing[0], data_root, need_images)}")  # fmt: skip
        if splits:
            present[layout] = (title, splits)
    return present, notes


def holds_data(folder: Path) -> bool:
    """Whether a folder in a data root without benchmark splits holds a dataset the stand-in must not be written
    beside: a known dataset's name, or image files in it or one level down (an archive unpacked as it ships). This
    project's own outputs (synthetic/, the demo's and detail benchmark's roots) keep theirs deeper."""
    if not folder.is_dir() or folder.name.startswith(".") or folder.name == "__MACOSX":
        return False
    if folder.name in DATASETS and folder.name != "synthetic":
        return True
    return any(list_images(level) for level in (folder, *(child for child in folder.iterdir() if child.is_dir())))


def check_data_root(data_root: Path, only: list[str] | None = None, need_images: bool = True) -> None:
    """A DatasetLayoutError for a ``--data-root`` that is no folder, or without one of the ``only`` splits asked for
    by name (before any model loads; without ``need_images``, GT masks alone make a split)."""
    if not data_root.is_dir():
        datasets = sorted({spec.split("/")[0] for _, specs in BENCHMARKS.values() for spec in specs})
        raise DatasetLayoutError(
            f"--data-root {data_root}: {'not a folder' if data_root.exists() else 'no such folder'}; give the folder "
            f"that holds {', '.join(datasets)} (data/README.md)"
        )
    if only is not None and (missing := present_benchmarks(data_root, only, need_images)[1]):
        raise DatasetLayoutError(f"--splits {','.join(only)}: " + "; ".join(missing))


def map_settings(segmenter: Segmenter, tta: bool, batch_size: int) -> dict[str, Any]:
    """What the benchmark's maps depend on, recorded in each and in the report: the Segmenter's settings and the
    batch size (a batch runs other kernels than one image, which can move a map by a grey level)."""
    return {**segmenter.settings.recorded(tta), "batch_size": batch_size}


def plan_split(
    segmenter: Segmenter, split: Split, out: Path, batch_size: int, tta: bool
) -> tuple[MaskWriter, OutputPlan]:
    """The writer of ``split``'s maps into ``out/<split name>`` and the plan of what to predict there, as predict
    plans: maps an earlier (or interrupted) run wrote with the same weights files and settings for the same image
    files are kept, and the others redone (all of them for a network built in memory, which no file names). A file
    there that this project did not write is a ConfigError. Nothing is written or removed."""
    settings = map_settings(segmenter, tta, batch_size)
    writer = MaskWriter(out / split.name, settings=settings, max_pixels=segmenter.max_pixels)
    return writer, plan_outputs(split_records(split), writer, overwrite=not settings["weights"], flag="--out")


def predict_split(
    segmenter: Segmenter,
    split: Split,
    out: Path,
    batch_size: int,
    workers: int | None,
    tta: bool,
    planned: tuple[MaskWriter, OutputPlan] | None = None,
) -> Path:
    """Write 8-bit predictions for every image of ``split`` into ``out/<split name>`` as ``planned`` (`plan_split`;
    planned here where not given); maps an earlier run wrote there for images the split no longer has are removed
    first (they would be scored as unpaired), any other file left alone."""
    writer, plan = planned or plan_split(segmenter, split, out, batch_size, tta)
    names = {record.name for record in split_records(split)}
    stale = [path for path in writer.output.glob("*.png") if path.stem not in names and provenance(path) is not None]
    for path in stale:
        path.unlink()
    if stale:
        print(f"removed {len(stale)} maps of {split.name} that an earlier run wrote for images no longer in it")
    if plan.skipped:
        print(f"{plan.skipped} of {len(names)} maps of {split.name} in {writer.output} were made by an earlier run "
              "with these weights and settings; kept")  # fmt: skip
    if plan.todo:
        writer = segmenter.predict_files(plan.todo, writer, batch_size=batch_size, workers=workers, tta=tta, show=True)
    if writer.failures:
        raise DatasetLayoutError(
            f"could not read {len(writer.failures)} images of {split.name}, e.g. {writer.failures[0]}; "
            "run mgd-sam2 check-data"
        )
    return writer.output


def check_saved(saved: Path, splits: list[Split], resize_pred: bool) -> None:
    """Every split's saved predictions (``saved/<split name>``, where there) pair with its GT masks at their sizes:
    one EvaluationError naming every split's problems, before any split is scored."""
    problems = []
    for split in splits:
        if (saved / split.name).is_dir():
            try:
                checked_pairs(saved / split.name, split.mask_dir, resize_pred, split_folder=True)
            except EvaluationError as error:
                problems.append(f"{split.name}: {error}")
    if problems:
        raise EvaluationError("saved predictions that cannot be scored:\n" + "\n".join(problems))


def table_file(layout: str) -> str:
    """The name of a layout's CSV table in a report."""
    return f"accuracy_{layout}.csv"


def report_files(out: Path) -> list[Path]:
    """The files of a run's report under ``out`` (its predictions are not part of it)."""
    names = [REPORT_MARKDOWN, REPORT_JSON, *(table_file(layout) for layout in BENCHMARKS), *CURVE_PLOTS]
    return [out / name for name in names]


def remove_earlier_report(out: Path) -> None:
    """Remove an earlier run's report once this run's checks have passed, so that a run that fails later leaves no
    report in ``out`` that reads as its own (nor one of mixed runs, nor a table of splits this run did not score)."""
    if earlier := [path for path in report_files(out) if path.is_file()]:
        for path in earlier:
            path.unlink()
        print(f"removed the earlier report in {out} ({', '.join(path.name for path in earlier)}): this run writes "
              "its own when it ends")  # fmt: skip


def plot_curves(curves: dict[str, dict[str, list[float]]], out: Path) -> list[Path]:
    """PR curves and F-measure-vs-threshold curves, one line per split, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    thresholds = list(range(255, -1, -1))  # curve index k is threshold 255 - k
    for name, (x_key, y_key, x_label, y_label) in CURVE_PLOTS.items():
        figure, axis = plt.subplots(figsize=(6, 5))
        for split, curve in curves.items():
            axis.plot(curve[x_key] if x_key else thresholds, curve[y_key], label=split)
        axis.set(xlabel=x_label, ylabel=y_label, xlim=(0, 1) if x_key else (0, 255), ylim=(0, 1.02))
        axis.grid(alpha=0.3)
        axis.legend()
        with atomic_path(out / name) as temporary:
            figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(out / name)
    return written


def run_accuracy(
    segmenter: Segmenter | None,
    data_root: Path,
    out: Path,
    hce_binarize: str = "dis",
    workers: int | None = None,
    batch_size: int = 1,
    tta: bool = False,
    saved: Path | None = None,
    resize_pred: bool = False,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Predict with ``segmenter`` (or read the ``saved`` predictions, ``saved/<split name>``, resized bilinearly to
    their GT's size with ``resize_pred``), score, and write accuracy.{md,json}, accuracy_<layout>.csv and the curve
    plots under ``out``. ``only``: these splits (``BENCHMARK_SPLITS`` names), which must be present. ``workers``: the
    processes of each step (None: each step's default)."""
    if (segmenter is None) == (saved is None):
        raise ValueError("give exactly one of a segmenter and a folder of saved predictions")
    if saved is not None and not saved.is_dir():
        raise DatasetLayoutError(f"--predictions {saved}: no such folder of saved predictions")
    from mgd_sam2.data.synth import ensure_dataset

    check_data_root(data_root, only, need_images=saved is None)
    present, notes = present_benchmarks(data_root, only, need_images=saved is None)
    stand_in_root = data_root / "synthetic"
    misplaced = [] if present else [split for split in find_splits(data_root) if split.name in BENCHMARK_SPLITS]
    if misplaced:
        where = ", ".join(str(split.image_dir.parent.relative_to(data_root)) for split in misplaced[:3])
        raise DatasetLayoutError(
            f"--data-root {data_root}: no benchmark split where data/README.md puts them (e.g. "
            f"{BENCHMARKS['dis'][1][1]}/im and /gt under the root), but benchmark splits in another layout: {where}"
            f"{' and more' if len(misplaced) > 3 else ''}. Give the folder that holds the datasets' folders (DIS5K, "
            "HRSOD, ...)"
        )
    stand_in = tuple(spec.split("/")[1] for specs in SYNTHETIC.values() for spec in specs[1])
    others = [] if present else sorted(child.name for child in data_root.iterdir() if holds_data(child))
    if others:  # a dataset unpacked as it ships, or another layout: never a synthetic set written beside it
        raise DatasetLayoutError(
            f"--data-root {data_root}: no benchmark split where data/README.md puts them (e.g. "
            f"{BENCHMARKS['dis'][1][1]}/im and /gt), but other folders ({some_of(others)}): arrange the datasets as "
            "data/README.md shows (it maps each archive's folders), or give the folder that holds them"
        )
    if not present and saved is not None and not all((stand_in_root / name).is_dir() for name in stand_in):
        raise DatasetLayoutError(
            f"--data-root {data_root}: no benchmark split with ground truth to score --predictions {saved} against; "
            f"give the folder that holds the datasets' folders (DIS5K/DIS-TE1/gt, ...; data/README.md)"
        )
    if not present:
        stand_in_note = f"no benchmark split under {data_root}: the synthetic dataset ({stand_in_root}) stands in"
        print(f"note: {stand_in_note}")  # now, before it is generated, and again with the tables
        notes.append(stand_in_note)
        if saved is None:  # saved predictions are scored on a stand-in already there, never on one made now
            ensure_dataset(stand_in_root, workers=workers, splits=stand_in)  # only the splits the tables use
        present = {
            layout: (title, [resolve_split(data_root, spec) for spec in specs])
            for layout, (title, specs) in SYNTHETIC.items()
        }
    all_splits = [split for _, splits in present.values() for split in splits]
    # a split of GT masks only (saved predictions need no photo): its masks are checked as evaluate checks them
    checked = [split for split in all_splits if split.image_dir is not None]
    noted = require_clean(checked, cache_dir("checks"), workers, use="the benchmark")
    if saved is None:  # the photos are predicted (saved predictions' are not read); evaluate's notes say the masks'
        notes += [note for kind, note in noted if kind == "exif_oriented"]
    if saved is None:
        settings = map_settings(segmenter, tta, batch_size)
        model_description = segmenter.description
        plans = {split.name: plan_split(segmenter, split, out / "predictions", batch_size, tta) for split in all_splits}
    else:
        if not any((saved / split.name).is_dir() for split in all_splits):
            raise DatasetLayoutError(
                f"--predictions {saved}: no folder named after a split present under {data_root} "
                f"({', '.join(split.name for split in all_splits)})"
            )
        check_saved(saved, all_splits, resize_pred)
        settings = {"predictions": str(saved.resolve()), "resize_pred": resize_pred}
        model_description = f"the saved predictions in {saved}"
    remove_earlier_report(out)
    scores: dict[str, dict[str, float]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    images: dict[str, dict[str, Any]] = {}  # per split: how many, and the largest GT's width and height
    tables: dict[str, dict[str, dict[str, float]]] = {}
    titles: dict[str, str] = {}
    for layout, (title, splits) in present.items():
        for split in splits:
            if saved is None:
                planned = plans[split.name]
                predictions = predict_split(segmenter, split, out / "predictions", batch_size, workers, tta, planned)
            elif (predictions := saved / split.name).is_dir():
                print(f"scoring {predictions}")
            else:
                notes.append(f"{split.name} skipped: no folder {predictions} of saved predictions")
                continue
            result = evaluate_folders(predictions, split.mask_dir, hce_binarize=hce_binarize, workers=workers,
                                      resize_pred=resize_pred)  # fmt: skip
            # evaluate's notes on these files (JPEG or resized maps, empty GT masks, ...), printed with the tables
            notes += [f"{split.name}: {note}" for note in result.notes]
            scores[split.name], curves[split.name] = result.scores, result.curves
            largest = max(result.per_image, key=lambda row: row["height"] * row["width"])
            images[split.name] = {"images": result.num_images, "largest": [largest["width"], largest["height"]]}
            published = PUBLISHED_IMAGES.get(split.name)
            if published is not None and result.num_images != published:
                notes.append(f"{split.name} has {result.num_images} images where the published split has "
                             f"{published}: its scores do not compare with published ones")  # fmt: skip
        rows = {split.name: scores[split.name] for split in splits if split.name in scores}
        if not rows:
            continue
        tables[layout] = with_dis_overall(rows) if layout == "dis" else rows
        present_tests = [name for name in DIS_TEST_SPLITS if name in rows]
        if layout == "dis" and 0 < len(present_tests) < len(DIS_TEST_SPLITS):
            notes.append(f"no {OVERALL} row: it is the mean of all four DIS-TE splits, and only "
                         f"{', '.join(present_tests)} {'is' if len(present_tests) == 1 else 'are'} here")  # fmt: skip
        titles[layout] = title
    folders = [child.name for child in sorted(saved.iterdir()) if child.is_dir()] if saved is not None else []
    unused = [name for name in folders if not name.startswith(".") and name not in images]
    if unnamed := [name for name in unused if name not in BENCHMARK_SPLITS]:
        notes.append(f"not scored: the folders {some_of(unnamed)} of {saved}, named after no benchmark split; a "
                     "split's maps go in a folder of its name (DIS-TE1, HRSOD-TE, DAVIS-S, ...)")  # fmt: skip
    if unscored := [name for name in unused if name in BENCHMARK_SPLITS]:
        notes.append(f"not scored: the folders {some_of(unscored)} of {saved}, whose splits are not scored here (not "
                     f"in --splits, or no GT masks of theirs under {data_root})")  # fmt: skip
    shown = ", ".join(f"{key} {value}" for key, value in settings.items() if key != "weights")
    counted = ", ".join(f"{name} {size['images']} (largest {size['largest'][0]}×{size['largest'][1]})"
                        for name, size in images.items())  # fmt: skip
    markdown = [f"# Accuracy of {model_description}\n", f"Settings: {shown}; HCE binarisation: {hce_binarize}; "
                f"versions: {versions()}\n", f"Images: {counted}\n"]  # fmt: skip
    for layout, rows in tables.items():
        markdown += [f"## {titles[layout]}\n", markdown_table(rows, layout)]
        write_text(out / table_file(layout), csv_table(rows, layout))
    if notes:
        markdown += ["## Notes\n", "".join(f"- {note}\n" for note in notes)]  # one tight list
    write_text(out / REPORT_MARKDOWN, "\n".join(markdown))
    plots = plot_curves(curves, out)
    report = {
        "model": model_description,
        "settings": settings,
        "hce_binarize": hce_binarize,
        "versions": versions(),
        "notes": notes,
        "titles": titles,
        "tables": tables,
        "scores": scores,
        "images": images,
        "curves": curves,
        "plots": [str(p) for p in plots],
    }
    write_json(out / REPORT_JSON, report)
    return report
