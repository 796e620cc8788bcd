"""Helpers for the test cells of exercise notebooks (they run in the student's kernel).

In JupyterLab every check raises ``AssertionError`` with a message that says what is wrong
(``"dW has the wrong shape: expected (784, 10), got (10, 784)"``).

While ``nbkit grade`` runs a notebook (environment ``NBKIT_GRADING=1``) the checks do not judge
anything: they only *record* the value they were given with :func:`record`, and the grader
compares those records, outside the kernel, with the records of the same test cell when the
solution runs (see :mod:`nbkit.grading.verdicts`). A record is evidence a kernel hands over, so
the grader never trusts anything but the numbers in it: names, counts and tolerances come from
the solution's records. Tests should therefore record the **outputs of the student's functions
on inputs first seen in that test** (not a boolean or a statistic computed in the kernel):

* :func:`check_close`, :func:`check_equal`, :func:`check_shape`, :func:`check_gradient` and
  :func:`record`: compared with the solution's value (``compare="close"``; a float32 answer gets
  a float32-sized tolerance, see :mod:`nbkit.grading.verdicts`);
* :func:`check_moments`: random samples; the grader compares their mean and standard deviation
  with those of the solution's samples (``compare="moments"``);
* :func:`check_heldout_accuracy`: predicted labels for :func:`heldout_images`; the grader scores
  them against labels the kernel never sees (``compare="heldout"``).

:func:`check_range` and :func:`check_accuracy` only give feedback in JupyterLab; they record
nothing (a bound on a value the kernel reports proves nothing).

A record is a ``display_data`` output with mimetype ``application/vnd.nbkit.record+json``:
``{"name", "value", "shape", "dtype", "rtol", "atol", "compare", "params"}``; ``value`` is the
array as nested lists of floats (non-finite entries as ``"nan"``, ``"inf"``, ``"-inf"``).
"""

from __future__ import annotations

import math
import os

import numpy as np

RECORD_MIMETYPE = "application/vnd.nbkit.record+json"
GRADING_ENV = "NBKIT_GRADING"
HELDOUT_ENV = "NBKIT_HELDOUT_DIR"
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
COMPARE_KINDS = ("close", "moments", "heldout")

__all__ = [
    "RECORD_MIMETYPE", "grading", "record", "check_shape", "check_close", "check_equal",
    "check_range", "check_gradient", "check_accuracy", "check_moments", "heldout_images",
    "check_heldout_accuracy", "encode_value", "decode_value",
]


def grading() -> bool:
    """``True`` while ``nbkit grade`` runs this kernel."""
    return os.environ.get(GRADING_ENV) == "1"


# --------------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------------
def _as_float_array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name}: expected a number or an array of numbers, "
                        f"got {type(value).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name}: expected a number or an array of numbers, got "
                        f"{type(value).__name__} with dtype {arr.dtype}")
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
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"record value holds a {type(v).__name__}, expected numbers")
        return float(v)

    arr = np.array(conv(value), dtype=np.float64)
    if tuple(arr.shape) != tuple(int(s) for s in shape):
        raise ValueError(f"record value has shape {arr.shape}, header says {tuple(shape)}")
    return arr


def record(name: str, value, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
           compare: str = "close", params: dict | None = None) -> None:
    """Record ``value`` (number or array of numbers, any shape) for the grader; a no-op
    outside ``nbkit grade``. ``compare``: see the module docstring."""
    if not isinstance(name, str) or not name:
        raise TypeError("record() needs a non-empty string name")
    if compare not in COMPARE_KINDS:
        raise ValueError(f"compare must be one of {COMPARE_KINDS}, got {compare!r}")
    if not grading():
        return
    try:
        arr = _as_float_array(name, value)
        dtype = str(np.asarray(value).dtype)
    except TypeError:  # recorded as "not a number": never matches
        arr, dtype = np.array(float("nan")), "object"
    from IPython.display import publish_display_data

    publish_display_data({RECORD_MIMETYPE: {
        "name": name, "value": encode_value(arr), "shape": list(arr.shape), "dtype": dtype,
        "rtol": float(rtol), "atol": float(atol), "compare": compare,
        "params": dict(params or {})}, "text/plain": ""})


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _fail(message: str) -> None:
    if not grading():
        raise AssertionError(message)


