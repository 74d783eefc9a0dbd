"""alexnet_spec/precision.py: the precision chosen by the spec or by --precision, carried on the ResolvedNetwork."""

from __future__ import annotations

import pytest

import alexnet_spec
from alexnet_spec.errors import SpecError
from alexnet_spec.precision import with_precision
from tests.conftest import SPECS_DIR, resolve_text, run_cli

LENET = SPECS_DIR / "lenet5.yaml"
SMALL = """
    name: Small
    input: {channels: 1, height: 8, width: 8}
    layers:
      - {type: conv, out_channels: 2, kernel: 3}
      - {type: flatten}
      - {type: dense, out_features: 3}
      - {type: softmax}
"""


def test_float32_is_the_default_and_leaves_the_hash_as_it_was():
    net = resolve_text(SMALL)
    assert net.precision == "float32" and not net.precision_option
    assert resolve_text(SMALL + "    precision: float32\n").spec_hash == net.spec_hash
    assert with_precision(net, None) is net and with_precision(net, "float32") is net


def test_the_spec_sets_a_precision_and_the_option_overrides_it():
    net = resolve_text(SMALL + "    precision: bfloat16\n")
    assert net.precision == "bfloat16" and not net.precision_option
    assert net.spec_hash != resolve_text(SMALL).spec_hash  # another network: another hash
    chosen = with_precision(resolve_text(SMALL), "float16")
    assert (chosen.precision, chosen.precision_option) == ("float16", True)
    assert chosen.spec_hash != resolve_text(SMALL).spec_hash
    assert with_precision(net, "float32").precision == "float32"


def test_an_unknown_precision_is_an_error_naming_the_choices():
    with pytest.raises(SpecError, match="unknown precision 'bfloat8'") as error:
        with_precision(resolve_text(SMALL), "bfloat8")
    assert "float32, bfloat16, float16" in error.value.diagnostics[0].expected
    with pytest.raises(SpecError, match="precision"):
        resolve_text(SMALL + "    precision: float64\n")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_compile_with_precision_says_so_in_the_header(backend):
    source = alexnet_spec.compile_source(LENET.relative_to(SPECS_DIR.parent), backend, precision="bfloat16")
    assert f"Regenerate with: alexspec compile specs/lenet5.yaml --backend {backend} --precision bfloat16" in source
    assert "Parameters and activations in bfloat16" in source
    assert "--precision" not in alexnet_spec.compile_source(LENET.relative_to(SPECS_DIR.parent), backend)


def test_the_cli_compiles_in_a_precision_and_refuses_an_unknown_one():
    result = run_cli("compile", "specs/lenet5.yaml", "--precision", "float16")
    assert result.returncode == 0, result.stderr
    assert "nn.Conv2d(1, 6, kernel_size=5, dtype=torch.float16)" in result.stdout
    result = run_cli("compile", "specs/lenet5.yaml", "--precision", "bfloat61")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown precision 'bfloat61'" in result.stderr and "did you mean 'bfloat16'?" in result.stderr


def test_a_spec_in_bfloat16_is_summarised_and_checked_in_it(tmp_spec):
    path = tmp_spec(SMALL + "    precision: bfloat16\n")
    result = run_cli("summary", str(path))
    assert result.returncode == 0 and "in bfloat16 (2 bytes each)" in result.stdout, result.stdout + result.stderr
    result = run_cli("check", str(path), "--backends", "torch,numpy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "top-1 agreement with the oracle over 2 inputs: torch 100%" in result.stdout


def test_torch_build_refuses_a_dtype_for_a_low_precision_build():
    pytest.importorskip("torch")
    with pytest.raises(TypeError, match="build it with precision= alone"):
        alexnet_spec.build(LENET, "torch", precision="bfloat16", dtype="float64")


@pytest.mark.parametrize("value", ["half", "true", "16"])
def test_a_malformed_spec_precision_is_located_with_its_choices(tmp_spec, value):
    path = tmp_spec(SMALL + f"    precision: {value}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = len(SMALL.strip("\n").splitlines()) + 1
    assert f"{path}:{line}:12: error: precision: Input should be 'float32', 'bfloat16' or 'float16'" in result.stderr
