"""The Python API: ``from mgd_sam2 import Segmenter`` on every input kind and CPU backend, equal to predict's
files; model folders; the metrics called the torchmetrics way."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bounds import MAP_LEVELS_FP32
from conftest import OVERFIT_STEPS
from mgd_sam2 import ConfigError, Segmenter, UserError
from mgd_sam2.cli import main
from mgd_sam2.data.io import read_mask

ROOT = Path(__file__).resolve().parent.parent


def saved(folder: Path, stem: str) -> np.ndarray:
    return np.asarray(Image.open(folder / f"{stem}.png"))


@pytest.fixture(scope="module")
def inputs(synthetic_root: Path, tmp_path_factory) -> Path:
    """Three synthetic photos of different sizes, plus a grey and an RGBA version of the first."""
    folder = tmp_path_factory.mktemp("inputs")
    images = sorted((synthetic_root / "synthetic" / "SYN-TE" / "im").iterdir())[:3]
    for path in images:
        Image.open(path).save(folder / f"{path.stem}.png")
    first = Image.open(images[0])
    first.convert("L").save(folder / "grey.png")
    rgba = first.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((first.height, first.width), 77, np.uint8)))
    rgba.save(folder / "rgba.png")
    return folder


def test_every_input_kind_gives_predicts_file_byte_for_byte(overfit_run, inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks"
    assert main(["predict", "--ckpt", str(overfit_run.checkpoint), "--input", str(inputs), "--output", str(out)]) == 0
    segmenter = Segmenter.load(overfit_run.checkpoint, device="cpu")
    for path in sorted(inputs.iterdir()):
        expected = saved(out, path.stem)
        with Image.open(path) as image:
            array = np.asarray(image)
            kinds = {"path": path, "str": str(path), "PIL": image, "array": array}
            for kind, given in kinds.items():
                mask = segmenter.predict(given)
                assert mask.dtype == np.uint8 and mask.shape == array.shape[:2], (path.name, kind)
                np.testing.assert_array_equal(mask, expected, err_msg=f"{path.name} as {kind}")
    listed = segmenter.predict(sorted(inputs.iterdir()))
    assert len(listed) == len(list(inputs.iterdir()))
    for path, mask in zip(sorted(inputs.iterdir()), listed, strict=True):
        np.testing.assert_array_equal(mask, saved(out, path.stem))
    # a batch of two: each image is resized and cut into views on its own, so only the batched fp32 kernels differ
    pair = sorted(inputs.iterdir())[:2]
    for batched, single in zip(segmenter.predict(pair, batch_size=2), listed[:2], strict=True):
        assert batched.shape == single.shape
        assert np.abs(batched.astype(int) - single).max() <= MAP_LEVELS_FP32
    # and at the same batch size, predict's files byte for byte (its batches are its sorted inputs, as here)
    (tmp_path / "pair").mkdir()
    for path in pair:
        shutil.copy(path, tmp_path / "pair" / path.name)
    args = ["--input", str(tmp_path / "pair"), "--output", str(tmp_path / "batched"), "--batch-size", "2"]
    assert main(["predict", "--ckpt", str(overfit_run.checkpoint), *args]) == 0
    for path, batched in zip(pair, segmenter.predict(pair, batch_size=2), strict=True):
        np.testing.assert_array_equal(batched, saved(tmp_path / "batched", path.stem))


def test_the_exported_backends_give_predicts_files(overfit_run, inputs: Path, tmp_path: Path) -> None:
    onnx = tmp_path / "model.onnx"
    assert main(["model", "export", "--ckpt", str(overfit_run.checkpoint), "--onnx", str(onnx)]) == 0
    image = sorted(inputs.iterdir())[0]
    for backend in ("onnx", "openvino"):
        out = tmp_path / backend
        argv = ["predict", "--ckpt", str(onnx), "--backend", backend, "--input", str(image), "--output", str(out)]
        assert main(argv) == 0
        segmenter = Segmenter.load(onnx, backend=backend)
        assert segmenter.settings.backend == backend and segmenter.settings.precision == "32-true"
        np.testing.assert_array_equal(segmenter.predict(np.asarray(Image.open(image))), saved(out, image.stem))


def test_cutout_is_the_image_with_its_mask_as_alpha(overfit_run, inputs: Path) -> None:
    segmenter = Segmenter.load(overfit_run.checkpoint, device="cpu")
    path = sorted(inputs.iterdir())[0]
    mask = segmenter.predict(path)
    cutout = segmenter.cutout(path)
    assert cutout.mode == "RGBA" and cutout.size == Image.open(path).size
    rgba = np.asarray(cutout)
    np.testing.assert_array_equal(rgba[..., :3], np.asarray(Image.open(path).convert("RGB")))
    np.testing.assert_array_equal(rgba[..., 3], mask)
    assert 0 < (mask > 200).mean() < 1  # a real mask, so the threshold below matters
    hard = np.asarray(segmenter.cutout(path, binary=True, threshold=200))[..., 3]
    np.testing.assert_array_equal(hard, np.where(mask > 200, 255, 0))
    assert "icc_profile" not in cutout.info


def test_a_cutout_keeps_the_photos_rgb_colour_profile(overfit_run, inputs: Path, tmp_path: Path) -> None:
    """A Display P3 or Adobe RGB photo's cut-out without its profile is shown as sRGB, duller (a try-out); grey,
    CMYK and Lab profiles describe other values than the cut-out's RGB and are not carried on."""
    from PIL import ImageCms

    from mgd_sam2.data.io import rgb_profile

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (tmp_path / "in").mkdir()
    photo = tmp_path / "in/photo.png"
    Image.open(sorted(inputs.iterdir())[0]).convert("RGB").save(photo, icc_profile=profile)
    segmenter = Segmenter.load(overfit_run.checkpoint, device="cpu")
    assert segmenter.cutout(photo).info["icc_profile"] == profile
    assert segmenter.cutout(Image.open(photo)).info["icc_profile"] == profile
    argv = ["predict", "--ckpt", str(overfit_run.checkpoint), "--input", str(tmp_path / "in"), "--cutout"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out/photo_cutout.png").info["icc_profile"] == profile
    assert "icc_profile" not in Image.open(tmp_path / "out/photo.png").info  # the mask is no colour image
    grey = profile[:16] + b"GRAY" + profile[20:]
    assert rgb_profile(photo) == profile and rgb_profile(Image.new("L", (2, 2))) is None
    image = Image.new("RGB", (2, 2))
    image.info["icc_profile"] = grey
    assert rgb_profile(image) is None and rgb_profile(np.zeros((2, 2, 3), np.uint8)) is None


def test_an_output_named_like_an_image_is_refused(
    trained_checkpoint: Path, inputs: Path, tmp_path: Path, capsys
) -> None:
    """--output mask.png made a folder called mask.png, and said it wrote a file to it (a try-out)."""
    image = sorted(inputs.iterdir())[0]
    assert main(["predict", "--ckpt", str(trained_checkpoint), "--input", str(image), "--output",
                 str(tmp_path / "mask.png")]) == 1  # fmt: skip
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --output {tmp_path / 'mask.png'} is the folder the masks go into, named after their images; this one "
        f"would be a folder called mask.png: give a folder, e.g. --output {tmp_path / 'masks'}"
    )
    assert not (tmp_path / "mask.png").exists()


