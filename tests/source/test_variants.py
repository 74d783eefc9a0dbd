"""`extends` with overrides, remove, insert_after and top-level fields; errors located in the right file."""

from __future__ import annotations

import shutil

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from tests.conftest import SPECS_DIR, run_cli


@pytest.fixture
def base_dir(tmp_path):
    shutil.copy(SPECS_DIR / "alexnet.yaml", tmp_path / "alexnet.yaml")
    return tmp_path


def write(directory, name, text):
    path = directory / name
    path.write_text(text)
    return path


def test_variant_edits_by_layer_name(base_dir):
    path = write(base_dir, "v.yaml", "extends: alexnet.yaml\nname: V\ninput: {height: 227}\n"
                 "overrides:\n  conv2: {groups: 1}\nremove: [norm1, norm2]\n"
                 "insert_after:\n  relu5: [{type: dropout, name: drop5, p: 0.1}]\n")
    net = load_network(path)
    names = [layer.name for layer in net.layers]
    assert net.name == "V" and net.input_shape == (3, 227, 227)
    assert "norm1" not in names and "norm2" not in names
    assert names[names.index("relu5") + 1] == "drop5"
    assert net.layer("conv2").attrs.groups == 1
    assert net.total_params == 60_965_224 + 307_200


def test_chains_of_extends():
    assert load_network(SPECS_DIR / "alexnet_10class.yaml").total_params == 58_322_314


def test_shipped_one_gpu_model_is_a_variant():
    assert "extends: alexnet.yaml" in (SPECS_DIR / "alexnet_1gpu.yaml").read_text()
    net = load_network(SPECS_DIR / "alexnet_1gpu.yaml")
    assert net.devices == () and net.layer("norm1").attrs.groups == 1


def test_set_applies_on_top_of_extends():
    net = load_network(SPECS_DIR / "alexnet_10class.yaml", ["fc8.out_features=100"])
    assert net.output_shape == (100,)


