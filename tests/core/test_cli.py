"""The `alexspec` command as a user runs it: output, exit codes, one-screen errors without tracebacks."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run_cli


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


# Issue 23: validate, summary and compile under 0.3 s. What the program imports is what it costs (numpy alone is
# 40-60 ms of a 0.2 s command), so the program itself is watched, not an in-process runner.

@pytest.mark.parametrize("command", [("validate",), ("summary",), ("compile", "--backend", "torch"),
                                     ("compile", "--backend", "jax")])
def test_validate_summary_and_compile_import_no_numpy_torch_or_jax(command):
    import subprocess
    import sys

    program = [sys.executable, "-X", "importtime", "-m", "alexnet_spec", command[0], "specs/alexnet.yaml", *command[1:]]
    result = subprocess.run(program, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "alexnet_spec.cli" in imported  # the report is the program's
    assert sorted(name for name in imported if name.split(".")[0] in ("numpy", "torch", "jax", "jaxlib")) == []


@pytest.mark.parametrize("code, status, stdout, stderr", [
    ("None", 0, "report", ""), ("2", 2, "report", ""), ("'a message'", 1, "report", "a message\n"),
])
def test_the_program_ends_with_its_status_and_its_output_flushed(code, status, stdout, stderr):
    """The program skips the interpreter's finalisation (cli_support.end_process): exit statuses and buffered
    output are those of an ordinary exit."""
    import subprocess
    import sys

    program = ("import sys; from alexnet_spec.cli_support import end_process\n"
               f"sys.stdout.write('report'); end_process({code})")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (status, stdout, stderr)


# Issue 17, items 10, 11 and 19: `-o` writes regular files only, whole or not at all, with the mode a plain write
# gives; ordinary I/O problems are one-line user errors (exit 2), never tracebacks or temporaries left behind.

def _leftovers(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def _one_line_user_error(result, needle: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and needle in result.stderr, result.stderr


@pytest.mark.parametrize("umask", [0o022, 0o077])
@pytest.mark.parametrize("command", [
    ("compile", "specs/lenet5.yaml"), ("draw", "specs/lenet5.yaml"), ("schema",),
])
def test_written_files_get_the_mode_of_a_plain_write(tmp_path, umask, command):
    import os
    import subprocess
    import sys

    target = tmp_path / "out.svg"  # draw picks its format by the suffix; compile and schema write any name
    # POSIX open(2): a new file's mode is 0o666 & ~umask; mkstemp's 0o600 would hide the file from the group.
    code = f"import os, sys; os.umask({umask}); from alexnet_spec.cli import main; sys.argv[0] = 'alexspec'; main()"
    result = subprocess.run([sys.executable, "-c", code, *command, "-o", str(target)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


def test_replacing_a_file_keeps_its_mode(tmp_path):
    import os

    target = tmp_path / "net.py"
    target.write_text("old")
    os.chmod(target, 0o640)  # as `open(path, "w")` would, the existing file's permissions stay
    result = run_cli("compile", "specs/lenet5.yaml", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert os.stat(target).st_mode & 0o777 == 0o640 and "class" in target.read_text()


def test_output_onto_a_directory_or_into_a_missing_one(tmp_path):
    _one_line_user_error(run_cli("compile", "specs/lenet5.yaml", "-o", str(tmp_path)),
                         f"{tmp_path}: error: is a directory")
    missing = tmp_path / "nowhere" / "net.py"
    _one_line_user_error(run_cli("schema", "-o", str(missing)), f"{missing}: error: cannot write the file: no such "
                                                                   f"directory: {missing.parent}")
    assert not missing.parent.exists() and _leftovers(tmp_path) == []


def test_output_refuses_fifos_and_links_to_them(tmp_path):
    import os
    import stat

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    for target in (tmp_path / "fifo", tmp_path / "link"):
        _one_line_user_error(run_cli("compile", "specs/lenet5.yaml", "-o", str(target)),
                             f"{target}: error: is a FIFO, not a regular file")
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert (tmp_path / "link").is_symlink() and _leftovers(tmp_path) == []


def test_output_refuses_a_device_node(tmp_path):
    """A private copy of /dev/null (character device 1:3), never the system's: code that renames over a device as
    root would replace the node, and the real /dev/null must not be what a failing test destroys."""
    import os
    import stat

    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot create a device node here: {error}")
    _one_line_user_error(run_cli("compile", "specs/lenet5.yaml", "-o", str(device)),
                         f"{device}: error: is a character device, not a regular file")
    assert stat.S_ISCHR(os.stat(device).st_mode) and _leftovers(tmp_path) == []


def test_output_through_a_symlink_replaces_the_file_it_names(tmp_path):
    (tmp_path / "real.svg").write_text("old")
    (tmp_path / "link.svg").symlink_to(tmp_path / "real.svg")
    result = run_cli("draw", "specs/lenet5.yaml", "-o", str(tmp_path / "link.svg"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.svg").is_symlink() and (tmp_path / "real.svg").read_text().startswith("<svg")


def test_a_failed_write_is_one_line_and_leaves_the_old_file_and_no_temporary(tmp_path):
    import shlex
    import subprocess
    import sys

    target = tmp_path / "net.py"
    target.write_text("old contents")

    # The kernel refuses writes past two blocks (EFBIG), as a full disk refuses (ENOSPC). The limit is set by the
    # shell, not by preexec_fn: forking this multithreaded test process (jax, torch) can deadlock.
    command = f'ulimit -f 2; exec "$0" -m alexnet_spec compile specs/alexnet.yaml -o {shlex.quote(str(target))}'
    result = subprocess.run(["bash", "-c", command, sys.executable], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ, "PYTHONDONTWRITEBYTECODE": "1"})
    _one_line_user_error(result, f"{target}: error: cannot write the file: File too large")
    assert target.read_text() == "old contents" and _leftovers(tmp_path) == []


def test_unreadable_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "plain").write_text("x")
    _one_line_user_error(run_cli("validate", str(tmp_path / "plain" / "spec.yaml")),
                         f"{tmp_path / 'plain' / 'spec.yaml'}: error: cannot read the file")
    _one_line_user_error(run_cli("import", "caffe", str(tmp_path)), f"{tmp_path}: error:")


def test_a_reader_closing_stdout_early_ends_quietly():
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has its lines
    try:
        result = subprocess.run([sys.executable, "-m", "alexnet_spec", "summary", "specs/alexnet.yaml", "--json"],
                                cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert result.returncode == 0 and result.stderr == ""


def test_device_table_lists_each_cross_device_read_under_the_device_that_reads(tmp_path):
    # conv1 is split (each device holds 2 of the 4 channels); pool1 stays split; fc1 runs on gpu1 only, so gpu1 must
    # fetch gpu0's channels: that read is gpu1's, not gpu0's. fc2 is split and reads fc1's output, held by gpu1: gpu0's
    # tower reads it across, gpu1's has it at hand.
    (tmp_path / "placed.yaml").write_text(
        "name: Placed\ninput: {channels: 3, height: 8, width: 8}\ndevices: [gpu0, gpu1]\nlayers:\n"
        "  - {type: conv, name: conv1, out_channels: 4, kernel: 3}\n"
        "  - {type: maxpool, name: pool1, kernel: 2, stride: 2}\n"
        "  - {type: flatten}\n"
        "  - {type: dense, name: fc1, out_features: 6, placement: gpu1}\n"
        "  - {type: dense, name: fc2, out_features: 4}\n")
    result = run_cli("summary", str(tmp_path / "placed.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)["devices"]
    assert {device: held["reads_across"] for device, held in devices.items()} == {"gpu0": ["fc2"], "gpu1": ["fc1"]}
    text = run_cli("summary", str(tmp_path / "placed.yaml")).stdout.split("per device")[1]
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("gpu")] == ["fc2", "fc1"]


# Issue 17, items 9 and 14: every malformed `--set` is an error that names the argument itself (never a KeyError),
# with did-you-mean, the range a value must be in, and the line of the spec it changes.

@pytest.mark.parametrize("override, needles", [
    ("conv1.kernal=3", ["--set conv1.kernal=3: error: layer conv1: unknown field 'kernal'", "did you mean 'kernel'?"]),
    ("input.heigth=3", ["--set input.heigth=3: error: unknown field 'heigth'", "did you mean 'height'?"]),
    ("stride=2", ["--set stride=2: error: unknown top-level field 'stride'", "did you mean conv1.stride?"]),
    ("conv1.groups=-1", ["--set conv1.groups=-1: error: layer conv1: groups: expected a positive int, got -1"]),
    ("conv1.groups=true", ["--set conv1.groups=true: error: layer conv1: groups: expected an int, not a boolean"]),
    ("conv1.groups=2.5", ["--set conv1.groups=2.5: error: layer conv1: groups:"]),
    ("drop6.p=1.5", ["--set drop6.p=1.5: error: layer drop6: p: expected a number less than 1"]),
    ("conv1.kernel=-1", ["--set conv1.kernel=-1: error: layer conv1: invalid kernel: -1", "(each a positive int)"]),
    ("conv1.kernel.x=1", ["--set conv1.kernel.x=1: error: conv1.kernel is not a mapping"]),
    ("conv1.padding.x=1", ["--set conv1.padding.x=1: error: layer conv1: invalid padding"]),
    ("conv1..groups=1", ["--set conv1..groups=1: error: empty name in 'conv1..groups'"]),
    ("conv1=", ["--set conv1=: error: unknown top-level field 'conv1'", "--set conv1.FIELD=VALUE"]),
    ("conv9.groups=1", ["--set conv9.groups=1: error: no layer named 'conv9'", "did you mean 'conv"]),
    ("conv1.kernel=[1", ["--set conv1.kernel=[1: error: the value '[1' is not valid YAML"]),
])
def test_malformed_set_is_an_error_at_the_argument(override, needles):
    result = run_cli("validate", "specs/alexnet.yaml", "--set", override)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_set_errors_name_the_spec_line_they_change():
    text = (ROOT / "specs" / "alexnet.yaml").read_text()
    lines = text.splitlines()
    row = next(index for index, line in enumerate(lines) if "name: conv2," in line)
    column = lines[row].index("groups: 2") + len("groups: ") + 1
    result = run_cli("validate", "specs/alexnet.yaml", "--set", "conv2.groups=5")
    assert result.returncode == 2
    assert "--set conv2.groups=5: error: layer conv2: 96 input channels are not divisible by groups=5" in result.stderr
    assert f"overrides specs/alexnet.yaml:{row + 1}:{column}" in result.stderr
    conv1 = next(index for index, line in enumerate(lines) if "name: conv1," in line)
    result = run_cli("validate", "specs/alexnet.yaml", "--set", "conv1.groups=0")
    assert f"adds a field to specs/alexnet.yaml:{conv1 + 1}:{lines[conv1].index('{') + 1}" in result.stderr


def test_an_os_error_from_any_command_is_a_one_line_user_error():
    # The safety net under every command: an OSError naming a file (EACCES, EIO ...) is the user's to fix, not a bug.
    import typer
    from typer.testing import CliRunner

    from alexnet_spec.cli_support import reports_errors

    @reports_errors
    def failing(verbose: bool = False) -> None:
        raise PermissionError(13, "Permission denied", "weights/trained.pt")

    app = typer.Typer()
    app.command()(failing)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert result.stderr == "weights/trained.pt: error: cannot read or write the file: Permission denied\n"


@pytest.mark.parametrize("override, shown", [
    ("conv1.stride=true", "invalid stride: true"),
    ('drop6.p="0.5"', 'got "0.5"'),
    ("norm1.alpha=true", "got true"),
])
def test_values_in_errors_are_shown_as_yaml_not_python(override, shown):
    result = run_cli("validate", "specs/alexnet.yaml", "--set", override)
    assert result.returncode == 2 and shown in result.stderr, result.stderr
    assert "True" not in result.stderr.split("\n")[0]
