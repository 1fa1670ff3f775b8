"""Detail modes (inference/detail.py, inference/refine.py, inference/guided.py): seamless blending, the plain path
where there is nothing to add, more detail where a network can see it, and every mode through predict, the Python
API and the app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bounds import MAP_LEVELS_FP32
from mgd_sam2 import ConfigError, Segmenter
from mgd_sam2.benchmark.detail import gain
from mgd_sam2.cli import main
from mgd_sam2.data.datasets import SegmentationDataset
from mgd_sam2.data.io import provenance
from mgd_sam2.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mgd_sam2.inference.detail import DEFAULT_ZOOM, DETAIL_MODES, Detail
from mgd_sam2.inference.guided import coefficients
from mgd_sam2.inference.maps import to_uint8_maps
from mgd_sam2.inference.refine import axis_parts, axis_windows, crop_plan, detail_map, uncertain_band
from mgd_sam2.inference.segmenter import InferenceSettings
from mgd_sam2.models.network import MGDSAM2, NetworkConfig
from mgd_sam2.utils.progress import progress_bar

SIZE = 64  # the fake backends' input side


class FakeBackend:
    """A Backend of one input size (as an export is) whose logits are a function of each input pixel: ``constant``
    everywhere, or 10 (red - 0.5) with the red channel in [0, 1] read back from the normalised input (a "network"
    that sees exactly as much detail as its input holds). Records the side of every input."""

    name, preset, grid = "fake", "none", 2

    def __init__(self, constant: float | None = None, any_size: bool = False) -> None:
        self.constant, self.any_size, self.input_size, self.sides = constant, any_size, SIZE, []

    def logits(self, views) -> torch.Tensor:
        full = views.full
        assert self.accepts(full.shape[-1]), full.shape
        self.sides.append(full.shape[-1])
        if self.constant is not None:
            return torch.full((full.shape[0], 1, *full.shape[-2:]), self.constant)
        return 10 * (full[:, :1] * IMAGENET_STD[0] + IMAGENET_MEAN[0] - 0.5)

    def accepts(self, size: int) -> bool:
        return self.any_size or size == self.input_size


def fake_segmenter(backend: FakeBackend, detail: str, zoom: int = 2) -> Segmenter:
    settings = InferenceSettings("fake", None, "torch", "cpu", "32-true", Detail(detail, zoom))
    return Segmenter(backend, settings, "a fake backend")


def plain_logits(backend: FakeBackend, image: np.ndarray) -> torch.Tensor:
    return backend.logits(SegmentationDataset([], SIZE, "predict", grid=2).predict_input(image)["input"])


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    found = mask > 127
    return float((found & truth).sum() / (found | truth).sum())


@pytest.mark.parametrize(("length", "count", "least"), [(640, 2, 64), (640, 10, 64), (4000, 7, 1024), (130, 5, 64)])
def test_tiles_cover_each_axis_with_windows_that_sum_to_one(length: int, count: int, least: int) -> None:
    parts = axis_parts(length, count, least)
    assert 1 < len(parts) <= count and parts[0][0] == 0 and parts[-1][1] == length
    assert all(end - start >= least for start, end in parts)
    assert all(parts[i + 1][0] < parts[i][1] for i in range(len(parts) - 1))  # neighbours overlap
    assert all(parts[i + 2][0] >= parts[i][1] for i in range(len(parts) - 2))  # never three at once
    total = torch.zeros(length)
    for (start, end), window in zip(parts, axis_windows(parts), strict=True):
        assert window.shape == (end - start,) and window.min() > 0
        total[start:end] += window
    torch.testing.assert_close(total, torch.ones(length), atol=1e-6, rtol=0)
    assert axis_parts(100, 4, 64) == [(0, 100)]  # two parts would be shorter than the least side


def test_the_band_is_one_around_uncertain_pixels_and_falls_to_zero() -> None:
    plain = torch.full((SIZE, SIZE), -8.0)  # confident background...
    plain[32, 32] = 0.0  # ...but for one uncertain pixel; the band's radius is 1 at a 64 px input
    band = uncertain_band(plain)
    assert (band[31:34, 31:34] == 1).all() and band.max() == 1
    row = band[32, 32:40].tolist()
    assert row[:2] == [1, 1] and row[1] > row[2] > row[3] > 0 == row[4]  # falling to 0 over twice as far
    beyond = band.clone()
    beyond[29:36, 29:36] = 0
    assert not beyond.any()  # nothing beyond


def test_a_constant_network_gives_a_constant_mask_without_tile_borders() -> None:
    image = np.random.default_rng(0).integers(0, 256, (500, 700, 3), dtype=np.uint8)
    expected = int(255 * torch.sigmoid(torch.tensor(1.3)))
    for zoom in (2, 3, 5):
        backend = FakeBackend(constant=1.3)
        mask = fake_segmenter(backend, "tiles", zoom).predict(image)
        assert len(backend.sides) == 1 + zoom * zoom  # every tile ran (all uncertain), each at the input size
        assert set(backend.sides) == {SIZE} and mask.shape == (500, 700)
        assert np.unique(mask).tolist() == [expected]


def white_line() -> tuple[np.ndarray, np.ndarray]:
    """A 640 x 640 black image with a white vertical line 6 px wide (0.6 px at the 64 px input), and the line's mask."""
    image = np.zeros((640, 640, 3), np.uint8)
    line = np.zeros((640, 640), bool)
    line[:, 300:306] = True
    image[line] = 255
    return image, line


