"""Other formats in and out: Caffe networks and weights and ONNX models become specs; specs become ONNX models.

    prototxt.py      protobuf's text format, parsed with the line and column of every field (no Caffe, no schema)
    caffe_schema.py  BVLC's caffe.proto (proto/, shipped) read at run time: every field known; .caffemodel classes
    caffe_proto.py   the fields of caffe.proto the import reads, and a reader that checks fields, types and enums
    caffe_deploy.py  V1 files upgraded; a train_val file's TEST phase as a deploy network
    caffe.py         prototxt -> spec, Caffe's implicit conventions written down (`alexspec import caffe`)
    caffemodel.py    .caffemodel -> canonical weights (`alexspec import caffe --weights`)
    onnx_export.py   resolved spec + canonical weights -> ONNX, opset 22 (`alexspec export --format onnx`)
    onnx_graph.py    producers, readers, folded shape computations and regions of an ONNX graph
    onnx_patterns.py exporter idioms: torch's LRN decomposition, torch module names
    onnx_import.py   ONNX chain of the spec's layer types -> spec + canonical weights (`alexspec import onnx`)
    weights_io.py    weight files: .safetensors (written), torch .pt state dicts and .npz (read), canonical format
    common.py        legal names, float32 numbers as written, the header of an imported spec
    commands.py      the Typer commands that cli.py registers

Nothing here imports onnx or torch at import time: each is imported inside the function that needs it.
"""