def test_megapixels_in_messages_read_as_numbers() -> None:
    from mgd_sam2.data.io import megapixels

    assert [megapixels(n) for n in (120_000, 1000, 25_000_000, 999_400_000, 10_000_000_000)] == [
        "0.12", "0.001", "25", "999", "10,000"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            np.zeros((8, 8, 3), np.float32),
            r"must be uint8 .*\(array \* 255\).round\(\).astype\(np.uint8\) for values in \[0, 1\]",
        ),
        (np.full((8, 8, 3), 200, np.int64), r"astype\(np.uint8\) for values 0-255"),
        # wide pixels that would read as a blank picture (a try-out's white and black cut-outs)
        (
            Image.fromarray(np.tile(np.float32([100, 200]), (8, 4))),
            "^the image is a float image with values from 100 to 200",
        ),
        (Image.fromarray(np.tile(np.int32([100, 200]), (8, 4))), "^the image has 32-bit pixels of values 100 to 200"),
        (np.tile(np.uint16([100, 200]), (8, 4)), "^the image has 16-bit pixels of values 100 to 200, which scale down"),
        (  # 12-bit values in 16-bit pixels: a nearly black picture, segmented without a word (a try-out)
            np.tile(np.uint16([0, 4095]), (8, 4)),
            re.escape(
                "has 16-bit pixels of values 0 to 4095, which scale down to levels 0 to 15 of 255, a nearly "
                "black picture: where they hold 10- or 12-bit data, scale them to the full range"
            ),
        ),  # fmt: skip
        (
            torch.zeros(8, 8, 3),
            re.escape(
                "not an image: a Tensor; give a path, a PIL image or an array (a torch tensor: give its .numpy(), "
                "(H, W, 3) uint8)"
            ),
        ),
        (np.zeros((8, 8, 2), np.uint8), r"\(H, W\)"),
        (np.zeros((0, 8, 3), np.uint8), r"\(H, W\)"),
        ([[1, 2]], "not an image"),
        ("no/such/photo.jpg", "^image not found: no/such/photo.jpg$"),
        (str(ROOT / "tests"), f"^{ROOT / 'tests'} is a folder, not an image: give its image files$"),
        (
            np.zeros((40, 40, 3), np.uint8),
            re.escape("is 40x40 = 0.0016 megapixels, over the limit of 0.001 megapixels (1000 pixels: "),
        ),
        (
            np.zeros((40, 3000, 3), np.uint8),
            re.escape("is 3000x40 = 0.12 megapixels, over the limit of 0.001 megapixels (1000 pixels: "),
        ),
    ],
)
def test_bad_input_is_one_user_error_that_names_it(trained_checkpoint: Path, given, message: str) -> None:
    segmenter = Segmenter.load(trained_checkpoint, device="cpu", max_pixels=1000)
    with pytest.raises(UserError, match=message):
        segmenter.predict(given)


