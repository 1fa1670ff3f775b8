"""What every ``benchmark --json`` file records besides its results, so that a figure in docs/measurements says when,
how and where it was measured."""

from __future__ import annotations

import datetime
import os
import platform
import re
from typing import Any

LIMITED_BY = "instruction sets limited by"


def machine(gpu: bool = False) -> str:
    """The CPU (its name, family and model numbers), its core count and its kind with the flags that decide the fast
    paths (inference/cpu_kind.py), the runtimes' instruction-set limits where the environment sets them (a smaller
    CPU kind emulated), and the GPU (its name, memory, CUDA and torch versions) where ``gpu`` (the caller's
    measurements ran on CUDA, e.g. in the fresh processes of `utils.isolated`: `benchmark --device cuda`) or this
    process started CUDA. A CPU run on a machine with a GPU names none; so does a run whose child processes alone
    used one without the caller saying so."""
    import torch

    from mgd_sam2.inference.cpu_kind import CPUINFO, cpuinfo_fields, describe_isa_limits, detect_cpu_kind

    fields = cpuinfo_fields(CPUINFO.read_text() if CPUINFO.exists() else "")
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields:  # which generation: a brand name such as "AMD EPYC" covers several
        name += f" (CPU family {fields['cpu family']}, model {fields.get('model', '?')})"
    described = f"{name}, {os.cpu_count()} cores; CPU kind {detect_cpu_kind().describe()}"
    limits = describe_isa_limits()
    if limits:
        described += (f"; {LIMITED_BY} {limits} (emulating a smaller CPU: ONNX Runtime has no such switch, and "
                      "OpenVINO's own kernels and fp32 matrix products ignore them)")  # fmt: skip
    if gpu or torch.cuda.is_initialized():
        properties = torch.cuda.get_device_properties(torch.cuda.current_device())
        runtime = f"CUDA {torch.version.cuda}" if torch.version.cuda else f"ROCm {torch.version.hip}"
        described += (f"; GPU {properties.name} ({properties.total_memory // 2**20} MiB), {runtime}, "
                      f"torch {torch.__version__}")  # fmt: skip
    return described


def isa_limits_of(machine_line: str) -> str:
    """The ISA switches a ``machine()`` line names ("NAME=value ...", as describe_isa_limits; empty: none)."""
    found = re.search(f"{LIMITED_BY} (.+?) \\(emulating", machine_line)
    return found.group(1) if found else ""


def measurement(results: dict[str, Any], command: str, gpu: bool = False) -> dict[str, Any]:
    """``results`` as docs/measurements keeps them: the date, the command as typed (after the ISA switches set, as a
    shell prefix) and the machine first (``gpu``: the results were measured on CUDA, as `machine`)."""
    from mgd_sam2.inference.cpu_kind import describe_isa_limits

    command = " ".join(filter(None, (describe_isa_limits(), command)))
    return {"date": datetime.date.today().isoformat(), "command": command, "machine": machine(gpu), **results}
