"""Where each dataset's images and masks live, and how files pair up (data/README.md).

A split is named by its path under the data root, e.g. ``DIS5K/DIS-TR``, ``HRSOD/HRSOD-TE``,
``DAVIS-S``, ``DUTS/DUTS-TR`` or ``synthetic/SYN-TE``; inside it the image and mask folders are
found among the usual names (``im``/``images``/``DUTS-TR-Image``..., ``gt``/``masks``/``DUTS-TR-Mask``...).
Any other pair of folders is given as ``{"images": DIR, "masks": DIR, "name": NAME}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from mgd_sam2.data.io import list_images
from mgd_sam2.errors import ConfigError, MissingFileError, some_of

IMAGE_DIR_NAMES = ("im", "image", "images", "img", "imgs", "Imgs", "Image", "Images")
MASK_DIR_NAMES = ("gt", "GT", "mask", "masks", "Mask", "Masks")

# dataset folder -> (how to get it, its splits as "dataset/split" paths under the data root)
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "DIS5K": (
        "Get DIS5K from https://github.com/xuebinqin/DIS",
        ("DIS5K/DIS-TR", "DIS5K/DIS-VD", "DIS5K/DIS-TE1", "DIS5K/DIS-TE2", "DIS5K/DIS-TE3", "DIS5K/DIS-TE4"),
    ),
    "HRSOD": ("Get HRSOD from https://github.com/yi94code/HRSOD", ("HRSOD/HRSOD-TR", "HRSOD/HRSOD-TE")),
    "UHRSD": ("Get UHRSD from https://github.com/iCVTEAM/PGNet", ("UHRSD/UHRSD-TR", "UHRSD/UHRSD-TE")),
    "DAVIS-S": ("Get DAVIS-S, released with HRSOD, from https://github.com/yi94code/HRSOD", ("DAVIS-S",)),
    "DUTS": ("Get DUTS from http://saliencydetection.net/duts/", ("DUTS/DUTS-TR", "DUTS/DUTS-TE")),
    "HKU-IS": ("Get HKU-IS from https://i.cs.hku.hk/~yzyu/research/saliency.html", ("HKU-IS",)),
    "synthetic": (
        "Generate it with `mgd-sam2 synth --out {root}/synthetic`",
        ("synthetic/SYN-TR", "synthetic/SYN-VD", "synthetic/SYN-TE"),
    ),
}

# the names of the benchmarks' test splits (all but the training and validation splits): never selected on
BENCHMARK_TEST_SPLITS = frozenset(
    spec.rsplit("/", 1)[-1]
    for dataset, (_, specs) in DATASETS.items()
    if dataset != "synthetic"
    for spec in specs
    if not spec.endswith(("-TR", "-VD"))
)

SplitSpec = Union[str, dict]


class DatasetLayoutError(MissingFileError):
    """A split that is not where its name says; the message says where it was looked for and how to get it."""


@dataclass(frozen=True)
class Split:
    name: str  # e.g. "DIS-TE1": the row name in tables
    image_dir: Path | None  # None for a GT-only split (saved predictions scored against it)
    mask_dir: Path | None  # None for image-only folders (prediction)


@dataclass
class Pairing:
    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)  # (stem, image, mask), sorted by stem
    images_without_mask: list[Path] = field(default_factory=list)
    masks_without_image: list[Path] = field(default_factory=list)
    stem_clashes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[tuple[Path, str]]:
        return (
            [(path, "image has no mask (masks pair with images by file stem)") for path in self.images_without_mask]
            + [(path, "mask has no image") for path in self.masks_without_image]
            + [(Path(clash), "several files share this stem") for clash in self.stem_clashes]
        )


def download_hint(spec: str, root: str | Path, need_images: bool = True) -> str:
    """Where to get the dataset of ``spec`` ("DATASET/SPLIT") and put it under the data root ``root``; for a dataset
    whose folder is there with none of its splits where the configs look (an archive unpacked as it ships), how to
    arrange it instead."""
    dataset = spec.split("/")[0]
    if unarranged(root, dataset, need_images):
        return f"{Path(root) / dataset} is there: arrange it as data/README.md shows (it maps each archive's folders)."
    if archives := archive_folders(root, dataset):
        return (f"{Path(root) / archives[0]} is there: if it is {dataset}, arrange it as {Path(root) / dataset} as "
                "data/README.md shows (it maps each archive's folders).")  # fmt: skip
    if dataset in DATASETS:
        return f"{DATASETS[dataset][0].format(root=Path(root).as_posix())}; data/README.md shows the folder layout."
    return "See data/README.md for the expected layouts."


def archive_folders(root: str | Path, dataset: str) -> list[str]:
    """The folders of ``root`` named as an archive of the known ``dataset`` unpacks (``HRSOD_release``: its name,
    then more), where the dataset's own folder is not there; none for the synthetic set, which synth writes."""
    root = Path(root)
    if dataset not in DATASETS or dataset == "synthetic" or not root.is_dir() or (root / dataset).is_dir():
        return []
    splits = {spec.rsplit("/", 1)[-1] for spec in DATASETS[dataset][1]}  # a split straight under the root: its own
    return sorted(folder.name for folder in root.iterdir() if folder.is_dir() and folder.name not in splits
                  and folder.name.lower().startswith(dataset.lower()))  # fmt: skip


