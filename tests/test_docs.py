"""Every command the README and the documentation site show runs against today's CLI (issue 25).

Each ``mgd-sam2`` line of a fenced shell block is parsed by the parser ``mgd-sam2`` itself uses
(``mgd_sam2.cli.subcommand_parser``); LightningCLI's subcommands (``fit``, ``validate``, ``test``, ``predict -c``)
by its parser, with their config file. Each ``make`` line names a Makefile target, and every
inline ``mgd-sam2 NAME`` names a subcommand. The CLI reference page is generated from the same parsers
(``tools/docs_hooks.py``); ``make docs`` builds the site with ``--strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import statistics
import warnings
from pathlib import Path

import numpy as np
import pytest

from mgd_sam2.cli import COMMANDS, LIGHTNING_COMMANDS, subcommand_parser, uses_config

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "checkpoints/README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)


def shell_lines(text: str) -> list[str]:
    """The command lines of the fenced shell blocks of a Markdown text, backslash continuations joined (comment
    lines left out)."""
    lines = []
    for block in FENCE.findall(text):
        lines.extend(line.strip() for line in block.replace("\\\n", " ").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


CONFIG_FENCE = re.compile(r"^```yaml\n(# (\S+\.yaml)\b.*?)^```", re.S | re.M)


def page_configs(pages: list[Path], folder: Path) -> dict[str, Path]:
    """The configs the pages define, written into ``folder``: their YAML blocks whose first line names the file
    (``# mine.yaml: ...``), which their commands then give as ``-c mine.yaml``."""
    written = {}
    for page in pages:
        for text, name in CONFIG_FENCE.findall(page.read_text()):
            written[name] = folder / name
            written[name].write_text(text)
    return written


def cli_lines() -> list[tuple[str, str]]:
    return [
        (page.name, line)
        for page in PAGES
        for line in shell_lines(page.read_text())
        if any(word == "mgd-sam2" or word.endswith("/mgd-sam2") for word in shlex.split(line, comments=True))
    ]


def check_command(line: str, configs: dict[str, Path] | None = None) -> None:
    """Raise AssertionError unless ``line``'s ``mgd-sam2`` command parses against the CLI (``-c NAME`` of a config a
    page defines: that config, in ``configs``)."""
    configs = configs or {}
    words = shlex.split(line, comments=True)
    words = [str(configs[word]) if i and words[i - 1] == "-c" and word in configs else word
             for i, word in enumerate(words)]  # fmt: skip
    start = next(i for i, word in enumerate(words) if word == "mgd-sam2" or word.endswith("/mgd-sam2"))
    args = words[start + 1 :]
    assert args and args[0] in COMMANDS, f"unknown subcommand in: {line}"
    name, rest = args[0], args[1:]
    lightning = name in LIGHTNING_COMMANDS or (name == "predict" and uses_config(rest))
    if lightning:
        config = rest[rest.index("-c") + 1] if "-c" in rest else None
        assert config is None or (ROOT / config).is_file(), f"no config file {config}: {line}"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parse_lightning_cli(args) if lightning else subcommand_parser(name).parse_args(rest)
    except SystemExit:
        raise AssertionError(f"does not parse: {line}\n{errors.getvalue()}") from None


def parse_lightning_cli(args: list[str]) -> None:
    """Parse a LightningCLI command line (subcommand first) as ``mgd-sam2`` does, and no more: no checkpoint is
    read, no class built, nothing run (SystemExit where it does not parse)."""
    from lightning.pytorch.cli import LightningCLI

    from mgd_sam2.data.datamodule import SegmentationDataModule
    from mgd_sam2.training.cli import MGDSAM2CLI, ArgumentParser
    from mgd_sam2.training.module import MGDSAM2Module

    class ParseOnly(MGDSAM2CLI):
        def parse_arguments(self, parser, args) -> None:
            LightningCLI.parse_arguments(self, parser, args)  # not ours: it checks --ckpt_path files

        def _parse_ckpt_path(self) -> None:  # Lightning's: it reads the checkpoint's hyperparameters
            pass

        def before_instantiate_classes(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

        def _run_subcommand(self, subcommand: str) -> None:
            pass

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")  # as build_cli does
        ParseOnly(MGDSAM2Module, SegmentationDataModule, args=args, parser_class=ArgumentParser)


def test_pages_show_commands() -> None:
    lines = cli_lines()
    pages = {page for page, _ in lines}
    assert {"README.md", "prediction.md", "training.md", "benchmarks.md"} <= pages and len(lines) >= 30


@pytest.mark.parametrize(("page", "line"), cli_lines())
def test_command_parses(page: str, line: str, tmp_path: Path) -> None:
    check_command(line, page_configs([path for path in PAGES if path.name == page], tmp_path))


@pytest.mark.parametrize(
    "line",
    [
        "mgd-sam2 predict --ckpt a.ckpt --input in/ --output out/ --no-such-flag",
        "mgd-sam2 predict --input in/",  # --ckpt is required
        "mgd-sam2 benchmark speed --precision fp32",  # spelt 32-true
        "mgd-sam2 no-such-subcommand",
        "mgd-sam2 fit -c no_such_config.yaml",
        "mgd-sam2 fit -c lightning_config.yaml --trainer.devicez 4",  # LightningCLI's flags are parsed too
        "mgd-sam2 test -c lightning_config.yaml --model.tta yes-please",
    ],
)
def test_wrong_command_fails(line: str) -> None:
    with pytest.raises(AssertionError):
        check_command(line)


def test_the_slurm_script_is_valid_bash_whose_command_parses_and_finds_the_configs_runs(tmp_path: Path) -> None:
    """examples/slurm.sbatch: bash accepts it, its fit command parses (SLURM's variables set as srun sets them), each
    job trains its own run (two jobs of one config shared a run folder: a try-out), and it resumes where that run
    saved: its last.ckpt or the requeue checkpoint `SlurmRequeue` writes beside it."""
    import subprocess

    import yaml
    from jsonargparse import Namespace

    from mgd_sam2.training.cli import logger_folder

    script = (ROOT / "examples/slurm.sbatch").read_text()
    subprocess.run(["bash", "-n", str(ROOT / "examples/slurm.sbatch")], check=True)
    (command,) = [line for line in script.replace("\\\n", " ").splitlines() if line.startswith("srun ")]
    values = {"SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4", "SLURM_CPUS_PER_TASK": "8", "RUN": "job_1234"}
    for name, value in values.items():
        command = command.replace(f'"${{{name}}}"', value)
    resume = '${RESUME[@]+"${RESUME[@]}"}'  # (an empty array's "${RESUME[@]}" is an error under set -u in bash < 4.4)
    check_command(command.replace(resume, "--ckpt_path last"))
    check_command(command.replace(resume, ""))
    config = yaml.safe_load((ROOT / "lightning_config.yaml").read_text())
    logger = Namespace(init_args=Namespace(**config["trainer"]["logger"]["init_args"]))
    runs = logger_folder(Namespace(trainer=Namespace(default_root_dir=config["trainer"]["default_root_dir"],
                                                     logger=logger)))  # fmt: skip
    assert f'compgen -G "{runs}/${{RUN}}/checkpoints/last.ckpt"' in script
    choice = "set -euo pipefail\n" + script[script.index("\nJOB=") : script.index("\nsrun ")]
    choice += '\necho "$RUN" ${RESUME[@]+"${RESUME[@]}"}'
    run = tmp_path / runs / "job_1234"

    def chosen(**variables: str) -> str:
        environment = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "1234", **variables}
        done = subprocess.run(["bash", "-c", choice], cwd=tmp_path, env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert chosen() == "job_1234"  # a new job: its own run
    typo = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "1300", "RESUME_JOB": "1243"}  # a mistyped id: refused
    missing = subprocess.run(["bash", "-c", choice], cwd=tmp_path, capture_output=True, text=True, env=typo)
    assert missing.returncode == 1 and "RESUME_JOB=1243: runs/dis5k/job_1243 has no checkpoint" in missing.stderr
    assert chosen(SLURM_ARRAY_JOB_ID="1200", SLURM_ARRAY_TASK_ID="3") == "job_1200_3"  # a job array's task
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("{}")
    assert chosen(SLURM_RESTART_COUNT="1") == "job_1234"  # requeued before its first save: started again
    assert not run.exists() and len(list(run.parent.glob("job_1234_unsaved_*"))) == 1
    for saved in ("last.ckpt", "hpc_ckpt_2.ckpt"):
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run / "checkpoints" / saved).write_bytes(b"")
        assert chosen(SLURM_RESTART_COUNT="1") == "job_1234 --ckpt_path last"  # requeued: continues its run
        assert chosen(SLURM_JOB_ID="1300", RESUME_JOB="1234") == "job_1234 --ckpt_path last"  # asked to continue it
        assert chosen(SLURM_JOB_ID="1300") == "job_1300"  # another job: a new run
        (run / "checkpoints" / saved).unlink()


def test_the_project_pages_make_table_lists_every_target() -> None:
    """docs/project.md's table of make targets has a row for each target ``make help`` lists, and no other."""
    documented = re.findall(
        r"^\| `make ([\w-]+)`(?: / `make ([\w-]+)`)? \|", (ROOT / "docs/project.md").read_text(), re.M
    )
    listed = set(re.findall(r"^([\w-]+):.*## ", (ROOT / "Makefile").read_text(), re.M))
    assert {name for row in documented for name in row if name} == listed


def test_the_benchmark_pages_bounds_are_the_suites() -> None:
    """The demo model's bounds that docs/benchmarks.md defines are the constants the tests hold every path to, and
    the one past which model export warns of a calibrated int8 file."""
    from bounds import QUANTIZED_MAP_MEAN, QUANTIZED_SMEASURE
    from mgd_sam2.inference.export_steps import BOUND_MASK_LEVELS

    assert BOUND_MASK_LEVELS == QUANTIZED_MAP_MEAN

    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    assert (f"a path's 8-bit maps of the demo's trained model are at most {QUANTIZED_MAP_MEAN} grey level from "
            f"PyTorch fp32's on average, and its Sα moves by at most {QUANTIZED_SMEASURE}") in page  # fmt: skip


def test_the_published_split_sizes_are_the_pages() -> None:
    """PUBLISHED_IMAGES (the benchmark's note on a split of another size) has every benchmark split, and its counts are
    those data/README.md and the benchmark page give."""
    from mgd_sam2.metrics.tables import BENCHMARK_SPLITS, PUBLISHED_IMAGES

    assert set(PUBLISHED_IMAGES) == set(BENCHMARK_SPLITS)
    data = (ROOT / "data/README.md").read_text()
    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    for split, count in PUBLISHED_IMAGES.items():
        named = "DIS-TE1–4 500 each" if split.startswith("DIS-TE") else f"{split} {count}"
        assert named in page, split
        row = next(line for line in data.splitlines() if line.startswith(f"| {split.split('-')[0]}"))
        assert str(count) in row, (split, row)


def test_every_python_file_a_page_names_exists() -> None:
    """A ``name.py`` on a page (``models/mcem.py``, or ``mcem.py`` after it) is a file of the repository, so that a
    renamed module cannot leave its old name in the docs; the authors' scripts are theirs."""
    theirs = {"test.py", "train.py"}  # the released code's, which the pages compare with
    files = [str(path.relative_to(ROOT)) for folder in ("src", "tests", "tools", "examples")
             for path in (ROOT / folder).rglob("*.py")]  # fmt: skip
    pages = [*PAGES, ROOT / "data/README.md"]
    named = {(page.name, name.lstrip("./")) for page in pages
             for name in re.findall(r"(?<![\w./-])([\w./-]+\.py)\b", page.read_text())}  # fmt: skip
    missing = [(page, name) for page, name in sorted(named)
               if name not in theirs and not any(f == name or f.endswith(f"/{name}") for f in files)]  # fmt: skip
    assert not missing, missing


def test_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    shown = {
        (page.name, shlex.split(line, comments=True)[1])
        for page in PAGES
        for line in shell_lines(page.read_text())
        if line.startswith("make ")
    }
    assert shown and {target for _, target in shown} <= targets, shown


def test_inline_commands_name_subcommands() -> None:
    for page in PAGES:
        for name in re.findall(r"`(?:\S*/)?mgd-sam2 ([a-z-]+)", page.read_text()):
            assert name in COMMANDS, f"{page.name}: `mgd-sam2 {name}`"


def read_measurement(name: str) -> dict:
    """docs/measurements/NAME.json, as the benchmark command wrote it."""
    return json.loads((ROOT / f"docs/measurements/{name}.json").read_text())


def docs_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "tools/docs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_measured_tables_have_one_source() -> None:
    """The demo's table: the site renders it from docs/measurements/demo.json, the README's copy must equal it."""
    hooks = docs_hooks()
    measurement = read_measurement("demo")
    assert {"command", "date", "machine", "report"} <= set(measurement)
    table = hooks.demo_table(measurement)
    assert table in (ROOT / "README.md").read_text()
    assert "<!-- measured: demo -->" in (ROOT / "docs/index.md").read_text()
    assert table in hooks.on_page_markdown("<!-- measured: demo -->", None, None, None)
    measurement["report"]["after"]["SYN-TE"]["Smeasure"] = 0.5  # a changed figure no longer matches the README
    assert hooks.demo_table(measurement) not in (ROOT / "README.md").read_text()


def test_the_demo_prose_reads_as_its_jsons() -> None:
    """The demo's times and its sentences on both machines (README, index.md) are docs/measurements' figures."""
    ours, avx2 = read_measurement("demo")["report"], read_measurement("demo_amd_epyc_avx2")["report"]
    readme, index = (ROOT / "README.md").read_text(), (ROOT / "docs/index.md").read_text()
    minutes = f"({round(ours['seconds'] / 60)} to {round(avx2['seconds'] / 60)} minutes on 2 cores)"
    assert minutes in readme and minutes in index
    assert f"({ours['seconds']} s, generation included" in readme and f"({ours['seconds']} s, generation" in index
    assert f"the run took {avx2['seconds']} s" in index
    assert f"the same run took {round(avx2['seconds'] / 60)} minutes" in readme
    splits = ("SYN-TE", "SYN-HO")

    def gain(report: dict, split: str, key: str, over: str = "constant") -> float:
        return round(report["after"][split][key] - report[over][split][key], 3)  # the JSONs hold 3 decimals

    assert "(Sα " + " and ".join(f"{avx2['after'][split]['Smeasure']:.3f}" for split in splits) + ")" in readme
    lower = " and ".join(f"{round(ours['after'][s]['Smeasure'] - avx2['after'][s]['Smeasure'], 3):.3f}" for s in splits)
    above = {f"{gain(avx2, split, 'Smeasure'):.2f}" for split in splits}
    assert len(above) == 1 and f"scored {lower} Sα lower, still {above.pop()} Sα above the" in " ".join(index.split())
    assert all(avx2[kind] == ours[kind] for kind in ("before", "constant"))  # "equal the table to every digit"
    smeasure = {f"{gain(ours, split, 'Smeasure'):.2f}" for split in splits}
    fmeasure = sorted(f"{gain(ours, split, 'maxFm'):.2f}" for split in splits)
    assert len(smeasure) == 1
    assert f"beats the constant by {smeasure.pop()} Sα and {'–'.join(fmeasure)} maxFβ on both splits" in index


def test_the_fastest_path_table_is_the_codes() -> None:
    """docs/benchmarks.md shows model export --fastest's choices as inference/fastest.py holds them."""
    from mgd_sam2.inference.cpu_kind import CPU_KINDS
    from mgd_sam2.inference.fastest import FASTEST

    table = docs_hooks().fastest_table()
    assert table in (ROOT / "docs/benchmarks.md").read_text()
    assert [line.split(" ")[1] for line in table.splitlines()[2:]] == list(CPU_KINDS)
    assert all(path.basis in table for path in FASTEST.values())


