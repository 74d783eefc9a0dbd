"""Output-size formulas: each returns the size and the equation a reader can check by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class SizeResult:
    """One spatial size: the integer a framework computes, the exact quotient, and its printed equation."""

    size: int
    exact: Fraction  # the size before rounding
    equation: str
    rounded_up: bool = False
    empty_last: bool = False  # Caffe's rule kept a last window that holds no input element
    unrounded: str = ""  # the equation up to the exact quotient, for errors about a size that is not whole

    @property
    def is_whole(self) -> bool:
        return self.exact.denominator == 1


def format_number(value: Fraction) -> str:
    """54.25 for 217/4; 54.33 for 163/3; 55 for 55."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    while denominator % 2 == 0:
        denominator //= 2
    while denominator % 5 == 0:
        denominator //= 5
    if denominator == 1:
        return f"{float(value):.10g}"
    return f"{float(value):.2f}"


def _numerator_text(size: int, pad_before: int, pad_after: int, kernel: int, dilation: int) -> str:
    pad = f" + 2*{pad_before}" if pad_before == pad_after else f" + {pad_before} + {pad_after}"
    kernel_text = f" - {kernel}" if dilation == 1 else f" - {dilation}*({kernel} - 1) - 1"
    return f"{size}{pad}{kernel_text}"


def window_output(size: int, pad_before: int, pad_after: int, kernel: int, stride: int,
                  dilation: int = 1, ceil_mode: bool = False, ceil_rule: str = "torch",
                  layer_padded: bool | None = None) -> SizeResult:
    """PyTorch's rule for convolution and pooling: floor (or ceil) of (size + pads - effective kernel)/stride + 1.

    With `ceil_mode`, PyTorch drops a last window that would start past the input (in the right padding or beyond
    it). Caffe drops it only when the layer has padding on some axis (`layer_padded`; by default this axis'
    padding) and otherwise keeps it, empty (src/caffe/layers/pooling_layer.cpp, Reshape).
    """
    span = size + pad_before + pad_after - (dilation * (kernel - 1) + 1)
    exact = Fraction(span, stride) + 1
    text = _numerator_text(size, pad_before, pad_after, kernel, dilation)
    unrounded = f"({text})/{stride} + 1 = {format_number(exact)}"
    if not ceil_mode or exact.denominator == 1:
        whole = math.floor(exact)
        if exact.denominator == 1:
            return SizeResult(whole, exact, unrounded, unrounded=unrounded)
        return SizeResult(whole, exact, f"{unrounded}, floored to {whole}", unrounded=unrounded)
    whole = math.ceil(Fraction(span, stride)) + 1
    equation = f"ceil(({text})/{stride}) + 1 = {whole}"
    if (whole - 1) * stride < size + pad_before:  # the last window starts inside the input
        return SizeResult(whole, exact, equation, rounded_up=True)
    padded = bool(pad_before or pad_after) if layer_padded is None else layer_padded
    if ceil_rule == "caffe" and not padded:
        return SizeResult(whole, exact, f"{equation}, Caffe keeps the last window though it starts past the input",
                          rounded_up=True, empty_last=True)
    where = "in the padding" if (whole - 1) * stride < size + pad_before + pad_after else "past the input"
    return SizeResult(whole - 1, exact, f"{equation}, minus the window starting {where} = {whole - 1}",
                      rounded_up=True)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's `same`: output ceil(size/stride); the extra padding row goes at the bottom (right)."""
    output = -(-size // stride)
    total = max((output - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def nearest_whole_sizes(size: int, pad_before: int, pad_after: int, kernel: int, stride: int,
                        dilation: int = 1) -> tuple[int, int]:
    """The input sizes just below and above `size` for which the division is exact (O(1): one remainder)."""
    span = size + pad_before + pad_after - (dilation * (kernel - 1) + 1)
    remainder = span % stride
    return size - remainder, size + (stride - remainder) % stride


def padding_for_whole(size: int, kernel: int, stride: int, dilation: int = 1) -> int | None:
    """The smallest symmetric padding (below the kernel size) that makes the division exact, if any.

    Solved, not searched (the spec controls the kernel size): 2*pad = target (mod stride), with target = effective
    kernel - size. With g = gcd(2, stride) it has solutions only when g divides the target, and then they are
    pad = (target/g) * inverse(2/g) modulo stride/g; the smallest is below the kernel size or there is none.
    """
    target = (dilation * (kernel - 1) + 1 - size) % stride
    common = math.gcd(2, stride)
    if target % common:
        return None
    modulus = stride // common
    pad = (target // common) * pow(2 // common, -1, modulus) % modulus if modulus > 1 else 0
    return pad if pad < kernel else None
