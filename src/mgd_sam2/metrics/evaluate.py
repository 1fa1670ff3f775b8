"""Score a folder of saved 8-bit predictions against a folder of GT masks, at GT resolution.

Files pair by stem (``a.png`` with ``a.jpg`` is fine; two files with one stem is an error); the
``<stem>_cutout.png`` files that ``mgd-sam2 predict --cutout`` writes beside its masks are left out. The
per-image numpy work of every metric runs in DataLoader worker processes (as many as the memory allows
for the largest pair); the main process only adds results to the metric states, so the numbers are
those of the Metric classes used in training. Predictions are read with ``read_prediction`` (an RGBA
map's alpha), GT masks with ``decode_mask`` (0/1 label maps as 0/255), both in data/io.py.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torchmetrics import MetricCollection

from mgd_sam2.data.io import (
    CUTOUT_SUFFIX,
    FOREGROUND_THRESHOLD,
    GREY_SHARE,
    HIGH_DEPTH_MODES,
    UnreadableImageError,
    dark_object,
    decode_mask,
    find_images,
    in_between,
    is_alpha_shape,
    is_colour_image,
    is_grey_map,
    is_label_map,
    list_images,
    open_image,
    passed_over,
    prediction_map,
    provenance,
    two_levels,
    unreadable_reason,
)
from mgd_sam2.data.layouts import pair_by_stem, split_folders
from mgd_sam2.errors import UserError
from mgd_sam2.metrics.pairs import ImagePair
from mgd_sam2.metrics.sod import METRIC_CLASSES, SCALAR_KEYS, build_metrics, measure_all, scalar_results
from mgd_sam2.utils.parallel import parallel_map, workers_for_memory, workers_or_default

# Peak memory of one worker scoring one pair, per GT pixel, all metrics: how many workers fit in memory
# (measured: docs/design.md, measured constants).
EVALUATION_BYTES_PER_PIXEL = 100


class EvaluationError(UserError, ValueError):
    """Inputs that cannot be scored as given; the message lists every offending file."""


def list_problems(title: str, items: list[str], hint: str, limit: int = 20) -> str:
    shown = "\n".join(f"  {item}" for item in items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n{shown}{more}\n{hint}"


def our_cutouts(unpaired: list[Path], mask_stems: set[str]) -> list[Path]:
    """The files without a partner that are predict's cut-outs of the masks called ``mask_stems``."""
    return [
        path
        for path in unpaired
        if path.stem.endswith(CUTOUT_SUFFIX)
        and path.stem.removesuffix(CUTOUT_SUFFIX) in mask_stems
        and provenance(path) is not None
    ]


