"""utils/isolated.py: the fresh processes that benchmarks and export steps run in."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from mgd_sam2.utils.isolated import END_GRACE_S

WORKER = """
import tempfile, time
from pathlib import Path

def mark_and_sleep(marker: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory(dir=Path(marker).parent) as folder:
        (Path(folder) / "export.onnx").write_bytes(b"0" * 1024)
        Path(marker).write_text(folder)
        time.sleep(seconds)
"""


def children(parent: int) -> list[int]:
    """The living spawned processes whose parent is ``parent``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:  # ended while listed
            continue
        if int(fields["PPid"]) == parent and not fields["State"].startswith("Z") and b"spawn_main" in command:
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/status").read_text().split("State:\t")[1].startswith("Z")
    except (OSError, IndexError):
        return False


def test_a_fresh_process_cleans_up_and_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A benchmark killed by its user (or the system) takes its measuring process with it: an orphan went on timing
    and exporting for 40 minutes, and the next benchmark ran at less than half its speed (stop 55). Here a parent
    running ``run_isolated(mark_and_sleep, ...)`` is killed with SIGKILL once the child is inside its task (it wrote
    the marker): the child leaves its ``with`` block, which removes its temporary folder, and is gone within the
    grace period, even where SIGINT is ignored (as in a job started in the background, and under pytest-xdist)."""
    (tmp_path / "worker.py").write_text(WORKER)
    marker = tmp_path / "marker"
    script = (
        "import worker\nfrom mgd_sam2.utils.isolated import run_isolated\n"
        f"run_isolated(worker.mark_and_sleep, {str(marker)!r}, 300)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    ignore_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_IGN)  # inherited by the child
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, preexec_fn=ignore_sigint)
    spawned: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        spawned = children(parent.pid)
        assert marker.exists() and spawned, "run_isolated's process did not start its task"
        folder = Path(marker.read_text())
        assert (folder / "export.onnx").exists()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + END_GRACE_S + 10
        while any(alive(pid) for pid in spawned) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in spawned), f"process {spawned} outlived its killed parent"
        assert not folder.exists(), "the orphaned process ended without removing its temporary folder"
    finally:
        parent.kill()
        for pid in spawned:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_an_interrupt_while_the_worker_starts_leaves_no_process(tmp_path: Path) -> None:
    """Ctrl-C that lands after the executor started its worker and before it registered it: run_isolated raises the
    KeyboardInterrupt and no process of it is left running (a lost worker waits for a task forever, and the exit
    handler of multiprocessing waits for it: `model export` hung after printing "interrupted")."""
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import multiprocessing, multiprocessing.context, time\n"
        "from mgd_sam2.utils.isolated import run_isolated\n"
        "start = multiprocessing.context.SpawnProcess.start\n"
        "def interrupted_start(self):\n"
        "    start(self)\n"
        "    raise KeyboardInterrupt\n"
        "multiprocessing.context.SpawnProcess.start = interrupted_start\n"
        "if __name__ == '__main__':\n"
        "    try:\n"
        "        run_isolated(time.sleep, 0)\n"
        "    except KeyboardInterrupt:\n"
        "        print('left running:', len(multiprocessing.active_children()), flush=True)\n"
        "        for process in multiprocessing.active_children():\n"
        "            process.kill()  # without the fix: so that this script can end\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "left running: 0" in done.stdout, done.stdout


SLOW_IMPORT = """
import multiprocessing, os, time
from pathlib import Path

if multiprocessing.parent_process() is not None:  # in run_isolated's process: an import as slow as torch's, longer
    Path(os.environ["MARKER"]).write_text("importing")
    time.sleep(300)

def task() -> None:
    pass
"""

INTERRUPTED = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # the test runner's may be ignored, and be inherited
import {module}
from mgd_sam2.utils.isolated import run_isolated

if __name__ == "__main__":
    try:
        run_isolated({call})
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def interrupt(tmp_path: Path, module: str, call: str, to_group: bool) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``run_isolated(call)`` in a script, in a session (process group) of its own; once its process wrote
    ``tmp_path/marker``, send SIGINT to the whole group, as Ctrl-C does (the terminal sends it to every process of
    the job), or to the script's process only (``kill -INT PID``). Return the finished script (60 s at most: the
    task sleeps 300 s) and the marker."""
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "slow.py").write_text(SLOW_IMPORT)
    marker = tmp_path / "marker"
    script = INTERRUPTED.format(module=module, call=call.format(marker=str(marker)))
    env = {
        **os.environ, "MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }  # fmt: skip
    parent = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), f"run_isolated's process did not start: {parent.communicate(timeout=60)}"
        spawned = children(parent.pid)
        os.killpg(parent.pid, signal.SIGINT) if to_group else parent.send_signal(signal.SIGINT)
        stdout, stderr = parent.communicate(timeout=60)
        assert not [pid for pid in spawned if alive(pid)], "run_isolated's process outlived the interrupt"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)  # the script and its processes, where the interrupt failed
    return subprocess.CompletedProcess(parent.args, parent.returncode, stdout, stderr), marker


