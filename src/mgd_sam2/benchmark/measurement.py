"""What every ``benchmark --json`` file records besides its results, so that a figure in docs/measurements says when,
how and where it was measured."""

from __future__ import annotations

import datetime
import os
import platform
from typing import Any


def machine() -> str:
    """The CPU, its core count and its kind with the flags that decide the fast paths (inference/cpu_kind.py), and
    the runtimes' instruction-set limits where the environment sets them (a smaller CPU kind emulated)."""
    from mgd_sam2.inference.cpu_kind import CPUINFO, detect_cpu_kind, isa_limits

    info = CPUINFO.read_text() if CPUINFO.exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    name = name or platform.processor() or platform.machine()
    described = f"{name}, {os.cpu_count()} cores; CPU kind {detect_cpu_kind().describe()}"
    limits = " ".join(f"{switch}={value}" for switch, value in isa_limits().items())
    if limits:
        described += (f"; instruction sets limited by {limits} (emulating a smaller CPU: ONNX Runtime has no such "
                      "switch, and OpenVINO's own kernels ignore it)")  # fmt: skip
    return described


def measurement(results: dict[str, Any], command: str) -> dict[str, Any]:
    """``results`` as docs/measurements keeps them: the date, the command as typed and the machine first."""
    return {"date": datetime.date.today().isoformat(), "command": command, "machine": machine(), **results}
