"""Weight initializers: ``f(shape, rng) -> ndarray`` with ``shape = (n_in, n_out)``.

Every initializer takes the shape of a weight matrix, ``(n_in, n_out)`` (fan-in first, as in
``X @ W``), and ``rng``: a ``numpy.random.Generator``, an int seed or None (seed 0; the rule of
:mod:`nbkit.rng`); ``dtype`` (default float32) is a keyword.

==================  ==========================================  ==============================
name                distribution                                reference
==================  ==========================================  ==============================
``zeros``           W = 0  (all units identical: symmetry)
``normal(std)``     N(0, std^2)
``uniform(limit)``  U(-limit, limit)
``xavier_normal``   N(0, 2 / (n_in + n_out))                    Glorot & Bengio's variance
``xavier_uniform``  U(-a, a), a = sqrt(6 / (n_in + n_out))      Glorot & Bengio (2010)
``he_normal``       N(0, 2 / n_in)                              He et al. (2015)
``he_uniform``      U(-a, a), a = sqrt(6 / n_in)                He et al. (2015)
==================  ==========================================  ==============================

Glorot & Bengio (2010) proposed the uniform distribution (``xavier_uniform``); the normal
distribution with the same variance is a later convention (e.g. Keras' ``glorot_normal``,
PyTorch's ``xavier_normal_``). Their derivation assumes zero-centred units with slope 1 at 0,
like tanh; the logistic sigmoid (σ(0) = 1/2, σ'(0) = 1/4) does not satisfy it.
"""

import math

import numpy as np

from nbkit import validate
from nbkit.rng import as_generator

DEFAULT_DTYPE = np.float32


def _fans(shape, owner):
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"{owner}: expected shape (n_in, n_out) of positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _draw(dist, shape, rng, scale, dtype, owner):
    """W ~ N(0, scale^2) (``dist`` "normal") or U(-scale, scale) ("uniform"), as ``dtype``."""
    rng = as_generator(rng, f"{owner}: rng")
    if dist == "normal":
        return (rng.standard_normal(shape) * scale).astype(dtype, copy=False)
    return rng.uniform(-scale, scale, shape).astype(dtype, copy=False)


def zeros(shape, rng=None, dtype=DEFAULT_DTYPE):
    """W = 0. Every hidden unit computes the same function and gets the same gradient."""
    return np.zeros(_fans(shape, "zeros"), dtype=dtype)


def _fixed_scale(dist, scale, name):
    """An initializer drawing W from ``dist`` at a fixed scale, whatever the fans."""

    def init(shape, rng=None, dtype=DEFAULT_DTYPE):
        return _draw(dist, _fans(shape, name), rng, scale, dtype, name)

    init.__name__ = init.__qualname__ = name
    return init


def normal(std):
    """Return an initializer drawing W ~ N(0, std^2)."""
    std = validate.number(std, "std", "normal", low=0)
    return _fixed_scale("normal", std, f"normal({std:g})")


def uniform(limit):
    """Return an initializer drawing W ~ U(-limit, limit)."""
    limit = validate.number(limit, "limit", "uniform", low=0)
    return _fixed_scale("uniform", limit, f"uniform({limit:g})")


def xavier_normal(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ N(0, 2 / (n_in + n_out)): the variance of Glorot & Bengio (2010), whose own proposal
    is the uniform ``xavier_uniform``."""
    n_in, n_out = _fans(shape, "xavier_normal")
    return _draw("normal", shape, rng, math.sqrt(2.0 / (n_in + n_out)), dtype, "xavier_normal")


def xavier_uniform(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ U(-a, a) with a = sqrt(6 / (n_in + n_out)): variance 2 / (n_in + n_out)
    (Glorot & Bengio, 2010)."""
    n_in, n_out = _fans(shape, "xavier_uniform")
    return _draw("uniform", shape, rng, math.sqrt(6.0 / (n_in + n_out)), dtype, "xavier_uniform")


def he_normal(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ N(0, 2 / n_in)  (He et al., 2015), for ReLU layers."""
    n_in, _ = _fans(shape, "he_normal")
    return _draw("normal", shape, rng, math.sqrt(2.0 / n_in), dtype, "he_normal")


def he_uniform(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ U(-a, a) with a = sqrt(6 / n_in): variance 2 / n_in."""
    n_in, _ = _fans(shape, "he_uniform")
    return _draw("uniform", shape, rng, math.sqrt(6.0 / n_in), dtype, "he_uniform")


INITIALIZERS = {
    "zeros": zeros,
    "small_normal": normal(0.01),
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
}


def get(init):
    """An initializer from a name in INITIALIZERS or a callable ``f(shape, rng)``."""
    if callable(init):
        return init
    return INITIALIZERS[validate.one_of(init, "init (a name, or a callable f(shape, rng))",
                                        INITIALIZERS, "initializer")]
