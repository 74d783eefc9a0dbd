"""Training a spec on real images, with any backend that offers a `trainer` (torch, jax): `alexspec train`.

    from alexnet_spec.training import TrainConfig, load_data, train
    net = alexnet_spec.resolve("specs/lenet5.yaml")
    result = train(net, load_data("digits", net.input_shape), TrainConfig(backend="jax", epochs=4, lr=0.05))
    result.history[-1]["held_out_top1"]

The loop (loop.py), data (data.py), augmentation (augment.py), metrics, schedule, checkpoints and the plot are
framework-neutral; each backend's train.py runs the step and the forward pass, found through the registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alexnet_spec.training.augment import Augmentation
    from alexnet_spec.training.data import Dataset, load_data
    from alexnet_spec.training.loop import Progress, TrainConfig, TrainResult, train

# Each name's module, imported on first use: `alexspec validate` imports training/commands.py (to register
# `alexspec train`), and so this package, but needs none of numpy that these modules import.
_EXPORTS = {"Augmentation": "augment", "Dataset": "data", "load_data": "data", "Progress": "loop",
            "TrainConfig": "loop", "TrainResult": "loop", "train": "loop"}

__all__ = ["Augmentation", "Dataset", "Progress", "TrainConfig", "TrainResult", "load_data", "train"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
