"""Weight initializers: ``f(shape, rng) -> ndarray`` with ``shape = (n_in, n_out)``.

Every initializer takes the shape of a weight matrix, ``(n_in, n_out)`` (fan-in first, as in
``X @ W``), and a ``numpy.random.Generator``; ``dtype`` (default float32) is a keyword.

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

DEFAULT_DTYPE = np.float32


def _fans(shape, owner):
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"{owner}: expected shape (n_in, n_out) of positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _generator(rng, owner):
    if rng is None:
        raise ValueError(f"{owner}: pass a numpy.random.Generator "
                         "(rng=np.random.default_rng(seed))")
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{owner}: expected a numpy.random.Generator or int seed, got {type(rng)}")
    return rng


def _gaussian(shape, rng, std, dtype, owner):
    rng = _generator(rng, owner)
    return (rng.standard_normal(shape) * std).astype(dtype, copy=False)


def _uniform(shape, rng, limit, dtype, owner):
    rng = _generator(rng, owner)
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)


def zeros(shape, rng=None, dtype=DEFAULT_DTYPE):
    """W = 0. Every hidden unit computes the same function and gets the same gradient."""
    _fans(shape, "zeros")
    return np.zeros(shape, dtype=dtype)


def normal(std):
    """Return an initializer drawing W ~ N(0, std^2)."""
    if not std >= 0:
        raise ValueError(f"normal: std must be >= 0, got {std!r}")

    def init(shape, rng, dtype=DEFAULT_DTYPE):
        _fans(shape, init.__name__)
        return _gaussian(shape, rng, std, dtype, init.__name__)

    init.__name__ = init.__qualname__ = f"normal({std:g})"
    return init


def uniform(limit):
    """Return an initializer drawing W ~ U(-limit, limit)."""
    if not limit >= 0:
        raise ValueError(f"uniform: limit must be >= 0, got {limit!r}")

    def init(shape, rng, dtype=DEFAULT_DTYPE):
        _fans(shape, init.__name__)
        return _uniform(shape, rng, limit, dtype, init.__name__)

    init.__name__ = init.__qualname__ = f"uniform({limit:g})"
    return init


def xavier_normal(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ N(0, 2 / (n_in + n_out)): the variance of Glorot & Bengio (2010), whose own proposal
    is the uniform ``xavier_uniform``."""
    n_in, n_out = _fans(shape, "xavier_normal")
    return _gaussian(shape, rng, math.sqrt(2.0 / (n_in + n_out)), dtype, "xavier_normal")


def xavier_uniform(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ U(-a, a) with a = sqrt(6 / (n_in + n_out)): variance 2 / (n_in + n_out)
    (Glorot & Bengio, 2010)."""
    n_in, n_out = _fans(shape, "xavier_uniform")
    return _uniform(shape, rng, math.sqrt(6.0 / (n_in + n_out)), dtype, "xavier_uniform")


def he_normal(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ N(0, 2 / n_in)  (He et al., 2015), for ReLU layers."""
    n_in, _ = _fans(shape, "he_normal")
    return _gaussian(shape, rng, math.sqrt(2.0 / n_in), dtype, "he_normal")


def he_uniform(shape, rng, dtype=DEFAULT_DTYPE):
    """W ~ U(-a, a) with a = sqrt(6 / n_in): variance 2 / n_in."""
    n_in, _ = _fans(shape, "he_uniform")
    return _uniform(shape, rng, math.sqrt(6.0 / n_in), dtype, "he_uniform")


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
    try:
        return INITIALIZERS[init]
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; expected one of {sorted(INITIALIZERS)}"
                         " or a callable f(shape, rng)") from None
