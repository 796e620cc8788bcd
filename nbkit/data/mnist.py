"""MNIST and Fashion-MNIST: find, download (with pooch), verify and decode the IDX files.

``load_mnist`` / ``load_fashion_mnist`` read the four standard gzipped IDX files (:data:`FILES`),
each looked up, in this order:

1. ``data_dir`` (if given; then *only* there -- a missing file is an error, nothing is downloaded);
2. ``$NBKIT_DATA/mnist/`` (resp. ``$NBKIT_DATA/fashion-mnist/``) if the variable is set;
3. the user cache ``$XDG_CACHE_HOME/nbkit/<name>/`` (default ``~/.cache/nbkit/<name>/``), kept by
   ``pooch.retrieve``: a file there with the SHA-256 of the official archive
   (:data:`ARCHIVE_SHA256`) is used, a missing or different one is downloaded from the
   :data:`MIRRORS` (unless ``download=False``), checked the same way and written atomically
   (temporary file, then a rename): a failed or interrupted download leaves nothing behind.

Every file is checked when first read in a process, wherever it came from: gzip integrity, IDX
magic number, dimensions, item count against the byte length, and the SHA-256 of the
*decompressed* bytes (:data:`SHA256`), which accepts a correct copy however it was compressed
(the course's copy of the MNIST training images differs from the official archive in the gzip
header only). Faults raise :class:`CorruptDataError` naming the file; nothing found anywhere
raises :class:`DataNotFoundError` saying which files to put where.

Decoded arrays are cached in memory (keyed by file path, size and mtime), so a second call is
instant. **The returned arrays are read-only views of that cache**: copy before editing.
"""

import functools
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np


class DataNotFoundError(FileNotFoundError):
    """A dataset file is neither on disk nor downloadable."""


class CorruptDataError(ValueError):
    """A dataset file is truncated, not gzip, has a wrong IDX header, or a wrong checksum."""


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

#: dataset folder name -> file name -> (SHA-256 of the official .gz archive, checked by pooch;
#: SHA-256 of the decompressed file, checked on every first read)
_HASHES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    },
}
ARCHIVE_SHA256 = {d: {f: h[0] for f, h in fs.items()} for d, fs in _HASHES.items()}
SHA256 = {d: {f: h[1] for f, h in fs.items()} for d, fs in _HASHES.items()}

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_DOWNLOAD_TIMEOUT = 60.0  # seconds per network operation


