"""Inference: TTA, logits to 8-bit maps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mgd_sam2.data.view_cutting import tile
from mgd_sam2.inference.backends import TorchBackend
from mgd_sam2.inference.maps import predict_logits
from mgd_sam2.models.network import MGDSAM2, NetworkConfig


def test_tta_is_the_released_flip_times_scales_mean() -> None:
    """ttach as the released test.py uses it: hflip x Scale(0.75, 1, 1.25) bilinear, logits de-augmented, averaged."""
    torch.manual_seed(0)
    model = MGDSAM2(NetworkConfig(preset="micro", view_size=128)).eval()
    image = torch.randn(1, 3, 256, 256)
    passes = []
    with torch.no_grad():
        for flip in (False, True):
            for scale in (0.75, 1.0, 1.25):
                x = image.flip(-1) if flip else image
                x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False) if scale != 1 else x
                logits = model(tile(x, 2)).logits
                if scale != 1:
                    logits = F.interpolate(logits, scale_factor=1 / scale, mode="bilinear", align_corners=False)
                passes.append(logits.flip(-1) if flip else logits)
        expected = sum(passes) / len(passes)
        views = tile(image, 2)
        backend = TorchBackend(model)
        # the same kernels on the same shapes, summed in the same order (1/s and in/out give the same scales): exact
        torch.testing.assert_close(predict_logits(backend, views, tta=True), expected, atol=0, rtol=0)
        assert not torch.allclose(predict_logits(backend, views, tta=False), expected, atol=1e-3)


def test_tta_says_where_its_scales_round_to_one_input_size() -> None:
    """A 64 px model's 0.75, 1 and 1.25 scales all round to 64 px: six passes, but only the flip differs."""
    from types import SimpleNamespace

    from mgd_sam2.inference.predict import tta_note

    note = tta_note(SimpleNamespace(input_size=64, grid=2))
    assert note is not None and "scales 0.75, 1, 1.25 round to 64, 64, 64 px" in note
    assert note.endswith("its 6 passes differ by the flip only, each pass repeated")
    assert tta_note(SimpleNamespace(input_size=1024, grid=2)) is None  # 768, 1024, 1280


def test_bf16_on_a_cpu_without_native_bf16_is_refused_in_one_line(monkeypatch) -> None:
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference import devices

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="no native bf16 kernels"):
        devices.resolve_device("cpu", "bf16-mixed")
    assert devices.resolve_device("cpu", "auto") == (torch.device("cpu"), None)  # auto on a CPU: fp32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.resolve_device("cpu", "bf16-mixed") == (torch.device("cpu"), torch.bfloat16)


def test_predict_reads_in_worker_processes_only_while_a_gpu_runs_the_network() -> None:
    from types import SimpleNamespace

    from mgd_sam2.inference.predict import loader_workers

    network = MGDSAM2(NetworkConfig(preset="micro"))
    assert loader_workers(TorchBackend(network)) == 0  # on the CPU the network's threads use every core
    assert loader_workers(SimpleNamespace(device=torch.device("cuda"))) == 2
    on_a_gpu = MGDSAM2(NetworkConfig(preset="micro"))  # a TorchBackend left where its network is (here: "a GPU")
    on_a_gpu.parameters = lambda: iter([SimpleNamespace(device=torch.device("cuda", 0))])
    assert loader_workers(TorchBackend(on_a_gpu)) == 2


def test_predict_writes_in_order_in_its_writer_thread_and_raises_a_writes_error(tmp_path: Path, capsys) -> None:
    """Maps are written in order by one thread other than predict's; a write's error stops predict before it runs
    more than `PENDING_WRITES` batches, also when it is the last write's, and predict still says what it wrote."""
    import threading

    import numpy as np
    from PIL import Image

    from mgd_sam2.inference.predict import PENDING_WRITES, predict_files
    from mgd_sam2.inference.writer import MaskWriter
    from mgd_sam2.utils.progress import plural

    paths = []
    for index in range(PENDING_WRITES + 3):
        paths.append(tmp_path / f"photo_{index}.png")
        Image.fromarray(np.full((40 + index, 60, 3), 10 * index, np.uint8)).save(paths[-1])

    class Recording(MaskWriter):
        def __init__(self, output: Path, fail_at: int | None = None) -> None:
            super().__init__(output, settings={})
            self.calls, self.fail_at = [], fail_at

        def write(self, prediction: dict) -> None:
            self.calls.append((prediction["name"], threading.current_thread()))
            if len(self.calls) == self.fail_at:
                raise OSError("disk full")
            super().write(prediction)

    backend = TorchBackend(MGDSAM2(NetworkConfig(preset="micro")).eval())
    batches_run = []
    logits = backend.logits
    backend.logits = lambda views: batches_run.append(1) or logits(views)
    writer = predict_files(backend, paths, Recording(tmp_path / "out"), show=False)
    assert [names for names, _ in writer.calls] == [[path.stem] for path in paths]  # one batch each, in order
    (thread,) = {thread for _, thread in writer.calls}
    assert thread is not threading.current_thread() and thread.name.startswith("mask-writer")
    assert writer.written == [tmp_path / "out" / f"{path.stem}.png" for path in paths]
    for fail_at, batches in ((1, PENDING_WRITES), (len(paths), len(paths))):  # the first write's error, the last's
        batches_run.clear()
        failing = Recording(tmp_path / f"failing_{fail_at}", fail_at=fail_at)
        with pytest.raises(OSError, match="disk full"):
            predict_files(backend, paths, failing, show=False)
        assert len(batches_run) == batches
        # the writes after the failed one that ran before predict saw its error (none, on a busy machine) are said
        said = (
            f"wrote {plural(len(failing.written), 'file')} to {failing.output}" if failing.written else "wrote no file"
        )
        assert said in capsys.readouterr().out