def test_cycle_is_an_error_at_the_extends_line(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "name: B\nextends: a.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_network(tmp_path / "a.yaml")
    [error] = caught.value.diagnostics
    assert "cycle" in error.message and error.file.endswith("b.yaml") and error.line == 2


@pytest.mark.parametrize("edit, needle, line", [
    ("overrides:\n  conv9: {groups: 1}\n", "no layer named 'conv9'", 3),
    ("remove: [nrom1]\n", "no layer named 'nrom1'", 2),
    ("insert_after:\n  relu9: [{type: relu}]\n", "no layer named 'relu9'", 3),
])
def test_unknown_names_are_located_with_a_suggestion(base_dir, edit, needle, line):
    path = write(base_dir, "v.yaml", "extends: alexnet.yaml\n" + edit)
    with pytest.raises(SpecError) as caught:
        load_network(path)
    [error] = caught.value.diagnostics
    assert needle in error.message and error.line == line and error.hint.startswith("did you mean")


def test_error_in_an_override_value_points_at_the_variant(base_dir):
    path = write(base_dir, "v.yaml", "extends: alexnet.yaml\noverrides:\n  conv2: {groups: 3}\n")
    with pytest.raises(SpecError) as caught:
        load_network(path)
    [error] = caught.value.diagnostics
    assert error.file.endswith("v.yaml") and (error.line, error.column) == (3, 19)


def test_error_in_the_base_points_at_the_base(base_dir):
    path = write(base_dir, "v.yaml", "extends: alexnet.yaml\ninput: {height: 231}\n")
    with pytest.raises(SpecError) as caught:
        load_network(path)
    assert caught.value.diagnostics[0].file.endswith("alexnet.yaml")


def test_missing_base_and_orphan_directives(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_network(write(tmp_path, "v.yaml", "extends: nowhere.yaml\n"))
    assert "cannot read the base spec 'nowhere.yaml'" in caught.value.diagnostics[0].message
    with pytest.raises(SpecError) as caught:
        load_network(write(tmp_path, "w.yaml", "name: W\nremove: [conv1]\n"))
    assert "`remove` needs `extends`" in caught.value.diagnostics[0].message


def test_show_prints_the_resolved_yaml():
    result = run_cli("show", "specs/alexnet_10class.yaml")
    assert result.returncode == 0, result.stderr
    assert "extends" not in result.stdout
    assert "out_features: 10" in result.stdout and "groups: 2" not in result.stdout


# Issue 17, item 14: an error in a value a variant's `overrides` wrote is reported where the variant wrote it, with
# the line of the base it changed; an error in a field the variant did not touch stays in the base file.

def position_of(text: str, needle: str, after: str = "") -> tuple[int, int]:
    """1-based line and column of `needle`, searched from the first occurrence of `after`."""
    offset = text.index(needle, text.index(after) if after else 0)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_override_errors_point_at_the_override_and_the_base_line(base_dir):
    base = (base_dir / "alexnet.yaml").read_text()
    text = "extends: alexnet.yaml\noverrides:\n  conv2: {groups: 5}\n"
    path = write(base_dir, "v.yaml", text)
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line, column = position_of(text, "5", "groups")
    base_line, base_column = position_of(base, "groups: 2", "name: conv2")
    base_column += len("groups: ")
    assert f"{path}:{line}:{column}: error: layer conv2: 96 input channels are not divisible by groups=5" \
        in result.stderr
    assert f"overrides {base_dir / 'alexnet.yaml'}:{base_line}:{base_column}" in result.stderr
    assert f"{line:4d} |   conv2: {{groups: 5}}" in result.stderr  # the excerpt is the variant's line


def test_override_validation_error_and_a_new_field(base_dir):
    base = (base_dir / "alexnet.yaml").read_text()
    text = "extends: alexnet.yaml\noverrides:\n  fc8: {out_features: -2}\n  conv1: {kernal: 3}\n"
    path = write(base_dir, "v.yaml", text)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    line, column = position_of(text, "-2")
    base_line, base_column = position_of(base, "1000", "name: fc8")
    assert f"{path}:{line}:{column}: error: layer fc8: out_features: expected a positive int, got -2" in result.stderr
    assert f"overrides {base_dir / 'alexnet.yaml'}:{base_line}:{base_column}" in result.stderr
    line, column = position_of(text, "kernal")
    conv1_line, conv1_column = position_of(base, "{type: conv, name: conv1")
    assert f"{path}:{line}:{column}: error: layer conv1: unknown field 'kernal'" in result.stderr
    assert f"adds a field to {base_dir / 'alexnet.yaml'}:{conv1_line}:{conv1_column}" in result.stderr


def test_untouched_fields_of_an_overridden_layer_stay_in_the_base_file(tmp_path):
    base_text = ("name: B\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
                 "  - {type: conv, name: c1, out_channels: 4, kernel: 0}\n")
    write(tmp_path, "b.yaml", base_text)
    path = write(tmp_path, "v.yaml", "extends: b.yaml\noverrides:\n  c1: {padding: 1}\n")
    result = run_cli("validate", str(path))
    line, column = position_of(base_text, "0}")
    assert result.returncode == 2 and f"{tmp_path / 'b.yaml'}:{line}:{column}: error: layer c1: invalid kernel: 0" \
        in result.stderr


def test_a_chain_of_overrides_points_at_the_override_it_replaced(tmp_path):
    base_text = ("name: B\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
                 "  - {type: conv, name: c1, out_channels: 4, kernel: 3}\n")
    write(tmp_path, "b.yaml", base_text)
    middle = "extends: b.yaml\noverrides:\n  c1: {stride: 1}\n"
    write(tmp_path, "m.yaml", middle)
    top = "extends: m.yaml\nremove: []\noverrides:\n  c1: {stride: 0}\n"
    path = write(tmp_path, "t.yaml", top)
    result = run_cli("validate", str(path))
    line, column = position_of(top, "0}")
    middle_line, middle_column = position_of(middle, "1}")
    assert result.returncode == 2 and f"{path}:{line}:{column}: error: layer c1: invalid stride: 0" in result.stderr
    assert f"overrides {tmp_path / 'm.yaml'}:{middle_line}:{middle_column}" in result.stderr


# --- `extends` reads only spec files, and never quotes one that is not ---

SECRET = "root:x:0:0:SECRET-LINE:/root:/bin/bash\n"


@pytest.mark.parametrize("name", ["passwd", "secret.yaml", "secret.txt"])
def test_extends_never_echoes_a_file_that_is_not_a_spec(tmp_path, name):
    (tmp_path / name).write_text(SECRET + "second: [unclosed\n")
    path = write(tmp_path, "v.yaml", f"extends: {name}\nname: V\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "SECRET-LINE" not in result.stderr + result.stdout
    assert f"{path}:1:" in result.stderr  # located at `extends`, in the extending file


def test_extends_etc_passwd_is_refused_without_its_contents(tmp_path):
    path = write(tmp_path, "v.yaml", "extends: /etc/passwd\nname: V\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "root:" not in result.stderr and "must name a .yaml spec file" in result.stderr


def test_extends_a_yaml_mapping_that_is_no_spec(tmp_path):
    (tmp_path / "config.yaml").write_text("password: SECRET-LINE\n")
    path = write(tmp_path, "v.yaml", "extends: config.yaml\nname: V\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "SECRET-LINE" not in result.stderr and "neither `layers`" in result.stderr


def test_extends_a_directory(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(SpecError) as caught:
        load_network(write(tmp_path, "v.yaml", "extends: folder.yaml\n"))
    [error] = caught.value.diagnostics
    assert "is a directory" in error.message and (error.file, error.line) == (str(tmp_path / "v.yaml"), 1)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs are POSIX")
def test_extends_a_fifo_does_not_hang(tmp_path):
    import os
    import time

    os.mkfifo(tmp_path / "pipe.yaml")
    start = time.monotonic()
    with pytest.raises(SpecError, match="FIFO"):
        load_network(write(tmp_path, "v.yaml", "extends: pipe.yaml\n"))
    assert time.monotonic() - start < 5


def test_extends_a_device_or_a_huge_or_binary_file(tmp_path):
    from alexnet_spec.limits import MAX_SPEC_BYTES

    (tmp_path / "huge.yaml").write_bytes(b"a: 1\n" + b"#" * MAX_SPEC_BYTES)
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01\x02SECRET-LINE")
    os_link = tmp_path / "zero.yaml"
    os_link.symlink_to("/dev/zero")
    for base, words in (("huge.yaml", "larger than"), ("binary.yaml", "binary file"), ("zero.yaml", "device")):
        with pytest.raises(SpecError) as caught:
            load_network(write(tmp_path, "v.yaml", f"extends: {base}\n"))
        [error] = caught.value.diagnostics
        assert words in error.message and error.file.endswith("v.yaml") and "SECRET" not in str(caught.value)
