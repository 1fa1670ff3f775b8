"""Reliability: a user's files are never touched, every output path and bad value fails early in one line,
and files are written as the user's other files are."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mgd_sam2.cli import main
from mgd_sam2.data.datasets import Record, SegmentationDataset, image_records
from mgd_sam2.data.io import PROVENANCE_KEY, provenance, read_mask, read_prediction
from mgd_sam2.data.layouts import resolve_split
from mgd_sam2.data.synth import SynthConfig
from mgd_sam2.errors import ConfigError
from mgd_sam2.metrics.evaluate import evaluate_folders
from mgd_sam2.utils.files import TEMPORARY_SUFFIX, file_key, write_json
from mgd_sam2.utils.parallel import workers_for_memory


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`mgd-sam2 ARGV` in this process: (exit status, stdout, stderr); argparse usage errors exit 2."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def photos(folder: Path, names: tuple[str, ...] = ("a.png", "b.jpg")) -> dict[str, str]:
    """Small photos; returns {name: sha256 of the file}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (50, 70, 3), np.uint8)).save(folder / name)
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def predict(capsys, ckpt: Path, source: Path, output: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys,
        "predict",
        "--ckpt",
        str(ckpt),
        "--input",
        str(source),
        "--output",
        str(output),
        "--workers",
        "0",
        *extra,
    )


# ---------------------------------------------------------------- a user's inputs are never touched


@pytest.mark.parametrize("extra", [(), ("--overwrite",)])
def test_predicting_into_the_input_folder_is_refused(trained_checkpoint, tmp_path, capsys, extra) -> None:
    before = photos(tmp_path / "d")
    code, _, err = predict(capsys, trained_checkpoint, tmp_path / "d", tmp_path / "d", *extra)
    assert code == 1 and "is the input folder" in err and len(err.strip().splitlines()) == 1
    assert digests(tmp_path / "d") == before


def test_an_output_that_would_overwrite_an_input_file_is_refused(trained_checkpoint, tmp_path, capsys) -> None:
    before = photos(tmp_path / "d")
    code, _, err = predict(capsys, trained_checkpoint, tmp_path / "d" / "a.png", tmp_path / "d", "--overwrite")
    assert code == 1 and "would overwrite an input image" in err
    assert digests(tmp_path / "d") == before


def test_masks_predict_wrote_among_the_images_are_no_input(trained_checkpoint, tmp_path, capsys) -> None:
    """A mask written beside its image, or into a subfolder of the photos, is passed over (and counted) by a later
    run on the folder; a user's PNG of its own is still an input."""
    photos(tmp_path / "d", ("a.jpg", "b.jpg", "c.png"))
    assert predict(capsys, trained_checkpoint, tmp_path / "d" / "a.jpg", tmp_path / "d")[0] == 0  # d/a.png
    assert predict(capsys, trained_checkpoint, tmp_path / "d", tmp_path / "d" / "masks", "--cutout")[0] == 0
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "d", tmp_path / "out", "--recursive")
    assert code == 0 and "masks and cut-outs that mgd-sam2 predict wrote: 7" in stdout, stdout
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


def test_files_predict_did_not_write_are_never_overwritten(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in")
    out = tmp_path / "out"
    photos(out, ("a.png",))  # a user's own a.png where a mask would go
    before = digests(out)
    for extra in ((), ("--overwrite",)):
        code, _, err = predict(capsys, trained_checkpoint, tmp_path / "in", out, *extra)
        assert code == 1 and f"{out} (--output) holds 1 file(s) that mgd-sam2 did not write" in err and "a.png" in err
        assert digests(out) == before


def test_outputs_made_with_other_options_are_redone(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in")
    out = tmp_path / "out"
    assert predict(capsys, trained_checkpoint, tmp_path / "in", out)[0] == 0
    assert len(np.unique(read_mask(out / "a.png"))) > 2  # 8-bit probabilities
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out, "--binary")
    assert code == 0 and "2 images have outputs made with other options: binary (2); redoing them" in stdout
    assert set(np.unique(read_mask(out / "a.png"))) <= {0, 255}
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out, "--binary")
    assert code == 0 and "2 of 2 images already have outputs" in stdout
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out, "--binary", "--tta")
    assert code == 0 and "2 images have outputs made with other options: tta (2); redoing them" in stdout
    copy = tmp_path / "copied" / "model.ckpt"  # the same weights in another file: the same outputs, kept
    copy.parent.mkdir()
    shutil.copy(trained_checkpoint, copy)
    code, stdout, _ = predict(capsys, copy, tmp_path / "in", out, "--binary", "--tta")
    assert code == 0 and "2 of 2 images already have outputs" in stdout
    other = tmp_path / "other.ckpt"  # other weights: one value changed
    content = torch.load(trained_checkpoint, map_location="cpu", weights_only=False)
    first = next(iter(content["state_dict"]))
    content["state_dict"][first] = content["state_dict"][first] + 1e-3
    torch.save(content, other)
    code, stdout, _ = predict(capsys, other, tmp_path / "in", out, "--binary", "--tta")
    assert code == 0 and "2 images have outputs made with other weights (2); redoing them" in stdout
    recorded = provenance(out / "a.png")
    assert recorded["tta"] and recorded["weights"] == [f"sha256:{hashlib.sha256(other.read_bytes()).hexdigest()}"]
    assert str(tmp_path) not in (out / "a.png").read_bytes().decode("latin-1")  # no path of this machine in the file
    assert recorded["precision"] == "32-true" and recorded["backend"] == "torch"  # a precision of its own: redone
    # other images of the same names (another input folder, or the same file changed): redone, never kept
    mirrored = tmp_path / "mirrored"
    mirrored.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(tmp_path / "in" / name).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored / name)
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    same_name = "2 images have outputs made of another image file of the same name, or of the same file before it"
    assert code == 0 and same_name in stdout and f"(2, e.g. {mirrored / 'a.png'}); redoing them" in stdout
    digest = f"sha256:{hashlib.sha256((mirrored / 'a.png').read_bytes()).hexdigest()}"
    assert provenance(out / "a.png")["image"] == digest  # its bytes', not its path
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    assert code == 0 and "2 of 2 images already have outputs" in stdout
    Image.open(mirrored / "a.png").rotate(180).save(mirrored / "a.png")  # edited in place
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    assert code == 0 and "1 image has outputs made of another image file of the same name, or of the same" in stdout
    # an output of an earlier version, which recorded no image: taken as made of its image, not redone
    settings = {key: value for key, value in provenance(out / "a.png").items() if key != "image"}
    info = PngInfo()
    info.add_text(PROVENANCE_KEY, json.dumps(settings, sort_keys=True))
    Image.open(out / "a.png").save(out / "a.png", pnginfo=info)
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    assert code == 0 and "2 of 2 images already have outputs" in stdout
    # one of versions that recorded the weights by [path, size, modification time]: redone, and said so
    info = PngInfo()
    info.add_text(PROVENANCE_KEY, json.dumps({**settings, "weights": [[str(other), 1, 2]]}, sort_keys=True))
    Image.open(out / "a.png").save(out / "a.png", pnginfo=info)
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    earlier = "1 image has outputs made by an earlier version of mgd-sam2, which recorded files by path (1); redoing"
    assert code == 0 and earlier in stdout, stdout
    info = PngInfo()  # a record edited by hand, its weights no list: redone, not a traceback
    info.add_text(PROVENANCE_KEY, json.dumps({**settings, "weights": None}, sort_keys=True))
    Image.open(out / "a.png").save(out / "a.png", pnginfo=info)
    code, stdout, _ = predict(capsys, other, mirrored, out, "--binary", "--tta")
    assert code == 0 and "1 image has outputs made with other weights (1); redoing them" in stdout, stdout