def pair_files(
    pred_dir: str | Path, gt_dir: str | Path, split_folder: bool = False
) -> tuple[list[tuple[str, Path, Path]], list[Path], str]:
    """([(stem, prediction, GT)] sorted by stem, our cut-outs left out, the listing of unpaired files or ""): every
    GT needs a prediction and vice versa. A folder that holds no image, or stems shared by several files, are an
    EvaluationError here. ``split_folder``: ``pred_dir`` is named for its split (benchmark accuracy's
    ``--predictions ROOT/<split>``), so a subfolder holding the maps is to be emptied into it, not given instead."""
    for folder, role in ((Path(pred_dir), "prediction"), (Path(gt_dir), "ground-truth")):
        if folder.is_file():
            raise EvaluationError(f"{role} folder {folder} is a file: give the folder that holds the {role} maps")
        if not folder.is_dir():
            raise EvaluationError(f"{role} folder not found: {folder}")
    for folder, role in ((Path(pred_dir), "prediction"), (Path(gt_dir), "ground-truth")):
        if list_images(folder):
            continue
        masks = split_folders(folder)[1] if role == "ground-truth" else None
        if masks is not None:  # a dataset split: im/ and gt/ inside
            raise EvaluationError(f"ground-truth folder {folder} is a dataset split: give its masks folder, {masks}")
        inside = sorted(child for child in folder.iterdir()
                        if child.is_dir() and not child.name.startswith(".") and list_images(child))  # fmt: skip
        hint = ""
        if inside and role == "prediction":  # a method's maps, a folder per split: the one that pairs with the GT
            gt_stems = {path.stem for path in list_images(gt_dir)}
            inside.sort(key=lambda child: -len(gt_stems & {path.stem for path in list_images(child)}))
            if len(inside) > 1 and not split_folder:
                hint = f" (or score every split's folder with mgd-sam2 benchmark accuracy --predictions {folder})"
        fix = f"move its files up into {folder}" if split_folder else "give that folder"
        hint = f"; its subfolder {inside[0]} does: {fix}{hint}" if inside else ""
        raise EvaluationError(f"{role} folder {folder} holds no image files{hint}")
    pairing = pair_by_stem(Path(pred_dir), Path(gt_dir))
    if pairing.stem_clashes:
        raise EvaluationError(
            list_problems("files sharing a name stem", pairing.stem_clashes, "Keep one file per stem.")
        )
    predictions, ground_truths = pairing.images_without_mask, pairing.masks_without_image  # unpaired
    cutouts = our_cutouts(predictions, {stem for stem, _, _ in pairing.pairs} | {path.stem for path in predictions})
    predictions = [path for path in predictions if path not in cutouts]
    problems = [f"{path.stem}: no prediction in {pred_dir}" for path in ground_truths]
    problems += [f"{path.stem}: no ground truth in {gt_dir}" for path in predictions]
    if problems:
        hint = "Predictions and GT masks pair by file stem; add or remove files so both folders match."
        by_case = {path.stem.casefold(): path for path in predictions}
        if cased := [
            (path, by_case[path.stem.casefold()]) for path in ground_truths if path.stem.casefold() in by_case
        ]:
            differ = "differs" if len(cased) == 1 else "differ"
            hint += (f" {len(cased)} {differ} only in case, e.g. GT {cased[0][0].name} against prediction "
                     f"{cased[0][1].name}: stems pair case-sensitively, rename one side.")  # fmt: skip
        elif not pairing.pairs and ground_truths and predictions:
            hint += f" No stem matches: e.g. GT {ground_truths[0].name} against prediction {predictions[0].name}."
        ours = next((path for path in ground_truths[:20] if provenance(path) is not None), None)  # a sample
        if ours is not None:
            hint += f" --gt {gt_dir} holds files mgd-sam2 predict wrote (e.g. {ours.name}): swap --pred and --gt?"
        return pairing.pairs, cutouts, list_problems("unpaired files", problems, hint)
    return pairing.pairs, cutouts, ""


@dataclass
class Headers:
    """What the file headers say, before any decoding."""

    mismatched: list[str] = field(default_factory=list)  # prediction not at GT size
    transposed: list[str] = field(default_factory=list)  # prediction at the GT size turned by 90 degrees
    unreadable: list[str] = field(default_factory=list)
    jpeg: list[str] = field(default_factory=list)  # predictions saved as JPEG
    gt_jpeg: list[str] = field(default_factory=list)  # GT masks saved as JPEG
    largest_pixels: int = 0  # of the largest GT


def verified(image: Image.Image, path: Path) -> None:
    """``image.verify()``, PIL's check of a PNG's chunk checksums without decoding; where it fails but the file
    decodes all the same (a wrong checksum the decoder does not need), the file is fine, as predict and test read it."""
    try:
        image.verify()
    except (OSError, SyntaxError, ValueError) as error:
        try:
            open_image(path)
        except UnreadableImageError:
            raise error from None


def check_headers(pairs: list[tuple[str, Path, Path]]) -> Headers:
    """Each pair's sizes and formats from the files' headers, and a PNG's chunk checksums (a truncated or damaged
    file), decoding only a PNG whose checksums fail (`verified`)."""
    headers = Headers()
    for name, pred, gt in pairs:
        sizes = []
        for path in (pred, gt):
            try:
                with Image.open(path) as image:
                    sizes.append(image.size)
                    if image.format == "JPEG":
                        (headers.jpeg if path is pred else headers.gt_jpeg).append(name)
                    if image.format == "PNG":  # its chunks' checksums: a truncated or damaged file fails here,
                        verified(image, path)  # before any pair is scored, without decoding the pixels
            except (OSError, SyntaxError, ValueError) as error:
                headers.unreadable.append(f"{path}: {unreadable_reason(path, error)}")
        if len(sizes) < 2:
            continue
        (pw, ph), (gw, gh) = sizes
        headers.largest_pixels = max(headers.largest_pixels, gw * gh)
        if (pw, ph) == (gw, gh):
            continue
        line = f"{name}: prediction {pw}x{ph} vs ground truth {gw}x{gh}"
        (headers.transposed if (pw, ph) == (gh, gw) else headers.mismatched).append(line)
    return headers