def test_a_photo_of_wide_pixels_reads_by_its_format_or_is_refused_by_name(tmp_path: Path) -> None:
    """Floats in [0, 1] (a resampling's overshoot clipped) and 16-bit values of the full range read as 8-bit, and a
    uniform image as uniform; a file whose differing values would all read alike is named, by check-data too."""
    from mgd_sam2.data.check import inspect_pair
    from mgd_sam2.data.io import image_from_memory, read_image

    overshoot = image_from_memory(Image.fromarray(np.tile(np.float32([-0.002, 0.5, 1.003]), (4, 1))))
    assert overshoot[0, :, 0].tolist() == [0, 127, 255]
    assert image_from_memory(np.tile(np.uint16([0, 40000]), (4, 2))).max() == 40000 >> 8
    assert image_from_memory(np.full((4, 4), 200, np.uint16)).max() == 0  # uniform before, uniform after
    path, mask = tmp_path / "float.tif", tmp_path / "float.png"
    Image.fromarray(np.tile(np.float32([100, 200]), (4, 2))).save(path)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(mask)
    with pytest.raises(UserError, match=f"^{re.escape(str(path))} is a float image with values from 100 to 200"):
        read_image(path)
    problems = inspect_pair(("float", path, mask))[1]
    assert [p.message for p in problems if p.error] == [
        "is a float image with values from 100 to 200: float images are read as 0 to 1, so every pixel would read "
        "alike; save it as an 8-bit image"
    ]