def _fmt(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return repr(arr.item()) if arr.dtype != object else repr(x)
    return np.array2string(arr, precision=6, threshold=20, edgeitems=3)


def _shape_of(x) -> tuple | None:
    try:
        return tuple(np.shape(x))
    except Exception:  # ragged
        return None


def check_shape(name: str, arr, expected_shape) -> None:
    """Check ``np.shape(arr) == expected_shape``; records the shape as ``"<name>.shape"``.

    Message: ``"dW has the wrong shape: expected (784, 10), got (10, 784)"``.
    """
    expected = tuple(int(s) for s in expected_shape)
    got = None if arr is None else _shape_of(arr)
    record(f"{name}.shape", [-1.0] if got is None else np.array(got, dtype=float),
           rtol=0.0, atol=0.0)
    if arr is None:
        _fail(f"{name} is None: did you forget a return statement?")
    elif got is None:
        _fail(f"{name} is not a rectangular array (got a ragged sequence)")
    elif got != expected:
        _fail(f"{name} has the wrong shape: expected {expected}, got {got}")


def _mismatch(name: str, a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> str | None:
    if a.shape != e.shape:
        return f"{name} has the wrong shape: expected {e.shape}, got {a.shape}"
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if np.any(finite_e & ~finite_a):
        return f"{name} contains NaN or inf: got {_fmt(a)}"
    err = np.abs(a - e)
    bad = ~(err <= atol + rtol * np.abs(e)) & ~((~finite_e) & (a == e))
    if not np.any(bad):
        return None
    if a.ndim == 0:
        return f"{name} is wrong: expected {_fmt(e)}, got {_fmt(a)}"
    idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), a.shape)
    return (f"{name} is wrong at {int(bad.sum())} of {a.size} entries; e.g. at index "
            f"{tuple(int(i) for i in idx)}: expected {e[idx]:.6g}, got {a[idx]:.6g}\n"
            f"expected:\n{_fmt(e)}\ngot:\n{_fmt(a)}")


def check_close(name: str, actual, expected, rtol: float = DEFAULT_RTOL,
                atol: float = DEFAULT_ATOL) -> None:
    """Check ``|actual - expected| <= atol + rtol |expected|`` elementwise, equal shapes (no
    broadcasting: a transposed gradient is a shape error). Records ``actual`` under ``name``.

    ``expected`` may be a function of no arguments: it is then called only outside grading (so a
    visible test may compare with an nbkit reference that is hidden in the grading sandbox).
    """
    record(name, actual, rtol=rtol, atol=atol)
    if grading():
        return
    expected = expected() if callable(expected) else expected
    if actual is None:
        _fail(f"{name} is None: did you forget a return statement?")
    try:
        a = _as_float_array(name, actual)
    except TypeError as exc:
        raise AssertionError(str(exc)) from None
    problem = _mismatch(name, a, np.asarray(expected, dtype=np.float64), rtol, atol)
    if problem:
        _fail(problem)


def check_equal(name: str, actual, expected) -> None:
    """Exact equality of numbers/arrays (integers, labels, booleans); records ``actual``."""
    check_close(name, actual, expected, rtol=0.0, atol=0.0)


def check_range(name: str, actual, lower: float | None = None,
                upper: float | None = None) -> None:
    """Feedback only (records nothing): every entry of ``actual`` lies in ``[lower, upper]``."""
    if grading():
        return
    if actual is None:
        _fail(f"{name} is None: did you forget a return statement?")
    a = _as_float_array(name, actual)
    if np.any(~np.isfinite(a)):
        _fail(f"{name} contains NaN or inf: got {_fmt(a)}")
    if lower is not None and np.any(a < lower):
        _fail(f"{name} is too small: expected at least {lower:g}, got {_fmt(a)}")
    if upper is not None and np.any(a > upper):
        _fail(f"{name} is too large: expected at most {upper:g}, got {_fmt(a)}")


