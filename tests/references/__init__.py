"""Hand-written PyTorch models of the shipped graph specs, independent of alexspec, for equivalence tests.

Each is written the way its source writes it (torchvision's classes and Sequentials, or a Caffe prototxt's layer
list), with that source's state-dict names; `NAMES` in each module maps the generated module's names onto them.
Nothing here imports alexspec: a reference that read the spec could not catch a wrong spec.
"""
