"""Helpers for the test cells of exercise notebooks.

Every check does two things:

1. it raises ``AssertionError`` with a message that says what is wrong (immediate feedback while a
   student works, e.g. ``"dW has the wrong shape: expected (784, 10), got (10, 784)"``);
2. it *records* the value it was given with :func:`record`.

The grade never trusts the first part: ``nbkit grade`` compares the recorded values, outside the
student's kernel, with the values the same test cell records when the solution notebook runs
(see :mod:`nbkit.grading.grade`). Rebinding ``np.allclose``, ``numpy.testing`` or the functions of
this module in a student's kernel therefore cannot raise a score.

Records are only emitted while ``nbkit grade`` runs a notebook (the grader puts a per-run nonce in
the kernel's environment variable ``NBKIT_GRADE_NONCE``); in JupyterLab, nbval or the release step
:func:`record` does nothing, so notebooks show no grading noise.

A record is a ``display_data`` output with mimetype ``application/vnd.nbkit.record+json`` holding
``{"name", "value", "dtype", "shape", "rtol", "atol", "compare", "lower", "upper", "grade_id",
"nonce"}``; ``value`` is the array as nested lists of floats (non-finite entries as the strings
``"nan"``, ``"inf"``, ``"-inf"``). Comparison parameters are taken from the *solution's* record,
so a student cannot loosen them. Records of :func:`check_accuracy` (``compare="accuracy"``) also
carry ``"labels"`` and ``"labels_shape"``: the grader scores the student's predicted labels against
the labels of the *solution's* record, so the accuracy is never computed in the student's kernel.
"""

from __future__ import annotations

import math
import os

import numpy as np

RECORD_MIMETYPE = "application/vnd.nbkit.record+json"
NONCE_ENV = "NBKIT_GRADE_NONCE"
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9

__all__ = [
    "RECORD_MIMETYPE", "NONCE_ENV", "record", "check_shape", "check_close", "check_equal",
    "check_range", "check_gradient", "check_accuracy", "encode_value", "decode_value",
]


# --------------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------------
def _as_float_array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{name}: expected a number or an array of numbers, got {type(value).__name__}"
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(
            f"{name}: expected a number or an array of numbers, got {type(value).__name__}"
            f" with dtype {arr.dtype}"
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"{name}: expected real numbers, got complex values")
    return arr.astype(np.float64)


def _encode_float(x: float):
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode_value(arr: np.ndarray):
    """Array (any shape, float64) -> nested lists of floats / strings for non-finite entries."""
    if arr.ndim == 0:
        return _encode_float(float(arr))
    return [encode_value(a) for a in arr]


def decode_value(value, shape) -> np.ndarray:
    """Inverse of :func:`encode_value`: nested lists -> float64 array of the given ``shape``."""

    def conv(v):
        if isinstance(v, list):
            return [conv(u) for u in v]
        if isinstance(v, str):
            return float(v)  # "nan", "inf", "-inf"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"record value holds a {type(v).__name__}, expected numbers")
        return float(v)

    arr = np.array(conv(value), dtype=np.float64)
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"record value has shape {arr.shape}, header says {tuple(shape)}")
    return arr


