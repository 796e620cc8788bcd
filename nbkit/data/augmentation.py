"""Augmentation of square images stored flattened: ``X`` of shape (N, side*side), or one image
of shape (side*side,). :func:`shift` and :func:`rotate` transform every image with
``scipy.ndimage``; :func:`augment` adds randomly rotated and shifted copies. Every function
returns a new array."""

import math

import numpy as np

from nbkit import validate
from nbkit.rng import as_generator


def _as_images(X, what):
    X = np.asarray(X)
    single = X.ndim == 1
    if X.ndim not in (1, 2):
        raise ValueError(f"{what}: expected flattened square images (N, D) or (D,), "
                         f"got shape {X.shape}")
    D = X.shape[-1]
    side = math.isqrt(D)
    if side * side != D or D == 0:
        raise ValueError(f"{what}: image length {D} is not a perfect square (e.g. 784 = 28x28)")
    return X.reshape(-1, side, side), single, side


def _per_image(value, n, name, integer):
    """``value`` (a scalar or one per image) as an array (n,) of whole numbers or floats."""
    arr = np.broadcast_to(value, (n,)) if np.ndim(value) == 0 else np.asarray(value)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or (integer and np.any(arr != np.round(arr))):
        raise ValueError(f"{name} must be finite{' whole pixels' if integer else ''}, "
                         f"got {value!r}")
    return arr.astype(np.int64 if integer else np.float64)


def _flat(out, single, side):
    out = out.reshape(-1, side * side)
    return out[0] if single else out


def shift(X, dx, dy):
    """Translate square images by whole pixels with zero fill.

    ``out[r, c] = in[r - dy, c - dx]`` (0 outside): ``dx > 0`` moves right, ``dy > 0`` moves down.
    ``X``: (N, side*side) or (D,); ``dx``, ``dy``: ints or per-image int arrays (N,).
    Returns a new array of the same shape and dtype.
    """
    from scipy import ndimage  # on first use: a training kernel need not load SciPy

    imgs, single, side = _as_images(X, "shift")
    dxs = _per_image(dx, len(imgs), "dx", integer=True)
    dys = _per_image(dy, len(imgs), "dy", integer=True)
    out = np.empty_like(imgs)
    for img, sx, sy, dst in zip(imgs, dxs, dys, out, strict=True):
        ndimage.shift(img, (sy, sx), output=dst, order=0, mode="constant", cval=0)
    return _flat(out, single, side)


def rotate(X, degrees):
    """Rotate square images about their centre by ``degrees`` (counter-clockwise as displayed
    with ``imshow``), bilinear interpolation, zero fill, same size:
    ``scipy.ndimage.rotate(img, degrees, reshape=False, order=1, mode="grid-constant")``.

    ``X``: (N, side*side) or (D,); ``degrees``: scalar or per-image (N,), each in [-180, 180].
    Returns float (input float dtype kept, else float32), same shape as ``X``.
    """
    from scipy import ndimage

    imgs, single, side = _as_images(X, "rotate")
    deg = _per_image(degrees, len(imgs), "degrees", integer=False)
    if np.any(np.abs(deg) > 180):
        raise ValueError(f"degrees must be in [-180, 180], got {degrees!r}")
    dtype = imgs.dtype if imgs.dtype.kind == "f" else np.float32
    imgs = imgs.astype(dtype, copy=False)
    out = np.empty(imgs.shape, dtype=dtype)
    for img, angle, dst in zip(imgs, deg, out, strict=True):
        ndimage.rotate(img, angle, reshape=False, output=dst, order=1, mode="grid-constant")
    return _flat(out, single, side)


def augment(X, y=None, *, rng=None, max_shift: int = 2, max_degrees: float = 15.0,
            copies: int = 1):
    """Originals plus ``copies`` randomly rotated-then-shifted copies of every image.

    Each copy of image n gets an angle ~ U[-max_degrees, max_degrees] (:func:`rotate`) and
    integer shifts dx, dy ~ U{-max_shift..max_shift} (:func:`shift`), drawn from ``rng`` (see
    :mod:`nbkit.rng`). ``X``: (N, side*side); ``y``: (N,) labels or None.
    Returns ``(X_aug, y_aug)`` with ``(1 + copies) * N`` rows -- the first N are the originals,
    then copy 1 of all images, copy 2, ... -- or ``X_aug`` alone when ``y`` is None.
    """
    _, single, side = _as_images(X, "augment")
    if single:
        raise ValueError("augment: X must be 2-D (N, side*side)")
    X, n = np.asarray(X), len(X)
    if y is not None:
        validate.same_length(X, y, "augment")
    max_shift = validate.integer(max_shift, "max_shift", "augment", 0, side - 1)
    max_degrees = validate.number(max_degrees, "max_degrees", "augment", 0, 180)
    copies = validate.integer(copies, "copies", "augment", low=0)
    rng = as_generator(rng)
    dtype = X.dtype if X.dtype.kind == "f" else np.float32
    parts = [X.astype(dtype, copy=False)]
    for _ in range(copies):
        ang = rng.uniform(-max_degrees, max_degrees, n)
        dx = rng.integers(-max_shift, max_shift + 1, n)
        dy = rng.integers(-max_shift, max_shift + 1, n)
        parts.append(shift(rotate(X, ang), dx, dy).astype(dtype, copy=False))
    X_aug = np.concatenate(parts, axis=0)
    return X_aug if y is None else (X_aug, np.concatenate([np.asarray(y)] * (copies + 1)))
