"""The part of Caffe's message schema (BVLC caffe, src/caffe/proto/caffe.proto) that the prototxt import reads,
and `Block`: a parsed prototxt message checked against it. An unknown field (with the nearest known name), a
singular field given twice, or a value of the wrong type or an unknown enum value is a SpecError at its position.
"""

from __future__ import annotations

import difflib

from alexnet_spec.errors import Diagnostic, SpecError
from alexnet_spec.interop.caffe_schema import enum_values, schema
from alexnet_spec.interop.caffe_schema import fields as caffe_fields
from alexnet_spec.interop.common import short_float
from alexnet_spec.interop.prototxt import Field, Message, Word

# field -> type: a scalar type, an enum, a message; "*" repeated; "any" a block that the import does not read.

ENUMS = {
    "Phase": ("TRAIN", "TEST"),
    "PoolMethod": ("MAX", "AVE", "STOCHASTIC"),
    "RoundMode": ("CEIL", "FLOOR"),
    "NormRegion": ("ACROSS_CHANNELS", "WITHIN_CHANNEL"),
    "Engine": ("DEFAULT", "CAFFE", "CUDNN"),
    "VarianceNorm": ("FAN_IN", "FAN_OUT", "AVERAGE"),
    "EltwiseOp": ("PROD", "SUM", "MAX"),
}
FILLER = {"type": "string", "value": "float", "min": "float", "max": "float", "mean": "float", "std": "float",
          "sparse": "int", "variance_norm": "VarianceNorm"}
MESSAGES: dict[str, dict[str, str]] = {
    "NetParameter": {"name": "string", "input": "string*", "input_shape": "BlobShape*", "input_dim": "int*",
                     "force_backward": "bool", "state": "any", "debug_info": "bool", "layer": "LayerParameter*",
                     "layers": "V1LayerParameter*"},
    "V1LayerParameter": {"name": "string", "type": "V1LayerParameter.LayerType", "bottom": "string*", "top": "string*",
                         "loss_weight": "float*", "param": "string*", "blobs": "any*", "include": "NetStateRule*",
                         "exclude": "NetStateRule*", "blobs_lr": "float*", "weight_decay": "float*",
                         "blob_share_mode": "V1LayerParameter.DimCheckMode*"},
    "LayerParameter": {"name": "string", "type": "string", "bottom": "string*", "top": "string*", "phase": "Phase",
                       "loss_weight": "float*", "param": "any*", "blobs": "any*", "propagate_down": "bool*",
                       "include": "NetStateRule*", "exclude": "NetStateRule*"},
    "NetStateRule": {"phase": "Phase", "min_level": "int", "max_level": "int", "stage": "string*",
                     "not_stage": "string*"},
    "BlobShape": {"dim": "int*"},
    "FillerParameter": FILLER,
    "InputParameter": {"shape": "BlobShape*"},
    "ConvolutionParameter": {"num_output": "uint", "bias_term": "bool", "pad": "uint*", "kernel_size": "uint*",
                             "stride": "uint*", "dilation": "uint*", "pad_h": "uint", "pad_w": "uint",
                             "kernel_h": "uint", "kernel_w": "uint", "stride_h": "uint", "stride_w": "uint",
                             "group": "uint", "weight_filler": "FillerParameter", "bias_filler": "FillerParameter",
                             "engine": "Engine", "axis": "int", "force_nd_im2col": "bool"},
    "PoolingParameter": {"pool": "PoolMethod", "pad": "uint", "pad_h": "uint", "pad_w": "uint", "kernel_size": "uint",
                         "kernel_h": "uint", "kernel_w": "uint", "stride": "uint", "stride_h": "uint",
                         "stride_w": "uint", "engine": "Engine", "global_pooling": "bool", "round_mode": "RoundMode"},
    "LRNParameter": {"local_size": "uint", "alpha": "float", "beta": "float", "norm_region": "NormRegion",
                     "k": "float", "engine": "Engine"},
    "InnerProductParameter": {"num_output": "uint", "bias_term": "bool", "weight_filler": "FillerParameter",
                              "bias_filler": "FillerParameter", "axis": "int", "transpose": "bool"},
    "BatchNormParameter": {"use_global_stats": "bool", "moving_average_fraction": "float", "eps": "float"},
    "ScaleParameter": {"axis": "int", "num_axes": "int", "filler": "FillerParameter", "bias_term": "bool",
                       "bias_filler": "FillerParameter"},
    "DropoutParameter": {"dropout_ratio": "float"},
    "SoftmaxParameter": {"engine": "Engine", "axis": "int"},
    "ReLUParameter": {"negative_slope": "float", "engine": "Engine"},
    "SigmoidParameter": {"engine": "Engine"},
    "TanHParameter": {"engine": "Engine"},
    "FlattenParameter": {"axis": "int", "end_axis": "int"},
    "ELUParameter": {"alpha": "float"},
    "PReLUParameter": {"filler": "FillerParameter", "channel_shared": "bool"},
    "ConcatParameter": {"axis": "int", "concat_dim": "uint"},
    "EltwiseParameter": {"operation": "EltwiseOp", "coeff": "float*", "stable_prod_grad": "bool"},
}
# Layer type -> its parameter field and message.
PARAMS = {"Input": ("input_param", "InputParameter"), "Convolution": ("convolution_param", "ConvolutionParameter"),
          "Pooling": ("pooling_param", "PoolingParameter"), "LRN": ("lrn_param", "LRNParameter"),
          "InnerProduct": ("inner_product_param", "InnerProductParameter"),
          "BatchNorm": ("batch_norm_param", "BatchNormParameter"), "Scale": ("scale_param", "ScaleParameter"),
          "Dropout": ("dropout_param", "DropoutParameter"), "Softmax": ("softmax_param", "SoftmaxParameter"),
          "ReLU": ("relu_param", "ReLUParameter"), "Sigmoid": ("sigmoid_param", "SigmoidParameter"),
          "TanH": ("tanh_param", "TanHParameter"), "Flatten": ("flatten_param", "FlattenParameter"),
          "ELU": ("elu_param", "ELUParameter"), "Concat": ("concat_param", "ConcatParameter"),
          "Eltwise": ("eltwise_param", "EltwiseParameter"), "PReLU": ("prelu_param", "PReLUParameter")}


