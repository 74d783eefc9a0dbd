"""The graph benchmark's inputs are what its rows say: the 10,000-layer graph really is blocks expanded by `repeat`."""

from __future__ import annotations

from collections import Counter

from alexnet_spec.source.loading import parse_network
from benchmarks.graphs import GRAPH_LAYERS, residual_graph_spec


def test_the_large_graph_is_ten_thousand_layers_of_repeated_residual_blocks():
    text = residual_graph_spec(GRAPH_LAYERS // 4)
    assert "repeat: 2500" in text and len(text.splitlines()) < 20  # written once, expanded by the loader
    net = parse_network(text, "residual.yaml")
    assert len(net.layers) == GRAPH_LAYERS
    assert Counter(layer.type for layer in net.layers) == {"conv": 5000, "relu": 2500, "add": 2500}
    assert net.layer("stage.2499.add").inputs == ("stage.2499.conv2", "stage.2498.add")  # its block's input added