def test_tiles_recover_a_line_that_the_plain_pass_blurs_and_stay_seamless() -> None:
    image, line = white_line()
    backend = FakeBackend()
    plain = fake_segmenter(backend, "off").predict(image)
    assert iou(plain, line) < 0.5
    for zoom in (4, 10):
        tiled = fake_segmenter(backend, "tiles", zoom).predict(image)
        # the band gives the tiles half the logits (TILE_SHARE): the line's core comes back, its outermost columns
        # only where the tile's +5 outweighs the plain pass's blur
        assert iou(tiled, line) >= 0.8 > 0.5 > iou(plain, line)
        far = np.ones_like(line)
        far[:, 250:356] = False
        assert np.unique(tiled[far]).tolist() == [1]  # background: 255 sigmoid(-5), no tile or band edge shows
        assert (np.abs(np.diff(tiled[:, 300:306].astype(int), axis=0)) <= 1).all()  # along the line: no seam


def test_guided_recovers_a_line_that_the_plain_pass_blurs_from_the_images_pixels() -> None:
    """The plain probability only rises around the line, staying below 0.5; the guided filter finds that it rises with
    the guide's brightness and gives the line back at the image's resolution, exactly, with one plain pass."""
    image, line = white_line()
    backend = FakeBackend()
    plain = fake_segmenter(backend, "off").predict(image)
    guided = fake_segmenter(backend, "guided").predict(image)
    assert plain.max() < 128 and iou(plain, line) == 0
    assert iou(guided, line) == 1 and len(backend.sides) == 2  # one pass each
    assert np.unique(guided[~line]).tolist() == [1]  # background: 255 sigmoid(-5), as the plain path's far from it


def test_guided_gives_a_constant_network_a_constant_mask() -> None:
    """A constant probability fits with a = 0 and b = p in every window, whatever the colours (here random): the map
    is the plain one. The logit is chosen so that 255 p lies half a level from the truncation's steps: the fit's
    rounding (OpenCV sums float32 box filters in float64; measured once: |a| and |b - p| below 4e-6) would have to
    be over a hundred times larger to move a pixel."""
    image = np.random.default_rng(0).integers(0, 256, (500, 700, 3), dtype=np.uint8)
    for level in (40, 200):
        logit = float(torch.logit(torch.tensor((level + 0.5) / 255, dtype=torch.float64)))
        mask = fake_segmenter(FakeBackend(constant=logit), "guided").predict(image)
        assert mask.shape == (500, 700) and np.unique(mask).tolist() == [level]


