"""Other formats: Caffe deploy prototxts in (caffe.py, over a text-format parser in prototxt.py)."""
