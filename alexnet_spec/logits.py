"""The network without its final softmax, for training on logits (a numerically stable cross-entropy) instead of
probabilities: `build(spec, ..., output="logits")` and `alexspec compile SPEC --logits` go through `as_logits`.

A pure function on the ResolvedNetwork, before any backend: every backend renders the same logits network, and the
spec itself is untouched (the default output stays what the spec says).
"""

from __future__ import annotations

import dataclasses
import hashlib

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedLayer, ResolvedNetwork, Scope

OUTPUTS = ("spec", "logits")  # what `build(..., output=...)` accepts


def output_layers(net: ResolvedNetwork) -> tuple[str, ...]:
    """The names of the layers whose values the network returns."""
    return net.output_names


def ends_in_softmax(layer: ResolvedLayer) -> bool:
    """A softmax layer, or a layer whose fused activation is softmax (Keras's `activation: softmax`)."""
    return layer.type == "softmax" or getattr(layer.attrs, "activation", None) == "softmax"


def as_logits(net: ResolvedNetwork) -> ResolvedNetwork:
    """`net` with the softmax at each output dropped: a final softmax layer removed, or a final dense or conv
    layer's softmax activation cleared. A network that outputs no softmax is returned as it is. The result's
    `spec_hash` differs from the spec's (it is another network), and its `logits` flag makes generated headers
    say how to regenerate it."""
    outputs = [layer for layer in net.layers if layer.name in output_layers(net) and ends_in_softmax(layer)]
    if not outputs:
        return net
    dropped = {layer.name for layer in outputs if layer.type == "softmax"}
    if len(dropped) == len(net.layers):
        raise SpecError(Diagnostic("the network is a lone softmax: without it nothing is left", file=net.file,
                                   expected="a layer before the final softmax", hint="build it with output=\"spec\""))
    kept = [_without_activation(layer) if layer in outputs else layer
            for layer in net.layers if layer.name not in dropped]
    layers = tuple(dataclasses.replace(layer, index=index) for index, layer in enumerate(kept))
    read = {layer.name: layer.inputs[0] for layer in outputs if layer.type == "softmax"}  # what each dropped one read
    digest = hashlib.sha256(f"{net.spec_hash}:logits".encode()).hexdigest()[:16]
    return dataclasses.replace(net, layers=layers, spec_hash=digest, logits=True,
                               outputs=tuple(read.get(name, name) for name in net.output_names),
                               scopes=tuple(_without_members(scope, dropped) for scope in net.scopes))


def _without_members(scope: Scope, dropped: set[str]) -> Scope:
    """A scope with the dropped softmax members left out: whoever returned one returns what it read."""
    gone = {member.name: member.inputs[0] for member in scope.members if member.qualified in dropped}
    if not gone:
        return scope
    return dataclasses.replace(scope, members=tuple(member for member in scope.members if member.name not in gone),
                               outputs=tuple(gone.get(name, name) for name in scope.outputs))


def with_output(net: ResolvedNetwork, output: str) -> ResolvedNetwork:
    """`net` as `output` asks: "spec" (what the spec says) or "logits" (`as_logits`)."""
    if output == "spec":
        return net
    if output == "logits":
        return as_logits(net)
    raise SpecError(Diagnostic(f"unknown output {output!r}", file="output", expected=f"one of: {', '.join(OUTPUTS)}",
                               hint="\"logits\" drops a final softmax, for training with cross-entropy"))


def _without_activation(layer: ResolvedLayer) -> ResolvedLayer:
    if layer.type == "softmax":
        return layer
    return dataclasses.replace(layer, attrs=dataclasses.replace(layer.attrs, activation=None))