def test_weights_that_are_not_here_get_one_line_not_a_download(
    trained_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    import huggingface_hub

    from mgd_sam2 import CheckpointError

    def offline(repo_id: str, **_) -> str:
        raise RuntimeError(f"no network to fetch {repo_id}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="weights file not found: checkpoints/sam2.1_hiera_base_plus.pt"):
        Segmenter.load("checkpoints/sam2.1_hiera_base_plus.pt")  # a file path, never taken for a Hub id
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            "someone/x: no such file or folder here (check the path); "
            "read as a Hugging Face Hub id, it could not be downloaded "
            "either (RuntimeError: no network to fetch someone/x)"
        ),
    ):
        Segmenter.load("someone/x")
    with pytest.raises(ConfigError, match="batch_size must be 1 or more"):
        Segmenter.load(trained_checkpoint, device="cpu").predict([], batch_size=0)


def test_precision_has_one_spelling(trained_checkpoint: Path) -> None:
    for wrong in ("fp32", "bf16", "float32", "f32"):
        with pytest.raises(ConfigError, match="choose one of auto, 32-true, bf16-mixed"):
            Segmenter.load(trained_checkpoint, precision=wrong)


def test_a_model_folder_round_trip(overfit_run, inputs: Path, tmp_path: Path, monkeypatch) -> None:
    from mgd_sam2 import MGDSAM2, NetworkConfig
    from mgd_sam2.inference.model_folder import model_card

    segmenter = Segmenter.load(overfit_run.checkpoint, device="cpu")
    folder = segmenter.save_pretrained(
        tmp_path / "demo-model", card={"training": "4 synthetic images", "scores": {"SYN-TR": {"Smeasure": 0.99}}}
    )
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["network"] == segmenter.network.config.to_dict() and config["input_size"] == 64
    card = (folder / "README.md").read_text()
    assert "license: apache-2.0" in card and "| micro | 64 | 2 | no (random, frozen) |" in card
    assert "| SYN-TR | 0.9900 |" in card and "arXiv:2503.23786" in card and "4 synthetic images" in card
    assert "(this project's code; no SAM2.1 weights)" in card and "Meta" not in card  # micro starts from none
    tiny = model_card(MGDSAM2(NetworkConfig(preset="tiny")), "", {})
    assert "| tiny | 1024 | 2 | no (frozen: SAM2.1's where it started from them) |" in tiny
    assert "SAM2.1's weights, where it starts from them, are Meta's" in tiny
    image = sorted(inputs.iterdir())[0]
    expected = segmenter.predict(image)
    np.testing.assert_array_equal(Segmenter.load(folder, device="cpu").predict(image), expected)
    out = tmp_path / "masks"
    assert main(["predict", "--ckpt", str(folder), "--input", str(image), "--output", str(out)]) == 0
    np.testing.assert_array_equal(saved(out, image.stem), expected)
    # a Hub id goes through the same code once downloaded; no network here, so the download is the local folder
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **_: str(folder))
    np.testing.assert_array_equal(Segmenter.load("someone/mgd-sam2-demo", device="cpu").predict(image), expected)


