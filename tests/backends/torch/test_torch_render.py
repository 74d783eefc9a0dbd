"""Rendering the torch module: the golden file, determinism, every spec compiles, no torch import, the templates."""

from __future__ import annotations

import contextlib
import difflib
import os
import subprocess
import sys

import pytest

from alexnet_spec.backends import get
from alexnet_spec.backends.common.rendering import environment
from alexnet_spec.backends.torch import view
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from tests.conftest import ROOT, SPEC_FILES, resolve_text, run_cli

GOLDEN = ROOT / "tests" / "golden" / "torch"
REGENERATE = "make golden  (ALEXSPEC_REGENERATE_GOLDEN=1 pytest tests/backends -k golden)"


def _resolve_spec(path):
    """Resolve a spec as `alexspec compile specs/<file>` does from the repository root: the same header anywhere."""
    with contextlib.chdir(ROOT):
        return load_network(path.relative_to(ROOT).as_posix())


def _render_spec(path) -> str:
    return get("torch").render(_resolve_spec(path))


@pytest.mark.parametrize("spec", ["alexnet"])
def test_golden(spec):
    source = _render_spec(ROOT / "specs" / f"{spec}.yaml")
    golden = GOLDEN / f"{spec}.py"
    if os.environ.get("ALEXSPEC_REGENERATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(source, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    compile(expected, str(golden), "exec")  # the checked-in file is valid Python
    if source != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True),
                                            f"{golden.relative_to(ROOT)} (checked in)", "rendered now"))
        pytest.fail(f"the generated source of specs/{spec}.yaml changed:\n{diff}\nIf the change is intended, "
                    f"regenerate with: {REGENERATE}")


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda path: path.name)
def test_every_spec_renders_valid_python(path):
    source = _render_spec(path)
    compile(source, path.name, "exec")
    net = _resolve_spec(path)
    assert f"class {net.class_name}(nn.Module):" in source
    assert (f"class {net.class_name}Placed(nn.Module):" in source) == bool(net.devices)


def test_header_names_spec_file_hash_and_version_without_timestamp():
    import alexnet_spec

    path = ROOT / "specs" / "alexnet.yaml"
    net = _resolve_spec(path)
    source = view.render(net)
    header = source.split('"""')[1]
    assert header.startswith("AlexNet: ")
    assert "specs/alexnet.yaml" in header and net.spec_hash in header
    assert f"alexspec {alexnet_spec.__version__}" in header
    assert "60,965,224 parameters" in header
    assert source == view.render(_resolve_spec(path))


