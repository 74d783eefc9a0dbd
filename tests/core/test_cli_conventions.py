"""The habits of the command-line tools users know: --version, -h on every command, help without Python type names,
did-you-mean for every enumerated value, -o and --json on every reporting command, errors as JSON under --json, the
documented exit statuses (0 ok, 1 a difference found, 2 a user error, 3 an internal error), shell completion, and
output that fits an 80-column terminal."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from alexnet_spec import __version__
from alexnet_spec.cli import app
from tests.conftest import SPECS_DIR

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(arg) for arg in args], **kwargs)


def command_paths() -> list[list[str]]:
    """Every command and sub-command of `alexspec`, as the words that name it."""
    paths = []

    def walk(command, words: list[str]) -> None:
        paths.append(words)
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, words + [name])

    walk(typer.main.get_command(app), [])
    return paths


def test_version_as_option_and_command():
    for args in (["--version"], ["-V"], ["version"]):
        result = invoke(*args)
        assert result.exit_code == 0 and result.stdout == f"{__version__}\n"


@pytest.mark.parametrize("words", command_paths(), ids=lambda words: " ".join(words) or "alexspec")
def test_every_command_takes_h_and_names_no_python_types(words):
    result = invoke(*words, "-h")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
    assert result.stdout == invoke(*words, "--help").stdout
    # Neither Typer's annotations (<bool>, <path>, list[Path]) nor Click's default metavars (TEXT, INTEGER, ...).
    assert not re.search(r"<\w+(\[[\w\]\[]+)?>|list\[|\b(TEXT|INTEGER|FLOAT|PATH|BOOLEAN)\b", result.stdout), \
        result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


@pytest.mark.parametrize("args, suggestion", [
    (["compile", SPECS_DIR / "lenet5.yaml", "--backend", "pytorch"], "did you mean 'torch'?"),
    (["summary", SPECS_DIR / "lenet5.yaml", "--dtype", "flaot16"], "did you mean 'float16'?"),
    (["check", SPECS_DIR / "lenet5.yaml", "--backends", "numpy,jaxx"], "did you mean 'jax'?"),
    (["export", SPECS_DIR / "lenet5.yaml", "--format", "onxx", "-o", "x.onnx"], "did you mean 'onnx'?"),
    (["validate", SPECS_DIR / "lenet5.yaml", "--set", "c1.type=cnov"], "did you mean 'conv'?"),
    (["validate", SPECS_DIR / "alexnet.yaml", "--set", "norm1.convention=papr"], "did you mean 'paper'?"),
    (["validate", SPECS_DIR / "caffenet.yaml", "--set", "pool1.ceil_rule=cafe"], "did you mean 'caffe'?"),
])
def test_enumerated_values_suggest_the_closest(args, suggestion, tmp_path):
    result = invoke(*args)
    assert result.exit_code == 2 and suggestion in result.stderr, result.stderr
    assert not (tmp_path / "x.onnx").exists()


BAD = "name: X\ninput: {channels: 3, height: 32, width: 32}\nlayers:\n  - {type: conv, out_channels: 4, kernal: 3}\n"
ERROR_KEYS = {"file", "line", "column", "layer", "message", "details", "expected", "hint"}


@pytest.mark.parametrize("command", [["validate"], ["summary"], ["show"], ["check"], ["diff", "LENET"]])
def test_json_errors_on_stdout_with_status_2(command, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    args = [SPECS_DIR / "lenet5.yaml" if word == "LENET" else word for word in command]
    result = invoke(*args, bad, "--json", "-o", tmp_path / "out.txt")
    assert result.exit_code == 2 and result.stderr == ""
    errors = json.loads(result.stdout)["errors"]
    assert all(set(error) == ERROR_KEYS for error in errors)
    unknown = next(error for error in errors if error["message"] == "unknown field 'kernal'")
    assert (unknown["file"], unknown["line"], unknown["column"], unknown["layer"]) == (str(bad), 4, 35, "conv1")
    assert unknown["hint"] == "did you mean 'kernel'?"
    assert any(error["message"] == "missing required field 'kernel'" for error in errors)
    assert not (tmp_path / "out.txt").exists()  # nothing half-written


@pytest.mark.parametrize("command", [["validate"], ["summary"], ["show"], ["diff", "LENET"]])
def test_reports_go_to_the_output_file(command, tmp_path):
    args = [SPECS_DIR / "lenet5.yaml" if word == "LENET" else word for word in command]
    for extra, parse in (([], str), (["--json"], json.loads)):
        target = tmp_path / f"report{len(extra)}"
        result = invoke(*args, SPECS_DIR / "lenet5.yaml", *extra, "-o", target)
        assert result.exit_code == 0 and result.stdout == "", result.output
        assert parse(target.read_text(encoding="utf-8"))
    assert json.loads((tmp_path / "report1").read_text())  # --json: valid JSON in the file


def test_internal_error_is_one_line_and_status_3(monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("alexnet_spec.cli.load_network", broken)
    result = invoke("summary", SPECS_DIR / "lenet5.yaml")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == ["internal error: ZeroDivisionError: a bug",
                                          "  run with --verbose for the traceback, and report it as a bug"]
    result = invoke("summary", SPECS_DIR / "lenet5.yaml", "--verbose")
    assert result.exit_code == 3 and "Traceback" in result.stderr and "ZeroDivisionError: a bug" in result.stderr


def test_exit_statuses_0_1_2():
    assert invoke("validate", SPECS_DIR / "lenet5.yaml").exit_code == 0
    assert invoke("diff", SPECS_DIR / "lenet5.yaml", SPECS_DIR / "lenet5.yaml").exit_code == 0
    assert invoke("diff", SPECS_DIR / "alexnet.yaml", SPECS_DIR / "alexnet_1gpu.yaml").exit_code == 1
    assert invoke("validate", SPECS_DIR / "lenet5.yaml", "--set", "c1.kernel=40").exit_code == 2
    assert invoke("summary", "--no-such-option").exit_code == 2  # Click's usage errors are user errors too


def test_shell_completion_installable_and_completes_backends():
    """Typer's --show-completion prints the script --install-completion installs; the installed `alexspec` then
    answers the shell's completion requests (bash's protocol: the words so far and the cursor's word)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    alexspec = str(Path(sys.executable).parent / "alexspec")

    def run(*args, **env):
        return subprocess.run([alexspec, *args], env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=60)

    # Typer finds the shell among the parent processes: run under bash (kept as the parent by the `exit`),
    # whatever started the test run
    script = subprocess.run(["bash", "-c", f"'{alexspec}' --show-completion; exit $?"], capture_output=True, text=True,
                            timeout=60)
    assert script.returncode == 0 and "complete -o default -F _alexspec_completion alexspec" in script.stdout
    words = run(_ALEXSPEC_COMPLETE="complete_bash", COMP_WORDS="alexspec compile x.yaml --backend ", COMP_CWORD="4")
    assert words.stdout.split() == ["jax", "numpy", "torch"]
    words = run(_ALEXSPEC_COMPLETE="complete_bash", COMP_WORDS="alexspec summary x.yaml --dtype b", COMP_CWORD="4")
    assert words.stdout.split() == ["bfloat16"]