def test_cli_reference_covers_every_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = docs_hooks()
    monkeypatch.setenv("COLUMNS", "110")
    page = (ROOT / "docs/cli.md").read_text().replace(hooks.MARKER, hooks.cli_reference(lightning_help=False))
    for name in COMMANDS:
        assert f"## `mgd-sam2 {name}`" in page
    assert hooks.MARKER in (ROOT / "docs/cli.md").read_text()
    assert "### `mgd-sam2 benchmark speed`" in page and "### `mgd-sam2 model export`" in page
    assert subcommand_parser("predict").format_help().strip() in page
    assert "\n       mgd-sam2 predict -c CONFIG [LightningCLI predict options]\n" in page  # its second form's usage
    with pytest.raises(ValueError):
        subcommand_parser("fit")
    assert isinstance(subcommand_parser("evaluate"), argparse.ArgumentParser)


def test_every_nested_action_describes_itself_in_its_own_help() -> None:
    """``benchmark metrics --help`` and the like open with the line the parent's --help gives the action."""
    for name in ("benchmark", "model"):
        (actions,) = [a for a in subcommand_parser(name)._actions if isinstance(a, argparse._SubParsersAction)]
        assert len(actions.choices) > 2
        for listed in actions._choices_actions:
            assert actions.choices[listed.dest].description == listed.help, (name, listed.dest)


def test_the_sam2_sizes_are_the_sam2_packages_models() -> None:
    """The README's Weights table: each SAM2.1 size's parameters, counted on the model sam2 builds from its config."""
    from sam2.build_sam import build_sam2

    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"`checkpoints/sam2\.1_hiera_(\w+)\.pt` \| ([\d.]+) M", readme)
    configs = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}
    assert [size for size, _ in rows] == list(configs)
    for size, shown in rows:
        model = build_sam2(f"configs/sam2.1/sam2.1_hiera_{configs[size]}.yaml", ckpt_path=None, device="meta")
        assert f"{sum(parameter.numel() for parameter in model.parameters()) / 1e6:.2f}" == shown, size


def test_the_apps_memory_claims_are_the_25_megapixel_measurement() -> None:
    """docs/app.md's bytes per pixel and memory of a 25-megapixel photo are `benchmark app --photo`'s row, and the
    app's memory note budgets at least that (APP_BYTES_PER_PIXEL, the measured figure rounded up)."""
    from mgd_sam2.app.cutout import APP_BYTES_PER_PIXEL, APP_MAX_PIXELS

    (row,) = read_measurement("app_25mp_amd_epyc_zen4_model17")["app"]
    width, height = (int(side) for side in row["photo"].split()[0].split("x"))
    assert width * height <= APP_MAX_PIXELS and row["exit_status"] == 0
    page = " ".join((ROOT / "docs/app.md").read_text().split())
    started, peak = row["started_rss_mb"] / 1024, row["requests_peak_rss_mb"] / 1024
    assert f"an image takes about {row['bytes_per_pixel']:.0f} bytes per pixel while it is processed" in page
    assert (
        f"a {width}×{height} photo ({width * height / 1e6:.1f} megapixels) took the app from {started:.2f} GiB, once "
        f"its page answered, to a peak of {peak:.2f} GiB" in page
    )
    design = (ROOT / "docs/design.md").read_text()
    assert f"| `app.cutout.APP_BYTES_PER_PIXEL` | {APP_BYTES_PER_PIXEL} |" in design
    assert f"{row['bytes_per_pixel']:.1f} bytes per pixel" in design
    assert row["bytes_per_pixel"] <= APP_BYTES_PER_PIXEL < row["bytes_per_pixel"] + 2  # rounded up, with room


def test_the_evaluators_memory_claims_are_the_metrics_measurement() -> None:
    """docs/evaluation.md's and design.md's memory of an 8000×6000 pair are `benchmark metrics`' row, and the
    evaluator's budget per worker (EVALUATION_BYTES_PER_PIXEL) is at least that."""
    from mgd_sam2.commands.benchmark import EVALUATION_MEMORY_SIZE
    from mgd_sam2.metrics.evaluate import EVALUATION_BYTES_PER_PIXEL

    memory = read_measurement("metrics_amd_epyc_zen4_model17")["memory"]
    above, own = (memory["peak_rss_mb"] - memory["started_rss_mb"]) / 1024, memory["started_rss_mb"] / 1024
    page = " ".join((ROOT / "docs/evaluation.md").read_text().split())
    assert (
        f"(each budgeted {EVALUATION_BYTES_PER_PIXEL} bytes per pixel: an {memory['width']}×{memory['height']} pair "
        f"took a process {above:.2f} GiB above its own {own:.2f} GiB, {memory['bytes_per_pixel']:.0f} bytes per pixel;"
        in page
    )
    width, height = EVALUATION_MEMORY_SIZE
    assert (memory["width"], memory["height"]) == EVALUATION_MEMORY_SIZE
    assert f"(`--memory-size`, {width}×{height} by default)" in (ROOT / "docs/benchmarks.md").read_text()
    design = (ROOT / "docs/design.md").read_text()
    assert f"| `metrics.evaluate.EVALUATION_BYTES_PER_PIXEL` | {EVALUATION_BYTES_PER_PIXEL} |" in design
    assert f"{memory['bytes_per_pixel']:.1f} bytes per pixel above the process's own memory" in design
    assert memory["bytes_per_pixel"] <= EVALUATION_BYTES_PER_PIXEL


def test_python_quick_start_is_the_tested_one() -> None:
    """The Python API page shows the README's block, which tests/test_api.py runs on a trained micro model."""
    block = re.compile(r"```python\n(.*?)```", re.S)
    readme = (ROOT / "README.md").read_text()
    tested = block.search(readme[readme.index("**From Python.**") :]).group(1)
    assert block.search((ROOT / "docs/python-api.md").read_text()).group(1) == tested


def test_the_readme_cli_quick_start_runs_as_written(trained_checkpoint, synthetic_root, tmp_path: Path, monkeypatch):
    """The README's CLI quick start, line by line through ``mgd-sam2``'s entry point, with a micro model's Lightning
    checkpoint where `make demo` leaves its own and a held-out synthetic split where `make demo` generates it."""

    from mgd_sam2.cli import main

    readme = (ROOT / "README.md").read_text()
    lines = shell_lines(readme[readme.index("## Quick start") :])[:2]
    assert [line.split()[:2] for line in lines] == [["mgd-sam2", "predict"], ["mgd-sam2", "evaluate"]]
    checkpoint = tmp_path / "runs/demo/version_0/checkpoints/best.ckpt"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(trained_checkpoint, checkpoint)
    split = synthetic_root / "synthetic" / "SYN-HO"
    shutil.copytree(split, tmp_path / "data/demo/synthetic/SYN-HO")
    monkeypatch.chdir(tmp_path)
    for line in lines:
        assert main(shlex.split(line, comments=True)[1:]) == 0, line
    images = len(list((split / "gt").iterdir()))
    assert images and len(list(Path("masks").glob("*_cutout.png"))) == images
    scores = json.loads(Path("scores.json").read_text())
    assert scores["num_images"] == images and 0 <= scores["scores"]["Smeasure"] <= 1


