"""Datasets, toy problems, mini-batches and image augmentation (batch-first: ``X`` is ``(N, D)``).

Loaders
-------
``load_mnist`` / ``load_fashion_mnist`` read the four standard gzipped IDX files::

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

Each file is looked up, in this order:

1. ``data_dir`` (if given; then *only* there -- a missing file is an error, nothing is downloaded);
2. ``$NBKIT_DATA/mnist/`` (resp. ``$NBKIT_DATA/fashion-mnist/``) if the variable is set;
3. the user cache ``$XDG_CACHE_HOME/nbkit/<name>/`` (default ``~/.cache/nbkit/<name>/``);
4. a download from the standard mirrors into that cache (progress bar, SHA-256 check of the
   decompressed content, atomic write: temp file in the same folder + ``os.replace``).

Every file is checked when first read in a process: gzip integrity, IDX magic number, dimensions,
item count against the byte length, and the SHA-256 of the decompressed bytes against
:data:`SHA256`. Problems raise :class:`CorruptDataError` (naming the file and the fault); a corrupt
file in the *cache* folder is deleted and downloaded again once. Nothing found anywhere raises
:class:`DataNotFoundError` saying which files to put where.

Decoded arrays are cached in memory (``functools.lru_cache``, keyed by file path, size and mtime),
so a second call is instant. **The returned arrays are read-only views of that cache**: call
``X.copy()`` before modifying them in place (all functions in this module return new arrays).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import numbers
import os
import tempfile
import zlib
from pathlib import Path
from urllib import request as _request

import numpy as np

from nbkit.rng import as_generator

__all__ = [
    "DataNotFoundError",
    "CorruptDataError",
    "SHA256",
    "MIRRORS",
    "FILES",
    "FASHION_CLASSES",
    "cache_dir",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "validation_split",
    "make_spirals",
    "make_circles",
    "make_xor",
    "one_hot",
    "Standardizer",
    "standardize",
    "minibatches",
    "shift",
    "rotate",
    "augment",
]


class DataNotFoundError(FileNotFoundError):
    """A dataset file is neither on disk nor downloadable."""


class CorruptDataError(ValueError):
    """A dataset file is truncated, not gzip, has a wrong IDX header, or a wrong checksum."""


# --------------------------------------------------------------------------------------------
# Dataset tables
# --------------------------------------------------------------------------------------------

#: split -> (images file, labels file)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: dataset folder name -> mirror base URLs, tried in order
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: dataset folder name -> file name -> SHA-256 of the *decompressed* file
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz":
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz":
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz":
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dims (count, rows, cols)
_IDX_LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dim (count)
_DOWNLOAD_TIMEOUT = 60.0  # seconds per network operation
_CHUNK = 1 << 16


def cache_dir() -> Path:
    """User cache folder for downloads: ``$XDG_CACHE_HOME/nbkit`` or ``~/.cache/nbkit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "nbkit"


# --------------------------------------------------------------------------------------------
# IDX decoding (cached per file)
# --------------------------------------------------------------------------------------------