def unarranged(root: str | Path, dataset: str, need_images: bool = True) -> bool:
    """Whether a known dataset's folder is under ``root`` with none of its splits where the configs look for them
    (an image folder and a mask folder each; without ``need_images``, a mask folder): an archive unpacked as it
    ships, not a partial download."""
    if dataset not in DATASETS or dataset == "synthetic" or not (Path(root) / dataset).is_dir():
        return False
    needed = slice(0 if need_images else 1, 2)  # of (image folder, mask folder)
    return not any(
        all(split_folders(Path(root) / spec)[needed]) for spec in DATASETS[dataset][1] if (Path(root) / spec).is_dir()
    )


def find_subdir(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    for name in candidates:
        if (folder / name).is_dir():
            return folder / name
    return None


def split_folders(folder: Path) -> tuple[Path | None, Path | None]:
    """(image folder, mask folder) inside a split folder, among the usual names; None where there is none."""
    return (
        find_subdir(folder, IMAGE_DIR_NAMES + (f"{folder.name}-Image",)),
        find_subdir(folder, MASK_DIR_NAMES + (f"{folder.name}-Mask",)),
    )


def split_label(spec: SplitSpec) -> str:
    """How a split reads in a sentence: its path as given, or a mapping's name (else its images folder's parent's)."""
    if not isinstance(spec, dict):
        return str(spec)
    image_dir = Path(spec.get("images", ""))
    return spec.get("name") or image_dir.parent.name or image_dir.name


def resolve_split(root: str | Path, spec: SplitSpec, need_masks: bool = True, need_images: bool = True) -> Split:
    """The image and mask folders of ``spec`` (a path under ``root`` or an images/masks dict); without
    ``need_images``, a split folder may hold its masks only (its image folder None)."""
    if isinstance(spec, dict):
        unknown = set(spec) - {"images", "masks", "name"}
        if unknown or "images" not in spec:
            raise ConfigError(
                f"a split given as a mapping needs 'images' (and 'masks', 'name'), got keys {sorted(spec)}"
            )
        image_dir = Path(spec["images"])
        mask_dir = Path(spec["masks"]) if spec.get("masks") else None
        name = split_label(spec)
        for folder, role in ((image_dir, "images"), (mask_dir, "masks")):
            if folder is not None and not folder.is_dir():
                raise DatasetLayoutError(f"{role} folder not found: {folder}")
        if need_masks and mask_dir is None:
            raise ConfigError(f"split {name!r} needs a 'masks' folder")
        return Split(name, image_dir, mask_dir)
    folder = Path(root) / spec
    name = Path(spec).name
    if not folder.is_dir():
        misplaced = Path(root) / name  # the split's folder straight under the root, its dataset's folder left out
        nearby = f" ({misplaced} exists: the root holds one folder per dataset)" if misplaced.is_dir() else ""
        beside = sorted(p.name for p in folder.parent.iterdir() if p.is_dir()) if folder.parent.is_dir() else []
        if beside and folder.parent != Path(root):  # a misspelt split (DIS-VAL for DIS-VD): what is there
            nearby += f" ({folder.parent} holds {some_of(beside)})"
        if not Path(root).is_dir():
            nearby += f" (the data root {root} is not there: give --data.root, the folder holding the datasets)"
        hint = download_hint(spec, root, need_images)
        raise DatasetLayoutError(f"split {spec!r} not found: no folder {folder}{nearby}. {hint}")
    image_dir, mask_dir = split_folders(folder)
    if (need_images and image_dir is None) or (need_masks and mask_dir is None):
        found = some_of(sorted(p.name for p in folder.iterdir()))
        folders = (("an image", IMAGE_DIR_NAMES, need_images), ("a mask", MASK_DIR_NAMES, need_masks))
        needed = [f"{kind} folder ({'/'.join(names)})" for kind, names, needs in folders if needs]
        raise DatasetLayoutError(
            f"split {spec!r} at {folder} needs {' and '.join(needed)}; found {found or 'nothing'}. See data/README.md "
            "for the layout."
        )
    return Split(name, image_dir, mask_dir)


def files_by_stem(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """{stem: file} of the images in ``folder``, and each stem held by more than one file, as its files ("a.bmp /
    a.jpg / a.png", the first with its folder)."""
    by_stem: dict[str, list[Path]] = {}
    for path in list_images(folder):
        by_stem.setdefault(path.stem, []).append(path)
    clashes = [" / ".join([str(paths[0]), *(path.name for path in paths[1:])])
               for paths in by_stem.values() if len(paths) > 1]  # fmt: skip
    return {stem: paths[-1] for stem, paths in by_stem.items()}, clashes


def pair_by_stem(image_dir: Path, mask_dir: Path) -> Pairing:
    """Pair image and mask files by stem (``a.jpg`` with ``a.png``)."""
    images, image_clashes = files_by_stem(image_dir)
    masks, mask_clashes = files_by_stem(mask_dir)
    return Pairing(
        pairs=[(stem, images[stem], masks[stem]) for stem in sorted(set(images) & set(masks))],
        images_without_mask=[images[stem] for stem in sorted(set(images) - set(masks))],
        masks_without_image=[masks[stem] for stem in sorted(set(masks) - set(images))],
        stem_clashes=image_clashes + mask_clashes,
    )
