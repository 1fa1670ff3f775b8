"""Dataset layouts, tiling, augmentation, the synthetic generator, dataset checks and the DataModule."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import albumentations as A
import cv2
import einops
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mgd_sam2.cli import main
from mgd_sam2.data.check import DatasetError, check_split, require_clean
from mgd_sam2.data.datamodule import SegmentationDataModule, fit_data_line
from mgd_sam2.data.datasets import Record, SegmentationDataset, split_records
from mgd_sam2.data.io import UnreadableImageError, read_image, read_mask
from mgd_sam2.data.layouts import DatasetLayoutError, Split, resolve_split
from mgd_sam2.data.samplers import ResumableLoader, ResumableSampler
from mgd_sam2.data.shapes import OBJECTS
from mgd_sam2.data.synth import (
    HELD_OUT_BACKGROUNDS,
    HELD_OUT_OBJECTS,
    HELD_OUT_SPLIT,
    TRAINING_BACKGROUNDS,
    TRAINING_OBJECTS,
    SynthConfig,
    generate_sample,
    plan_sample,
    render,
    write_dataset,
)
from mgd_sam2.data.transforms import IMAGENET_MEAN, IMAGENET_STD, PILRotate, normalize_image, train_transform
from mgd_sam2.data.view_cutting import tile
from mgd_sam2.errors import ConfigError, MissingFileError
from mgd_sam2.models.multi_view import (
    Views,
    arrange_views,
    check_input_size,
    image_to_locals,
    input_size_unit,
    locals_to_image,
    nearest_input_size,
    resize,
    split_views,
    stitch_locals,
)


def save_pair(image_dir: Path, mask_dir: Path, stem: str, size=(40, 30), image_ext=".jpg") -> None:
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(stem)) % 1000)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(image_dir / f"{stem}{image_ext}")
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[5:20, 8:30] = 255
    Image.fromarray(mask).save(mask_dir / f"{stem}.png")


# ---------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("spec", "image_sub", "mask_sub", "ext"),
    [
        ("DIS5K/DIS-TR", "im", "gt", ".jpg"),
        ("HRSOD/HRSOD-TE", "images", "masks", ".jpg"),
        ("UHRSD/UHRSD-TE", "image", "mask", ".jpg"),
        ("DAVIS-S", "im", "gt", ".jpg"),
        ("DUTS/DUTS-TR", "DUTS-TR-Image", "DUTS-TR-Mask", ".jpg"),
        ("HKU-IS", "imgs", "gt", ".png"),
        ("synthetic/SYN-TE", "im", "gt", ".jpg"),
    ],
)
def test_each_layout_reads_its_pairs(tmp_path: Path, spec: str, image_sub: str, mask_sub: str, ext: str) -> None:
    folder = tmp_path / spec
    for stem in ("b", "a", "c"):
        save_pair(folder / image_sub, folder / mask_sub, stem, image_ext=ext)
    split = resolve_split(tmp_path, spec)
    assert split.name == Path(spec).name
    records = split_records(split)
    assert [r.name for r in records] == ["a", "b", "c"]
    assert all(r.image.suffix == ext and r.mask.suffix == ".png" and r.split == split.name for r in records)


def test_generic_images_and_masks_folders(tmp_path: Path) -> None:
    """The mapping form, with the keys data/README.md's example gives it."""
    import yaml

    readme = (Path(__file__).resolve().parents[1] / "data/README.md").read_text()
    (example,) = yaml.safe_load(re.search(r"`data\.test: (\[.*?\])`", " ".join(readme.split())).group(1))
    save_pair(tmp_path / "photos", tmp_path / "labels", "x")
    split = resolve_split(tmp_path, {**example, "images": str(tmp_path / "photos"), "masks": str(tmp_path / "labels")})
    assert set(example) == {"images", "masks", "name"}
    assert split.name == example["name"] and [r.name for r in split_records(split)] == ["x"]
    with pytest.raises(ValueError, match="needs 'images'"):
        resolve_split(tmp_path, {"masks": "x"})


def test_missing_split_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"DIS5K.*github.com/xuebinqin/DIS"):
        resolve_split(tmp_path, "DIS5K/DIS-TE1")
    (tmp_path / "HRSOD" / "HRSOD-TE" / "photos").mkdir(parents=True)
    for index in range(7):
        (tmp_path / "HRSOD" / "HRSOD-TE" / f"{index:05d}.jpg").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match="needs an image folder") as error:
        resolve_split(tmp_path, "HRSOD/HRSOD-TE")
    assert "found 00000.jpg, 00001.jpg, 00002.jpg, 00003.jpg, 00004.jpg and 3 more. See data/README.md" in str(
        error.value
    )
    # a dataset unpacked as its archive ships: how to arrange it, not where to download it
    (tmp_path / "HRSOD" / "HRSOD_train").mkdir()
    expected = f"{tmp_path / 'HRSOD'} is there: arrange it as data/README.md shows (it maps each archive's folders)."
    with pytest.raises(DatasetLayoutError, match=re.escape(expected)):
        resolve_split(tmp_path, "HRSOD/HRSOD-TR")
    # synthetic data generated straight into the root: the hint is for this root, and names what is there instead
    (tmp_path / "SYN-TR").mkdir()
    expected = (
        f"no folder {tmp_path / 'synthetic/SYN-TR'} ({tmp_path / 'SYN-TR'} exists: the root holds one folder per "
        f"dataset). Generate it with `mgd-sam2 synth --out {tmp_path.as_posix()}/synthetic`"
    )
    with pytest.raises(DatasetLayoutError, match=re.escape(expected)):
        resolve_split(tmp_path, "synthetic/SYN-TR")
    # a misspelt split of a dataset that is there: the splits it holds
    (tmp_path / "DIS5K/DIS-VD").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=re.escape(f"no folder {tmp_path / 'DIS5K/DIS-VAL'} ("
                                                           f"{tmp_path / 'DIS5K'} holds DIS-VD). ")):  # fmt: skip
        resolve_split(tmp_path, "DIS5K/DIS-VAL")
    no_root = f"(the data root {tmp_path / 'none'} is not there: give --data.root, the folder holding the datasets)"
    with pytest.raises(DatasetLayoutError, match=re.escape(no_root)):
        resolve_split(tmp_path / "none", "DIS5K/DIS-TR")
    # an archive's folder under its own name: the pointer to the layout table, not "get it from" (a try-out's)
    (tmp_path / "arch" / "HRSOD_release" / "HRSOD_train").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=re.escape(
        f"{tmp_path / 'arch/HRSOD_release'} is there: if it is HRSOD, arrange it as {tmp_path / 'arch/HRSOD'} as "
        "data/README.md shows")):  # fmt: skip
        resolve_split(tmp_path / "arch", "HRSOD/HRSOD-TR")
    # a config's missing splits are named all at once, not one per run
    module = SegmentationDataModule(root=str(tmp_path), test=["DIS5K/DIS-TE1", "DAVIS-S", "HKU-IS"], num_workers=0)
    with pytest.raises(DatasetLayoutError) as error:
        module.splits("test")
    lines = str(error.value).splitlines()
    assert lines[0] == "3 test splits not found:" and [line.split("'")[1] for line in lines[1:]] == module.specs["test"]


