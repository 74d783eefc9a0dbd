"""The JSON Schema and docs/spec.md are generated from the models; the checked-in copies must be current."""

from __future__ import annotations

import json

import pytest

from alexnet_spec.tools.spec_reference import markdown
from alexnet_spec.tools.schema import json_schema, json_schema_text
from alexnet_spec.spec.layers import LAYER_TYPES
from alexnet_spec.source.yaml_source import parse, to_plain
from tests.conftest import ROOT, SPEC_FILES

REGENERATE = "run `make docs` to regenerate"


def test_checked_in_schema_is_current():
    assert (ROOT / "docs" / "alexspec.schema.json").read_text() == json_schema_text(), REGENERATE


def test_checked_in_reference_is_current():
    assert (ROOT / "docs" / "spec.md").read_text() == markdown(), REGENERATE


def _properties(node):
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            yield name, value
        for value in node.values():
            yield from _properties(value)
    elif isinstance(node, list):
        for value in node:
            yield from _properties(value)


def test_every_field_has_a_description():
    missing = sorted({name for name, value in _properties(json_schema()) if not value.get("description")})
    assert missing == []


def test_every_layer_type_is_in_the_schema_and_the_reference():
    schema = json_schema()
    text = markdown()
    for type_name in LAYER_TYPES:
        assert f"### `{type_name}`" in text
    assert set(schema["$defs"]["Layer"]["discriminator"]["mapping"]) == set(LAYER_TYPES)


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_reference_examples_are_valid_layers(type_name):
    model = LAYER_TYPES[type_name]
    example = model.model_config["json_schema_extra"]["examples"][0]
    model.model_validate(to_plain(parse(f"layer: {example}").tree["layer"]))


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_spec_files_name_the_schema(path):
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../docs/alexspec.schema.json"


def test_schema_command_prints_json():
    from tests.conftest import run_cli

    result = run_cli("schema")
    assert json.loads(result.stdout)["$id"].endswith("spec.json")
