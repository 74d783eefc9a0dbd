"""The generated JAX file's view, and `render`: its header, imports, helper functions, `init`, `init_state`, the
block functions and `apply`, one LayerView per statement (layers.py) for the per-kind templates. String work only:
never imports jax.

Functions: `apply` for the network's scope, and one function per block configuration (backends/common/scopes.py
groups the instances alike apart from names, and names them after the block in CamelCase: `Basic`, `Basic2` ...),
called once per instance with that instance's nested params (`params["layer1"]["0"]`). A row made by `repeat` is one
call per instance in the scope that holds it. In each function a value read only by the next statement stays in
`x`; a value read later, more than once, or returned from further up is kept in a variable named after its member
(a Namespace keeps those names clear of keywords, builtins and the module's own names: a layer named `dense` must
not hide the helper `dense`).
"""

from __future__ import annotations

import builtins
import functools
import keyword
from dataclasses import dataclass
from pathlib import Path

from alexnet_spec.backends.common import rendering
from alexnet_spec.backends.common.rendering import Statement, commented
from alexnet_spec.backends.common.scopes import BlockClass, block_classes, camel_case
from alexnet_spec.backends.common.source import provenance
from alexnet_spec.resolved import (
    INPUT,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    PReLUAttrs,
    ResolvedLayer,
    ResolvedNetwork,
    Scope,
    Shape,
)

from .initialisation import DRAWS, INIT_HELPERS, nested_lines, params_lines, params_view, state_lines
from .layers import GENERATED_NAMES, HELPER_OF, JAX_DTYPES, LayerView, layer_template, nhwc, note, statement

TEMPLATES = Path(__file__).parent / "templates"
# Every import a generated file may have, in its order. jnp is always used (`init` takes dtype=jnp.float32); the
# others where the code below uses them: jax for jax.random (keys, dropout), jax.nn and jax.sharding.
JAX, NUMPY, LAX = "import jax", "import numpy as np", "from jax import lax"
IMPORTS = (JAX, "import jax.numpy as jnp", NUMPY, LAX)
ALWAYS_IMPORTED = frozenset({"import jax.numpy as jnp"})
HELPER_IMPORTS = {"helpers/conv.jinja": (LAX,), "helpers/max_pool.jinja": (LAX,),
                  "helpers/avg_pool.jinja": (NUMPY, LAX), "helpers/lrn.jinja": (LAX,),
                  "helpers/batchnorm.jinja": (LAX,), "helpers/dropout.jinja": (JAX,),
                  "helpers/init_normal.jinja": (JAX,), "helpers/init_uniform.jinja": (JAX,),
                  "helpers/placement.jinja": (JAX, LAX)}
# The modules each activation's code uses (layers.ACTIVATIONS, layers.SET_ACTIVATIONS).
ACTIVATION_IMPORTS = {"relu": (JAX,), "sigmoid": (JAX,), "softmax": (JAX,), "tanh": (), "leaky_relu": (JAX,),
                      "elu": (JAX,), "gelu": (JAX,), "silu": (JAX,)}
CODE_WIDTH = 96  # comments start in column 100 (4 of indent, 96 of code): longer code gets its two spaces after


@dataclass(frozen=True)
class FileView:
    header: tuple[str, ...]
    imports: tuple[str, ...]
    helpers: tuple[str, ...]
    params: tuple[str, ...]  # init's dict, one line each (nested under block instances)
    key_count: int  # random draws in `init`; 0: it splits no key
    state: tuple[str, ...]  # init_state's dict (batchnorm layers); none: no init_state, and apply ignores `state`
    nesting: str  # a layer inside a block, as params key it: '["layer1"]["0"]["conv1"]'; "" without blocks
    first: str  # apply's first line: the input's shape
    functions: tuple[FunctionView, ...]  # one per block configuration, each before those that call it
    apply: FunctionView  # apply's statements
    apply_doc: tuple[str, ...]
    placed: bool  # the spec names devices: `apply` takes `mesh` and places activations on it
    cast: str | None = None  # bfloat16, float16: apply's statement converting the input
    init_dtype: str = "jnp.float32"  # init's default dtype
    state_dtype: str = "x.dtype"  # apply's argument to init_state: "" for its float32 default (low precisions)


