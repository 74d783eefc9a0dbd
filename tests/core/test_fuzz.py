"""Every command that reads a file, fed bad input as a new user or an attacker would write it (tests/strategies.py):
it does what the docs say (exit 0) or exits 2 with a located message, within seconds, never with a traceback or an
"internal error", and leaves no partial output file behind."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alexnet_spec.cli import app
from tests.conftest import SPECS_DIR, TINY_SPEC, spec_text
from tests.strategies import PROTOTXT_ATTACKS, bad_yaml_texts, truncated_or_corrupted

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
SPEC_COMMANDS = [("validate",), ("summary",), ("compile", "-b", "torch"), ("compile", "-b", "jax"), ("show",),
                 ("draw",), ("diff", str(SPECS_DIR / "alexnet.yaml"))]
SECONDS = 20  # per run: generous for a loaded machine; a hang or an exponential blow-up takes far longer


def run(*args: str):
    start = time.monotonic()
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    elapsed = time.monotonic() - start
    return result, elapsed


def assert_clean(result, elapsed: float, *args) -> None:
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    # 1 only from diff: a mangled text that is still a valid spec differs from AlexNet
    assert result.exit_code in ((0, 1, 2) if args[0] == "diff" else (0, 2)), \
        (args, result.exit_code, output[-2000:], result.exception)
    assert "internal error" not in output and "Traceback" not in output, (args, output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert elapsed < SECONDS, (args, elapsed)
    if result.exit_code == 2:
        first = next(line for line in output.splitlines() if ": error:" in line)
        assert first.split(": error:")[0], first  # every error names where it is


def write_spec(directory: Path, text: str, name: str = "fuzz.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", SPEC_COMMANDS, ids=lambda c: "-".join(c[:1] + c[2:3]))
@FUZZ
@given(text=bad_yaml_texts())
def test_spec_commands_on_bad_specs(tmp_path, command, text):
    path = write_spec(tmp_path, text)
    args = (command[0], str(path), *command[1:])
    assert_clean(*run(*args), *args)


@pytest.mark.parametrize("target", ["directory", "device", "binary", "huge", "fifo", "missing", "passwd"])
def test_extends_pointing_at_what_is_not_a_spec(tmp_path, target):
    from alexnet_spec.limits import MAX_SPEC_BYTES

    if target == "directory":
        (tmp_path / "base.yaml").mkdir()
    elif target == "device":
        if not os.path.exists("/dev/zero"):
            pytest.skip("needs /dev/zero")
        (tmp_path / "base.yaml").symlink_to("/dev/zero")
    elif target == "binary":
        (tmp_path / "base.yaml").write_bytes(bytes(range(256)))
    elif target == "huge":
        (tmp_path / "base.yaml").write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    elif target == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("FIFOs are POSIX")
        os.mkfifo(tmp_path / "base.yaml")
    reference = "/etc/passwd" if target == "passwd" else "base.yaml"
    path = write_spec(tmp_path, f"extends: {reference}\nname: V\n")
    for command in SPEC_COMMANDS:
        args = (command[0], str(path), *command[1:])
        result, elapsed = run(*args)
        assert_clean(result, elapsed, *args)
        assert result.exit_code == 2 and f"{path}:1:" in result.output and "root:" not in result.output


@FUZZ
@given(data=st.data())
def test_compile_to_a_file_leaves_no_partial_file_on_error(tmp_path, data):
    text = data.draw(bad_yaml_texts())
    path = write_spec(tmp_path, text)
    output = Path(tempfile.mkdtemp(dir=tmp_path)) / "model.py"  # tmp_path is shared by every example
    result, elapsed = run("compile", str(path), "-o", str(output))
    assert_clean(result, elapsed, "compile")
    assert output.exists() == (result.exit_code == 0)
    assert [item.name for item in output.parent.iterdir()] in ([], ["model.py"])  # no temporary file left


# --- import caffe ---

def _prototxt_bytes() -> bytes:
    from tests.interop.caffe_models import LENET

    return LENET.encode()


@FUZZ
@given(data=truncated_or_corrupted(_prototxt_bytes()))
def test_import_caffe_on_truncated_or_corrupted_prototxt(tmp_path, data):
    path = tmp_path / "deploy.prototxt"
    path.write_bytes(data)
    assert_clean(*run("import", "caffe", str(path)), "import caffe")


@pytest.mark.parametrize("text", PROTOTXT_ATTACKS, ids=range(len(PROTOTXT_ATTACKS)))
def test_import_caffe_on_malicious_prototxt(tmp_path, text):
    path = tmp_path / "deploy.prototxt"
    path.write_text(text)
    result, elapsed = run("import", "caffe", str(path))
    assert_clean(result, elapsed, "import caffe")
    assert result.exit_code == 2


@pytest.mark.parametrize("target", ["directory", "device", "huge"])
def test_import_caffe_of_what_is_not_a_file(tmp_path, target):
    from alexnet_spec.limits import MAX_PROTOTXT_BYTES

    path = tmp_path / "deploy.prototxt"
    if target == "directory":
        path.mkdir()
    elif target == "device":
        path = Path("/dev/zero")
    else:
        path.write_bytes(b"#" * (MAX_PROTOTXT_BYTES + 1))
    result, elapsed = run("import", "caffe", str(path))
    assert_clean(result, elapsed, "import caffe")
    assert result.exit_code == 2


# --- import onnx ---

@pytest.fixture(scope="module")
def onnx_bytes() -> bytes:
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from alexnet_spec.interop.onnx_export import export_model
    from alexnet_spec.source.loading import parse_network
    from tests.interop.onnx_helpers import quick_weights

    net = parse_network(spec_text(TINY_SPEC), "tiny.yaml")
    return export_model(net, quick_weights(net)).SerializeToString()


def test_import_onnx_on_truncated_or_corrupted_models(tmp_path, onnx_bytes):
    @FUZZ
    @given(data=truncated_or_corrupted(onnx_bytes))
    def check(data):
        path = tmp_path / "model.onnx"
        path.write_bytes(data)
        weights = tmp_path / "weights.npz"
        if weights.exists():
            weights.unlink()
        result, elapsed = run("import", "onnx", str(path), "--weights-out", str(weights))
        assert_clean(result, elapsed, "import onnx")
        assert weights.exists() == (result.exit_code == 0)

    check()


@pytest.mark.parametrize("target", ["directory", "device", "fifo"])
def test_import_onnx_of_what_is_not_a_file(tmp_path, target):
    pytest.importorskip("onnx")
    path = tmp_path / "model.onnx"
    if target == "directory":
        path.mkdir()
    elif target == "device":
        path = Path("/dev/zero")
    else:
        os.mkfifo(path)
    result, elapsed = run("import", "onnx", str(path))
    assert_clean(result, elapsed, "import onnx")
    assert result.exit_code == 2
