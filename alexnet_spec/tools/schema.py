"""The JSON Schema of spec files, generated from the pydantic models, for editors and other tools."""

from __future__ import annotations

import json
from typing import Any

from alexnet_spec.spec.network import NetworkSpec

SCHEMA_ID = "https://alexspec.dev/schema/spec.json"

VARIANT_PROPERTIES: dict[str, Any] = {
    "extends": {"type": "string", "description": "path of the base spec, relative to this file; the fields below "
                                                 "edit the base by layer name"},
    "overrides": {"type": "object", "description": "layer name -> fields to change, e.g. {conv2: {groups: 1}}",
                  "additionalProperties": {"type": "object"}},
    "remove": {"type": "array", "items": {"type": "string"}, "description": "names of base layers to remove"},
    "insert_after": {"type": "object", "description": "layer name -> layers to insert after it",
                     "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/Layer"}}},
}


def json_schema() -> dict[str, Any]:
    """The schema of a spec file: a full network, or a variant that `extends` one (then nothing else is required)."""
    schema = NetworkSpec.model_json_schema()
    layer_union = schema["properties"]["layers"]["items"]
    schema["$defs"]["Layer"] = layer_union
    schema["properties"]["layers"]["items"] = {"$ref": "#/$defs/Layer"}
    schema["properties"].update(VARIANT_PROPERTIES)
    required = schema.pop("required")
    schema["if"] = {"required": ["extends"]}
    schema["then"] = {}
    schema["else"] = {"required": required}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