def render(net: ResolvedNetwork) -> str:
    """The module's source: a header, the helper functions its layers use, `init`, `init_state`, a function per
    block configuration, and `apply`."""
    return rendering.render(TEMPLATES, file_view(net))


def file_view(net: ResolvedNetwork) -> FileView:
    params = tuple(view for view in (params_view(layer, net.precision) for layer in net.layers) if view is not None)
    entries = [entry for view in params for entry in view.entries]
    key_count = sum(entry.helper in DRAWS for entry in entries)
    placed = bool(net.devices)
    functions = Functions(net)
    helpers = [INIT_HELPERS[name] for name in INIT_HELPERS if any(entry.helper == name for entry in entries)]
    helpers += ["helpers/placement.jinja"] if placed else []
    for layer in net.layers:
        helper = HELPER_OF.get(layer.type)
        if helper and helper not in helpers:
            helpers.append(helper)
    needed = {line for helper in helpers for line in HELPER_IMPORTS.get(helper, ())}
    needed.update(line for layer in net.layers for kind in (layer.type, getattr(layer.attrs, "activation", None))
                  for line in ACTIVATION_IMPORTS.get(kind, ()))
    if key_count or any(layer.type == "dropout" for layer in net.layers):  # init splits its key; apply, dropout's
        needed.add(JAX)
    imports = tuple(line for line in IMPORTS if line in ALWAYS_IMPORTED or line in needed)
    state = tuple(nested_lines(net, state_lines))
    header = provenance(net, "jax") + (
        f"Input {nhwc(net.input_shape)} (NHWC; layout=\"NCHW\" accepted), {_outputs(net)}; "
        f"{net.total_params:,} parameters, {net.total_macs:,} multiply-accumulates per example.",
        *_precision_note(net),
        "Needs only jax and numpy: params = init(jax.random.PRNGKey(0)); y = jax.jit(apply)(params, x).")
    several = len(net.output_names) > 1
    apply_doc = ("The network on a batch x: (N, H, W, C), or (N, C, H, W) with layout=\"NCHW\".",
                 "", "train: dropout drops (needs `key`) and batch normalisation uses batch statistics.")
    returned = f"the tuple ({', '.join(net.output_names)})" if several else "the output"
    if state:
        apply_doc += ("state: batch-normalisation running statistics (init_state() when None).",
                      f"Returns {returned}; in training, ({returned.removeprefix('the ')}, new state)."
                      if several else "Returns the output; in training, (output, new state).")
    else:
        apply_doc += ("state: unused, as the network has no batch normalisation; taken so that every generated",
                      f"`apply` is called alike. Returns {returned}.")
    if placed:
        apply_doc += ("mesh: a jax.sharding.Mesh of the spec's devices (one axis): split layers' activations are "
                      "sharded", "along their channels over it (see `place`); None computes on one device.")
    nested = next((layer.name for layer in net.layers if "." in layer.name), None)
    nesting = "" if nested is None else "".join(f'["{key}"]' for key in nested.split("."))
    dtype = JAX_DTYPES.get(net.precision)
    cast = None if dtype is None else _line(Statement(f"x = x.astype({dtype})", nhwc(net.input_shape),
                                                      f"{net.precision} from here on"))
    lines = nested_lines(net, functools.partial(params_lines, precision=net.precision))
    return FileView(header, imports, tuple(helpers), tuple(lines), key_count, state, nesting,
                    f"# x: {nhwc(net.input_shape)}, channels last", functions.functions, functions.apply, apply_doc,
                    placed, cast, dtype or "jnp.float32", "x.dtype" if dtype is None else "")


def _precision_note(net: ResolvedNetwork) -> tuple[str, ...]:
    """The header's line on a low precision; none for float32."""
    if net.precision not in JAX_DTYPES:
        return ()
    return (f"Parameters and activations in {net.precision}; float32 where apply says so (LRN's sum of squares, "
            "softmax) and in batch normalisation (statistics and parameters).",)


