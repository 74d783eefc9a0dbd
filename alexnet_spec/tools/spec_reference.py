"""docs/spec.md, the reference of every layer type and field, generated from the models so it cannot drift."""

from __future__ import annotations

import inspect
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from alexnet_spec.spec.layers import LAYER_TYPES
from alexnet_spec.spec.network import BlockSpec, InputShape, NetworkSpec
from alexnet_spec.spec.types import Constant, Kaiming, Normal, ParameterInit, Uniform, Xavier

HEADER = """# The spec language

Generated from the pydantic models (do not edit: `make docs` regenerates it, and a test fails when it is stale). The same models give the JSON Schema (`alexspec schema`), which editors use for completion
and live validation with the first line of every file in `specs/`:

```yaml
# yaml-language-server: $schema=../docs/alexspec.schema.json
```
"""


GRAPHS = """A layer reads the layer written before it, unless it lists its `inputs`; `input` is the network's input, or
inside a block the instance's input. `concat` and `add` read several layers; every other layer reads one. A layer
whose output nobody reads is an error, unless the top-level `outputs` lists it. Cycles, unknown names, and shapes that
`add` or `concat` cannot combine are errors at the line that names them.

A block is defined once under `blocks:` with `params` and used by `type: block` layers with `args`; a field written
`$name` takes the instance's value. Names inside an instance are qualified by the instance's name: the conv `conv1` of
block instance `layer2.0` is `layer2.0.conv1`, the attribute path in the torch module and the params path in JAX.
`repeat: n` makes n instances in a row named `<name>.0` ... `<name>.<n-1>`; `first:` changes the arguments of the
first one (the stride-2, downsampling first block of a ResNet stage). A layer with `when: false` (usually
`when: $param`) is left out, and whoever reads it reads its input instead.

```yaml
blocks:
  basic:
    params: {channels: null, stride: 1, downsample: false}
    layers:
      - {type: conv, name: conv1, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
      - {type: batchnorm, name: bn1}
      - {type: relu, name: relu1}
      - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, bias: false}
      - {type: batchnorm, name: bn2}
      - {type: conv, name: down_conv, inputs: [input], out_channels: $channels, kernel: 1, stride: $stride,
         bias: false, when: $downsample}
      - {type: batchnorm, name: down_bn, when: $downsample}
      - {type: add, name: add, inputs: [bn2, down_bn]}
      - {type: relu, name: relu2}
layers:
  - {type: block, block: basic, name: layer2, repeat: 2, args: {channels: 128}, first: {stride: 2, downsample: true}}
```"""


def _simplify(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _simplify(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{arg}`" for arg in args)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " or ".join(_simplify(arg) for arg in args if arg is not type(None))
    if origin in (list, tuple):
        inner = ", ".join(_simplify(arg) for arg in args if arg is not Ellipsis)
        return f"[{inner}]"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


def _field_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        if info.default is PydanticUndefined and info.default_factory is None:
            default = "required"
        elif info.default_factory is not None:
            default = f"`{info.default_factory()}`"
        else:
            default = "" if info.default is None else f"`{info.default}`"
        rows.append(f"| `{name}` | {_simplify(info.annotation)} | {default} | {info.description or ''} |")
    return rows


def markdown() -> str:
    lines = [HEADER, "## The network", "", inspect.getdoc(NetworkSpec), ""]
    lines += _field_table(NetworkSpec) + ["", "### input", ""] + _field_table(InputShape)
    lines += ["", "## Graphs and blocks", "", GRAPHS, "", "### blocks", "", inspect.getdoc(BlockSpec), ""]
    lines += _field_table(BlockSpec)
    lines += ["", "## Layer types", ""]
    for type_name, model in LAYER_TYPES.items():
        lines += [f"### `{type_name}`", "", inspect.getdoc(model), "", "```yaml",
                  f"- {model.model_config['json_schema_extra']['examples'][0]}", "```", ""]
        lines += _field_table(model, skip=("type",)) + [""]
    lines += ["## Initialisation", "", "`init` is `torch`, `paper`, or a mapping:", ""] + _field_table(ParameterInit)
    for model in (Normal, Uniform, Kaiming, Xavier, Constant):
        lines += ["", f"### `dist: {model.model_fields['dist'].annotation.__args__[0]}`", "", inspect.getdoc(model), ""]
        lines += _field_table(model, skip=("dist",))
    lines += ["", "## Variants", "", "A spec may start with `extends: base.yaml` and then edit the base by layer name:",
              "", "| field | meaning |", "|---|---|"]
    from alexnet_spec.tools.schema import VARIANT_PROPERTIES

    lines += [f"| `{name}` | {value['description']} |" for name, value in VARIANT_PROPERTIES.items()]
    lines += ["", "`extends` names a .yaml or .yml file and may leave the spec's folder (`../shared/base.yaml`); a file "
              "that is not a spec is an error at `extends` that never quotes it. Every file is read within the bounds "
              "listed in [security.md](security.md)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
