"""``mgd-sam2 app`` (``make app``): a web page that cuts objects out of uploaded images, on this machine."""

from __future__ import annotations

import argparse
import ipaddress
import os
import tempfile
from pathlib import Path

from mgd_sam2.commands.arguments import add_weights_arguments, positive_int
from mgd_sam2.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"  # this machine only; another address only when asked for with --host


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights_arguments(parser, ckpt_required=False, ckpt_default="; default: the demo's trained checkpoint")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on; the default serves this machine only, 0.0.0.0 serves anyone who can reach it",
    )
    parser.add_argument("--port", type=positive_int, default=7860, help="port to listen on")


def run(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    from mgd_sam2.commands.demo import demo_checkpoint

    if find_spec("gradio") is None:
        raise ConfigError("the app needs Gradio: pip install 'mgd-sam2[app]' (or run `make app`)")
    ckpt = args.ckpt
    if ckpt is None:
        ckpt = demo_checkpoint()
        if ckpt is None:
            raise ConfigError("no --ckpt given and no `make demo` run found: pass --ckpt WEIGHTS, or run `make demo`")
        print(f"note: no --ckpt given; using the demo's trained checkpoint {ckpt} (a micro model, synthetic data)")
    if not is_local(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine on port {args.port} can use the app"
        )
    with tempfile.TemporaryDirectory(prefix="mgd-sam2-app-") as workdir:
        os.environ["GRADIO_TEMP_DIR"] = str(Path(workdir) / "uploads")  # uploads go here and are removed with it
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a user's machine
        from mgd_sam2.app.cutout import CutoutService
        from mgd_sam2.app.page import build_page
        from mgd_sam2.inference.segmenter import Segmenter

        segmenter = Segmenter.load(ckpt, weights_extra=args.weights, backend=args.backend, device=args.device,
                                   precision=args.precision, max_pixels=args.max_pixels)  # fmt: skip
        service = CutoutService(segmenter, workdir)
        print(f"model: {service.description}")
        page = build_page(service)
        page.launch(server_name=args.host, server_port=args.port, share=False, show_error=True, quiet=False)
    return 0


def is_local(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (loopback)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
