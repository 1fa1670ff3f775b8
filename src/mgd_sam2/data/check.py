"""Dataset validation before use: ``mgd-sam2 check-data`` and the check training runs before it starts.

Errors make a split unusable (training refuses it): unpaired files, unreadable or truncated files,
image/mask size mismatches (images as they display: EXIF orientation applied, see data/io.py), a mask
whose content is only in its alpha channel, a colour image as a mask. Warnings are handled by the readers but
worth knowing: EXIF orientation, 0/1 label maps (read as 0/255), 16-bit, RGBA and grayscale inputs, non-binary
(soft-edged) masks, masks mostly grey (images, not masks?), JPEG masks and empty masks.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mgd_sam2.data.io import (
    FOREGROUND_THRESHOLD,
    HIGH_DEPTH_MODES,
    UnreadableImageError,
    dark_object,
    decode_mask,
    exif_orientation,
    has_alpha,
    in_between,
    is_alpha_shape,
    is_colour_image,
    is_grey_map,
    open_image,
    photo_to_uint8,
)
from mgd_sam2.data.layouts import DATASETS, Split, download_hint, pair_by_stem, split_folders, unarranged
from mgd_sam2.errors import MissingFileError, UserError
from mgd_sam2.utils.files import write_json
from mgd_sam2.utils.parallel import parallel_map

LABEL_MAP = "0/1 label map"
GREY_MASK = "mostly grey mask"
DARK_OBJECT = "object drawn dark"
JPEG_MASK = "mask saved as JPEG"
EXIF_ORIENTED = "image with an EXIF orientation"
CHECK_RULES_VERSION = 7  # part of the cached-result key: a change of the rules checks every split again


@dataclass
class Problem:
    path: str
    message: str
    error: bool  # False: a warning
    kind: str = ""  # for the warnings training and the benchmark count: LABEL_MAP, GREY_MASK, JPEG_MASK, EXIF_ORIENTED


@dataclass
class SplitReport:
    name: str
    folder: str
    pairs: int = 0
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each paired image
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.error]


def mode_warnings(image: Image.Image, path: Path, role: str) -> list[Problem]:
    problems = []
    if image.mode in HIGH_DEPTH_MODES:
        problems.append(
            Problem(
                str(path),
                f"16-bit {role} (mode {image.mode}); read as 8-bit by scaling (value >> 8), except a mask of only "
                "0/1 or 0/255, read as is",
                False,
            )
        )
    if has_alpha(image):
        problems.append(Problem(str(path), f"{role} has an alpha channel; the alpha is ignored when reading", False))
    if role == "image" and image.mode in ("L", "1") + HIGH_DEPTH_MODES:
        problems.append(Problem(str(path), "grayscale image; replicated to RGB when reading", False))
    return problems


def inspect_pair(pair: tuple[str, Path, Path]) -> tuple[tuple[int, int] | None, list[Problem]]:
    """Decode one image/mask pair fully and list its problems; returns the image size (W, H) when readable."""
    _, image_path, mask_path = pair
    problems: list[Problem] = []
    try:
        image = open_image(image_path)
    except UnreadableImageError as error:
        return None, [Problem(str(image_path), f"unreadable or truncated: {error.__cause__ or error}", True)]
    orientation = exif_orientation(image)
    stored_size = image.size
    if orientation != 1:
        problems.append(
            Problem(
                str(image_path),
                f"EXIF orientation {orientation}: the image is used as it displays (turned or flipped); "
                "its mask must match it as displayed",
                False,
                EXIF_ORIENTED,
            )
        )
        image = ImageOps.exif_transpose(image)
    problems += mode_warnings(image, image_path, "image")
    if image.mode in HIGH_DEPTH_MODES:  # one that would read as a blank picture: refused where it is read
        try:
            photo_to_uint8(np.array(image), str(image_path))
        except UnreadableImageError as error:
            problems.append(Problem(str(image_path), str(error).removeprefix(f"{image_path} "), True))
    try:
        mask = open_image(mask_path)
    except UnreadableImageError as error:
        return image.size, problems + [
            Problem(str(mask_path), f"unreadable or truncated: {error.__cause__ or error}", True)
        ]
    problems += mode_warnings(mask, mask_path, "mask")
    if mask.size != image.size and mask.size == stored_size:
        problems.append(
            Problem(
                str(mask_path),
                f"mask is {mask.size[0]}x{mask.size[1]}, its image as stored, but the image displays as "
                f"{image.size[0]}x{image.size[1]} (EXIF orientation {orientation}); rotate the mask to match, or "
                "re-save the image without the orientation tag",
                True,
            )
        )
    elif mask.size != image.size:
        problems.append(
            Problem(
                str(mask_path),
                f"mask is {mask.size[0]}x{mask.size[1]} but its image is {image.size[0]}x{image.size[1]}",
                True,
            )
        )
    colour = is_colour_image(mask)
    if colour:
        problems.append(
            Problem(
                str(mask_path),
                "mask is a colour image (its channels differ), a photo or a coloured overlay: save the mask as "
                "grey values, white for the object",
                True,
            )
        )
    if mask_path.suffix.lower() in (".jpg", ".jpeg"):
        problems.append(
            Problem(
                str(mask_path), f"{JPEG_MASK}: lossy compression blurs its edges; PNG keeps them", False, kind=JPEG_MASK
            )  # fmt: skip
        )
    values, label_map = decode_mask(mask)
    if label_map:
        problems.append(Problem(str(mask_path), f"{LABEL_MAP}: read as 0/255", False, kind=LABEL_MAP))
    foreground = np.count_nonzero(values > FOREGROUND_THRESHOLD)
    drawn = dark_object(values) if foreground == 0 else None  # an object drawn in a value that reads as background
    if foreground == 0:
        if is_alpha_shape(mask, values):
            problems.append(
                Problem(
                    str(mask_path),
                    "mask is black with its shape in the alpha channel; save the shape as gray values",
                    True,
                )
            )
        elif drawn:
            problems.append(
                Problem(
                    str(mask_path),
                    f"{DARK_OBJECT}: empty mask (no pixel > {FOREGROUND_THRESHOLD}), its object is drawn at {drawn}, "
                    "which reads as background; save the object as 255",
                    False,
                    kind=DARK_OBJECT,
                )
            )
        else:
            problems.append(Problem(str(mask_path), f"empty mask (no pixel > {FOREGROUND_THRESHOLD})", False))
    soft = 0 if colour or drawn else in_between(values)  # a colour mask or a dark object: its message says it all
    if soft and is_grey_map(values):
        problems.append(
            Problem(
                str(mask_path),
                f"{GREY_MASK}: {100 * soft / values.size:.0f}% of its pixels are neither black nor white, as in a "
                "photo or a probability map: an image, not a mask? (trained on as a soft target; binarised for "
                "metrics)",
                False,
                kind=GREY_MASK,
            )
        )
    elif soft:
        problems.append(
            Problem(
                str(mask_path),
                f"non-binary mask: {100 * soft / values.size:.2f}% of pixels between 0 and 255 "
                f"(soft training target; binarised at > {FOREGROUND_THRESHOLD} for metrics)",
                False,
            )
        )
    return image.size, problems


def check_split(split: Split, workers: int | None = None, show: bool = True) -> SplitReport:
    report = SplitReport(split.name, str(split.image_dir.parent))
    pairing = pair_by_stem(split.image_dir, split.mask_dir)
    report.problems += [Problem(str(path), message, True) for path, message in pairing.problems]
    report.pairs = len(pairing.pairs)
    if not pairing.pairs:
        report.problems.append(Problem(str(split.image_dir), "no image/mask pairs", True))
    for size, problems in parallel_map(inspect_pair, pairing.pairs, workers, f"checking {split.name}", show=show):
        report.problems += problems
        if size is not None:
            report.sizes.append(size)
    return report


def find_splits(root: str | Path, max_depth: int = 3) -> list[Split]:
    """Every folder at or below ``root`` that holds an image folder and a mask folder."""
    root = Path(root)
    if root.is_file():
        raise UserError(f"{root} is a file: give the dataset folder (the one holding im/ and gt/, or its parent)")
    if not root.is_dir():
        raise MissingFileError(f"dataset folder not found: {root}. {download_hint(root.name, root.parent)}")
    found = []

    def visit(folder: Path, depth: int) -> None:
        image_dir, mask_dir = split_folders(folder)
        if image_dir and mask_dir:
            found.append(Split(folder.name, image_dir, mask_dir))
            return
        if depth < max_depth:
            for child in sorted(p for p in folder.iterdir() if p.is_dir()):
                visit(child, depth + 1)

    visit(root, 0)
    return found


def folders_beside_splits(root: str | Path, splits: list[Split]) -> list[str]:
    """For each folder below ``root`` that stands beside the splits found but is none (an emptied test split, one
    with images only), what it lacks: check-data names it rather than pass it over."""
    root = Path(root)  # the splits' paths are built on it as given: compared unresolved (a dataset may be a link)
    folders = {split.image_dir.parent for split in splits}
    parents = {folder.parent for folder in folders if folder.parent == root or root in folder.parent.parents}
    notes = []
    for child in sorted(child for parent in parents for child in parent.iterdir()):
        if not child.is_dir() or child.name.startswith(".") or any(child in (f, *f.parents) for f in folders):
            continue  # a split, or a folder holding some
        image_dir, mask_dir = split_folders(child)
        lacks = [what for what, there in (("no image folder (im/, images/, ...)", image_dir),
                                          ("no mask folder (gt/, masks/, ...)", mask_dir)) if not there]  # fmt: skip
        notes.append(f"{child}, beside the splits, has {' and '.join(lacks)}: not checked, and no split a config "
                     "can read")  # fmt: skip
    return notes


def unarranged_datasets(root: str | Path) -> list[str]:
    """For a data root (or a dataset folder in one): each known dataset folder there with none of its splits where the
    configs look for them (`unarranged`: an archive unpacked as it ships), named with those splits."""
    root = Path(root)
    places = [(root, name) for name in DATASETS if unarranged(root, name)]
    if unarranged(root.parent, root.name):
        places.append((root.parent, root.name))
    return [f"{base / name} is here but not {', '.join(DATASETS[name][1])} where the configs look for them: "
            "arrange it as data/README.md shows (From the archives)" for base, name in places]  # fmt: skip


def misnamed_splits(splits: list[Split]) -> list[str]:
    """For each split found in a known dataset's folder under a name the configs do not read (``UHRSD/UHRSD_TR``),
    while one they read there is missing: that name, the closest first (a fit would not find the split)."""
    notes = []
    for split in splits:
        folder = split.image_dir.parent
        if folder.parent.name not in DATASETS or folder.parent.name == "synthetic":  # synth writes what it is asked
            continue
        expected = [spec.rsplit("/", 1)[-1] for spec in DATASETS[folder.parent.name][1]]
        missing = [name for name in expected if not (folder.parent / name).is_dir()]
        if folder.name in expected or not missing:
            continue
        missing.sort(key=lambda name: -difflib.SequenceMatcher(None, name.lower(), folder.name.lower()).ratio())
        notes.append(f"{folder} is a split the configs do not read: they look for {folder.parent.name}/"
                     f"{' or '.join(missing)} there (rename the folder if it is that split)")  # fmt: skip
    return notes


def format_problems(reports: list[SplitReport], warnings: bool = True) -> str:
    lines = []
    for report in reports:
        for problem in report.problems:
            if problem.error or warnings:
                lines.append(f"{'error' if problem.error else 'warning'}: {problem.path}: {problem.message}")
    return "\n".join(lines)


def summary_table(reports: list[SplitReport]):
    from rich.table import Table

    table = Table(title="dataset check")
    for column in ("split", "folder", "pairs", "resolution (W x H)", "errors", "warnings"):
        table.add_column(column, justify="right" if column in ("pairs", "errors", "warnings") else "left")
    for report in reports:
        if report.sizes:
            areas = [w * h for w, h in report.sizes]
            smallest, largest = report.sizes[int(np.argmin(areas))], report.sizes[int(np.argmax(areas))]
            resolution = f"{smallest[0]}x{smallest[1]} .. {largest[0]}x{largest[1]}"
        else:
            resolution = "-"
        table.add_row(
            report.name,
            report.folder,
            str(report.pairs),
            resolution,
            str(len(report.errors)),
            str(len(report.warnings)),
        )
    return table


class DatasetError(UserError, ValueError):
    """A dataset with errors; the message lists every bad file and its problem."""


def split_fingerprint(split: Split) -> str:
    """Hash of the check rules' version and every file's name, size and mtime in the split's folders: changes when
    any file does."""
    digest = hashlib.sha1(f"check rules v{CHECK_RULES_VERSION}\n".encode())
    for folder in (split.image_dir, split.mask_dir):
        for path in sorted(folder.iterdir()):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# the warnings a passing split's cached result counts, by key: {key: (Problem.kind, the note after "N ")}
NOTED_KINDS = {
    "label_maps": (LABEL_MAP, f"masks of {{split}} are {LABEL_MAP}s, read as 0/255"),
    "grey_masks": (GREY_MASK, "masks of {split} are mostly grey, like images rather than masks"),
    "dark_objects": (
        DARK_OBJECT,
        f"masks of {{split}} hold 0 and one value of {FOREGROUND_THRESHOLD} or less, their object drawn in it: it "
        "reads as background (an empty mask); save the object as 255",
    ),
    "jpeg_masks": (JPEG_MASK, "masks of {split} are JPEG files, whose lossy compression blurs their edges"),
    "exif_oriented": (
        EXIF_ORIENTED,
        "images of {split} carry an EXIF orientation: each is used as it displays (turned or flipped), so its mask "
        "must match it as displayed; the released test code reads the stored pixels (PIL, without the tag), so "
        "scores on these images may not compare with published ones",
    ),
}


def forget_other_stamps(stamp: Path, folders: list[str]) -> None:
    """Remove the cached results of the split in ``folders`` (its resolved image and mask folders) other than
    ``stamp``: its files, or the check rules, have changed since they were written, so no fingerprint will match
    them again. Splits of other folders keep theirs, mapped ones sharing a parent folder too."""
    for other in stamp.parent.glob("*.json"):
        if other == stamp:
            continue
        try:
            if json.loads(other.read_text()).get("folders") == folders:
                other.unlink(missing_ok=True)
        except (OSError, ValueError):  # being written by another process, or not a stamp: left alone
            continue


def require_clean(
    splits: list[Split], cache_dir: Path, workers: int | None = None, use: str = "training"
) -> list[tuple[str, str]]:
    """Raise DatasetError (the check-data listing, saying that ``use`` would fail on those files: ``"training"``,
    ``"testing"``, ``"the benchmark"``) if any split has errors. A split that passed before
    and has not changed since (same fingerprint) is not decoded again; a split used by several stages is
    checked once. Label maps (read as 0/255), mostly grey masks, JPEG masks and images with an EXIF orientation are
    noted: printed, and returned as (NOTED_KINDS key, note) (the benchmark writes some with its tables)."""
    reports, seen, notes = [], set(), []
    for split in splits:
        folders = (split.image_dir.resolve(), split.mask_dir.resolve())
        if folders in seen:
            continue
        seen.add(folders)
        stamp = cache_dir / f"{split_fingerprint(split)}.json"
        if stamp.is_file():
            counts = json.loads(stamp.read_text())
        else:
            report = check_split(split, workers=workers)
            if report.errors:
                reports.append(report)
                continue
            counts = {"split": split.name, "folder": str(split.image_dir.parent), "pairs": report.pairs,
                      "folders": [str(folder) for folder in folders]}  # fmt: skip
            for key, (kind, _) in NOTED_KINDS.items():
                counts[key] = sum(problem.kind == kind for problem in report.warnings)
            write_json(stamp, counts)
            forget_other_stamps(stamp, counts["folders"])
        notes += [(key, f"{counts[key]} {note.format(split=split.name)}")
                  for key, (_, note) in NOTED_KINDS.items() if counts.get(key)]  # fmt: skip
    for _, note in notes:
        print(f"note: {note} (check-data lists them)")
    if reports:
        raise DatasetError(
            f"the dataset has errors; {use} would fail on these files:\n"
            + format_problems(reports, warnings=False)
            + "\nFix or remove them (`mgd-sam2 check-data FOLDER` lists warnings too) and run again."
        )
    return notes