def test_two_images_of_one_name_never_overwrite_each_others_mask(tmp_path: Path, capsys) -> None:
    """predict's flags refuse such inputs up front; from Python (plain paths from two folders) the second image is
    skipped with a message, and the first one's mask stays."""
    import numpy as np
    from PIL import Image

    from mgd_sam2.inference.predict import predict_files
    from mgd_sam2.inference.writer import MaskWriter

    paths = []
    for folder, value in (("a", 0), ("b", 255)):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "x.png")
        Image.fromarray(np.full((40, 60, 3), value, np.uint8)).save(paths[-1])
    backend = TorchBackend(MGDSAM2(NetworkConfig(preset="micro")).eval())
    alone = predict_files(backend, paths[:1], MaskWriter(tmp_path / "alone", settings={}), show=False)
    writer = predict_files(backend, paths, MaskWriter(tmp_path / "out", settings={}), show=False)
    assert writer.written == [tmp_path / "out" / "x.png"]
    (failure,) = writer.failures  # once: no cut-out attempted either
    assert failure[0] == str(paths[1]) and f"was written for {paths[0]}, an image of the same name" in failure[1]
    assert f"skipped {paths[1]}" in capsys.readouterr().err
    assert (tmp_path / "out" / "x.png").read_bytes() == alone.written[0].read_bytes()


def test_views_copy_asynchronously_to_cuda_only(monkeypatch) -> None:
    """Views.to: non_blocking by default only towards a CUDA device (a copy to the host must be ready when read)."""
    calls = []
    monkeypatch.setattr(torch.Tensor, "to", lambda self, device, non_blocking=False: calls.append(non_blocking) or self)
    views = tile(torch.rand(1, 3, 64, 64), 2)
    views.to("cpu")
    assert calls and not any(calls)
    calls.clear()
    views.to("cuda")
    assert calls and all(calls)
    calls.clear()
    views.to("cuda", non_blocking=False)
    assert calls and not any(calls)


def test_a_second_ctrl_c_lets_the_write_under_way_finish(tmp_path: Path, monkeypatch, capsys) -> None:
    """Ctrl-C stops predict once the write under way is done; a second one while predict waits for it (``timeout -s
    INT`` sends two) is ignored, with a line saying so. It used to cut the wait short: the process went on to exit in
    the middle of the write, and left its temporary file (a cut-out's, in a try-out)."""
    import os
    import signal
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image

    from mgd_sam2.inference.predict import PENDING_WRITES, predict_files
    from mgd_sam2.inference.writer import MaskWriter

    paths = []
    for index in range(PENDING_WRITES + 1):  # predict waits for the first write before the last batch
        paths.append(tmp_path / f"photo_{index}.png")
        Image.fromarray(np.full((40, 60, 3), 10 * index, np.uint8)).save(paths[-1])
    saving, waiting, sent = threading.Event(), threading.Event(), threading.Event()
    save, shutdown = Image.Image.save, ThreadPoolExecutor.shutdown

    def slow_save(image: Image.Image, *args, **kwargs) -> None:  # the writer's: into its temporary file
        saving.set()
        sent.wait(60)  # the two interrupts come meanwhile, however long the main thread takes to handle the first
        time.sleep(0.5)  # and the second is handled while the write goes on
        save(image, *args, **kwargs)

    def watched_shutdown(executor: ThreadPoolExecutor, *args, **kwargs) -> None:  # predict's wait for the write
        waiting.set()
        shutdown(executor, *args, **kwargs)

    def interrupt_twice() -> None:
        try:
            if not saving.wait(60):
                return  # predict failed before its first write: no interrupt
            os.kill(os.getpid(), signal.SIGINT)
            if waiting.wait(60):  # the first one handled: predict is about to wait for the write
                time.sleep(0.3)  # and waits, in Thread.join
                os.kill(os.getpid(), signal.SIGINT)
        finally:
            sent.set()

    monkeypatch.setattr(Image.Image, "save", slow_save)
    monkeypatch.setattr(ThreadPoolExecutor, "shutdown", watched_shutdown)
    backend = TorchBackend(MGDSAM2(NetworkConfig(preset="micro")).eval())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell (pytest-xdist ignores it)
    try:
        sender = threading.Thread(target=interrupt_twice)
        sender.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                predict_files(backend, paths, MaskWriter(tmp_path / "out", settings={}), show=False)
            left = sorted(path.name for path in (tmp_path / "out").iterdir())
        finally:
            sender.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert left == ["photo_0.png"]  # the first write whole, the second dropped, no temporary file
    assert "finishing the write under way (Ctrl-\\ quits at once)\n" in capsys.readouterr().err