def test_the_model_card_records_a_lightning_checkpoints_training(overfit_run, tmp_path: Path) -> None:
    """Without ``card``'s ``training``, the card says what the checkpoint records: optimizer steps, splits (a mapping's
    by its name), batch, learning rate and the best monitored score of its validations up to it (a ModelCheckpoint's
    best_model_score: its current_score is only updated when a score enters the top k; NaN is stored as inf)."""
    from mgd_sam2 import MGDSAM2, NetworkConfig

    segmenter = Segmenter.load(overfit_run.checkpoint, device="cpu")
    card = (segmenter.save_pretrained(tmp_path / "plain") / "README.md").read_text()
    steps = f"Training: {OVERFIT_STEPS} optimizer steps (epoch "
    assert steps in card and "counted from 0) on synthetic/SYN-TR, batch 4 per process, learning rate 0.003." in card
    content = torch.load(overfit_run.checkpoint, map_location="cpu", weights_only=True)
    content["datamodule_hyper_parameters"]["train"] += [{"images": "/data/Mine/im", "masks": "/data/Mine/gt"}]
    state = {"monitor": "val/Smeasure", "best_model_score": torch.tensor(0.91234), "current_score": torch.tensor(0.5)}
    content["callbacks"] = {
        "ModelCheckpoint{'monitor': 'val/Smeasure'}": state,
        "ModelCheckpoint{'monitor': 'val/MAE'}": {"monitor": "val/MAE", "best_model_score": torch.tensor(float("inf"))},
        "ModelCheckpoint{'monitor': None}": {"monitor": None, "best_model_score": None},  # last.ckpt's: no score
    }
    monitored = tmp_path / "monitored.ckpt"
    torch.save(content, monitored)
    card = (Segmenter.load(monitored, device="cpu").save_pretrained(tmp_path / "monitored") / "README.md").read_text()
    assert "on synthetic/SYN-TR, Mine, batch 4" in card
    assert ("; the best of its validations up to this checkpoint (the first validation split, synthetic/SYN-TR): "
            "val/Smeasure 0.9123." in card)  # fmt: skip
    given = segmenter.save_pretrained(tmp_path / "given", card={"training": "as I say"}) / "README.md"
    assert "Training: as I say" in given.read_text()
    in_memory = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro"))).save_pretrained(tmp_path / "memory")
    assert "Training: not recorded" in (in_memory / "README.md").read_text()
    resaved = Segmenter.load(tmp_path / "plain", device="cpu").save_pretrained(tmp_path / "resaved") / "README.md"
    assert steps in resaved.read_text()  # a model folder saved again keeps its training record, and its source
    source = f"Source: Lightning checkpoint {overfit_run.checkpoint.name} (preset "
    plain = (tmp_path / "plain" / "README.md").read_text()
    assert source in plain and source in resaved.read_text()
    assert str(overfit_run.checkpoint.parent) not in plain + resaved.read_text()  # no folder of this machine
    named = Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro")), name=str(tmp_path / "plain"))
    card = (named.save_pretrained(tmp_path / "named") / "README.md").read_text()  # named as a folder, not read from it
    assert "Training: not recorded" in card and "Source: Lightning checkpoint" not in card