def test_two_evaluation_splits_of_one_name_are_refused(tmp_path: Path) -> None:
    """Scores are logged per split name: A/val and B/val would be one row of both (found by a try-out). Named apart
    by a mapping they are two; training splits are pooled anyway."""
    for dataset in ("A", "B"):
        save_pair(tmp_path / dataset / "val" / "im", tmp_path / dataset / "val" / "gt", "x")
    module = SegmentationDataModule(root=str(tmp_path), train=["A/val", "B/val"], test=["A/val", "B/val"],
                                    num_workers=0)  # fmt: skip
    with pytest.raises(ConfigError) as error:
        module.splits("test")
    assert str(error.value) == (
        f"data.test has 2 splits named 'val' ({tmp_path / 'A/val'}, {tmp_path / 'B/val'}): scores are logged per "
        "split name, so theirs would be pooled into one row; give each but one as a mapping with a name of its own: "
        f"{{images: {tmp_path / 'B/val/im'}, masks: {tmp_path / 'B/val/gt'}, name: val-2}}"
    )
    assert len(module.splits("train")) == 2
    renamed = {"images": str(tmp_path / "B/val/im"), "masks": str(tmp_path / "B/val/gt"), "name": "val-2"}
    module = SegmentationDataModule(root=str(tmp_path), val=["A/val", renamed], val_holdout=1, num_workers=0)
    assert module.split_names("val") == ["holdout", "val", "val-2"]
    module = SegmentationDataModule(root=str(tmp_path), val=[{**renamed, "name": "holdout"}], val_holdout=1,
                                    num_workers=0)  # fmt: skip
    with pytest.raises(ConfigError, match="data.val has 2 splits named 'holdout'"):
        module.splits("val")


def test_joint_training_on_several_sets(tmp_path: Path) -> None:
    save_pair(tmp_path / "DUTS/DUTS-TR/DUTS-TR-Image", tmp_path / "DUTS/DUTS-TR/DUTS-TR-Mask", "d1")
    save_pair(tmp_path / "HRSOD/HRSOD-TR/im", tmp_path / "HRSOD/HRSOD-TR/gt", "h1")
    save_pair(tmp_path / "HRSOD/HRSOD-TR/im", tmp_path / "HRSOD/HRSOD-TR/gt", "h2")
    module = SegmentationDataModule(
        root=str(tmp_path),
        train=["DUTS/DUTS-TR", "HRSOD/HRSOD-TR"],
        input_size=64,
        num_workers=0,
        check=False,
    )
    module.setup("fit")
    assert sorted((r.split, r.name) for r in module.datasets["train"][0].records) == [
        ("DUTS-TR", "d1"),
        ("HRSOD-TR", "h1"),
        ("HRSOD-TR", "h2"),
    ]


def test_a_fit_keeps_its_splits_apart_as_the_protocol_does(tmp_path: Path, capsys) -> None:
    """Found by a try-out, each trained without a word: a training split listed twice (its val_holdout stayed in
    training), also a test or validation split (by its folder, however it is named), or a benchmark's test split
    selected on (a note: the released code did so). An overfit_batches run may validate on its training split."""
    for split in ("HRSOD/HRSOD-TR", "UHRSD/UHRSD-TR", "HRSOD/HRSOD-TE", "DIS5K/DIS-VD"):
        save_pair(tmp_path / split / "im", tmp_path / split / "gt", "x")
    train = ["HRSOD/HRSOD-TR", "UHRSD/UHRSD-TR"]
    by_path = {"images": str(tmp_path / "HRSOD/HRSOD-TR/im"), "masks": str(tmp_path / "HRSOD/HRSOD-TR/gt"),
               "name": "mine"}  # fmt: skip

    def fit(**splits) -> None:
        SegmentationDataModule(root=str(tmp_path), input_size=64, num_workers=0, check=False, **splits).setup("fit")

    cases = [
        ({"train": [*train, "HRSOD/HRSOD-TR"]}, f"data.train lists HRSOD-TR ({tmp_path / 'HRSOD/HRSOD-TR'}) twice"),
        ({"train": train, "test": ["HRSOD/HRSOD-TE", "UHRSD/UHRSD-TR"]},
         "data.test UHRSD-TR (" + str(tmp_path / "UHRSD/UHRSD-TR") + ") is also in data.train: its scores would"),
        ({"train": train, "val": [by_path]}, "data.val mine (" + str(tmp_path / "HRSOD/HRSOD-TR") + ") is also in "
         "data.train: validation would score images the model trains on"),
    ]  # fmt: skip
    for splits, message in cases:
        with pytest.raises(ConfigError) as error:
            fit(**splits)
        assert str(error.value).startswith(message), str(error.value)
    fit(train=train, val=["HRSOD/HRSOD-TE"], test=["HRSOD/HRSOD-TE", "MISSING/SPLIT"])  # a test split not there yet
    out, err = capsys.readouterr()
    assert "note: data.val HRSOD-TE is a benchmark's test split: best.ckpt is selected on images it is then tested " \
        "on" in err  # fmt: skip
    # and a line says what it trains and validates on (a try-out told both datasets were used by the batch count)
    assert "data: training on HRSOD-TR (1) + UHRSD-TR (1) = 2 images; validating on HRSOD-TE (1)\n" in out
    assert "batch: 2 images a batch, 1 batches an epoch\n" in out
    fit(train=train, val_holdout=1)
    assert "data: training on UHRSD-TR (1) images; validating on holdout (1)\n" in capsys.readouterr().out
    # and the batch of all processes (the recipes' LR is not scaled with it: a try-out found no word of it)
    records = [Record(f"{index}", "TR", Path(f"{index}.png")) for index in range(3001)]
    assert fit_data_line(records, [], 2, 8).splitlines()[1] == "batch: 2 x 8 processes = 16 images a batch, 187 " \
        "batches an epoch"  # fmt: skip
    fit(train=train, val=["DIS5K/DIS-VD"], test=["DIS5K/DIS-VD"])  # the DIS recipe tests its validation split too
    assert "note" not in capsys.readouterr().err
    module = SegmentationDataModule(root=str(tmp_path), train=train, val=[by_path], input_size=64, num_workers=0,
                                    check=False)  # fmt: skip
    module.trainer = SimpleNamespace(overfit_batches=1, world_size=1, global_rank=0)
    module.setup("fit")
    module = SegmentationDataModule(root=str(tmp_path), train=train, num_workers=0, check=False)  # nothing validated
    module.trainer = SimpleNamespace(state=SimpleNamespace(fn=SimpleNamespace(value="fit")))
    with pytest.raises(ConfigError, match="^no val splits configured: give data.val in the config, or hold out "
                       "training images with data.val_holdout N$"):  # fmt: skip
        module.prepare_data()