def cache_dir() -> Path:
    """User cache folder for downloads: ``$XDG_CACHE_HOME/nbkit`` or ``~/.cache/nbkit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "nbkit"


# --------------------------------------------------------------- IDX decoding (cached per file)
def _parse_idx(path: Path, content: bytes, kind: str) -> np.ndarray:
    """Decode IDX bytes: images -> uint8 (N, 28*28), labels -> uint8 (N,) in 0..9.

    Header: big-endian uint32 magic (2051 = 0x803 images: uint8, 3 dims; 2049 = 0x801
    labels: 1 dim), item count N, then rows and cols for images; then N items of uint8.
    """
    magic, header_len, item = (2051, 16, 28 * 28) if kind == "images" else (2049, 8, 1)
    if len(content) < header_len:
        raise CorruptDataError(f"{path}: truncated: {len(content)} bytes decompressed, shorter "
                               f"than the {header_len}-byte IDX {kind} header")
    header = [int(v) for v in np.frombuffer(content, dtype=">u4", count=header_len // 4)]
    if header[0] != magic:
        raise CorruptDataError(f"{path}: wrong IDX magic number {header[0]} (0x{header[0]:08x}); "
                               f"expected {magic} for {kind} -- is this the right file?")
    if kind == "images" and header[2:] != [28, 28]:
        raise CorruptDataError(f"{path}: wrong image size {header[2]}x{header[3]}; "
                               "expected 28x28")
    n = header[1]
    if len(content) != header_len + n * item:
        raise CorruptDataError(
            f"{path}: wrong size: header says {n} {kind} -> {header_len + n * item} bytes, "
            f"but the decompressed file has {len(content)} bytes (truncated or corrupt)")
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
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorruptDataError(f"{path}: cannot read file ({e})") from e
    try:
        content = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise CorruptDataError(f"{path}: not a valid gzip file or truncated ({type(e).__name__}:"
                               f" {e}); expected a complete gzipped IDX file (delete it and "
                               "download it again)") from e
    arr = _parse_idx(path, content, kind)
    expected, got = SHA256[dataset].get(path.name), hashlib.sha256(content).hexdigest()
    if expected is not None and got != expected:
        raise CorruptDataError(f"{path}: checksum mismatch: SHA-256 of the decompressed content "
                               f"is {got}, expected {expected} (the original {dataset} file)")
    if kind == "images":
        out = np.divide(arr, np.float32(255.0), dtype=np.float32)  # x = pixel / 255
    else:
        out = arr.astype(np.int64)
    out.flags.writeable = False
    return out


def _decode(path: Path, kind: str, dataset: str) -> np.ndarray:
    st = path.stat()
    return _decode_cached(str(path.resolve()), st.st_size, st.st_mtime_ns, kind, dataset)


# ---------------------------------------------------------------------- Finding and downloading
def _not_found(dataset: str, fname: str, searched: list[str], errors=()):
    files = ", ".join(f for pair in FILES.values() for f in pair)
    lines = [f"{dataset} file not found: {fname}.",
             "Looked in: " + ("; ".join(searched) if searched else "(nowhere)") + "."]
    if errors:
        lines.append("Download failed: " + " | ".join(errors))
    lines.append(f"Fix: put the four files {files} into a folder <DIR>/{dataset}/ and set the "
                 f"environment variable NBKIT_DATA=<DIR> (or pass data_dir=<DIR>/{dataset}), "
                 f"or place them in {cache_dir() / dataset}/.")
    return DataNotFoundError("\n".join(lines))


def _download(dataset: str, fname: str, searched: list[str]) -> Path:
    """Download one file into the cache with pooch, trying each mirror in turn."""
    import pooch

    errors = []
    for base in MIRRORS[dataset]:
        try:
            return Path(pooch.retrieve(
                base + fname, known_hash=f"sha256:{ARCHIVE_SHA256[dataset][fname]}", fname=fname,
                path=cache_dir() / dataset,
                downloader=pooch.HTTPDownloader(progressbar=True, timeout=_DOWNLOAD_TIMEOUT)))
        except Exception as e:  # noqa: BLE001 -- any failure: try the next mirror
            errors.append(f"{base + fname}: {type(e).__name__}: {e}")
    raise _not_found(dataset, fname, searched, errors)


def _path(dataset: str, fname: str, data_dir, download: bool) -> Path:
    """Where one file is: data_dir, else $NBKIT_DATA, else the cache (downloaded if needed)."""
    if data_dir is not None:
        p = Path(data_dir).expanduser() / fname
        if p.is_file():
            return p
        raise _not_found(dataset, fname, [f"data_dir={p.parent}"])
    env = os.environ.get("NBKIT_DATA")
    p = Path(env).expanduser() / dataset / fname if env else None
    if p is not None and p.is_file():
        return p
    cached = cache_dir() / dataset / fname
    searched = [f"NBKIT_DATA -> {p.parent}" if env else "NBKIT_DATA (not set)",
                f"cache {cached.parent}"]
    if download:  # pooch returns a cached file whose hash matches, else downloads it anew
        return _download(dataset, fname, searched)
    if cached.is_file():
        return cached
    raise _not_found(dataset, fname, searched)


def _load_idx_dataset(dataset: str, split: str, data_dir, download: bool):
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    X, y = (_decode(_path(dataset, f, data_dir, download), kind, dataset)
            for f, kind in zip(FILES[split], ("images", "labels"), strict=True))
    if X.shape[0] != y.shape[0]:
        raise CorruptDataError(f"{dataset} {split}: {X.shape[0]} images but {y.shape[0]} labels")
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
