"""The `alexspec` command as a user runs it: output, exit codes, one-screen errors without tracebacks."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_summary_table():
    result = run_cli("summary", "specs/alexnet.yaml")
    assert result.returncode == 0, result.stderr
    assert "60,965,224" in result.stdout and "724,406,816" in result.stdout
    assert "(227 + 2*0 - 11)/4 + 1 = 55" in result.stdout
    assert "gpu0" in result.stdout and "30,482,612" in result.stdout  # per-device totals


def test_summary_json_schema():
    result = run_cli("summary", "specs/alexnet_keras_bn.yaml", "--json")
    data = json.loads(result.stdout)
    assert {"name", "input", "total_params", "total_buffers", "total_macs", "layers"} <= set(data)
    assert data["input"] == [3, 224, 224]
    assert data["total_buffers"] == 21_136
    assert set(data["layers"][0]) >= {"name", "type", "output_shape", "params", "macs", "placement"}


def test_set_overrides_layers_input_and_top_level():
    result = run_cli("summary", "specs/alexnet.yaml", "--json", "--set", "conv2.groups=1", "--set", "name=Changed")
    data = json.loads(result.stdout)
    assert data["name"] == "Changed"
    assert data["total_params"] == 60_965_224 + 307_200  # conv2 reads all 96 channels: 256*48*25 more weights


def test_validate_many_files():
    result = run_cli("validate", "specs/alexnet.yaml", "specs/lenet5.yaml")
    assert result.returncode == 0
    assert result.stdout.count(": ok:") == 2


@pytest.mark.parametrize("content, needle", [
    ("name: X\ninput: {channels: 3, height: 32, width: 32}\nlayers:\n  - {type: conv, out_channels: 4, kernal: 3}\n",
     "x.yaml:4:35: error: layer conv1: unknown field 'kernal'"),
    ("name: X\n  input: [\n", "x.yaml:2:8: error: invalid YAML"),
    ("", "x.yaml:1:1: error: the spec is empty"),
    ("- a\n", "the spec must be a mapping"),
    ("name: X\ninput: {channels: 3, height: 224, width: 224}\nlayers:\n  - {type: conv, out_channels: 4, kernel: 11,"
     " stride: 4}\n", "(224 + 2*0 - 11)/4 + 1 = 54.25"),
])
def test_bad_specs_exit_2_with_position_and_no_traceback(tmp_path, content, needle):
    (tmp_path / "x.yaml").write_text(content)
    result = run_cli("validate", "x.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) < 25


def test_binary_garbage_and_missing_file(tmp_path):
    (tmp_path / "weights.yaml").write_bytes(b"\x00\x01\x02PK\x03\x04" * 20)
    result = run_cli("validate", "weights.yaml", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "weights.yaml: error: binary file" in result.stderr
    assert "missing.yaml: error: no such file" in result.stderr


def test_verbose_adds_the_traceback(tmp_path):
    (tmp_path / "x.yaml").write_text("")
    result = run_cli("validate", "x.yaml", "--verbose", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_bad_set_override():
    result = run_cli("summary", "specs/alexnet.yaml", "--set", "conv9.groups=1")
    assert result.returncode == 2
    assert "no layer named 'conv9'" in result.stderr and "did you mean 'conv" in result.stderr
    result = run_cli("summary", "specs/alexnet.yaml", "--set", "nonsense")
    assert result.returncode == 2 and "LAYER.FIELD=VALUE" in result.stderr


def test_unknown_backend_lists_known_ones():
    result = run_cli("compile", "specs/alexnet.yaml", "--backend", "tensorflow")
    assert result.returncode == 2
    assert "unknown backend 'tensorflow'" in result.stderr and "expected: one of:" in result.stderr


def test_validate_summary_never_import_frameworks():
    code = ("import sys; from alexnet_spec.cli import app; from alexnet_spec import backends\n"
            "from typer.testing import CliRunner\n"
            "r = CliRunner().invoke(app, ['summary', 'specs/alexnet.yaml']); assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['validate', 'specs/alexnet.yaml']); assert r.exit_code == 0\n"
            "[backends.get(n) for n in backends.available()]\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib')))")
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
