"""MkDocs hook: pages written at build time from their one source, so they cannot drift.

Measured tables: ``<!-- measured: NAME -->`` becomes the table of ``docs/measurements/NAME.json`` (the JSON the
command wrote, with the date, command and machine that produced it), drawn by the renderer of NAME's first word
(``demo``, ``speed``, ``kernels``, ``backends``, ``detail``, ``app``, ``ceiling``, ``gpu``, ``training``,
``predict``); the
README's copy of a table is checked against the same rendering by tests/test_docs.py.

The speed summary: ``<!-- speed-summary -->`` becomes ``speed_summary_table``, the fastest path on every CPU
measured, from the speed and backends files ``SPEED_SUMMARY`` lists; the README holds a copy (checked by the tests).

The choices of ``model export --fastest``: docs/benchmarks.md holds the table ``fastest_table`` renders from
``mgd_sam2.inference.fastest.FASTEST`` (a copy, so that the page reads the same on GitHub; tests/test_docs.py checks
it).

The CLI reference:
``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces it with ``mgd-sam2 --help`` and
each subcommand's ``format_help()`` (nested actions such as ``benchmark speed`` and ``model export`` too), built by
``mgd_sam2.cli.subcommand_parser``, the function ``mgd-sam2`` itself parses with. ``fit``, ``validate`` and ``test``
are LightningCLI's: their help lists every option of the model, data and trainer, so the page gives the command
that prints it. The build needs the package importable (``make docs`` runs in the project's environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from pathlib import Path

MARKER = "<!-- cli-reference -->"
SUMMARY_MARKER = "<!-- speed-summary -->"
MEASURED = re.compile(r"<!-- measured: ([a-z0-9_]+) -->")
MEASUREMENTS = Path(__file__).resolve().parents[1] / "docs" / "measurements"

DEMO_SPLITS = {"SYN-TE": "SYN-TE", "SYN-HO": "SYN-HO (held-out families)"}
DEMO_KINDS = {"before": "untrained", "constant": "constant (mean training mask)", "after": "trained (best checkpoint)"}


def demo_table(measurement: dict) -> str:
    """The demo's untrained / constant / trained table from its report (``runs/demo/report.json``'s layout)."""
    report = measurement["report"]
    lines = ["| split | | Sα↑ | maxFβ↑ | MAE↓ |", "|---|---|---|---|---|"]
    for split, split_label in DEMO_SPLITS.items():
        for kind, kind_label in DEMO_KINDS.items():
            values = [f"{report[kind][split][key]:.3f}" for key in ("Smeasure", "maxFm", "MAE")]
            if kind == "after":
                values = [f"**{value}**" for value in values]
            lines.append(f"| {split_label} | {kind_label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


SPEED_COLUMNS = {  # (backend, precision) of `benchmark speed` -> column
    ("torch", "32-true"): "torch fp32",
    ("torch", "bf16-mixed"): "torch bf16",
    ("onnx", "32-true"): "ONNX Runtime fp32",
    ("onnx-int8", "32-true"): "ONNX Runtime int8",
    ("openvino", "32-true"): "OpenVINO fp32",
    ("openvino", "bf16-mixed"): "OpenVINO bf16",
    ("openvino-int8", "32-true"): "OpenVINO int8 (fp32)",
    ("openvino-int8", "bf16-mixed"): "OpenVINO int8 (bf16)",
}
SPEED_PARTS = ("Hiera trunk", "DRM", "HMIM", "MPAdapter", "SAM2 decoder", "FPN neck", "MCEM")


def speed_table(measurement: dict) -> str:
    """``benchmark speed``'s results: ms per image by part (share of the network; runs with ``--profile``),
    latency, throughput against torch fp32 (with ``--interleave``, also the paired speed-up, and where the turn
    order was kept, each place's median and the first and last round), the probabilities'
    distance from torch fp32, the peak host memory (not with ``--interleave``: one process for all) and each export's
    largest step's (a process of its own; interleaved runs before 2026-12-05 have none)."""
    runs = [run for run in measurement["speed"] if (run["backend"], run["precision"]) in SPEED_COLUMNS]
    baseline = next(run for run in runs if (run["backend"], run["precision"]) == ("torch", "32-true"))
    header = ["part", *[SPEED_COLUMNS[run["backend"], run["precision"]] for run in runs]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}".replace(",", " ")

    if all(run.get("parts_s") for run in runs):  # measured with --profile
        for part in SPEED_PARTS:
            row(part, [f"{ms(run['parts_s'][part])} ({run['parts_s'][part] / run['parts_s']['network']:.0%})"
                       .replace("%", " %") for run in runs])  # fmt: skip
        row("other (glue; exported: nodes fused beyond recognition)", [ms(run["parts_s"]["other"]) for run in runs])
        for part in ("pre-processing", "post-processing"):
            row(part, [ms(run["parts_s"][part]) for run in runs])
    row("**latency p50, network**", [f"**{ms(run['latency_ms_p50'] / 1000)}**" for run in runs])
    row("throughput vs torch fp32", [f"{run['throughput_img_s'] / baseline['throughput_img_s']:.2f}×" for run in runs])
    if "interleaved" in measurement:  # `--interleave`: the paired speed-up over the first configuration
        if measurement["speed"][0] is not baseline:
            raise ValueError("an interleaved speed file's first configuration must be torch fp32 for this table")
        row("vs torch fp32, paired passes (median)", [f"{run['paired_speedup_vs_first']:.2f}×" for run in runs])
        if "orders" in measurement["interleaved"]:  # balanced turns (since 2026-12-05) keep every pass
            places = [" / ".join("—" if seconds is None else f"{seconds:.2f}" for seconds in by_place(measurement, run))
                      for run in runs]  # fmt: skip
            row("p50 by place in the round (s: 1st / 2nd / …)", places)
            ends = [f"{run['latencies_ms'][0] / 1000:.2f}, {run['latencies_ms'][-1] / 1000:.2f}" for run in runs]
            row("first round, last round (s)", ends)
    row("probabilities vs torch fp32 (mean abs)",
        ["—" if run is baseline else f"{run['sigmoid_diff_vs_fp32']:.1e}" for run in runs])  # fmt: skip
    if "interleaved" not in measurement:  # else one process for every column
        row("peak host memory (GiB)", [f"{run['peak_host_memory_mb'] / 1024:.1f}" for run in runs])
    exports = [run.get("export_peak_memory_mb") for run in runs]  # None: PyTorch, which exports nothing
    if any(exports):  # interleaved runs before the steps reported their own peaks have none
        row("largest export step's peak (GiB)", [f"{peak / 1024:.1f}" if peak else "—" for peak in exports])
    return "\n".join(lines) + "\n"


SPEED_SUMMARY = (  # (CPU kind of `model export --fastest`, the CPU measured, one-run speed files, interleaved
    # speed files, `benchmark backends` files of the demo model on that CPU)
    ("amx", "Intel Xeon", ("speed_intel_xeon_amx",), (), ("backends_demo_intel_xeon_amx",)),
    ("amx", "Intel Xeon (model 167)", ("speed_intel_xeon_amx_model167", "speed_intel_xeon_amx_model167_afternoon",
                                       "speed_intel_xeon_amx_model167_evening"), (),
     ("backends_demo_intel_xeon_amx_model167",)),
    ("avx512_bf16", "AMD EPYC Zen 4", ("speed_amd_epyc_avx512",), (), ("backends_demo",)),
    ("avx512_bf16", "AMD EPYC Zen 4 (model 17)",
     ("speed_amd_epyc_zen4_model17", "speed_amd_epyc_zen4_model17_later_export"),
     ("speed_amd_epyc_zen4_model17_interleaved", "speed_amd_epyc_zen4_model17_tokens",
      "speed_amd_epyc_zen4_model17_balanced", "speed_amd_epyc_zen4_model17_period",
      "speed_amd_epyc_zen4_model17_later_export_interleaved"),
     ("backends_demo_amd_epyc_zen4_model17",)),
    ("avx512_bf16", "AMD EPYC Zen 5", ("speed_amd_epyc_zen5", "speed_amd_epyc_zen5_later_export"),
     ("speed_amd_epyc_zen5_later_export_interleaved", "speed_amd_epyc_zen5_next_day_interleaved"),
     ("backends_demo_amd_epyc_zen5", "backends_demo_amd_epyc_zen5_later_export")),
    ("avx512_vnni", "emulated on a Zen 5", ("speed_amd_epyc_avx512_vnni_emulated",), (),
     ("backends_demo_avx512_vnni_emulated",)),
    ("avx512", "emulated on a Zen 5", ("speed_amd_epyc_avx512_emulated",), (), ("backends_demo_avx512_emulated",)),
    ("avx2_vnni", "emulated on a Zen 5", ("speed_amd_epyc_avx2_vnni_emulated",), (),
     ("backends_demo_avx2_vnni_emulated",)),
    ("avx2", "AMD EPYC Zen 3", ("speed_amd_epyc_avx2",), ("speed_amd_epyc_avx2_interleaved",),
     ("backends_demo_amd_epyc_avx2",)),
    ("avx2", "emulated on a Zen 4", ("speed_amd_epyc_avx2_emulated",), (), ()),
)  # fmt: skip


def read(name: str) -> dict:
    """docs/measurements/NAME.json."""
    return json.loads((MEASUREMENTS / f"{name}.json").read_text())


def fastest_run(measurement: dict) -> tuple[dict, dict]:
    """(torch fp32's run, the run of the highest throughput) of one ``benchmark speed`` file."""
    runs = measurement["speed"]
    baseline = next(run for run in runs if (run["backend"], run["precision"]) == ("torch", "32-true"))
    return baseline, max(runs, key=lambda run: run["throughput_img_s"])


def backends_label(backend: str, precision: str) -> str:
    """``benchmark backends``' label of the path that ``benchmark speed`` calls (``backend``, ``precision``): speed
    names an export by its form where it is quantized, else by the runtime (OpenVINO runs the fp32 ONNX file)."""
    from mgd_sam2.benchmark.backends import RUNS

    return next(run.label for run in RUNS if run.precision == precision and
                (run.form if run.form.endswith("-int8") else run.backend) == backend)  # fmt: skip


def smeasure_moved(measurement: dict, label: str) -> float:
    """The largest change of S-measure from torch fp32's, over the splits of one ``benchmark backends`` file, of the
    row ``label``."""
    scores = {row["label"]: row.get("scores") for row in measurement["backends"]}  # none where a row was skipped
    reference = scores["torch fp32"]
    return max(abs(values["Smeasure"] - reference[split]["Smeasure"]) for split, values in scores[label].items())


def speed_summary_table() -> str:
    """The fastest path's speed-up over PyTorch fp32 on every CPU measured, a row per CPU: its throughput ratio in
    each one-run file (every configuration in a process of its own) and the median of the paired rounds in each
    interleaved file (``--interleave``), each with its date (month-day); then how far it moved the demo model's
    S-measure from torch fp32's there (the largest over the splits, in each backends file). The path is the fastest
    of the CPU's newest one-run file; the interleaved and accuracy figures are that path's."""
    lines = [
        "| CPU kind | CPU (2 cores) | fastest path measured | × PyTorch fp32, one run | × PyTorch fp32, interleaved "
        "| Sα moved from fp32 |",
        "|---|---|---|---|---|---|",
    ]
    for kind, cpu, single, interleaved, accuracy in SPEED_SUMMARY:
        path = fastest_run(read(single[-1]))[1]
        key = (path["backend"], path["precision"])
        ratios = []
        for name in single:
            measured = read(name)
            baseline, fastest = fastest_run(measured)
            ratios.append(f"{fastest['throughput_img_s'] / baseline['throughput_img_s']:.2f} ({measured['date'][5:]})")
        paired = []
        for name in interleaved:
            measured = read(name)
            run = next(run for run in measured["speed"] if (run["backend"], run["precision"]) == key)
            paired.append(f"{run['paired_speedup_vs_first']:.2f} ({measured['date'][5:]})")
        moved = [f"{smeasure_moved(read(name), backends_label(*key)):.4f}" for name in accuracy]
        cells = [kind, cpu, SPEED_COLUMNS[key], ", ".join(ratios), ", ".join(paired) or "—",
                 ", ".join(moved) or "not measured"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def by_place(measurement: dict, run: dict) -> list[float | None]:
    """An interleaved run's median latency (s) of configuration ``run`` at each place of the rounds' turn order
    (None where it never took that place: fewer rounds than configurations)."""
    orders = measurement["interleaved"]["orders"]
    index = next(i for i, other in enumerate(measurement["speed"]) if other is run)
    places: dict[int, list[float]] = {}
    for order, latency in zip(orders, run["latencies_ms"], strict=True):
        places.setdefault(order.index(index), []).append(latency / 1000)
    return [statistics.median(places[place]) if place in places else None for place in range(len(orders[0]))]


def kernels_table(measurement: dict) -> str:
    """A ``benchmark speed --profile`` run of exported backends by kernel: ms per pass and share of the pass for
    every kernel that took at least 1 % of some column's pass (longest in the first column first; the CLI's
    ``kernel_rows`` cuts each run alone), the rest in one row."""
    runs = [run for run in measurement["speed"] if run["kernels_s"]]
    header = ["kernel", *[SPEED_COLUMNS[run["backend"], run["precision"]] for run in runs]]
    shown = [kernel for kernel in {kernel: None for run in runs for kernel in run["kernels_s"]}
             if any(run["kernels_s"].get(kernel, 0) >= 0.01 * run["parts_s"]["network"] for run in runs)]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(run: dict, seconds: float | None) -> str:  # None: a kernel this runtime does not have
        if seconds is None:
            return "—"
        return f"{seconds * 1000:.0f} ({seconds / run['parts_s']['network']:.0%})".replace("%", " %")

    for kernel in shown:
        lines.append(f"| `{kernel}` | " + " | ".join(cell(run, run["kernels_s"].get(kernel)) for run in runs) + " |")
    rest = [sum(run["kernels_s"].values()) - sum(run["kernels_s"].get(kernel, 0.0) for kernel in shown) for run in runs]
    lines.append(
        "| the others | " + " | ".join(cell(run, seconds) for run, seconds in zip(runs, rest, strict=True)) + " |"
    )
    lines.append("| **the pass** | " + " | ".join(f"**{run['parts_s']['network'] * 1000:.0f}**" for run in runs) + " |")
    return "\n".join(lines) + "\n"


def backends_table(measurement: dict) -> str:
    """``benchmark backends``' rows: each configuration's Sα and MAE per split and its maps' distance from torch
    fp32 in grey levels."""
    rows = measurement["backends"]
    splits = list(next(row for row in rows if "scores" in row)["scores"])
    header = ["configuration", *[f"{split} Sα" for split in splits], " / ".join(splits) + " MAE",
              "8-bit maps vs torch fp32"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if "skipped" in row:
            lines.append(
                f"| {row['label']} | " + " | ".join(["—"] * (len(header) - 2)) + f" | skipped: {row['skipped']} |"
            )
            continue
        scores = row["scores"]
        distance = row["maps_vs_fp32"]
        if row["label"] == "torch fp32":
            shown = "—"
        elif distance["mean"] < 0.005:
            shown = f"max {distance['max']} level{'s' * (distance['max'] != 1)}"
        else:
            shown = f"mean {distance['mean']:.2f}, max {distance['max']} levels"
        cells = [f"{scores[split]['Smeasure']:.4f}" for split in splits]
        cells += [" / ".join(f"{scores[split]['MAE']:.4f}" for split in splits), shown]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def signed(value: float, digits: int) -> str:
    """``value`` with its sign, a true minus sign for negatives; no sign where it rounds to zero."""
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text.replace("-", "−")


def change_cell(row: dict, key: str, digits: int = 3) -> str:
    """A change against ``off`` and its 95 % bootstrap interval, as ``+0.050 (+0.020 to +0.080)``; for HCEγ's ratio
    (``HCE_ratio``) in percent, as ``−20 % (−30 to −10 %)``."""
    low, high = row[f"{key}_interval"]
    if key == "HCE_ratio":
        percent = [signed(100 * (value - 1), 0) for value in (row[key], low, high)]
        return f"{percent[0]} % ({percent[1]} to {percent[2]} %)"
    return f"{signed(row[key], digits)} ({signed(low, digits)} to {signed(high, digits)})"


def timed(value: float | None, unit: str) -> str:
    """A time or time ratio to two decimals with ``unit``; a dash for a row that is not timed (the empty mask)."""
    return "—" if value is None else f"{value:.2f}{unit}"


def detail_table(measurement: dict) -> str:
    """``benchmark detail``'s two tables: each mode's scores at GT resolution with its change against ``off`` (the
    first row) and that change's 95 % bootstrap interval over the images (the last row: an empty mask, not timed),
    then time and peak memory per image size and mode."""
    accuracy = measurement["accuracy"]
    lines = ["| mode | Sα↑ | maxFβ↑ | mBA↑ | HCEγ↓ | s / image | Sα vs off | mBA vs off | HCEγ vs off | time vs off |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    changes = ("Smeasure_gain", "mBA_gain", "HCE_ratio")
    for row in accuracy:
        cells = ["—"] * len(changes) if row is accuracy[0] else [change_cell(row, key) for key in changes]
        lines.append(
            f"| {row['configuration']} | {row['Smeasure']:.3f} | {row['maxFm']:.3f} | {row['mBA']:.3f} | "
            f"{row['HCE']:.0f} | {timed(row['s_per_image'], '')} | "
            + " | ".join(cells)
            + f" | {timed(row['time_ratio'], '×')} |"
        )
    lines += ["", f"Time and peak memory per image, {measurement['cost'][0]['preset']} with random weights (every "
              "probability near 0.5, so every tile runs):", "",
              "| megapixels | image | mode | passes | s | time vs off | peak memory (GiB) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in measurement["cost"]:
        lines.append(
            f"| {row['megapixels']:g} | {row['width']}×{row['height']} | {row['configuration']} | {row['passes']} | "
            f"{row['seconds']:.3g} | {row['time_ratio']:.2f}× | {row['peak_rss_mb'] / 1024:.2f} |"
        )
    return "\n".join(lines) + "\n"


def app_table(measurement: dict) -> str:
    """``benchmark app``'s rows: seconds from the app's start to its page and to the first mask, seconds per photo,
    the app's memory."""
    header = "| weights | page up after start | first mask after start | photo | s per photo | app memory (RSS, peak) |"
    lines = [header, "|---|---|---|---|---|---|"]
    for row in measurement["app"]:
        lines.append(
            f"| {row['weights']} | {row['page_up_s']:.1f} s | {row['first_mask_s']:.1f} s | {row['photo']} | "
            f"{row['s_per_image']:.2f} | {row['rss_mb'] / 1024:.2f} GiB ({row['peak_rss_mb'] / 1024:.2f} GiB) |"
        )
    return "\n".join(lines) + "\n"


def metrics_table(measurement: dict) -> str:
    """``benchmark metrics``: the evaluator against pysodmetrics alone (seconds: every metric over a folder, the F- and
    E-measure curves, HCE per image by side), then one large pair's memory in a fresh process."""
    evaluation, curves = measurement["evaluation"], measurement["curves"]
    lines = ["| what | pysodmetrics | ours | speed-up |", "|---|---|---|---|"]
    for label, cached in (("cold", "cold skeleton cache"), ("warm", "warm skeleton cache")):
        lines.append(
            f"| every metric, {evaluation['pairs']} pairs of {evaluation['size']}², {evaluation['workers']} workers, "
            f"{cached} | {evaluation['pysodmetrics_s']:.1f} s | {evaluation[f'ours_{label}_cache_s']:.1f} s | "
            f"{evaluation[f'speedup_{label}']:.2f}× |"
        )
    lines.append(
        f"| F- and E-measure curves, {curves['pairs']} pairs of {curves['size']}², one process | "
        f"{curves['pysodmetrics_s']:.2f} s | {curves['ours_s']:.2f} s | {curves['speedup']:.2f}× |"
    )
    for row in measurement["hce"]:
        lines.append(
            f"| HCEγ of one {row['size']}² pair (cached skeleton) | {row['pysodmetrics_s']:.3f} s | "
            f"{row['ours_cold_s']:.3f} s ({row['ours_cached_s']:.3f} s) | "
            f"{row['pysodmetrics_s'] / row['ours_cold_s']:.2f}× ({row['pysodmetrics_s'] / row['ours_cached_s']:.2f}×) |"
        )
    memory = measurement["memory"]
    lines += [
        "",
        "| pair scored (every metric) | process before | its peak while scoring | bytes per pixel above it |",
        "|---|---|---|---|",
        f"| {memory['width']}×{memory['height']} | {memory['started_rss_mb'] / 1024:.2f} GiB | "
        f"{memory['peak_rss_mb'] / 1024:.2f} GiB | {memory['bytes_per_pixel']:.1f} |",
    ]
    return "\n".join(lines) + "\n"


def ceiling_table(measurement: dict) -> str:
    """``benchmark ceiling``: each path's ceiling and its bound on the speed-up over torch fp32, beside what
    ``benchmark speed`` measured for it; then the operations and peak rates the ceilings rest on."""
    from mgd_sam2.benchmark.ceiling import KINDS

    lines = ["| path | ceiling (s) | at most × torch fp32 | measured (s) | measured × torch fp32 | share of ceiling |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in measurement["ceilings"]:
        measured = "— | — | —"
        if row.get("measured_s") is not None:
            measured = (f"{row['measured_s']:.2f} | {row['measured_speedup_vs_torch_fp32']:.2f}× | "
                        f"{row['share_of_ceiling']:.0%}")  # fmt: skip
        lines.append(
            f"| {row['path']} | {row['ceiling_s']:.2f} | {row['max_speedup_vs_torch_fp32']:.2f}× | {measured} |"
        )
    kinds = {kind: sum(part[kind] for part in measurement["gflop"].values()) for kind in KINDS}
    rates = ", ".join(f"{key} {value:.0f}" for key, value in measurement["peak_gflop_s"].items())
    baseline = measurement.get("speedup_baseline_s", measurement["torch_fp32_s"])
    return "\n".join(lines) + (
        f"\n\nOperations of one {measurement['preset']} prediction: {measurement['gflop_total']:.0f} GFLOP "
        f"(Linear layers {kinds['linear']:.0f}, convolutions {kinds['conv']:.0f}, attention {kinds['attention']:.0f}). "
        f"Peak rates, GFLOP/s of one {measurement['product_side']}-square product: {rates}. The speed-ups are over "
        f"the {measurement['speedup_baseline']} ({baseline:.2f} s per prediction; this command's own torch fp32 run "
        f"took {measurement['torch_fp32_s']:.2f} s).\n"
    )


def gpu_table(measurement: dict) -> str:
    """``benchmark speed --device cuda``'s runs: latency, throughput, peak GPU memory and the probabilities'
    distance from fp32 per batch and precision; with ``--profile``, then ms per image by part."""
    runs = measurement["speed"]
    lines = ["| batch | precision | pass | latency p50 (ms) | latency p90 (ms) | images/s | peak GPU memory (GiB) | "
             "probabilities vs fp32 (mean abs) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for run in runs:
        distance = run["sigmoid_diff_vs_fp32"]  # None for a training step; 0 for fp32 itself
        memory = run["peak_gpu_memory_mb"]
        lines.append(
            f"| {run['batch']} | {run['precision']} | {passes(run)} | "
            f"{run['latency_ms_p50']:.1f} | {run['latency_ms_p90']:.1f} | {run['throughput_img_s']:.1f} | "
            f"{'—' if memory is None else f'{memory / 1024:.1f}'} | "
            f"{'—' if run['precision'] == '32-true' or distance is None else f'{distance:.1e}'} |"
        )
    profiled = [run for run in runs if run.get("parts_s")]
    if profiled:
        header = ["part (ms per image, each part synchronised)",
                  *[f"batch {run['batch']}, {run['precision']}" for run in profiled]]  # fmt: skip
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for part in (*SPEED_PARTS, "other", "network", "pre-processing", "post-processing"):
            cells = [f"{run['parts_s'][part] * 1000:.1f}" for run in profiled]
            lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def passes(run: dict) -> str:
    """What a speed run timed: a training step or an inference pass, eager or under torch.compile."""
    return ("training step" if run["train"] else "inference") + (" (torch.compile)" if run["compile"] else "")


def predict_table(measurement: dict) -> str:
    """``benchmark predict``'s rows: the network alone against `predict` end to end (read, views, network, maps
    written) per batch size and loader-process count, and the writer thread's time per image."""
    lines = ["| images (mean MP) | batch | loader processes | network alone (images/s) | end to end (images/s) | "
             "end to end / network | writing (ms per image, writer thread) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip

    def rate(images_s: float) -> str:  # a CPU's one image per second keeps two digits, as a GPU's tens do
        return f"{images_s:.2f}" if images_s < 10 else f"{images_s:.1f}"

    for row in measurement["predict"]:
        lines.append(
            f"| {row['images']} ({row['megapixels_mean']:.1f}) | {row['batch']} | {row['workers']} | "
            f"{rate(row['network_img_s'])} | {rate(row['end_to_end_img_s'])} | {row['end_to_end_vs_network']:.2f} | "
            f"{row['writing_ms_per_image']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def training_table(measurement: dict) -> str:
    """A short training run's logged scores: the validation split at each validation, then the best checkpoint's
    test split against the constant baseline (the mean training mask)."""
    scalars = measurement["scalars"]
    keys = {"Smeasure": "Sα↑", "wFmeasure": "wFβ↑", "MAE": "MAE↓", "maxFm": "maxFβ↑", "mBA": "mBA↑", "HCE": "HCEγ↓"}
    (split,) = {tag.split("/")[1] for tag in scalars if tag.startswith("val/") and tag.count("/") == 2}
    lines = [f"| {split} after step | " + " | ".join(list(keys.values())[:4]) + " |", "|---|---|---|---|---|"]
    for index, (step, _) in enumerate(scalars[f"val/{split}/Smeasure"]):
        cells = [f"{scalars[f'val/{split}/{key}'][index][1]:.3f}" for key in list(keys)[:4]]
        lines.append(f"| {step + 1} | " + " | ".join(cells) + " |")
    (test,) = {key.removeprefix("constant_") for key in measurement if key.startswith("constant_")}
    constant = measurement[f"constant_{test}"]
    lines += ["", f"| {test} | " + " | ".join(keys.values()) + " |", "|---|---|---|---|---|---|---|"]
    lines.append("| trained (best checkpoint) | " + " | ".join(
        f"{scalars[f'test/{test}/{key}'][-1][1]:.{0 if key == 'HCE' else 3}f}" for key in keys) + " |")  # fmt: skip
    lines.append("| constant (mean training mask) | " + " | ".join(
        f"{constant[key]:.{0 if key == 'HCE' else 3}f}" for key in keys) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


TABLES = {
    "demo": demo_table,
    "speed": speed_table,
    "kernels": kernels_table,
    "backends": backends_table,
    "detail": detail_table,
    "app": app_table,
    "metrics": metrics_table,
    "ceiling": ceiling_table,
    "gpu": gpu_table,
    "training": training_table,
    "predict": predict_table,
}  # by the measurement's name's first word; fmt: skip


def measured_table(name: str) -> str:
    """The table of docs/measurements/NAME.json, then a line saying where and how it was measured."""
    measurement = json.loads((MEASUREMENTS / f"{name}.json").read_text())
    source = (
        f"*Measured by `{measurement['command']}` on {measurement['date']}, {measurement['machine']}; "
        f"the numbers: [measurements/{name}.json](measurements/{name}.json).*\n"
    )
    return TABLES[name.split("_")[0]](measurement) + "\n" + source


def fastest_table() -> str:
    """``model export --fastest``'s choice for each CPU kind, and why (from the code's table)."""
    from mgd_sam2.inference.cpu_kind import KIND_FLAGS
    from mgd_sam2.inference.fastest import FASTEST, PRECISION_NAMES, RUNTIMES

    lines = ["| CPU kind | path | precision recorded | why |", "|---|---|---|---|"]
    for kind, path in FASTEST.items():
        flag = f"`{KIND_FLAGS[kind]}`" if kind in KIND_FLAGS else "none of these flags"
        lines.append(
            f"| {kind} ({flag}) | {RUNTIMES[path.backend]} | {PRECISION_NAMES[path.precision]} | {path.basis} |"
        )
    return "\n".join(lines) + "\n"


def _nested(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of every sub-action of ``parser``, depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((name, sub))
                found.extend(_nested(sub))
    return found


def _block(title: str, text: str) -> str:
    return f"### `{title}`\n\n```text\n{text.rstrip()}\n```\n"


def _lightning_help(name: str) -> str:
    """LightningCLI's ``--help`` of one subcommand, as ``mgd-sam2 NAME --help`` prints it."""
    import contextlib
    import io

    from mgd_sam2.training.cli import build_cli

    out = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):
        build_cli([name, "--help"])
    return out.getvalue()


def cli_reference(lightning_help: bool = True) -> str:
    """The Markdown of the CLI reference: one fenced help text per (sub)command (``fit``'s, which imports
    Lightning and takes seconds, unless ``lightning_help`` is false)."""
    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal width: fix it so the page is the same everywhere
    from mgd_sam2.cli import COMMANDS, LIGHTNING_COMMANDS, subcommand_parser, top_level_help

    parts = ["## `mgd-sam2`\n", "```text\n" + top_level_help().rstrip() + "\n```\n"]
    for name, (text, _) in COMMANDS.items():
        parts.append(f"## `mgd-sam2 {name}`\n")
        if name in LIGHTNING_COMMANDS:
            parts.append(
                f"{text}. This is Lightning's `LightningCLI`: `mgd-sam2 {name} --help` prints every option of the "
                f"model, data and trainer, and `mgd-sam2 {name} -c lightning_config.yaml --print_config` the "
                "resolved configuration.\n"
            )
            if name == "fit" and lightning_help:
                help_text = "\n".join("    " + line for line in _lightning_help(name).rstrip().splitlines())
                parts.append(f'??? note "`mgd-sam2 fit --help`"\n\n    ```text\n{help_text}\n    ```\n')
            continue
        parser = subcommand_parser(name)
        parts.append("```text\n" + parser.format_help().rstrip() + "\n```\n")
        for sub_name, sub in _nested(parser):
            parts.append(_block(f"{parser.prog} {sub_name}", sub.format_help()))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs' hook signature)
    markdown = MEASURED.sub(lambda match: measured_table(match.group(1)), markdown)
    if SUMMARY_MARKER in markdown:
        markdown = markdown.replace(SUMMARY_MARKER, speed_summary_table())
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
