"""``benchmark app``: what a user of ``mgd-sam2 app`` waits for and how much memory the app takes.

The app runs as a user runs it, ``mgd-sam2 app`` in a process of its own on a free port; the times are seen from the
outside: from the start to the page answering, from the start to the first mask returned by the page's API, and the
seconds per image of the next requests (each a photo through the API, a 2048×1536 JPEG unless asked otherwise, mask
and RGBA cut-out written). The memory is the app process's resident set (Linux ``/proc``): once its page answers
(with its peak so far, the start-up's), after the requests, and its peak over the whole run; the peak of the
requests alone (the peak is reset once the page answers) above the resident set then, per pixel of the photo, is
what one image costs the app (``app.cutout.APP_BYTES_PER_PIXEL``).
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mgd_sam2.errors import UserError
from mgd_sam2.utils.files import temporary_folder
from mgd_sam2.utils.isolated import reset_peak, resident_mb
from mgd_sam2.utils.ports import free_port, wait_until_answers

PHOTO_SIZE = (2048, 1536)  # (width, height) of the photo sent
STARTUP_LIMIT_S = 300  # the app not answering after this long is a failure


class AppStartError(UserError):
    """The app exited, or did not answer in time; the message holds the end of its log."""


@dataclass
class AppProcess:
    """A running ``mgd-sam2 app``: its page's URL, process and log, and the seconds from its start to the page
    answering."""

    url: str
    process: subprocess.Popen
    log: Path
    started: float  # time.perf_counter() at the start
    startup_s: float

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C (the app removes its temporary folder and exits); its exit status. An app still running after
        ``timeout`` seconds is killed (exit status -9)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def launch_app(ckpt: Path, folder: Path, *extra: str, env: dict[str, str] | None = None) -> AppProcess:
    """``mgd-sam2 app --ckpt ckpt --device cpu`` on a free port, its log in ``folder``/app.log, once its page answers;
    an AppStartError if it exits or does not answer within STARTUP_LIMIT_S."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # the app runs in ``folder``: a path relative to this process's folder would not be found there (a Hub id,
    # which is no path here, is passed as it is)
    weights = str(Path(ckpt).resolve()) if Path(ckpt).exists() else str(ckpt)
    command = [sys.executable, "-m", "mgd_sam2.cli", "app", "--ckpt", weights, "--port", str(port), "--device", "cpu",
               *extra]  # fmt: skip
    log = folder / "app.log"
    with open(log, "w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}/"
    try:
        if not wait_until_answers(url, STARTUP_LIMIT_S, starting=lambda: process.poll() is None):
            raise AppStartError(f"the app did not start (its log, {log}):\n{log.read_text()[-3000:]}")
        return AppProcess(url, process, log, started, time.perf_counter() - started)
    except BaseException:  # the error above, Ctrl-C: no app is left running
        process.kill()
        process.wait()
        raise


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """A client of the page's API (Gradio's; it fetches the API's description once) whose files stay in a private
    folder removed on exit: the masks it downloads, and the empty folder gradio_client leaves in the system's temporary
    folder per download (it makes them in ``tempfile.gettempdir()``, pointed at the private folder meanwhile)."""
    from gradio_client import Client

    with temporary_folder(tempfile.gettempdir(), "mgd-sam2-client") as folder:
        system_temporary, tempfile.tempdir = tempfile.tempdir, str(folder)
        try:
            yield Client(url, verbose=False, download_files=str(folder / "downloads"))
        finally:
            tempfile.tempdir = system_temporary


def cut_out(client: Any, *files: Path, binary: bool = False, threshold: int = 128) -> Any:
    """The page's API (``/cutout``) through ``client`` (`connect`) on ``files``: (gallery, downloads, status) as the
    page shows them."""
    from gradio_client import handle_file

    return client.predict([handle_file(str(path)) for path in files], binary, threshold, api_name="/cutout")


def cut_out_checked(client: Any, path: Path) -> None:
    """`cut_out` of one image; a UserError quoting the page's status where the app gave back no mask (an image it
    refused or could not read), so that no refusal is timed as a mask."""
    gallery, _, status = cut_out(client, path)
    if not gallery:
        said = "; ".join(line.strip() for line in status.splitlines() if line.strip())
        raise UserError(f"the app gave no mask for {path}: {said}")


def photo(path: Path, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """A seeded JPEG of ``size`` (width, height): smooth colours and a disc, so its file is photo-sized (not noise)."""
    width, height = size
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [np.sin(columns / (97 + 31 * c)) + np.cos(rows / (83 + 17 * c)) for c in range(3)]
    pixels = np.stack(channels, axis=-1) * 60 + 128
    pixels[(rows - height / 2) ** 2 + (columns - width / 2) ** 2 < (height / 4) ** 2] = (230, 90, 40)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def measure_app(
    ckpt: Path, label: str, folder: Path, images: int, size: tuple[int, int] = PHOTO_SIZE
) -> dict[str, Any]:
    """One row: ``label``, the page's start, the first mask after the start, seconds per image (median of
    ``images`` more requests of a photo of ``size`` (width, height)) and the app's memory, with ``ckpt`` served by a
    fresh ``mgd-sam2 app``."""
    from mgd_sam2.app.cutout import APP_MAX_PIXELS

    folder.mkdir(parents=True, exist_ok=True)
    sent = photo(folder / "photo.jpg", size)
    app = launch_app(ckpt, folder, "--max-pixels", str(max(size[0] * size[1], APP_MAX_PIXELS)))  # as it is, or room
    try:
        started_mb, startup_peak_mb = resident_mb(app.process.pid)
        reset_peak(app.process.pid)
        with connect(app.url) as client:
            cut_out_checked(client, sent)
            first_mask_s = time.perf_counter() - app.started
            seconds = []
            for _ in range(images):
                start = time.perf_counter()
                cut_out_checked(client, sent)
                seconds.append(time.perf_counter() - start)
            rss_mb, requests_peak_mb = resident_mb(app.process.pid)
    finally:
        exit_status = app.stop()
    return {"weights": label, "ckpt": str(ckpt), "page_up_s": app.startup_s, "first_mask_s": first_mask_s,
            "s_per_image": statistics.median(seconds), "images": images, "started_rss_mb": started_mb,
            "startup_peak_rss_mb": startup_peak_mb, "requests_peak_rss_mb": requests_peak_mb, "rss_mb": rss_mb,
            "peak_rss_mb": max(startup_peak_mb, requests_peak_mb), "photo": f"{size[0]}x{size[1]} JPEG",
            "bytes_per_pixel": (requests_peak_mb - started_mb) * 2**20 / (size[0] * size[1]),
            "exit_status": exit_status}  # fmt: skip


def random_weights(preset: str, folder: Path) -> Path:
    """A model folder of ``preset`` with the speed benchmark's seeded random weights (what the app loads for a preset's
    cost)."""
    from mgd_sam2.benchmark.speed import RandomNetwork
    from mgd_sam2.inference.segmenter import Segmenter

    network = RandomNetwork(preset).load()
    return Segmenter.from_network(network, device="cpu", name=f"{preset}, random weights").save_pretrained(folder)