# ---------------------------------------------------------------- views


def test_stitching_refuses_shapes_that_do_not_tile() -> None:
    with pytest.raises(ValueError, match="does not cut into 2x2"):
        image_to_locals(torch.zeros(1, 1, 6, 7), 2)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        locals_to_image(torch.zeros(6, 1, 3, 3), 2)


@settings(max_examples=30, deadline=None)
@given(grid=st.integers(1, 4), multiple=st.integers(1, 2), channels=st.integers(1, 3), batch=st.integers(1, 3))
def test_tiling_cuts_batch_major_row_major_views(grid: int, multiple: int, channels: int, batch: int) -> None:
    side = multiple * math.lcm(32, 16 * grid)  # the smallest view sides that tile
    image = torch.randn(batch, channels, grid * side, grid * side)
    views = tile(image, grid)
    assert views.local_views.shape == (batch, grid * grid, channels, side, side)
    assert views.global_view.shape == (batch, channels, side, side) and views.grid == grid
    arranged = arrange_views(views)
    assert arranged.shape == (batch * (grid * grid + 1), channels, side, side)
    torch.testing.assert_close(stitch_locals(arranged, grid), image, rtol=0, atol=0)
    torch.testing.assert_close(locals_to_image(image_to_locals(image, grid), grid), image, rtol=0, atol=0)
    expected = einops.rearrange(image, "b c (gh h) (gw w) -> (b gh gw) c h w", gh=grid, gw=grid)
    assert torch.equal(image_to_locals(image, grid), expected)  # the 6-D permute they are written without
    assert torch.equal(locals_to_image(expected, grid), image)
    locals_, globals_ = split_views(arranged, grid)
    torch.testing.assert_close(globals_, resize(image, (side, side)), rtol=0, atol=0)
    # batch-major, row-major: view k of image b is the tile (k // g, k % g) of image b
    b, k = batch - 1, grid * grid - 1
    row, col = divmod(k, grid)
    torch.testing.assert_close(
        locals_[b * grid * grid + k], image[b, :, row * side : (row + 1) * side, col * side : (col + 1) * side]
    )
    # what the loader workers do (one image each, then collate) equals cutting the whole batch
    per_sample = Views.cat([tile(image[i : i + 1], grid) for i in range(batch)])
    for field in ("full", "local_views", "global_view"):
        assert torch.equal(getattr(per_sample, field), getattr(views, field)), field


def test_mask_views_use_nearest_for_the_global_view() -> None:
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    views = tile(mask, 2, global_mode="nearest")
    assert set(views.global_view.unique().tolist()) <= {0.0, 1.0}


def test_one_rule_for_input_sizes() -> None:
    assert input_size_unit(2) == 64 and input_size_unit(3) == 288
    for size in (64, 128, 1024):
        check_input_size(size, 2)
    for size, grid in ((96, 2), (0, 2), (192, 3), (1000, 2)):
        with pytest.raises(ValueError, match="does not tile"):
            check_input_size(size, grid)
    assert [nearest_input_size(1024 * s, 2) for s in (0.75, 1.0, 1.25)] == [768, 1024, 1280]
    assert nearest_input_size(10, 2) == 64


# ---------------------------------------------------------------- augmentation