def test_crop_sees_a_small_object_larger_and_blends_without_a_seam() -> None:
    image = np.zeros((600, 900, 3), np.uint8)
    box = np.zeros((600, 900), bool)
    box[200:260, 500:577] = True
    image[box] = 255
    backend = FakeBackend()
    plan = crop_plan(plain_logits(backend, image)[0, 0], 600, 900)
    (part,) = plan.parts
    top, left = part.box.top, part.box.left
    height, width = part.box.size
    assert top <= 200 and left <= 500 and top + height >= 260 and left + width >= 577  # the object and a margin
    assert height >= SIZE and width >= SIZE and abs(width / height - 900 / 600) < 0.05  # the image's aspect ratio
    plain = fake_segmenter(backend, "off").predict(image)
    cropped = fake_segmenter(backend, "crop").predict(image)
    assert iou(plain, box) < 0.95 < 0.99 < iou(cropped, box)
    around = np.ones_like(box)
    around[150:310, 450:630] = False
    assert np.unique(cropped[around]).tolist() == [1]
    assert crop_plan(torch.full((SIZE, SIZE), -3.0), 600, 900).parts == []  # no object
    small = np.zeros((600, 900, 3), np.uint8)
    small[300:340, 400:450] = 255  # its box and margin under S on both sides: grown to S, the aspect kept
    (part,) = crop_plan(plain_logits(backend, small)[0, 0], 600, 900).parts
    height, width = part.box.size
    assert height == SIZE and abs(width / height - 900 / 600) < 0.05, part.box
    assert crop_plan(torch.full((SIZE, SIZE), 3.0), 600, 900).parts == []  # the whole image: nothing to enlarge


@pytest.fixture(scope="module")
def micro() -> Segmenter:
    """The micro preset at a 64 px input (view 32), random weights: every probability near 0.5, so every tile runs."""
    torch.manual_seed(0)
    return Segmenter.from_network(MGDSAM2(NetworkConfig(preset="micro", view_size=32)), device="cpu")


def test_detail_is_the_plain_path_on_images_no_larger_than_the_input(micro: Segmenter) -> None:
    rng = np.random.default_rng(1)
    small = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((64, 64, 3), (40, 64, 3), (64, 23, 3))]
    plain = micro.predict(small)
    for mode, zoom in (("crop", None), ("tiles", 2), ("tiles", 7), ("guided", None)):
        for got, expected in zip(micro.with_detail(mode, zoom).predict(small), plain, strict=True):
            np.testing.assert_array_equal(got, expected)
    large = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    for mode in ("tiles", "guided"):
        assert not np.array_equal(micro.with_detail(mode).predict(large), micro.predict(large))  # it does something


def test_detail_in_batches_and_with_tta(micro: Segmenter) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (200, 300, 3), dtype=np.uint8), rng.integers(0, 256, (150, 90, 3), dtype=np.uint8)]
    tiles = micro.with_detail("tiles")
    single = tiles.predict(images)
    for batched, alone in zip(tiles.predict(images, batch_size=2), single, strict=True):
        assert np.abs(batched.astype(int) - alone).max() <= MAP_LEVELS_FP32  # only the plain pass is batched
    backend = FakeBackend(constant=0.4, any_size=True)
    fake_segmenter(backend, "tiles", 3).predict(images[0], tta=True)
    assert len(backend.sides) == 6 * (1 + 3 * 3)  # the plain pass and each tile: flip x 3 scales


def test_predict_files_shows_tiles_inside_its_progress_bar(tmp_path: Path, monkeypatch) -> None:
    """prediction.md: images of PROGRESS_PARTS (8) tiles or more get their own progress line, inside predict's."""
    import mgd_sam2.inference.refine as refine

    shown = []

    def recorded(total: int, label: str, show: bool = True):
        shown.append((total, show))
        return progress_bar(total, label, show)

    monkeypatch.setattr(refine, "progress_bar", recorded)
    path = tmp_path / "large.png"
    Image.fromarray(np.full((400, 600, 3), 90, np.uint8)).save(path)
    for zoom in (2, 3, 4):
        segmenter = fake_segmenter(FakeBackend(constant=0.2), "tiles", zoom)
        writer = segmenter.predict_files([path], segmenter.writer(tmp_path / f"out{zoom}"), show=True)
        assert writer.failures == [] and (tmp_path / f"out{zoom}" / "large.png").is_file()
    assert refine.PROGRESS_PARTS == 8 and shown == [(4, False), (9, True), (16, True)]


def test_detail_settings_are_checked_and_recorded() -> None:
    with pytest.raises(ConfigError, match="detail mode must be one of off, crop, tiles, guided"):
        Detail("more")
    with pytest.raises(ConfigError, match="detail zoom must be a whole number of 1 or more"):
        Detail("tiles", 0)
    assert Detail().recorded() == {} and Detail("crop", 5).recorded() == {"detail": {"mode": "crop"}}
    assert Detail("tiles", 3).recorded() == {"detail": {"mode": "tiles", "zoom": 3}}
    assert Detail("tiles", 3).label == "tiles x3"
    assert Detail("guided", 3).recorded() == {"detail": {"mode": "guided"}} and Detail("guided", 3).label == "guided"


