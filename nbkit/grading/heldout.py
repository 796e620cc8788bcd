"""Held-out sets: accuracy judged by the grader on images the kernel gets without labels.

An assignment that grades a trained classifier declares the sets it uses in its source
notebook's metadata (``metadata.nbkit.grading.heldout: ["digits-test"]``) and its test cell
does::

    from nbkit.grading.checks import check_heldout_accuracy, heldout_images

    pred = np.argmax(model(heldout_images("digits-test")), axis=1)
    check_heldout_accuracy("test accuracy", pred, "digits-test", at_least=0.95)

For every ``nbkit grade`` run the grader draws a secret seed and makes, from the set's public
split, a new image set: a random subset (``size``) in random order, each image scaled by a random
brightness in ``[1 - brightness, 1]`` plus Gaussian noise (``noise``, in units of the pixel range)
and clipped to that range, so that no lookup table over the public split matches an image. The
images (no labels) are mounted read-only in every sandbox of that run; the labels stay in the
grader, which computes the accuracy of the predictions a kernel records (the threshold is the one
the *solution's* run recorded) and also requires the solution to reach it.

The public split itself must not be readable in the sandbox either (else a nearest-neighbour
search over it would score): MNIST's test files are simply not mounted (a sandbox gets only the
``data`` files its assignment declares), and a set whose source ships with the Python
environment declares a ``mask``: files mounted over the originals in which the held-out rows are
blanked (scikit-learn's ``digits.csv.gz`` for ``digits-test``; the training rows stay as they
are). A submission that embeds a copy of a public test split in itself is beyond any grader.

Add a set by adding an entry to :data:`HELDOUT_SETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class HeldOutSet:
    """``load()`` -> public ``(X, y)`` (images (N, D) in ``[0, 1]``, integer labels (N,));
    ``size``: images per grading run (``None``: all); ``noise``, ``brightness``: see above;
    ``mask()`` -> ``{path: bytes}`` of files to mount over ``path`` in the sandbox."""

    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    size: int | None = None
    noise: float = 0.03
    brightness: float = 0.1
    mask: Callable[[], dict[str, bytes]] | None = None


def _digits_test():
    from nbkit.data import load_digits

    return load_digits("test", rng=0)


def _digits_mask() -> dict[str, bytes]:
    """scikit-learn's digits.csv.gz with the rows of the test split blanked (pixels and label
    0): ``load_digits("train")`` is unchanged, ``load_digits("test")`` holds no digits.

    Mounted at the path as the interpreter finds it (where the sandbox binds the environment)
    and at the path symlinks resolve to, so that a venv behind a symlinked folder is masked."""
    import gzip
    import os

    import sklearn.datasets

    given = Path(os.path.abspath(sklearn.datasets.__file__)).parent / "data" / "digits.csv.gz"
    rows = gzip.decompress(given.read_bytes()).decode("ascii").splitlines()
    X_test, _ = _digits_test()
    held = {tuple(int(round(v)) for v in x * 16) for x in np.asarray(X_test, dtype=np.float64)}
    out, blanked = [], 0
    for row in rows:
        values = row.split(",")
        if tuple(int(float(v)) for v in values[:-1]) in held:
            out.append(",".join(["0"] * len(values)))
            blanked += 1
        else:
            out.append(row)
    if blanked != len(held):
        raise RuntimeError(f"digits mask: blanked {blanked} rows, expected {len(held)}")
    data = gzip.compress(("\n".join(out) + "\n").encode("ascii"), mtime=0)
    return {str(given): data, str(given.resolve()): data}


def _mnist_test():
    from nbkit.data import load_mnist

    return load_mnist("test")


HELDOUT_SETS: dict[str, HeldOutSet] = {
    "digits-test": HeldOutSet(_digits_test, size=None, noise=0.03, mask=_digits_mask),
    "mnist-test": HeldOutSet(_mnist_test, size=None, noise=0.02),
}


def public_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The public ``(X, y)`` a held-out set is made from (for JupyterLab and the grader)."""
    return HELDOUT_SETS[name].load()


def make_heldout(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The transformed ``(X, y)`` of set ``name`` for the secret ``seed`` (see module doc)."""
    spec = HELDOUT_SETS[name]
    X, y = public_split(name)
    rng = np.random.default_rng([int(seed), *name.encode()])
    n = X.shape[0] if spec.size is None else min(spec.size, X.shape[0])
    idx = rng.permutation(X.shape[0])[:n]
    Xh = np.asarray(X[idx], dtype=np.float64)
    Xh = Xh * rng.uniform(1.0 - spec.brightness, 1.0, size=(n, 1))
    Xh = np.clip(Xh + spec.noise * rng.standard_normal(Xh.shape), 0.0, 1.0)
    return Xh.astype(np.asarray(X).dtype), np.asarray(y)[idx].copy()


def prepare(names: list[str], seed: int, folder: Path, masks: Path):
    """Write ``folder/<name>.npy`` (images only) for every set and its mask files below
    ``masks``; returns ``({name: labels}, {sandbox path: host file mounted over it})``."""
    folder.mkdir(parents=True, exist_ok=True)
    labels, mounts = {}, {}
    for name in names:
        if name not in HELDOUT_SETS:
            raise KeyError(f"unknown held-out set {name!r}; known: {sorted(HELDOUT_SETS)}")
        X, y = make_heldout(name, seed)
        np.save(folder / f"{name}.npy", X, allow_pickle=False)
        (folder / f"{name}.npy").chmod(0o644)
        labels[name] = y
        for k, (dest, data) in enumerate((HELDOUT_SETS[name].mask or dict)().items()):
            host = masks / f"{name}-{k}"
            masks.mkdir(parents=True, exist_ok=True, mode=0o755)
            host.write_bytes(data)
            host.chmod(0o644)
            mounts[dest] = str(host)
    folder.chmod(0o755)
    return labels, mounts