def test_cut_outs_added_to_a_finished_folder_are_made_from_its_masks(trained_checkpoint, tmp_path, capsys) -> None:
    """--cutout given to a folder whose masks are done (the same weights, options and images): the cut-outs are made
    from those masks without loading the model, the bytes a run with --cutout from the start writes."""
    photos(tmp_path / "in")
    done, fresh = tmp_path / "done", tmp_path / "fresh"
    assert predict(capsys, trained_checkpoint, tmp_path / "in", done)[0] == 0
    masks = digests(done)
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", done, "--cutout")
    assert code == 0 and "model:" not in stdout, stdout
    assert f"2 of 2 images have their masks in {done} and no cut-out: making their cut-outs from those masks" in stdout
    assert f"wrote 2 files to {done}" in stdout
    assert predict(capsys, trained_checkpoint, tmp_path / "in", fresh, "--cutout")[0] == 0
    assert digests(done) == digests(fresh) and {name: masks[name] for name in ("a.png", "b.png")} == masks
    # masks edited since, their records kept (a palette re-save, a file cut short): predicted again, not misread
    record = Image.open(done / "a.png").text
    info = PngInfo()
    for key, value in record.items():
        info.add_text(key, value)
    Image.open(done / "a.png").convert("P", palette=Image.Palette.ADAPTIVE).save(done / "a.png", pnginfo=info)
    (done / "b.png").write_bytes((done / "b.png").read_bytes()[:-40])
    for path in done.glob("*_cutout.png"):
        path.unlink()
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", done, "--cutout")
    assert code == 0 and "2 of those masks changed since predict wrote them (e.g. a): predicting them again" in stdout
    assert "model:" in stdout and digests(done) == digests(fresh)
    (done / "b_cutout.png").unlink()
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", done, "--cutout", "--binary")
    assert code == 0 and "model:" in stdout and "making their cut-outs" not in stdout  # other options: redone


def test_a_cut_out_that_no_longer_matches_its_redone_mask_is_removed(trained_checkpoint, tmp_path, capsys) -> None:
    """Masks redone with other options but without --cutout: the earlier run's cut-outs showed the old masks and are
    removed (saying so); with the same options they still match and stay; a user's file of that name stays."""
    photos(tmp_path / "in")
    out = tmp_path / "out"
    assert predict(capsys, trained_checkpoint, tmp_path / "in", out, "--cutout")[0] == 0
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out, "--overwrite")
    assert code == 0 and "removed" not in stdout and len(list(out.glob("*_cutout.png"))) == 2  # same options
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out, "--binary")
    assert code == 0 and "removed 2 cut-outs of an earlier run that no longer matched their masks" in stdout
    assert sorted(path.name for path in out.iterdir()) == ["a.png", "b.png"]
    Image.new("RGBA", (4, 4)).save(out / "a_cutout.png")  # the user's own
    assert predict(capsys, trained_checkpoint, tmp_path / "in", out, "--overwrite")[0] == 0
    assert (out / "a_cutout.png").is_file() and provenance(out / "a_cutout.png") is None


def test_a_transparent_image_keeps_its_transparency_in_the_cut_out(trained_checkpoint, tmp_path, capsys) -> None:
    """The mask is predicted from the colour channels (an RGBA file's mask is its RGB file's); the cut-out's alpha is
    the mask times the image's alpha, so that nothing transparent shows; predict, the API's paths, PIL images and
    RGBA arrays, and the palette form of the same transparency, give the same cut-out."""
    from mgd_sam2 import Segmenter

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (50, 70, 3), np.uint8)
    rows, cols = np.mgrid[:50, :70]
    alpha = np.where(((rows - 25) / 20) ** 2 + ((cols - 35) / 28) ** 2 <= 1, 255, 0).astype(np.uint8)
    alpha[20:30, 30:40] = 128  # half-transparent too
    for folder, image in (("rgba", Image.fromarray(np.dstack([rgb, alpha]), "RGBA")), ("rgb", Image.fromarray(rgb))):
        (tmp_path / folder).mkdir()
        image.save(tmp_path / folder / "x.png")
        assert predict(capsys, trained_checkpoint, tmp_path / folder, tmp_path / f"out_{folder}", "--cutout")[0] == 0
    mask = read_mask(tmp_path / "out_rgba/x.png")
    assert np.array_equal(mask, read_mask(tmp_path / "out_rgb/x.png"))
    cutout = np.asarray(Image.open(tmp_path / "out_rgba/x_cutout.png"))
    expected = (mask.astype(np.uint16) * alpha + 127) // 255
    assert np.array_equal(cutout[..., 3], expected) and not cutout[..., 3][alpha == 0].any() and mask[alpha == 0].any()
    assert np.array_equal(cutout[..., :3], rgb)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out_rgb/x_cutout.png"))[..., 3], mask)  # opaque: the mask
    segmenter = Segmenter.load(trained_checkpoint)
    given = Image.open(tmp_path / "rgba/x.png")
    for image in (tmp_path / "rgba/x.png", given, np.asarray(given)):
        assert np.array_equal(np.asarray(segmenter.cutout(image)), cutout)
    palette = Image.fromarray((alpha > 0).astype(np.uint8), "P")  # index 0 outside the ellipse, transparent
    palette.putpalette([0, 0, 0, 200, 30, 30])
    palette.info["transparency"] = 0
    palette_cutout = np.asarray(segmenter.cutout(palette))
    palette_mask = segmenter.predict(palette)
    assert np.array_equal(palette_cutout[..., 3], np.where(alpha > 0, palette_mask, 0))


# ---------------------------------------------------------------- output paths fail before any work


