"""Datasets and what is done to them before training (batch first: ``X`` is ``(N, D)``):
``data.mnist`` (``load_mnist``, ``load_fashion_mnist``: find, download with pooch, check),
``data.toy`` (``load_digits``, the offline 8x8 digits; ``make_spirals/circles/xor``),
``data.batches`` (``validation_split``, ``minibatches``), ``data.preprocessing`` (``one_hot``,
``standardize``; ``Standardizer`` is scikit-learn's ``StandardScaler``) and
``data.augmentation`` (``shift``, ``rotate`` with scipy.ndimage, ``augment``).

Everything is importable from ``nbkit.data`` itself. Functions return new arrays, except the
MNIST loaders (read-only views of an in-memory cache) and ``minibatches(..., shuffle=False)``
(slices, i.e. views, of X and y). Random draws follow :mod:`nbkit.rng` (argument ``rng``).
"""

from nbkit.data.augmentation import augment, rotate, shift
from nbkit.data.batches import minibatches, validation_split
from nbkit.data.mnist import (
    ARCHIVE_SHA256,
    FASHION_CLASSES,
    FILES,
    MIRRORS,
    SHA256,
    CorruptDataError,
    DataNotFoundError,
    cache_dir,
    load_fashion_mnist,
    load_mnist,
)
from nbkit.data.preprocessing import one_hot, standardize
from nbkit.data.toy import load_digits, make_circles, make_spirals, make_xor

__all__ = [
    "DataNotFoundError", "CorruptDataError", "SHA256", "ARCHIVE_SHA256", "MIRRORS", "FILES",
    "FASHION_CLASSES", "cache_dir", "load_mnist", "load_fashion_mnist",
    "load_digits", "make_spirals", "make_circles", "make_xor",
    "validation_split", "minibatches", "one_hot", "standardize", "Standardizer",
    "shift", "rotate", "augment",
]


def __getattr__(name):
    if name == "Standardizer":  # imported on first use: scikit-learn takes a second to load
        from sklearn.preprocessing import StandardScaler

        return StandardScaler
    raise AttributeError(f"module 'nbkit.data' has no attribute {name!r}")