def test_an_interrupt_of_the_parent_alone_interrupts_the_task(tmp_path: Path) -> None:
    """``kill -INT`` of `model export` (not of its process group) interrupts its running export step through the
    parent: the step unwinds its ``with`` blocks (its temporary folder is removed) and the command ends at once,
    instead of after the step (it waited for the whole step, minutes for base_plus)."""
    done, marker = interrupt(tmp_path, "worker", "worker.mark_and_sleep, {marker!r}, 300", to_group=False)
    assert done.stdout == "interrupted\n" and "Traceback" not in done.stderr, done.stderr
    assert not Path(marker.read_text()).exists(), "the interrupted task did not remove its temporary folder"


def test_ctrl_c_while_the_process_imports_prints_no_traceback(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) while run_isolated's process imports the modules of its task: the
    process ignores SIGINT and ends quietly once its parent, interrupted, passes the interrupt on (Ctrl-C during an
    export step's imports printed a KeyboardInterrupt traceback of each process of the step)."""
    done, _ = interrupt(tmp_path, "slow", "slow.task", to_group=True)
    assert done.stdout == "interrupted\n" and "Traceback" not in done.stderr, done.stderr


def test_a_reset_peak_counts_from_then() -> None:
    """benchmark app and metrics reset a process's peak before what they measure: it then starts at its resident
    set, and an allocation made before the reset no longer counts."""
    from mgd_sam2.utils.isolated import reset_peak, resident_mb

    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB touched, then freed
    del block
    before = resident_mb()
    reset_peak()
    rss, peak = resident_mb()
    assert peak < before[1] - 32 and peak - rss < 16  # the freed 64 MiB no longer in the peak


CLEANING_WORKER = """
import tempfile, time
from pathlib import Path

def mark_and_sleep(marker: str, seconds: float) -> None:
    folder = tempfile.mkdtemp(dir=Path(marker).parent)
    Path(marker).write_text(folder)
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:  # a clean-up that takes a while, as an exporter's removal of gigabytes does
        Path(marker).with_name("cleaning").touch()
        deadline = time.monotonic() + 120
        while not Path(marker).with_name("release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the test has seen the parent take the second interrupt
        Path(folder).rmdir()
        raise
"""


def test_a_second_interrupt_waits_for_the_clean_up_the_first_began(tmp_path: Path) -> None:
    """``timeout -s INT`` and an impatient user send a second SIGINT while the interrupted task cleans up: the parent
    says it is finishing that clean-up, waits for it (the task's temporary folder is gone), and raises the first
    interrupt only; no traceback, no process left."""
    (tmp_path / "cleaning_worker.py").write_text(CLEANING_WORKER)
    marker, cleaning = tmp_path / "marker", tmp_path / "cleaning"
    script = INTERRUPTED.format(module="cleaning_worker", call=f"cleaning_worker.mark_and_sleep, {str(marker)!r}, 300")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    spawned: list[int] = []
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(parent.stderr), daemon=True)  # lines as they come
    reader.start()
    try:
        for flag in (marker, cleaning):
            deadline = time.monotonic() + 120
            while not flag.exists() and time.monotonic() < deadline and parent.poll() is None:
                time.sleep(0.05)
            assert flag.exists(), f"no {flag.name}: {parent.communicate(timeout=60)}"
            spawned = spawned or children(parent.pid)
            os.killpg(parent.pid, signal.SIGINT)  # the first, then the second during the clean-up
        deadline = time.monotonic() + 120
        while not any("finishing" in line for line in errors) and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        (tmp_path / "release").touch()  # the clean-up ends once the parent took the second interrupt
        stdout = parent.stdout.read()
        parent.wait(timeout=60)
        reader.join(timeout=60)
        stderr = "".join(errors)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
    assert stdout == "interrupted\n" and "Traceback" not in stderr, stderr
    assert "finishing the clean-up of the interrupted worker process" in stderr, stderr
    assert not Path(marker.read_text()).exists(), "the parent ended before the task's clean-up"
    assert not [pid for pid in spawned if alive(pid)], "run_isolated's process outlived the interrupt"


STATES = """
import os, signal, sys
from mgd_sam2.utils import isolated

isolated.watch_parent(os.getppid())
isolated._task_state = sys.argv[1]
try:
    os.kill(os.getpid(), isolated.INTERRUPT_SIGNAL)
    print("ignored")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
except SystemExit as error:
    print("SystemExit", error.code)
"""


def test_a_passed_on_interrupt_acts_by_the_state_of_the_task() -> None:
    """INTERRUPT_SIGNAL in a `run_isolated` process: before its task (importing) the process ends quietly, in the
    task it is a KeyboardInterrupt, and after it the signal is ignored (the result may be on its way to the parent,
    which would wait forever for a result cut short)."""
    for state, expected in (("before", "SystemExit 1"), ("running", "KeyboardInterrupt"), ("done", "ignored")):
        done = subprocess.run([sys.executable, "-c", STATES, state], capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout.strip()) == (0, expected), (state, done.stdout, done.stderr)
