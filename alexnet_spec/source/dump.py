"""A spec back to YAML text: loading the text again gives an equal spec."""

from __future__ import annotations

import io

from ruamel.yaml import YAML

from alexnet_spec.spec.network import NetworkSpec


def spec_to_data(spec: NetworkSpec) -> dict:
    """Plain data of the spec, fields left at their defaults omitted (the type of each layer always kept)."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    # By position: looking each layer up with list.index made this quadratic in the number of layers (and, for two
    # equal layers, could pick the wrong one).
    data["layers"] = [{"type": model.type, **{key: value for key, value in layer.items() if key != "type"}}
                      for layer, model in zip(data["layers"], spec.layers)]
    return data


def to_yaml_text(data: dict) -> str:
    """Plain data as block YAML with flow-style leaves, one layer per line."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.sort_base_mapping_type_on_output = False
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def dump_yaml(spec: NetworkSpec) -> str:
    return to_yaml_text(spec_to_data(spec))
