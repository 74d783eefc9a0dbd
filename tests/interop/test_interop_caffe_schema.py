"""caffe.proto as shipped (BVLC's own file) is read by alexspec's small proto parser: every field the prototxt
import reads exists there with the same type, a misspelled field gets the nearest real name, and a real field the
spec cannot express is refused as such."""

from __future__ import annotations

import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.caffe import convert
from alexnet_spec.interop.caffe_proto import MESSAGES
from alexnet_spec.interop.caffe_schema import fields, schema

NET = '''name: "n"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 strid: 1 } }
'''


def test_caffe_proto_is_read_whole():
    parsed = schema()
    assert len(parsed.messages) == 63 and parsed.package == "caffe"
    assert fields("PoolingParameter")["round_mode"] == "PoolingParameter.RoundMode"
    assert parsed.enums["V1LayerParameter.LayerType"]["CONVOLUTION"] == 4  # caffe.proto: CONVOLUTION = 4
    assert parsed.messages["ConvolutionParameter"]["group"].number == 5


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_every_field_the_import_reads_is_caffes(message):
    known = fields(message)
    for name, kind in MESSAGES[message].items():
        assert name in known, f"{message}.{name} is not in caffe.proto"
        if not kind.startswith("any"):
            assert known[name].rstrip("*").split(".")[-1] == kind.rstrip("*").split(".")[-1]
            assert known[name].endswith("*") == kind.endswith("*")


def test_a_misspelled_field_is_an_error_with_the_real_name():
    with pytest.raises(SpecError) as caught:
        convert(NET, "n.prototxt")
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (4, 52)
    assert diagnostic.message == "unknown field 'strid' in convolution_param: caffe.proto's ConvolutionParameter has " \
                                 "no such field" and diagnostic.hint == "did you mean 'stride'?"


def test_a_real_field_the_spec_cannot_express_is_refused():
    # V1LayerParameter's `layer` holds a V0 layer (Caffe's format before 2014): a real field, not upgraded here.
    text = ('name: "n"\ninput: "data"\ninput_dim: 1\ninput_dim: 1\ninput_dim: 8\ninput_dim: 8\n'
            'layers { name: "r" type: RELU bottom: "data" top: "data" layer { name: "old" } }\n')
    with pytest.raises(SpecError) as caught:
        convert(text, "n.prototxt")
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (7, 58)
    assert diagnostic.message == "layer (a field of Caffe's V1LayerParameter) cannot be expressed in a spec"