def test_a_backend_or_pixel_limit_the_cli_would_refuse_is_a_user_error(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """Segmenter.load checks what predict's flags check: an unknown backend is named with the valid ones, a limit
    of no whole pixels is refused (every image failed against it), and the torch backend given an export says so."""
    for backend in ("tensorrt", "Torch"):
        with pytest.raises(UserError, match=f"unknown backend '{backend}'; choose one of auto, torch, onnx, openvino"):
            Segmenter.load(trained_checkpoint, backend=backend)
    for limit in (-1, 0, 2.5, True):
        with pytest.raises(
            UserError, match=re.escape(f"max_pixels is a whole number of pixels, 1 or more, got {limit!r}")
        ):
            Segmenter.load(trained_checkpoint, max_pixels=limit)
    assert Segmenter.load(trained_checkpoint, max_pixels=np.int64(10**6)).max_pixels == 10**6
    export = tmp_path / "m.onnx"
    export.write_bytes(b"x")
    with pytest.raises(UserError, match=r"--backend torch runs PyTorch weights, and .*m.onnx is an export"):
        Segmenter.load(export, backend="torch")


def test_save_pretrained_replaces_only_a_model_folder_of_ours(trained_checkpoint: Path, tmp_path: Path) -> None:
    """A folder holding someone's README.md (or config.json, model.safetensors), or any other files, is refused and
    left as it was; a model folder of ours is rewritten; a file is no folder. UserErrors, as the API's bad input."""
    from mgd_sam2 import UserError

    segmenter = Segmenter.load(trained_checkpoint, device="cpu")
    assert repr(segmenter) == f"Segmenter({segmenter.description}, torch on cpu, 32-true, detail off)"
    served = tmp_path / "served.ckpt"  # weights replaced while a Segmenter runs them (a run rewriting best.ckpt)
    shutil.copy(trained_checkpoint, served)
    running = Segmenter.load(served, device="cpu")
    loaded = [f"sha256:{hashlib.sha256(served.read_bytes()).hexdigest()}"]
    served.write_bytes(b"other weights")
    assert running.settings.recorded(tta=False)["weights"] == loaded  # what it loaded, not the file there now
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("my notes")
    with pytest.raises(UserError, match=r"notes holds README.md, not written as a model folder of mgd-sam2"):
        segmenter.save_pretrained(notes)
    assert (
        sorted(path.name for path in notes.iterdir()) == ["README.md"]
        and (notes / "README.md").read_text() == "my notes"
    )
    folder = segmenter.save_pretrained(tmp_path / "model")
    (folder / "config.json").unlink()  # a save stopped before config.json, written last: still ours, saved again
    assert segmenter.save_pretrained(folder) == folder and (folder / "config.json").is_file()
    (folder / "model.safetensors").write_bytes(b"stale")
    assert segmenter.save_pretrained(folder) == folder and (folder / "model.safetensors").read_bytes() != b"stale"
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match="photo.jpg is a file, not a folder"):
        segmenter.save_pretrained(tmp_path / "photo.jpg")
    photos = tmp_path / "photos"  # a folder of someone's files: the model's would be mixed with them
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"x")
    (photos / "masks").mkdir()
    with pytest.raises(UserError, match=r"photos holds 2 other file\(s\) or folder\(s\) \(e.g. cat.jpg\) and is no"):
        segmenter.save_pretrained(photos)
    (photos / "masks").rmdir()
    assert [path.name for path in photos.iterdir()] == ["cat.jpg"]
    (folder / "LICENSE").write_text("mine")  # added to a model folder of ours: it is still saved into
    assert segmenter.save_pretrained(folder) == folder and (folder / "LICENSE").read_text() == "mine"
    clone = tmp_path / "clone"  # a Hub repository's clone: hidden files only
    (clone / ".git").mkdir(parents=True)
    (clone / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    assert (segmenter.save_pretrained(clone) / "config.json").is_file()


def test_a_card_the_model_card_cannot_report_is_a_user_error_before_anything_is_written(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    """save_pretrained's ``card``: a traceback and a folder holding only the weights, in a try-out."""
    segmenter = Segmenter.load(trained_checkpoint, device="cpu")
    bad = [
        ({"scores": [1, 2]}, r"card\['scores'\]: \{split: \{metric: number\}\}, got a list"),
        ({"scores": {"SYN": {"S": "high"}}}, r"got 'SYN': \{'S': 'high'\}"),
        ({"scores": {"SYN": {"S": True}}}, r"got 'SYN': \{'S': True\}"),
        ({"foo": 1}, "got unknown keys foo"),
        ({"training": 3}, r"card\['training'\]: a sentence \(str\), got a int"),
        ([("scores", {})], "got a list"),
    ]
    for card, message in bad:
        with pytest.raises(UserError, match=message):
            segmenter.save_pretrained(tmp_path / "model", card=card)
        assert not (tmp_path / "model").exists()
    scores = {"SYN-TE": {"Smeasure": np.float32(0.8), "HCE": 12}}
    card = (segmenter.save_pretrained(tmp_path / "model", card={"scores": scores}) / "README.md").read_text()
    assert "0.800" in card
    plain = segmenter.save_pretrained(tmp_path / "plain", card={"training": ""})  # records no training
    assert Segmenter.load(plain, device="cpu").save_pretrained(tmp_path / "again").is_dir()  # and saves again


def test_a_cutout_threshold_off_the_grey_scale_is_a_user_error(trained_checkpoint: Path) -> None:
    """300 gave an all-transparent cut-out, -5, 1.5 and True an opaque one, without a word (a try-out)."""
    segmenter = Segmenter.load(trained_checkpoint, device="cpu")
    image = np.zeros((16, 16, 3), np.uint8)
    for threshold in (300, -5, 1.5, True, 255):
        with pytest.raises(UserError, match=f"threshold is a grey level from 0 to 254 .*got {threshold!r}$"):
            segmenter.cutout(image, binary=True, threshold=threshold)
    assert segmenter.cutout(image, binary=True, threshold=np.int64(254)).mode == "RGBA"


def test_a_broken_model_folder_is_a_one_line_error(trained_checkpoint: Path, tmp_path: Path) -> None:
    from mgd_sam2 import CheckpointError

    folder = Segmenter.load(trained_checkpoint, device="cpu").save_pretrained(tmp_path / "model")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors cannot be read"):
        Segmenter.load(folder)
    for config in ("{}", "[]", '{"format": "mgd-sam2 model folder v1"}'):
        (folder / "config.json").write_text(config)
        with pytest.raises(CheckpointError, match="not an mgd-sam2 model folder"):
            Segmenter.load(folder)
    other = Segmenter.load(trained_checkpoint, device="cpu").save_pretrained(tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    config["network"]["preset"] = "tiny"  # weights of micro under a tiny network
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit the network config.json describes"):
        Segmenter.load(other)


def test_a_lightning_checkpoint_that_does_not_fit_its_network_is_a_one_line_error(
    trained_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    """A tensor missing or of another shape: predict's one-line error names the file, no traceback."""
    from mgd_sam2.models.checkpoints import MODULE_PREFIX

    content = torch.load(trained_checkpoint, map_location="cpu", weights_only=False)
    missing = {**content, "state_dict": dict(content["state_dict"])}
    dropped = next(key for key in missing["state_dict"] if key.startswith(MODULE_PREFIX))
    del missing["state_dict"][dropped]
    other = json.loads(json.dumps(content["hyper_parameters"]))
    other["network"]["preset"] = "tiny"  # micro's weights under a tiny network
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(image)
    for name, variant, why in (
        ("missing", missing, f"missing ['{dropped.removeprefix(MODULE_PREFIX)}'"),
        ("other", {**content, "hyper_parameters": other}, "size mismatch"),
    ):
        path = tmp_path / f"{name}.ckpt"
        torch.save(variant, path)
        argv = ["predict", "--ckpt", str(path), "--input", str(image), "--output", str(tmp_path / name)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{path} does not fit the network its hyperparameters describe" in err and why in err, err
        assert "Traceback" not in err


FIXTURE = ROOT / "tests" / "fixtures" / "pysodmetrics"


def test_each_metric_called_the_torchmetrics_way_equals_the_evaluator() -> None:
    """``Metric()(preds, target)`` with tensors (uint8 maps, bool GT) gives what the evaluator's prepared pairs give,
    exactly: the same per-image arithmetic in the same order."""
    import mgd_sam2
    from mgd_sam2.metrics.pairs import image_pairs
    from mgd_sam2.metrics.sod import METRIC_CLASSES

    stems = sorted(path.stem for path in (FIXTURE / "masks").glob("*.png"))[:3]
    gts = [read_mask(FIXTURE / "masks" / f"{stem}.png") for stem in stems]
    preds = [np.asarray(Image.open(FIXTURE / "preds" / f"{stem}.png").convert("L")) for stem in stems]
    for name, cls in METRIC_CLASSES.items():
        assert getattr(mgd_sam2, cls.__name__) is cls  # importable from the package root
        options = {"skeleton_cache": False} if name == "HCE" else {}
        reference = cls(**options)
        reference.update(image_pairs(preds, gts))
        expected = reference.compute()
        called = cls(**options)
        for pred, gt in zip(preds, gts, strict=True):  # one image per call, as (H, W) tensors; GT as bool
            called(torch.from_numpy(pred.copy()), torch.from_numpy(gt > 128))
        for key, value in called.compute().items():
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=f"{name}/{key}")
    # (k + 0.5) / 255 (at most 1): x255 and truncation give the map back
    probabilities = ((torch.from_numpy(preds[0]).double() + 0.5) / 255).clamp(max=1)
    mae = mgd_sam2.MeanAbsoluteError()
    assert (
        mae(probabilities, torch.from_numpy(gts[0]))["MAE"]
        == mgd_sam2.MeanAbsoluteError()(torch.from_numpy(preds[0]), torch.from_numpy(gts[0]))["MAE"]
    )
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        mae(probabilities * 2, torch.from_numpy(gts[0]))
    # a 0/1 label-map GT is read as 0/255, as the evaluator reads one; integer maps of 0-255 as they are
    label_map = torch.from_numpy((gts[0] > 128).astype(np.uint8))
    wide = torch.from_numpy(preds[0].astype(np.int64))
    assert (
        mgd_sam2.MeanAbsoluteError()(wide, label_map)["MAE"]
        == mgd_sam2.MeanAbsoluteError()(torch.from_numpy(preds[0]), torch.from_numpy(gts[0]))["MAE"]
    )


def test_a_metric_takes_a_batch_as_its_images_one_by_one() -> None:
    """``Metric()(preds, target)`` with (N, H, W) tensors (GT as 0/1 floats) scores each image as an (H, W) call
    with a bool GT does, exactly (python-api.md, the ``update`` docstring)."""
    from mgd_sam2.metrics.sod import METRIC_CLASSES

    stems = sorted(path.stem for path in (FIXTURE / "masks").glob("*.png"))[:3]
    gts = [read_mask(FIXTURE / "masks" / f"{stem}.png") for stem in stems]
    preds = [np.asarray(Image.open(FIXTURE / "preds" / f"{stem}.png").convert("L")) for stem in stems]
    height, width = min(gt.shape[0] for gt in gts), min(gt.shape[1] for gt in gts)
    gts, preds = [gt[:height, :width] > 128 for gt in gts], [pred[:height, :width].copy() for pred in preds]
    batch_preds, batch_gts = torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(gts)).float()
    assert batch_preds.shape == (3, height, width) and set(batch_gts.unique().tolist()) == {0.0, 1.0}
    for name, cls in METRIC_CLASSES.items():
        options = {"skeleton_cache": False} if name == "HCE" else {}
        batched, single = cls(**options), cls(**options)
        batched(batch_preds, batch_gts)
        for pred, gt in zip(preds, gts, strict=True):
            single(torch.from_numpy(pred), torch.from_numpy(gt))
        assert int(batched.count) == 3
        for key, value in single.compute().items():
            torch.testing.assert_close(batched.compute()[key], value, rtol=0, atol=0, msg=f"{name}/{key}")


def test_the_readme_python_quick_start_runs_as_written(overfit_run, inputs: Path, tmp_path: Path, monkeypatch) -> None:
    import re
    import shutil

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*From Python\.\*\*.*?```python\n(.*?)```", readme, re.S).group(1)
    checkpoint = tmp_path / "runs/demo/version_0/checkpoints/best.ckpt"  # where `make demo` leaves it
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(overfit_run.checkpoint, checkpoint)
    shutil.copy(sorted(inputs.iterdir())[0], tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["mask"].shape == Image.open("photo.jpg").size[::-1] and len(scope["masks"]) == 2
    assert Image.open("photo_cutout.png").mode == "RGBA" and Path("models/demo/model.safetensors").is_file()


def test_importing_the_package_asks_no_server_for_updates() -> None:
    """albumentations asked pypi.org for a newer release on every predict (a try-out traced it)."""
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "NO_ALBUMENTATIONS_UPDATE"}
    code = "import os, mgd_sam2.data.transforms; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"
