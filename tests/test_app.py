"""`mgd-sam2 app`: the page's masks are predict's files, bad uploads get a message, and a real browser gets a mask.

The app runs as `mgd-sam2 app` in a subprocess on a free port, with TMPDIR in the test's folder so that the
test sees that nothing is left behind after it stops. The browser test (marker ``browser``) needs Debian's
``chromium``; `.ci/run` installs it and runs these tests after `make test`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgd_sam2.app.cutout import APP_MAX_PIXELS
from mgd_sam2.benchmark.app import AppProcess, AppStartError, connect, cut_out, launch_app
from mgd_sam2.cli import main
from mgd_sam2.data.io import PROVENANCE_KEY
from mgd_sam2.data.layouts import resolve_split
from mgd_sam2.errors import ConfigError
from mgd_sam2.utils.files import TEMPORARY_SUFFIX
from mgd_sam2.utils.isolated import resident_mb

pytestmark = pytest.mark.slow  # each module run starts the app (about 15 s) and predicts large photos

MAX_PIXELS = 3_000_000  # the server's --max-pixels, so a test image can be over the limit
MAX_UPLOAD_MB = 2  # the server's --max-upload-mb, so a request can be over it


@dataclass
class AppServer(AppProcess):
    """The app as `launch_app` started it, with its TMPDIR and weights."""

    tmp: Path
    ckpt: Path


def start_app(ckpt: Path, folder: Path, *extra: str) -> AppServer:
    """`mgd-sam2 app` on a free port with TMPDIR ``folder/tmp``, once its page answers."""
    (folder / "tmp").mkdir(exist_ok=True)
    try:
        app = launch_app(ckpt, folder, *extra, env={**os.environ, "TMPDIR": str(folder / "tmp")})
    except AppStartError as error:
        pytest.fail(str(error))
    return AppServer(**vars(app), tmp=folder / "tmp", ckpt=ckpt)


@pytest.fixture(scope="module")
def app_server(trained_checkpoint: Path, tmp_path_factory) -> AppServer:
    folder = tmp_path_factory.mktemp("app")
    limits = ["--max-pixels", str(MAX_PIXELS), "--max-upload-mb", str(MAX_UPLOAD_MB)]
    server = start_app(trained_checkpoint, folder, *limits)
    yield server
    assert server.stop() in (0, 130), server.log.read_text()[-3000:]  # Ctrl-C: it removes its temporary folder
    left = [str(path) for path in (folder / "tmp").rglob("*")]
    assert not left, f"the app left files in its temporary folder: {left[:5]}"


@pytest.fixture(scope="module")
def client(app_server: AppServer):
    """A client of the page's API; what it downloads is removed after the module's tests."""
    with connect(app_server.url) as client:
        yield client


def test_the_page_gives_predicts_files_byte_for_byte(
    app_server: AppServer, client, synthetic_root: Path, tmp_path: Path
) -> None:
    images = sorted(resolve_split(synthetic_root, "synthetic/SYN-TE").image_dir.iterdir())[:2]
    out = tmp_path / "predict"
    for image in images:
        args = ["predict", "--ckpt", str(app_server.ckpt), "--input", str(image), "--output", str(out), "--cutout"]
        assert main([*args, "--workers", "0", "--device", "cpu"]) == 0
    gallery, downloads, status = cut_out(client, *images)
    files = {Path(path).name: Path(path) for path in downloads}
    for image in images:  # downloaded as NAME_mask.png, not under an upload's own name (NAME.png of a PNG)
        for name, predicts in ((f"{image.stem}_mask.png", f"{image.stem}.png"), (f"{image.stem}_cutout.png",) * 2):
            assert files[name].read_bytes() == (out / predicts).read_bytes(), name
            assert str(app_server.ckpt.parent) not in files[name].read_bytes().decode("latin-1")  # no server path
    assert len(gallery) == 4 * len(images) and "results.zip" in files
    assert f"**{len(images)} image(s)**" in status and "per image" in status
    assert f"request: {len(images)} image(s), " in app_server.log.read_text()  # a line per request on the console
    gallery, downloads, status = cut_out(client, *images, binary=True, threshold=200)
    assert "results_binary200.zip" in {Path(path).name for path in downloads}  # the threshold names binary ones
    binary = next(Path(p) for p in downloads if Path(p).name == f"{images[0].stem}_mask_binary200.png")
    assert PROVENANCE_KEY not in Image.open(binary).info  # the page's own view, not a file predict writes
    mask = np.asarray(Image.open(binary))
    assert np.array_equal(mask, np.where(np.asarray(Image.open(out / f"{images[0].stem}.png")) > 200, 255, 0))


def test_uploads_whose_names_meet_each_get_their_own_mask(client, synthetic_root: Path, tmp_path: Path) -> None:
    """x.jpg beside x_mask_binaryT.png (its binary mask's name), x_cutout.png (its cut-out's) and x.tif (its mask's):
    each upload's masks are its own, none is skipped, and a TIFF, which browsers do not show, is shown as a JPEG."""
    image = Image.open(sorted(resolve_split(synthetic_root, "synthetic/SYN-TE").image_dir.iterdir())[0])
    image = image.convert("RGB").resize((300, 200))
    names = ("x.jpg", "x_mask_binary{}.png", "x_cutout.png", "x.tif")
    image.save(tmp_path / names[0])
    gallery, downloads, status = cut_out(client, tmp_path / names[0])
    first = np.asarray(Image.open(next(p for p in downloads if Path(p).name == "x_mask.png")))
    threshold = int(np.clip(np.median(first), 1, 254))  # a binary mask with both values
    uploads = [tmp_path / name.format(threshold) for name in names]
    for turn, upload in zip((None, *Image.Transpose)[:4], uploads, strict=True):  # four images: turned and mirrored
        (image if turn is None else image.transpose(turn).resize((300, 200))).save(upload)
    gallery, downloads, status = cut_out(client, *uploads)
    assert "**4 image(s)**" in status and "skipped" not in status and "/" not in status, status
    masks = [np.asarray(Image.open(p)) for p in downloads if Path(p).name.endswith("_mask.png")]
    assert len(masks) == 4 and len({mask.tobytes() for mask in masks}) == 4  # four images, four masks
    gallery, downloads, status = cut_out(client, *uploads, binary=True, threshold=threshold)
    binary = [np.asarray(Image.open(p)) for p in downloads if Path(p).name.endswith(f"_mask_binary{threshold}.png")]
    assert len(binary) == 4
    for mask, shown in zip(masks, binary, strict=True):  # each the binary version of its own mask
        assert np.array_equal(shown, np.where(mask > threshold, 255, 0))
    inputs = [Path(item[0] if isinstance(item, (list, tuple)) else item["image"]) for item in gallery[::4]]
    assert [path.suffix for path in inputs] == [".jpg", ".png", ".png", ".jpg"], inputs
    assert Image.open(inputs[3]).size == (300, 200)


def test_bad_uploads_get_a_message_and_the_app_keeps_serving(client, synthetic_root: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "truncated.jpg"
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(truncated, quality=95)
    truncated.write_bytes(truncated.read_bytes()[:600])
    huge = tmp_path / "huge.png"
    Image.new("L", (2000, 2000)).save(huge)  # 4 MP, over the server's --max-pixels
    gallery, downloads, status = cut_out(client, text, truncated, huge)
    assert gallery == [] and downloads in ([], None)
    for name in ("notes.png", "truncated.jpg", "huge.png"):
        assert f"skipped **{name}**" in status, status
    image = sorted(resolve_split(synthetic_root, "synthetic/SYN-TE").image_dir.iterdir())[0]
    gallery, downloads, status = cut_out(client, image)
    assert len(gallery) == 4 and "**1 image(s)**" in status


def test_requests_queue_one_at_a_time_and_see_their_place(app_server: AppServer, client, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.utils import Status

    photos = []
    for index in range(4):  # large photos (under the server's --max-pixels): a request long enough to queue behind
        photos.append(tmp_path / f"photo{index}.jpg")
        Image.fromarray(np.full((1440, 1920, 3), 40 * index, np.uint8)).save(photos[-1], quality=90)
    first = client.submit([handle_file(str(path)) for path in photos], False, 128, api_name="/cutout")
    deadline = time.perf_counter() + 120
    while first.status().code != Status.PROCESSING and not first.done() and time.perf_counter() < deadline:
        time.sleep(0.02)
    with connect(app_server.url) as other_user:
        second = other_user.submit([handle_file(str(photos[0]))], False, 128, api_name="/cutout")
        ranks, first_done = [], None
        while not second.done() and time.perf_counter() < deadline:
            status = second.status()
            if status.code == Status.IN_QUEUE and status.rank is not None:
                ranks.append(status.rank)
            if first_done is None and first.status().code == Status.FINISHED:  # done() waits for the downloads too
                first_done = time.perf_counter()
            time.sleep(0.02)
        assert "**4 image(s)**" in first.result()[2] and "**1 image(s)**" in second.result()[2]
    # one at a time: the first request finished while the second was not yet done (it finishes first when requests
    # run side by side). When the second was seen starting is not compared: each request's status arrives on its own
    # stream, and the second's start was once seen 20 ms before the first's finish.
    assert first_done is not None
    assert ranks and ranks[0] == 0, ranks  # it waited, first in line, while the first request ran


def test_uploads_over_the_limits_are_refused_on_the_page_before_they_take_memory(
    app_server: AppServer, client, tmp_path: Path
) -> None:
    bomb = tmp_path / "zeros.png"
    Image.new("L", (8000, 8000)).save(bomb)  # 64 megapixels in 62 KB: predicted, the app would take 1.3 GB more
    before = resident_mb(app_server.process.pid)[1]  # the peak so far, MiB
    gallery, downloads, status = cut_out(client, bomb)
    assert gallery == [] and "skipped **zeros.png**: 8000x8000 = 64 megapixels, over this server's limit of 3" in status
    assert resident_mb(app_server.process.pid)[1] - before < 64, "decoded: its 8-bit pixels alone take 64 MB"
    noise = np.random.default_rng(0).integers(0, 255, (520, 520, 3), np.uint8)  # 0.8 MB as PNG: under the limit
    files = [tmp_path / f"noise{index}.png" for index in range(3)]  # together over it
    for path in files:
        Image.fromarray(noise).save(path)
    gallery, downloads, status = cut_out(client, *files)
    assert gallery == [] and f"over this server's limit of {MAX_UPLOAD_MB} MB per request" in status, status
    refused = [line for line in app_server.log.read_text().splitlines() if "request refused: the upload holds" in line]
    assert refused and f"over this server's limit of {MAX_UPLOAD_MB} MB per request" in refused[-1]  # the console's
    with urllib.request.urlopen(app_server.url + "config", timeout=30) as response:
        page = response.read().decode()
    assert json.loads(page)["run_history"] is False  # no run's images kept in the browser for its next user
    for text in (status, page):  # no server paths, no advice only the server's owner could follow
        assert str(app_server.tmp) not in text and str(app_server.ckpt.parent) not in text
        assert "--max-pixels" not in text and "mgd-sam2 predict" not in text
    assert app_server.ckpt.name in page and f"up to {MAX_PIXELS / 1e6:g} megapixels each" in page


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda stop: stop.name)
def test_every_stop_signal_removes_the_apps_files_and_a_killed_apps_go_at_the_next_start(
    trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    tmp = tmp_path / "tmp"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp / f".mgd-sam2-app.{dead.pid}.0123abcd{TEMPORARY_SUFFIX}"  # an app killed with SIGKILL left it
    (stale / "uploads").mkdir(parents=True)
    (stale / "uploads" / "photo.jpg").write_bytes(b"a user's photo")
    live = tmp / f".mgd-sam2-app.{os.getpid()}.89abcdef{TEMPORARY_SUFFIX}"  # a running app's: left alone
    live.mkdir()
    server = start_app(trained_checkpoint, tmp_path)
    assert not stale.exists() and live.is_dir()
    image = sorted(resolve_split(synthetic_root, "synthetic/SYN-TE").image_dir.iterdir())[0]
    with connect(server.url) as client:
        assert len(cut_out(client, image)[0]) == 4
    assert len(list(tmp.rglob("*.png"))) >= 2  # the app's folder holds the upload's mask and cut-out
    server.process.send_signal(stop)
    log = tmp_path / "app.log"
    assert server.process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert [path.name for path in tmp.iterdir()] == [live.name], "the app left its folder"
    assert f"stopped by {stop.name}; removed the app's uploads and results" in log.read_text()


# headless, with no background connections (this machine's closed network refuses them, many at a time)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.mark.browser
def test_a_real_browser_uploads_an_image_and_sees_the_mask(app_server: AppServer, tmp_path: Path) -> None:
    from playwright.sync_api import Error as BrowserError
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "the browser test needs Debian's chromium: apt-get install -y chromium (as .ci/run does)"
    image = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    pixels = np.full((1080, 1920, 3), 60, np.uint8)
    pixels[300:800, 600:1300] = rng.integers(150, 255, (500, 700, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image, quality=90)
    seen: list[str] = []  # what the page did, for the message of a failure
    start = time.perf_counter()

    def note(text: str) -> None:
        seen.append(f"{time.perf_counter() - start:7.2f} s  {text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.on("console", lambda message: note(f"console {message.type}: {message.text[:300]}"))
        page.on("pageerror", lambda error: note(f"page error: {error}"))
        page.on("request", lambda request: note(f"-> {request.method} {request.url[:120]}"))
        page.on("requestfailed", lambda request: note(f"failed: {request.url[:120]} {request.failure}"))
        page.on("response", lambda response: note(f"<- {response.status} {response.url[:120]}"))
        try:
            page.goto(app_server.url)
            expect(page.locator("#results")).to_be_attached()  # the page's components are drawn
            note("page drawn")
            with page.expect_file_chooser() as chooser:  # as a user does: click the upload area, pick the photo
                page.get_by_role("button", name="Click to upload or drop files").click()
            chooser.value.set_files(str(image))
            note("photo chosen")
            # the uploaded file's row: its name cell is labelled "photo.jpg" and shows "photo .jpg" (stem and suffix
            # apart); matching the text "photo.jpg" found only the upload's progress line, gone when the upload was fast
            expect(page.locator("#upload").get_by_role("cell", name="photo.jpg")).to_be_visible(timeout=60_000)
            page.locator("#run").click()
            expect(page.locator("#status")).to_contain_text("1 image(s)", timeout=180_000)
            images = page.locator("#results img")
            expect(images).to_have_count(4, timeout=60_000)
            masks = [images.nth(index).get_attribute("src") for index in range(4)]
            assert any("photo_mask.png" in (src or "") for src in masks), masks  # the mask file, served by the app
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        except (BrowserError, AssertionError) as error:
            with contextlib.suppress(BrowserError):  # a browser that is gone has no screenshot to give
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            pytest.fail(
                f"{error}\n--- the page (screenshot {tmp_path / 'failure.png'}):\n" + "\n".join(seen[-60:])
                + f"\n--- the app's log:\n{app_server.log.read_text()[-3000:]}"
            )  # fmt: skip
        finally:
            browser.close()
    assert (tmp_path / "app.png").stat().st_size > 10_000


def test_without_weights_or_a_demo_run_the_app_says_what_to_do(tmp_path: Path, monkeypatch, capsys) -> None:
    from mgd_sam2.commands.app import is_local

    monkeypatch.chdir(tmp_path)  # no runs/demo here
    assert main(["app"]) == 1
    assert "no --ckpt given and no `make demo` run found" in capsys.readouterr().err
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert not is_local("0.0.0.0") and not is_local("192.168.1.5") and not is_local("example.org")


def test_a_port_in_use_is_one_line_before_the_model_loads(trained_checkpoint: Path, capsys) -> None:
    """Gradio would load the model, then end in a 20-line traceback whose advice names an environment variable."""
    import socket

    from mgd_sam2.utils.ports import port_in_use

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", "--ckpt", str(trained_checkpoint), "--port", str(port)]) == 1
        out, err = capsys.readouterr()
        assert err.strip() == (f"error: cannot listen on 127.0.0.1 port {port}: Address already in use; pass --port N "
                               "(or another --host)") and "model:" not in out  # fmt: skip
    assert port_in_use("127.0.0.1", port) is None  # free again


def test_a_port_taken_while_the_model_loads_is_the_same_one_line() -> None:
    """Two apps started on one port at once: both find it free, the second's Gradio launch then fails; it says so as
    the check before the model does (it was Gradio's traceback)."""
    import socket

    import gradio as gr

    from mgd_sam2.commands.app import serve

    with gr.Blocks() as page:
        gr.Markdown("x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as refused:
            serve(page, "127.0.0.1", port, 2**20)
    assert str(refused.value) == (
        f"cannot listen on 127.0.0.1 port {port}: Address already in use; pass --port N (or another --host)"
    )


def test_without_weights_the_app_serves_the_demos_checkpoint_and_says_so(
    trained_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """docs/app.md: without --ckpt the demo's trained checkpoint, named on the terminal; the page names the model
    file, the preset and the backend."""
    import mgd_sam2.commands.app as app_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/demo").mkdir(parents=True)
    (tmp_path / "runs/demo/report.json").write_text(json.dumps({"checkpoint": str(trained_checkpoint)}))
    served = []
    monkeypatch.setattr(
        app_command, "serve", lambda page, *args, **options: served.append(json.dumps(page.config, default=str))
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    assert main(["app"]) == 0
    out = capsys.readouterr().out
    assert f"note: no --ckpt given; using the demo's trained checkpoint {trained_checkpoint}" in out
    assert len(served) == 1
    assert (
        trained_checkpoint.name in served[0] and "**preset:** micro" in served[0] and "**backend:** torch" in served[0]
    )


def test_the_app_benchmark_times_the_app_a_user_starts(
    trained_checkpoint: Path, tmp_path: Path, monkeypatch, without_isa_limits
) -> None:
    """`benchmark app` starts `mgd-sam2 app`, waits for its page, sends photos through the page's API and reads the
    app's memory; its row is ordered as time is (page, then first mask) and the app is stopped after, and what the
    page's API sent back is not left in the temporary folder. Paths are given relative to the folder the command runs
    in, as a user types them. The photo is over the app's default --max-pixels, which the benchmark raises to it."""
    monkeypatch.chdir(tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # this process's: the client's, not the app's
    out = tmp_path / "measurement.json"
    ckpt = os.path.relpath(trained_checkpoint, tmp_path)
    argv = ["benchmark", "app", "--ckpt", ckpt, "--images", "1", "--out", "runs", "--photo", "5200x4900"]
    assert main([*argv, "--json", str(out)]) == 0
    measured = json.loads(out.read_text())
    assert measured["command"].startswith("mgd-sam2 benchmark app --ckpt") and measured["machine"]
    (row,) = measured["app"]
    assert 0 < row["page_up_s"] < row["first_mask_s"] and row["s_per_image"] > 0 and row["images"] == 1
    assert 0 < row["started_rss_mb"] <= row["startup_peak_rss_mb"] and 0 < row["rss_mb"] <= row["requests_peak_rss_mb"]
    assert row["peak_rss_mb"] == max(row["startup_peak_rss_mb"], row["requests_peak_rss_mb"])
    assert row["photo"] == "5200x4900 JPEG" and 5200 * 4900 > APP_MAX_PIXELS
    log = (tmp_path / "runs" / "app-0" / "app.log").read_text()  # the app's own output, as a user sees it
    assert "serving http://127.0.0.1:" in log and "(Ctrl-C stops it)" in log and "share=True" not in log
    assert row["bytes_per_pixel"] == (row["requests_peak_rss_mb"] - row["started_rss_mb"]) * 2**20 / (5200 * 4900) > 0
    assert row["exit_status"] in (0, 130)  # stopped by Ctrl-C, as a user stops it
    assert not list(temporary.iterdir()), list(temporary.iterdir())


def test_the_app_serves_when_gradios_own_start_check_would_have_given_up(monkeypatch) -> None:
    """Gradio's launch check (one HEAD with a 3-s timeout) fails on a busy machine, and Gradio's requests to its own
    server go through a proxy set in the environment; the app waits for its page itself, bypassing proxies. Here
    Gradio's check is made to fail and a dead proxy is set: the page must still be served."""
    import gradio
    import gradio.networking

    import mgd_sam2.commands.app as app_command
    from mgd_sam2.utils.ports import DIRECT, free_port

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "")  # restored after the test: serve adds this machine to them
    monkeypatch.setattr(gradio.networking, "url_ok", lambda url: False)
    with gradio.Blocks() as page:
        gradio.Markdown("served")
    seen = []
    monkeypatch.setattr(app_command, "wait_while_serving", lambda page: seen.append(DIRECT.open(page.local_url).status))
    try:
        app_command.serve(page, "127.0.0.1", free_port(), 10**6)
    finally:
        page.close(verbose=False)
    assert seen == [200]


def test_results_removed_after_their_hour_are_said_on_the_page(tmp_path: Path) -> None:
    """A page redrawn (another threshold) after its request's files were removed shows the note and nothing else,
    whether the whole folder went (the next request, an hour on) or only a file it reads, and never a path."""
    from mgd_sam2.app.cutout import Cutout, CutoutResult
    from mgd_sam2.app.page import redrawn

    folder = tmp_path / "request-1"
    cutout = Cutout("a.jpg", folder / "uploads/a/a.jpg", folder / "a.png", folder / "a_cutout.png", megapixels=0.1)
    result = CutoutResult(cutouts=[cutout], failures=[], seconds=0.0, folder=folder)
    assert redrawn(None, None, False, 128) == ([], [], None)  # nothing asked yet: nothing to say
    for made in ("nothing", "the folder, not the upload"):
        if made != "nothing":
            folder.mkdir()
        gallery, downloads, note = redrawn(None, result, True, 128)
        assert (gallery, downloads) == ([], []) and "removed 1 hour(s) after" in note and "/" not in note, made


def test_the_page_is_served_under_a_proxys_root_path(monkeypatch) -> None:
    """--root-path: the page's files are addressed under the path a reverse proxy serves it at, and the app still
    answers at its own address."""
    import gradio

    import mgd_sam2.commands.app as app_command
    from mgd_sam2.utils.ports import DIRECT, free_port

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    with gradio.Blocks() as page:
        gradio.Markdown("served")
    seen = []
    monkeypatch.setattr(
        app_command, "wait_while_serving", lambda page: seen.append(json.load(DIRECT.open(page.local_url + "config")))
    )
    try:
        app_command.serve(page, "127.0.0.1", free_port(), 10**6, root_path="/cutout")
    finally:
        page.close(verbose=False)
    assert seen[0]["root"].endswith("/cutout") and seen[0]["run_history"] is False, seen[0].get("root")
