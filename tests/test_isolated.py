"""utils/isolated.py: the fresh processes that benchmarks and export steps run in."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def test_a_fresh_process_ends_when_its_parent_is_killed() -> None:
    """A benchmark killed by its user (or the system) takes its measuring process with it: an orphan went on timing
    and exporting for 40 minutes, and the next benchmark ran at less than half its speed (stop 55). Here a parent
    running ``run_isolated(time.sleep, 300)`` is killed with SIGKILL, and its spawned child is gone within seconds."""
    script = "import time\nfrom mgd_sam2.utils.isolated import run_isolated\nrun_isolated(time.sleep, 300)\n"
    parent = subprocess.Popen([sys.executable, "-c", script])

    def children() -> list[int]:
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            except OSError:  # ended while listed
                continue
            if int(fields["PPid"]) == parent.pid and not fields["State"].startswith("Z"):
                command = (status.parent / "cmdline").read_bytes()
                found += [int(status.parent.name)] if b"spawn_main" in command else []
        return found

    deadline = time.monotonic() + 120
    while not (spawned := children()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spawned, "run_isolated started no process"
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            return not (Path(f"/proc/{pid}/status").read_text().split("State:\t")[1].startswith("Z"))
        except (OSError, IndexError):
            return False

    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in spawned) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in spawned), f"process {spawned} outlived its killed parent"
