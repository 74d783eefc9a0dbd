"""Properties of the spec layer over generated specs (no framework needed)."""

from __future__ import annotations

from hypothesis import given

from alexnet_spec.source.dump import dump_yaml
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import parse_network
from tests.strategies import invalid_specs, to_yaml, valid_specs


@given(valid_specs())
def test_generated_specs_are_valid_and_dump_then_load_is_equal(data):
    net = parse_network(to_yaml(data), "generated.yaml")
    assert all(size > 0 for layer in net.layers for size in layer.output_shape)
    again = parse_network(dump_yaml(net.spec), "dumped.yaml")
    assert again.spec == net.spec
    assert [layer.output_shape for layer in again.layers] == [layer.output_shape for layer in net.layers]


@given(invalid_specs())
def test_invalid_specs_are_rejected_with_a_position(case):
    error_class, data = case
    try:
        parse_network(to_yaml(data), "bad.yaml")
    except SpecError as error:
        assert error.diagnostics, error_class
        for diagnostic in error.diagnostics:
            assert diagnostic.file == "bad.yaml" and diagnostic.line is not None, (error_class, diagnostic)
            assert diagnostic.message
    else:
        raise AssertionError(f"{error_class}: accepted\n{to_yaml(data)}")