def _decompress(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorruptDataError(f"{path}: cannot read file ({e})") from e
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise CorruptDataError(
            f"{path}: not a valid gzip file or truncated ({type(e).__name__}: {e}); "
            "expected a complete gzipped IDX file (delete it and download it again)"
        ) from e


def _check_sha256(path, content: bytes, dataset: str, name: str | None = None) -> None:
    """Compare SHA-256(content) with :data:`SHA256` for file ``name`` (default ``path``'s name)."""
    expected = SHA256[dataset].get(name or Path(path).name)
    if expected is None:
        return
    got = hashlib.sha256(content).hexdigest()
    if got != expected:
        raise CorruptDataError(
            f"{path}: checksum mismatch: SHA-256 of the decompressed content is {got}, "
            f"expected {expected} (the original {dataset} file)"
        )


def _parse_idx(path: Path, content: bytes, kind: str) -> np.ndarray:
    """Decode IDX bytes: images -> uint8 (N, rows*cols), labels -> uint8 (N,)."""
    magic_expected = _IDX_IMAGES_MAGIC if kind == "images" else _IDX_LABELS_MAGIC
    header_len = 16 if kind == "images" else 8
    if len(content) < header_len:
        raise CorruptDataError(
            f"{path}: truncated: {len(content)} bytes decompressed, shorter than the "
            f"{header_len}-byte IDX {kind} header"
        )
    header = np.frombuffer(content, dtype=">u4", count=header_len // 4)
    magic = int(header[0])
    if magic != magic_expected:
        raise CorruptDataError(
            f"{path}: wrong IDX magic number {magic} (0x{magic:08x}); expected {magic_expected} "
            f"for {kind} -- is this the right file?"
        )
    n = int(header[1])
    if kind == "images":
        rows, cols = int(header[2]), int(header[3])
        if rows != 28 or cols != 28:
            raise CorruptDataError(f"{path}: wrong image size {rows}x{cols}; expected 28x28")
        item = rows * cols
    else:
        item = 1
    expected_len = header_len + n * item
    if len(content) != expected_len:
        raise CorruptDataError(
            f"{path}: wrong size: header says {n} {kind} -> {expected_len} bytes, "
            f"but the decompressed file has {len(content)} bytes (truncated or corrupt)"
        )
    arr = np.frombuffer(content, dtype=np.uint8, offset=header_len)
    if kind == "images":
        return arr.reshape(n, item)
    if n and int(arr.max()) > 9:
        raise CorruptDataError(f"{path}: label {int(arr.max())} out of range 0..9")
    return arr


@functools.lru_cache(maxsize=16)
def _decode_cached(path_str: str, size: int, mtime_ns: int, kind: str, dataset: str):
    """Read, verify and decode one file; images -> float32 (N, 784) in [0,1], labels -> int64.

    Keyed on (path, size, mtime) so a replaced file is re-read; results are read-only.
    """
    path = Path(path_str)
    content = _decompress(path)
    arr = _parse_idx(path, content, kind)
    _check_sha256(path, content, dataset)
    if kind == "images":
        out = np.divide(arr, np.float32(255.0), dtype=np.float32)  # x = pixel / 255
    else:
        out = arr.astype(np.int64)
    out.flags.writeable = False
    return out


def _decode(path: Path, kind: str, dataset: str) -> np.ndarray:
    st = path.stat()
    return _decode_cached(str(path.resolve()), st.st_size, st.st_mtime_ns, kind, dataset)


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------

def _download(url: str, dest: Path, dataset: str) -> None:
    """Download ``url`` to ``dest`` atomically and verify the decompressed SHA-256.

    The bytes go to a temp file in ``dest``'s folder, which is renamed onto ``dest`` with
    ``os.replace`` only after the checksum matched; on any error (also KeyboardInterrupt) the
    temp file is removed, so ``dest`` is never half-written.
    """
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh, _request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as resp:
            length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            total = int(length) if length and str(length).isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=f"{dataset}/{dest.name}", leave=False) as bar:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and tmp.stat().st_size != total:
            raise CorruptDataError(
                f"{url}: download incomplete ({tmp.stat().st_size} of {total} bytes)"
            )
        content = _decompress(tmp)
        _check_sha256(url, content, dataset, name=dest.name)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _not_found_message(dataset: str, files: tuple[str, ...], searched: list[str],
                       errors: list[str]) -> str:
    all_files = [f for pair in FILES.values() for f in pair]
    lines = [
        f"{dataset} files not found: {', '.join(files)}.",
        "Looked in: " + ("; ".join(searched) if searched else "(nowhere)") + ".",
    ]
    if errors:
        lines.append("Download failed: " + " | ".join(errors))
    lines.append(
        f"Fix: put the four files {', '.join(all_files)} into a folder <DIR>/{dataset}/ and set "
        f"the environment variable NBKIT_DATA=<DIR> (or pass data_dir=<DIR>/{dataset}), "
        f"or place them in {cache_dir() / dataset}/."
    )
    return "\n".join(lines)


def _locate(dataset: str, fname: str, data_dir, download: bool) -> tuple[Path, bool]:
    """Return (path, is_cache) for one file, downloading into the cache if needed."""
    if data_dir is not None:
        p = Path(data_dir).expanduser() / fname
        if p.is_file():
            return p, False
        raise DataNotFoundError(
            _not_found_message(dataset, (fname,), [f"data_dir={Path(data_dir)}"], [])
        )
    searched = []
    env = os.environ.get("NBKIT_DATA")
    if env:
        p = Path(env).expanduser() / dataset / fname
        if p.is_file():
            return p, False
        searched.append(f"NBKIT_DATA -> {p.parent}")
    else:
        searched.append("NBKIT_DATA (not set)")
    p = cache_dir() / dataset / fname
    if p.is_file():
        return p, True
    searched.append(f"cache {p.parent}")
    if not download:
        raise DataNotFoundError(_not_found_message(dataset, (fname,), searched, []))
    _fetch(dataset, fname, p, searched)
    return p, True


def _fetch(dataset: str, fname: str, dest: Path, searched: list[str]) -> None:
    errors = []
    for base in MIRRORS[dataset]:
        url = base + fname
        try:
            _download(url, dest, dataset)
            return
        except Exception as e:  # noqa: BLE001 -- any failure: try the next mirror
            errors.append(f"{url}: {type(e).__name__}: {e}")
    raise DataNotFoundError(_not_found_message(dataset, (fname,), searched, errors))


def _load_file(dataset: str, fname: str, kind: str, data_dir, download: bool) -> np.ndarray:
    path, is_cache = _locate(dataset, fname, data_dir, download)
    try:
        return _decode(path, kind, dataset)
    except CorruptDataError:
        if not (is_cache and download):
            raise
    # a corrupt cached file: delete it and download again, once
    path.unlink(missing_ok=True)
    _fetch(dataset, fname, path, [f"cache {path.parent} (corrupt file deleted)"])
    return _decode(path, kind, dataset)


def _load_idx_dataset(dataset: str, split: str, data_dir, download: bool):
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    img_name, lab_name = FILES[split]
    X = _load_file(dataset, img_name, "images", data_dir, download)
    y = _load_file(dataset, lab_name, "labels", data_dir, download)
    if X.shape[0] != y.shape[0]:
        raise CorruptDataError(
            f"{dataset} {split}: {X.shape[0]} images but {y.shape[0]} labels"
        )
    return X, y


def load_mnist(split: str = "train", data_dir=None, *, download: bool = True):
    """Load MNIST handwritten digits.

    Returns ``X`` float32 ``(N, 784)`` with ``X = pixels / 255`` in [0, 1] (rows of the 28x28
    image concatenated) and ``y`` int64 ``(N,)`` in 0..9; N = 60000 (train) or 10000 (test).

    ``data_dir``: folder holding the four IDX ``.gz`` files (standard names); if not given,
    ``$NBKIT_DATA/mnist/``, then the cache folder (:func:`cache_dir`), then a download
    (``download=False`` forbids it). See the module docstring for the checks made.

    The arrays are **read-only** (shared with an in-memory cache): use ``X.copy()`` to edit.
    Raises :class:`DataNotFoundError` or :class:`CorruptDataError`.
    """
    return _load_idx_dataset("mnist", split, data_dir, download)


def load_fashion_mnist(split: str = "train", data_dir=None, *, download: bool = True):
    """Load Fashion-MNIST (Zalando): same format and rules as :func:`load_mnist`.

    Folder under ``$NBKIT_DATA`` and the cache: ``fashion-mnist/``. Class names 0..9 are in
    :data:`FASHION_CLASSES` (T-shirt/top, Trouser, ..., Ankle boot).
    """
    return _load_idx_dataset("fashion-mnist", split, data_dir, download)


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


# --------------------------------------------------------------------------------------------
# Small helpers for validation
# --------------------------------------------------------------------------------------------



def _check_int(value, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_noise(noise) -> float:
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    return noise


# --------------------------------------------------------------------------------------------
# Splits and small datasets
# --------------------------------------------------------------------------------------------

def validation_split(X, y, n_val, seed=0):
    """Hold out a random validation set.

    ``n_val``: number of validation examples (int, 1..N-1) or a fraction in (0, 1).
    Returns ``X_train, y_train, X_val, y_val`` (new arrays; each part keeps the original order).
    Deterministic for a given ``seed`` (int or Generator).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same length, got {X.shape[0]} and {y.shape[0]}")
    n = X.shape[0]
    if isinstance(n_val, float) and not isinstance(n_val, bool):
        if not 0.0 < n_val < 1.0:
            raise ValueError(f"a fractional n_val must be in (0, 1), got {n_val}")
        n_val = int(round(n_val * n))
    n_val = _check_int(n_val, "n_val", 1)
    if n_val >= n:
        raise ValueError(f"n_val must be < the number of examples ({n}), got {n_val}")
    perm = as_generator(seed, "seed").permutation(n)
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    return X[train_idx], y[train_idx], X[val_idx], y[val_idx]


def load_digits(split: str = "all", test_size: float = 0.25, seed=0):
    """scikit-learn's bundled 8x8 digits (1797 images, offline).

    Returns ``X`` float32 ``(N, 64)`` = pixel / 16 in [0, 1] and ``y`` int64 ``(N,)`` in 0..9.
    ``split``: "all", or "train"/"test" from one random permutation (``seed``) with
    ``ceil(test_size * 1797)`` test examples; train and test are disjoint and together all data.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    from sklearn.datasets import load_digits as _sk_load_digits

    d = _sk_load_digits()
    X = (np.asarray(d.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(d.target, dtype=np.int64)
    if split == "all":
        return X, y
    n = X.shape[0]
    n_test = math.ceil(test_size * n)
    perm = as_generator(seed, "seed").permutation(n)
    idx = np.sort(perm[:n_test] if split == "test" else perm[n_test:])
    return X[idx], y[idx]


def _shuffle_xy(X, y, rng):
    perm = rng.permutation(X.shape[0])
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def make_spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed=0):
    """Interleaved spirals (CS231n style), shuffled.

    Class k gets about n/classes points with radius r in linspace(0, 1) and angle
    ``t = 4 k + 4 r + noise * N(0,1)`` (radians); ``x = (r sin t, r cos t)``.
    Returns X float32 (n, 2), y int64 (n,).
    """
    n = _check_int(n, "n", 1)
    classes = _check_int(classes, "classes", 2)
    noise = _check_noise(noise)
    rng = as_generator(seed, "seed")
    counts = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    Xs, ys = [], []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, k))
    return _shuffle_xy(np.concatenate(Xs), np.concatenate(ys), rng)


def make_circles(n: int = 200, noise: float = 0.1, factor: float = 0.5, seed=0):
    """Two concentric circles: label 0 on radius 1, label 1 on radius ``factor`` (0<factor<1),
    plus Gaussian noise of std ``noise`` on each coordinate. Returns X float32 (n,2), y int64."""
    n = _check_int(n, "n", 2)
    noise = _check_noise(noise)
    factor = float(factor)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be in (0, 1), got {factor}")
    rng = as_generator(seed, "seed")
    n_out = n - n // 2
    n_in = n // 2
    t_out = rng.uniform(0, 2 * np.pi, n_out)
    t_in = rng.uniform(0, 2 * np.pi, n_in)
    X = np.concatenate([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        factor * np.column_stack([np.cos(t_in), np.sin(t_in)]),
    ])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return _shuffle_xy(X, y, rng)


def make_xor(n: int = 200, noise: float = 0.2, seed=0):
    """XOR: four Gaussian blobs (std ``noise``) at (+-1, +-1); label 1 where the two centre
    coordinates have different signs (x1 * x2 < 0 at the centre), else 0.
    Returns X float32 (n, 2), y int64 (n,)."""
    n = _check_int(n, "n", 1)
    noise = _check_noise(noise)
    rng = as_generator(seed, "seed")
    corners = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    which = np.arange(n) % 4
    centres = corners[which]
    X = centres + noise * rng.standard_normal((n, 2))
    y = (centres[:, 0] * centres[:, 1] < 0).astype(np.int64)
    return _shuffle_xy(X, y, rng)


# --------------------------------------------------------------------------------------------
# Encoding and scaling
# --------------------------------------------------------------------------------------------

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
        num_classes = _check_int(num_classes, "num_classes", 1)
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


# --------------------------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------------------------

def minibatches(X, y, batch_size: int, rng=None, shuffle: bool = True):
    """Yield ``(X_b, y_b)`` mini-batches covering every example exactly once.

    With ``shuffle`` the order is a permutation drawn from ``rng`` (Generator, int seed, or None
    = nbkit's default stream, see :mod:`nbkit.rng`; pass one Generator for every epoch to get a
    new order each epoch); each batch is gathered with one fancy-indexing step. Without
    shuffle the batches are slices (views) in order. The last batch may be smaller.
    ``y`` may be None (then ``y_b`` is None).
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("minibatches: X must have a batch dimension (N, ...)")
    n = X.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"minibatches: X and y must have the same length, "
                             f"got {n} and {y.shape[0] if y.ndim else 'a scalar'}")
    batch_size = _check_int(batch_size, "batch_size", 1)
    if shuffle:
        order = as_generator(rng).permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield X[idx], (None if y is None else y[idx])
    else:
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            yield X[sl], (None if y is None else y[sl])


# --------------------------------------------------------------------------------------------
# Augmentation of square images stored flattened (N, side*side)
# --------------------------------------------------------------------------------------------

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
    imgs = X.reshape(-1, side, side)
    return imgs, single, side


def _per_image(value, n, name, integer):
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    elif arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    if integer:
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                     or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"{name} must be integer pixel counts, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and (
                not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
            raise ValueError(f"{name} must be whole pixels, got {value!r}")
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def shift(X, dx, dy):
    """Translate square images by whole pixels with zero fill.

    ``out[r, c] = in[r - dy, c - dx]`` (0 outside): ``dx > 0`` moves right, ``dy > 0`` moves down.
    ``X``: (N, side*side) or (D,); ``dx``, ``dy``: ints or per-image int arrays (N,).
    Returns a new array of the same shape and dtype.
    """
    imgs, single, side = _as_images(X, "shift")
    n = imgs.shape[0]
    dxs = _per_image(dx, n, "dx", integer=True)
    dys = _per_image(dy, n, "dy", integer=True)
    out = np.zeros_like(imgs)
    pairs = np.stack([dxs, dys], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for j, (sx, sy) in enumerate(uniq):
        sx, sy = int(sx), int(sy)
        if abs(sx) >= side or abs(sy) >= side:
            continue  # shifted entirely out: zeros
        sel = np.flatnonzero(inverse == j)
        src_r = slice(max(0, -sy), side - max(0, sy))
        dst_r = slice(max(0, sy), side - max(0, -sy))
        src_c = slice(max(0, -sx), side - max(0, sx))
        dst_c = slice(max(0, sx), side - max(0, -sx))
        if len(sel) == n:
            out[:, dst_r, dst_c] = imgs[:, src_r, src_c]
        else:
            out[sel, dst_r, dst_c] = imgs[sel, src_r, src_c]
    out = out.reshape(-1, side * side)
    return out[0] if single else out


def rotate(X, degrees):
    """Rotate square images about their centre by ``degrees`` (counter-clockwise as displayed
    with ``imshow``), bilinear interpolation, zero fill, same size.

    Output pixel ``p = (r, c)`` samples the input at ``c0 + R(-theta)(p - c0)`` with centre
    ``c0 = ((side-1)/2, (side-1)/2)`` -- the same as
    ``scipy.ndimage.rotate(img, degrees, reshape=False, order=1, mode="grid-constant")``.
    ``X``: (N, side*side) or (D,); ``degrees``: scalar or per-image (N,), each in [-180, 180].
    Returns float (input float dtype kept, else float32), same shape as ``X``.
    """
    imgs, single, side = _as_images(X, "rotate")
    n = imgs.shape[0]
    deg = _per_image(degrees, n, "degrees", integer=False)
    if np.any(np.abs(deg) > 180):
        raise ValueError(f"degrees must be in [-180, 180], got {degrees!r}")
    dtype = imgs.dtype if np.issubdtype(imgs.dtype, np.floating) else np.float32
    out = np.empty((n, side, side), dtype=dtype)
    if n == 0:
        return out.reshape(-1, side * side)
    theta = np.deg2rad(deg)
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    cen = (side - 1) / 2.0
    rr, cc = np.meshgrid(np.arange(side) - cen, np.arange(side) - cen, indexing="ij")
    flat = imgs.reshape(n, -1)
    chunk = max(1, (1 << 21) // (side * side))  # bound temporary memory
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        c_, s_ = cos[s:e], sin[s:e]
        # inverse map (rows point down, so a CCW turn on screen is R(-theta) in (row, col))
        src_r = c_ * rr + s_ * cc + cen
        src_c = -s_ * rr + c_ * cc + cen
        r0 = np.floor(src_r)
        c0 = np.floor(src_c)
        fr = src_r - r0
        fc = src_c - c0
        r0 = r0.astype(np.int64)
        c0 = c0.astype(np.int64)
        base = (np.arange(e - s) * side * side)[:, None, None]
        src = flat[s:e].reshape(-1)
        acc = np.zeros((e - s, side, side), dtype=np.float64)
        for dr, wr in ((0, 1.0 - fr), (1, fr)):
            for dc, wc in ((0, 1.0 - fc), (1, fc)):
                ri = r0 + dr
                ci = c0 + dc
                ok = (ri >= 0) & (ri < side) & (ci >= 0) & (ci < side)
                idx = base + np.clip(ri, 0, side - 1) * side + np.clip(ci, 0, side - 1)
                acc += np.where(ok, wr * wc * src[idx], 0.0)
        out[s:e] = acc
    out = out.reshape(n, side * side)
    return out[0] if single else out


def augment(X, y=None, rng=None, max_shift: int = 2, max_degrees: float = 15.0, copies: int = 1):
    """Originals plus ``copies`` randomly rotated-then-shifted copies of every image.

    Each copy of image n gets an angle ~ U[-max_degrees, max_degrees] (:func:`rotate`) and
    integer shifts dx, dy ~ U{-max_shift..max_shift} (:func:`shift`).
    ``X``: (N, side*side); ``y``: (N,) labels or None; ``rng``: Generator / int seed / None (0).
    Returns ``(X_aug, y_aug)`` with ``(1 + copies) * N`` rows -- the first N are the originals,
    then copy 1 of all images, copy 2, ... -- or ``X_aug`` alone when ``y`` is None.
    ``augment(X, rng)`` (a Generator as second argument) is accepted too.
    """
    if isinstance(y, np.random.Generator) and rng is None:
        y, rng = None, y
    imgs, single, side = _as_images(X, "augment")
    if single:
        raise ValueError("augment: X must be 2-D (N, side*side)")
    X = np.asarray(X)
    n = X.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.shape[:1] != (n,):
            raise ValueError(f"augment: X and y must have the same length, got {n} and "
                             f"{y.shape[0] if y.ndim else 'a scalar'}")
    max_shift = _check_int(max_shift, "max_shift", 0)
    if max_shift >= side:
        raise ValueError(f"max_shift must be < image side {side}, got {max_shift}")
    max_degrees = float(max_degrees)
    if not 0.0 <= max_degrees <= 180.0:
        raise ValueError(f"max_degrees must be in [0, 180], got {max_degrees}")
    copies = _check_int(copies, "copies", 0)
    rng = as_generator(rng)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float32
    parts = [X.astype(dtype, copy=False)]
    for _ in range(copies):
        ang = rng.uniform(-max_degrees, max_degrees, n)
        dx = rng.integers(-max_shift, max_shift + 1, n)
        dy = rng.integers(-max_shift, max_shift + 1, n)
        parts.append(shift(rotate(X, ang), dx, dy).astype(dtype, copy=False))
    X_aug = np.concatenate(parts, axis=0)
    if y is None:
        return X_aug
    return X_aug, np.concatenate([y] * (copies + 1), axis=0)
