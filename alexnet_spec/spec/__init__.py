"""The spec language: pydantic models of a network description."""

from alexnet_spec.spec.layers import LAYER_TYPES, Layer
from alexnet_spec.spec.network import InputShape, NetworkSpec

__all__ = ["LAYER_TYPES", "InputShape", "Layer", "NetworkSpec"]