# Ground truth is black and white but for its edges, and a predicted map is soft: a GT folder with more than this
# share of its pixels in between, and SWAPPED_FACTOR times the predictions' share, holds predictions. pysodmetrics'
# real test data: its masks 5.8% (binary predictions against them are no swap), its maps 17.9% (swapped, 3.1 times).
SWAPPED_SHARE, SWAPPED_FACTOR = 0.10, 2


class PairMeasurer:
    """Picklable per-pair work: read both maps, prepare them once and run every metric's ``measure``.

    Returns (stem, (H, W), merged result of every metric), or (stem, None, error message) for a bad pair.
    """

    def __init__(self, metrics: MetricCollection, resize_pred: bool) -> None:
        self.metrics, self.resize_pred = metrics, resize_pred

    def __call__(self, pair: tuple[str, Path, Path]) -> tuple[str, Any, Any]:
        """-> (stem, (H, W), result with the flags "gt_label_map", "gt_colour", "gt_palette", "gt_alpha_shape",
        "gt_grey", "gt_empty", "pred_low_range", "pred_dim", "pred_colour", "pred_8bit_in_16bit" and "pred_constant",
        "gt_dark" (the value an empty-reading GT's object is drawn in, or None) and the counts "gt_in_between",
        "pred_in_between" (`in_between`) and "pixels"), or (stem, None, error)."""
        name, pred_path, gt_path = pair
        try:
            image, gt_image = open_image(pred_path), open_image(gt_path)
        except UnreadableImageError as error:
            return name, None, str(error)
        gt, label_map = decode_mask(gt_image)
        gt_colour, gt_alpha_shape = is_colour_image(gt_image), is_alpha_shape(gt_image, gt)
        # an indexed mask (DAVIS's annotations are) whose object's colour is dark: read by grey level, it is empty
        has_object = bool((gt > FOREGROUND_THRESHOLD).any())
        gt_palette = gt_image.mode in ("P", "PA") and bool(gt.any()) and not has_object
        pred, grey_read = prediction_map(image)
        colour = grey_read and is_colour_image(image)  # a cut-out is scored by its alpha: no note
        # 8-bit values (or 0/1) saved in a 16-bit file read as 16-bit: every one is 0 in 8 bits, which a note names
        # (an all-zero map is empty either way)
        values = np.array(image) if image.mode in HIGH_DEPTH_MODES else None
        narrow = values is not None and np.issubdtype(values.dtype, np.integer) and 0 < values.max(initial=0) <= 255
        del image, values, gt_image  # their decoded pixels are not needed while the metrics run
        if pred.shape != gt.shape:
            if not self.resize_pred:
                return name, None, f"prediction {pred.shape[::-1]} vs ground truth {gt.shape[::-1]} (W x H)"
            pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
        result = measure_all(self.metrics, ImagePair(pred, gt))
        brightest = int(pred.max())
        gt_empty = not (gt_colour or gt_alpha_shape or gt_palette or has_object)
        flags = {
            "gt_label_map": label_map,
            "gt_colour": gt_colour and not gt_palette,
            "gt_palette": gt_palette,
            "gt_alpha_shape": gt_alpha_shape,
            # a colour mask or a shape in the alpha: its own note says it all
            "gt_grey": not (gt_colour or gt_palette) and is_grey_map(gt),
            "gt_empty": gt_empty,
            "gt_dark": dark_object(gt) if gt_empty else None,  # the value its object is drawn in, if it reads empty
            "pred_low_range": is_label_map(pred),
            # values above 0/1 but none above the threshold: HCE and mBA see an empty mask where S..MAE normalise
            "pred_dim": 1 < brightest <= FOREGROUND_THRESHOLD,
            "pred_colour": colour,
            "pred_8bit_in_16bit": bool(narrow),
            "pred_constant": int(pred.min()) == brightest,
        }
        soft_gt = in_between(gt)
        if soft_gt and two_levels(gt):  # a mask drawn in a grey (0/200): no soft edge, nothing like a prediction
            soft_gt = 0
        counts = {"gt_in_between": soft_gt, "pred_in_between": in_between(pred), "pixels": gt.size}
        return name, gt.shape, {**result, **flags, **counts}


