"""The bounds on everything an input file controls: sizes of files, of YAML trees and of networks.

Spec files, prototxts and ONNX models may come from anyone, so every size they control is bounded here, and every
bound that is hit is a located SpecError (exit status 2), never a hang, a memory blow-up or a traceback. The bounds
are far above any real network (AlexNet's largest size is 4096, its spec file 3 KB), and docs/security.md lists them.
"""

from __future__ import annotations

# Files.
MAX_SPEC_BYTES = 1 << 20  # a spec file (and every file it `extends`): 1 MiB
MAX_PROTOTXT_BYTES = 1 << 20  # a Caffe deploy prototxt: 1 MiB (no weights in it)
MAX_ONNX_BYTES = 2 << 30  # an ONNX model: 2 GiB, protobuf's own limit on one message

# YAML trees: an alias makes a node appear again without being written again, so the size of the tree that
# validation sees (each alias expanded) is counted, not the size of the text ("billion laughs").
MAX_YAML_DEPTH = 64  # nested mappings and sequences; a spec needs 5 (layers, a layer, init, weight, a pair)
MAX_YAML_NODES = 200_000  # nodes of the tree with every alias expanded
MAX_INT_DIGITS = 30  # digits of one integer literal; larger ones are far beyond MAX_SIZE anyway

# Networks.
MAX_SIZE = 1 << 20  # every channel count, height, width, kernel, stride, padding, dilation, group and feature count
MAX_LAYERS = 10_000  # layers of one network
MAX_BLOCK_DEPTH = 16  # blocks inside blocks: ResNet and Inception need 2
MAX_ADAPTIVE_BINS = 1024  # output size of an adaptive pooling, per axis (the JAX module lists every bin)


def describe() -> list[tuple[str, str]]:
    """(what, bound) for each limit, in words, for docs/security.md and error hints."""
    return [
        ("spec file (and each file it extends)", f"{MAX_SPEC_BYTES:,} bytes"),
        ("Caffe prototxt", f"{MAX_PROTOTXT_BYTES:,} bytes"),
        ("ONNX model", f"{MAX_ONNX_BYTES:,} bytes"),
        ("YAML nesting of mappings and sequences", f"{MAX_YAML_DEPTH} levels"),
        ("YAML nodes, every alias expanded", f"{MAX_YAML_NODES:,}"),
        ("digits of an integer", f"{MAX_INT_DIGITS}"),
        ("any size (channels, height, width, kernel, stride, padding, dilation, groups, features)", f"{MAX_SIZE:,}"),
        ("layers of a network, every block instance expanded", f"{MAX_LAYERS:,}"),
        ("blocks nested inside blocks", f"{MAX_BLOCK_DEPTH} levels"),
        ("adaptive pooling output size, per axis", f"{MAX_ADAPTIVE_BINS:,}"),
    ]
