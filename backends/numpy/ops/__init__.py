"""The oracle's layer functions: one file per layer type, float64 NCHW numpy arrays in and out."""

from alexnet_spec.backends.numpy.ops.activations import ACTIVATIONS, relu, sigmoid, softmax, tanh
from alexnet_spec.backends.numpy.ops.adaptive_avgpool import adaptive_avg_pool2d, adaptive_bins
from alexnet_spec.backends.numpy.ops.add import add
from alexnet_spec.backends.numpy.ops.batchnorm import batchnorm_eval, batchnorm_train
from alexnet_spec.backends.numpy.ops.concat import concat
from alexnet_spec.backends.numpy.ops.conv import conv2d
from alexnet_spec.backends.numpy.ops.dense import dense
from alexnet_spec.backends.numpy.ops.dropout import dropout
from alexnet_spec.backends.numpy.ops.elu import elu
from alexnet_spec.backends.numpy.ops.flatten import flatten
from alexnet_spec.backends.numpy.ops.gelu import gelu
from alexnet_spec.backends.numpy.ops.global_pool import global_avg_pool2d, global_max_pool2d
from alexnet_spec.backends.numpy.ops.leaky_relu import leaky_relu
from alexnet_spec.backends.numpy.ops.lrn import lrn
from alexnet_spec.backends.numpy.ops.pool import avg_pool2d, max_pool2d, pool_output_size
from alexnet_spec.backends.numpy.ops.prelu import prelu
from alexnet_spec.backends.numpy.ops.silu import silu

__all__ = [
    "ACTIVATIONS", "adaptive_avg_pool2d", "adaptive_bins", "avg_pool2d", "batchnorm_eval", "batchnorm_train",
    "conv2d", "dense", "dropout", "flatten", "lrn", "max_pool2d", "pool_output_size", "relu", "sigmoid", "softmax",
    "tanh",
    # graph networks
    "add", "concat", "elu", "gelu", "global_avg_pool2d", "global_max_pool2d", "leaky_relu", "prelu", "silu",
]