def unnormalize_gray(image: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((image * std + mean).clamp(0, 1) * 255).mean(0).numpy()


def test_augmentation_keeps_image_and_mask_aligned() -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros((300, 420), np.uint8)
    for _ in range(12):
        cv2.circle(mask, (int(rng.integers(0, 420)), int(rng.integers(0, 300))), int(rng.integers(5, 40)), 255, -1)
    cv2.line(mask, (0, 150), (419, 160), 255, 3)
    image = np.repeat(np.where(mask > 0, 230, 25).astype(np.uint8)[..., None], 3, axis=2)
    transform = train_transform(128, seed=1)
    ious = []
    for _ in range(30):
        out = transform(image=image, mask=mask)
        assert out["image"].shape == (128, 128, 3) and out["mask"].shape == (128, 128)
        gray, target = unnormalize_gray(normalize_image(out["image"])), out["mask"] > 127
        predicted = gray > (gray[target].mean() + gray[~target].mean()) / 2
        ious.append((predicted & target).sum() / (predicted | target).sum())
    assert min(ious) > 0.9, ious  # misaligned by a few pixels would drop well below on thin shapes


def test_a_heic_photo_is_named_as_one(tmp_path: Path) -> None:
    """Pillow reads no HEIC: the message says what the file is and what to do, whatever its suffix."""
    for name in ("IMG_0001.heic", "renamed.jpg"):
        (tmp_path / name).write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
        with pytest.raises(UnreadableImageError, match="a HEIC/HEIF photo .*convert it to JPEG or PNG") as raised:
            read_image(tmp_path / name)
        assert "Re-export" not in str(raised.value)  # its own advice only
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(UnreadableImageError, match="cannot identify image file") as raised:
        read_image(tmp_path / "notes.jpg")
    assert "HEIC" not in str(raised.value) and str(raised.value).endswith(" Re-export or remove the file.")


def test_rotation_is_the_released_one() -> None:
    """The released ``randomRotation``: numpy's ``randint(-15, 15)`` (an integer in -15..14), PIL bicubic for the
    image and nearest for the mask, with probability 0.2."""
    rotate = PILRotate(limit=15, p=0.2)
    rotate.set_random_seed(0)
    assert sorted({rotate.get_params()["angle"] for _ in range(2000)}) == list(range(-15, 15))
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    mask = np.where(np.random.default_rng(1).random((40, 60)) > 0.5, 255, 0).astype(np.uint8)
    for angle in (-15, 7):
        assert np.array_equal(
            rotate.apply(image, angle=angle), np.array(Image.fromarray(image).rotate(angle, Image.Resampling.BICUBIC))
        )
        assert np.array_equal(
            rotate.apply_to_mask(mask, angle=angle),
            np.array(Image.fromarray(mask).rotate(angle, Image.Resampling.NEAREST)),
        )
    transform = A.Compose([rotate], seed=0)
    rotated = sum(not np.array_equal(transform(image=image, mask=mask)["image"], image) for _ in range(1000))
    assert 150 <= rotated <= 250  # p = 0.2 of 1000 (an angle of 0 leaves it as it is, 1 in 30)


def test_normalisation_is_the_released_torchvision_arithmetic() -> None:
    from torchvision.transforms import functional as TF

    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    expected = TF.normalize(TF.to_tensor(image), IMAGENET_MEAN, IMAGENET_STD)  # the released ToTensor + Normalize
    assert torch.equal(normalize_image(image), expected)


def test_augmentation_is_seeded_per_sample(tmp_path: Path) -> None:
    write_dataset(tmp_path, SynthConfig(num=4, min_size=96, max_size=128, held_out=0), workers=0, show=False)
    records = split_records(resolve_split(tmp_path, "SYN-TR"))
    first = SegmentationDataset(records, 64, "train")
    second = SegmentationDataset(records, 64, "train")
    torch.testing.assert_close(first[(0, 123)]["input"].full, second[(0, 123)]["input"].full)
    assert not torch.equal(first[(0, 123)]["input"].full, first[(0, 124)]["input"].full)


# ---------------------------------------------------------------- synthetic data


def test_generator_is_deterministic_and_varied() -> None:
    image, mask = generate_sample(3, 7, 128, 256)
    again_image, again_mask = generate_sample(3, 7, 128, 256)
    assert np.array_equal(image, again_image) and np.array_equal(mask, again_mask)
    assert 128 <= min(image.shape[:2]) and max(image.shape[:2]) <= 256 and mask.shape == image.shape[:2]
    assert set(np.unique(mask)) == {0, 255}
    other, _ = generate_sample(3, 8, 128, 256)
    assert other.shape != image.shape or not np.array_equal(other, image)


@pytest.mark.parametrize("family", sorted(OBJECTS))
def test_every_object_family_has_an_exact_mask(family: str) -> None:
    """Render a scene twice, the object painted black then white: exactly the mask's pixels change."""
    for index in range(3):
        scenes = [
            render(replace(plan_sample(0, index, 96, 160), objects=(family,)), paint=np.array([value] * 3))
            for value in (0.0, 255.0)
        ]
        (black, mask), (white, same_mask) = scenes
        assert np.array_equal(mask, same_mask) and set(np.unique(mask)) <= {0, 255} and mask.any()
        changed = np.abs(white - black).max(axis=2) > 1e-3
        assert np.array_equal(changed, mask > 0), f"{family}: image and mask disagree"


def test_the_held_out_split_uses_only_families_no_other_split_uses() -> None:
    assert set(HELD_OUT_OBJECTS) & set(TRAINING_OBJECTS) == set() and HELD_OUT_OBJECTS
    assert set(HELD_OUT_BACKGROUNDS) & set(TRAINING_BACKGROUNDS) == set() and HELD_OUT_BACKGROUNDS
    config = SynthConfig(num=40, held_out=10)
    seen = {"objects": set(), "backgrounds": set()}
    for split, index in config.assignments():
        plan = plan_sample(config.seed, index, 64, 64, held_out=split == HELD_OUT_SPLIT)
        objects = HELD_OUT_OBJECTS if split == HELD_OUT_SPLIT else TRAINING_OBJECTS
        backgrounds = HELD_OUT_BACKGROUNDS if split == HELD_OUT_SPLIT else TRAINING_BACKGROUNDS
        assert set(plan.objects) <= set(objects) and plan.background in backgrounds, (split, plan)
        if split != HELD_OUT_SPLIT:
            seen["objects"] |= set(plan.objects)
            seen["backgrounds"].add(plan.background)
    assert len(seen["objects"]) >= 6 and len(seen["backgrounds"]) >= 3  # training sees many families
    assert [split for split, _ in config.assignments()].count(HELD_OUT_SPLIT) == 10


def test_no_colour_says_object() -> None:
    """index.md: objects and backgrounds are painted from one colour distribution, so no colour says "object": over
    300 images, the object's mean colour is the brighter, the more saturated, and the higher in each channel in
    40 to 60 % of them (measured 53 to 56 %; the draws are seeded, so only a CPU's rounding moves an image)."""
    objects, backgrounds = [], []
    for index in range(300):
        image, mask = generate_sample(0, index, 96, 128)
        foreground = mask > 128
        objects.append(image[foreground].mean(0))
        backgrounds.append(image[~foreground].mean(0))
    objects, backgrounds = np.array(objects), np.array(backgrounds)
    shares = [np.mean(objects.mean(1) > backgrounds.mean(1)), np.mean(np.ptp(objects, 1) > np.ptp(backgrounds, 1))]
    shares += [np.mean(objects[:, channel] > backgrounds[:, channel]) for channel in range(3)]
    assert all(0.4 <= share <= 0.6 for share in shares), shares


def test_the_generator_can_draw_chosen_families_only(tmp_path: Path) -> None:
    """``--objects`` (e.g. the thin families, for the detail benchmark's 4K split): the training splits draw from those
    only, the manifest keeps them, and unknown or held-out families are refused."""
    import json

    from mgd_sam2.data.shapes import THIN_OBJECTS

    assert set(THIN_OBJECTS) <= set(TRAINING_OBJECTS)
    drawn = {name for index in range(30) for name in plan_sample(0, index, 64, 64, objects=("web", "hair")).objects}
    assert drawn == {"web", "hair"}
    held_out = plan_sample(0, 3, 64, 64, held_out=True, objects=("web",)).objects
    assert held_out == plan_sample(0, 3, 64, 64, held_out=True).objects  # SYN-HO keeps its own families
    config = SynthConfig(num=5, min_size=64, max_size=64, held_out=0, objects=("cables",))
    write_dataset(tmp_path, config, workers=0, show=False, splits=("SYN-TE",))
    assert SynthConfig.from_dict(json.loads((tmp_path / "synth.json").read_text())) == config
    assert write_dataset(tmp_path, config, workers=0, show=False, splits=("SYN-TE",)) == {"written": 0, "kept": 1}
    for family in ("plant", "spaceship"):
        with pytest.raises(ConfigError, match=f"--objects: {family} is no family of the training splits"):
            SynthConfig(objects=(family,))


def test_generated_masks_match_their_images(tmp_path: Path) -> None:
    config = SynthConfig(num=8, seed=5, min_size=128, max_size=192, held_out=2)
    assert write_dataset(tmp_path, config, workers=0, show=False) == {"written": 10, "kept": 0}
    for split, count in config.split_sizes().items():
        records = split_records(resolve_split(tmp_path, f"{split}"))
        assert len(records) == count
        for record in records:
            image, mask = read_image(record.image), read_mask(record.mask)
            index = int(record.name.split("_")[1])
            expected_image, expected_mask = generate_sample(
                config.seed, index, config.min_size, config.max_size, held_out=split == HELD_OUT_SPLIT
            )
            assert np.array_equal(mask, expected_mask)
            assert np.abs(image.astype(int) - expected_image).mean() < 6  # JPEG
    assert check_split(resolve_split(tmp_path, "SYN-TR"), workers=0, show=False).problems == []


def test_generator_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    config = SynthConfig(num=4, min_size=96, max_size=128, held_out=2)
    write_dataset(tmp_path, config, workers=0, show=False)
    victim = next((tmp_path / "SYN-TR" / "im").iterdir())
    victim.unlink()
    assert write_dataset(tmp_path, config, workers=0, show=False) == {"written": 1, "kept": 5}
    with pytest.raises(FileExistsError, match=r"other settings \(num=4, where this asks num=5\)"):
        write_dataset(tmp_path, SynthConfig(num=5, min_size=96, max_size=128, held_out=2), workers=0, show=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        write_dataset(tmp_path / "other", config, workers=0, show=False)
    assert json.loads((tmp_path / "synth.json").read_text())["num"] == 4


def test_synth_command(tmp_path: Path, capsys) -> None:
    assert main(["synth", "--out", str(tmp_path / "s"), "--num", "3", "--size", "96", "128", "--workers", "0"]) == 0
    assert "SYN-TR 1, SYN-VD 1, SYN-TE 1" in capsys.readouterr().out


# ---------------------------------------------------------------- check-data


@pytest.fixture()
def broken_split(tmp_path: Path) -> Path:
    """One split with one example of every problem check-data knows, plus two clean pairs."""
    root = tmp_path / "DIS5K" / "DIS-TR"
    im, gt = root / "im", root / "gt"
    for stem in (
        "clean1",
        "clean2",
        "nomask",
        "soft",
        "empty",
        "exif",
        "exifstored",
        "labels",
        "gray",
        "rgba",
        "sixteen",
        "mismatch",
        "truncated",
        "garbage",
        "alphamask",
        "photo",
        "greymap",
        "jpegmask",
        "darkdrawn",
        "greydrawn",
    ):
        save_pair(im, gt, stem, size=(64, 48))
    (gt / "nomask.png").unlink()
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(gt / "orphan.png")
    soft = read_mask(gt / "soft.png")
    soft[4, 8:30] = 128  # an anti-aliased edge
    Image.fromarray(soft).save(gt / "soft.png")
    Image.fromarray(np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))).save(gt / "greymap.png")
    Image.open(im / "photo.jpg").save(gt / "photo.png")  # the photo itself as its mask
    Image.open(gt / "jpegmask.png").save(gt / "jpegmask.jpg", quality=95)
    (gt / "jpegmask.png").unlink()
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(gt / "empty.png")
    drawn = np.zeros((48, 64), np.uint8)
    drawn[:30, :40] = 1  # 39 % of the pixels: a grey share past GREY_SHARE, in two values
    Image.fromarray(drawn * 100).save(gt / "darkdrawn.png")  # an object drawn at 100: reads as empty
    Image.fromarray(drawn * 200).save(gt / "greydrawn.png")  # drawn at 200: a mask, soft as a target
    exif = Image.Exif()
    exif[0x0112] = 6  # displays turned by 90 degrees: 48x64
    Image.open(im / "exif.jpg").save(im / "exif.jpg", exif=exif)
    Image.open(gt / "exif.png").transpose(Image.Transpose.ROTATE_270).save(gt / "exif.png")  # drawn as displayed
    Image.open(im / "exifstored.jpg").save(im / "exifstored.jpg", exif=exif)  # its mask matches the stored pixels
    Image.fromarray((read_mask(gt / "labels.png") > 128).astype(np.uint8)).save(gt / "labels.png")  # 0/1
    Image.open(im / "gray.jpg").convert("L").save(im / "gray.jpg")
    (im / "rgba.jpg").unlink()
    Image.open(im / "clean1.jpg").convert("RGBA").save(im / "rgba.png")
    Image.fromarray((read_mask(gt / "sixteen.png").astype(np.uint16) * 257)).save(gt / "sixteen.png")
    Image.open(gt / "mismatch.png").resize((60, 48)).save(gt / "mismatch.png")
    data = (im / "truncated.jpg").read_bytes()
    (im / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (im / "garbage.jpg").write_bytes(b"not an image at all")
    alpha = np.zeros((48, 64, 4), np.uint8)
    alpha[10:30, 10:40, 3] = 255
    Image.fromarray(alpha, "RGBA").save(gt / "alphamask.png")
    return tmp_path


EXPECTED_PROBLEMS = {
    "nomask.jpg": ("image has no mask", True),
    "orphan.png": ("mask has no image", True),
    "soft.png": ("non-binary mask", False),
    "empty.png": ("empty mask", False),
    "exif.jpg": ("EXIF orientation 6", False),
    "exifstored.png": ("its image as stored, but the image displays as 48x64", True),
    "labels.png": ("0/1 label map: read as 0/255", False),
    "gray.jpg": ("grayscale image", False),
    "rgba.png": ("alpha channel", False),
    "sixteen.png": ("16-bit mask", False),
    "mismatch.png": ("mask is 60x48 but its image is 64x48", True),
    "truncated.jpg": ("unreadable or truncated", True),
    "garbage.jpg": ("unreadable or truncated", True),
    "alphamask.png": ("shape in the alpha channel", True),
    "photo.png": ("mask is a colour image (its channels differ), a photo or a coloured overlay", True),
    "greymap.png": ("mostly grey mask: 97% of its pixels are neither black nor white, as in a photo", False),
    "jpegmask.jpg": ("mask saved as JPEG", False),
    "darkdrawn.png": (
        "object drawn dark: empty mask (no pixel > 128), its object is drawn at 100, which reads as background",
        False,
    ),
    "greydrawn.png": ("non-binary mask: 39.06% of pixels between 0 and 255", False),
}


def test_check_data_catches_every_bad_case(broken_split: Path, capsys) -> None:
    assert main(["check-data", str(broken_split), "--workers", "0"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("error:", "warning:"))]
    for name, (message, is_error) in EXPECTED_PROBLEMS.items():
        matching = [line for line in lines if f"/{name}:" in line and message in line]
        assert matching, f"{name}: expected '{message}' in\n{out}"
        assert matching[0].startswith("error:" if is_error else "warning:"), matching[0]
    assert not any("clean1" in line or "clean2" in line for line in lines)
    assert not any(("/darkdrawn" in line or "/greydrawn" in line) and "mostly grey" in line for line in lines)
    assert [line for line in lines if "/darkdrawn" in line] == [  # one message, not also "non-binary"
        line for line in lines if "/darkdrawn" in line and "object drawn dark" in line
    ]
    assert "FAILED: 8 errors" in out
    assert not any("/exif.png" in line for line in lines)  # a mask drawn on the image as displayed is right


def test_check_data_of_a_file_says_to_give_the_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["check-data", str(tmp_path / "a.png")]) == 1
    assert f"{tmp_path / 'a.png'} is a file: give the dataset folder" in capsys.readouterr().err