class Block:
    """A prototxt message read against its caffe.proto message: unknown fields, repeated singular fields and
    values of the wrong type are errors at their position."""

    def __init__(self, file: str, message: Message, schema: str, owner: Field | None = None,
                 layer: str | None = None):
        self.file, self.message, self.schema, self.owner, self.layer = file, message, schema, owner, layer
        self.fields = MESSAGES[schema]
        named = message.first("name")
        if schema in ("LayerParameter", "V1LayerParameter") and named is not None and isinstance(named.value, str):
            self.layer = named.value  # errors in the layer's own fields name it
        seen: dict[str, Field] = {}
        for item in message.fields:
            kind = self._kind(item)
            if not kind.endswith("*") and item.name in seen:
                raise self.error(item, f"{item.name} is given twice in {self.title}",
                                 hint=f"first at line {seen[item.name].line}; it is not a repeated field")
            seen[item.name] = item
            self._check(item, kind.rstrip("*"))

    @property
    def title(self) -> str:
        return self.owner.name if self.owner is not None else "the file"

    def _kind(self, item: Field) -> str:
        kind = self.fields.get(item.name)
        if kind is not None:
            return kind
        known = caffe_fields(self.schema) if self.schema in schema().messages else {}
        if item.name in known:
            if self.schema in ("LayerParameter", "V1LayerParameter") and item.name.endswith("_param"):
                return "any"  # another layer type's parameters: Caffe ignores them, and so does the import
            raise self.error(item, f"{item.name} (a field of Caffe's {self.schema}) cannot be expressed in a spec",
                             at_value=False, expected=f"only {', '.join(self.fields)}",
                             hint="remove it if it does not change what the network computes; otherwise the spec "
                                  "language has no equivalent")
        close = difflib.get_close_matches(item.name, list(known or self.fields), n=1)
        raise self.error(item, f"unknown field {item.name!r} in {self.title}: caffe.proto's {self.schema} has no "
                         "such field", at_value=False,
                         expected=f"a field of Caffe's {self.schema}: {', '.join(known or self.fields)}",
                         hint=f"did you mean {close[0]!r}?" if close else None)

    def _check(self, item: Field, kind: str) -> None:
        value = item.value
        if kind == "any" or kind in MESSAGES:
            if not isinstance(value, Message):
                raise self.error(item, f"{item.name} is a block", expected=f"{item.name} {{ ... }}")
            return
        if isinstance(value, Message):
            raise self.error(item, f"{item.name} is a {_KIND_WORDS.get(kind, 'value')}, not a block",
                             expected=f"{item.name}: VALUE")
        self._convert(item, kind)

    def _convert(self, item: Field, kind: str):
        value = item.value
        if kind in ("int", "uint"):
            if isinstance(value, bool) or not isinstance(value, int) or (kind == "uint" and value < 0):
                raise self.error(item, f"{item.name} must be a {_KIND_WORDS[kind]}, not {item.raw}")
            return value
        if kind == "float":
            if isinstance(value, Word) and value.text.lower().lstrip("-") in ("inf", "infinity", "nan"):
                return float(value.text)
            if isinstance(value, (int, float)):
                return short_float(value)
            raise self.error(item, f"{item.name} must be a number, not {item.raw}")
        if kind == "bool":
            if isinstance(value, Word) and value.text in ("true", "True", "t", "false", "False", "f"):
                return value.text in ("true", "True", "t")
            if value in (0, 1) and isinstance(value, int):
                return bool(value)
            raise self.error(item, f"{item.name} must be true or false, not {item.raw}")
        if kind == "string":
            if not isinstance(value, str):
                raise self.error(item, f"{item.name} must be a quoted string, not {item.raw}",
                                 hint=f'write {item.name}: "{item.raw}"')
            return value
        names = dict(enumerate(ENUMS[kind])) if kind in ENUMS else enum_values(kind)
        if isinstance(value, int) and value in names:
            return names[value]
        if isinstance(value, Word) and value.text in names.values():
            return value.text
        raise self.error(item, f"unknown value {item.raw} for {item.name}",
                         expected=f"one of {', '.join(names.values())} (Caffe's {kind})")

    def error(self, at: Field | None, message: str, at_value: bool = True, **kwargs) -> SpecError:
        return located(self.file, at if at is not None else self.owner, message, layer=self.layer,
                       at_value=at_value, **kwargs)

    def has(self, name: str) -> bool:
        return self.message.first(name) is not None

    def field(self, name: str) -> Field | None:
        return self.message.first(name)

    def get(self, name: str, default=None):
        item = self.message.first(name)
        return default if item is None else self._convert(item, self.fields[name].rstrip("*"))

    def all(self, name: str) -> list:
        kind = self.fields[name].rstrip("*")
        return [self._convert(item, kind) for item in self.message.all(name)]

    def block(self, name: str, schema: str | None = None) -> Block | None:
        item = self.message.first(name)
        return None if item is None else self._block(item, schema)

    def blocks(self, name: str) -> list[Block]:
        return [self._block(item) for item in self.message.all(name)]

    def _block(self, item: Field, schema: str | None = None) -> Block:
        return Block(self.file, item.value, schema or self.fields[item.name].rstrip("*"), item, self.layer)


_KIND_WORDS = {"int": "whole number", "uint": "whole number, 0 or more", "float": "number", "bool": "true or false",
               "string": "string"}


def located(file: str, at: Field | Message | None, message: str, layer: str | None = None, at_value: bool = False,
            **kwargs) -> SpecError:
    """A SpecError at a field (its name, or with `at_value` its value) or a block of the prototxt."""
    if isinstance(at, Field):
        line, column = (at.value_line, at.value_column) if at_value else (at.line, at.column)
    elif isinstance(at, Message):
        line, column = at.line, at.column
    else:
        line = column = None
    return SpecError(Diagnostic(message, file=file, line=line, column=column, layer=layer, **kwargs))