def _outputs(net: ResolvedNetwork) -> str:
    if len(net.output_names) == 1:
        return f"output {nhwc(net.output_shape)}"
    return "outputs " + ", ".join(f"{name} {nhwc(shape)}" for name, shape in zip(net.output_names, net.output_shapes))


# ---------------------------------------------------------------- functions: apply and the blocks'

PARAMETRISED = (ConvAttrs, DenseAttrs, BatchNormAttrs, PReLUAttrs)  # the layers with an entry in params


class Namespace:
    """Variable names for a function's kept values, in the manner of torch.fx's _Namespace.create_name: a name that
    is a keyword, a builtin, one of the module's own names or already taken gets `_1`, `_2` ... appended."""

    def __init__(self, taken=()):
        self.taken = set(taken) | GENERATED_NAMES | set(keyword.kwlist) | set(dir(builtins))

    def create(self, candidate: str) -> str:
        name, number = candidate, 0
        while name in self.taken:
            number += 1
            name = f"{candidate}_{number}"
        self.taken.add(name)
        return name


@dataclass(frozen=True)
class Needs:
    """What a function takes besides its input: params (a layer with parameters), state and train (batchnorm),
    train and key (dropout), mesh (a placed network)."""

    params: bool
    state: bool
    dropout: bool
    mesh: bool

    def arguments(self, state: str, key: str) -> tuple[str, ...]:
        """A call's arguments after the input (`state`, `key`: the expressions of its state and dropout key), or a
        definition's parameters after `x` (given "state" and "key")."""
        return ((state,) if self.state else ()) + (("train",) if self.state or self.dropout else ()) + (
            (key,) if self.dropout else ()) + (("mesh",) if self.mesh else ())


@dataclass(frozen=True)
class Line:
    """What one line of a function's statement block computes, for evaluate's tracer: a leaf layer's output into
    `variable` (`label`: the layer's name in the scope), a block instance call (`label`: the instance's name relative
    to the scope, `layer2.0`), or nothing to record (a gather)."""

    kind: str  # "layer", "call" or "skip"
    label: str | None = None
    variable: str | None = None


@dataclass(frozen=True)
class FunctionView:
    name: str  # "apply", or the block configuration's CamelCase name
    parameters: str  # a block function's parameter list
    doc: tuple[str, ...]
    new_state: str | None  # the statement starting new_state ("new_state = {}"), None without batchnorm
    dropouts: tuple[str, ...]  # drop_keys' names: dropout layers and the instances holding dropout layers
    preamble: tuple[str, ...]  # lines before the statements (a kept input)
    layers: tuple[LayerView, ...]
    lines: tuple[Line, ...]  # one per line of `layers`, in order
    returns: str


@dataclass
class _Item:
    """One statement: a leaf layer, or the call of a block instance."""

    value: str  # the value it computes, as the scope's readers name it (a row's inner instances: "layer1.0")
    reads: tuple[str, ...]
    layer: ResolvedLayer | None = None
    call: Scope | None = None
    path: tuple[str, ...] = ()  # a call's params path: ("layer1", "0")


