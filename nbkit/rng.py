"""One rule for randomness in nbkit: every random thing takes a Generator or a seed.

``as_generator(rng)`` turns ``None`` into ``np.random.default_rng(0)`` (so code that forgets a
seed is still reproducible), an int into ``np.random.default_rng(seed)``, and passes a
``numpy.random.Generator`` through unchanged (so one Generator can drive several layers).
"""

import numbers

import numpy as np

DEFAULT_SEED = 0


def as_generator(rng, name="rng"):
    """A ``numpy.random.Generator`` from a Generator, an int seed or None (seed 0)."""
    if rng is None:
        return np.random.default_rng(DEFAULT_SEED)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")