def test_every_mode_through_predict_the_api_and_the_app(micro: Segmenter, tmp_path: Path, capsys) -> None:
    from mgd_sam2.app.cutout import CutoutService
    from mgd_sam2.cli import subcommand_parser
    from mgd_sam2.data.synth import generate_sample

    model = micro.save_pretrained(tmp_path / "model")
    image = tmp_path / "photo.png"
    Image.fromarray(generate_sample(0, 3, 240, 320)[0]).save(image)
    outputs = {}
    for mode in DETAIL_MODES:
        out = tmp_path / mode
        argv = ["predict", "--ckpt", str(model), "--input", str(image), "--output", str(out), "--cutout"]
        zoom = ["--detail-zoom", "3"] if mode == "tiles" else []  # a zoom without tiles is refused (below)
        assert main([*argv, "--detail", mode, *zoom, "--device", "cpu"]) == 0
        outputs[mode] = out / "photo.png"
        recorded = provenance(outputs[mode])
        assert recorded.get("detail") == Detail(mode, 3).recorded().get("detail")
        segmenter = Segmenter.load(model, device="cpu", detail=mode, detail_zoom=3 if mode == "tiles" else None)
        np.testing.assert_array_equal(segmenter.predict(image), np.asarray(Image.open(outputs[mode])))
        (tmp_path / f"app-{mode}").mkdir()
        result = CutoutService(segmenter, tmp_path / f"app-{mode}").run([image])
        (cutout,) = result.cutouts
        assert cutout.mask.read_bytes() == outputs[mode].read_bytes()
        assert cutout.cutout.read_bytes() == (out / "photo_cutout.png").read_bytes()
    for mode in ("tiles", "guided"):
        assert not np.array_equal(np.asarray(Image.open(outputs[mode])), np.asarray(Image.open(outputs["off"])))
    args = subcommand_parser("app").parse_args(["--detail", "tiles", "--detail-zoom", "3"])
    assert (args.detail, args.detail_zoom) == ("tiles", 3)
    argv = ["predict", "--ckpt", str(model), "--input", str(image), "--output", str(tmp_path / "off")]
    assert main([*argv, "--detail", "tiles", "--detail-zoom", "3", "--device", "cpu"]) == 0  # other options: redone
    assert provenance(tmp_path / "off" / "photo.png")["detail"] == {"mode": "tiles", "zoom": 3}
    for command in (argv, ["app", "--ckpt", str(model)]):  # a zoom that would go unused: one line, before any work
        capsys.readouterr()
        assert main([*command, "--detail", "guided", "--detail-zoom", "3"]) == 1
        assert (
            "error: --detail-zoom sets the tiles of --detail tiles, and --detail is guided" in capsys.readouterr().err
        )
    with pytest.raises(ConfigError, match="detail_zoom sets the tiles of detail tiles, and detail is crop"):
        Segmenter.load(model, detail="crop", detail_zoom=3)  # the API refuses it too, before the weights load
    with pytest.raises(ConfigError, match="detail_zoom sets the tiles of detail tiles, and detail is off"):
        micro.with_detail("off", 2)  # even the default zoom, when given
    with pytest.raises(ConfigError, match="detail is a Detail, which holds its zoom: drop detail_zoom"):
        micro.with_detail(Detail("tiles", 3), 3)
    assert micro.with_detail(Detail("tiles", 3)).settings.detail == Detail("tiles", 3)
    assert micro.with_detail("tiles").settings.detail == Detail("tiles", DEFAULT_ZOOM)


def test_detail_map_of_a_map_without_parts_is_the_plain_conversion() -> None:
    image = np.zeros((300, 500, 3), np.uint8)
    backend = FakeBackend(constant=-6.0)  # confident background: nothing uncertain, no object
    plain = plain_logits(backend, image)
    for detail in (Detail("tiles", 4), Detail("crop")):
        assert torch.equal(detail_map(backend, plain, image, detail), to_uint8_maps(plain, [(300, 500)])[0])
    assert len(backend.sides) == 1