def record(name: str, value, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
           compare: str = "close", lower: float | None = None, upper: float | None = None,
           grade_id: str | None = None, labels=None) -> None:
    """Record ``value`` for the grader (a no-op outside ``nbkit grade``).

    ``compare="close"``: the grader requires ``np.allclose(student, solution, rtol, atol)`` with
    equal shapes. ``compare="bounds"``: every entry must lie in ``[lower, upper]`` (for values that
    legitimately differ from the solution's, e.g. a trained model's accuracy).
    ``compare="accuracy"``: ``value`` holds predicted labels (N,), ``labels`` the true labels (N,);
    the grader requires ``mean(value == solution's labels) >= solution's lower``.
    ``value``: number or array of numbers (any shape), stored as float64.
    """
    if not isinstance(name, str) or not name:
        raise TypeError("record() needs a non-empty string name")
    if compare not in ("close", "bounds", "accuracy"):
        raise ValueError(f"compare must be 'close', 'bounds' or 'accuracy', got {compare!r}")
    if (compare == "accuracy") != (labels is not None):
        raise ValueError("record(): labels= is required with compare='accuracy' (and only then)")
    nonce = os.environ.get(NONCE_ENV)
    if not nonce:
        return
    arr = _as_float_array(name, value)
    payload = {
        "name": name,
        "value": encode_value(arr),
        "dtype": str(np.asarray(value).dtype),
        "shape": list(arr.shape),
        "rtol": float(rtol),
        "atol": float(atol),
        "compare": compare,
        "lower": None if lower is None else float(lower),
        "upper": None if upper is None else float(upper),
        "grade_id": grade_id,
        "nonce": nonce,
    }
    if labels is not None:
        lab = _as_float_array(f"{name} (labels)", labels)
        payload["labels"] = encode_value(lab)
        payload["labels_shape"] = list(lab.shape)
    try:
        from IPython.display import publish_display_data
    except ImportError:  # plain Python: nothing to publish to
        return
    publish_display_data({RECORD_MIMETYPE: payload, "text/plain": ""})


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _fmt(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return repr(arr.item()) if arr.dtype != object else repr(x)
    return np.array2string(arr, precision=6, threshold=20, edgeitems=3)


def _shape_of(x) -> tuple:
    try:
        return tuple(np.shape(x))
    except Exception:  # ragged
        return ("?",)


def check_shape(name: str, arr, expected_shape) -> None:
    """Assert ``np.shape(arr) == expected_shape``; records the shape as ``"<name>.shape"``.

    Message: ``"dW has the wrong shape: expected (784, 10), got (10, 784)"``.
    """
    expected = tuple(int(s) for s in expected_shape)
    if arr is None:
        record(f"{name}.shape", [-1.0])
        raise AssertionError(f"{name} is None: did you forget a return statement?")
    got = _shape_of(arr)
    if "?" in got:
        record(f"{name}.shape", [-1.0])
        raise AssertionError(f"{name} is not a rectangular array (got a ragged sequence)")
    record(f"{name}.shape", np.array(got, dtype=np.float64), rtol=0.0, atol=0.0)
    if got != expected:
        raise AssertionError(f"{name} has the wrong shape: expected {expected}, got {got}")


def _check_numeric(name: str, actual) -> np.ndarray:
    if actual is None:
        raise AssertionError(f"{name} is None: did you forget a return statement?")
    try:
        return _as_float_array(name, actual)
    except TypeError as exc:
        raise AssertionError(str(exc)) from None


def check_close(name: str, actual, expected, rtol: float = DEFAULT_RTOL,
                atol: float = DEFAULT_ATOL) -> None:
    """Assert ``actual`` equals ``expected`` elementwise within ``|a - e| <= atol + rtol |e|``.

    Records ``actual`` under ``name`` (same tolerances). Shapes must match exactly (no
    broadcasting): a transposed gradient is reported as a shape error.
    """
    try:
        a = _as_float_array(name, actual)
    except TypeError:
        a = None
    if a is not None:
        record(name, a, rtol=rtol, atol=atol)
    else:
        record(name, [float("nan")], rtol=rtol, atol=atol)
    a = _check_numeric(name, actual)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{name} has the wrong shape: expected {e.shape}, got {a.shape}")
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if np.any(finite_e & ~finite_a):
        raise AssertionError(f"{name} contains NaN or inf: got {_fmt(a)}")
    err = np.abs(a - e)
    bad = ~(err <= atol + rtol * np.abs(e))
    bad &= ~((~finite_e) & (a == e))  # identical infinities are fine
    if np.any(bad):
        if a.ndim == 0:
            raise AssertionError(f"{name} is wrong: expected {_fmt(e)}, got {_fmt(a)}")
        idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), a.shape)
        raise AssertionError(
            f"{name} is wrong at {int(bad.sum())} of {a.size} entries; e.g. at index "
            f"{tuple(int(i) for i in idx)}: expected {e[idx]:.6g}, got {a[idx]:.6g}\n"
            f"expected:\n{_fmt(e)}\ngot:\n{_fmt(a)}"
        )


