"""Result tables in the layouts of published DIS and HRSOD papers (the evaluation section of docs/design.md)."""

from __future__ import annotations

import csv
import io
import math

# layout -> [(result key, column header)]
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    # DIS paper, Table 2 (DIS5K): maxF, weighted F, MAE, S, mean E, HCE
    "dis": [
        ("maxFm", "maxFβ↑"),
        ("wFmeasure", "Fβw↑"),
        ("MAE", "M↓"),
        ("Smeasure", "Sα↑"),
        ("meanEm", "Eφm↑"),
        ("HCE", "HCEγ↓"),
    ],
    # InSPyReNet Table 3 (HRSOD-TE, UHRSD-TE, DAVIS-S): S, maxF, MAE, mBA
    "hrsod": [("Smeasure", "Sα↑"), ("maxFm", "maxFβ↑"), ("MAE", "MAE↓"), ("mBA", "mBA↑")],
    # everything we compute
    "all": [
        ("Smeasure", "Sα↑"),
        ("maxFm", "maxFβ↑"),
        ("meanFm", "meanFβ↑"),
        ("adpFm", "adpFβ↑"),
        ("wFmeasure", "Fβw↑"),
        ("MAE", "MAE↓"),
        ("maxEm", "maxEφ↑"),
        ("meanEm", "Eφm↑"),
        ("adpEm", "adpEφ↑"),
        ("HCE", "HCEγ↓"),
        ("mBA", "mBA↑"),
    ],
}
DIS_TEST_SPLITS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")

# table layout -> (title, the splits of its rows in order)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "dis": (
        "DIS5K (DIS paper, Table 2 layout)",
        ["DIS5K/DIS-VD", "DIS5K/DIS-TE1", "DIS5K/DIS-TE2", "DIS5K/DIS-TE3", "DIS5K/DIS-TE4"],
    ),
    "hrsod": ("High-resolution SOD (InSPyReNet, Table 3 layout)", ["HRSOD/HRSOD-TE", "UHRSD/UHRSD-TE", "DAVIS-S"]),
}
BENCHMARK_SPLITS = tuple(spec.split("/")[-1] for _, specs in BENCHMARKS.values() for spec in specs)  # their names
# images in each benchmark split as published (data/README.md): a table of fewer or more does not compare
PUBLISHED_IMAGES = {"DIS-VD": 470, "DIS-TE1": 500, "DIS-TE2": 500, "DIS-TE3": 500, "DIS-TE4": 500, "HRSOD-TE": 400,
                    "UHRSD-TE": 988, "DAVIS-S": 92}  # fmt: skip
OVERALL = "Overall DIS-TE(1-4)"


def format_value(key: str, value: float | None) -> str:
    """Three decimals as in the papers; HCE as an integer (BiRefNet's ``int(hce.round())``); "–" where there is
    no value, "n/a" where it is undefined (NaN: mBA with no GT boundary)."""
    if value is None:
        return "–"
    if math.isnan(value):
        return "n/a"
    return str(int(round(value))) if key == "HCE" else f"{value:.3f}"


def with_dis_overall(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Add the DIS paper's "Overall DIS-TE(1-4)" row, the plain mean of the four test subsets, when all four are
    present."""
    if not all(split in rows for split in DIS_TEST_SPLITS):
        return rows
    keys = set.intersection(*(set(rows[split]) for split in DIS_TEST_SPLITS))
    overall = {key: sum(rows[split][key] for split in DIS_TEST_SPLITS) / len(DIS_TEST_SPLITS) for key in keys}
    return {**rows, OVERALL: overall}


def columns(layout: str) -> list[tuple[str, str]]:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown table layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return LAYOUTS[layout]


def markdown_table(rows: dict[str, dict[str, float]], layout: str, computed: bool = False) -> str:
    """A Markdown table of ``rows`` in ``layout``'s columns; ``computed``: only the columns some row has a value of
    (as `rich_table`)."""
    shown = shown_columns(rows, layout, computed)
    header = ["set"] + [title for _, title in shown]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, scores in rows.items():
        lines.append("| " + " | ".join([name] + [format_value(key, scores.get(key)) for key, _ in shown]) + " |")
    return "\n".join(lines) + "\n"


def shown_columns(rows: dict[str, dict[str, float]], layout: str, computed: bool) -> list[tuple[str, str]]:
    """``layout``'s (key, title) columns; ``computed``: only those some row has a value of."""
    return [(key, title) for key, title in columns(layout)
            if not computed or any(key in scores for scores in rows.values())]  # fmt: skip


def csv_table(rows: dict[str, dict[str, float]], layout: str) -> str:
    """Full precision CSV with the result keys as column names."""
    keys = [key for key, _ in columns(layout)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["set"] + keys)
    for name, scores in rows.items():
        writer.writerow([name] + ["" if scores.get(key) is None else repr(float(scores[key])) for key in keys])
    return buffer.getvalue()


def rich_table(rows: dict[str, dict[str, float]], layout: str, title: str, computed: bool = False):
    """A rich Table of ``rows`` in ``layout``'s columns; ``computed``: only the columns some row has a value of."""
    from rich.table import Table

    shown = shown_columns(rows, layout, computed)
    table = Table(title=title, min_width=len(title))  # a narrow table (one column) would wrap its title
    table.add_column("set")
    for _, header in shown:
        table.add_column(header, justify="right")
    for name, scores in rows.items():
        table.add_row(name, *[format_value(key, scores.get(key)) for key, _ in shown])
    return table