def test_check_data_names_a_dataset_unpacked_as_its_archive_ships(tmp_path: Path, capsys) -> None:
    """HRSOD as its archive unpacks (image and mask folders side by side) is no split: check-data on the data root or
    on the dataset folder says which splits the configs look for and where the mapping is; UHRSD's 2K folders are
    splits, at names no config reads."""
    write_dataset(tmp_path / "synthetic", SynthConfig(num=4, min_size=96, max_size=128, held_out=0), workers=0,
                  show=False)  # fmt: skip
    for sub in ("HRSOD_train", "HRSOD_train_mask"):
        shutil.copytree(
            tmp_path / "synthetic/SYN-TR" / ("im" if sub == "HRSOD_train" else "gt"), tmp_path / "HRSOD" / sub
        )
    shutil.copytree(tmp_path / "synthetic/SYN-TE", tmp_path / "UHRSD/UHRSD_TE_2K")
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert (f"note: {tmp_path / 'HRSOD'} is here but not HRSOD/HRSOD-TR, HRSOD/HRSOD-TE where the configs look for "
            "them: arrange it as data/README.md shows (From the archives)") in out  # fmt: skip
    assert f"note: {tmp_path / 'UHRSD'} is here but not UHRSD/UHRSD-TR, UHRSD/UHRSD-TE" in out
    assert main(["check-data", str(tmp_path / "HRSOD"), "--workers", "0"]) == 1
    assert f"; {tmp_path / 'HRSOD'} is here but not HRSOD/HRSOD-TR" in capsys.readouterr().err
    # a partial download (DIS5K's test splits only) is no unarranged archive: no note, and its missing split's
    # error still says where to get it; nor is the synthetic folder, whose hint stays the generator's
    shutil.copytree(tmp_path / "synthetic/SYN-TE", tmp_path / "DIS5K/DIS-VD")
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    assert "DIS5K is here" not in capsys.readouterr().out
    (tmp_path / "DIS5K/DIS-TE3").mkdir()  # emptied, or images only: named, not passed over
    shutil.copytree(tmp_path / "synthetic/SYN-TE/im", tmp_path / "DIS5K/DIS-TE4/im")
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert (f"note: {tmp_path / 'DIS5K/DIS-TE3'}, beside the splits, has no image folder (im/, images/, ...) and no "
            "mask folder (gt/, masks/, ...): not checked, and no split a config can read") in out  # fmt: skip
    assert f"note: {tmp_path / 'DIS5K/DIS-TE4'}, beside the splits, has no mask folder (gt/, masks/, ...)" in out
    assert main(["check-data", str(tmp_path / "DIS5K/DIS-VD"), "--workers", "0"]) == 0  # a split given: its own
    assert "beside the splits" not in capsys.readouterr().out
    shutil.copytree(tmp_path / "synthetic/SYN-TE", tmp_path / "mine")  # a split beside dataset folders that hold some
    linked = tmp_path / "linked"  # and a data root whose dataset is a link
    linked.mkdir()
    (linked / "DIS5K").symlink_to(tmp_path / "DIS5K")
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "synthetic, beside" not in out and "DIS5K, beside" not in out and "linked, beside" not in out, out
    assert main(["check-data", str(linked), "--workers", "0"]) == 0
    assert f"note: {linked / 'DIS5K/DIS-TE3'}, beside the splits, has no image folder" in capsys.readouterr().out
    with pytest.raises(DatasetLayoutError, match="Get DIS5K from https://github.com/xuebinqin/DIS"):
        resolve_split(tmp_path, "DIS5K/DIS-TR")
    with pytest.raises(DatasetLayoutError, match="Generate it with `mgd-sam2 synth"):
        resolve_split(tmp_path, "synthetic/SYN-HO")


