"""``mgd-sam2 app`` (``make app``): a web page that cuts objects out of uploaded images, on this machine.

Uploads and results live in a private temporary folder named with the app's process id; it is removed when
the app stops by Ctrl-C, SIGTERM (``systemctl stop``, ``docker stop``) or SIGHUP (the terminal closed), and
the folders of app processes that were killed outright are removed at the next start.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
import tempfile
import time
from typing import Any, Iterator

from mgd_sam2.commands.arguments import add_detail_arguments, add_weights_arguments, detail_of, positive_int
from mgd_sam2.errors import ConfigError, UserError
from mgd_sam2.utils.ports import port_in_use, wait_until_answers

DEFAULT_HOST = "127.0.0.1"  # this machine only; another address only when asked for with --host
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, `kill`/`systemctl stop`, the terminal closed
WORKDIR_NAME = "mgd-sam2-app"
LAUNCH_ANSWER_S = 120  # the started page's first answer may take this long (a loaded machine)
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # the app's own address, never reached through a proxy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mgd_sam2.app.cutout import APP_MAX_PIXELS, APP_MAX_REQUEST_MB

    add_weights_arguments(
        parser,
        ckpt_required=False,
        ckpt_default="; default: the demo's trained checkpoint",
        max_pixels=APP_MAX_PIXELS,
        max_pixels_help="per image: larger uploads are refused on the page before they are decoded (memory, "
        "decompression bombs)",
    )
    add_detail_arguments(parser)
    parser.add_argument(
        "--max-upload-mb",
        type=positive_int,
        default=APP_MAX_REQUEST_MB,
        help="MB (2^20 bytes) of uploads per request (each file and all together); larger ones are refused",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on; the default serves this machine only, 0.0.0.0 serves anyone who can reach it",
    )
    parser.add_argument("--port", type=positive_int, default=7860, help="port to listen on")
    parser.add_argument(
        "--root-path",
        default=os.environ.get("GRADIO_ROOT_PATH", ""),
        help="the path the page is served under behind a reverse proxy, e.g. /cutout for https://example.org/cutout/ "
        "(default: $GRADIO_ROOT_PATH, else none); the proxy forwards that path's requests to --host and --port",
    )


def run(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    from mgd_sam2.app.cutout import MB
    from mgd_sam2.commands.demo import demo_checkpoint
    from mgd_sam2.utils.files import remove_stale_temporaries, temporary_folder

    if find_spec("gradio") is None:
        raise ConfigError("the app needs Gradio: pip install 'mgd-sam2[app]' (or run `make app`)")
    detail = detail_of(args)
    ckpt = args.ckpt
    if ckpt is None:
        ckpt = demo_checkpoint()
        if ckpt is None:
            raise ConfigError("no --ckpt given and no `make demo` run found: pass --ckpt WEIGHTS, or run `make demo`")
        print(f"note: no --ckpt given; using the demo's trained checkpoint {ckpt} (a micro model, synthetic data)")
    if (refusal := port_refusal(args.host, args.port)) is not None:  # before the model loads
        raise refusal
    if not is_local(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine on port {args.port} can use the app"
        )
    stale = remove_stale_temporaries(tempfile.gettempdir())
    if stale:
        print(
            f"removed {stale} temporary folder(s) of app or predict runs that were killed, in {tempfile.gettempdir()}"
        )
    with stop_signals_interrupt() as received, temporary_folder(tempfile.gettempdir(), WORKDIR_NAME) as workdir:
        os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")  # uploads go here and are removed with it
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a user's machine
        from mgd_sam2.app.cutout import CutoutService
        from mgd_sam2.app.page import build_page
        from mgd_sam2.inference.segmenter import Segmenter

        segmenter = Segmenter.load(ckpt, weights_extra=args.weights, backend=args.backend, device=args.device,
                                   precision=args.precision, max_pixels=args.max_pixels, detail=detail)  # fmt: skip
        service = CutoutService(segmenter, workdir, max_request_bytes=args.max_upload_mb * MB)
        print(f"model: {service.description}")
        print(limits_note(args.max_pixels, args.max_upload_mb, detail=args.detail))
        page = build_page(service)
        serve(page, args.host, args.port, service.max_request_bytes, root_path=args.root_path)
    if received:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            print(f"stopped by {received[0]}; removed the app's uploads and results", file=sys.stderr)
    return 0


def port_refusal(host: str, port: int) -> ConfigError | None:
    """The error for a port another server listens on (or an address not this machine's), as the OS says it; None
    where the app can listen. Said in one line, not in Gradio's traceback, whose advice names its own variable."""
    if (reason := port_in_use(host, port)) is None:
        return None
    return ConfigError(f"cannot listen on {host} port {port}: {reason}; pass --port N (or another --host)")


def memory_in_words(size: float) -> str:
    """``size`` bytes as GiB with one decimal, or as whole MiB below 1 GiB (a small --max-pixels is not "0.0 GiB")."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def serve(page: Any, host: str, port: int, max_file_size: int, root_path: str = "") -> None:
    """Start the Gradio page (a ``gradio.Blocks``), wait until it answers (up to LAUNCH_ANSWER_S) and serve until
    stopped. Gradio's own start-up check is replaced: it gives up after one request that takes 3 s, which a busy
    machine's first answer can exceed. Requests to this machine bypass any proxy set in the environment (Gradio
    asks its own server during the launch too). Gradio's own lines (its URL with a hint at ``share=True``, which is
    no option here, and a note at Ctrl-C) are replaced by one line of ours. Gradio's run history is off: it kept
    each run's images in the browser, for whoever used that browser next."""
    for name in ("no_proxy", "NO_PROXY"):
        listed = [entry for entry in os.environ.get(name, "").split(",") if entry]
        os.environ[name] = ",".join(listed + [entry for entry in LOCAL_HOSTS if entry not in listed])
    # _frontend=False skips Gradio's check (a private argument of Gradio 6, which setup.cfg pins; tested)
    try:
        page.launch(server_name=host, server_port=port, share=False, show_error=True, quiet=True, run_history=False,
                    max_file_size=max_file_size, root_path=root_path, prevent_thread_lock=True,
                    _frontend=False)  # fmt: skip
    except OSError:  # Gradio's "Cannot find empty port": another server took the port while the model loaded
        if (refusal := port_refusal(host, port)) is None:
            raise
        raise refusal from None
    try:
        answered = wait_until_answers(page.local_url, LAUNCH_ANSWER_S)
    except KeyboardInterrupt:  # Ctrl-C or a stop signal while waiting for the page: close it and return
        page.close(verbose=False)
        return
    except BaseException:
        page.close(verbose=False)
        raise
    if not answered:
        page.close(verbose=False)
        raise UserError(
            f"the app started but {page.local_url} did not answer within {LAUNCH_ANSWER_S} s; the machine may be "
            "short of memory or too busy: try again when it is not"
        )
    where = "" if is_local(host) else f" on {host} port {port}, here at"
    behind = f", served by the proxy under {root_path.rstrip('/')}/" if root_path else ""
    print(f"serving{where} {page.local_url}{behind} (Ctrl-C stops it)", flush=True)
    try:
        wait_while_serving(page)
    except KeyboardInterrupt:  # Ctrl-C or a stop signal: the caller says which
        pass
    finally:
        page.close(verbose=False)


