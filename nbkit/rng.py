"""The one rule for randomness in nbkit.

Every function or class that draws random numbers takes one argument, ``rng``, and passes it
through :func:`as_generator`:

- a ``numpy.random.Generator`` is used as it is, so one Generator can drive several layers, the
  shuffling of every epoch, ... (each call continues its stream);
- an int is a seed: ``np.random.default_rng(seed)``, a new Generator;
- ``None`` (the default everywhere) means seed 0: a new ``np.random.default_rng(0)`` at every call.

So a call's result depends on its arguments only, never on which cells ran before it. The
price of ``None = 0``: two layers built without ``rng`` draw the same numbers; pass one
Generator to both, as ``mlp`` does, for independent draws.

The widgets alone take an int ``seed`` instead: they cache what they compute
(``functools.lru_cache``), and a Generator, whose state changes, cannot be a cache key.
"""

import numbers

import numpy as np

DEFAULT_SEED = 0


def as_generator(rng, name="rng"):
    """A ``numpy.random.Generator`` from a Generator (returned as is), an int seed, or None
    (seed :data:`DEFAULT_SEED`, a new Generator each call)."""
    if rng is None:
        return np.random.default_rng(DEFAULT_SEED)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")