def check_gradient(name: str, f, x, grad, *, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Check the analytic gradient ``grad`` of scalar ``f(x)`` against central differences of
    ``f`` (:func:`nbkit.gradcheck.numerical_gradient`) at a float64 copy of ``x``.
    Records ``grad`` under ``name`` (the grader compares it with the solution's gradient)."""
    record(name, grad, rtol=rtol, atol=atol)
    if grading():
        return
    from nbkit.gradcheck import numerical_gradient

    xp = np.array(x, dtype=np.float64)
    if grad is None:
        _fail(f"{name} is None: did you forget a return statement?")
    g = _as_float_array(name, grad)
    if g.shape != xp.shape:
        _fail(f"{name} has the wrong shape: expected {xp.shape}, got {g.shape}")
    num = numerical_gradient(lambda: float(f(xp)), xp)
    bad = ~(np.abs(g - num) <= atol + rtol * np.abs(num))
    if np.any(bad):
        idx = np.unravel_index(int(np.argmax(np.where(bad, np.abs(g - num), -1.0))), g.shape)
        where = f" at index {tuple(int(i) for i in idx)}" if g.ndim else ""
        _fail(f"{name} does not match the numerical gradient{where}: "
              f"numerical {num[idx]:.6g}, yours {g[idx]:.6g}")


def check_moments(name: str, samples, mean: float | None = None, std: float | None = None,
                  *, rtol_std: float = 0.03, atol_mean: float = 0.02) -> None:
    """Random ``samples`` (an array): in JupyterLab, check their mean and standard deviation
    against ``mean``/``std`` (if given); while grading, record them (``compare="moments"``):
    the grader requires ``|std / std_ref - 1| <= rtol_std`` and ``|mean - mean_ref| <=
    atol_mean * std_ref`` against the solution's samples, and the same shape."""
    record(name, samples, compare="moments",
           params={"rtol_std": float(rtol_std), "atol_mean": float(atol_mean)})
    if samples is None:
        return _fail(f"{name} is None: did you forget a return statement?")
    if grading():
        return None
    a = _as_float_array(name, samples)
    if std is not None and not abs(a.std() / std - 1) <= rtol_std:
        _fail(f"{name}: standard deviation {a.std():.4g}, expected {std:.4g} "
              f"(within {rtol_std:.0%})")
    if mean is not None and not abs(a.mean() - mean) <= atol_mean * (std or a.std() or 1.0):
        _fail(f"{name}: mean {a.mean():.4g}, expected about {mean:.4g}")


def check_accuracy(name: str, predictions, labels, at_least: float) -> None:
    """Feedback only (records nothing): ``mean(predictions == labels) >= at_least``.

    ``predictions``, ``labels``: integer class labels (N,). Message: ``"validation accuracy is
    too low: 0.8733 (262 of 300 correct), expected at least 0.95"``. Graded accuracies use
    :func:`check_heldout_accuracy`.
    """
    if grading():
        return
    if predictions is None:
        _fail(f"{name}: the predictions are None: did you forget a return?")
    p, t = _as_float_array(name, predictions), np.asarray(labels, dtype=np.float64)
    if p.shape != t.shape:
        _fail(f"{name}: the predictions have the wrong shape: expected {t.shape}, got "
              f"{p.shape} (one predicted label per example)")
    correct = int(np.sum(p == t))
    acc = correct / max(t.size, 1)
    if acc < at_least:
        _fail(f"{name} is too low: {acc:.4f} ({correct} of {t.size} correct), expected at "
              f"least {at_least:g}")


def heldout_images(heldout: str) -> np.ndarray:
    """The images of the held-out set ``heldout`` (see :mod:`nbkit.grading.heldout`), without
    labels. While grading: the grader's secretly transformed copy (shuffled, perturbed, a new
    one every ``nbkit grade`` run); elsewhere: the public images it is made from."""
    from .heldout import HELDOUT_SETS, public_split

    if heldout not in HELDOUT_SETS:
        raise KeyError(f"unknown held-out set {heldout!r}; known: {sorted(HELDOUT_SETS)}")
    if grading():
        folder = os.environ.get(HELDOUT_ENV, "")
        return np.load(os.path.join(folder, f"{heldout}.npy"), allow_pickle=False)
    return public_split(heldout)[0]


def check_heldout_accuracy(name: str, predictions, heldout: str, at_least: float) -> None:
    """Predicted labels (N,) for ``heldout_images(heldout)``: while grading, recorded
    (``compare="heldout"``) and scored by the grader against labels the kernel never sees (the
    solution's ``at_least`` counts); in JupyterLab, checked against the public labels."""
    record(name, predictions, compare="heldout",
           params={"heldout": str(heldout), "at_least": float(at_least)})
    if grading():
        return
    from .heldout import public_split

    check_accuracy(name, predictions, public_split(heldout)[1], at_least)