def wait_while_serving(page: Any) -> None:
    """Return when the Gradio page stops (Gradio's ``block_thread`` without its own message at Ctrl-C)."""
    while page.is_running:
        time.sleep(0.1)


def limits_note(max_pixels: int, max_upload_mb: int, detail: str = "off") -> str:
    """The request limits, what the largest accepted image costs in memory (more with a ``detail`` mode), and a
    warning when this machine has less memory available."""
    from mgd_sam2.app.cutout import APP_BYTES_PER_PIXEL
    from mgd_sam2.inference.refine import DETAIL_BYTES_PER_PIXEL
    from mgd_sam2.utils.parallel import available_memory

    need = max_pixels * (APP_BYTES_PER_PIXEL + (DETAIL_BYTES_PER_PIXEL if detail != "off" else 0))
    note = (
        f"limits per request: {max_upload_mb} MB of uploads (--max-upload-mb), images of up to {max_pixels / 1e6:g} "
        f"megapixels each (--max-pixels; the largest takes about {memory_in_words(need)} besides the model)"
    )
    available = available_memory()
    if available is not None and available < need:
        note += (
            f"\nwarning: only {available / 2**30:.1f} GiB of memory is available; lower --max-pixels so that the "
            "largest upload fits"
        )
    return note


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[list[str]]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP stop the app alike (a KeyboardInterrupt in the main thread, which
    Gradio answers by closing the server), so that the ``with`` blocks around it remove its files. Yields the list
    that receives the name of the signal that stopped it."""
    received: list[str] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def is_local(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (loopback)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