class Functions:
    """The functions a graph network's module defines: `functions` (block configurations, each after the
    functions it calls) and `apply`'s statements (`apply`)."""

    def __init__(self, net: ResolvedNetwork):
        self.net = net
        self.scopes = {scope.name: scope for scope in net.scopes}
        self.input_shapes: dict[str, Shape] = {}
        self._needs: dict[str, Needs] = {}
        self._input_shapes(self.scopes[""], net.input_shape)
        taken = GENERATED_NAMES | set(keyword.kwlist) | set(dir(builtins))
        classes, self.function_of = block_classes(net, camel_case, frozenset(taken))
        self.functions = tuple(self._function(function) for function in classes)
        self.apply = self._body(self.scopes[""], "apply")

    # ------------------------------------------------------------------ structure
    def _input_shapes(self, scope: Scope, shape: Shape) -> None:
        self.input_shapes[scope.name] = shape
        for member in scope.members:
            if member.is_block:
                child = self.scopes[member.qualified]
                if child.kind == "sequence":
                    self.input_shapes[child.name] = self.value_shape(scope, member.inputs[0])
                    for index, instance in enumerate(child.members):
                        before = member.inputs[0] if index == 0 else None
                        self._input_shapes(self.scopes[instance.qualified], self.value_shape(scope, before) if before
                                           else self.value_shape(child, child.members[index - 1].name))
                else:
                    self._input_shapes(child, self.value_shape(scope, member.inputs[0]))

    def value_shape(self, scope: Scope, ref: str) -> Shape:
        """The shape of the value `ref` names in `scope`: a member's output, or the scope's input."""
        if ref == INPUT:
            return self.input_shapes[scope.name]
        member = next(member for member in scope.members if member.name == ref)
        if not member.is_block:
            return self.net.layer(member.qualified).output_shape
        child = self.scopes[member.qualified]
        return self.value_shape(child, child.outputs[0])

    def needs(self, scope: Scope) -> Needs:
        """What the scope's layers, its instances' included, need."""
        if scope.name not in self._needs:
            found = {"params": False, "state": False, "dropout": False}
            for member in scope.members:
                if member.is_block:
                    inner = self.needs(self.scopes[member.qualified])
                    found = {kind: found[kind] or getattr(inner, kind) for kind in found}
                    continue
                attrs = self.net.layer(member.qualified).attrs
                found["params"] |= isinstance(attrs, PARAMETRISED)
                found["state"] |= isinstance(attrs, BatchNormAttrs)
                found["dropout"] |= isinstance(attrs, DropoutAttrs)
            self._needs[scope.name] = Needs(**found, mesh=bool(self.net.devices))
        return self._needs[scope.name]

    def split(self, name: str) -> bool:
        """Whether a leaf's output is split over the devices (never the network's input)."""
        if name == INPUT:
            return False
        placement = self.net.layer(name).placement
        return bool(self.net.devices) and placement is not None and placement.split

    # ------------------------------------------------------------------ code
    def _function(self, function: BlockClass) -> FunctionView:
        """The function of the instances `function` groups, made from the first of them. In a placed network the
        first instance's inputs decide which are gathered (place is a sharding constraint: the values are the same
        for every instance either way)."""
        scope, name = function.instances[0], function.name
        view = self._body(scope, name)
        needs = self.needs(scope)
        parameters = ", ".join((("params",) if needs.params else ()) + ("x",) + needs.arguments("state", "key"))
        by_args: dict[tuple, list[str]] = {}
        for instance in function.instances:
            by_args.setdefault(instance.args, []).append(instance.name)
        uses = "; ".join(f"{', '.join(names)} ({', '.join(f'{arg}={value!r}' for arg, value in args)})" if args
                         else ", ".join(names) for args, names in by_args.items())
        out = nhwc(self.value_shape(scope, scope.outputs[0]))
        doc = (f"Block `{scope.block}`, as {uses}.", f"x: {nhwc(self.input_shapes[scope.name])} -> {out}." + (
               " Returns (y, the batchnorm state it updates)." if needs.state else ""))
        return FunctionView(name, parameters, doc, view.new_state, view.dropouts, view.preamble, view.layers,
                            view.lines, view.returns)

    def _items(self, scope: Scope) -> list[_Item]:
        items = []
        for member in scope.members:
            if not member.is_block:
                items.append(_Item(member.name, member.inputs, layer=self.net.layer(member.qualified)))
                continue
            child = self.scopes[member.qualified]
            if child.kind != "sequence":
                items.append(_Item(member.name, member.inputs, call=child, path=(member.name,)))
                continue
            reads = member.inputs
            for index, instance in enumerate(child.members):
                last = index == len(child.members) - 1
                value = member.name if last else f"{member.name}.{instance.name}"
                items.append(_Item(value, reads, call=self.scopes[instance.qualified],
                                   path=(member.name, instance.name)))
                reads = (value,)
        return items

    def _body(self, scope: Scope, function: str) -> FunctionView:
        items = self._items(scope)
        readers: dict[str, set[int]] = {}
        for position, item in enumerate(items):
            for ref in item.reads:
                readers.setdefault(ref, set()).add(position)
        for ref in scope.outputs:
            readers.setdefault(ref, set()).add(len(items))
        names = Namespace(self.function_of.values())
        variables = {}  # value -> the variable that keeps it; values without one stay in x
        produced = [(INPUT, -1)] + [(item.value, position) for position, item in enumerate(items)]
        for value, position in produced:
            if readers.get(value, set()) != {position + 1}:
                variables[value] = names.create(value.split(".")[0] if value != INPUT else INPUT)

        def expression(value: str) -> str:
            return variables.get(value, "x")

        views, lines = [], []
        for item in items:
            target = expression(item.value)
            if item.layer is not None:
                view, item_lines = self._layer(item, scope, target, expression)
            else:
                view, item_lines = self._call(item, target, expression)
            views.append(view)
            lines += item_lines
        returned = tuple(expression(ref) for ref in scope.outputs)
        result = returned[0] if len(returned) == 1 else f"({', '.join(returned)})"
        needs = self.needs(scope)
        if function == "apply":
            returns = f"({result}, new_state) if train else {result}" if needs.state else result
        else:
            returns = f"{result}, new_state" if needs.state else result
        rows = [item.path[0] for item in items if item.call is not None and len(item.path) == 2
                and self.needs(item.call).state]
        new_state = None
        if needs.state:
            new_state = "new_state = {" + ", ".join(f'"{row}": {{}}' for row in dict.fromkeys(rows)) + "}"
        dropouts = tuple(item.value if item.layer is not None else ".".join(item.path) for item in items
                         if (item.layer is not None and item.layer.type == "dropout")
                         or (item.call is not None and self.needs(item.call).dropout))
        preamble = (f"{variables[INPUT]} = x",) if INPUT in variables else ()
        return FunctionView(function, "", (), new_state, dropouts, preamble, tuple(views), tuple(lines), returns)

    def _layer(self, item: _Item, scope: Scope, target: str, expression) -> tuple[LayerView, list[Line]]:
        layer, local = item.layer, item.value
        inputs = tuple(expression(ref) for ref in item.reads)
        split = self.split(layer.name)
        gathers, lines = [], []
        for ref, producer, shape in zip(item.reads, layer.inputs, layer.input_shapes):
            if not split and self.split(producer) and expression(ref) not in [g[0] for g in gathers]:
                gathers.append((expression(ref), shape))
        gather = tuple(_line(Statement(f"{value} = place({value}, mesh, split=False)", nhwc(shape),
                                       f"gathered for {local}")) for value, shape in gathers)
        lines += [Line("skip")] * len(gather)
        call = Statement(statement(layer, inputs, target, local, self.net.precision), nhwc(layer.output_shape),
                         note(layer, self.net.precision))
        lines.append(Line("layer", local, target))
        place = None
        if split and isinstance(layer.attrs, (ConvAttrs, DenseAttrs)):
            axis = "channels" if layer.is_spatial else "features"
            place = _line(Statement(f"{target} = place({target}, mesh, split=True)", nhwc(layer.output_shape),
                                    f"{local}'s {axis} split over the {len(self.net.devices)} devices"))
            lines.append(Line("layer", local, target))
        return LayerView(local, layer_template(layer.type), _line(call), gather, place), lines

    def _call(self, item: _Item, target: str, expression) -> tuple[LayerView, list[Line]]:
        scope, path = item.call, "".join(f'["{key}"]' for key in item.path)
        needs = self.needs(scope)
        arguments = (f"params{path}",) if needs.params else ()
        arguments += (expression(item.reads[0]),) + needs.arguments(f"state{path}",
                                                                    f'drop_keys.get("{".".join(item.path)}")')
        written = f"{target}, new_state{path}" if needs.state else target
        code = f"{written} = {self.function_of[scope.name]}({', '.join(arguments)})"
        args = ", ".join(f"{name}={value!r}" for name, value in scope.args)
        shape = nhwc(self.value_shape(scope, scope.outputs[0]))
        view = LayerView(".".join(item.path), "block.jinja", _line(Statement(code, shape, args)))
        return view, [Line("call", ".".join(item.path), target)]


def _line(statement: Statement) -> str:
    return commented(statement, CODE_WIDTH)
