"""One rule for randomness in nbkit: every random thing takes a Generator or a seed.

``as_generator(rng)`` passes a ``numpy.random.Generator`` through unchanged (so one Generator
can drive several layers), turns an int into ``np.random.default_rng(seed)``, and turns
``None`` into nbkit's *default stream*: one Generator seeded with 0 when nbkit is imported and
shared by every call, so code that forgets a seed is still reproducible run to run, while two
layers built without a seed still get different weights. ``seed(n)`` restarts that stream.
"""

import numbers

import numpy as np

DEFAULT_SEED = 0
_default_stream = np.random.default_rng(DEFAULT_SEED)


def seed(value=DEFAULT_SEED):
    """Restart the default stream used where no ``rng`` is given."""
    global _default_stream
    _default_stream = np.random.default_rng(value)


def as_generator(rng, name="rng"):
    """A ``numpy.random.Generator`` from a Generator, an int seed or None (the default stream)."""
    if rng is None:
        return _default_stream
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")
