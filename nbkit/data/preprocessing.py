"""Preprocessing: one-hot targets and per-feature standardization with the statistics of the
training set only (scikit-learn's ``StandardScaler``). Every function returns new arrays."""

import numpy as np

from nbkit import validate


def one_hot(y, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer labels: ``T[n, k] = 1 if y[n] == k else 0``.

    ``y``: (N,) integers in 0..K-1 (floats with integral values are accepted).
    ``num_classes``: K (default ``max(y) + 1``). Returns float32 (N, K).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot: y must be 1-D (N,), got shape {y.shape}")
    if y.dtype.kind not in "iuf":
        raise TypeError(f"one_hot: labels must be integers, got dtype {y.dtype}")
    bad = y[~np.isfinite(y) | (y != np.round(y))] if y.dtype.kind == "f" else []
    if len(bad):
        raise ValueError(f"one_hot: labels must be integers, found {bad[0]}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, found {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif validate.integer(num_classes, "num_classes", "one_hot", low=1) <= y.max(initial=-1):
        raise ValueError(f"one_hot: label {y.max()} >= num_classes={num_classes}; labels must "
                         f"be in 0..{num_classes - 1}")
    T = np.zeros((len(y), num_classes), dtype=np.float32)
    T[np.arange(len(y)), y] = 1.0
    return T


def standardize(X_train, *others):
    """Per-feature ``z = (x - mean) / std`` with the mean and std of ``X_train`` (N, D) only.

    ``standardize(X_train)`` returns the standardized X_train; ``standardize(X_train, X_val,
    X_test)`` returns a tuple ``(Z_train, Z_val, Z_test)``. A constant feature (std 0) keeps
    std 1, so it maps to 0 on the training data. Float32 stays float32. This is
    ``sklearn.preprocessing.StandardScaler().fit(X_train).transform(X)`` (also importable as
    ``nbkit.data.Standardizer``).
    """
    from sklearn.preprocessing import StandardScaler  # on first use: 1 s to import

    scaler = StandardScaler().fit(X_train)
    Z = scaler.transform(X_train)
    return (Z, *(scaler.transform(X) for X in others)) if others else Z
