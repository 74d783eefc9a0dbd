"""errors.render: diagnostics stay readable (issue 17, item 24): a screenful at most, long lines cut around the
caret, control characters escaped; through the real CLI."""

from __future__ import annotations

from alexnet_spec.errors import Diagnostic, excerpt, render
from tests.conftest import run_cli


def _caret_target(stderr: str) -> str:
    """The character of the excerpt that the caret points at (the excerpt line is the one above the caret's)."""
    lines = stderr.splitlines()
    row = next(index for index, line in enumerate(lines) if line.strip().startswith("| ") and "^" in line)
    caret = lines[row].index("^")
    return lines[row - 1][caret:]


def test_at_most_twenty_diagnostics_then_a_count(tmp_path):
    layers = "".join(f"  - {{type: conv, out_channels: 2, kernel: 1, bogus{index}: 1}}\n" for index in range(30))
    (tmp_path / "many.yaml").write_text(f"name: M\ninput: {{channels: 1, height: 4, width: 4}}\nlayers:\n{layers}")
    result = run_cli("validate", str(tmp_path / "many.yaml"))
    assert result.returncode == 2
    assert result.stderr.count(": error: ") == 20
    assert "bogus19" in result.stderr and "bogus20" not in result.stderr
    assert result.stderr.rstrip().endswith("... and 10 more errors\n30 errors")


def test_a_long_line_is_cut_and_the_caret_stays_under_the_mistake(tmp_path):
    name = "n" * 400
    (tmp_path / "long.yaml").write_text("name: L\ninput: {channels: 1, height: 4, width: 4}\nlayers:\n"
                                        f"  - {{type: conv, name: {name}, out_channels: 2, kernel: 1, kernal: 1}}\n")
    result = run_cli("validate", str(tmp_path / "long.yaml"))
    assert result.returncode == 2 and "unknown field 'kernal'" in result.stderr
    excerpt_line = next(line for line in result.stderr.splitlines() if line.startswith("     4 | "))
    assert len(excerpt_line) < 130 and "..." in excerpt_line
    assert _caret_target(result.stderr).startswith("kernal: 1}")
    column = len(f"  - {{type: conv, name: {name}, out_channels: 2, kernel: 1, ") + 1  # in characters of the file
    assert f"long.yaml:4:{column}: error:" in result.stderr


def test_control_characters_are_escaped(tmp_path):
    (tmp_path / "ctl.yaml").write_text('name: "X"\ninput: {channels: 1, height: 4, width: 4}\nlayers:\n'
                                       '  - {type: conv, name: "a\\e[2Jb", out_channels: 2, kernel: 9}\n')
    result = run_cli("validate", str(tmp_path / "ctl.yaml"))
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "layer a\\x1b[2Jb:" in result.stderr


def test_excerpt_keeps_tabs_and_wide_characters_under_the_caret():
    shown, padding = excerpt("\t名前: x\x07y", 6)  # column 6 is `x` (1-based, in characters)
    assert shown == "\t名前: x\\x07y"
    assert padding == "\t" + "  " * 2 + "  "  # tab, two wide characters (two columns each), ':' and ' '
    assert render([Diagnostic("m", file="f", line=1, column=6)], {"f": ["\t名前: x"]}).splitlines()[-1] \
        == "       | " + padding + "^"


def test_a_layer_type_or_name_of_the_wrong_kind_is_located_and_the_layer_named_by_its_position(tmp_path):
    spec = tmp_path / "kinds.yaml"
    spec.write_text("name: K\ninput: {channels: 1, height: 8, width: 8}\nlayers:\n"
                    "  - {type: [], out_channels: 2, kernel: 3}\n  - {type: {a: 1}}\n  - {type: 3}\n"
                    "  - {type: conv, name: [a], out_channels: 2, kernel: 3}\n")
    for extra in ((), ("--set", "oops=1"), ("--set", "layer1.kernel=2")):  # --set names the layers too
        result = run_cli("validate", str(spec), *extra)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "internal error" not in result.stderr
    result = run_cli("validate", str(spec))
    for line, kind in ((4, "'[]'"), (5, "\"{'a': 1}\""), (6, "'3'")):
        assert f"kinds.yaml:{line}:12: error: layer layer{line - 3}: unknown layer type {kind}" in result.stderr
    assert "kinds.yaml:7:24: error: layer conv1: name: Input should be a valid string" in result.stderr
