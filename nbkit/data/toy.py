"""Small offline datasets: scikit-learn's 8x8 digits and toy 2-D problems (spirals, circles, XOR).

Every function returns new arrays, X float32 and y int64, shuffled with ``rng`` (the rule of
:mod:`nbkit.rng`: a Generator, an int seed, or None for seed 0).
"""

import math

import numpy as np

from nbkit import validate
from nbkit.rng import as_generator


def load_digits(split: str = "all", test_size: float = 0.25, rng=None):
    """scikit-learn's bundled 8x8 digits (1797 images, offline).

    Returns ``X`` float32 ``(N, 64)`` = pixel / 16 in [0, 1] and ``y`` int64 ``(N,)`` in 0..9.
    ``split``: "all", or "train"/"test" from one random permutation (``rng``) with
    ``ceil(test_size * 1797)`` test examples; train and test are disjoint and together all data.
    """
    validate.one_of(split, "split", ("train", "test", "all"), "load_digits")
    test_size = validate.number(test_size, "test_size", "load_digits", 0, 1, low_open=True,
                                high_open=True)
    from sklearn.datasets import load_digits as _sk_load_digits

    d = _sk_load_digits()
    X = (np.asarray(d.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(d.target, dtype=np.int64)
    if split == "all":
        return X, y
    n = X.shape[0]
    n_test = math.ceil(test_size * n)
    perm = as_generator(rng).permutation(n)
    idx = np.sort(perm[:n_test] if split == "test" else perm[n_test:])
    return X[idx], y[idx]


def _shuffle_xy(X, y, rng):
    perm = rng.permutation(X.shape[0])
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def make_spirals(n: int = 300, classes: int = 3, noise: float = 0.2, rng=None):
    """Interleaved spirals (CS231n style), shuffled.

    Class k gets about n/classes points with radius r in linspace(0, 1) and angle
    ``t = 4 k + 4 r + noise * N(0,1)`` (radians); ``x = (r sin t, r cos t)``.
    Returns X float32 (n, 2), y int64 (n,).
    """
    n = validate.integer(n, "n", "make_spirals", low=1)
    classes = validate.integer(classes, "classes", "make_spirals", low=2)
    noise = validate.number(noise, "noise", "make_spirals", low=0)
    rng = as_generator(rng)
    counts = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    Xs, ys = [], []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, k))
    return _shuffle_xy(np.concatenate(Xs), np.concatenate(ys), rng)


def make_circles(n: int = 200, noise: float = 0.1, factor: float = 0.5, rng=None):
    """Two concentric circles: label 0 on radius 1, label 1 on radius ``factor`` (0<factor<1),
    plus Gaussian noise of std ``noise`` on each coordinate. Returns X float32 (n,2), y int64."""
    n = validate.integer(n, "n", "make_circles", low=2)
    noise = validate.number(noise, "noise", "make_circles", low=0)
    factor = validate.number(factor, "factor", "make_circles", 0, 1, low_open=True,
                             high_open=True)
    rng, n_out = as_generator(rng), n - n // 2
    t = rng.uniform(0, 2 * np.pi, n)  # the outer circle's angles, then the inner one's
    X = np.column_stack([np.cos(t), np.sin(t)])
    X[n_out:] *= factor
    X += noise * rng.standard_normal(X.shape)
    return _shuffle_xy(X, (np.arange(n) >= n_out).astype(np.int64), rng)


def make_xor(n: int = 200, noise: float = 0.2, rng=None):
    """XOR: four Gaussian blobs (std ``noise``) at (+-1, +-1); label 1 where the two centre
    coordinates have different signs (x1 * x2 < 0 at the centre), else 0.
    Returns X float32 (n, 2), y int64 (n,)."""
    n = validate.integer(n, "n", "make_xor", low=1)
    noise = validate.number(noise, "noise", "make_xor", low=0)
    rng = as_generator(rng)
    corners = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    which = np.arange(n) % 4
    centres = corners[which]
    X = centres + noise * rng.standard_normal((n, 2))
    y = (centres[:, 0] * centres[:, 1] < 0).astype(np.int64)
    return _shuffle_xy(X, y, rng)
