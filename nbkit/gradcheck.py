"""Gradient checking: compare a backward pass with central finite differences.

Central difference for entry i, with step h_i = √eps · max(|x_i|, 1) (eps = the machine epsilon
of x's dtype: h ≈ 1.5e-8 near zero in float64, 3.5e-4 in float32)::

    ∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)          error O(h²)

One loop, :func:`_central_differences`, perturbs the entries (in place, restored even when f
raises) and divides by the step actually applied after rounding to x's dtype; the gradient
(:func:`numerical_gradient`), the module check and the Jacobian (:func:`jacobian_fd`) use it.

Relative error (as in cs231n): max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-8). In float64 a correct
backward gives about 1e-7 or less; 1e-2 or more means a bug. Always check in float64: float32
has eps ≈ 1.2e-7, so finite differences are too noisy to tell a bug from rounding.
"""

import numpy as np

from nbkit.layers import Dropout, Module
from nbkit.rng import as_generator


def default_step(x):
    """Per-entry step h_i = √eps · max(|x_i|, 1), with eps the machine epsilon of x's dtype
    (float64: h ≈ 1.5e-8 near zero; float32: h ≈ 3.5e-4)."""
    x = np.asarray(x)
    eps = np.finfo(x.dtype if x.dtype.kind == "f" else np.float64).eps
    return np.sqrt(eps) * np.maximum(np.abs(x), 1.0)


def _check_float(x, owner):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{owner}: expected a numpy array to perturb in place, got "
                        f"{type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a float array (preferably float64), got dtype "
                        f"{x.dtype}; integer arrays cannot be perturbed by a small step h")


def _central_differences(f, x, h, index):
    """Yield ``(f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)`` for each index i of ``x``.

    ``f()`` takes no arguments and reads ``x``, which is perturbed in place and restored (also
    when f raises). ``2 h_i`` is the step actually applied after rounding to x's dtype; a step
    too small to change ``x[i]`` at all is refused. ``f`` may return a number or an array.
    """
    steps = default_step(x) if h is None else np.broadcast_to(np.asarray(h, float), x.shape)
    for i in index:
        old, hi = x[i], steps[i]
        try:
            x[i] = old + hi
            xp, fp = float(x[i]), np.asarray(f(), dtype=np.float64)
            x[i] = old - hi
            xm, fm = float(x[i]), np.asarray(f(), dtype=np.float64)
        finally:
            x[i] = old
        if xp == xm:
            raise ValueError(f"numerical_gradient: the step h = {hi:.3g} does not change entry "
                             f"{i} = {float(old):.6g} in {x.dtype}; use a larger h (or float64)")
        yield (fp - fm) / (xp - xm)


def numerical_gradient(f, x, h=None, entries=None):
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``f`` takes no arguments and reads ``x`` (which is perturbed in place and restored).
    ``h``: None (per-entry √eps·max(|x_i|, 1)), a float, or an array like ``x``.
    ``entries``: None for every entry (result has x's shape), else a list of index tuples (result
    has one value per entry).
    """
    _check_float(x, "numerical_gradient")
    index = list(np.ndindex(x.shape)) if entries is None else [tuple(e) for e in entries]
    out = np.array([float(d) for d in _central_differences(lambda: float(f()), x, h, index)])
    return out.reshape(x.shape) if entries is None else out


def relative_error(a, b):
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-8)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def _sample_entries(shape, count, rng):
    """``count`` random index tuples of an array of ``shape`` (None: every index)."""
    if count is None:
        return list(np.ndindex(shape))
    size = int(np.prod(shape))
    return [np.unravel_index(i, shape) for i in sorted(rng.choice(size, min(count, size), False))]


def _set_dropout_frozen(module, frozen):
    if isinstance(module, Dropout):
        module.frozen = frozen
    for child in module.children():
        _set_dropout_frozen(child, frozen)


def check_module(module, X, rng=None, entries=6, h=None):
    """Max relative error between ``module.backward`` and finite differences.

    Uses the scalar loss L = Σ Y ⊙ R for a fixed random R (so dL/dY = R), in float64, checking
    ``entries`` random entries (None: all) of the input and of every parameter; ``rng`` draws R
    and the entries (:mod:`nbkit.rng`). Dropout masks are fixed during the check; parameters
    get their dtype back afterwards.
    Returns ``{"input": err, "<param name>": err, ...}``.
    """
    if not isinstance(module, Module):
        raise TypeError(f"check_module: expected an nbkit Module, got {type(module).__name__}")
    rng = as_generator(rng)
    named = module.named_parameters()
    dtypes = [(p, p.value.dtype, p.grad.dtype) for _, p in named]
    X = np.array(X, dtype=np.float64)
    module.to(np.float64)
    _set_dropout_frozen(module, True)
    try:
        R = rng.standard_normal(np.shape(module(X)))
        dX = module.backward(R)
        grads = {name: p.grad.copy() for name, p in named}

        def loss():
            return np.vdot(module(X), R)

        errors = {}
        for name, x, analytic in [("input", X, dX)] + [(n, p.value, grads[n]) for n, p in named]:
            idx = _sample_entries(x.shape, entries, rng)
            num = numerical_gradient(loss, x, h, idx)
            errors[name] = relative_error(analytic[tuple(np.transpose(idx))], num)
        return errors
    finally:
        _set_dropout_frozen(module, False)
        for p, vdt, gdt in dtypes:
            p.value, p.grad = p.value.astype(vdt, copy=False), p.grad.astype(gdt, copy=False)


def jacobian_fd(f, x, h=None):
    """Jacobian of the array function ``f(x)`` column by column with central differences.

    Column j is (f(x + h_j e_j) - f(x - h_j e_j)) / (2 h_j), on a float64 copy of ``x``.
    Shape (f(x).size, x.size).
    """
    _check_float(x, "jacobian_fd")
    x = np.array(x, dtype=np.float64)
    columns = _central_differences(lambda: np.ravel(f(x)), x, h, list(np.ndindex(x.shape)))
    return np.stack(list(columns), axis=1)


def jacobian_bprop(module, X):
    """Jacobian of ``module`` at ``X`` row by row: row i is backward(e_i), e_i a unit vector
    in output space. Shape (Y.size, X.size)."""
    X = np.asarray(X)
    Y = module(X)
    rows = []
    for e in np.eye(Y.size, dtype=Y.dtype):  # a forward before every backward (its cache)
        module(X)
        rows.append(np.asarray(module.backward(e.reshape(Y.shape))).ravel())
    return np.stack(rows)