def check_equal(name: str, actual, expected) -> None:
    """Assert exact equality of numbers/arrays (integers, labels, booleans); records ``actual``."""
    check_close(name, actual, expected, rtol=0.0, atol=0.0)


def check_range(name: str, actual, lower: float | None = None,
                upper: float | None = None) -> None:
    """Assert every entry of ``actual`` lies in ``[lower, upper]`` (a bound may be ``None``).

    Recorded with ``compare="bounds"``: the grader checks the bounds of the solution's record,
    e.g. ``check_range("test accuracy", acc, lower=0.9)``.
    """
    a = _check_numeric(name, actual)
    record(name, a, compare="bounds", lower=lower, upper=upper)
    if np.any(~np.isfinite(a)):
        raise AssertionError(f"{name} contains NaN or inf: got {_fmt(a)}")
    if lower is not None and np.any(a < lower):
        raise AssertionError(f"{name} is too small: expected at least {lower:g}, got {_fmt(a)}")
    if upper is not None and np.any(a > upper):
        raise AssertionError(f"{name} is too large: expected at most {upper:g}, got {_fmt(a)}")


def check_gradient(name: str, f, x, grad, *, h: float = 1e-6, rtol: float = 1e-5,
                   atol: float = 1e-8) -> None:
    """Assert the analytic gradient ``grad`` of scalar ``f`` at ``x`` matches central differences.

    ``numerical[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)`` for every entry ``i`` of ``x``
    (``x`` float array, any shape; restored after each probe). Records ``grad`` under ``name``.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"check_gradient needs a float array x, got dtype {x.dtype}")
    g = _check_numeric(name, grad)
    record(name, g, rtol=rtol, atol=atol)
    if g.shape != x.shape:
        raise AssertionError(f"{name} has the wrong shape: expected {x.shape}, got {g.shape}")
    num = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float(f(x))
        flat[i] = old - h
        fm = float(f(x))
        flat[i] = old
        num.reshape(-1)[i] = (fp - fm) / (2 * h)
    err = np.abs(g - num)
    bad = ~(err <= atol + rtol * np.abs(num))
    if np.any(bad):
        idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), g.shape)
        where = f" at index {tuple(int(i) for i in idx)}" if g.ndim else ""
        raise AssertionError(
            f"{name} does not match the numerical gradient{where}: "
            f"numerical {num[idx]:.6g}, yours {g[idx]:.6g}"
        )


def check_accuracy(name: str, predictions, labels, at_least: float) -> None:
    """Assert ``accuracy = mean(predictions == labels) >= at_least``.

    ``predictions``, ``labels``: integer class labels, shape (N,). Records the predictions and the
    labels (``compare="accuracy"``): ``nbkit grade`` recomputes the accuracy *outside* the kernel
    against the labels recorded by the solution's run and the solution's ``at_least``, so patching
    e.g. ``nbkit.train.evaluate`` or this function cannot raise a score. The assertion below only
    gives feedback. Message: ``"test accuracy is too low: 0.8733 (393 of 450 correct), expected at
    least 0.95"``.
    """
    if predictions is None:
        record(name, [-1.0], compare="accuracy", labels=[0.0], lower=at_least)
        raise AssertionError(f"{name}: the predictions are None: did you forget a return?")
    p = _check_numeric(name, predictions)
    t = np.asarray(labels, dtype=np.float64)
    record(name, p, compare="accuracy", labels=t, lower=float(at_least))
    if p.shape != t.shape:
        raise AssertionError(f"{name}: the predictions have the wrong shape: expected {t.shape}, "
                             f"got {p.shape} (one predicted label per example)")
    correct = int(np.sum(p == t))
    acc = correct / max(t.size, 1)
    if acc < at_least:
        raise AssertionError(f"{name} is too low: {acc:.4f} ({correct} of {t.size} correct), "
                             f"expected at least {at_least:g}")