def test_reports_fit_80_columns():
    for args in (["summary", SPECS_DIR / "alexnet.yaml"],
                 ["diff", SPECS_DIR / "alexnet.yaml", SPECS_DIR / "alexnet_nolrn.yaml"]):
        result = invoke(*args, env={"COLUMNS": "80"})
        assert result.exit_code in (0, 1), result.output
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, args
    # check's table with two backends against the oracle, as the command prints it (no backend run: the report is
    # made here, with the widest mark).
    from alexnet_spec.cli_support import render_rich
    from alexnet_spec.source.loading import load_network
    from alexnet_spec.tools.check import CheckReport, Comparison, LayerRow, check_table

    net = load_network(SPECS_DIR / "alexnet.yaml")
    rows = tuple(LayerRow(layer.name, layer.type, layer.output_shape,
                          tuple(Comparison(name, 1.2345e-7, 2.5e-8, layer.name != "fc8") for name in ("torch", "jax")))
                 for layer in net.layers)
    report = CheckReport("specs/alexnet.yaml", "numpy", ("torch", "jax", "numpy"), "float32", 2, 0, 1e-4, 1e-5, rows)
    text = render_rich(check_table(report), 80)
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text  # nothing cut
    assert "1.23e-07" in text and "2.50e-08" in text and "first" in text.splitlines()[-1] + text
