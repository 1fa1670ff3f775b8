"""The `mgd-sam2` entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mgd_sam2.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out


def test_version_is_the_packages(capsys) -> None:
    from importlib.metadata import version

    import mgd_sam2

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"mgd-sam2 {mgd_sam2.__version__}\n"
    assert version("mgd-sam2") == mgd_sam2.__version__  # setup.cfg reads it from the package


def test_console_script_is_installed() -> None:
    for module in ("mgd_sam2.cli", "mgd_sam2"):  # python -m mgd_sam2 too
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
        assert "subcommands:" in result.stdout, module


def test_a_help_that_says_its_default_says_it_once(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "MAE,HCE,mBA (default: all) --hce-binarize" in out  # not followed by argparse's list of the metrics


@pytest.mark.parametrize("command", [["evaluate"], ["check-data"], ["synth"], ["benchmark", "accuracy"]])
def test_workers_help_says_what_0_means_and_the_default_here(command: list[str], capsys, monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)  # a process pinned to one core
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(0: none, all of it in this process; default: 1 here, which is 2 or the CPUs this process may use" in out


def test_unknown_subcommand_fails(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_model_info_json(capsys) -> None:
    assert main(["model", "info", "--preset", "micro", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["preset"] == "micro"
    assert counts["trainable"] == counts["groups"]["new"] + counts["groups"]["pretrained"]
    assert counts["total"] == counts["trainable"] + counts["frozen"]


def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, capsys) -> None:
    config = "src/mgd_sam2/configs/demo.yaml"
    assert main(["fit", "-c", config, "--data.root", str(tmp_path), "--trainer.logger", "false"]) == 1
    err = capsys.readouterr().err
    assert "error: split 'synthetic/SYN-TR' not found" in err and "mgd-sam2 synth" in err and "Traceback" not in err
    assert main(["check-data", str(tmp_path / "missing")]) == 1
    assert "error: dataset folder not found" in capsys.readouterr().err
    assert main(["check-data", str(tmp_path / "DIS5K")]) == 1  # a known dataset: where to get it and put it
    err = capsys.readouterr().err
    assert (
        f"dataset folder not found: {tmp_path / 'DIS5K'}. " in err and "data/README.md shows the folder layout" in err
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmark", "app", "--photo", "2048"], "give WIDTHxHEIGHT in pixels, e.g. 2048x1536, not '2048'"),
        (["benchmark", "app", "--photo", "2048x0"], "must be 1 or more, got 0"),
        (["benchmark", "metrics", "--memory-size", "8000xabc"], "not a whole number: 'abc'"),
    ],
)
def test_an_image_size_is_width_x_height(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(("usable", "expected"), [({0}, 1), ({0, 1, 2, 3}, 2)])
def test_the_default_workers_are_at_most_the_cpus_this_process_may_use(monkeypatch, usable, expected) -> None:
    """Under `taskset -c 1` or a container's cpuset, 2 workers would oversubscribe (torch warns for its loaders)."""
    import os

    from mgd_sam2.cli import subcommand_parser

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: usable)
    for argv in (["check-data", "data"], ["evaluate", "--pred", "p", "--gt", "g"], ["synth"],
                 ["benchmark", "accuracy"], ["benchmark", "metrics"]):  # fmt: skip
        assert subcommand_parser(argv[0]).parse_args(argv[1:]).workers == expected, argv


def test_the_functions_default_workers_are_at_most_the_cpus_this_process_may_use(monkeypatch) -> None:
    """The functions the commands call (evaluate_folders, write_dataset, check_split, ...) default to as many
    workers as the commands: under `taskset -c 1` one, and torch has no oversubscription to warn of."""
    import os
    import warnings

    from mgd_sam2.utils.parallel import parallel_map

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(parallel_map(abs, [-1, -2, -3], None, "x", show=False)) == [1, 2, 3]
    with pytest.warns(UserWarning, match="will create 2 worker processes"):
        list(parallel_map(abs, [-1, -2, -3], 2, "x", show=False))  # an explicit number is kept


def test_the_subcommands_take_options_spelt_in_full_and_name_the_closest_one(capsys) -> None:
    """As fit's options: `predict --cut` is no --cutout (argparse alone takes the abbreviation), and a misspelt
    option is two lines naming the closest one and the command that lists the options, not the whole usage; a nested
    action's (benchmark speed) from its own options, not from another action's."""
    predict = ["predict", "--ckpt", "c", "--input", "i", "--output", "o"]
    for argv, message, command in (
        ([*predict, "--cut"], "--cut (did you mean --cutout?)", "predict"),
        ([*predict, "--cutuot"], "--cutuot (did you mean --cutout?)", "predict"),
        (["benchmark", "speed", "--bakend", "torch"], "--bakend torch (did you mean --backend?)", "benchmark speed"),
        (["benchmark", "metrics", "--out", "x"], "--out x", "benchmark metrics"),  # benchmark accuracy's option
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        lines = capsys.readouterr().err.splitlines()
        assert exit_info.value.code == 2
        assert lines == [f"error: unrecognized arguments: {message}", f"mgd-sam2 {command} --help lists the options"]