def test_the_own_dataset_section_runs_as_written(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    """docs/training.md, Your own dataset: its config and its commands, line by line through ``mgd-sam2``'s entry
    point, on three synthetic splits put where the page puts MINE's, with the section's flags for a CPU without SAM2
    weights added to fit and test (and one epoch); evaluate's scores of predict's masks are the ones test logged."""

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mgd_sam2.cli import main
    from mgd_sam2.commands.demo import rescoring_mismatches

    page = (ROOT / "docs/training.md").read_text()
    start = page.index("### Your own dataset")
    section = page[start : page.index("\n### ", start)]
    lines = shell_lines(section)
    assert [shlex.split(line)[1] for line in lines] == ["check-data", "fit", "test", "predict", "evaluate"]
    flags = re.search(r"add `(--model\.network\.preset micro[^`]*)` to `fit` and `test`", section).group(1).split()
    monkeypatch.chdir(tmp_path)
    assert set(page_configs([ROOT / "docs/training.md"], tmp_path)) == {"mine.yaml"}
    shutil.copy(ROOT / "lightning_config.yaml", tmp_path)
    for split in ("TR", "VD", "TE"):
        shutil.copytree(synthetic_root / f"synthetic/SYN-{split}", tmp_path / f"data/MINE/MINE-{split}")
    short = {"fit": [*flags, "--trainer.max_epochs", "1", "--data.num_workers", "0"],
             "test": [*flags, "--data.num_workers", "0"]}  # fmt: skip
    for line in lines:
        words = shlex.split(line, comments=True)[1:]
        assert main(words + short.get(words[0], [])) == 0, line
    holdout = ["--data.val", "[]", "--data.val_holdout", "2", "--trainer.logger.init_args.version", "holdout"]
    fit = shlex.split(lines[1])[1:]  # its comment's variant, without a validation split: it validates on the holdout
    assert "val: []" in section and main(fit + short["fit"] + holdout) == 0
    assert (tmp_path / "runs/mine/holdout/checkpoints/best.ckpt").is_file()
    logged = EventAccumulator(str(tmp_path / "runs/mine/version_0/test")).Reload()
    prefix = "test/MINE-TE/"
    test_scores = {tag.removeprefix(prefix): logged.Scalars(tag)[-1].value
                   for tag in logged.Tags()["scalars"] if tag.startswith(prefix)}  # fmt: skip
    evaluated = json.loads((tmp_path / "MINE-TE.json").read_text())
    assert set(test_scores) == set(evaluated["scores"]) and evaluated["num_images"] > 0
    images = {"MINE-TE": evaluated["num_images"]}
    assert not rescoring_mismatches({"MINE-TE": test_scores}, {"MINE-TE": evaluated["scores"]}, images)
    assert (tmp_path / "MINE-TE.csv").read_text().count("\n") == evaluated["num_images"] + 1  # a row per image


def test_every_measured_marker_renders_and_the_readme_speed_claim_is_its_table() -> None:
    """Each ``<!-- measured: NAME -->`` of the site has its JSON and renderer; the README's speed ratio is the one
    the speed measurement gives (rounded as the README writes it)."""
    hooks = docs_hooks()
    markers = {name for page in (ROOT / "docs").glob("*.md") for name in hooks.MEASURED.findall(page.read_text())}
    assert {
        "demo",
        "speed_amd_epyc_avx512",
        "speed_intel_xeon_amx",
        "backends_demo",
        "backends_demo_intel_xeon_amx",
        "detail_4k",
        "app_amd_epyc_avx512",
        "app_25mp_amd_epyc_zen4_model17",
        "metrics_amd_epyc_zen4_model17",
        "ceiling_amd_epyc_avx512",
        "ceiling_intel_xeon_amx",
        "speed_amd_epyc_avx2_emulated",
        "ceiling_amd_epyc_avx2_emulated",
        "speed_amd_epyc_avx2_interleaved",
        "speed_amd_epyc_zen5",
        "ceiling_amd_epyc_zen5",
        "speed_amd_epyc_avx2_vnni_emulated",
        "ceiling_amd_epyc_avx2_vnni_emulated",
        "speed_amd_epyc_avx512_vnni_emulated",
        "speed_amd_epyc_avx512_emulated",
        "backends_demo_avx512_vnni_emulated",
        "backends_demo_avx512_emulated",
        "gpu_nvidia_h200",
        "gpu_nvidia_h200_batches",
        "gpu_nvidia_h200_profile",
        "gpu_nvidia_h200_train_step",
        "training_nvidia_h200",
        "gpu_nvidia_h200_compile",
        "predict_nvidia_h200",
        "speed_intel_xeon_amx_model167",
        "backends_demo_intel_xeon_amx_model167",
        "speed_intel_xeon_amx_model167_evening",
        "speed_amd_epyc_zen4_model17",
        "ceiling_amd_epyc_zen4_model17",
        "speed_amd_epyc_zen4_model17_interleaved",
        "speed_amd_epyc_zen4_model17_tokens",
        "kernels_amd_epyc_zen4_model17",
        "speed_amd_epyc_zen4_model17_balanced",
        "speed_amd_epyc_zen4_model17_period",
        "speed_amd_epyc_zen4_model17_later_export",
        "speed_amd_epyc_zen4_model17_later_export_interleaved",
        "ceiling_amd_epyc_zen4_model17_later_export",
        "speed_amd_epyc_zen5_later_export",
        "speed_amd_epyc_zen5_later_export_interleaved",
        "speed_amd_epyc_zen5_next_day_interleaved",
        "ceiling_amd_epyc_zen5_later_export",
        "backends_demo_amd_epyc_zen5_later_export",
        "predict_amd_epyc_zen5",
    } <= markers
    for name in markers:
        assert "*Measured by `" in hooks.measured_table(name)


def test_the_speed_summary_is_its_measurements_and_the_readme_copies_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed summary (site and README): a row per CPU measured, each figure its JSON's; on every real CPU the
    fastest path measured is `model export --fastest`'s choice for its kind (the emulated rows could not time ONNX
    Runtime, which no ISA limit holds); the README's reading of it (8x reached on the Zen 5 but not reliably, on no
    other native-bf16 CPU; within 0.002 Sα wherever measured); a changed figure no longer matches the README."""
    from mgd_sam2.inference.cpu_kind import KIND_FLAGS
    from mgd_sam2.inference.fastest import FASTEST

    hooks = docs_hooks()
    table = hooks.speed_summary_table()
    readme = (ROOT / "README.md").read_text()
    assert table in readme and hooks.SUMMARY_MARKER in (ROOT / "docs/benchmarks.md").read_text()
    labels = {  # benchmark backends' name of each path
        ("openvino-int8", "bf16-mixed"): "OpenVINO int8, bf16",
        ("openvino-int8", "32-true"): "OpenVINO int8, fp32",
        ("openvino", "32-true"): "OpenVINO fp32",
        ("onnx-int8", "32-true"): "ONNX Runtime int8",
    }
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    assert len(rows) == len(hooks.SPEED_SUMMARY)
    single_ratios = {}
    for (kind, cpu, single, interleaved, accuracy), row in zip(hooks.SPEED_SUMMARY, rows, strict=True):
        assert row[:2] == [kind, cpu] and kind in FASTEST
        files = {name: read_measurement(name) for name in (*single, *interleaved)}
        assert all(("emulated" in cpu) == ("limited by" in measured["machine"]) for measured in files.values()), cpu
        speed = files[single[-1]]["speed"]
        fastest = max(speed, key=lambda run: run["throughput_img_s"])
        key = (fastest["backend"], fastest["precision"])
        assert row[2] == hooks.SPEED_COLUMNS[key]
        if "emulated" not in cpu:
            assert (FASTEST[kind].backend, FASTEST[kind].precision) == key, cpu
        ratios = []
        for name in single:
            throughput = {(run["backend"], run["precision"]): run["throughput_img_s"] for run in files[name]["speed"]}
            ratios.append(max(throughput.values()) / throughput["torch", "32-true"])
        single_ratios[cpu] = ratios
        dates = [files[name]["date"][5:] for name in (*single, *interleaved)]
        paired = [next(run for run in files[name]["speed"] if (run["backend"], run["precision"]) == key)
                  for name in interleaved]  # fmt: skip
        assert all(files[name]["speed"][0]["backend"] == "torch" for name in interleaved)  # paired with torch fp32
        cells = [f"{value:.2f} ({day})" for value, day in zip(
            [*ratios, *(run["paired_speedup_vs_first"] for run in paired)], dates, strict=True)]  # fmt: skip
        assert row[3] == ", ".join(cells[: len(single)]) and row[4] == (", ".join(cells[len(single) :]) or "—")
        moved = []
        for name in accuracy:
            backends = {entry["label"]: entry.get("scores") for entry in read_measurement(name)["backends"]}
            reference = backends["torch fp32"]
            moved.append(max(abs(scores["Smeasure"] - reference[split]["Smeasure"])
                             for split, scores in backends[labels[key]].items()))  # fmt: skip
        assert row[5] == (", ".join(f"{value:.4f}" for value in moved) or "not measured")
        assert all(value <= 0.002 for value in moved)
    zen5 = [read_measurement(name)["speed"] for name in hooks.SPEED_SUMMARY[4][3]]  # the interleaved runs
    assert hooks.SPEED_SUMMARY[4][1] == "AMD EPYC Zen 5" and len(zen5) == 2
    paired = [next(run for run in speed if run["backend"] == "openvino-int8" and run["precision"] == "bf16-mixed")
              ["paired_speedup_vs_first"] for speed in zen5]  # fmt: skip
    assert max(paired) > 8 > min(paired) and max(single_ratios["AMD EPYC Zen 5"]) > 8  # "about 8x, not reliably above"
    assert all(max(single_ratios[cpu]) < 8 for cpu in single_ratios if cpu.startswith(("Intel Xeon", "AMD EPYC Zen 4")))
    assert "Every backend stays within 0.002 Sα of fp32 on the demo model wherever measured" in " ".join(readme.split())
    flags = ", ".join(f"`{flag}` ({kind})" for kind, flag in KIND_FLAGS.items())  # in the order the kind is decided
    assert f"that `/proc/cpuinfo` lists (`model export --fastest` prints it): {flags}." in " ".join(readme.split())
    original = hooks.read

    def changed(name: str) -> dict:
        measured = original(name)
        if name == "speed_amd_epyc_zen5_later_export":
            hooks.fastest_run(measured)[1]["throughput_img_s"] *= 1.01
        return measured

    monkeypatch.setattr(hooks, "read", changed)
    assert hooks.speed_summary_table() not in readme


def test_the_gpu_claims_are_the_h200_measurements() -> None:
    """README's and the benchmarks page's GPU figures are the H200 tables', each ratio within one call, and the short
    training run is reported as what it measured: below the constant baseline."""
    hooks = docs_hooks()
    runs = {}
    for name in ("gpu_nvidia_h200", "gpu_nvidia_h200_batches", "gpu_nvidia_h200_profile", "gpu_nvidia_h200_train_step"):
        measured = read_measurement(name)
        assert "; GPU NVIDIA H200 (" in measured["machine"] and "| batch | precision |" in hooks.measured_table(name)
        assert measured["machine"].endswith(", CUDA 13.0, torch 2.11.0+cu130")  # the README names that torch
        for run in measured["speed"]:
            assert run["device"] == "cuda" and run["preset"] == "base_plus"
            runs[name.removeprefix("gpu_nvidia_h200").lstrip("_") or "speed", run["batch"], run["precision"]] = run
    readme = " ".join((ROOT / "README.md").read_text().split())
    torch_named = "On an NVIDIA H200 (with the torch it had, 2.11.0 and CUDA 13.0, not the 2.14.1 `make install` pins)"
    assert torch_named in readme and "TORCH_PIN := torch==2.14.1 " in (ROOT / "Makefile").read_text()
    rate = {key: run["throughput_img_s"] for key, run in runs.items()}
    p50 = {key: run["latency_ms_p50"] for key, run in runs.items()}
    step = runs["train_step", 2, "bf16-mixed"]
    assert step["train"] and step["peak_gpu_memory_mb"] < 16e9 / 2**20
    readme = " ".join((ROOT / "README.md").read_text().split())
    claim = (
        f"the base_plus network runs {rate['speed', 8, 'bf16-mixed']:.0f} images/s at batch 8 in bf16 "
        f"({rate['speed', 8, '32-true']:.0f} in fp32) and {rate['batches', 16, 'bf16-mixed']:.0f} at batch 16, and "
        f"{p50['speed', 1, '32-true']:.0f} ms per image at batch 1 in fp32 ({p50['speed', 1, 'bf16-mixed']:.0f} and "
        f"{p50['profile', 1, 'bf16-mixed']:.0f} ms in bf16 in two calls); a training step of batch 2 in bf16 takes "
        f"{step['latency_ms_p50']:.0f} ms and {step['peak_gpu_memory_mb'] / 1024:.1f} GiB of GPU memory."
    )
    assert claim in readme
    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    second = runs["profile", 1, "bf16-mixed"]
    assert (
        f"bf16 gave {p50['speed', 1, 'bf16-mixed']:.0f} ms in the first call and {second['latency_ms_p50']:.0f} ms "
        f"(p90 {second['latency_ms_p90']:.0f} ms) in the second, fp32 {p50['speed', 1, '32-true']:.0f} ms in both"
        in page
    )
    assert round(p50["profile", 1, "32-true"]) == round(p50["speed", 1, "32-true"])  # "in both"
    parts = second["parts_s"]
    assert f"({parts['MPAdapter'] * 1000:.0f} against {parts['Hiera trunk'] * 1000:.0f} ms)" in page
    batch8 = rate["speed", 8, "bf16-mixed"]
    assert (
        f"{batch8:.0f} images/s at batch 8 in bf16, {batch8 / rate['speed', 1, '32-true']:.1f} times fp32 at batch 1 "
        f"and {batch8 / rate['speed', 8, '32-true']:.1f} times fp32 at batch 8; "
        f"{rate['batches', 16, 'bf16-mixed']:.0f} images/s at batch 16 in the second" in page
    )
    gflop = read_measurement("ceiling_intel_xeon_amx")["gflop_total"]
    flops = rate["batches", 16, "bf16-mixed"] * gflop / 1000
    assert f"about {flops:.0f} TFLOP/s ({gflop:.0f} GFLOP per image, as `benchmark ceiling` counts them)" in page
    pre_post = [
        run["parts_s"]["pre-processing"] + run["parts_s"]["post-processing"]
        for run in (runs["profile", 1, "32-true"], second)
    ]
    network = [run["parts_s"]["network"] for run in (runs["profile", 1, "32-true"], second)]
    assert all(round(seconds, 1) == 0.3 for seconds in pre_post) and "about 0.3 s per photo together" in page
    assert (
        all(round(total / alone) == 5 for total, alone in zip(pre_post, network, strict=True))
        and "five times the" in page
    )
    trained = step["params_trainable"] / 1e6, step["params_total"] / 1e6
    assert (
        f"{trained[0]:.1f} M of {trained[1]:.1f} M parameters trained), batch 2 in bf16, uses "
        f"{step['peak_gpu_memory_mb'] / 1024:.1f} GiB of GPU memory (goal: under 16 GB)" in page
    )
    training = read_measurement("training_nvidia_h200")
    scalars, constant = training["scalars"], training["constant_SYN-TE"]
    assert "; GPU NVIDIA H200 (" in training["machine"]
    assert scalars["test/SYN-TE/Smeasure"][-1][1] < constant["Smeasure"]  # as the page says: below the baseline
    assert "stay **below the constant baseline** on SYN-TE" in page
    val = [value for _, value in scalars["val/SYN-VD/Smeasure"]]
    assert (
        all(later > earlier for earlier, later in zip(val, val[1:], strict=False)) and len(val) == 3
    )  # "rose at every validation"
    (first, start), (last, end) = scalars["train/loss"][0], scalars["train/loss"][-1]
    assert f"The loss fell ({start:.2f} at step {first + 1}, {end:.2f} at step {last + 1})" in page and end < start


def test_the_gpu_compile_and_predict_claims_are_the_third_calls_measurements() -> None:
    """torch.compile against eager and predict end to end against the network alone, as README and the benchmarks
    page state them, from the H200's third call."""
    hooks = docs_hooks()
    compiled = read_measurement("gpu_nvidia_h200_compile")
    assert "; GPU NVIDIA H200 (" in compiled["machine"] and "(torch.compile)" in hooks.measured_table(
        "gpu_nvidia_h200_compile"
    )
    runs = {(run["compile"], run["batch"]): run for run in compiled["speed"]}
    assert all(run["precision"] == "bf16-mixed" and run["preset"] == "base_plus" for run in runs.values())
    rate = {key: run["throughput_img_s"] for key, run in runs.items()}
    gains = [rate[True, batch] / rate[False, batch] for batch in (1, 8)]
    assert {f"{gain:.1f}" for gain in gains} == {"1.9"}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (
        f"it runs {rate[True, 1]:.0f} images/s at batch 1 and {rate[True, 8]:.0f} at batch 8 in bf16, "
        f"{gains[0]:.1f} times eager in the same call." in readme
    )
    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    assert (
        f"the network ran {gains[0]:.1f} times as many images/s as eager at batch 1 ({rate[True, 1]:.1f} against "
        f"{rate[False, 1]:.1f}) and {gains[1]:.1f} times at batch 8 ({rate[True, 8]:.1f} against {rate[False, 8]:.1f})"
        in page
    )
    distance = [f"{runs[key]['sigmoid_diff_vs_fp32']:.1e}" for key in ((True, 1), (False, 1))]
    assert f"({distance[0]} against {distance[1]}, mean absolute difference)" in page
    assert all(runs[True, batch]["peak_gpu_memory_mb"] < runs[False, batch]["peak_gpu_memory_mb"] for batch in (1, 8))
    assert all(100 <= runs[True, batch]["warmup_s"] <= 110 for batch in (1, 8)) and "about 105 s" in page
    host = [runs[key]["peak_host_memory_mb"] / 1024 for key in ((True, 1), (True, 8))]
    eager_host = {f"{runs[False, batch]['peak_host_memory_mb'] / 1024:.1f}" for batch in (1, 8)}
    assert len(eager_host) == 1 and f"{host[0]:.1f} and {host[1]:.1f} GiB of host" in page
    assert f"memory at its peak against {eager_host.pop()}." in page
    predict = read_measurement("predict_nvidia_h200")
    assert "; GPU NVIDIA H200 (" in predict["machine"]
    rows = {(row["workers"], row["batch"]): row for row in predict["predict"]}
    first = rows[2, 1]
    assert (
        f"on {first['images']} photos of {first['megapixels_mean']:.1f} megapixels ran "
        f"{first['end_to_end_img_s']:.1f} images/s at batch 1, {first['end_to_end_vs_network']:.2f} of the network "
        "alone" in readme
    )
    assert (
        f"`predict` ran {first['end_to_end_img_s']:.1f} images/s at batch 1, {first['end_to_end_vs_network']:.2f} "
        f"of the network alone on the same photos ({first['network_img_s']:.1f}," in page
    )
    assert f"and {rows[8, 1]['end_to_end_img_s']:.1f} with 8 loader processes" in page
    assert f"{rows[8, 1]['network_img_s']:.1f} in the second run" in page
    writing = sorted(rows[workers, 1]["writing_ms_per_image"] for workers in (2, 8))
    claim = f"{writing[0]:.0f} to {writing[1]:.0f} ms per image beside {1000 / first['end_to_end_img_s']:.0f} ms"
    speed_runs = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    assert page.count(claim) == 1 and speed_runs.count(claim) == 1  # this section; the writer thread's paragraph
    assert f"{first['images']} photos are {first['images'] // 8} batches of 8" in page and first["images"] % 8 == 0
    network8 = rows[2, 8]["network_img_s"]
    assert (
        f"the network alone ran {network8 / first['network_img_s']:.1f} times as fast ({network8:.0f} against "
        f"{first['network_img_s']:.0f} images/s)" in page
    )
    assert (
        f"predict ran {rows[2, 8]['end_to_end_img_s']:.1f} and {rows[8, 8]['end_to_end_img_s']:.1f} images/s" in page
        and rows[2, 8]["end_to_end_img_s"] < first["end_to_end_img_s"]
    )


def test_the_third_amx_machines_claims_are_its_table() -> None:
    """The model-167 AMX machine's ratios and parts, as docs/speed-runs.md states them, and docs/benchmarks.md's
    summaries of them."""
    speed = read_measurement("speed_intel_xeon_amx_model167")["speed"]
    runs = {(run["backend"], run["precision"]): run for run in speed}
    base = runs["torch", "32-true"]
    fastest, bf16 = runs["openvino-int8", "bf16-mixed"], runs["openvino", "bf16-mixed"]
    assert max(run["throughput_img_s"] for run in speed) == fastest["throughput_img_s"]
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    assert (
        f"There OpenVINO int8 with bf16 gives {fastest['throughput_img_s'] / base['throughput_img_s']:.1f} times the "
        f"throughput of torch fp32 ({base['latency_ms_p50'] / fastest['latency_ms_p50']:.1f} times in latency), the "
        f"nearest to 8× measured, and OpenVINO bf16 without int8 "
        f"{bf16['throughput_img_s'] / base['throughput_img_s']:.1f} times" in page
    )
    parts = fastest["parts_s"]
    assert (
        f"trunk ({parts['Hiera trunk'] * 1000:.0f} ms), the glue the profile cannot place ({parts['other'] * 1000:.0f} "
        f"ms), DRM ({parts['DRM'] * 1000:.0f} ms) and pre- and post-processing "
        f"({(parts['pre-processing'] + parts['post-processing']) * 1000:.0f} ms" in page
    )
    assert f"random weights is the same as on the first AMX machine ({fastest['sigmoid_diff_vs_fp32']:.1e})" in page
    ratio = f"{fastest['throughput_img_s'] / base['throughput_img_s']:.1f}"
    assert f"5.6 and {ratio} times on two other AMX machines" in benchmarks
    assert f"5.6× and {ratio}× on AMX machines" in benchmarks
    network = [run["parts_s"]["network"] for run in (fastest, bf16)]
    assert f"behind it in the profile's ({network[0]:.3f} against {network[1]:.3f} s for the network)" in page
    assert (
        f"{bf16['latency_ms_p50'] / fastest['latency_ms_p50'] - 1:.0%} ahead of bf16 alone".replace("%", " %") in page
    )


def test_the_speed_tables_show_each_export_steps_peak() -> None:
    """Each exported configuration's largest export step (a process of its own) has its peak in the table, in GiB;
    PyTorch, which exports nothing, has —. An interleaved run (one process for all) has no host peak row, and no
    export peak row where it ran before the steps reported their own peaks (2026-12-05, commit c073df6)."""
    hooks = docs_hooks()
    for path in (ROOT / "docs/measurements").glob("speed_*.json"):
        measured = json.loads(path.read_text())
        shown = [run for run in measured["speed"] if (run["backend"], run["precision"]) in hooks.SPEED_COLUMNS]
        table = hooks.measured_table(path.stem).split("*Measured by")[0]
        if "interleaved" in measured:
            assert "peak host memory" not in table, path.name
        if all(run["export_peak_memory_mb"] is None for run in shown):
            assert "interleaved" in measured and "peak" not in table, path.name
            continue
        cells = ["—" if run["backend"] == "torch" else f"{run['export_peak_memory_mb'] / 1024:.1f}" for run in shown]
        row = "| largest export step's peak (GiB) | " + " | ".join(cells) + " |"
        assert row in hooks.measured_table(path.stem), path.name


def test_an_interleaved_table_shows_each_place_and_the_drift() -> None:
    """A balanced interleaved run's table has each configuration's median latency at each place of the rounds' turn
    order (from its latencies and orders) and its first and last round; a run that kept medians only has neither."""
    hooks = docs_hooks()
    measured = {"speed": [{"latencies_ms": [1000.0, 4000.0, 2000.0, 8000.0]}, {"latencies_ms": [3000.0] * 4}],
                "interleaved": {"orders": [[0, 1], [1, 0], [0, 1], [1, 0]]}}  # fmt: skip
    assert hooks.by_place(measured, measured["speed"][0]) == [1.5, 6.0]  # places 1st, 2nd: medians of (1, 2), (4, 8)
    assert hooks.by_place(measured, measured["speed"][1]) == [3.0, 3.0]
    one_round = {"speed": [{"latencies_ms": [1000.0]}, {"latencies_ms": [2000.0]}], "interleaved": {"orders": [[1, 0]]}}
    assert hooks.by_place(one_round, one_round["speed"][0]) == [None, 1.0]  # never first: its place stays empty
    for name in ("speed_amd_epyc_zen4_model17_balanced", "speed_amd_epyc_zen4_model17_tokens"):
        table, run = hooks.measured_table(name), read_measurement(name)
        fastest = next(r for r in run["speed"] if (r["backend"], r["precision"]) == ("openvino-int8", "bf16-mixed"))
        if "orders" not in run["interleaved"]:
            assert "by place" not in table and "first round" not in table
            continue
        places = " / ".join(f"{seconds:.2f}" for seconds in hooks.by_place(run, fastest))
        assert places in table.split("p50 by place in the round")[1].split("\n")[0]
        latencies = fastest["latencies_ms"]
        assert f"{latencies[0] / 1000:.2f}, {latencies[-1] / 1000:.2f}" in table.split("first round, last round")[1]