def test_imports_only_torch():
    plain = view.render(resolve_text("""
        name: Plain
        input: {channels: 1, height: 8, width: 8}
        init: paper
        layers:
          - {type: conv, out_channels: 2, kernel: 3}
          - {type: relu}
          - {type: flatten}
    """))
    imports = [line for line in plain.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import torch", "import torch.nn.functional as F", "from torch import nn"]


def test_framework_default_parameters_get_no_reset_line():
    """nn.Conv2d's and nn.Linear's constructors already draw PyTorch's default (their reset_parameters:
    kaiming_uniform_(a=sqrt(5)), i.e. U(±1/sqrt(fan_in)), and the bias from the same bound): it is not drawn again."""
    source = view.render(resolve_text("""
        name: Default
        input: {channels: 1, height: 8, width: 8}
        layers:
          - {type: conv, out_channels: 2, kernel: 3, init: {weight: {dist: kaiming}}}
          - {type: flatten}
          - {type: dense, out_features: 3}
    """))
    start = source.index("    def reset_parameters")
    reset = source[start:source.index("    def forward", start)]
    assert [line.strip().split("(")[0] for line in reset.splitlines() if "nn.init." in line] == ["nn.init.normal_"]
    assert "self.conv1.weight" in reset and "self.conv1.bias" not in reset.split('"""')[2]
    assert "conv1.bias, fc1.weight, fc1.bias: PyTorch's default" in " ".join(reset.split())
    assert "import math" not in source


def test_forward_shows_shapes_and_arithmetic():
    source = view.render(resolve_text("""
        name: Small
        input: {channels: 3, height: 227, width: 227}
        layers:
          - {type: conv, name: conv1, out_channels: 96, kernel: 11, stride: 4}
          - {type: lrn, name: norm1, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper, groups: 2}
          - {type: maxpool, name: pool1, kernel: 3, stride: 2}
    """))
    forward = source[source.index("class Small"):].split("    def forward")[1].splitlines()
    assert forward[0].startswith("(self, x):") and forward[0].split("#")[1].strip() == "(N, 3, 227, 227)"
    conv = next(line for line in forward if "self.conv1(x)" in line)
    assert conv.split("#")[1].split() == ["(N,", "96,", "55,", "55)", "(227", "+", "2*0", "-", "11)/4", "+", "1",
                                          "=", "55"]
    norm = next(line for line in forward if "self.norm1(x)" in line)
    assert "LRN n=5, paper convention (scale = alpha), within each of 2 channel groups" in norm
    assert "self.norm1 = LocalResponseNorm(5, scale=0.0001, beta=0.75, k=2.0, groups=2, inplace=True)" in source
    comment_columns = {line.index("#") for line in forward[2:] if "#" in line and line.strip().startswith("x =")}
    assert len(comment_columns) == 1  # aligned


def test_caffe_convention_renders_alpha_over_n():
    source = view.render(resolve_text("""
        name: Caffe
        input: {channels: 8, height: 4, width: 4}
        layers:
          - {type: lrn, name: norm, size: 5, alpha: 1.0e-4, beta: 0.75, k: 1, convention: caffe}
    """))
    assert "LocalResponseNorm(5, scale=0.0001 / 5, beta=0.75, k=1.0)" in source
    assert "caffe convention (scale = alpha / n)" in source


def test_asymmetric_padding_is_an_explicit_pad():
    source = view.render(resolve_text("""
        name: Same
        input: {channels: 3, height: 8, width: 9}
        layers:
          - {type: conv, name: conv, out_channels: 4, kernel: 3, stride: 2, padding: same}
          - {type: maxpool, name: pool, kernel: 2, stride: 2, padding: [0, 1, 0, 1], ceil_mode: true}
    """))
    assert "x = F.pad(x, (1, 1, 0, 1))" in source  # left, right, top, bottom: TensorFlow's `same` at stride 2
    assert 'x = F.pad(x, (0, 1, 0, 1), value=float("-inf"))' in source
    assert "nn.Conv2d(3, 4, kernel_size=3, stride=2)" in source


def test_names_that_would_shadow_generated_code_are_refused_at_their_line():
    # The spec layer rejects them with a position; the renderer's own guard is the second line of defence.
    with pytest.raises(SpecError, match="reserved") as caught:
        resolve_text("""
            name: Clash
            input: {channels: 1, height: 4, width: 4}
            layers:
              - {type: conv, name: reset_parameters, out_channels: 2, kernel: 3}
        """)
    assert caught.value.diagnostics[0].line == 4
    with pytest.raises(SpecError, match="would shadow") as caught:
        resolve_text("""
            name: LocalResponseNorm
            input: {channels: 8, height: 4, width: 4}
            layers:
              - {type: lrn, size: 3, alpha: 1.0, beta: 0.75, k: 1, convention: tf}
        """)
    assert caught.value.diagnostics[0].line == 1


def test_a_model_name_whose_class_would_shadow_a_helper_is_refused():
    # The class is the name capitalised: `f` would become `F`, the file's torch.nn.functional.
    net = resolve_text("""
        name: f
        input: {channels: 1, height: 4, width: 4}
        layers: [{type: relu}]
    """)
    with pytest.raises(SpecError, match="model name 'f' is used by the generated torch module") as caught:
        view.render(net)
    assert caught.value.diagnostics[0].hint == "try fNet"


def test_environment_is_strict():
    import jinja2

    strict = environment(view.TEMPLATES)
    assert strict.undefined is jinja2.StrictUndefined
    assert strict.trim_blocks and strict.lstrip_blocks and strict.keep_trailing_newline
    assert not strict.autoescape
    with pytest.raises(jinja2.UndefinedError):
        strict.from_string("{{ missing }}").render()


def test_compile_source_does_not_import_torch():
    code = ("import sys, alexnet_spec; alexnet_spec.compile_source('specs/alexnet.yaml', backend='torch'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cli_prints_the_rendered_module():
    result = run_cli("compile", "specs/lenet5.yaml", "--backend", "torch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == _render_spec(ROOT / "specs" / "lenet5.yaml").rstrip("\n")
