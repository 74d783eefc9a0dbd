"""Numbers are what they say and names are what Python reads: spec/types.py and the model name of spec/network.py."""

from __future__ import annotations

import keyword
import unicodedata

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.spec.types import RESERVED_NAMES
from tests.conftest import TINY_SPEC, resolve_text

LRN = "{type: lrn, size: 3, alpha: 0.0001, beta: 0.75, k: 2, convention: paper}"


def with_layer(layer: str) -> str:
    """TINY_SPEC with `layer` after its relu."""
    return TINY_SPEC.replace("      - {type: relu}\n", f"      - {{type: relu}}\n      - {layer}\n")


def rejected(body: str) -> str:
    with pytest.raises(SpecError) as caught:
        resolve_text(body)
    return str(caught.value)


# --- numbers ---

@pytest.mark.parametrize("field, value", [("alpha", "true"), ("beta", "false"), ("k", "'2'"), ("alpha", '"1e-4"')])
def test_booleans_and_strings_are_not_floats(field, value):
    fields = {"alpha": "0.0001", "beta": "0.75", "k": "2", field: value}
    layer = "{type: lrn, size: 3, " + ", ".join(f"{key}: {text}" for key, text in fields.items()) + ", convention: paper}"
    message = rejected(with_layer(layer))
    assert "test.yaml:" in message and "a number is expected" in message


def test_dropout_probability_as_a_string_is_rejected():
    message = rejected(with_layer('{type: dropout, p: "0.5"}'))
    assert "a number is expected, not the string '0.5'" in message


def test_ints_stay_accepted_for_float_fields():
    net = resolve_text(with_layer("{type: lrn, size: 3, alpha: 1, beta: 1, k: 2, convention: paper}"))
    lrn = net.layer("norm1").attrs
    assert (lrn.beta, lrn.k) == (1.0, 2.0) and isinstance(lrn.k, float)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999", ".NaN"])
def test_nan_and_infinity_are_rejected(value):
    message = rejected(with_layer(LRN.replace("beta: 0.75", f"beta: {value}")))
    assert "not a finite number" in message


@pytest.mark.parametrize("init", ["{weight: {dist: normal, std: .inf}}", "{weight: {dist: constant, value: .nan}}",
                                  "{bias: {dist: uniform, low: -.inf, high: 1}}", "{weight: {dist: xavier, gain: .nan}}"])
def test_nan_and_infinity_in_distributions(init):
    body = TINY_SPEC.replace("{type: dense, out_features: 5}", f"{{type: dense, out_features: 5, init: {init}}}")
    assert "not a finite number" in rejected(body)


@pytest.mark.parametrize("k", ["-1", "-0.5", "-1e-30"])
def test_lrn_k_must_not_be_negative(k):
    # b = a / (k + scale * sum)**beta: with k < 0 the base is negative for small inputs, a complex power.
    assert "expected a non-negative number (0 or more)" in rejected(with_layer(LRN.replace("k: 2", f"k: {k}")))


def test_lrn_k_zero_is_tensorflows_worked_example():
    # tf.nn.lrn(a, 2, 0, 1, 1): bias 0 is TensorFlow's own worked example (tests/backends/numpy/tf_lrn_example.py).
    from tests.conftest import resolve_text

    assert resolve_text(with_layer(LRN.replace("k: 2", "k: 0"))).layer("norm1").attrs.k == 0


@pytest.mark.parametrize("low, high", [(1, 1), (2, -2)])
def test_uniform_low_below_high(low, high):
    body = TINY_SPEC.replace("{type: dense, out_features: 5}",
                             f"{{type: dense, out_features: 5, init: {{weight: {{dist: uniform, low: {low}, "
                             f"high: {high}}}}}}}")
    assert "low < high" in rejected(body)


# --- names ---

@pytest.mark.parametrize("name", ["ｆｏｒｗａｒｄ", "ﬁlter", "ｃｏｎｖ"])
def test_names_python_normalises_are_rejected_with_their_normal_form(name):
    normal = unicodedata.normalize("NFKC", name)
    assert normal != name
    message = rejected(TINY_SPEC.replace("{type: relu}", f"{{type: relu, name: {name}}}"))
    assert "NFKC" in message and repr(normal) in message


def test_normalised_duplicate_cannot_sneak_in():
    # `ｃｏｎｖ1` and `conv1` are one attribute for Python: refused at the first, whose normal form is given.
    body = TINY_SPEC.replace("{type: conv,", "{type: conv, name: conv1,").replace("{type: relu}",
                                                                                "{type: relu, name: ｃｏｎｖ1}")
    assert "'conv1'" in rejected(body)


def test_every_public_nn_module_attribute_is_reserved():
    torch = pytest.importorskip("torch")
    module = torch.nn.Module()
    public = {name for name in set(dir(torch.nn.Module)) | set(vars(module)) if not name.startswith("_")}
    assert public - RESERVED_NAMES == set()


def test_a_reserved_name_cannot_be_a_layer_name():
    assert "reserved" in rejected(TINY_SPEC.replace("{type: relu}", "{type: relu, name: register_forward_hook}"))


@pytest.mark.parametrize("name", ["None", "none", "NONE", "True", "true", "False", "fAlSe", "class", "def", "lambda"])
def test_python_constants_and_keywords_are_not_model_names(name):
    assert keyword.iskeyword(name) or name.lower() in ("none", "true", "false")
    message = rejected(TINY_SPEC.replace("name: Tiny", f"name: '{name}'"))  # quoted: YAML reads true as a boolean
    assert "keyword or constant" in message and "test.yaml:1:" in message


def test_ordinary_model_names_still_work():
    assert resolve_text(TINY_SPEC.replace("name: Tiny", "name: Nonet")).name == "Nonet"