def test_the_apps_memory_note_counts_a_detail_modes_maps() -> None:
    """`mgd-sam2 app --detail ...` says what its largest image costs with the detail mode's maps, which the plain
    path does not hold."""
    from mgd_sam2.app.cutout import APP_BYTES_PER_PIXEL
    from mgd_sam2.commands.app import limits_note
    from mgd_sam2.inference.refine import DETAIL_BYTES_PER_PIXEL

    pixels = 2**30  # one GiB per byte per pixel, so the note's figure is the bytes per pixel
    assert f"about {APP_BYTES_PER_PIXEL:.1f} GiB besides the model" in limits_note(pixels, 50)
    total = APP_BYTES_PER_PIXEL + DETAIL_BYTES_PER_PIXEL
    for mode in DETAIL_MODES[1:]:
        assert f"about {total:.1f} GiB besides the model" in limits_note(pixels, 50, detail=mode)
    assert f"about {APP_BYTES_PER_PIXEL:.0f} MiB besides the model" in limits_note(2**20, 50)  # not "0.0 GiB"


class TwoConstants(FakeBackend):
    """``plain`` logits on the first pass (the plain one), ``tile`` on every later one (the tiles)."""

    def __init__(self, plain: float, tile: float) -> None:
        super().__init__(constant=plain)
        self.tile = tile

    def logits(self, views) -> torch.Tensor:
        out = super().logits(views)
        return out if len(self.sides) == 1 else torch.full_like(out, self.tile)


def test_tiles_and_the_plain_pass_share_the_band_by_tile_share() -> None:
    """Where the band is 1 (here everywhere: every plain probability is uncertain), the logits are (1 - TILE_SHARE)
    of the plain ones plus TILE_SHARE of the tiles'."""
    from mgd_sam2.inference.refine import TILE_SHARE

    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    plain, tile = -2.0, 4.0  # sigmoid(-2) = 0.12: uncertain
    mask = fake_segmenter(TwoConstants(plain, tile), "tiles", 2).predict(image)
    blended = torch.tensor((1 - TILE_SHARE) * plain + TILE_SHARE * tile)
    assert np.unique(mask).tolist() == [int(255 * torch.sigmoid(blended))]