def test_check_data_names_a_split_under_a_name_the_configs_do_not_read(tmp_path: Path, capsys) -> None:
    """A try-out's UHRSD_TR passed check-data with no word, and a fit then failed on UHRSD-TR."""
    for split in ("UHRSD/UHRSD_TR", "UHRSD/UHRSD-TE", "HRSOD/HRSOD-TR", "HRSOD/HRSOD-TE"):
        save_pair(tmp_path / split / "im", tmp_path / split / "gt", "x")
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert f"note: {tmp_path / 'UHRSD/UHRSD_TR'} is a split the configs do not read: they look for UHRSD/UHRSD-TR " \
        "there (rename the folder if it is that split)" in out  # fmt: skip
    assert out.count("is a split the configs do not read") == 1


def test_check_data_passes_a_clean_set(tmp_path: Path, capsys) -> None:
    write_dataset(tmp_path, SynthConfig(num=4, min_size=96, max_size=128, held_out=0), workers=0, show=False)
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "OK: 0 errors, 0 warnings in 3 splits" in out and "SYN-TR" in out


def test_check_data_strict_fails_on_warnings(tmp_path: Path) -> None:
    save_pair(tmp_path / "im", tmp_path / "gt", "a")
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "gt" / "a.png")  # empty mask: a warning
    assert main(["check-data", str(tmp_path), "--workers", "0"]) == 0
    assert main(["check-data", str(tmp_path), "--workers", "0", "--strict"]) == 1


