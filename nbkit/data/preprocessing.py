"""Preprocessing: one-hot targets and per-feature standardization (statistics of the training
set only). Every function returns new arrays."""

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
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer)
                               or np.issubdtype(y.dtype, np.floating)):
        raise TypeError(f"one_hot: labels must be integers, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            bad = y[~np.isfinite(y) | (y != np.round(y))][0]
            raise ValueError(f"one_hot: labels must be integers, found {bad}")
    yi = y.astype(np.int64)
    if yi.size and yi.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, found {int(yi.min())}")
    if num_classes is None:
        num_classes = int(yi.max()) + 1 if yi.size else 0
    else:
        num_classes = validate.integer(num_classes, "num_classes", "one_hot", low=1)
        if yi.size and yi.max() >= num_classes:
            raise ValueError(f"one_hot: label {int(yi.max())} >= num_classes={num_classes}; "
                             f"labels must be in 0..{num_classes - 1}")
    T = np.zeros((yi.shape[0], num_classes), dtype=np.float32)
    T[np.arange(yi.shape[0]), yi] = 1.0
    return T


class Standardizer:
    """Per-feature standardization ``z = (x - mean_) / std_`` fitted on training data.

    ``mean_``, ``std_``: (D,) per-feature mean and standard deviation of the fit data; features
    whose std is below ``eps`` (constant pixels) get ``std_ = 1`` so they map to ``x - mean``
    (0 on the training data) instead of blowing up. Floating inputs keep their dtype (statistics
    are accumulated in float64); integer inputs give float64.
    """

    def __init__(self, eps: float = 1e-8):
        self.eps = float(eps)
        self.mean_ = None
        self.std_ = None

    @staticmethod
    def _as2d(X, what):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"Standardizer.{what}: X must be 2-D (N, D), got shape {X.shape}")
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)
        return X

    def fit(self, X):
        X = self._as2d(X, "fit")
        if X.shape[0] == 0:
            raise ValueError("Standardizer.fit: X has no rows")
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        std = np.where(std < self.eps, 1.0, std)
        self.mean_ = mean.astype(X.dtype)
        self.std_ = std.astype(X.dtype)
        return self

    def transform(self, X):
        if self.mean_ is None:
            raise RuntimeError("Standardizer.transform: call fit(X_train) first")
        X = self._as2d(X, "transform")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"Standardizer.transform: X has {X.shape[1]} features, "
                             f"fitted on {self.mean_.shape[0]}")
        out = np.subtract(X, self.mean_.astype(X.dtype), dtype=X.dtype)
        out /= self.std_.astype(X.dtype)
        return out

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        if self.mean_ is None:
            raise RuntimeError("Standardizer.inverse_transform: call fit(X_train) first")
        Z = self._as2d(Z, "inverse_transform")
        return Z * self.std_.astype(Z.dtype) + self.mean_.astype(Z.dtype)

    def __repr__(self):
        d = None if self.mean_ is None else self.mean_.shape[0]
        return f"Standardizer(eps={self.eps}, fitted_features={d})"


def standardize(X_train, *others):
    """Standardize with statistics of ``X_train`` only (see :class:`Standardizer`).

    ``standardize(X_train)`` returns the standardized X_train; ``standardize(X_train, X_val,
    X_test)`` returns a tuple ``(Z_train, Z_val, Z_test)``.
    """
    s = Standardizer().fit(X_train)
    Z = s.transform(X_train)
    if not others:
        return Z
    return (Z, *(s.transform(o) for o in others))