def test_the_backends_accuracy_claims_are_the_measured_table() -> None:
    """README and benchmarks page say every backend is within 0.002 Sα of torch fp32 on the demo model and int8's
    maps are under one grey level apart on average; the generated table's JSON must say the same."""
    assert "backends_demo" in docs_hooks().MEASURED.findall((ROOT / "docs/benchmarks.md").read_text())
    for text in ((ROOT / "README.md").read_text(), (ROOT / "docs/benchmarks.md").read_text()):
        assert "within 0.002 Sα of" in " ".join(text.split())
    names = (  # Zen 4 (two machines), AMX (two machines), Zen 5 (two machines)
        "backends_demo", "backends_demo_amd_epyc_zen4_model17", "backends_demo_intel_xeon_amx",
        "backends_demo_intel_xeon_amx_model167", "backends_demo_amd_epyc_zen5",
        "backends_demo_amd_epyc_zen5_later_export",
    )  # fmt: skip
    emulated = (  # bf16 not native there
        "backends_demo_avx2_vnni_emulated",
        "backends_demo_avx512_vnni_emulated",
        "backends_demo_amd_epyc_avx2",
    )
    beyond = {  # the ones past one level, as the page says: OpenVINO int8 without VNNI
        ("backends_demo_avx512_emulated", "OpenVINO int8, fp32"),
        ("backends_demo_amd_epyc_avx2", "OpenVINO int8, fp32"),
    }
    for name in (*names, *emulated, "backends_demo_avx512_emulated"):
        rows = read_measurement(name)["backends"]
        skipped = {row["label"] for row in rows if "skipped" in row}
        assert skipped == (set() if name in names else {"torch bf16", "OpenVINO bf16", "OpenVINO int8, bf16"}), name
        reference = next(row for row in rows if row["label"] == "torch fp32")["scores"]
        for row in (row for row in rows if row["label"] not in skipped):
            for split, scores in row["scores"].items():
                assert abs(scores["Smeasure"] - reference[split]["Smeasure"]) <= 0.002, (name, row["label"], split)
            assert (row["maps_vs_fp32"]["mean"] < 1) == ((name, row["label"]) not in beyond), (name, row["label"])
    assert "amx" in read_measurement("backends_demo_intel_xeon_amx")["machine"]


def test_the_7_bit_onnx_int8_claims_are_the_zen5_table() -> None:
    """The page's figures of ONNX Runtime's 7-bit int8 on the Zen 5 are that table's ONNX Runtime int8 row."""
    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    rows = read_measurement("backends_demo_amd_epyc_zen5")["backends"]
    reference, int8 = (
        next(row for row in rows if row["label"] == label) for label in ("torch fp32", "ONNX Runtime int8")
    )
    moved = [
        int8["scores"][split]["Smeasure"] - reference["scores"][split]["Smeasure"] for split in ("SYN-TE", "SYN-HO")
    ]
    maps = int8["maps_vs_fp32"]
    stated = (
        f"the 7-bit form moved Sα by {moved[0]:+.5f} and {moved[1]:+.5f} with maps {maps['mean']:.2f} grey levels "
        f"from fp32 on average (largest {maps['max']})"
    )
    assert stated in page


def test_the_amx_int8_scope_accuracy_claim_is_the_model167_table() -> None:
    """The page's figures of the --fastest file for AMX (its int8 scope) are the model-167 table's last row, against
    that table's torch fp32 and plain OpenVINO int8 in bf16 rows."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    rows = read_measurement("backends_demo_intel_xeon_amx_model167")["backends"]
    labels = ("torch fp32", "OpenVINO int8, bf16", "model export --fastest (amx: OpenVINO int8 run in bf16)")
    reference, plain, fastest = (next(row for row in rows if row["label"] == label) for label in labels)
    assert rows[-1] is fastest and fastest["cpu_kind"] == "amx" and fastest["precision"] == "bf16-mixed"
    stated = (
        f"scored SYN-TE Sα {fastest['scores']['SYN-TE']['Smeasure']:.4f} against torch fp32's "
        f"{reference['scores']['SYN-TE']['Smeasure']:.4f}, its maps {fastest['maps_vs_fp32']['mean']:.2f} grey levels "
        f"from fp32's on average against {plain['maps_vs_fp32']['mean']:.2f} for the plain int8 file run in bf16"
    )
    assert stated in page


def test_the_evening_amx_run_reads_as_its_json() -> None:
    """The page's ratios, times, profile figures and export peaks of the model-167 evening run are its JSON's, and
    its int8 rows were quantized with the scopes the page names (the AMX scope in bf16, the default in fp32)."""
    from mgd_sam2.inference.export import OPENVINO_INT8, OPENVINO_INT8_SCOPES

    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    speed = read_measurement("speed_intel_xeon_amx_model167_evening")["speed"]
    runs = {(run["backend"], run["precision"]): run for run in speed}
    base, fastest, bf16 = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"], runs["openvino", "bf16-mixed"]
    latency, throughput = (
        base["latency_ms_p50"] / fastest["latency_ms_p50"],
        fastest["throughput_img_s"] / base["throughput_img_s"],
    )
    assert f"{latency:.1f} times in latency ({throughput:.1f} in throughput), not 8" in page
    assert f"OpenVINO int8 in bf16 took {fastest['latency_ms_p50'] / 1000:.3f} s" in page
    assert f"but PyTorch fp32 {base['latency_ms_p50'] / 1000:.2f} s" in page
    assert f"({fastest['latency_ms_p50'] / 1000:.3f} against {bf16['latency_ms_p50'] / 1000:.3f} s;" in page
    ms = {key: {part: round(value * 1000) for part, value in runs[key]["parts_s"].items()} for key in runs}
    int8, plain = ms["openvino-int8", "bf16-mixed"], ms["openvino", "bf16-mixed"]
    assert (
        f"; {int8['network'] / 1000:.3f} against {plain['network'] / 1000:.3f} for the network in the profile" in page
    )
    assert f"is {int8['other']} against {plain['other']} ms" in page
    assert (
        f"trunk {int8['Hiera trunk']} ms, glue {int8['other']}, DRM {int8['DRM']}, HMIM {int8['HMIM']}, pre- and "
        f"post-processing {int8['pre-processing'] + int8['post-processing']}" in page
    )
    assert fastest["int8_scope"] == OPENVINO_INT8_SCOPES["amx"].describe()
    assert runs["openvino-int8", "32-true"]["int8_scope"] == OPENVINO_INT8.describe()
    peaks = [
        runs["openvino-int8", precision]["export_peak_memory_mb"] / 1024 for precision in ("bf16-mixed", "32-true")
    ]
    assert (
        f"its quantization, peaked at {peaks[0]:.1f} GiB, and the default-scope row's largest step at {peaks[1]:.1f}"
        in page
    )


def interleaved_run(name: str, rounds: int) -> tuple[dict, dict, dict, dict]:
    """An interleaved speed JSON's (its run, configuration -> row, torch fp32's row, OpenVINO int8 in bf16's row),
    checked: NAME's table is on the page, torch fp32 timed first (the paired speed-ups are over it), ``rounds``
    rounds as the command asked, and the fastest path the fastest in turns too."""
    measured = read_measurement(name)
    assert f"<!-- measured: {name} -->" in " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    assert measured["interleaved"]["rounds"] == rounds and f"--interleave --iters {rounds}" in measured["command"]
    runs = {(run["backend"], run["precision"]): run for run in measured["speed"]}
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    assert measured["speed"][0] is base and base["paired_speedup_vs_first"] == 1.0
    assert max(run["paired_speedup_vs_first"] for run in runs.values()) == fastest["paired_speedup_vs_first"]
    return measured, runs, base, fastest


def in_turns(runs: dict) -> str:
    """The sentence that opens an interleaved run's paragraph: torch fp32's times and the fastest path's ratios."""
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    return (
        f"In turns with PyTorch fp32 ({base['latency_ms_p50'] / 1000:.2f} s median, "
        f"{base['latency_ms_p90'] / 1000:.2f} s at p90), OpenVINO int8 in bf16 gave "
        f"{fastest['paired_speedup_vs_first']:.2f} times in paired passes "
        f"({fastest['throughput_img_s'] / base['throughput_img_s']:.2f} in throughput, "
        f"{base['latency_ms_p50'] / fastest['latency_ms_p50']:.2f} in median latency)"
    )


def round_by_round(runs: dict) -> str:
    """The sentence after `in_turns`: torch fp32's pass over the fastest path's, round by round (checked: their median
    is the paired speed-up)."""
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    ratios = [t / f for t, f in zip(base["latencies_ms"], fastest["latencies_ms"], strict=True)]
    assert statistics.median(ratios) == fastest["paired_speedup_vs_first"]
    return (
        f"{in_turns(runs)}, {min(ratios):.2f} to {max(ratios):.2f} times round by round, at least 8 in "
        f"{sum(ratio >= 8 for ratio in ratios)} of the {len(ratios)} rounds"
    )


def percent_apart(now: float, then: float) -> str:
    """How far ``now`` is from ``then``, as the pages write it: "3 %"."""
    return f"{abs(1 - now / then):.0%}".replace("%", " %")


def the_others(runs: dict) -> str:
    """The sentence that gives an interleaved run's other paired speed-ups."""
    paired = {key: run["paired_speedup_vs_first"] for key, run in runs.items()}
    return (
        f"ONNX Runtime int8 gave {paired['onnx-int8', '32-true']:.2f} times, OpenVINO int8 in fp32 "
        f"{paired['openvino-int8', '32-true']:.2f}, PyTorch bf16 {paired['torch', 'bf16-mixed']:.2f}"
    )


def balanced_run(name: str, rounds: int, commit: str) -> tuple[dict, dict, dict, dict, set[int]]:
    """`interleaved_run` of a run in the Williams order, checked: measured at ``commit``, its orders round_order's,
    every configuration timed every round, its process's peak on the page; adds how often each configuration took
    each place (the set of those counts)."""
    from mgd_sam2.benchmark.speed import round_order

    measured, runs, base, fastest = interleaved_run(name, rounds)
    assert f"commit {commit}" in measured["machine"]
    orders = measured["interleaved"]["orders"]
    assert orders == [round_order(len(runs), r) for r in range(rounds)]
    assert all(len(run["latencies_ms"]) == rounds for run in runs.values())
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    assert f"the one process peaked at {measured['interleaved']['peak_host_memory_mb'] / 1024:.1f} GiB" in page
    places = range(len(runs))
    return measured, runs, base, fastest, {sum(order[p] == i for order in orders) for i in places for p in places}


def against(runs: dict, earlier: dict, when: str) -> str:
    """An interleaved run's opening sentences, its fastest pass and PyTorch fp32's set against an ``earlier`` run's."""
    before = {key: run["latency_ms_p50"] / 1000 for key, run in earlier.items()}
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    return (
        f"{in_turns(runs)}, its pass {fastest['latency_ms_p50'] / 1000:.3f} s against "
        f"{before['openvino-int8', 'bf16-mixed']:.3f} {when}, PyTorch fp32's {base['latency_ms_p50'] / 1000:.2f} s "
        f"against {before['torch', '32-true']:.2f}. {the_others(runs)}."
    )