@dataclass
class Evaluation:
    scores: dict[str, float]
    num_images: int
    per_image: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def per_image_csv(per_method: dict[str, list[dict[str, Any]]]) -> str:
    """CSV text of the evaluations' ``per_image`` rows, {method: rows}: a row per image, and a first "method" column
    where there are several methods."""
    rows = [{"method": method, **row} if len(per_method) > 1 else row
            for method, per_image in per_method.items() for row in per_image]  # fmt: skip
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def checked_pairs(
    pred_dir: str | Path, gt_dir: str | Path, resize_pred: bool = False, split_folder: bool = False
) -> tuple[list[tuple[str, Path, Path]], list[Path], Headers]:
    """`pair_files` and `check_headers`, raising one EvaluationError that lists every file that could not be scored,
    of every kind (unpaired, unreadable, turned, other-size): what `evaluate_folders` checks before it decodes
    anything."""
    pairs, cutouts, unpaired = pair_files(pred_dir, gt_dir, split_folder)
    headers = check_headers(pairs)
    problems = [unpaired] if unpaired else []
    if headers.unreadable:
        problems.append(
            list_problems("unreadable files", headers.unreadable, "Re-export or remove them and run again.")
        )
    if headers.transposed:
        problems.append(
            list_problems(
                "predictions at the ground truth's size turned by 90 degrees",
                headers.transposed,
                "Turn those predictions back to their GT's orientation (a benchmark's GT stays as released, or its "
                "scores compare with no published ones); where mgd-sam2 predict wrote them, their photos carry an "
                "EXIF orientation tag that the GT masks do not follow (predict reads photos as they display): re-save "
                "the photos without it and predict again. Resizing would squash the masks.",
            )
        )
    if headers.mismatched and not resize_pred:
        problems.append(
            list_problems(
                "predictions not at ground-truth resolution",
                headers.mismatched,
                "Scores are computed at GT resolution: save predictions at each GT's size, or pass --resize-pred to "
                "resize them bilinearly (as PySODEvalToolkit does).",
            )
        )
    if problems:
        raise EvaluationError("\n".join(problems))
    return pairs, cutouts, headers


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    metric_names: list[str] | None = None,
    hce_binarize: str = "dis",
    skeleton_cache: bool | str | Path = True,
    workers: int | None = None,
    resize_pred: bool = False,
    progress: bool = True,
) -> Evaluation:
    """All metrics over the paired folders; raises EvaluationError listing every bad file. Notes for the user
    (cut-outs left out, label maps, fewer workers for memory) are in the result's ``notes``. ``workers``: scoring
    processes (None: ``default_workers()``)."""
    pairs, cutouts, headers = checked_pairs(pred_dir, gt_dir, resize_pred)
    notes = [f"left out {len(cutouts)} cut-outs written by mgd-sam2 predict --cutout"] if cutouts else []
    for flag, folder in (("--pred", pred_dir), ("--gt", gt_dir)):
        skipped = find_images(folder)[1]
        if "subfolders" in skipped:  # a method's maps, one folder per split: each is its own evaluation
            skipped["subfolders (not searched: score each as its own folder)"] = skipped.pop("subfolders")
        if ignored := passed_over(skipped):
            notes.append(f"ignored in {flag} {folder}: {ignored}")
    ours_as_gt = provenance(pairs[0][2]) is not None
    if ours_as_gt:
        notes.append(
            f"--gt {gt_dir} holds masks mgd-sam2 predict wrote (e.g. {pairs[0][2].name}): if these are the "
            "predictions, swap --pred and --gt (S, E and weighted F are not symmetric)"
        )
    per_worker = EVALUATION_BYTES_PER_PIXEL * headers.largest_pixels
    workers = min(workers_or_default(workers), len(pairs))  # a process per pair at most
    allowed = workers_for_memory(workers, per_worker)
    if allowed < workers:
        notes.append(
            f"{allowed} worker(s) instead of {workers}: the largest pair ({headers.largest_pixels / 1e6:.0f} "
            f"megapixels) takes about {per_worker / 2**30:.1f} GiB per worker and memory is short"
        )
    metrics = build_metrics(
        metric_names or list(METRIC_CLASSES), hce_binarize=hce_binarize, skeleton_cache=skeleton_cache
    )
    per_image, errors, label_maps, low_range, grey, empty, colour, narrow = [], [], 0, 0, [], [], [], []
    dark = []  # "name (at value)" of the GT masks whose object is drawn in a value foreground does not reach
    gt_colour, gt_palette, gt_alpha_shape, constant, dim = [], [], [], [], []
    in_between_counts = np.zeros(3, dtype=np.int64)
    for name, shape, result in parallel_map(
        PairMeasurer(metrics, resize_pred), pairs, allowed, "evaluating", show=progress
    ):
        if shape is None:
            errors.append(f"{name}: {result}")
            continue
        label_maps += result.pop("gt_label_map")
        low_range += result.pop("pred_low_range")
        if result.pop("gt_colour"):
            gt_colour.append(name)
        if result.pop("gt_palette"):
            gt_palette.append(name)
        if result.pop("gt_alpha_shape"):
            gt_alpha_shape.append(name)
        if result.pop("gt_grey"):
            grey.append(name)
        drawn = result.pop("gt_dark")
        if (gt_empty := result.pop("gt_empty")) and drawn:
            dark.append(f"{name} (at {drawn})")
        elif gt_empty:
            empty.append(name)
        if result.pop("pred_colour"):
            colour.append(name)
        if result.pop("pred_8bit_in_16bit"):
            narrow.append(name)
        if result.pop("pred_constant") and not gt_empty:  # a blank map for an empty GT is right
            constant.append(name)
        if result.pop("pred_dim") and not gt_empty:
            dim.append(name)
        in_between_counts += [result.pop(key) for key in ("gt_in_between", "pred_in_between", "pixels")]
        metrics.update(results=[result])
        scalars = {key: result[key] for key in SCALAR_KEYS if key in result}
        per_image.append({"name": name, "height": shape[0], "width": shape[1], **scalars})
    if errors:
        raise EvaluationError(
            list_problems("files that could not be scored", errors, "Fix or remove them and run again.")
        )
    if label_maps:
        notes.append(f"{label_maps} GT masks are 0/1 label maps: read as 0/255")
    if gt_colour:
        notes.append(
            f"{len(gt_colour)} GT masks are colour images, not masks, e.g. {', '.join(gt_colour[:3])}: scored by "
            "their grey levels (as pysodmetrics reads them), which says little; check --gt (a mask holds grey "
            "values, white for the object)"
        )
    if gt_palette:
        notes.append(
            f"{len(gt_palette)} GT masks are palette (indexed colour) images whose object's colour reads as a grey of "
            f"{FOREGROUND_THRESHOLD} or less, e.g. {', '.join(gt_palette[:3])}: read by grey level (as pysodmetrics "
            "reads them, DAVIS's (128, 0, 0) is grey 38), they hold no foreground and score as empty masks; save them "
            "as grey masks, white for the object"
        )
    if gt_alpha_shape:
        notes.append(
            f"{len(gt_alpha_shape)} GT masks are black with their shape in the alpha channel, e.g. "
            f"{', '.join(gt_alpha_shape[:3])}: a mask's alpha is not read (nor is it by pysodmetrics), so they are "
            "scored as empty masks; save the shape as grey values"
        )
    gt_share, pred_share = in_between_counts[:2] / max(int(in_between_counts[2]), 1)
    # where another note names the GT's problem (images, colour, JPEG ringing, predict's own maps), it alone
    others = grey or gt_colour or gt_palette or headers.gt_jpeg or ours_as_gt
    looks_swapped = gt_share > SWAPPED_SHARE and gt_share > SWAPPED_FACTOR * pred_share
    swapped = looks_swapped and not others
    if grey:
        notes.append(
            f"{len(grey)} GT masks are images, not masks (over {GREY_SHARE:.0%} of their pixels far from black "
            f"and white), e.g. {', '.join(grey[:3])}: foreground is > 128, so their scores say little; check --gt"
            + (  # the predictions look like masks: maybe the folders are given the other way round
                f"; if it holds the predictions ({gt_share:.1%} of its pixels are neither 0 nor 255, "
                f"{pred_share:.1%} of --pred's), swap --pred and --gt"
                if looks_swapped
                else ""
            )
        )
    if colour:
        notes.append(
            f"{len(colour)} predictions are colour images, not maps, e.g. {', '.join(colour[:3])}: scored by their "
            "grey levels, which says little; check --pred (a folder of predicted masks, not of photos or overlays)"
        )
    if empty:
        notes.append(
            f"{len(empty)} GT masks have no foreground pixel (none > {FOREGROUND_THRESHOLD}), e.g. "
            f"{', '.join(empty[:3])}: scored as pysodmetrics scores empty masks, which says little about the "
            "predictions; check --gt where every mask should hold an object"
        )
    if dark:
        notes.append(
            f"{len(dark)} GT masks hold 0 and one value of {FOREGROUND_THRESHOLD} or less, their object drawn in it, "
            f"e.g. {', '.join(dark[:3])}: foreground is > {FOREGROUND_THRESHOLD} (as pysodmetrics reads masks), so "
            "they hold no foreground and score as empty masks; save the object as 255"
        )
    if headers.jpeg:
        notes.append(
            f"{len(headers.jpeg)} predictions are JPEG files, e.g. {', '.join(headers.jpeg[:3])}: JPEG is lossy, so "
            "they are not the maps that were predicted and their scores move; save predictions as PNG"
        )
    if headers.gt_jpeg:
        notes.append(
            f"{len(headers.gt_jpeg)} GT masks are JPEG files, e.g. {', '.join(headers.gt_jpeg[:3])}: JPEG is lossy, "
            "so their edges are not the masks that were drawn and scores on them compare only with scores on the "
            "same files; use the dataset's PNG masks"
        )
    if headers.mismatched and resize_pred:
        notes.append(
            f"resized {len(headers.mismatched)} predictions to their GT's size (--resize-pred, bilinear), e.g. "
            f"{headers.mismatched[0]}"
        )
    if narrow:
        notes.append(
            f"{len(narrow)} predictions are 16-bit files whose values are all 255 or less, e.g. "
            f"{', '.join(narrow[:3])}: read as 16-bit maps they are black (each value is 0 in 8 bits); if they hold "
            "8-bit or 0/1 values, save them as 8-bit PNGs"
        )
    if constant := [name for name in constant if name not in narrow]:  # those have their own note
        notes.append(
            f"{len(constant)} predictions hold one value at every pixel, e.g. {', '.join(constant[:3])}: scored as "
            "pysodmetrics scores such a map; a failed export or a map saved wrong looks like this, so check those "
            "files"
        )
    if swapped:
        notes.append(
            f"{gt_share:.1%} of the GT pixels are neither 0 nor 255, and {pred_share:.1%} of the predictions': GT "
            "masks are black and white but for their edges, and predicted maps soft; if --gt holds the predictions, "
            "swap --pred and --gt (S, E and weighted F are not symmetric)"
        )
    # the scored measures that threshold raw values at 128 (as DIS and CascadePSP do): mBA, and HCE unless "pysod"
    raw = " and ".join(name for name in ("HCE", "mBA") if name in metrics and (name, hce_binarize) != ("HCE", "pysod"))
    if low_range:
        notes.append(
            f"{low_range} predictions only hold values 0 and 1, like label maps, not 8-bit maps: "
            f"{'the other' if raw else 'the'} measures normalise them"
            f"{f', but {raw} threshold raw values at 128' if raw else ''} (save predictions as 0..255)"
        )
    if (dim := [name for name in dim if name not in constant]) and raw:
        notes.append(
            f"{len(dim)} predictions have no value above {FOREGROUND_THRESHOLD}, e.g. {', '.join(dim[:3])}: {raw} "
            f"threshold raw values at {FOREGROUND_THRESHOLD} (as DIS and CascadePSP do) and score them as empty "
            "masks, while the others min-max normalise them; if these maps hold values on a smaller scale than "
            "0..255, save them as 0..255"
        )
    computed = metrics.compute()
    curves = {name: value.tolist() for name, value in computed.items() if name.endswith("_curve")}
    return Evaluation(
        scores=scalar_results(computed), num_images=len(per_image), per_image=per_image, curves=curves, notes=notes
    )


def versions() -> dict[str, str]:
    """Library versions that the numbers depend on (HCE on OpenCV's approxPolyDP)."""
    from importlib.metadata import version

    return {
        "opencv": cv2.__version__,
        "pysodmetrics": version("pysodmetrics"),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
