"""Argument checks shared by every nbkit module, with one rule for the exception type.

- ``TypeError``: the argument has the wrong type (a str or a bool where a number belongs, a
  float where an integer belongs).
- ``ValueError``: the type is right but the value is not allowed (out of range, not finite, not
  one of the choices, arrays of mismatched length).

Messages name the function and the argument and say what was expected, e.g.
``fit: batch_size must be an integer >= 1, got 0``. Each check returns the value (as int or
float), so a constructor can write ``self.lr = validate.positive(lr, "lr", "SGD")``.
"""

import math
import numbers

import numpy as np


def _bounds(low, high, low_open=False, high_open=False):
    """'>= 1', '> 0', '<= 9' or 'in [0, 1)' for the bounds given (None: unbounded)."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def _outside(value, low, high, low_open, high_open):
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    return below or above


def real(value, name, owner):
    """A real number (int, float or NumPy scalar, not bool) as a float; no range check."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number (int or float), "
                        f"got {type(value).__name__}")
    return float(value)


def number(value, name, owner, low=None, high=None, *, low_open=False, high_open=False):
    """A finite real number within the bounds (closed unless ``low_open``/``high_open``)."""
    x = real(value, name, owner)
    if not math.isfinite(x) or _outside(x, low, high, low_open, high_open):
        what = "a finite number" if low is None or high is None else ""
        if low is not None or high is not None:
            what = f"{what} {_bounds(low, high, low_open, high_open)}".strip()
        raise ValueError(f"{owner}: {name} must be {what}, got {value!r}")
    return x


def positive(value, name, owner):
    """A finite number > 0."""
    return number(value, name, owner, low=0, low_open=True)


def integer(value, name, owner, low=None, high=None):
    """An integer (Python or NumPy, not bool) within [low, high], as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {value!r}")
    if _outside(value, low, high, False, False):
        raise ValueError(f"{owner}: {name} must be an integer {_bounds(low, high)}, "
                         f"got {value!r}")
    return int(value)


def one_of(value, name, choices, owner):
    """``value`` if it is one of ``choices`` (any container of names)."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value looked up in a dict
        known = False
    if not known:
        raise ValueError(f"{owner}: {name} must be one of {sorted(choices)}, got {value!r}")
    return value


def same_length(a, b, owner, names=("X", "y")):
    """Check that arrays ``a`` and ``b`` have a batch dimension of the same length N."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 or b.ndim == 0 or len(a) != len(b):
        raise ValueError(f"{owner}: {names[0]} and {names[1]} must have the same number of "
                         f"rows, got shapes {a.shape} and {b.shape}")