def test_the_second_zen4_interleaved_run_reads_as_its_json() -> None:
    """The model-17 Zen 4's interleaved run: the page's ratios and times are its JSON's, and against the same
    machine's table they are what the page says."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    measured, runs, base, fastest = interleaved_run("speed_amd_epyc_zen4_model17_interleaved", 10)
    peaks = {f"{read_measurement(name)['interleaved']['peak_host_memory_mb'] / 1024:.1f}"
             for name in ("speed_amd_epyc_zen4_model17_interleaved", "speed_amd_epyc_zen4_model17_tokens")}  # fmt: skip
    assert len(peaks) == 1 and f"{peaks.pop()} GiB in those two" in page
    assert in_turns(runs) in page and the_others(runs) in page
    table = {
        (run["backend"], run["precision"]): run for run in read_measurement("speed_amd_epyc_zen4_model17")["speed"]
    }
    before = table["torch", "32-true"]["latency_ms_p50"] / table["openvino-int8", "bf16-mixed"]["latency_ms_p50"]
    assert (
        f"not the table's {before:.1f}: its own pass took {fastest['latency_ms_p50'] / 1000:.3f} s against "
        f"{table['openvino-int8', 'bf16-mixed']['latency_ms_p50'] / 1000:.3f} there, PyTorch fp32's "
        f"{base['latency_ms_p50'] / 1000:.2f} s against {table['torch', '32-true']['latency_ms_p50'] / 1000:.2f}"
    ) in page


def test_the_second_zen4_run_with_the_token_products_reads_as_its_json() -> None:
    """The model-17 Zen 4's interleaved run with the export's token products: its paragraph and the overview's
    paired ratios (with the balanced run's) are its JSON's (the README's speed summary: its own test), and its
    fastest pass is compared with the night before's as written."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    measured, runs, base, fastest = interleaved_run("speed_amd_epyc_zen4_model17_tokens", 10)
    assert "commit 0939091" in measured["machine"]
    night = interleaved_run("speed_amd_epyc_zen4_model17_interleaved", 10)[3]
    assert (
        f"{in_turns(runs)}, its pass {fastest['latency_ms_p50'] / 1000:.3f} s against "
        f"{night['latency_ms_p50'] / 1000:.3f} the night before"
    ) in page
    assert f"{the_others(runs)}. 8× of this run's PyTorch fp32 would be {base['latency_ms_p50'] / 8000:.2f} s" in page
    balanced = interleaved_run("speed_amd_epyc_zen4_model17_balanced", 12)
    period = interleaved_run("speed_amd_epyc_zen4_model17_period", 10)
    # (fastest, torch fp32): this run's, the balanced run's, the whole period's
    pairs = ((fastest, base), (balanced[3], balanced[2]), (period[3], period[2]))
    claims = [f"{run['paired_speedup_vs_first']:.1f}" for run, _ in pairs]
    assert min(claims) == claims[1] and max(claims) == claims[0] == claims[2]
    assert (
        f"{claims[0]}×, {claims[1]}× and {claims[2]}× there in passes interleaved with PyTorch's with the token "
        "products, the last two in a balanced order"
    ) in benchmarks


def test_the_balanced_zen4_run_reads_as_its_json() -> None:
    """The model-17 Zen 4's interleaved run in a Williams design: its orders are round_order's, every figure of its
    paragraph (paired speed-ups, the spread by place, the first round against the others) is its JSON's."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    measured, runs, base, fastest, counts = balanced_run("speed_amd_epyc_zen4_model17_balanced", 12, "0ce5dfb")
    assert counts == {2, 3} and "each configuration took each place two or three times" in page
    morning = interleaved_run("speed_amd_epyc_zen4_model17_tokens", 10)[1]
    assert against(runs, morning, "in the morning's run") in page
    by_place = {key: docs_hooks().by_place(measured, run) for key, run in runs.items()}  # tested on its own above
    spread = {key: max(medians) / min(medians) - 1 for key, medians in by_place.items()}
    widest = max(spread, key=spread.get)
    assert widest == ("onnx-int8", "32-true")
    assert f"differ by {spread[widest]:.1%} at most (ONNX Runtime int8's)".replace("%", " %") in page

    def first_and_others(run: dict) -> tuple[str, str, str]:
        first, *others = (latency / 1000 for latency in run["latencies_ms"])
        return f"{first:.2f}", f"{min(others):.2f}", f"{max(others):.2f}"

    first, low, high = first_and_others(base)
    assert f"PyTorch fp32 took {first} s in the first round and {low} to {high} s in the others" in page
    first, low, high = first_and_others(fastest)
    assert f"OpenVINO int8 in bf16 {first} s and then {low} to {high} s" in page


def test_the_whole_period_zen4_run_reads_as_its_json() -> None:
    """The model-17 Zen 4's interleaved run over one whole period of the Williams design: each place twice, its
    drifts (from the shared fp32 reference) equal to the noon run's (one reference pass per row), and every figure of
    its paragraph, the slow first rounds and the paired speed-up without them included, its JSON's."""
    from mgd_sam2.benchmark.speed import balanced_period

    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    measured, runs, base, fastest, counts = balanced_run("speed_amd_epyc_zen4_model17_period", 10, "3e7f17a")
    assert balanced_period(len(runs)) == 10 and counts == {2} and "each configuration took each place twice" in page
    noon = interleaved_run("speed_amd_epyc_zen4_model17_balanced", 12)[1]
    assert all(run["sigmoid_diff_vs_fp32"] == noon[key]["sigmoid_diff_vs_fp32"] for key, run in runs.items())
    assert against(runs, noon, "at noon") in page
    torch_s = [latency / 1000 for latency in base["latencies_ms"]]
    ratios = [t / f for t, f in zip(base["latencies_ms"], fastest["latencies_ms"], strict=True)]
    medians = docs_hooks().by_place(measured, base)
    assert (
        f"PyTorch fp32 took {torch_s[0]:.2f} and {torch_s[1]:.2f} s in the first two rounds and {min(torch_s[2:]):.2f} "
        f"to {max(torch_s[2:]):.2f} s in the others, so its medians by place (of two passes each) differ by "
        f"{max(medians) / min(medians) - 1:.0%}; the fastest path's pairs of those two rounds gave {ratios[0]:.2f} "
        f"and {ratios[1]:.2f} times, and without them its paired speed-up is {statistics.median(ratios[2:]):.2f} times"
    ).replace("%", " %") in page


def openvino_int8_kernels(run: dict) -> tuple[float, float, float, float]:
    """An OpenVINO int8 row's per-kernel counters (AVX-512 kernels) summed as the pages split its pass, in s: its int8
    matrix products, convolutions, int8 attention, and the glue (the rest of the pass)."""
    kernels = run["kernels_s"]
    products = kernels["FullyConnected brgemm_avx512_I8"] + kernels["FullyConnectedQuantizedLegacy brgemm_avx512_i8"]
    conv = sum(seconds for kernel, seconds in kernels.items() if "Convolution" in kernel)
    attention = kernels["Subgraph jit_avx512_i8"]
    return products, conv, attention, run["parts_s"]["network"] - products - conv - attention


def glue_kernels(kernels: dict) -> dict[str, int]:
    """The glue's parts the pages name, in ms per pass, from an OpenVINO bf16/int8 row's per-kernel counters."""
    seconds = {
        "subgraphs": kernels["Subgraph jit_avx512_bf16"],
        "transposes": sum(value for kernel, value in kernels.items() if kernel.startswith("Transpose")),
        "int8 transposes": kernels["Transpose unknown_i8"],
        "splits": sum(kernels[kernel] for kernel in ("VariadicSplit ref_bf16", "Concat ref_bf16", "Slice ref_bf16")),
        "interpolations": kernels["Interpolate jit_avx512_bf16"],
    }
    return {part: round(value * 1000) for part, value in seconds.items()}


def test_the_second_zen4_ceiling_reads_as_its_json() -> None:
    """The model-17 Zen 4's ceiling paragraph: its peak rates against the first Zen 4's, the fastest path's ceiling
    and share over the speed table's torch fp32 and over the command's own pass, and the operation counts the
    per-node figures divide, all from the two ceiling JSONs."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    assert "<!-- measured: ceiling_amd_epyc_zen4_model17 -->" in page
    measured, first = read_measurement("ceiling_amd_epyc_zen4_model17"), read_measurement("ceiling_amd_epyc_avx512")
    assert measured["speed_source"]["machine"] == read_measurement("speed_amd_epyc_zen4_model17")["machine"]
    rates = [(f"{measured['peak_gflop_s'][key]:.0f}", f"{first['peak_gflop_s'][key]:.0f}")
             for key in ("torch fp32", "openvino bf16", "openvino int8")]  # fmt: skip
    assert (
        f"torch fp32 {rates[0][0]} GFLOP/s against {rates[0][1]}, OpenVINO bf16 {rates[1][0]} against {rates[1][1]}, "
        f"OpenVINO int8 {rates[2][0]} against {rates[2][1]})"
    ) in page
    rows = {row["path"]: row for row in measured["ceilings"]}
    fastest, table = rows["openvino-int8 bf16"], measured["speedup_baseline_s"]
    assert (
        f"Over the speed table's torch fp32 ({table:.2f} s) the fastest path's ceiling is "
        f"{fastest['max_speedup_vs_torch_fp32']:.1f}× and the path runs at {fastest['share_of_ceiling']:.0%} of it; "
        f"8× ({table / 8:.2f} s) would need {fastest['ceiling_s'] / (table / 8):.0%} of it"
    ).replace("%", " %") in page
    own = measured["torch_fp32_s"]
    weights, products = rows["every weight product int8"], rows["every product int8"]
    assert (
        f"The command's own torch fp32 pass took {own:.2f} s: over that time the fastest path's ceiling is "
        f"{own / fastest['ceiling_s']:.1f}×, every weight product in int8 {own / weights['ceiling_s']:.1f}× and every "
        f"product in int8 {own / products['ceiling_s']:.1f}×"
    ) in page
    assert own / products["ceiling_s"] < 8.2 and own / fastest["ceiling_s"] < 8  # why 8x needs every product in int8
    gflop = measured["gflop"]
    linear = gflop["Hiera trunk"]["linear"] + gflop["MPAdapter"]["linear"]
    convs = sum(gflop[part]["conv"] for part in ("DRM", "HMIM", "FPN neck", "SAM2 decoder"))
    assert "<!-- measured: kernels_amd_epyc_zen4_model17 -->" in page
    runs = {run["backend"]: run for run in read_measurement("kernels_amd_epyc_zen4_model17")["speed"]}
    fastest, ort = runs["openvino-int8"], runs["onnx-int8"]
    kernels, network = fastest["kernels_s"], fastest["parts_s"]["network"]
    assert (fastest["precision"], fastest["int8_scope"]) == ("bf16-mixed", "Hiera trunk and MPAdapter")
    products, conv, attention, _ = openvino_int8_kernels(fastest)
    peak = measured["peak_gflop_s"]
    assert f"OpenVINO int8 in bf16 took {network:.2f} s per pass there. Its int8 matrix products" in page
    assert (
        f"took {products * 1000:.0f} ms: the trunk's and adapters' {linear:.0f} GFLOP at {linear / products:.0f} "
        f"GFLOP/s, the 4096-square product's rate in the ceiling ({peak['openvino int8']:.0f})"
    ) in page
    assert abs(linear / products / peak["openvino int8"] - 1) < 0.02  # "they run at the peak"
    assert (
        f"took {conv * 1000:.0f} ms, their {convs:.0f} GFLOP at {convs / conv:.0f} GFLOP/s, about bf16's peak "
        f"({peak['openvino bf16']:.0f}); the int8 attention (`Subgraph jit_avx512_i8`) {attention * 1000:.0f} ms, its "
        f"{gflop['Hiera trunk']['attention']:.0f} GFLOP at {gflop['Hiera trunk']['attention'] / attention:.0f} "
        f"GFLOP/s, {gflop['Hiera trunk']['attention'] / attention / peak['openvino int8']:.0%} of int8's".replace(
            "%", " %"
        )
    ) in page
    glue, parts = network - products - conv - attention, glue_kernels(kernels)
    assert (
        f"The glue is the remaining {glue * 1000:.0f} ms: fused bf16 element-wise subgraphs {parts['subgraphs']}, "
        f"transposes {parts['transposes']} ({parts['int8 transposes']} of them of int8 tensors, k's before each "
        f"attention), splits, concatenations and slices {parts['splits']}, interpolations {parts['interpolations']}"
    ) in page
    o = ort["kernels_s"]
    assert (
        f"In ONNX Runtime int8 ({ort['parts_s']['network']:.2f} s per pass) the int8 products took "
        f"{(o['DynamicQuantizeMatMul'] + o['MatMulIntegerToFloat']) * 1000:.0f} ms "
        f"({linear / (o['DynamicQuantizeMatMul'] + o['MatMulIntegerToFloat']):.0f} GFLOP/s), the convolutions, in "
        f"fp32, {o['Conv'] * 1000:.0f}, the attention's products, in fp32 (`MatMul`, `FusedMatMul`), "
        f"{(o['MatMul'] + o['FusedMatMul']) * 1000:.0f}, and transposes {o['Transpose'] * 1000:.0f}"
    ) in page


def test_the_second_zen4_run_reads_as_its_json() -> None:
    """The page's ratios, times, profile and export peak of the model-17 Zen 4 run are its JSON's, and both its int8
    rows were quantized with the default scope (the AMX scope is for AMX only)."""
    from mgd_sam2.inference.export import OPENVINO_INT8

    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    speed = read_measurement("speed_amd_epyc_zen4_model17")["speed"]
    runs = {(run["backend"], run["precision"]): run for run in speed}
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    seconds = {key: run["latency_ms_p50"] / 1000 for key, run in runs.items()}
    latency = base["latency_ms_p50"] / fastest["latency_ms_p50"]
    throughput = fastest["throughput_img_s"] / base["throughput_img_s"]
    assert f"{latency:.1f} times in latency ({throughput:.1f} in throughput), not 8" in page
    first = read_measurement("speed_amd_epyc_avx512")["speed"]
    before = {(run["backend"], run["precision"]): run["latency_ms_p50"] / 1000 for run in first}
    assert (
        f"OpenVINO int8 in bf16 took {seconds['openvino-int8', 'bf16-mixed']:.3f} s against "
        f"{before['openvino-int8', 'bf16-mixed']:.3f}" in page
    )
    assert f"PyTorch fp32 took {seconds['torch', '32-true']:.2f} s against {before['torch', '32-true']:.2f}" in page
    assert f"(8× would be {seconds['torch', '32-true'] / 8:.2f} s)" in page
    bf16, onnx_int8 = seconds["openvino", "bf16-mixed"], seconds["onnx-int8", "32-true"]
    ratios = (seconds["torch", "32-true"] / bf16, seconds["torch", "32-true"] / onnx_int8)
    assert (
        f"OpenVINO bf16 alone {bf16:.3f} s ({ratios[0]:.1f} times), ONNX Runtime int8 {onnx_int8:.3f} s "
        f"({ratios[1]:.1f} times)" in page
    )
    ms = {part: round(value * 1000) for part, value in fastest["parts_s"].items()}
    assert (
        f"trunk {ms['Hiera trunk']} ms, DRM {ms['DRM']}, glue the profile cannot place {ms['other']}, HMIM "
        f"{ms['HMIM']}, pre- and post-processing {ms['pre-processing'] + ms['post-processing']}"
    ) in page
    assert {runs["openvino-int8", precision]["int8_scope"] for precision in ("32-true", "bf16-mixed")} == {
        OPENVINO_INT8.describe()
    }
    peak = max(run["export_peak_memory_mb"] or 0 for run in speed) / 1024
    assert f"Each export step peaked at {peak:.1f} GiB at most" in page
    # its demo model's accuracy table: the --fastest row is the OpenVINO int8 file run in bf16, the same maps
    zen4, amx = (
        {row["label"].split(" (")[0]: row for row in read_measurement(name)["backends"]}
        for name in ("backends_demo_amd_epyc_zen4_model17", "backends_demo_intel_xeon_amx_model167")
    )
    assert zen4["model export --fastest"]["maps_vs_fp32"] == zen4["OpenVINO int8, bf16"]["maps_vs_fp32"]
    te = [table["torch fp32"]["scores"]["SYN-TE"]["Smeasure"] for table in (zen4, amx)]
    assert f"SYN-TE Sα {te[0]:.3f} against {te[1]:.3f} on the model-167 AMX machine" in page


def test_the_second_zen4_later_export_runs_read_as_their_json() -> None:
    """The model-17 Zen 4 of 2026-12-07 with today's export: the benchmarks page's one-run paragraph, the interleaved
    run's and the ceiling's paragraph (its kernel split against the kernels run of 2026-12-05) are their JSONs'."""
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    one_run = read_measurement("speed_amd_epyc_zen4_model17_later_export")
    assert "<!-- measured: speed_amd_epyc_zen4_model17_later_export -->" in benchmarks
    runs = {(run["backend"], run["precision"]): run for run in one_run["speed"]}
    seconds = {key: run["latency_ms_p50"] / 1000 for key, run in runs.items()}
    base, fastest = runs["torch", "32-true"], runs["openvino-int8", "bf16-mixed"]
    assert max(runs.values(), key=lambda run: run["throughput_img_s"]) is fastest
    before = {(run["backend"], run["precision"]): run["latency_ms_p50"] / 1000
              for run in read_measurement("speed_amd_epyc_zen4_model17")["speed"]}  # fmt: skip
    torch_s, fastest_s = seconds["torch", "32-true"], seconds["openvino-int8", "bf16-mixed"]
    assert torch_s < before["torch", "32-true"] and fastest_s > before["openvino-int8", "bf16-mixed"]  # as written
    ms = {part: round(value * 1000) for part, value in fastest["parts_s"].items()}
    peak = max(run["export_peak_memory_mb"] or 0 for run in one_run["speed"]) / 1024
    assert (
        f"{torch_s / fastest_s:.1f} times in latency "
        f"({fastest['throughput_img_s'] / base['throughput_img_s']:.1f} in throughput), not 8: this machine ran "
        f"PyTorch fp32 faster than the one of 2026-12-04 and the fastest path slower. OpenVINO int8 in bf16 took "
        f"{fastest_s:.3f} s against {before['openvino-int8', 'bf16-mixed']:.3f} in the table above, PyTorch fp32 "
        f"{torch_s:.2f} s against {before['torch', '32-true']:.2f} (8× would be {torch_s / 8:.2f} s), OpenVINO bf16 "
        f"alone {seconds['openvino', 'bf16-mixed']:.3f} s ({torch_s / seconds['openvino', 'bf16-mixed']:.1f} times), "
        f"ONNX Runtime int8 {seconds['onnx-int8', '32-true']:.3f} s ({torch_s / seconds['onnx-int8', '32-true']:.1f} "
        f"times). The profile of the fastest path: trunk {ms['Hiera trunk']} ms, DRM {ms['DRM']}, glue the profile "
        f"cannot place {ms['other']}, HMIM {ms['HMIM']}, pre- and post-processing "
        f"{ms['pre-processing'] + ms['post-processing']} (not in the timed pass). Each export step peaked at "
        f"{peak:.1f} GiB at most."
    ) in benchmarks
    measured, turns, turns_base, turns_fastest, counts = balanced_run(
        "speed_amd_epyc_zen4_model17_later_export_interleaved", 10, "1851854"
    )
    assert counts == {2} and measured["date"] == one_run["date"] == "2026-12-07"
    earlier_runs = [interleaved_run(name, rounds) for name, rounds in (
        ("speed_amd_epyc_zen4_model17_interleaved", 10), ("speed_amd_epyc_zen4_model17_tokens", 10),
        ("speed_amd_epyc_zen4_model17_balanced", 12), ("speed_amd_epyc_zen4_model17_period", 10))]  # fmt: skip
    period = earlier_runs[-1]
    earlier = [run[3]["paired_speedup_vs_first"] for run in earlier_runs]
    paired = turns_fastest["paired_speedup_vs_first"]
    assert (
        f"{round_by_round(turns)}. Its pass took {turns_fastest['latency_ms_p50'] / 1000:.3f} s against "
        f"{period[3]['latency_ms_p50'] / 1000:.3f} in the period run, PyTorch fp32's "
        f"{turns_base['latency_ms_p50'] / 1000:.2f} s against {period[2]['latency_ms_p50'] / 1000:.2f}: both slower, "
        f"the ratio the same ({min(earlier):.2f} to {max(earlier):.2f} in the four runs of 2026-12-05). "
        f"{the_others(turns)}."
    ) in page
    assert f"In passes interleaved with PyTorch's the same morning it gave {paired:.2f} times" in benchmarks
    assert f"as in the four interleaved runs of 2026-12-05 ({min(earlier):.2f} to {max(earlier):.2f})" in benchmarks
    assert "<!-- measured: ceiling_amd_epyc_zen4_model17_later_export -->" in page
    ceiling = read_measurement("ceiling_amd_epyc_zen4_model17_later_export")
    assert ceiling["speed_source"]["machine"] == one_run["machine"] and ceiling["speedup_baseline_s"] == torch_s
    rows = {row["path"]: row for row in ceiling["ceilings"]}
    path, own = rows["openvino-int8 bf16"], ceiling["torch_fp32_s"]
    weights, every = rows["every weight product int8"], rows["every product int8"]
    assert path["ceiling_s"] > torch_s / 8  # "out of its reach"
    assert f"its ceiling here is {path['max_speedup_vs_torch_fp32']:.1f}× this table's PyTorch fp32" in benchmarks
    assert (
        f"Over that table's torch fp32 ({torch_s:.2f} s) the fastest path's ceiling is "
        f"{path['max_speedup_vs_torch_fp32']:.1f}× and the path runs at {path['share_of_ceiling']:.0%} of it; 8× "
        f"({torch_s / 8:.2f} s) would need {path['ceiling_s'] / (torch_s / 8):.0%} of it, more than every product at "
        f"the peak rate with nothing else costing time. The command's own torch fp32 pass took {own:.2f} s: over that "
        f"time the fastest path's ceiling is {own / path['ceiling_s']:.1f}×, every weight product in int8 "
        f"{own / weights['ceiling_s']:.1f}× and every product in int8 {own / every['ceiling_s']:.1f}×"
    ).replace("%", " %") in page
    gflop, rate = ceiling["gflop"], ceiling["peak_gflop_s"]
    linear = gflop["Hiera trunk"]["linear"] + gflop["MPAdapter"]["linear"]
    convs = sum(gflop[part]["conv"] for part in ("DRM", "HMIM", "FPN neck", "SAM2 decoder"))
    attention_gflop = gflop["Hiera trunk"]["attention"]
    products, conv, attention, glue = openvino_int8_kernels(fastest)
    parts = glue_kernels(fastest["kernels_s"])
    assert (
        f"per-kernel counters, {fastest['parts_s']['network']:.2f} s per pass): its int8 matrix products took "
        f"{products * 1000:.0f} ms, "
        f"the trunk's and adapters' {linear:.0f} GFLOP at {linear / products:.0f} GFLOP/s, "
        f"{linear / products / rate['openvino int8']:.0%} of the 4096-square product's rate that day "
        f"({rate['openvino int8']:.0f}); the convolutions {conv * 1000:.0f} ms, their {convs:.0f} GFLOP at "
        f"{convs / conv:.0f} GFLOP/s (bf16's peak: {rate['openvino bf16']:.0f}); the int8 attention "
        f"{attention * 1000:.0f} ms, its {attention_gflop:.0f} GFLOP at {attention_gflop / attention:.0f} GFLOP/s, "
        f"{attention_gflop / attention / rate['openvino int8']:.0%} of int8's; and the glue the remaining "
        f"{glue * 1000:.0f} ms: fused bf16 element-wise subgraphs {parts['subgraphs']}, transposes "
        f"{parts['transposes']} ({parts['int8 transposes']} of them of int8 tensors), splits, concatenations and "
        f"slices {parts['splits']}, interpolations {parts['interpolations']}"
    ).replace("%", " %") in page
    kernels_run = next(run for run in read_measurement("kernels_amd_epyc_zen4_model17")["speed"]
                       if run["backend"] == "openvino-int8")  # fmt: skip
    longer = [now / then - 1 for now, then in zip(openvino_int8_kernels(fastest), openvino_int8_kernels(kernels_run),
                                                  strict=True)]  # fmt: skip
    assert min(longer) > 0 and max(longer) == longer[3]
    assert (
        f"the products {longer[0]:.0%}, the convolutions {longer[1]:.0%}, the attention {longer[2]:.0%}, the glue "
        f"{longer[3]:.0%}"
    ).replace("%", " %") in page


def test_the_tta_cost_the_prediction_page_gives_is_its_passes() -> None:
    """prediction.md: TTA is 6 passes at 0.75, 1 and 1.25 scale, 6.25 times one pass's pixels, at the trained size's
    input sides (inference/maps.py)."""
    from mgd_sam2.inference.maps import TTA_SCALES, tta_input_sizes

    sides = tta_input_sizes(1024, 2)
    pixels = 2 * sum(side**2 for side in sides) / 1024**2  # flipped and not
    assert TTA_SCALES == (0.75, 1.0, 1.25) and sides == [768, 1024, 1280] and pixels == 6.25
    page = " ".join((ROOT / "docs/prediction.md").read_text().split())
    assert "6 passes at 0.75, 1 and 1.25 scale, 6.25 times one pass's pixels" in page


def test_the_300_megapixel_limit_has_its_measured_memory() -> None:
    """prediction.md's "any size up to 300 megapixels": base_plus's peak memory at that size, as measured."""
    from mgd_sam2.data.io import DEFAULT_MAX_PIXELS

    measured = read_measurement("detail_300mp_amd_epyc_zen5")
    rows = {row["configuration"]: row for row in measured["cost"]}
    assert all(
        row["preset"] == "base_plus" and row["width"] * row["height"] <= DEFAULT_MAX_PIXELS for row in rows.values()
    )
    assert all(row["width"] * row["height"] > 0.99 * DEFAULT_MAX_PIXELS for row in rows.values())
    peaks = {name: f"{row['peak_rss_mb'] / 1024:.1f} GiB" for name, row in rows.items()}
    page = " ".join((ROOT / "docs/prediction.md").read_text().split())
    stated = (f"base_plus's prediction of one image peaked at {peaks['off']} of memory on a CPU, {peaks['guided']} "
              f"with `--detail guided` and {peaks['tiles x2']} with `--detail tiles` at zoom 2")  # fmt: skip
    assert stated in page, stated


def test_prediction_pages_copies_of_the_detail_and_batch_figures_read_as_their_jsons() -> None:
    """docs/prediction.md's summary of the detail modes and predict --batch-size's help are detail_4k.json's and
    predict_nvidia_h200.json's figures."""
    page = " ".join((ROOT / "docs/prediction.md").read_text().split())
    rows = {row["configuration"]: row for row in read_measurement("detail_4k")["accuracy"]}
    guided, tiles = rows["guided"], [row for name, row in rows.items() if name.startswith("tiles")]
    assert round(guided["HCE_ratio"], 1) == 0.5 and round(guided["time_ratio"]) == 2
    assert "(HCEγ about half the plain path's, in about 2× its time with the demo's model;" in page
    assert (
        all(0.8 < row["HCE_ratio"] < 1 for row in tiles) and "the tiles are not shown to lower HCEγ by a fifth" in page
    )
    runs = {row["batch"]: row for row in read_measurement("predict_nvidia_h200")["predict"] if row["workers"] == 2}
    gain = runs[8]["network_img_s"] / runs[1]["network_img_s"]
    help_text = " ".join(subcommand_parser("predict").format_help().split())
    assert f"the network alone ran {gain:.1f} times as many images per second at 8 as at 1" in help_text
    assert "predict end to end has not shown that gain yet" in help_text
    assert runs[8]["end_to_end_img_s"] < runs[1]["end_to_end_img_s"]


def test_the_detail_goals_read_as_the_measurement_says() -> None:
    """docs/benchmarks.md says which goals of the detail mode its measurement meets: guided all four, by the whole
    interval, and it beats the empty mask on every measure; for tiles mBA +0.03 from x2 on, the size of the gain
    unsettled; no drop of Sα, small losses in every interval; HCEγ 20 % lower at no zoom, x2 closest with an interval
    beyond -20 % but not 0, and above the empty mask's; at most 4x the time with the demo's model up to x4, and
    base_plus's worst case beyond 4x at 16 megapixels; at 8K tiles x2 meets the accuracy goals in at most 4x the
    time. The JSONs must say the same."""
    page = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    assert "<!-- measured: detail_4k -->" in page and "HCEγ 20 % lower is **not met** at any zoom" in page
    assert "tiles ×2 comes closest, and its interval reaches beyond −20 % but not 0" in page
    measured = read_measurement("detail_4k")
    rows = {row["configuration"]: row for row in measured["accuracy"]}
    tiles = [row for name, row in rows.items() if name.startswith("tiles")]
    assert all(row["mBA_gain"] >= 0.03 and row["mBA_gain_interval"][0] < 0.03 for row in tiles)
    assert all(row["Smeasure_gain"] >= 0 and row["Smeasure_gain_interval"][0] < 0 for row in tiles)
    assert all(row["HCE_ratio"] > 0.8 for row in tiles)
    assert min(tiles, key=lambda row: row["HCE_ratio"])["configuration"] == "tiles x2"
    low, high = rows["tiles x2"]["HCE_ratio_interval"]
    assert low < 0.8 < high < 1
    hce = [rows[mode]["per_image"]["HCE"] for mode in ("tiles x2", "off")]
    per_image = [x2 / off for x2, off in zip(*hce, strict=True)]
    stated = "HCEγ ratio ran from 0.09 to 1.07 over the 30 images, lower on 22 of them"
    assert stated in page and (f"{min(per_image):.2f}", f"{max(per_image):.2f}") == ("0.09", "1.07")
    assert len(per_image) == 30 and sum(ratio < 1 for ratio in per_image) == 22
    assert rows["tiles x2"]["time_ratio"] <= 4 and rows["tiles x4"]["time_ratio"] <= 4
    cost = {(row["megapixels"], row["configuration"]): row for row in measured["cost"]}
    assert cost[16.0, "tiles x2"]["time_ratio"] > 4 and cost[16.0, "tiles x2"]["passes"] == 5
    guided, empty = rows["guided"], rows["empty mask"]
    change_cell = docs_hooks().change_cell
    assert "**`guided` meets all four**, and each by its whole interval" in page
    assert guided["mBA_gain_interval"][0] >= 0.03 and guided["HCE_ratio_interval"][1] <= 0.8
    assert guided["Smeasure_gain_interval"][0] > 0 and guided["time_ratio"] <= 4
    slowest = max(row["time_ratio"] for (_, name), row in cost.items() if name == "guided")
    assert f"in {guided['time_ratio']:.2f}× the plain path's time" in page and f"at most {slowest:.2f}×" in page
    losses = [g - o for g, o in zip(guided["per_image"]["Smeasure"], rows["off"]["per_image"]["Smeasure"], strict=True)]
    stated = f"lower on {sum(loss < 0 for loss in losses)} of the 30 images, by at most {-min(losses):.3f}"
    assert stated in page, stated
    peaks = {f"{cost[33.0, name]['peak_rss_mb'] / 1024:.2f}" for name in ("off", "guided")}
    assert peaks == {"2.33"} and "peak at 33 megapixels is the same 2.33 GiB with and without it" in page
    stated = (
        f"mBA {change_cell(guided, 'mBA_gain')}, HCEγ {change_cell(guided, 'HCE_ratio')}, Sα "
        f"{change_cell(guided, 'Smeasure_gain')[:-1]};"
    )
    assert stated in page, stated
    assert "every zoom's HCEγ is above the empty mask's" in page and all(row["HCE"] > empty["HCE"] for row in tiles)
    means = ", ".join(f"{key} {guided[name]:{form}} vs {empty[name]:{form}}" for key, name, form in
                      (("Sα", "Smeasure", ".3f"), ("maxFβ", "maxFm", ".3f"), ("mBA", "mBA", ".3f"),
                       ("HCEγ", "HCE", ".0f")))  # fmt: skip
    assert f"better on the means of Sα, maxFβ, mBA and HCEγ ({means}; not on MAE, {guided['MAE']:.3f} vs " in page
    assert guided["MAE"] > empty["MAE"] and empty["HCE"] < rows["off"]["HCE"] and empty["mBA"] > rows["off"]["mBA"]
    assert guided["Smeasure"] > empty["Smeasure"] and guided["maxFm"] > empty["maxFm"]
    assert guided["mBA"] > empty["mBA"] and guided["HCE"] < empty["HCE"]
    # against the empty mask, as the table's intervals against off (benchmark.detail's functions, the JSON's values)
    from mgd_sam2.benchmark.detail import gain, paired_interval, ratio

    against, intervals = {}, {}
    for key, name, statistic in (("Smeasure", "Smeasure_gain", gain), ("mBA", "mBA_gain", gain),
                                 ("HCE", "HCE_ratio", ratio)):  # fmt: skip
        values = [np.array(row["per_image"][key], dtype=float) for row in (empty, guided)]
        intervals[key] = paired_interval(*values, statistic)
        against[key] = change_cell({name: float(statistic(*values)), f"{name}_interval": intervals[key]}, name)
    stated = f"Sα {against['Smeasure']}, mBA {against['mBA']}, HCEγ {against['HCE']}"
    assert stated in page, stated
    assert "the split settles only Sα" in page
    assert intervals["Smeasure"][0] > 0 and intervals["mBA"][0] < 0 < intervals["mBA"][1]
    assert intervals["HCE"][0] < 1 < intervals["HCE"][1]
    lower = sum(g < e for g, e in zip(guided["per_image"]["HCE"], empty["per_image"]["HCE"], strict=True))
    higher = sum(g > e for g, e in zip(guided["per_image"]["mBA"], empty["per_image"]["mBA"], strict=True))
    assert f"guided's HCEγ is lower on {lower} of the 30 images, its mBA higher on {higher}" in page
    ratios = [g / o for g, o in zip(guided["per_image"]["HCE"], rows["off"]["per_image"]["HCE"], strict=True)]
    stated = f"guided's from {min(ratios):.2f} to {max(ratios):.2f}, lower on {sum(r < 1 for r in ratios)}"
    assert stated in page, stated
    assert "At 8K, tiles ×2 meets the three accuracy goals" in page
    rows = {row["configuration"]: row for row in read_measurement("detail_8k")["accuracy"]}
    x2 = rows["tiles x2"]
    assert x2["mBA_gain"] >= 0.03 and x2["HCE_ratio"] <= 0.8 and x2["Smeasure"] >= rows["off"]["Smeasure"]
    assert x2["time_ratio"] <= 4
    guided, empty = rows["guided"], rows["empty mask"]
    cell = docs_hooks().change_cell
    stated = (
        f"mBA {cell(guided, 'mBA_gain')}, HCEγ {cell(guided, 'HCE_ratio')[:-1]}: the interval's end misses −20 %), "
        f"Sα {cell(guided, 'Smeasure_gain')}, in {guided['time_ratio']:.2f}× the time"
    )
    assert stated in page, stated
    assert guided["HCE_ratio_interval"][1] > 0.8 and guided["HCE_ratio"] < 0.8
    stated = f"mBA ({empty['mBA']:.3f} vs {guided['mBA']:.3f}) and HCEγ ({empty['HCE']:.0f} vs {guided['HCE']:.0f})"
    assert stated in page, stated
    assert all(row["HCE"] > empty["HCE"] for name, row in rows.items() if name.startswith("tiles"))
    stated = (f"(guided {guided['Smeasure']:.3f} and {guided['maxFm']:.3f}, the empty mask {empty['Smeasure']:.3f} "
              f"and {empty['maxFm']:.3f})")  # fmt: skip
    assert stated in page, stated
    summary = " ".join((ROOT / "docs/prediction.md").read_text().split())  # the prediction page's reading of both
    assert "On the 4K split `guided` is the only mode that meets every goal against the plain path" in summary
    stated = ("on an 8K split both lower HCEγ by a fifth or more on the point estimate and neither by its whole "
              "interval, and there the empty mask scores as well as either on mBA and HCEγ")  # fmt: skip
    assert stated in summary, stated
    both = [rows[name] for name in ("tiles x2", "guided")]  # rows: detail_8k's
    assert all(row["HCE_ratio"] <= 0.8 < row["HCE_ratio_interval"][1] for row in both)
    reach = round(100 * (1 - rows["tiles x2"]["HCE_ratio_interval"][1]))
    assert f"(its interval reaches only −{reach} %: by intervals, as at 4K, the HCEγ goal is not shown)" in page


def test_the_ceiling_claims_are_the_measured_ceilings() -> None:
    """docs/speed-runs.md says how far the AVX-512 BF16 machine's ceilings reach over the speed table's torch fp32
    and over the fastest torch fp32 measured there (10.1 s, which it names): with this run's rates 8× of the latter
    is above every path's ceiling, every product in int8 included, and how near its ceiling the fastest path runs:
    the JSON must say the same, with the figures as the page writes them."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    assert "<!-- measured: ceiling_amd_epyc_avx512 -->" in page
    measured = read_measurement("ceiling_amd_epyc_avx512")
    speed = read_measurement("speed_amd_epyc_avx512")["speed"]
    assert "avx512_bf16" in measured["machine"] and "amx" not in measured["machine"]
    assert measured["speedup_baseline"] == "torch fp32 of the --speed file"
    table_s = next(run for run in speed if (run["backend"], run["precision"]) == ("torch", "32-true"))
    assert measured["speedup_baseline_s"] == table_s["latency_ms_p50"] / 1000  # the speed table beside it
    rows = {row["path"]: row for row in measured["ceilings"]}
    paths = [row for name, row in rows.items() if not name.startswith("every")]
    fastest, limit = rows["openvino-int8 bf16"], rows["every product int8"]
    assert fastest["measured_s"] == min(row["measured_s"] for row in paths if row["measured_s"] is not None)
    # the fastest torch fp32 measured there: the speed table of 2026-12-01 (git show 00319a0:docs/measurements/...)
    baseline = measured["speedup_baseline_s"]
    fastest_torch = min(10.1, round(baseline, 1))
    table = "[the table](benchmarks.md#the-fastest-path-for-your-cpu)"  # the speed table, on the other page
    assert f"{baseline:.1f} s in {table}, {fastest_torch} s in the run of 2026-12-01" in page
    assert f"{measured['torch_fp32_s']:.1f} s in this command's own pass" in page
    assert f"its 4096-square fp32 product ran at {measured['peak_gflop_s']['torch fp32']:.0f} GFLOP/s" in page
    assert f"the fastest path's ceiling is {fastest['max_speedup_vs_torch_fp32']:.1f}× here" in page
    assert f"the path runs at {fastest['share_of_ceiling']:.0%} of its ceiling".replace("%", " %") in page
    needed = fastest["ceiling_s"] / (baseline / 8)  # 8x's time, as the share of it the ceiling is
    assert f"8× would need {needed:.0%} of it".replace("%", " %") in page
    assert max(fastest_torch / row["ceiling_s"] for row in measured["ceilings"]) < 8
    assert f"ceiling ({fastest['ceiling_s']:.2f} s) is {fastest_torch / fastest['ceiling_s']:.1f}× of it" in page
    assert f"raise the limit to {fastest_torch / limit['ceiling_s']:.1f}× of it" in page
    assert f"({limit['max_speedup_vs_torch_fp32']:.1f}× of {baseline:.1f} s;" in page
    assert f"OpenVINO fp32 ran at {rows['openvino fp32']['share_of_ceiling']:.0%} of its own".replace("%", " %") in page
    assert f"run at {measured['peak_gflop_s']['openvino fp32']:.0f} GFLOP/s in this command" in page
    # the AMX machine: 8x within its fastest path's ceiling, over either torch fp32 time
    assert "<!-- measured: ceiling_intel_xeon_amx -->" in page
    measured = read_measurement("ceiling_intel_xeon_amx")
    assert "CPU kind amx" in measured["machine"]
    fastest = next(row for row in measured["ceilings"] if row["path"] == "openvino-int8 bf16")
    own = measured["torch_fp32_s"] / fastest["ceiling_s"]
    stated = (
        f"the fastest path's ceiling is {fastest['max_speedup_vs_torch_fp32']:.1f}× the speed table's torch fp32 "
        f"({own:.1f}× this command's own, faster, torch fp32 run), and the path runs at "
        f"{fastest['share_of_ceiling']:.0%} of it ({fastest['measured_speedup_vs_torch_fp32']:.1f}× in latency)"
    )
    assert stated.replace("%", " %") in page, stated
    assert 8 < own < fastest["max_speedup_vs_torch_fp32"]  # its own torch fp32 ran faster than the speed table's


def test_the_avx2_claims_are_the_emulated_measurements() -> None:
    """docs/speed-runs.md and docs/benchmarks.md say what AVX2 kernels of the AVX-512 machine gave: OpenVINO's gains
    over torch fp32, int8 slower than fp32, and 3x above every path's ceiling there; the JSON must say the same,
    measured under the switches (its machine line names them) and without ONNX Runtime, which they cannot limit."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    limits = "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"
    speed = read_measurement("speed_amd_epyc_avx2_emulated")
    ceiling = read_measurement("ceiling_amd_epyc_avx2_emulated")
    for measured in (speed, ceiling):
        assert f"instruction sets limited by {limits}" in measured["machine"] and measured["command"].startswith(limits)
    seconds = {row["backend"]: row["latency_ms_p50"] / 1000 for row in speed["speed"]}
    assert set(seconds) == {"torch", "openvino", "openvino-int8"}  # fp32 only: no bf16, no ONNX Runtime
    assert seconds["openvino-int8"] > seconds["openvino"]  # "OpenVINO int8 ran slower than OpenVINO fp32"
    gains = (seconds["torch"] / seconds["openvino"], seconds["torch"] / seconds["openvino-int8"])
    assert f"gave {gains[0]:.1f} times in fp32, {gains[1]:.1f} in int8" in benchmarks
    rows = {row["path"]: row for row in ceiling["ceilings"]}
    limit = rows["every product int8"]
    assert max(row["max_speedup_vs_torch_fp32"] for row in rows.values()) == limit["max_speedup_vs_torch_fp32"] < 3
    own = ceiling["torch_fp32_s"] / limit["ceiling_s"]
    assert f"would be at most {limit['max_speedup_vs_torch_fp32']:.1f} times torch fp32 ({own:.1f} times over" in page
    limit_x = limit["max_speedup_vs_torch_fp32"]
    stated = f"above the ceiling of every PyTorch and OpenVINO path, {limit_x:.1f}× on AVX2 kernels"
    assert own < 3 and stated in benchmarks
    assert ceiling["speed_source"]["command"] in speed["command"]  # the ceiling's --speed is the table above
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"(at most {limit['max_speedup_vs_torch_fp32']:.1f} times, measured on AVX2 kernels)" in readme


def test_the_avx2_claims_are_the_native_measurements() -> None:
    """On the AVX2-only machine (its own kernels, no switches) the avx2 path, ONNX Runtime int8, is the fastest of every
    backend; README, docs/speed-runs.md and docs/benchmarks.md give its speed-up, its ceiling (within which 3x lies)
    and the rates as the JSONs have them; every PyTorch and OpenVINO path's ceiling there is below 3x, and OpenVINO
    int8 ran slower than OpenVINO fp32."""
    from mgd_sam2.inference.fastest import FASTEST

    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    speed = read_measurement("speed_amd_epyc_avx2")
    ceiling = read_measurement("ceiling_amd_epyc_avx2")
    for measured in (speed, ceiling):
        assert "CPU kind avx2 (flags: avx2;" in measured["machine"] and "limited by" not in measured["machine"]
    assert ceiling["speed_source"]["command"] == speed["command"]  # the ceiling's --speed is the table above
    runs = {run["backend"]: run for run in speed["speed"]}
    assert set(runs) == {"torch", "onnx", "onnx-int8", "openvino", "openvino-int8"}
    assert {run["precision"] for run in speed["speed"]} == {"32-true"}  # bf16 is not native there
    chosen = FASTEST["avx2"]
    assert chosen.backend == "onnx-int8" and "speed_amd_epyc_avx2.json" in chosen.basis
    fastest, torch_fp32 = runs[chosen.backend], runs["torch"]
    assert fastest["throughput_img_s"] == max(run["throughput_img_s"] for run in runs.values())
    assert fastest["latency_ms_p50"] == min(run["latency_ms_p50"] for run in runs.values())
    latency = torch_fp32["latency_ms_p50"] / fastest["latency_ms_p50"]
    throughput = fastest["throughput_img_s"] / torch_fp32["throughput_img_s"]
    assert latency < 3 and throughput < 3  # the goal is not met there, as both pages say
    assert f"ONNX Runtime int8 gives {latency:.1f} times PyTorch fp32 ({throughput:.2f} times the throughput)" in readme
    seconds = fastest["latency_ms_p50"] / 1000, torch_fp32["latency_ms_p50"] / 1000
    assert (
        f"{latency:.1f} times torch fp32 in median latency ({seconds[0]:.2f} against {seconds[1]:.2f} s; "
        f"{throughput:.2f} times in throughput)" in page
    )
    assert runs["openvino-int8"]["latency_ms_p50"] > runs["openvino"]["latency_ms_p50"]
    rows = {row["path"]: row for row in ceiling["ceilings"]}
    own = rows["onnx-int8"]
    needed = own["ceiling_s"] / (seconds[1] / 3)  # 3x's time, as the share of it the ceiling is
    assert own["max_speedup_vs_torch_fp32"] > 3
    stated = (
        f"within its ceiling ({own['max_speedup_vs_torch_fp32']:.1f}×) but not reached: the path runs at "
        f"{own['share_of_ceiling']:.0%} of its ceiling, and 3× would need {needed:.0%}"
    )
    assert stated.replace("%", " %") in page
    others = max(row["max_speedup_vs_torch_fp32"] for name, row in rows.items() if not name.startswith("onnx"))
    assert (
        others < 3
        and f"2.3× on AVX2 kernels ([AVX2 kernels on a larger CPU](speed-runs.md#avx2-kernels-on-a-larger-cpu); "
        f"{others:.1f}× on the Zen 3"
        in benchmarks
    )
    rates = ceiling["peak_gflop_s"]
    assert (
        f"its int8 product ran at {rates['onnx int8']:.0f} GFLOP/s against OpenVINO's {rates['openvino int8']:.0f}"
        in page
    )
    assert rates["onnx int8"] > 2 * max(rate for name, rate in rates.items() if name.endswith("fp32"))
    # the masks: the avx2 path within the bounds there, OpenVINO int8 past one level (16-bit pair sums)
    backends = read_measurement("backends_demo_amd_epyc_avx2")
    assert backends["machine"] == speed["machine"]
    rows = {row["label"]: row for row in backends["backends"]}
    reference, int8, openvino_int8 = (
        rows[label] for label in ("torch fp32", "ONNX Runtime int8", "OpenVINO int8, fp32")
    )
    for split, scores in int8["scores"].items():
        assert abs(scores["Smeasure"] - reference["scores"][split]["Smeasure"]) < 0.0001
    assert f"its maps {int8['maps_vs_fp32']['mean']:.2f} levels from fp32 on average there" in benchmarks
    maps = openvino_int8["maps_vs_fp32"]
    assert maps["mean"] > 1
    assert f"on the AVX2-only Zen 3, {maps['mean']:.2f} levels (largest {maps['max']})" in benchmarks


def test_the_readme_names_the_file_fastest_writes_for_each_cpu_kind() -> None:
    """The README's Speed example names model_int8.xml; the sentence after it says which file each kind gets (a try-out
    on AVX2 followed the example and found no .xml): the same as FASTEST."""
    from mgd_sam2.inference.fastest import FASTEST, stem_files

    readme = " ".join((ROOT / "README.md").read_text().split())
    files = {kind: stem_files(Path("model"))[path.backend].name for kind, path in FASTEST.items()}
    said = {"model_int8.xml": {"amx", "avx512_bf16", "avx512_vnni", "avx2_vnni"},  # VNNI or native bf16
            "model_int8.onnx": {"avx512", "avx2"}, "model.onnx": {"other"}}  # fmt: skip
    assert {kind: name for name, kinds in said.items() for kind in kinds} == files
    assert (
        "`model_int8.xml` (OpenVINO int8) where the CPU has VNNI or native bf16, `model_int8.onnx` (ONNX Runtime int8, "
        "which needs no `--calibration`) where it has AVX2 or AVX-512 without them, `model.onnx` on CPUs without AVX2 "
        "(older x86, ARM)."
    ) in readme


def test_the_avx2_interleaved_run_is_the_page() -> None:
    """The AVX2-only machine's interleaved run (ONNX Runtime int8 in turns with PyTorch fp32) as docs/speed-runs.md and
    docs/benchmarks.md give it: the times, the paired speed-up (the median of the rounds' ratios), its range, and how
    many rounds reached 3x."""
    name = "speed_amd_epyc_avx2_interleaved"
    measured = read_measurement(name)
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    assert f"<!-- measured: {name} -->" in page
    assert "CPU kind avx2 (flags: avx2;" in measured["machine"] and "commit a165805" in measured["machine"]
    assert measured["interleaved"]["rounds"] == 10 and "--interleave --iters 10" in measured["command"]
    base, int8 = measured["speed"]
    assert (base["backend"], int8["backend"]) == ("torch", "onnx-int8") and base["paired_speedup_vs_first"] == 1.0
    ratios = [t / f for t, f in zip(base["latencies_ms"], int8["latencies_ms"], strict=True)]
    paired = int8["paired_speedup_vs_first"]
    assert statistics.median(ratios) == paired and len(ratios) == 10 and max(ratios) < 3
    assert (
        f"In turns with PyTorch fp32 ({base['latency_ms_p50'] / 1000:.2f} s median, "
        f"{base['latency_ms_p90'] / 1000:.2f} s at p90), ONNX Runtime int8 gave {paired:.2f} times in paired passes "
        f"({int8['throughput_img_s'] / base['throughput_img_s']:.2f} in throughput, "
        f"{base['latency_ms_p50'] / int8['latency_ms_p50']:.2f} in median latency), {min(ratios):.2f} to "
        f"{max(ratios):.2f} times round by round, at least 3 in none of the 10 rounds"
    ) in page
    assert (
        f"{paired:.2f} in passes interleaved with PyTorch's on another such machine on {measured['date']}" in benchmarks
    )
    from mgd_sam2.inference.fastest import FASTEST  # --fastest's reason for avx2 gives it too

    assert f"{paired:.2f} times in passes interleaved with torch fp32 on another such machine, {name}.json" in (
        FASTEST["avx2"].basis
    )


def test_the_avx2_vnni_claims_are_the_emulated_measurements() -> None:
    """The avx2_vnni kind's path (OpenVINO int8 in fp32) is the fastest of the run on AVX2 kernels with AVX-VNNI,
    at least 3 times torch fp32 there, and docs/speed-runs.md gives its figures as the JSON has them, with
    the ceiling's own, faster, torch fp32 pass beside them."""
    from mgd_sam2.inference.fastest import FASTEST

    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    limits = "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2_VNNI"
    speed = read_measurement("speed_amd_epyc_avx2_vnni_emulated")
    ceiling = read_measurement("ceiling_amd_epyc_avx2_vnni_emulated")
    for measured in (speed, ceiling):
        assert f"instruction sets limited by {limits} (" in measured["machine"] and "avx_vnni" in measured["machine"]
        assert measured["command"].startswith(f"{limits} mgd-sam2 benchmark")
    assert ceiling["speed_source"]["command"] == speed["command"]  # the ceiling's --speed is the table above
    runs = {(run["backend"], run["precision"]): run for run in speed["speed"]}
    chosen = FASTEST["avx2_vnni"]
    fastest = runs[chosen.backend, chosen.precision]
    assert fastest["throughput_img_s"] == max(run["throughput_img_s"] for run in runs.values())
    torch_fp32 = runs["torch", "32-true"]
    ratio = fastest["throughput_img_s"] / torch_fp32["throughput_img_s"]
    assert ratio >= 3  # the README's "3x on AVX2 is reached with AVX-VNNI (emulated)"
    seconds = fastest["latency_ms_p50"] / 1000, torch_fp32["latency_ms_p50"] / 1000
    assert (
        f"gave {ratio:.1f} times the throughput of torch fp32 in this run ({seconds[0]:.2f} against "
        f"{seconds[1]:.2f} s, {seconds[1] / seconds[0]:.1f} times in median latency)" in page
    )
    own = ceiling["torch_fp32_s"]
    assert f"the ceiling's own torch fp32 pass took {own:.2f} s ({own / seconds[0]:.1f} times" in page
    assert f"OpenVINO's int8 product ran at {ceiling['peak_gflop_s']['openvino int8']:.0f} GFLOP/s" in page
    assert "speed_amd_epyc_avx2_vnni_emulated.json" in chosen.basis


def test_the_avx512_claims_are_the_emulated_measurements() -> None:
    """On AVX-512 kernels with VNNI and no bf16, the avx512_vnni path (OpenVINO int8 in fp32) is the fastest of the run,
    as docs/speed-runs.md says; without VNNI, OpenVINO int8's maps are past one grey level (the figure the
    page gives), so the avx512 kind keeps its unmeasured choice, and no other row there is past it."""
    from mgd_sam2.inference.fastest import FASTEST

    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    prefix = "ATEN_CPU_CAPABILITY=avx512 MKL_ENABLE_INSTRUCTIONS=AVX512 ONEDNN_MAX_CPU_ISA="
    for kind, limit in (("avx512_vnni", "AVX512_CORE_VNNI"), ("avx512", "AVX512_CORE")):
        names = ("speed_amd_epyc_" + kind + "_emulated", "backends_demo_" + kind + "_emulated")
        for name in names:
            measured = read_measurement(name)
            assert f"instruction sets limited by {prefix}{limit} (" in measured["machine"], name
            assert measured["command"].startswith(f"{prefix}{limit} mgd-sam2 benchmark"), name
            assert f"{name}.json" in FASTEST[kind].basis
    speed = read_measurement("speed_amd_epyc_avx512_vnni_emulated")["speed"]
    runs = {(run["backend"], run["precision"]): run for run in speed}
    chosen, torch_fp32 = runs["openvino-int8", "32-true"], runs["torch", "32-true"]
    assert (FASTEST["avx512_vnni"].backend, FASTEST["avx512_vnni"].precision) == ("openvino-int8", "32-true")
    assert chosen["throughput_img_s"] == max(run["throughput_img_s"] for run in speed)
    ratio = chosen["throughput_img_s"] / torch_fp32["throughput_img_s"]
    seconds = chosen["latency_ms_p50"] / 1000, torch_fp32["latency_ms_p50"] / 1000
    assert (
        f"OpenVINO int8 gave {ratio:.1f} times the throughput of torch fp32 in this run ({seconds[0]:.2f} against "
        f"{seconds[1]:.2f} s" in page
    )
    openvino_fp32 = runs["openvino", "32-true"]["throughput_img_s"] / torch_fp32["throughput_img_s"]
    assert f"and OpenVINO fp32 {openvino_fp32:.1f} times" in page

    def int8_maps(kind: str) -> float:
        rows = read_measurement(f"backends_demo_{kind}_emulated")["backends"]
        return next(row for row in rows if row["label"] == "OpenVINO int8, fp32")["maps_vs_fp32"]["mean"]

    mean, with_vnni = int8_maps("avx512"), int8_maps("avx512_vnni")
    assert mean >= 1 and f"OpenVINO int8's maps of the demo model were {mean:.2f} grey levels" in page
    assert with_vnni < 1 and f"({with_vnni:.2f} with VNNI)" in page
    speed = read_measurement("speed_amd_epyc_avx512_emulated")["speed"]
    runs = {(run["backend"], run["precision"]): run for run in speed}
    fp32, int8, plain = (runs[backend, "32-true"] for backend in ("openvino", "openvino-int8", "torch"))
    ratio = fp32["throughput_img_s"] / plain["throughput_img_s"]
    assert f"OpenVINO fp32, 3.0 (interleaved) to {ratio:.1f} times (this run) torch fp32 here" in page
    assert "torch fp32 took 9.67 s, OpenVINO fp32 3.20 s" in page and f"{9.67 / 3.20:.1f}" == "3.0"
    assert (
        f"OpenVINO fp32 gave {fp32['throughput_img_s'] / int8['throughput_img_s']:.2f} times the throughput of "
        f"OpenVINO int8 in this run ({fp32['latency_ms_p50'] / 1000:.2f} against {int8['latency_ms_p50'] / 1000:.2f} s"
        in page
    )
    assert FASTEST["avx512"].backend != "openvino-int8" and FASTEST["avx512"].basis.startswith("not measured")


def test_the_zen5_ceiling_claims_are_the_measured_ceilings() -> None:
    """On the Zen 5, 8x is within the fastest path's ceiling: docs/speed-runs.md's figures are the JSON's."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    measured = read_measurement("ceiling_amd_epyc_zen5")
    speed = read_measurement("speed_amd_epyc_zen5")
    assert measured["speed_source"]["command"] == speed["command"] and "CPU family 26" in measured["machine"]
    rows = {row["path"]: row for row in measured["ceilings"]}
    fastest = rows["openvino-int8 bf16"]
    own = measured["torch_fp32_s"] / fastest["ceiling_s"]
    needed = fastest["ceiling_s"] / (measured["speedup_baseline_s"] / 8)
    assert fastest["max_speedup_vs_torch_fp32"] > 8 and needed < 1
    stated = (
        f"the fastest path's ceiling is {fastest['max_speedup_vs_torch_fp32']:.1f}× the speed table's torch fp32 "
        f"({own:.1f}× this command's own, slower, torch fp32 run), and the path runs at "
        f"{fastest['share_of_ceiling']:.0%} of it ({fastest['measured_speedup_vs_torch_fp32']:.1f}× in latency); "
        f"8× would need {needed:.0%} of it. OpenVINO bf16 already runs at "
        f"{rows['openvino bf16']['share_of_ceiling']:.0%} of its own ceiling"
    )
    assert stated.replace("%", " %") in page, stated


def test_the_later_zen5_claims_read_as_their_jsons() -> None:
    """The Zen 5 of 2026-12-05 with the later export: every figure the page gives of its speed table,
    its interleaved run, its kernels, its ceiling and its accuracy table is its JSON's, and 8x holds as they say."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    name = "speed_amd_epyc_zen5_later_export"
    measured = read_measurement(name)
    assert "CPU family 26, model 2" in measured["machine"] and "commit cb25fe1" in measured["machine"]
    table = {(run["backend"], run["precision"]): run for run in measured["speed"]}
    first = {(run["backend"], run["precision"]): run for run in read_measurement("speed_amd_epyc_zen5")["speed"]}
    base, fastest = table["torch", "32-true"], table["openvino-int8", "bf16-mixed"]
    latency = base["latency_ms_p50"] / fastest["latency_ms_p50"]
    throughput = fastest["throughput_img_s"] / base["throughput_img_s"]
    assert latency > 8 and throughput > 8
    assert (
        f"OpenVINO int8 with bf16 took {fastest['latency_ms_p50'] / 1000:.3f} s per image, {latency:.1f} times "
        f"PyTorch fp32 in latency and {throughput:.1f} times its throughput"
    ) in page

    def less(key: tuple[str, str]) -> str:
        assert table[key]["latency_ms_p50"] < first[key]["latency_ms_p50"]
        return percent_apart(table[key]["latency_ms_p50"], first[key]["latency_ms_p50"])

    onnx, torch_fp32 = ("onnx", "32-true"), ("torch", "32-true")
    assert (
        f"ONNX Runtime fp32 {table[onnx]['latency_ms_p50'] / 1000:.2f} against "
        f"{first[onnx]['latency_ms_p50'] / 1000:.2f} s, {less(onnx)} less; PyTorch fp32 "
        f"{base['latency_ms_p50'] / 1000:.2f} against {first[torch_fp32]['latency_ms_p50'] / 1000:.2f} s, "
        f"{less(torch_fp32)} less; OpenVINO int8 with bf16 {less(('openvino-int8', 'bf16-mixed'))} less"
    ) in page
    ceiling = read_measurement("ceiling_amd_epyc_zen5_later_export")
    assert ceiling["speed_source"]["command"] == measured["command"]
    peaks = ceiling["peak_gflop_s"]
    before = read_measurement("ceiling_amd_epyc_zen5")["peak_gflop_s"]
    assert all(peaks[engine] > before[engine] for engine in peaks)  # "higher on every engine here"
    assert f"OpenVINO int8 {peaks['openvino int8']:.0f} against {before['openvino int8']:.0f} GFLOP/s" in page

    runs = interleaved_run("speed_amd_epyc_zen5_later_export_interleaved", 12)[1]
    i_fastest = runs["openvino-int8", "bf16-mixed"]
    assert i_fastest["paired_speedup_vs_first"] > 8
    peak = read_measurement("speed_amd_epyc_zen5_later_export_interleaved")["interleaved"]["peak_host_memory_mb"]
    assert f"the one process peaked at {peak / 1024:.1f} GiB" in page
    assert round_by_round(runs) in page
    assert (
        f"`benchmark ceiling`'s own pass took {ceiling['torch_fp32_s']:.2f} s the same hour, and over it the fastest "
        f"path's median pass here ({i_fastest['latency_ms_p50'] / 1000:.3f} s) is "
        f"{ceiling['torch_fp32_s'] * 1000 / i_fastest['latency_ms_p50']:.1f} times"
    ) in page
    assert (
        f"8.7× in throughput in one run, {i_fastest['paired_speedup_vs_first']:.2f}× in passes interleaved with "
        f"PyTorch's (the median of 12 rounds; {ceiling['torch_fp32_s'] * 1000 / i_fastest['latency_ms_p50']:.1f}× "
        "over the fastest single torch fp32 pass measured there)"
    ) in benchmarks and f"{throughput:.1f}" == "8.7"

    kernels, network = fastest["kernels_s"], fastest["parts_s"]["network"]

    def ms(*prefixes: str) -> float:
        return 1000 * sum(seconds for kernel, seconds in kernels.items() if kernel.startswith(prefixes))

    products = ms("FullyConnected brgemm_avx512_I8", "FullyConnectedQuantizedLegacy")
    convolutions = ms("Convolution", "GroupConvolution")  # ConvolutionBackpropData too
    attention, bf16_products = ms("Subgraph jit_avx512_i8"), ms("FullyConnected brgemm_avx512_bf16")
    glue = 1000 * network - products - convolutions - attention - bf16_products
    int8_gflop = sum(ceiling["gflop"][part]["linear"] for part in ("Hiera trunk", "MPAdapter"))
    attention_gflop = ceiling["gflop"]["Hiera trunk"]["attention"]
    assert (
        f"{network * 1000:.0f} ms per pass): the int8 matrix products {products:.0f} ms (`FullyConnected "
        f"brgemm_avx512_I8` and `FullyConnectedQuantizedLegacy`), the trunk's and adapters' {int8_gflop:.0f} GFLOP "
        f"at {int8_gflop / products * 1000:.0f} GFLOP/s, the "
        f"4096-square product's rate ({peaks['openvino int8']:.0f}): at the peak; the convolutions (DRM, HMIM, neck, "
        f"decoder) {convolutions:.0f} ms, at bf16's peak; the int8 attention (`Subgraph jit_avx512_i8`) "
        f"{attention:.0f} ms, its {attention_gflop:.0f} GFLOP at {attention_gflop / attention * 1000:.0f} GFLOP/s, "
        f"{attention_gflop / attention * 1000 / peaks['openvino int8']:.0%} of int8's; the bf16 matrix products "
        f"(decoder, MCEM) {bf16_products:.0f} ms; and the glue the rest, {glue:.0f} ms: fused bf16 element-wise "
        f"subgraphs {ms('Subgraph jit_avx512_bf16'):.0f}, transposes {ms('Transpose'):.0f} "
        f"({ms('Transpose unknown_i8'):.0f} of them of int8 tensors), splits and concatenations in reference "
        f"kernels {ms('VariadicSplit ref', 'Concat ref'):.0f}, interpolations {ms('Interpolate'):.0f}"
    ).replace("%", " %") in page
    assert abs(int8_gflop / products * 1000 / peaks["openvino int8"] - 1) < 0.01  # "at the peak"
    assert convolutions / 1000 * peaks["openvino bf16"] <= sum(
        ceiling["gflop"][part]["conv"] for part in ceiling["gflop"]
    )  # at or above the 4096-square bf16 product's rate

    rows = {row["path"]: row for row in ceiling["ceilings"]}
    path = rows["openvino-int8 bf16"]
    assert (
        f"The fastest path runs at {path['share_of_ceiling']:.0%} of its ceiling "
        f"({path['max_speedup_vs_torch_fp32']:.1f}× the speed table's torch fp32, "
        f"{ceiling['torch_fp32_s'] / path['ceiling_s']:.1f}× this command's own, faster, torch fp32 pass); 8× "
        f"needed {path['ceiling_s'] / (ceiling['speedup_baseline_s'] / 8):.0%} of it"
    ).replace("%", " %") in page
    assert ceiling["torch_fp32_s"] < ceiling["speedup_baseline_s"]  # "faster"

    backends = {row["label"]: row for row in read_measurement("backends_demo_amd_epyc_zen5_later_export")["backends"]}
    zen4 = {row["label"]: row for row in read_measurement("backends_demo")["backends"]}
    assert backends["torch fp32"]["scores"] == zen4["torch fp32"]["scores"]  # "to every digit"
    (chosen,) = [label for label in backends if label.startswith("model export --fastest (avx512_bf16")]
    assert backends[chosen]["scores"] == backends["OpenVINO int8, bf16"]["scores"]
    assert backends[chosen]["maps_vs_fp32"] == backends["OpenVINO int8, bf16"]["maps_vs_fp32"]


def test_the_next_day_zen5_run_reads_as_its_json() -> None:
    """The same interleaved command on the same kind of Zen 5 the next day: below 8x, as the page says, each figure
    its JSON's."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    benchmarks = " ".join((ROOT / "docs/benchmarks.md").read_text().split())
    measured, runs, base, fastest = interleaved_run("speed_amd_epyc_zen5_next_day_interleaved", 12)
    before = interleaved_run("speed_amd_epyc_zen5_later_export_interleaved", 12)
    assert measured["command"].split(" --json")[0] == before[0]["command"].split(" --json")[0]
    assert "CPU family 26, model 2" in measured["machine"] and measured["date"] == "2026-12-06"
    paired = fastest["paired_speedup_vs_first"]
    assert paired < 8 < before[3]["paired_speedup_vs_first"]
    assert f"the one process peaked at {measured['interleaved']['peak_host_memory_mb'] / 1024:.1f} GiB" in page
    assert round_by_round(runs) in page

    def change(key: tuple[str, str]) -> str:
        return percent_apart(runs[key]["latency_ms_p50"], before[1][key]["latency_ms_p50"])

    assert (
        base["latency_ms_p50"] < before[2]["latency_ms_p50"] and fastest["latency_ms_p50"] > before[3]["latency_ms_p50"]
    )
    assert (
        f"PyTorch fp32 ran {change(('torch', '32-true'))} faster than the day before and OpenVINO int8 in bf16 "
        f"{change(('openvino-int8', 'bf16-mixed'))} slower ({fastest['latency_ms_p50'] / 1000:.3f} against "
        f"{before[3]['latency_ms_p50'] / 1000:.3f} s)"
    ) in page
    assert f"the next day on the same kind of machine ({paired:.2f}× in the same interleaved command)" in benchmarks


def test_the_zen5_predict_claim_reads_as_its_json() -> None:
    """The Zen 5's end-to-end predict with the fastest path: the page's rates are its JSON's, run as it says."""
    page = " ".join((ROOT / "docs/speed-runs.md").read_text().split())
    measured = read_measurement("predict_amd_epyc_zen5")
    assert "CPU family 26, model 2" in measured["machine"] and "--precision bf16-mixed" in measured["command"]
    assert measured["command"].split("--ckpt ")[1].split()[0].endswith("_int8.xml")  # OpenVINO int8
    (row,) = measured["predict"]
    assert row["batch"] == 1 and row["workers"] == 0 and row["images"] == 8
    assert (
        f"predict ran {row['end_to_end_img_s']:.2f} images/s end to end, {row['end_to_end_vs_network']:.2f} of the "
        f"network alone: {1 / row['end_to_end_img_s']:.2f} s per photo"
    ) in page
