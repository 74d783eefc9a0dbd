"""`extends` with overrides, remove, insert_after and top-level fields; errors located in the right file."""

from __future__ import annotations

import shutil

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.loading import load_network
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