def test_every_mode_through_lightning_predict(trained_checkpoint: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """`mgd-sam2 predict -c CONFIG --model.detail MODE` writes the masks `mgd-sam2 predict --detail MODE` does: the
    model runs the detail mode, and the CLI has the DataModule keep the pixels it reads; `--model.tta true` those of
    `--tta`."""
    from mgd_sam2.data.synth import generate_sample

    monkeypatch.chdir(tmp_path)
    Image.fromarray(generate_sample(0, 3, 240, 320)[0]).save(tmp_path / "photo.png")
    masks = {}
    base = ["-c", str(Path(__file__).parent.parent / "src/mgd_sam2/configs/demo.yaml"), "--trainer.logger", "false",
            "--ckpt_path", str(trained_checkpoint), "--data.predict", str(tmp_path / "photo.png"),
            "--trainer.callbacks+=mgd_sam2.inference.writer.MaskWriter", "--trainer.callbacks.output"]  # fmt: skip
    for mode in DETAIL_MODES:
        out = tmp_path / mode
        zoom = ["--model.detail_zoom", "3"] if mode == "tiles" else []  # a zoom flag without tiles: refused below
        assert main(["predict", *base, str(out), "--model.detail", mode, *zoom]) == 0
        masks[mode] = np.asarray(Image.open(out / "photo.png"))
        expected = Segmenter.load(trained_checkpoint, device="cpu", detail=Detail(mode, 3)).predict(
            tmp_path / "photo.png"
        )
        np.testing.assert_array_equal(masks[mode], expected)
    assert not np.array_equal(masks["tiles"], masks["off"]) and not np.array_equal(masks["guided"], masks["off"])
    capsys.readouterr()
    assert main(["predict", *base, str(tmp_path / "off"), "--model.detail", "tiles", "--model.detail_zoom", "3"]) == 0
    assert f"wrote 1 file to {tmp_path / 'off'} (replacing 1 that an earlier run wrote)" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "off" / "photo.png")), masks["tiles"])
    tta = tmp_path / "tta"  # model.tta: predict --tta's six passes, the same masks
    assert main(["predict", *base, str(tta), "--model.tta", "true"]) == 0
    expected = Segmenter.load(trained_checkpoint, device="cpu").predict(tmp_path / "photo.png", tta=True)
    np.testing.assert_array_equal(np.asarray(Image.open(tta / "photo.png")), expected)
    assert not np.array_equal(expected, masks["off"])
    with pytest.raises(SystemExit):  # jsonargparse refuses a mode that is not one
        main(["predict", *base, str(tta), "--model.detail", "more"])
    capsys.readouterr()
    assert main(["predict", *base, str(tmp_path / "unused"), "--model.detail", "crop", "--model.detail_zoom", "3"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --model.detail_zoom sets the tiles of --model.detail tiles, and --model.detail is crop: choose "
        "--model.detail tiles, or drop --model.detail_zoom"
    )
    assert not (tmp_path / "unused").exists()
    # without a writer Lightning's predict would keep no map: refused before anything runs or any folder is made
    unwritten = [*base[:8], "--trainer.logger", "true", "--trainer.default_root_dir", str(tmp_path / "refused")]
    assert main(["predict", *unwritten]) == 1
    assert "predict -c writes its maps through a MaskWriter callback" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_guided_coefficients_are_each_windows_least_squares_fit_averaged() -> None:
    """`coefficients` against a direct computation on a small colour image: per window, the ridge-regularised least
    squares fit of the probability on the three colours (the guided filter's a and b), then each pixel's mean of the
    fits of the windows that hold it (windows reflected at the edges, as the box filter's BORDER_REFLECT)."""
    rng = np.random.default_rng(3)
    colour = rng.random((9, 11, 3), dtype=np.float32)
    probability = rng.random((9, 11), dtype=np.float32)
    radius, epsilon = 2, 1e-2

    def reflected(x: np.ndarray) -> np.ndarray:  # numpy's symmetric padding repeats the edge, as BORDER_REFLECT
        return np.pad(x, [(radius, radius), (radius, radius)] + [(0, 0)] * (x.ndim - 2), mode="symmetric")

    padded_colour, padded_probability = reflected(colour), reflected(probability)
    fits = np.zeros((9, 11, 4))
    for y in range(9):
        for x in range(11):
            window = np.s_[y : y + 2 * radius + 1, x : x + 2 * radius + 1]
            c = padded_colour[window].reshape(-1, 3).astype(np.float64)
            p = padded_probability[window].reshape(-1).astype(np.float64)
            centred = c - c.mean(0)
            a = np.linalg.solve(centred.T @ centred / len(p) + epsilon * np.eye(3), centred.T @ (p - p.mean()) / len(p))
            fits[y, x] = [*a, p.mean() - a @ c.mean(0)]
    padded_fits = reflected(fits)
    expected = np.array([[padded_fits[y : y + 2 * radius + 1, x : x + 2 * radius + 1].reshape(-1, 4).mean(0)
                          for x in range(11)] for y in range(9)])  # fmt: skip
    # float32 box sums of values in [0, 1], a 3 x 3 solve with eigenvalues of at least epsilon: 1e-4 is loose
    np.testing.assert_allclose(coefficients(colour, probability, radius, epsilon), expected, atol=1e-4, rtol=0)


def test_guided_on_an_image_with_one_side_shorter_than_the_input() -> None:
    """A 40 x 300 image (S = 64): the grid is the image's 40 rows by 64 columns; the map has the image's size and finds
    the line as on a square image."""
    image = np.zeros((40, 300, 3), np.uint8)
    line = np.zeros((40, 300), bool)
    line[:, 150:153] = True
    image[line] = 255
    backend = FakeBackend()
    guided = fake_segmenter(backend, "guided").predict(image)
    plain = fake_segmenter(backend, "off").predict(image)
    assert guided.shape == (40, 300) and iou(guided, line) > iou(plain, line)


def test_the_mean_gain_leaves_out_images_without_a_value_and_does_not_warn() -> None:
    """A bootstrap draw of only images without a value (mBA of an empty mask) has no gain: NaN, which the interval's
    percentiles leave out, and no 'Mean of empty slice' warning in the benchmark's output."""
    import warnings

    base = np.array([[0.5, np.nan, 0.25], [np.nan, np.nan, np.nan]])
    other = np.array([[1.0, 0.5, 0.5], [0.5, np.nan, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gain(base, other)
    assert result[0] == 0.375 and np.isnan(result[1])  # (0.5 + 0.25) / 2: exact in binary
