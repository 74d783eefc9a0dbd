"""Trained weights from a binary `.caffemodel` (a NetParameter protobuf, decoded with BVLC's caffe.proto:
caffe_schema.py), in the canonical form of the spec imported from the network's prototxt.

    weights = caffemodel_weights("bvlc_alexnet.caffemodel", imported, net)   # {"conv1.weight": (96, 3, 11, 11), ...}

Layers are matched by their Caffe name. Caffe's layouts are the canonical ones: Convolution (O, C/group, kh, kw),
which is also how the BVLC AlexNet and CaffeNet models store their two-GPU grouped layers (conv2, conv4, conv5
with group 2: each group's filters see half the input channels); InnerProduct (out, in) over inputs flattened in
C, H, W order ((in, out) with `transpose: true`); blobs of old files have the 4-D legacy shape (num, channels,
height, width) instead of `shape`. BatchNorm keeps running sums and their scale factor s in a third blob
(mean = blobs[0] / s, var = blobs[1] / s; s = 0 means 0), and its Scale layer holds the learned scale and shift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.limits import MAX_ONNX_BYTES
from alexnet_spec.resolved import BatchNormAttrs, ConvAttrs, DenseAttrs, PReLUAttrs, ResolvedNetwork
from alexnet_spec.weights import weight_shapes


def read_caffemodel(path: str | Path):
    """The NetParameter of a .caffemodel, or a SpecError naming the file."""
    try:
        from google.protobuf.message import DecodeError
    except ImportError:
        raise SpecError(Diagnostic("reading a .caffemodel needs the protobuf package", file=str(path),
                                   hint='pip install "alexspec[onnx]" (onnx brings protobuf)')) from None

    from alexnet_spec.interop.caffe_schema import message_class

    path = Path(path)
    if not path.is_file():
        raise SpecError(Diagnostic("no such file" if not path.exists() else "not a file", file=str(path),
                                   expected="a binary .caffemodel"))
    if path.stat().st_size > MAX_ONNX_BYTES:  # protobuf's own limit on one message, 2 GiB
        raise SpecError(Diagnostic("the file is larger than protobuf's 2 GiB limit", file=str(path)))
    try:
        return message_class("NetParameter").FromString(path.read_bytes())
    except DecodeError as error:
        raise SpecError(Diagnostic(f"cannot read a .caffemodel: {error}", file=str(path),
                                   expected="a binary NetParameter, as Caffe's Net::ToProto writes it",
                                   hint="a text .prototxt is the network, not its weights")) from None


def blob_array(blob) -> np.ndarray:
    """A BlobProto's values in its shape (`shape.dim`, or the legacy num/channels/height/width)."""
    dims = list(blob.shape.dim) if blob.HasField("shape") else [blob.num, blob.channels, blob.height, blob.width]
    values = np.asarray(blob.double_data if len(blob.double_data) else blob.data, dtype=np.float32)
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{values.size} values for the shape {dims}")
    return values.reshape(dims)


def caffemodel_weights(path: str | Path, origins: dict, net: ResolvedNetwork) -> dict[str, np.ndarray]:
    """Canonical float32 weights for `net` (imported from the prototxt; `origins`: spec layer -> its Caffe layer,
    CaffeImport.origins) from the .caffemodel at `path`. A missing layer, a missing blob or a shape that differs
    from the spec's is an error naming the layer and both shapes."""
    model = read_caffemodel(path)
    layers = list(model.layer) or list(model.layers)  # V1 files keep theirs in `layers`
    by_name = {layer.name: (index, layer) for index, layer in enumerate(layers)}
    shapes = weight_shapes(net)
    weights: dict[str, np.ndarray] = {}
    file = str(path)
    for layer in net.layers:
        attrs = layer.attrs
        if not isinstance(attrs, (ConvAttrs, DenseAttrs, BatchNormAttrs, PReLUAttrs)):
            continue
        caffe_name = origins[layer.name].caffe_name
        if caffe_name not in by_name:
            raise SpecError(Diagnostic(f"the .caffemodel has no layer {caffe_name!r}", file=file, layer=layer.name,
                                       hint="is it the weights of this network? the layers are matched by name"))
        index, source = by_name[caffe_name]
        arrays = _blobs(source, file, caffe_name)
        if isinstance(attrs, BatchNormAttrs):
            arrays = _batchnorm(arrays, layers[index + 1:], source, file, caffe_name)
        elif isinstance(attrs, DenseAttrs):
            weight = arrays[0].reshape(arrays[0].shape[-2:]) if arrays and arrays[0].ndim == 4 else \
                (arrays[0] if arrays else None)  # legacy (1, 1, out, in)
            transposed = source.inner_product_param.transpose
            arrays = [weight.T if transposed and weight is not None else weight, *[a.ravel() for a in arrays[1:]]]
        elif isinstance(attrs, PReLUAttrs):  # (C,) slopes, or one in a blob of shape () when channel_shared
            arrays = [array.ravel() for array in arrays]
        else:
            arrays = [arrays[0], *[a.ravel() for a in arrays[1:]]] if arrays else []
        names = [key for key in shapes if key.rsplit(".", 1)[0] == layer.name]
        if len(arrays) < len(names):
            raise SpecError(Diagnostic(f"layer {caffe_name!r} has {len(arrays)} blobs", file=file, layer=layer.name,
                                       expected=f"{len(names)}: {', '.join(key.rsplit('.', 1)[1] for key in names)}"))
        for key, array in zip(names, arrays):
            if tuple(array.shape) != shapes[key]:
                raise SpecError(Diagnostic(f"layer {caffe_name!r}: blob of shape {list(array.shape)} for {key}",
                                           file=file, layer=layer.name, expected=f"shape {list(shapes[key])}"))
            weights[key] = np.ascontiguousarray(array, dtype=np.float32)
    return weights


def _blobs(layer, file: str, caffe_name: str) -> list[np.ndarray]:
    try:
        return [blob_array(blob) for blob in layer.blobs]
    except ValueError as error:
        raise SpecError(Diagnostic(f"layer {caffe_name!r}: a blob with {error}", file=file)) from None


def _batchnorm(arrays: list[np.ndarray], after: list, source, file: str, caffe_name: str) -> list[np.ndarray]:
    """[weight, bias, running_mean, running_var] from a BatchNorm's blobs and the Scale layer after it."""
    if len(arrays) != 3:
        raise SpecError(Diagnostic(f"BatchNorm {caffe_name!r} has {len(arrays)} blobs", file=file,
                                   expected="3: the running sums of the mean and the variance, and their scale"))
    factor = float(arrays[2].ravel()[0])
    factor = 0.0 if factor == 0 else 1.0 / factor
    mean, var = arrays[0].ravel() * factor, arrays[1].ravel() * factor
    scale = next((layer for layer in after if layer.type == "Scale" and list(layer.bottom) == list(source.top)), None)
    if scale is None or len(scale.blobs) != 2:
        raise SpecError(Diagnostic(f"no Scale layer with a scale and a shift after BatchNorm {caffe_name!r}",
                                   file=file, expected="BatchNorm then Scale (bias_term: true), as in the prototxt"))
    gamma, beta = (blob_array(blob).ravel() for blob in scale.blobs)
    return [gamma, beta, mean, var]
