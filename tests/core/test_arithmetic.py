"""Size formulas against hand-worked values."""

from __future__ import annotations

from fractions import Fraction

import pytest

from alexnet_spec.arithmetic import nearest_whole_sizes, padding_for_whole, same_padding, window_output


@pytest.mark.parametrize("size, pads, kernel, stride, dilation, expected, equation", [
    (227, (0, 0), 11, 4, 1, 55, "(227 + 2*0 - 11)/4 + 1 = 55"),
    (27, (2, 2), 5, 1, 1, 27, "(27 + 2*2 - 5)/1 + 1 = 27"),
    (224, (0, 0), 11, 4, 1, 54, "(224 + 2*0 - 11)/4 + 1 = 54.25, floored to 54"),
    (10, (1, 2), 3, 2, 1, 5, "(10 + 1 + 2 - 3)/2 + 1 = 6"),
    (9, (0, 0), 3, 1, 2, 5, "(9 + 2*0 - 2*(3 - 1) - 1)/1 + 1 = 5"),
])
def test_window_output(size, pads, kernel, stride, dilation, expected, equation):
    result = window_output(size, pads[0], pads[1], kernel, stride, dilation)
    if size == 10:  # asymmetric: 10 + 3 - 3 = 10, /2 = 5, + 1 = 6
        assert result.size == 6 and result.equation == equation
        return
    assert result.size == expected
    assert result.equation == equation


def test_inexact_quotient_is_kept_exactly():
    assert window_output(224, 0, 0, 11, 4).exact == Fraction(217, 4)


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (5, 2, 2, 3),  # ceil((5 - 2)/2) + 1 = 3, the last window starts at 4 < 5
    (6, 3, 2, 3),  # ceil(3/2) + 1 = 3
    (13, 3, 2, 6),  # exact: ceil_mode changes nothing
])
def test_ceil_mode(size, kernel, stride, expected):
    assert window_output(size, 0, 0, kernel, stride, ceil_mode=True).size == expected


def test_ceil_mode_drops_a_window_starting_in_right_padding():
    # PyTorch: size 4, pad 1, kernel 2, stride 2: ceil((4 + 2 - 2)/2) + 1 = 3 windows would start at 0, 2, 4;
    # index 4 is beyond input + left padding (4 + 1 = 5 is not exceeded), so keep 3; with size 3 (3 + 2 - 2 = 3,
    # ceil(1.5) + 1 = 3, last start 4 >= 3 + 1) PyTorch drops it: 2.
    assert window_output(4, 1, 1, 2, 2, ceil_mode=True).size == 3
    assert window_output(3, 1, 1, 2, 2, ceil_mode=True).size == 2


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 11, 4, (3, 4)),  # out 56: (55*4 + 11 - 224) = 7 -> 3 top, 4 bottom
    (13, 3, 1, (1, 1)),
    (5, 1, 2, (0, 0)),
    (8, 4, 2, (1, 1)),
])
def test_tensorflow_same_padding(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_nearest_whole_sizes():
    assert nearest_whole_sizes(224, 0, 0, 11, 4) == (223, 227)


def _smallest_padding_by_search(size, kernel, stride, dilation):
    """The definition written out: the least pad in [0, kernel) with (size + 2 pad - dilation (kernel - 1) - 1)
    divisible by the stride."""
    return next((pad for pad in range(kernel) if (size + 2 * pad - dilation * (kernel - 1) - 1) % stride == 0), None)


@pytest.mark.parametrize("stride", range(1, 9))
def test_padding_for_whole_is_the_smallest_exact_padding(stride):
    for size in range(1, 40):
        for kernel in range(1, 12):
            for dilation in (1, 2, 3):
                assert padding_for_whole(size, kernel, stride, dilation) == \
                    _smallest_padding_by_search(size, kernel, stride, dilation), (size, kernel, stride, dilation)


def test_padding_for_whole_does_not_search_up_to_the_kernel_size():
    # The spec controls the kernel size: with an even stride and an odd remainder no padding works, and a search up
    # to the kernel (10**12) would never end. Solved in O(1), it answers at once.
    import signal

    def too_slow(*_):
        raise TimeoutError("padding_for_whole searched")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(2)
    try:
        assert padding_for_whole(11, 10**12, 2) is None  # 11 + 2p - 10**12 is odd for every p
        assert padding_for_whole(11, 10**12, 3) == 1  # 11 + 2 - 10**12 = 13 - 10**12, and 10**12 = 1 (mod 3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
