"""`mgd-sam2 evaluate`: a folder of predictions against a folder of GT masks."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from pathlib import Path

import pytest
from PIL import Image

from bounds import METRICS_FLOAT64
from mgd_sam2.cli import main
from mgd_sam2.metrics.sod import METRIC_CLASSES, SCALAR_KEYS

FIXTURE = Path(__file__).parent / "fixtures" / "pysodmetrics"


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    shutil.copytree(FIXTURE / "preds", pred)
    shutil.copytree(FIXTURE / "masks", gt)
    return pred, gt


def evaluate(pred: Path, gt: Path, *extra: str) -> int:
    return main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--workers", "0", *extra])


def test_writes_json_csv_and_markdown(folders, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    pred, gt = folders
    out = tmp_path / "out"
    assert (
        evaluate(
            pred,
            gt,
            "--hce-binarize",
            "pysod",
            "--json",
            str(out / "s.json"),
            "--csv",
            str(out / "s.csv"),
            "--markdown",
            str(out / "s.md"),
            "--layout",
            "dis",
        )
        == 0
    )
    report = json.loads((out / "s.json").read_text())
    reference = json.loads((FIXTURE / "reference_scores.json").read_text())["scores"]
    assert list(report["scores"]) == list(SCALAR_KEYS)
    for key, value in reference.items():
        assert report["scores"][key] == pytest.approx(value, abs=METRICS_FLOAT64), key
    assert report["num_images"] == 3 and report["versions"]["opencv"].startswith("4.10")
    assert report["metrics"] == list(METRIC_CLASSES) and report["resize_pred"] is False  # what the scores depend on
    assert len(report["curves"]["fm_curve"]) == 256 and len(report["curves"]["precision_curve"]) == 256
    rows = list(csv.DictReader((out / "s.csv").open()))
    assert [row["name"] for row in rows] == ["0001", "19", "aerial-1867541__340"]
    assert {"height", "width", "Smeasure", "HCE", "mBA", "maxFm"} <= set(rows[0])
    # as docs/evaluation.md says: a column's mean (over the images where it is defined: mBA is not where a GT has no
    # boundary, as here) is the table's value, but for the maxima of the curves (a row's is of that image's curve,
    # the table's of the mean curve: never higher). Bound: two float64 sums of 256 terms per image (the curve
    # measures' means), each within 256 x images x 2^-53 relative.
    bound = 2 * 256 * len(rows) * 2**-53
    assert not math.isfinite(float(rows[2]["mBA"]))
    for key in report["scores"]:
        mean = statistics.fmean(value for row in rows if math.isfinite(value := float(row[key])))
        if key in ("maxFm", "maxEm"):
            assert mean > report["scores"][key], key
        else:
            assert math.isclose(mean, report["scores"][key], rel_tol=bound), key
    table = (out / "s.md").read_text()
    assert "maxFβ↑" in table and "HCEγ↓" in table and "| pred | 0.589 |" in table
    assert not (gt / "ske").exists() and not any(p.suffix == ".tmp" for p in out.iterdir())
    assert (tmp_path / "cache" / "skeletons").is_dir()  # HCE skeletons cached outside the dataset
    assert "3 images, HCE binarisation 'pysod'" in capsys.readouterr().out
    assert evaluate(pred, gt, "--metrics", "HCE", "--layout", "dis") == 0  # one column: the title on one line
    assert "3 images, HCE binarisation 'dis'" in capsys.readouterr().out
    assert evaluate(pred, gt, "--layout", "hrsod") == 0  # HCE computed, but no column of this table: not in its title
    assert "HCE binarisation" not in capsys.readouterr().out
    assert evaluate(pred, gt, "--metrics", "S,mBA,E", "--layout", "dis") == 0  # mBA is no column of the DIS table
    assert "note: computed but not a column of --layout dis: mBA (--json and --csv have them; --layout all shows " \
        "every column)" in capsys.readouterr().out  # fmt: skip
    subset = ["--metrics", "S,MAE", "--layout", "dis", "--markdown", str(out / "subset.md")]
    assert evaluate(pred, gt, *subset) == 0  # the console and the table show what was computed, and no HCE setting
    printed, table = capsys.readouterr().out, (out / "subset.md").read_text()
    for shown in (printed, table):
        assert "Sα↑" in shown and "M↓" in shown and "maxFβ↑" not in shown and "HCE" not in shown and "–" not in shown


def test_several_prediction_folders_give_a_row_each_with_the_scores_each_gets_alone(
    folders, tmp_path: Path, capsys, monkeypatch
) -> None:
    pred, gt = folders
    methods = [tmp_path / "A" / "pred", tmp_path / "B" / "pred"]  # a folder per method, named alike (per split)
    shutil.copytree(pred, methods[0])
    shutil.copytree(pred, methods[1])
    worse = next(methods[1].iterdir())
    Image.eval(Image.open(worse), lambda value: 255 - value).save(worse)  # one map inverted
    alone = []
    for index, folder in enumerate(methods):
        assert evaluate(folder, gt, "--json", str(tmp_path / f"alone{index}.json")) == 0
        alone.append(json.loads((tmp_path / f"alone{index}.json").read_text()))
    capsys.readouterr()
    outputs = ["--json", str(tmp_path / "both.json"), "--csv", str(tmp_path / "both.csv"), "--markdown",
               str(tmp_path / "both.md"), "--workers", "0"]  # fmt: skip
    assert main(["evaluate", "--pred", *map(str, methods), "--gt", str(gt), *outputs]) == 0
    printed = capsys.readouterr().out
    assert "A/pred" in printed and "B/pred" in printed
    report = json.loads((tmp_path / "both.json").read_text())
    assert list(report["methods"]) == ["A/pred", "B/pred"] and report["gt"] == str(gt)
    for entry, single in zip(report["methods"].values(), alone, strict=True):
        assert entry["scores"] == single["scores"] and entry["curves"] == single["curves"]
    assert report["methods"]["A/pred"]["scores"] != report["methods"]["B/pred"]["scores"]
    rows = list(csv.DictReader((tmp_path / "both.csv").open()))
    assert [row["method"] for row in rows] == ["A/pred"] * 3 + ["B/pred"] * 3
    table = (tmp_path / "both.md").read_text()
    assert "| A/pred |" in table and "| B/pred |" in table
    assert main(["evaluate", "--pred", *map(str, methods), "--gt", str(gt), "--name", "ours", "theirs",
                 "--metrics", "MAE", "--workers", "0"]) == 0  # fmt: skip
    assert "ours" in capsys.readouterr().out
    assert main(["evaluate", "--pred", *map(str, methods), "--gt", str(gt), "--name", "ours"]) == 1
    err = capsys.readouterr().err
    assert "--name gives 1 row names for 2 --pred folders: give one per folder" in err
    assert len(err.strip().splitlines()) == 1
    # every folder's problems before any folder is scored (the first would take minutes at 2K)
    worse.unlink()
    with monkeypatch.context() as scoring:
        scoring.setattr("mgd_sam2.metrics.evaluate.evaluate_folders", lambda *args, **kwargs: pytest.fail("scored"))
        assert main(["evaluate", "--pred", *map(str, methods), "--gt", str(gt), "--workers", "0"]) == 1
    err = capsys.readouterr().err
    assert f"B/pred: unpaired files (1):\n  {worse.stem}: no prediction in {methods[1]}" in err


def test_an_empty_folder_or_one_whose_maps_are_a_level_down_is_named(folders, tmp_path: Path, capsys) -> None:
    pred, gt = folders
    (tmp_path / "empty").mkdir()
    assert evaluate(tmp_path / "empty", gt) == 1
    assert f"error: prediction folder {tmp_path / 'empty'} holds no image files" in capsys.readouterr().err
    shutil.copytree(pred, tmp_path / "nested/sub")
    assert evaluate(tmp_path / "nested", gt) == 1
    error = capsys.readouterr().err
    assert (
        f"prediction folder {tmp_path / 'nested'} holds no image files; its subfolder {tmp_path / 'nested/sub'} does"
        in error
    )
    # a method's maps, a folder per split: the hint names the split whose maps pair with the GT, not the first
    (tmp_path / "nested/A-split").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "nested/A-split/other.png")
    assert evaluate(tmp_path / "nested", gt) == 1
    assert (
        f"its subfolder {tmp_path / 'nested/sub'} does: give that folder (or score every split's folder with "
        f"mgd-sam2 benchmark accuracy --predictions {tmp_path / 'nested'})"
    ) in capsys.readouterr().err


def test_8_bit_values_in_a_16_bit_prediction_get_a_note(folders, capsys) -> None:
    """Read as a 16-bit map such a file is black (each value is 0 in 8 bits): scored as it reads, with a note; a
    16-bit 0/1 map too."""
    import numpy as np

    pred, gt = folders
    values = np.asarray(Image.open(pred / "19.png").convert("L")).astype(np.uint16)
    Image.fromarray(values).save(pred / "19.png")
    assert Image.open(pred / "19.png").mode.startswith("I;16")
    assert evaluate(pred, gt, "--metrics", "MAE") == 0
    assert "note: 1 predictions are 16-bit files whose values are all 255 or less, e.g. 19:" in capsys.readouterr().out
    Image.fromarray((values > 128).astype(np.uint16)).save(pred / "19.png")
    assert evaluate(pred, gt, "--metrics", "MAE") == 0
    assert "note: 1 predictions are 16-bit files whose values are all 255 or less" in capsys.readouterr().out
    Image.fromarray(values * 257).save(pred / "19.png")  # the same map at 16-bit depth: no note
    assert evaluate(pred, gt, "--metrics", "MAE") == 0
    assert "16-bit" not in capsys.readouterr().out


def test_predictions_with_no_value_above_the_threshold_get_a_note_where_hce_or_mba_is_scored(folders, capsys) -> None:
    """A map of 0..100 is min-max normalised by S, E, F, wF and MAE, but HCE and mBA threshold its raw values at 128
    and score it as empty: said where those two are scored, not otherwise, and not for a map that reaches 255."""
    import numpy as np

    pred, gt = folders
    values = np.asarray(Image.open(pred / "19.png").convert("L")).astype(np.float64)
    Image.fromarray((values * 100 / 255).astype(np.uint8)).save(pred / "19.png")
    for metrics, said in (("S,HCE", "HCE threshold"), ("S,mBA", "mBA threshold"), ("HCE,mBA", "HCE and mBA")):
        assert evaluate(pred, gt, "--metrics", metrics) == 0
        assert f"note: 1 predictions have no value above 128, e.g. 19: {said}" in capsys.readouterr().out, metrics
    for quiet in (("--metrics", "S,MAE"), ("--metrics", "S,HCE", "--hce-binarize", "pysod")):  # both normalise
        assert evaluate(pred, gt, *quiet) == 0
        assert "no value above 128" not in capsys.readouterr().out, quiet
    Image.fromarray(values.astype(np.uint8)).save(pred / "19.png")
    assert evaluate(pred, gt, "--metrics", "S,mBA") == 0
    assert "no value above 128" not in capsys.readouterr().out


def test_palette_gt_masks_whose_object_reads_dark_get_their_own_note(folders, capsys) -> None:
    """A DAVIS-style annotation (palette: 0 black, 1 (128, 0, 0)) reads as grey 38 where the object is: no
    foreground, said as such (not "images, not masks" nor "no foreground" alone); a palette mask in white is fine."""
    import numpy as np

    pred, gt = folders
    mask = np.asarray(Image.open(gt / "19.png").convert("L")) > 128
    davis = Image.fromarray(mask.astype(np.uint8), mode="P")
    davis.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
    davis.save(gt / "19.png")
    assert evaluate(pred, gt, "--metrics", "S") == 0
    out = capsys.readouterr().out
    said = "note: 1 GT masks are palette (indexed colour) images whose object's colour reads as a grey of 128 or less"
    empty = [line for line in out.splitlines() if "no foreground pixel" in line]  # the fixture has an empty GT
    assert f"{said}, e.g. 19:" in out and "19" not in "".join(empty) and "colour images, not masks" not in out
    davis.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    davis.save(gt / "19.png")
    assert evaluate(pred, gt, "--metrics", "S") == 0
    assert "palette" not in capsys.readouterr().out


def test_jpeg_gt_masks_get_a_note(folders, capsys) -> None:
    pred, gt = folders
    Image.open(gt / "19.png").convert("L").save(gt / "19.jpg", quality=95)
    (gt / "19.png").unlink()
    assert evaluate(pred, gt, "--metrics", "MAE") == 0
    assert "note: 1 GT masks are JPEG files, e.g. 19: JPEG is lossy" in capsys.readouterr().out


def test_unpaired_files_are_listed(folders, capsys) -> None:
    pred, gt = folders
    (pred / "19.png").unlink()
    Image.new("L", (10, 10)).save(pred / "stray.png")
    assert evaluate(pred, gt) == 1
    err = capsys.readouterr().err
    assert "unpaired files (2)" in err and "19: no prediction" in err and "stray: no ground truth" in err
    (pred / "stray.png").rename(pred / "AERIAL-1867541__340.png")  # saved on a case-insensitive file system
    (pred / "aerial-1867541__340.png").unlink()
    Image.open(gt / "19.png").save(pred / "19.png")
    assert evaluate(pred, gt) == 1
    assert (
        "1 differs only in case, e.g. GT aerial-1867541__340.png against prediction AERIAL-1867541__340.png: stems "
        "pair case-sensitively, rename one side." in capsys.readouterr().err
    )


def test_every_kind_of_unscorable_file_is_named_in_one_run(folders, capsys) -> None:
    """An unpaired prediction, a truncated PNG and a map of another size in one folder: one error lists all three
    kinds (it stopped at the first kind, so each took a run of its own to find)."""
    pred, gt = folders
    Image.new("L", (10, 10)).save(pred / "stray.png")
    data = (pred / "19.png").read_bytes()
    (pred / "19.png").write_bytes(data[: len(data) // 2])
    Image.open(pred / "0001.png").resize((100, 50)).save(pred / "0001.png")
    assert evaluate(pred, gt, "--metrics", "MAE") == 1
    err = capsys.readouterr().err
    for listing in ("unpaired files (1):\n  stray: no ground truth", f"unreadable files (1):\n  {pred / '19.png'}",
                    "not at ground-truth resolution (1):\n  0001: prediction 100x50"):  # fmt: skip
        assert listing in err, err


def test_size_mismatch_is_an_error_unless_resizing(folders, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    pred, gt = folders
    Image.open(pred / "0001.png").resize((100, 50)).save(pred / "0001.png")
    assert evaluate(pred, gt) == 1
    err = capsys.readouterr().err
    assert "not at ground-truth resolution (1)" in err and "0001: prediction 100x50 vs ground truth 267x400" in err
    assert evaluate(pred, gt, "--resize-pred", "--metrics", "S,MAE", "--json", str(tmp_path / "s.json")) == 0
    resized = "resized 1 predictions to their GT's size (--resize-pred, bilinear), e.g. 0001: prediction 100x50"
    assert f"note: {resized}" in capsys.readouterr().out
    assert [note for note in json.loads((tmp_path / "s.json").read_text())["notes"] if note.startswith(resized)]


def test_unreadable_file_is_named(folders, capsys) -> None:
    pred, gt = folders
    (pred / "19.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert evaluate(pred, gt, "--metrics", "MAE") == 1
    err = capsys.readouterr().err
    assert "unreadable files (1)" in err and "19.png" in err


def test_truncated_or_empty_files_are_named_before_any_pair_is_scored(folders, capsys, monkeypatch) -> None:
    """A truncated or empty PNG is found by its checksums before any pair is decoded; a truncated JPEG, which has
    none, when it is decoded."""
    from mgd_sam2.metrics import evaluate as evaluation

    pred, gt = folders
    data = (pred / "19.png").read_bytes()
    (pred / "19.png").write_bytes(data[: len(data) // 2])
    (pred / "0001.png").write_bytes(b"")
    measured = []
    measure = evaluation.PairMeasurer.__call__
    monkeypatch.setattr(
        evaluation.PairMeasurer, "__call__", lambda self, pair: measured.append(pair) or measure(self, pair)
    )
    assert evaluate(pred, gt, "--metrics", "MAE") == 1
    err = capsys.readouterr().err
    assert "unreadable files (2)" in err and not measured
    assert f"{pred / '19.png'}: the file is truncated" in err and f"{pred / '0001.png'}: the file is empty" in err
    data = bytearray((gt / "19.png").read_bytes())  # a wrong IDAT checksum, which PIL's decoder does not read:
    at = data.index(b"IDAT")  # the file decodes, so it is scored, as predict and test read it
    end = at + 4 + int.from_bytes(data[at - 4 : at], "big")
    data[end] ^= 0xFF
    (pred / "19.png").write_bytes(bytes(data))
    (pred / "0001.png").write_bytes((gt / "0001.png").read_bytes())
    assert evaluate(pred, gt, "--metrics", "MAE") == 0
    capsys.readouterr()
    Image.open(gt / "19.png").convert("L").save(pred / "19.jpg", quality=95)
    (pred / "19.png").unlink()
    shutil.copy(gt / "0001.png", pred / "0001.png")
    data = (pred / "19.jpg").read_bytes()
    (pred / "19.jpg").write_bytes(data[: len(data) // 2])
    assert evaluate(pred, gt, "--metrics", "MAE") == 1
    err = capsys.readouterr().err
    assert "could not be scored (1)" in err and "19" in err


def test_missing_folder_a_file_or_a_split_is_named(tmp_path: Path, capsys) -> None:
    assert evaluate(tmp_path / "nope", tmp_path) == 1
    assert "prediction folder not found" in capsys.readouterr().err
    (tmp_path / "a.png").write_bytes(b"x")
    assert evaluate(tmp_path / "a.png", tmp_path) == 1
    assert f"prediction folder {tmp_path / 'a.png'} is a file: give the folder" in capsys.readouterr().err
    for sub in ("im", "gt"):
        (tmp_path / "split" / sub).mkdir(parents=True)
    assert evaluate(tmp_path, tmp_path / "split") == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'split'} is a dataset split: give its masks folder, {tmp_path / 'split' / 'gt'}" in err
