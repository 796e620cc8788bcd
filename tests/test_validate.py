"""nbkit.validate: one rule for the exception type (TypeError: wrong type, ValueError: wrong
value), messages that name the function, the argument and what was expected."""

import math

import numpy as np
import pytest

from nbkit import validate


def test_integer():
    assert validate.integer(np.int64(3), "n", "f", low=1) == 3
    assert type(validate.integer(np.int64(3), "n", "f")) is int
    with pytest.raises(ValueError, match=r"^f: n must be an integer >= 1, got 0$"):
        validate.integer(0, "n", "f", low=1)
    with pytest.raises(ValueError, match=r"f: depth must be an integer in \[1, 30\], got 31"):
        validate.integer(31, "depth", "f", 1, 30)
    for bad in (2.0, True, "3", None):
        with pytest.raises(TypeError, match="f: n must be an integer, got"):
            validate.integer(bad, "n", "f", low=1)


def test_number_bounds_and_finiteness():
    assert validate.number(np.float32(0.5), "p", "f", 0, 1) == 0.5
    assert validate.number(0, "p", "f", 0, 1, high_open=True) == 0.0
    cases = [
        (dict(low=0, high=1, high_open=True), 1.0, r"p must be in \[0, 1\), got 1.0"),
        (dict(low=0, high=1, low_open=True), 0, r"p must be in \(0, 1\], got 0"),
        (dict(low=0), -1e-9, r"p must be a finite number >= 0"),
        (dict(low=0), math.inf, r"p must be a finite number >= 0"),
        (dict(), math.nan, r"p must be a finite number, got nan"),
    ]
    for bounds, value, message in cases:
        with pytest.raises(ValueError, match=message):
            validate.number(value, "p", "f", **bounds)
    for bad in ("0.1", True, 1j, np.array([0.5])):
        with pytest.raises(TypeError, match=r"f: p must be a real number \(int or float\)"):
            validate.number(bad, "p", "f")


def test_positive_real_one_of_same_length():
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0"):
        validate.positive(0, "lr", "SGD")
    assert validate.real(math.inf, "x", "f") == math.inf  # real() checks the type only
    assert validate.one_of("tanh", "activation", {"tanh": 1}, "f") == "tanh"
    for bad in ("swish", ["tanh"], None):
        with pytest.raises(ValueError, match=r"f: activation must be one of \['tanh'\], got"):
            validate.one_of(bad, "activation", {"tanh": 1}, "f")
    validate.same_length(np.zeros((3, 2)), [1, 2, 3], "f")
    with pytest.raises(ValueError, match=r"f: X and y must have the same number of rows, "
                                         r"got shapes \(3, 2\) and \(2,\)"):
        validate.same_length(np.zeros((3, 2)), [1, 2], "f")
