"""Weights named after another model's modules (torchvision's `features.0.weight`, `classifier.1.bias`, ...) given
the spec's names by order and shape: the i-th module with weights is the spec's i-th layer with weights.

    weights, report = by_order(net, arrays, "alexnet-owt.pth")

Every pairing is checked: the same fields (weight, bias; batchnorm's running statistics too; torch's
`num_batches_tracked` counter is left out) and the same shape for each, and as many modules as layers. A mismatch
is an error naming both sides; `report` lists every pairing for the user to read.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.resolved import ResolvedNetwork
from alexnet_spec.weights import weight_shapes

SKIPPED = ("num_batches_tracked",)


def _modules(names) -> dict[str, list[str]]:
    """Module prefix -> its field names, both in the order given."""
    modules: dict[str, list[str]] = {}
    for name in names:
        prefix, _, field = name.rpartition(".")
        if field not in SKIPPED:
            modules.setdefault(prefix, []).append(field)
    return modules


def by_order(net: ResolvedNetwork, arrays: Mapping[str, np.ndarray], source: str) -> tuple[dict, list[str]]:
    """Canonical weights for `net` from `arrays` in their order (see the module's docstring), and the report."""
    theirs = _modules(arrays)
    ours = _modules(weight_shapes(net))
    shapes = weight_shapes(net)
    if len(theirs) != len(ours):
        raise SpecError(Diagnostic(f"{len(theirs)} modules with weights ({_few(theirs)}) for the spec's {len(ours)} "
                                   f"layers with weights ({_few(ours)})", file=source,
                                   hint="the file must hold the same architecture, in the spec's layer order"))
    weights, report = {}, []
    for (module, fields), (layer, wanted) in zip(theirs.items(), ours.items()):
        if sorted(fields) != sorted(wanted):
            raise SpecError(Diagnostic(f"module {module!r} has {', '.join(fields)}; layer {layer} has "
                                       f"{', '.join(wanted)}", file=source, layer=layer,
                                       hint="the file's modules and the spec's layers differ at this point"))
        for field in wanted:
            array = np.asarray(arrays[f"{module}.{field}"])
            if tuple(array.shape) != shapes[f"{layer}.{field}"]:
                raise SpecError(Diagnostic(f"{module}.{field} has shape {list(array.shape)}; {layer}.{field} needs "
                                           f"{list(shapes[f'{layer}.{field}'])}", file=source, layer=layer,
                                           hint="the file's modules and the spec's layers differ at this point"))
            weights[f"{layer}.{field}"] = array
        report.append(f"{module} -> {layer}: " + ", ".join(f"{field} {_shape(weights[f'{layer}.{field}'])}"
                                                            for field in wanted))
    return weights, report


def _shape(array: np.ndarray) -> str:
    return "×".join(map(str, array.shape)) or "scalar"


def _few(modules: Mapping[str, list[str]], count: int = 4) -> str:
    names = list(modules)
    return ", ".join(names[:count]) + (f", ... {len(names) - count} more" if len(names) > count else "")