def test_output_paths_are_checked_before_any_work(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (
            ["predict", "--ckpt", str(trained_checkpoint), "--input", str(tmp_path / "in"), "--output", str(a_file)],
            "is a file, not a folder",
        ),
        (
            ["evaluate", "--pred", str(tmp_path / "in"), "--gt", str(tmp_path / "in"), "--csv", str(a_file / "x.csv")],
            "is a file, not a folder",
        ),
        (["benchmark", "speed", "--preset", "micro", "--json", str(a_file / "speed.json")], "is a file, not a folder"),
        (["model", "export", "--ckpt", str(trained_checkpoint), "--out", str(tmp_path)], "is a folder"),
        (["synth", "--out", str(a_file), "--num", "3"], "is a file, not a folder"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err and not out.strip(), argv  # failed before doing anything
    assert a_file.read_text() == "x"


def test_an_unwritable_output_folder_is_refused_up_front(trained_checkpoint) -> None:
    """As a user who may not write there (root writes anywhere, so under root the commands run as `nobody`)."""
    top = Path(tempfile.mkdtemp())
    try:
        top.chmod(0o755)
        shutil.copy(trained_checkpoint, top / "run.ckpt")
        photos(top / "in", ("a.png",))
        locked = top / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        commands = [
            ["synth", "--out", str(locked / "syn"), "--num", "3"],
            ["predict", "--ckpt", str(top / "run.ckpt"), "--input", str(top / "in"), "--output", str(locked / "m")],
            ["evaluate", "--pred", str(top / "in"), "--gt", str(top / "in"), "--json", str(locked / "s.json")],
            ["model", "export", "--ckpt", str(top / "run.ckpt"), "--out", str(locked / "w.pt")],
        ]
        for argv in commands:
            command = [sys.executable, "-c", "import sys; from mgd_sam2.cli import main; sys.exit(main(sys.argv[1:]))"]
            if os.geteuid() == 0:
                command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
            done = subprocess.run([*command, *argv], capture_output=True, text=True, cwd=top)
            assert done.returncode == 1 and "Traceback" not in done.stderr, (argv, done.stderr)
            assert f"cannot write in {locked} (Permission denied)" in done.stderr, (argv, done.stderr)
        assert sorted(p.name for p in locked.iterdir()) == []
    finally:
        shutil.rmtree(top)


# ---------------------------------------------------------------- files get the usual permissions


def test_written_files_get_the_umask_mode(trained_checkpoint, tmp_path, capsys) -> None:
    """Reports, masks, cut-outs and weights (safetensors' writer makes its files 0600: undone) alike."""
    from mgd_sam2 import Segmenter

    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "report.json", {"a": 1})
        photos(tmp_path / "in")
        assert predict(capsys, trained_checkpoint, tmp_path / "in", tmp_path / "out", "--cutout")[0] == 0
        Segmenter.load(trained_checkpoint).save_pretrained(tmp_path / "model")
        assert (
            main(["model", "export", "--ckpt", str(trained_checkpoint), "--out", str(tmp_path / "w.safetensors")]) == 0
        )
    finally:
        os.umask(previous)
    written = [tmp_path / "report.json", tmp_path / "w.safetensors", *sorted((tmp_path / "out").iterdir()),
               *sorted((tmp_path / "model").iterdir())]  # fmt: skip
    assert len(written) > 5
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ---------------------------------------------------------------- interrupted runs


def test_a_file_rewritten_in_place_with_its_time_set_back_has_another_key(tmp_path) -> None:
    """file_key tells a file's bytes apart without reading them (predict reads each image's digest once per run):
    a rewrite of the same size whose modification time is set back (``cp -p``, ``tar -x``) still changes it."""
    path = tmp_path / "photo.png"
    path.write_bytes(b"A" * 100)
    before, times = file_key(path), (path.stat().st_atime_ns, path.stat().st_mtime_ns)
    time.sleep(0.05)  # past a coarse file-system clock's tick (a jiffy: 10 ms at most), as a later rewrite would be
    path.write_bytes(b"B" * 100)
    os.utime(path, ns=times)
    assert path.stat().st_mtime_ns == times[1] and file_key(path) != before


def test_stale_temporaries_of_a_killed_run_are_removed(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".a.png.{dead.pid}.0123abcd{TEMPORARY_SUFFIX}"
    stale.write_bytes(b"half a png")
    live = out / f".b.png.{os.getpid()}.0123abcd{TEMPORARY_SUFFIX}"  # a running process's: left alone
    live.write_bytes(b"being written")
    code, stdout, _ = predict(capsys, trained_checkpoint, tmp_path / "in", out)
    assert code == 0 and "removed unfinished temporary files" in stdout
    assert not stale.exists() and live.exists()


def test_ctrl_c_exits_130(monkeypatch, capsys) -> None:
    import mgd_sam2.commands.synth as synth

    monkeypatch.setattr(synth, "run", lambda args: signal.raise_signal(signal.SIGINT))
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a shell's background job
    code, _, err = run(capsys, "synth")
    assert code == 130 and "interrupted" in err
    assert signal.getsignal(signal.SIGINT) is before  # restored
    # a fit: the command that resumes it, its own --ckpt_path replaced
    import mgd_sam2.training.cli as training_cli

    monkeypatch.setattr(training_cli, "run_lightning_cli", lambda name, rest: signal.raise_signal(signal.SIGINT))
    resume = "mgd-sam2 fit -c 'my config.yaml' --trainer.max_epochs=3 --ckpt_path last"
    for given in (["--ckpt_path", "old.ckpt"], ["--ckpt_path=old.ckpt"]):
        code, _, err = run(capsys, "fit", "-c", "my config.yaml", *given, "--trainer.max_epochs=3")
        assert code == 130 and f"interrupted: {resume} resumes the run from its last.ckpt, if one was written" in err


# ---------------------------------------------------------------- inputs


def test_synth_validates_its_arguments_before_writing(tmp_path, capsys) -> None:
    for argv in (["--num", "0"], ["--seed", "-1"], ["--size", "128", "64"], ["--num", "2"]):
        code, _, err = run(capsys, "synth", "--out", str(tmp_path / "syn"), *argv)
        assert code in (1, 2) and "Traceback" not in err, argv
        assert not (tmp_path / "syn").exists(), argv
    with pytest.raises(ConfigError, match="too small"):
        SynthConfig(num=2)
    assert run(capsys, "synth", "--out", str(tmp_path / "syn"), "--num", "3", "--size", "64", "64")[0] == 0


def test_a_folder_without_images_is_an_error_and_ignored_entries_are_counted(tmp_path, trained_checkpoint, capsys):
    empty = tmp_path / "split"
    (empty / "im").mkdir(parents=True)
    (empty / "gt").mkdir()
    (empty / "notes.txt").write_text("x")
    code, _, err = predict(capsys, trained_checkpoint, empty, tmp_path / "out")
    assert code == 1 and "no images found" in err and "use --input" in err and str(empty / "im") in err
    tree = tmp_path / "tree"
    photos(tree, ("top.png", "anim.gif", "photo.jfif"))
    photos(tree / "sub", ("deep.png",))
    (tree / "README").write_text("x")
    (tree / "gone.png").symlink_to(tree / "missing.png")
    (tree / "._top.png").write_bytes(b"AppleDouble")  # hidden: skipped, and counted
    records, note = image_records(tree)
    assert sorted(r.name for r in records) == ["anim", "photo", "top"]
    assert "subfolders (--recursive to include them): 1" in note and "broken links: 1" in note
    assert "hidden entries (names starting with '.'): 1" in note
    assert "files without an image suffix (.jpg" in note and note.endswith("): 1")
    photos(tmp_path / "twins", ("x.webp", "x.tiff", "y.png"))
    code, _, err = predict(capsys, trained_checkpoint, tmp_path / "twins", tmp_path / "twin_masks")
    assert code == 1 and f"2 input images would write the same output (x.png): {tmp_path / 'twins/x.tiff'}, " in err
    assert "rename one of each, or predict them into separate --output folders" in err
    code, stdout, _ = predict(capsys, trained_checkpoint, tree, tmp_path / "masks", "--recursive")
    assert code == 0 and "broken links" in stdout
    assert sorted(p.relative_to(tmp_path / "masks").as_posix() for p in (tmp_path / "masks").rglob("*.png")) == [
        "anim.png",
        "photo.png",
        "sub/deep.png",
        "top.png",
    ]
    code, _, err = predict(capsys, trained_checkpoint, tree, tree / "masks", "--recursive")
    assert code == 1 and "inside the input tree" in err


def test_an_unreadable_image_is_named_once_with_what_is_wrong(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in", ("a.png",))
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    (tmp_path / "in" / "notes.png").write_text("not an image")
    code, _, err = predict(capsys, trained_checkpoint, tmp_path / "in", tmp_path / "out")
    lines = {line.split(":")[0]: line for line in err.splitlines() if line.startswith("skipped ")}
    empty, notes = tmp_path / "in/empty.png", tmp_path / "in/notes.png"
    assert (
        code == 1 and lines[f"skipped {empty}"] == f"skipped {empty}: the file is empty. Re-export or remove the file."
    )
    assert lines[f"skipped {notes}"] == f"skipped {notes}: cannot identify image file. Re-export or remove the file."
    truncated = tmp_path / "in" / "truncated.png"  # its header reads: found out as it decodes
    truncated.write_bytes((tmp_path / "in" / "a.png").read_bytes()[:200])
    code, stdout, err = predict(capsys, trained_checkpoint, tmp_path / "in", tmp_path / "out2")  # in a folder: skipped
    assert code == 1 and f"skipped {truncated}: the file is truncated" in err and "wrote 1 " in stdout, stdout
    expected = {"notes.png": "cannot identify image file", "truncated.png": "the file is truncated"}
    for alone in (notes, truncated, tmp_path / "in" / "a.png"):  # one file: said in one line before the model loads
        limit = ("--max-pixels", "3000") if alone.name == "a.png" else ()  # 70 x 50 = 3500 pixels
        code, stdout, err = predict(capsys, trained_checkpoint, alone, tmp_path / "alone", *limit)
        assert code == 1 and "model:" not in stdout and len(err.strip().splitlines()) == 1, err
        assert expected.get(alone.name, "over the limit") in err and str(alone) in err


def test_images_over_max_pixels_are_refused_with_the_option_named(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in", ("a.png", "b.png"))  # 70 x 50 = 3500 pixels
    code, out, err = predict(capsys, trained_checkpoint, tmp_path / "in", tmp_path / "out", "--max-pixels", "3000")
    assert code == 1 and "over the limit" in err and "--max-pixels" in err
    # a folder none of whose images can be predicted: one line before the model loads, not one skip per image after
    assert "model:" not in out and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: none of the 2 images in {tmp_path / 'in'} can be predicted: e.g. {tmp_path / 'in'}")
    assert predict(capsys, trained_checkpoint, tmp_path / "in", tmp_path / "out2", "--max-pixels", "3500")[0] == 0


def exif_rotated_split(root: Path) -> Path:
    """A split with one photo stored 64x48 that displays 48x64 (EXIF orientation 6), its mask drawn as displayed."""
    im, gt = root / "im", root / "gt"
    im.mkdir(parents=True)
    gt.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)).save(im / "p.jpg", exif=exif)
    mask = np.zeros((64, 48), np.uint8)
    mask[10:30, 5:40] = 255
    Image.fromarray(mask).save(gt / "p.png")
    return root


def test_one_exif_rule_everywhere(trained_checkpoint, tmp_path, capsys) -> None:
    split = exif_rotated_split(tmp_path / "S")
    photo = Record("p", "S", split / "im" / "p.jpg", split / "gt" / "p.png")
    assert tuple(SegmentationDataset([photo], 128, "predict")[0]["size"]) == (64, 48)  # as displayed
    assert tuple(SegmentationDataset([photo], 128, "eval")[0]["gt"].shape) == (64, 48)  # datasets alike: no error
    assert predict(capsys, trained_checkpoint, split / "im", tmp_path / "pred")[0] == 0
    assert Image.open(tmp_path / "pred" / "p.png").size == (48, 64)
    assert evaluate_folders(tmp_path / "pred", split / "gt", ["MAE"], workers=0, progress=False).num_images == 1
    # a GT drawn on the stored pixels cannot be scored against a prediction of the photo as displayed
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(split / "gt" / "p.png")
    for extra in ((), ("--resize-pred",)):
        code, _, err = run(capsys, "evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(split / "gt"), *extra)
        assert code == 1 and "turned by 90 degrees" in err and "EXIF" in err and "--resize-pred to" not in err
        assert "Turn those predictions back to their GT's orientation" in err and "Rotate those GT" not in err


def test_label_map_masks_are_read_as_0_255(tmp_path, capsys) -> None:
    """0/1 label maps, 8-bit masks saved in 16 bits and full-range 16-bit masks all score as the 8-bit mask; an
    empty GT is scored, with a note."""
    rng = np.random.default_rng(0)
    gt = (rng.random((40, 50)) > 0.6).astype(np.uint8)
    pred = np.clip(gt * 200 + rng.integers(0, 50, gt.shape), 0, 255).astype(np.uint8)
    masks = {
        "bytes": gt * 255,
        "labels": gt,
        "labels16": gt.astype(np.uint16),
        "bytes16": gt.astype(np.uint16) * 255,
        "full16": gt.astype(np.uint16) * 65535,
        "empty": np.zeros_like(gt),
    }
    for name, values in masks.items():
        (tmp_path / name).mkdir()
        Image.fromarray(values).save(tmp_path / name / "x.png")
    masks["float"] = gt.astype(np.float32)  # mode F, values in [0, 1]: scaled, not a label map
    (tmp_path / "float").mkdir()
    Image.fromarray(masks["float"]).save(tmp_path / "float" / "x.tif")
    assert Image.open(tmp_path / "labels16" / "x.png").mode.startswith("I")  # saved in 16 bits
    (tmp_path / "pred").mkdir()
    Image.fromarray(pred).save(tmp_path / "pred" / "x.png")
    results = {
        name: evaluate_folders(tmp_path / "pred", tmp_path / name, ["S", "MAE"], workers=0, progress=False)
        for name in masks
    }
    reference = results["bytes"]
    assert not reference.notes
    for name in ("labels", "labels16", "bytes16", "full16", "float"):
        assert results[name].scores == reference.scores, name
        assert np.array_equal(read_mask(next((tmp_path / name).iterdir())), gt * 255), name
    assert not results["float"].notes
    for name in ("labels", "labels16"):
        assert any("label maps: read as 0/255" in note for note in results[name].notes), name
    soft = np.arange(0, 201, dtype=np.uint16).reshape(3, 67)  # a 16-bit probability map of another tool, all low
    Image.fromarray(soft).save(tmp_path / "soft16.png")
    assert read_prediction(tmp_path / "soft16.png").max() == 0  # scaled as every 16-bit map but a binary GT
    assert results["empty"].scores != reference.scores
    assert [note for note in results["empty"].notes if "1 GT masks have no foreground pixel" in note]


def test_notes_name_swapped_folders_and_blank_predictions(tmp_path) -> None:
    """Maps of other tools (no provenance): a soft map given as GT against a binary one gets the swap note, the right
    order none; a prediction of one value everywhere gets its note, unless it is 8-bit values read as 16-bit (which
    has its own)."""
    rng = np.random.default_rng(0)
    gt = np.zeros((60, 80), np.uint8)
    gt[10:50, 20:60] = 255
    maps = {
        "gt": gt,
        "soft": np.clip(gt.astype(int) + rng.integers(-10, 11, gt.shape), 0, 255).astype(np.uint8),  # not grey
        "blank": np.zeros_like(gt),
        "white": np.full_like(gt, 255),
        "narrow16": (gt // 255 * 200).astype(np.uint16),  # values of at most 255 in a 16-bit file: black in 8 bits
    }
    for name, values in maps.items():
        (tmp_path / name).mkdir()
        Image.fromarray(values).save(tmp_path / name / "x.png")

    def notes(pred: str, truth: str) -> list[str]:
        return evaluate_folders(tmp_path / pred, tmp_path / truth, ["MAE"], workers=0, progress=False).notes

    swapped = notes("gt", "soft")
    assert len(swapped) == 1 and "of the GT pixels are neither 0 nor 255" in swapped[0], swapped
    assert "swap --pred and --gt" in swapped[0]
    assert notes("soft", "gt") == []
    for constant in ("blank", "white"):
        said = notes(constant, "gt")
        assert len(said) == 1 and "1 predictions hold one value at every pixel, e.g. x" in said[0], said
    assert not [note for note in notes("blank", "blank") if "one value" in note]  # right for an empty GT
    narrow = notes("narrow16", "gt")
    assert len(narrow) == 1 and "16-bit files whose values are all 255 or less" in narrow[0], narrow
    # real maps and masks (pysodmetrics' test data, one mask with soft edges over 15% of it): swapped, and not
    fixture = Path(__file__).parent / "fixtures" / "pysodmetrics"
    swap = "swap --pred and --gt"
    assert not [note for note in evaluate_folders(fixture / "preds", fixture / "masks", ["MAE"], workers=0,
                                                  progress=False).notes if swap in note]  # fmt: skip
    assert [note for note in evaluate_folders(fixture / "masks", fixture / "preds", ["MAE"], workers=0,
                                              progress=False).notes if swap in note]  # fmt: skip
    binary = tmp_path / "binary"  # binary predictions against its soft-edged masks: no swap
    binary.mkdir()
    for path in (fixture / "preds").iterdir():
        Image.fromarray(((read_prediction(path) > 128) * 255).astype(np.uint8)).save(binary / path.name)
    assert not [note for note in evaluate_folders(binary, fixture / "masks", ["MAE"], workers=0,
                                                  progress=False).notes if swap in note]  # fmt: skip


def test_notes_name_masks_drawn_in_a_grey_and_grey_gt_given_for_predictions(tmp_path) -> None:
    """A GT mask of two values is a mask however it was drawn: at 0/100 it reads as empty, and the note says the object
    is drawn in a value foreground does not reach (not "images, not masks"); at 0/200 it is binarised as 0/255 is, with
    no note. A GT of images against mask-like predictions adds the swap advice to its note; against soft maps not."""
    gt = np.zeros((60, 80), np.uint8)
    gt[:40, :50] = 1  # 42 % of the pixels: past GREY_SHARE in a grey value
    gradient = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (60, 1))  # an image: grey in many values
    maps = {"mask": gt * 255, "dark": gt * 100, "drawn": gt * 200, "image": gradient, "soft": gradient // 2 + 60}
    for name, values in maps.items():
        (tmp_path / name).mkdir()
        Image.fromarray(values).save(tmp_path / name / "x.png")

    def evaluated(pred: str, truth: str):
        return evaluate_folders(tmp_path / pred, tmp_path / truth, ["S", "MAE"], workers=0, progress=False)

    dark = evaluated("mask", "dark").notes
    assert len(dark) == 1 and "1 GT masks hold 0 and one value of 128 or less, their object drawn in it, e.g. x (at " \
        "100): foreground is > 128" in dark[0] and "save the object as 255" in dark[0], dark  # fmt: skip
    drawn, reference = evaluated("mask", "drawn"), evaluated("mask", "mask")
    assert drawn.notes == [] and drawn.scores == reference.scores
    advised = [note for note in evaluated("mask", "image").notes if "GT masks are images, not masks" in note]
    assert len(advised) == 1 and advised[0].endswith(
        "; if it holds the predictions (97.5% of its pixels are neither 0 nor 255, 0.0% of --pred's), swap --pred "
        "and --gt"
    ), advised
    against_soft = [note for note in evaluated("soft", "image").notes if "GT masks are images, not masks" in note]
    assert len(against_soft) == 1 and "swap" not in against_soft[0], against_soft
    # one image among clean masks: the folders are the right way round (no swap advice), the image is named
    for folder, values in (("mixed_gt", maps["mask"]), ("mixed_pred", maps["mask"])):
        (tmp_path / folder).mkdir()
        for index in range(19):
            Image.fromarray(values).save(tmp_path / folder / f"m{index:02}.png")
    Image.fromarray(gradient).save(tmp_path / "mixed_gt" / "x.png")
    Image.fromarray(maps["mask"]).save(tmp_path / "mixed_pred" / "x.png")
    one = [note for note in evaluated("mixed_pred", "mixed_gt").notes if "GT masks are images, not masks" in note]
    assert len(one) == 1 and "e.g. x:" in one[0] and "swap" not in one[0], one


def test_a_map_saved_in_any_colour_mode_reads_as_its_grey_values(tmp_path) -> None:
    """Grey values saved as RGB, CMYK, LAB (Pillow converts LAB to RGB only), palette or grey + opaque alpha TIFFs
    read back exactly, as prediction and as GT."""
    grey = np.tile(np.arange(0, 256, 15, dtype=np.uint8), (3, 1))
    for mode in ("RGB", "CMYK", "LAB", "P", "LA"):
        path = tmp_path / f"{mode}.tif"
        Image.fromarray(grey).convert(mode).save(path)
        assert Image.open(path).mode == mode
        assert np.array_equal(read_prediction(path), grey), mode
        assert np.array_equal(read_mask(path), grey), mode


def test_evaluate_reads_rgba_predictions_from_alpha_and_leaves_out_our_cutouts(
    trained_checkpoint, synthetic_root, tmp_path, capsys
) -> None:
    split = resolve_split(synthetic_root, "synthetic/SYN-TE")
    out = tmp_path / "pred"
    assert predict(capsys, trained_checkpoint, split.image_dir, out, "--cutout")[0] == 0
    code, stdout, _ = run(capsys, "evaluate", "--pred", str(out), "--gt", str(split.mask_dir), "--workers", "0")
    assert code == 0 and "left out 2 cut-outs" in stdout
    only_cutouts = tmp_path / "cutouts"
    only_cutouts.mkdir()
    for path in out.glob("*_cutout.png"):
        shutil.copy(path, only_cutouts / path.name.replace("_cutout", ""))
    masks = evaluate_folders(out, split.mask_dir, ["S", "MAE"], workers=0, progress=False).scores
    alphas = evaluate_folders(only_cutouts, split.mask_dir, ["S", "MAE"], workers=0, progress=False).scores
    assert masks == alphas
    # GT names that match no prediction: the masks listed, their cut-outs not, and an example of each side
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path in split.mask_dir.iterdir():
        shutil.copy(path, renamed / f"x_{path.name}")
    code, _, err = run(capsys, "evaluate", "--pred", str(out), "--gt", str(renamed), "--workers", "0")
    assert code == 1 and "unpaired files (4)" in err and "_cutout" not in err and "No stem matches: e.g. GT x_" in err
    # the folders swapped: an error that says so where the cut-outs are unpaired, a note where everything pairs
    code, _, err = run(capsys, "evaluate", "--pred", str(split.mask_dir), "--gt", str(out), "--workers", "0")
    assert code == 1 and "_cutout: no prediction" in err and "swap --pred and --gt?" in err
    for path in out.glob("*_cutout.png"):
        path.unlink()
    swapped = evaluate_folders(split.mask_dir, out, ["S"], workers=0, progress=False)
    assert [note for note in swapped.notes if "holds masks mgd-sam2 predict wrote" in note]
    assert not evaluate_folders(out, split.mask_dir, ["S"], workers=0, progress=False).notes


def test_evaluation_workers_are_bounded_by_memory(monkeypatch) -> None:
    import mgd_sam2.utils.parallel as parallel

    monkeypatch.setattr(parallel, "available_memory", lambda: 10 * 2**30)
    assert workers_for_memory(4, 3 * 2**30) == 3 and workers_for_memory(2, 1 * 2**30) == 2
    assert workers_for_memory(2, 20 * 2**30) == 0  # not even one worker: this process only


def test_no_more_worker_processes_than_items(monkeypatch) -> None:
    """64 workers for 2 pairs start 2 processes (torch's DataLoader warned of 58 for the CPUs, twice)."""
    import mgd_sam2.utils.parallel as parallel

    started = []
    real = parallel.DataLoader
    monkeypatch.setattr(parallel, "DataLoader", lambda *a, **k: started.append(k["num_workers"]) or real(*a, **k))
    assert list(parallel.parallel_map(abs, [-1, -2], workers=64, label="x", show=False)) == [1, 2]
    assert started == [2]


# ---------------------------------------------------------------- one-line errors


def test_bad_values_are_one_line_errors(trained_checkpoint, tmp_path, capsys) -> None:
    photos(tmp_path / "in", ("a.png",))
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained_checkpoint.read_bytes()[:5000])
    predict_args = ["predict", "--ckpt", str(trained_checkpoint), "--input", str(tmp_path / "in"), "--output"]
    cases = [
        [*predict_args, str(tmp_path / "o1"), "--batch-size", "0"],
        [*predict_args, str(tmp_path / "o2"), "--workers", "-1"],
        ["evaluate", "--pred", str(tmp_path), "--gt", str(tmp_path), "--metrics", "S,XYZ"],
        ["benchmark", "speed", "--preset", "huge"],
        ["benchmark", "accuracy", "--splits", "DIS-TE9"],
        ["benchmark", "speed", "--batch", "0"],
        ["benchmark", "speed", "--precision", "fp16"],
        ["model", "info", "--preset", "huge"],
        ["model", "info", "--preset", "base_plus", "--grid", "3"],
        ["fit", "-c", str(Path(__file__).parent / "fixtures/resume.yaml"), "--model.network.preset", "huge"],
        ["test", "-c", str(Path(__file__).parent / "fixtures/resume.yaml"), "--ckpt_path", str(truncated)],
        ["test", "-c", str(Path(__file__).parent / "fixtures/resume.yaml"), "--ckpt_path", str(tmp_path)],
    ]
    if not torch.cuda.is_available():
        cases += [[*predict_args, str(tmp_path / "o3"), "--device", "cuda"], ["benchmark", "speed", "--device", "cuda"]]
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code in (1, 2) and "Traceback" not in err, (argv, err)
        assert sum("error:" in line for line in err.splitlines()) == 1, (argv, err)  # one error line (after usage)
        if argv[-1] == str(tmp_path):  # a folder as --ckpt_path: the checkpoints it holds
            assert "is a folder; give a checkpoint file in it (it holds truncated.ckpt)" in err


def test_model_export_out_replaces_only_weights_it_wrote(trained_checkpoint, tmp_path, capsys) -> None:
    """--out onto a photo, a SAM2-like checkpoint or a file that is no weights is refused, one line, the file as it
    was; the trained weights it wrote itself are replaced (safetensors and torch.save alike)."""
    photos(tmp_path, ("victim.jpg",))
    sam2 = tmp_path / "sam2.1_hiera_base_plus.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, sam2)
    (tmp_path / "notes.safetensors").write_text("not weights")
    for target, message in (
        (tmp_path / "victim.jpg", "--out writes trained weights: give a .safetensors (or .pt, .pth) file name"),
        (sam2, "exists and was not written by `mgd-sam2 model export --out`; it is never replaced"),
        (tmp_path / "notes.safetensors", "exists and was not written by `mgd-sam2 model export --out`"),
    ):
        before = target.read_bytes()
        code, _, err = run(capsys, "model", "export", "--ckpt", str(trained_checkpoint), "--out", str(target))
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
        assert target.read_bytes() == before
    for name in ("w.safetensors", "w.pt"):
        argv = ("model", "export", "--ckpt", str(trained_checkpoint), "--out", str(tmp_path / name))
        assert run(capsys, *argv)[0] == 0
        code, out, _ = run(capsys, *argv)
        assert code == 0 and f"replacing {tmp_path / name}" in out


def test_weights_files_are_named_for_what_they_are(trained_checkpoint, tmp_path, capsys) -> None:
    exported = tmp_path / "trained.pt"
    assert run(capsys, "model", "export", "--ckpt", str(trained_checkpoint), "--out", str(exported))[0] == 0
    photos(tmp_path / "in", ("a.png",))
    code, _, err = predict(capsys, exported, tmp_path / "in", tmp_path / "out")
    assert code == 1 and "model export" in err and "--weights" in err and "SAM2 checkpoint without" not in err
    code, out, _ = run(capsys, "model", "load", "--preset", "micro", "--ckpt", str(trained_checkpoint))
    assert code == 0 and f"training run's weights from {trained_checkpoint}: loaded" in out  # a fit's start too
    code, out, _ = run(capsys, "model", "load", "--ckpt", str(trained_checkpoint))  # the run's own preset
    assert code == 0 and "preset micro, input 2×64 = 128 px (the training run's network; --preset for another)" in out
    code, _, err = run(capsys, "model", "load", "--preset", "tiny", "--ckpt", str(trained_checkpoint))
    assert code == 1 and "is a training run of preset micro" in err and "--preset micro (model load)" in err
    code, _, err = predict(capsys, tmp_path, tmp_path / "in", tmp_path / "out")
    folder = "is a folder, and not a model folder of Segmenter.save_pretrained: give a weights file"
    assert code == 1 and folder in err and "(it holds trained.pt)" in err
    code, _, err = predict(capsys, tmp_path / "in", tmp_path / "in", tmp_path / "out")  # a folder of photos
    assert code == 1 and err.strip() == f"error: {tmp_path / 'in'} {folder}"
    run_folder = tmp_path / "runs/x/version_0"
    (run_folder / "checkpoints").mkdir(parents=True)
    (run_folder / "checkpoints/best.ckpt").write_bytes(b"x")
    code, _, err = predict(capsys, run_folder, tmp_path / "in", tmp_path / "out")
    assert code == 1 and "(a training run's folder: its checkpoints/ holds best.ckpt)" in err


def test_a_file_that_is_not_the_weights_says_which_to_give(trained_checkpoint, tmp_path, capsys) -> None:
    """The near misses of a new user: a --fastest stem, the .bin of an OpenVINO model, an image, the weights file
    inside a model folder; each a one-line error naming the file to give."""
    from mgd_sam2 import Segmenter

    photos(tmp_path / "in", ("a.png",))
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m_int8.xml").write_text("<net/>")
    (tmp_path / "m_int8.bin").write_bytes(bytes(8))
    folder = Segmenter.load(trained_checkpoint).save_pretrained(tmp_path / "folder")
    written = f"`model export --fastest` wrote {tmp_path / 'm.onnx'}, {tmp_path / 'm_int8.xml'}: give one of them"
    for ckpt, message in (
        (tmp_path / "m", written),
        (tmp_path / "m_int8.onnx", written),  # the other kind's file name
        (tmp_path / "m.xml", written),
        (
            tmp_path / "m_int8.bin",
            f"is the weights half of the OpenVINO model {tmp_path / 'm_int8.xml'}: give the .xml",
        ),
        (tmp_path / "in" / "a.png", "is not a weights file: neither a PyTorch checkpoint"),
        (folder / "model.safetensors", f"is the weights of the model folder {folder}: give the folder"),
    ):
        code, _, err = predict(capsys, ckpt, tmp_path / "in", tmp_path / "out")
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (ckpt, err)


# ---------------------------------------------------------------- quiet, consistent runs


def test_top_level_help_names_every_model_action(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(action in out for action in ("info", "load", "export"))


def test_mba_without_any_boundary_is_undefined_not_zero(tmp_path, capsys) -> None:
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / folder / "x.png")
    code, out, _ = run(
        capsys,
        "evaluate",
        "--pred",
        str(tmp_path / "pred"),
        "--gt",
        str(tmp_path / "gt"),
        "--metrics",
        "mBA",
        "--workers",
        "0",
        "--json",
        str(tmp_path / "s.json"),
    )
    assert code == 0 and "n/a" in out and "0.000" not in out
    assert json.loads((tmp_path / "s.json").read_text())["scores"]["mBA"] is None  # valid JSON: null


# ---------------------------------------------------------------- full disks and killed exports


def no_space(*args, **kwargs) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_nothing_partial(
    trained_checkpoint, tmp_path, monkeypatch, capsys
) -> None:
    import safetensors.torch

    photos(tmp_path / "in")
    out, exports = tmp_path / "out", tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setattr(Image.Image, "save", no_space)  # predict's masks
    monkeypatch.setattr(safetensors.torch, "save_file", no_space)  # model export --out
    for argv, folder in (
        (["predict", "--ckpt", str(trained_checkpoint), "--input", str(tmp_path / "in"), "--output", str(out),
          "--workers", "0"], out),
        (["model", "export", "--ckpt", str(trained_checkpoint), "--out", str(exports / "w.safetensors")], exports),
    ):  # fmt: skip
        code, _, err = run(capsys, *argv)
        assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert f"no space left on the device of {folder}:" in err, err
        assert not [path.name for path in folder.iterdir()], argv  # no partial file, no temporary


def test_the_next_export_removes_the_temporaries_of_a_killed_one(trained_checkpoint, tmp_path, capsys) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_file = tmp_path / f".model.onnx.{dead.pid}.0123abcd{TEMPORARY_SUFFIX}"  # torch.onnx.export's target
    stale_file.write_bytes(b"half a graph")
    stale_folder = tmp_path / f".model_int8.xml.{dead.pid}.0123abcd{TEMPORARY_SUFFIX}"  # OpenVINO's save
    stale_folder.mkdir()
    (stale_folder / "model.bin").write_bytes(b"half the weights")
    live = tmp_path / f".other.onnx.{os.getpid()}.0123abcd{TEMPORARY_SUFFIX}"  # a running export's: left alone
    live.write_bytes(b"being written")
    code, out, _ = run(capsys, "model", "export", "--ckpt", str(trained_checkpoint), "--out", str(tmp_path / "w.pt"))
    assert code == 0 and f"removed unfinished temporary files of an interrupted export from {tmp_path}" in out
    assert not stale_file.exists() and not stale_folder.exists() and live.exists()


# ---------------------------------------------------------------- pickles


class Planted:
    """Unpickling it would create ``marker``: the code a malicious checkpoint runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_lightning_subcommands_refuse_a_malicious_checkpoint_in_one_line(tmp_path, capsys) -> None:
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "epoch": Planted(tmp_path / "ran")}, evil)
    config = str(Path(__file__).parent / "fixtures/resume.yaml")
    for subcommand in ("fit", "validate", "test"):
        code, _, err = run(capsys, subcommand, "-c", config, "--ckpt_path", str(evil))
        assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (subcommand, err)
        assert f"{evil} holds pickled Python objects" in err and "could run arbitrary code" in err, err
        assert "weights_only" not in err, err  # never the advice to turn the safety off
    assert not (tmp_path / "ran").exists()


# ---------------------------------------------------------------- exported models that are not what they say


def test_an_openvino_model_without_its_whole_bin_names_the_bin(tmp_path, capsys) -> None:
    import openvino as ov
    from openvino import opset13 as ops

    source = ops.parameter([1, 1000], np.float32, name="full")
    weights = ops.constant(np.arange(1000, dtype=np.float32).reshape(1, 1000))
    ov.save_model(ov.Model([ops.add(source, weights)], [source]), str(tmp_path / "m.xml"), compress_to_fp16=False)
    photos(tmp_path / "in", ("a.png",))
    data = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "m.bin").write_bytes(data[: len(data) // 2])
    code, _, err = predict(capsys, tmp_path / "m.xml", tmp_path / "in", tmp_path / "out")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    short = f"its weights file {tmp_path / 'm.bin'} is {len(data) // 2} bytes, shorter than the {len(data)}"
    assert f"OpenVINO model {tmp_path / 'm.xml'}: {short}" in err, err
    (tmp_path / "m.bin").unlink()
    code, _, err = predict(capsys, tmp_path / "m.xml", tmp_path / "in", tmp_path / "out")
    assert code == 1 and f"its weights file {tmp_path / 'm.bin'} is missing" in err and "ONNX" not in err, err


def test_another_networks_onnx_with_our_metadata_is_refused_in_one_line(tmp_path, capsys) -> None:
    import onnx
    from onnx import TensorProto, helper

    from mgd_sam2.inference.backends import ONNX_FORMAT
    from mgd_sam2.models.network import NetworkConfig

    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 128, 128])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])]
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "another", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    network = json.dumps(NetworkConfig(preset="micro").to_dict())
    helper.set_model_props(model, {"format": ONNX_FORMAT, "network": network, "grid": "2", "input_size": "128"})
    onnx.save(model, str(tmp_path / "another.onnx"))
    photos(tmp_path / "in", ("a.png",))
    for backend in ("onnx", "openvino"):
        code, _, err = predict(
            capsys, tmp_path / "another.onnx", tmp_path / "in", tmp_path / "out", "--backend", backend
        )
        assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (backend, err)
        assert "its graph does not match the mgd-sam2 metadata it carries (inputs input [1, 3, 128, 128]" in err, err


# ---------------------------------------------------------------- evaluate: inputs that score but mislead


def test_evaluate_names_each_stem_several_files_share_once_with_all_its_files(tmp_path, capsys) -> None:
    """Three files of one stem are one problem listing the three (they were two overlapping pairs)."""
    mask = np.zeros((20, 30), np.uint8)
    for folder, suffixes in (("pred", (".bmp", ".jpg", ".png")), ("gt", (".png",))):
        (tmp_path / folder).mkdir()
        for suffix in suffixes:
            Image.fromarray(mask).save(tmp_path / folder / f"x{suffix}")
    code, _, err = run(capsys, "evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"))
    assert code == 1 and "files sharing a name stem (1):" in err, err
    assert f"{tmp_path / 'pred' / 'x.bmp'} / x.jpg / x.png" in err, err


def test_evaluate_notes_grey_ground_truth_and_jpeg_predictions(tmp_path, capsys) -> None:
    gt = np.zeros((60, 80), np.uint8)
    gt[15:45, 20:60] = 255
    pred = np.clip(gt.astype(int) + np.random.default_rng(0).integers(-40, 40, gt.shape), 0, 255).astype(np.uint8)
    for folder in ("gt", "gradient", "pred", "jpeg", "photos", "rgb", "cutouts", "red", "alpha", "extras/sub"):
        (tmp_path / folder).mkdir(parents=True)
    Image.fromarray(gt).save(tmp_path / "gt" / "x.png")
    Image.fromarray(gt).save(tmp_path / "extras" / "x.png")  # and files that are no masks, passed over
    (tmp_path / "extras" / "notes.txt").write_text("labelled by hand")
    (tmp_path / "extras" / ".DS_Store").write_bytes(b"\0")
    Image.fromarray(np.dstack([gt, 0 * gt, 0 * gt])).save(tmp_path / "red" / "x.png")  # red on black: luma 76
    Image.fromarray(np.dstack([0 * gt] * 3 + [gt])).save(tmp_path / "alpha" / "x.png")  # black, the shape in alpha
    Image.fromarray(np.tile(np.linspace(0, 159, 80).astype(np.uint8), (60, 1))).save(tmp_path / "gradient" / "x.png")
    Image.fromarray(pred).save(tmp_path / "pred" / "x.png")
    Image.fromarray(pred).save(tmp_path / "jpeg" / "x.jpg", quality=90)
    photo = np.stack([pred, 255 - pred, np.full_like(pred, 90)], axis=2)  # the photos folder given as --pred
    Image.fromarray(photo).save(tmp_path / "photos" / "x.png")
    Image.fromarray(np.repeat(pred[..., None], 3, axis=2)).save(tmp_path / "rgb" / "x.png")  # a map saved as RGB
    Image.fromarray(np.dstack([photo, pred])).save(tmp_path / "cutouts" / "x.png")  # a cut-out: scored by its alpha
    outputs = {}
    pairs = (("pred", "gt"), ("pred", "gradient"), ("jpeg", "gt"), ("photos", "gt"), ("rgb", "gt"), ("cutouts", "gt"),
             ("pred", "red"), ("pred", "alpha"), ("pred", "extras"))  # fmt: skip
    for pred_dir, gt_dir in pairs:
        code, out, _ = run(capsys, "evaluate", "--pred", str(tmp_path / pred_dir), "--gt", str(tmp_path / gt_dir),
                           "--metrics", "S,MAE", "--workers", "0")  # fmt: skip
        assert code == 0
        outputs[pred_dir, gt_dir] = out
    assert "note:" not in outputs["pred", "gt"]  # a mask and a PNG map: nothing to say
    assert (
        "note: 1 GT masks are images, not masks" in outputs["pred", "gradient"]
        and "e.g. x" in outputs["pred", "gradient"]
    )
    assert (
        "note: 1 predictions are colour images, not maps, e.g. x: scored by their grey levels"
        in outputs["photos", "gt"]
    )
    assert "note:" not in outputs["rgb", "gt"]  # grey values saved in three equal channels: a map
    assert (
        f"note: ignored in --gt {tmp_path / 'extras'}: hidden entries (names starting with '.'): 1; files without an "
        "image suffix (.jpg, " in outputs["pred", "extras"]
    )
    assert (
        "subfolders (not searched: score each as its own folder): 1" in outputs["pred", "extras"]
        and outputs["pred", "extras"].count("note:") == 1
    )
    # GT masks that read as empty, each named by its cause (the note of empty masks blamed the dataset)
    assert outputs["pred", "red"].count("note:") == 1, outputs["pred", "red"]
    assert (
        "note: 1 GT masks are colour images, not masks, e.g. x: scored by their grey levels" in outputs["pred", "red"]
    )
    assert outputs["pred", "alpha"].count("note:") == 1, outputs["pred", "alpha"]
    assert (
        "note: 1 GT masks are black with their shape in the alpha channel, e.g. x: a mask's alpha is not read"
        in outputs["pred", "alpha"]
    )
    assert "note:" not in outputs["cutouts", "gt"]  # its alpha is the map, whatever colours it shows
    assert "note: 1 predictions are JPEG files, e.g. x: JPEG is lossy" in outputs["jpeg", "gt"]
