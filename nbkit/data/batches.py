"""Splitting a dataset and cutting it into mini-batches (batch first: ``X`` is ``(N, ...)``)."""

import numpy as np

from nbkit import validate
from nbkit.rng import as_generator


def validation_split(X, y, n_val, rng=None):
    """Hold out a random validation set.

    ``n_val``: number of validation examples (int, 1..N-1) or a fraction in (0, 1).
    Returns ``X_train, y_train, X_val, y_val`` (new arrays; each part keeps the original order).
    Deterministic for a given ``rng`` (see :mod:`nbkit.rng`).
    """
    X, y = np.asarray(X), np.asarray(y)
    validate.same_length(X, y, "validation_split")
    n = X.shape[0]
    if isinstance(n_val, float):
        n_val = validate.number(n_val, "a fractional n_val", "validation_split", 0, 1,
                                low_open=True, high_open=True)
        n_val = int(round(n_val * n))
    n_val = validate.integer(n_val, "n_val", "validation_split", 1, n - 1)
    perm = as_generator(rng).permutation(n)
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    return X[train_idx], y[train_idx], X[val_idx], y[val_idx]


def minibatches(X, y, batch_size: int, rng=None, shuffle: bool = True):
    """Yield ``(X_b, y_b)`` mini-batches covering every example exactly once.

    With ``shuffle`` the order is a permutation drawn from ``rng`` (see :mod:`nbkit.rng`: None
    is seed 0, the same order at every call, so pass one Generator for every epoch to get a new
    order each epoch) and each batch is a new array gathered with one fancy-indexing step.
    Without shuffle the batches are slices of X and y in order: views, not copies.
    The last batch may be smaller. ``y`` may be None (then ``y_b`` is None).
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("minibatches: X must have a batch dimension (N, ...)")
    if y is not None:
        y = np.asarray(y)
        validate.same_length(X, y, "minibatches")
    batch_size = validate.integer(batch_size, "batch_size", "minibatches", low=1)
    order = as_generator(rng).permutation(len(X)) if shuffle else None
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size] if shuffle else slice(start, start + batch_size)
        yield X[idx], (None if y is None else y[idx])