def test_training_refuses_a_broken_dataset(broken_split: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    module = SegmentationDataModule(root=str(broken_split), train=["DIS5K/DIS-TR"], val=["DIS5K/DIS-TR"], num_workers=0)
    with pytest.raises(DatasetError) as error:
        module.prepare_data()
    message = str(error.value)
    for name, (text, is_error) in EXPECTED_PROBLEMS.items():
        if is_error:
            assert f"/{name}: " in message and text in message, name
        else:
            assert f"/{name}: " not in message, name  # warnings do not block training
    assert message.startswith("the dataset has errors; training would fail on these files")
    module = SegmentationDataModule(root=str(broken_split), test=["DIS5K/DIS-TR"], num_workers=0)
    module.trainer = SimpleNamespace(state=SimpleNamespace(fn=SimpleNamespace(value="test")))
    with pytest.raises(DatasetError, match="^the dataset has errors; testing would fail on these files"):
        module.prepare_data()  # test says what would fail: testing


def test_a_clean_split_is_checked_once(tmp_path: Path, monkeypatch) -> None:
    write_dataset(
        tmp_path / "synthetic", SynthConfig(num=4, min_size=96, max_size=128, held_out=0), workers=0, show=False
    )
    calls = []
    import mgd_sam2.data.check as check

    original = check.check_split
    monkeypatch.setattr(check, "check_split", lambda *a, **k: calls.append(1) or original(*a, **k))
    split = resolve_split(tmp_path, "synthetic/SYN-TR")
    require_clean([split], tmp_path / "stamps", workers=0)
    require_clean([split], tmp_path / "stamps", workers=0)
    assert calls == [1]
    other = resolve_split(tmp_path, "synthetic/SYN-TE")
    require_clean([other], tmp_path / "stamps", workers=0)
    monkeypatch.setattr(check, "CHECK_RULES_VERSION", check.CHECK_RULES_VERSION + 1)  # new rules: checked again
    require_clean([split], tmp_path / "stamps", workers=0)
    assert calls == [1, 1, 1]
    # the split's stamp of the old rules is gone (no fingerprint matches it again), the other split's is kept
    stamps = {path.name: json.loads(path.read_text())["split"] for path in (tmp_path / "stamps").iterdir()}
    assert sorted(stamps.values()) == ["SYN-TE", "SYN-TR"] and f"{check.split_fingerprint(split)}.json" in stamps
    # mapped splits whose folders share a parent keep each other's stamps (a review found them checked every time)
    mapped = []
    for name, source in (("train", split), ("val", other)):
        shutil.copytree(source.image_dir, tmp_path / "flat" / f"{name}_images")
        shutil.copytree(source.mask_dir, tmp_path / "flat" / f"{name}_masks")
        mapped.append(Split(name, tmp_path / "flat" / f"{name}_images", tmp_path / "flat" / f"{name}_masks"))
    for _ in range(2):
        require_clean(mapped, tmp_path / "stamps", workers=0)
    assert calls == [1] * 5
    image = next(split.image_dir.iterdir())
    image.write_bytes(image.read_bytes()[:100])  # the split changed: checked again, and now refused
    with pytest.raises(DatasetError, match="truncated"):
        require_clean([split], tmp_path / "stamps", workers=0)


def test_training_notes_label_maps_grey_and_jpeg_masks_each_time(tmp_path: Path, capsys, monkeypatch) -> None:
    """Warnings do not block training, but label maps, masks that look like images, JPEG masks (a try-out's fit
    said nothing of them) and images with an EXIF orientation are noted, from the check and from its stamp alike."""
    for stem in ("a", "b", "c", "d", "e"):
        save_pair(tmp_path / "im", tmp_path / "gt", stem)
    Image.fromarray((read_mask(tmp_path / "gt" / "e.png") > 128).astype(np.uint8) * 100).save(tmp_path / "gt" / "e.png")
    Image.fromarray((read_mask(tmp_path / "gt" / "a.png") > 128).astype(np.uint8)).save(tmp_path / "gt" / "a.png")
    Image.fromarray(np.tile(np.linspace(0, 255, 40).astype(np.uint8), (30, 1))).save(tmp_path / "gt" / "b.png")
    Image.open(tmp_path / "gt" / "d.png").save(tmp_path / "gt" / "d.jpg")
    (tmp_path / "gt" / "d.png").unlink()
    exif = Image.Exif()
    exif[0x0112] = 3  # turned 180° as it displays: the same size, so only a note
    photo = next((tmp_path / "im").glob("c.*"))
    Image.open(photo).save(photo, exif=exif)
    split = Split("S", tmp_path / "im", tmp_path / "gt")
    import mgd_sam2.data.check as check

    for checked in (True, False):  # checked, then read from the stamp (a second check would fail)
        if not checked:
            monkeypatch.setattr(check, "check_split", lambda *a, **k: pytest.fail("checked again"))
        require_clean([split], tmp_path / "stamps", workers=0)
        out = capsys.readouterr().out
        assert "note: 1 masks of S are 0/1 label maps, read as 0/255" in out
        assert "note: 1 masks of S are mostly grey, like images rather than masks" in out
        assert "note: 1 masks of S are JPEG files, whose lossy compression blurs their edges" in out
        assert "note: 1 images of S carry an EXIF orientation: each is used as it displays" in out
        assert "note: 1 masks of S hold 0 and one value of 128 or less, their object drawn in it: it reads as " \
            "background (an empty mask); save the object as 255" in out  # fmt: skip


# ---------------------------------------------------------------- datamodule and samplers


def test_datamodule_batches(synthetic_root: Path) -> None:
    module = SegmentationDataModule(
        root=str(synthetic_root),
        train=["synthetic/SYN-TR"],
        val=["synthetic/SYN-VD"],
        test=["synthetic/SYN-TE", "synthetic/SYN-VD"],
        input_size=64,
        batch_size=2,
        num_workers=0,
        check=False,
    )
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    views, target = batch["input"], batch["target"]  # cut into views in the loader
    assert views.full.shape == (2, 3, 64, 64) and views.local_views.shape == (2, 4, 3, 32, 32)
    assert views.global_view.shape == (2, 3, 32, 32)
    assert target.full.shape == (2, 1, 64, 64) and target.local_views.shape == (2, 4, 1, 32, 32)
    assert target.global_view.shape == (2, 1, 32, 32)
    assert 0 <= target.full.min() and target.full.max() <= 1
    module.setup("test")
    loaders = module.test_dataloader()
    assert len(loaders) == 2 and module.split_names("test") == ["SYN-TE", "SYN-VD"]
    sample = next(iter(loaders[0]))
    gt = sample["gt"][0]
    assert gt.dtype == torch.uint8 and tuple(gt.shape) == read_mask(sample["gt_path"][0]).shape
    assert sample["split"] == ["SYN-TE"] and sample["input"].full.shape == (1, 3, 64, 64)


def test_predict_samples_carry_original_size(synthetic_root: Path) -> None:
    folder = synthetic_root / "synthetic" / "SYN-TE" / "im"
    module = SegmentationDataModule(predict=str(folder), input_size=64, num_workers=0)
    module.setup("predict")
    sample = next(iter(module.predict_dataloader()[0]))
    assert tuple(sample["size"][0]) == read_image(sample["path"][0]).shape[:2]


def test_a_predict_path_given_under_the_data_root_says_it_is_not_under_it(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.predict is a path of its own (photos anywhere), unlike the splits: a path that is there only under data.root
    says so and names that path, instead of 'not found'."""
    monkeypatch.chdir(tmp_path)
    module = SegmentationDataModule(root=str(synthetic_root), predict="synthetic/SYN-TE/im", input_size=64,
                                    num_workers=0)  # fmt: skip
    with pytest.raises(
        MissingFileError, match="data.predict synthetic/SYN-TE/im is not in the working folder: "
    ) as error:
        module.setup("predict")
    assert str(error.value).endswith(f"give {synthetic_root / 'synthetic/SYN-TE/im'}")


def test_a_broken_link_as_prediction_input_says_so(tmp_path: Path) -> None:
    from mgd_sam2.data.datasets import image_records

    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    said = f"prediction input {tmp_path / 'broken.png'} is a broken link: it points to {tmp_path / 'gone.png'}, which"
    with pytest.raises(MissingFileError, match=re.escape(said)):
        image_records(tmp_path / "broken.png")


def test_a_broken_link_as_weights_says_so_and_is_not_listed_beside_it(tmp_path: Path) -> None:
    from mgd_sam2.models.checkpoints import read_weights_file

    (tmp_path / "best.ckpt").symlink_to(tmp_path / "gone.ckpt")
    said = f"weights file {tmp_path / 'best.ckpt'} is a broken link: it points to {tmp_path / 'gone.ckpt'}, which"
    with pytest.raises(MissingFileError, match=re.escape(said)):
        read_weights_file(tmp_path / "best.ckpt")
    (tmp_path / "last.ckpt").write_bytes(b"x")
    with pytest.raises(MissingFileError, match="weights file not found") as error:  # the files there, not the link
        read_weights_file(tmp_path / "other.ckpt")
    assert str(error.value).endswith(f"{tmp_path} holds last.ckpt.")


def test_evaluation_under_ddp_sees_every_image_once(synthetic_root: Path) -> None:
    seen = []
    for rank in range(3):
        module = SegmentationDataModule(
            root=str(synthetic_root), test=["synthetic/SYN-TR"], input_size=64, num_workers=0, check=False
        )
        module.trainer = SimpleNamespace(world_size=3, global_rank=rank)
        module.setup("test")
        for batch in module.test_dataloader()[0]:
            seen += batch["name"]
    assert sorted(seen) == sorted(r.name for r in split_records(resolve_split(synthetic_root, "synthetic/SYN-TR")))


def test_resumable_sampler_skips_exactly_what_was_consumed() -> None:
    sampler = ResumableSampler(23, num_replicas=2, rank=1, seed=4)
    sampler.set_epoch(3)
    full = list(sampler)
    assert len(full) == len(sampler) == 11
    sampler.skip_next_epoch_start(4)
    assert list(sampler) == full[4:]
    assert list(sampler) == full  # the skip applies once
    sampler.set_epoch(4)
    assert list(sampler) != full
    other_rank = ResumableSampler(23, num_replicas=2, rank=0, seed=4)
    other_rank.set_epoch(3)
    assert not {i for i, _ in other_rank} & {i for i, _ in full}


def test_a_resume_with_other_training_images_of_the_same_count_is_refused() -> None:
    """Found by a try-out: the loader's state held the image count only, so a resume with another split of as many
    images trained on it in the run's folder. Their names (and order) are held now; a checkpoint of before resumes."""

    def loader(*names: str) -> ResumableLoader:
        records = [Record(name.split("/")[1], name.split("/")[0], Path(f"{name}.jpg")) for name in names]
        dataset = type("Records", (), {"records": records, "__len__": lambda self: len(records)})()
        return ResumableLoader(dataset, batch_size=1, sampler=ResumableSampler(len(records)))

    run = loader("HRSOD-TR/a", "UHRSD-TR/b")
    state = run.state_dict()
    loader("HRSOD-TR/a", "UHRSD-TR/b").load_state_dict(state)
    for other in (loader("HRSOD-TR/a", "HRSOD-TR/c"), loader("UHRSD-TR/b", "HRSOD-TR/a")):  # other images; order
        with pytest.raises(ConfigError, match=r"\(training images' split and file names \(data.train\), digest \w+ "
                           r"-> \w+\)"):  # fmt: skip
            other.load_state_dict(state)
    loader("HRSOD-TR/a", "HRSOD-TR/c").load_state_dict({key: value for key, value in state.items() if key != "images"})
