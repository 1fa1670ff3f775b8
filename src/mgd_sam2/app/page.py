"""The app's web page (Gradio): upload images, see input, mask, overlay and cut-out, download the files.

Requests queue one at a time (one model in memory); Gradio shows each waiting user their queue position.
The API endpoint ``/cutout`` (used by ``gradio_client``) returns the same gallery, downloads and status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mgd_sam2.app.cutout import MB, REQUEST_MAX_AGE_S, CutoutResult, CutoutService, RequestRefused, zip_files
from mgd_sam2.data.io import FOREGROUND_THRESHOLD, UnreadableImageError

TITLE = "MGD-SAM2 cut-out"
MODEL_QUEUE = "model"  # the Gradio concurrency group of every listener: one request at a time, whichever


def gallery_and_downloads(
    service: CutoutService, result: CutoutResult | None, binary: bool, threshold: int
) -> tuple[list[tuple[str, str]], list[str]]:
    """Per image four gallery items (input, mask, overlay, cut-out) and the files to download: each mask and
    cut-out, and all of them in one ZIP when there are several images."""
    if result is None or not result.folder.is_dir():  # nothing yet, or removed after REQUEST_MAX_AGE_S
        return [], []
    gallery, files = [], []
    for cutout in result.cutouts:
        shown_input, mask, tinted, cut = service.views(cutout, binary, int(threshold))
        gallery += [(str(shown_input), f"{cutout.name}"), (str(mask), "mask"), (str(tinted), "overlay"),
                    (str(cut), "cut-out")]  # fmt: skip
        files += [mask, cut]
    if len(result.cutouts) > 1:
        name = f"results_binary{int(threshold)}.zip" if binary else "results.zip"  # the threshold for binary masks
        files.append(zip_files(files, result.folder / name))
    return gallery, [str(path) for path in files]


EXPIRED = (f"⚠️ these results were removed {REQUEST_MAX_AGE_S // 3600} hour(s) after they were made, as every "
           "request's are: upload the images and cut them out again")  # fmt: skip


def expired_text(result: CutoutResult | None) -> str | None:
    """The page's note where a request's results were removed (after REQUEST_MAX_AGE_S); None otherwise."""
    if result is None or (result.folder.is_dir() and all(cutout.image.is_file() for cutout in result.cutouts)):
        return None
    return EXPIRED


def redrawn(
    service: CutoutService, result: CutoutResult | None, binary: bool, threshold: int
) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """The gallery and downloads of an earlier request at another threshold or mask kind, and the status to show
    instead of its own (None: keep it): the expiry note where its files are gone, then nothing is shown."""
    if (expired := expired_text(result)) is not None:
        return [], [], expired
    try:
        return *gallery_and_downloads(service, result, binary, threshold), None
    except (FileNotFoundError, UnreadableImageError):  # removed by the next request while this one was drawn
        return [], [], EXPIRED


def log_line(result: CutoutResult | None, refusal: str | None = None) -> str:
    """The server console's line for one request: when, how many images, megapixels, seconds, skipped files."""
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    if result is None:
        return f"{when} request refused: {refusal}"
    pixels = sum(cutout.megapixels for cutout in result.cutouts)
    skipped = f", {len(result.failures)} skipped" if result.failures else ""
    return f"{when} request: {len(result.cutouts)} image(s), {pixels:.1f} megapixels, {result.seconds:.2f} s{skipped}"


def status_text(result: CutoutResult) -> str:
    done = len(result.cutouts)
    lines = [
        f"**{done} image(s)** in {result.seconds:.2f} s"
        + (f" ({result.seconds / done:.2f} s per image)" if done else "")
    ]
    lines += [f"⚠️ skipped **{name}**: {message}" for name, message in result.failures]
    return "\n\n".join(lines)


def build_page(service: CutoutService) -> Any:
    """The Gradio Blocks of the app (not launched)."""
    import gradio as gr

    backend = service.backend
    # Gradio's cache of uploads and served files: files older than REQUEST_MAX_AGE_S removed every 10 minutes
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(600, REQUEST_MAX_AGE_S)) as page:
        gr.Markdown(
            f"# {TITLE}\nUpload one or several images of up to {service.max_pixels / 1e6:g} megapixels each, "
            f"{service.max_request_bytes / MB:g} MB at a time. **Model:** {service.public_description} · "
            f"**preset:** {backend.preset} · **backend:** {backend.name} · input {backend.input_size} px"
        )
        with gr.Row():
            files = gr.File(label="images", file_count="multiple", type="filepath", elem_id="upload")
            with gr.Column():
                binary = gr.Checkbox(
                    label="binary mask (the cut-out keeps the 8-bit mask)", value=False, elem_id="binary"
                )
                threshold = gr.Slider(
                    1, 254, value=FOREGROUND_THRESHOLD, step=1, label="threshold of the binary mask (0-255 scale)"
                )
                run = gr.Button("Cut out", variant="primary", elem_id="run")
        status = gr.Markdown(elem_id="status")
        gallery = gr.Gallery(label="input · mask · overlay · cut-out", columns=4, elem_id="results")
        downloads = gr.File(label="downloads", file_count="multiple", elem_id="downloads")
        result = gr.State(None)

        def cut_out(paths: list[str] | None, binary: bool, threshold: float):
            if not paths:
                return [], [], "Upload at least one image first.", None
            try:
                outcome = service.run([Path(path) for path in paths])
            except RequestRefused as refusal:
                print(log_line(None, str(refusal)), flush=True)
                return [], [], f"⚠️ {refusal}", None
            print(log_line(outcome), flush=True)
            shown, download = gallery_and_downloads(service, outcome, binary, int(threshold))
            return shown, download, status_text(outcome), outcome

        def redraw(outcome: CutoutResult | None, binary: bool, threshold: float):
            shown, download, note = redrawn(service, outcome, binary, int(threshold))
            return shown, download, gr.update() if note is None else note

        # one queue for every listener: a redraw decodes its image again, so it waits for the cut-outs, and they for it
        run.click(cut_out, [files, binary, threshold], [gallery, downloads, status, result], api_name="cutout",
                  concurrency_id=MODEL_QUEUE)  # fmt: skip
        for control in (binary.change, threshold.release):
            control(redraw, [result, binary, threshold], [gallery, downloads, status], api_name=False,
                    concurrency_id=MODEL_QUEUE)  # fmt: skip
    page.queue(default_concurrency_limit=1)
    return page
