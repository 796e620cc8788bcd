"""Tests for nbkit.data: real MNIST / Fashion-MNIST files from ../shared/data (NBKIT_DATA),
downloads (pooch) from mirrors served on 127.0.0.1 (no other network), toy sets, batching
and augmentation."""

import gzip
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
import scipy.ndimage as ndi

from nbkit import data
from nbkit.data import mnist

SHARED = Path(os.environ.get("NBKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MNIST_DIR = SHARED / "mnist"
FASHION_DIR = SHARED / "fashion-mnist"

needs_data = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
    or not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="shared MNIST/Fashion-MNIST files not available",
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ------------------------------------------------------------------------------------------
# Real data
# ------------------------------------------------------------------------------------------

@needs_data
def test_mnist_train_and_test():
    X, y = data.load_mnist("train")
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    assert abs(float(X.mean(dtype=np.float64)) - 0.1307) < 1e-3
    # pixel / 255 exactly: every value is k/255
    assert np.allclose(X[0] * 255, np.round(X[0] * 255), atol=1e-4)
    Xt, yt = data.load_mnist("test")
    assert Xt.shape == (10000, 784) and yt.shape == (10000,)
    assert np.bincount(yt).tolist() == MNIST_TEST_COUNTS
    assert yt[:5].tolist() == [7, 2, 1, 0, 4]


@needs_data
def test_mnist_cached_and_read_only():
    X1, y1 = data.load_mnist("test")
    X2, y2 = data.load_mnist("test")
    assert X1 is X2 and y1 is y2  # in-memory cache
    assert not X1.flags.writeable and not y1.flags.writeable
    with pytest.raises(ValueError):
        X1[0, 0] = 1.0
    Xc = X1.copy()
    Xc[0, 0] = 1.0  # copies are writable


@needs_data
def test_fashion_mnist():
    X, y = data.load_fashion_mnist("train")
    assert X.shape == (60000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [6000] * 10
    assert abs(float(X.mean(dtype=np.float64)) - 0.2860) < 1e-3
    Xt, yt = data.load_fashion_mnist("test")
    assert Xt.shape == (10000, 784) and np.bincount(yt).tolist() == [1000] * 10
    assert 0.0 <= Xt.min() and Xt.max() <= 1.0
    assert len(data.FASHION_CLASSES) == 10


@needs_data
def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


@needs_data
def test_data_dir_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("NBKIT_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    X, y = data.load_mnist("test", data_dir=MNIST_DIR)
    assert X.shape == (10000, 784) and np.bincount(y).tolist() == MNIST_TEST_COUNTS
    X, y = data.load_fashion_mnist("test", data_dir=str(FASHION_DIR))
    assert np.bincount(y).tolist() == [1000] * 10


@needs_data
def test_nbkit_data_lookup(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    for f in TEST_FILES:
        (root / "mnist" / f).symlink_to(MNIST_DIR / f)
    monkeypatch.setenv("NBKIT_DATA", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "_download", _no_network)
    X, y = data.load_mnist("test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    # Fashion files put under NBKIT_DATA/mnist/ fail the MNIST checksum
    (root / "mnist2").mkdir()
    for f in TEST_FILES:
        shutil.copy(FASHION_DIR / f, root / "mnist2" / f)
    with pytest.raises(data.CorruptDataError, match="checksum"):
        data.load_mnist("test", data_dir=root / "mnist2")


def _no_network(*args, **kwargs):
    raise AssertionError("network must not be touched in this test")


def test_missing_data_dir_raises_without_download(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "_download", _no_network)
    with pytest.raises(data.DataNotFoundError) as ei:
        data.load_mnist("train", data_dir=tmp_path)
    msg = str(ei.value)
    assert isinstance(ei.value, FileNotFoundError)
    assert "train-images-idx3-ubyte.gz" in msg and "NBKIT_DATA" in msg
    for f in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"):
        assert f in msg


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / "nbkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == Path.home() / ".cache" / "nbkit"


# ------------------------------------------------------------------------------------------
# Corrupt files
# ------------------------------------------------------------------------------------------

def _copy_test_split(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for f in TEST_FILES:
        shutil.copy(src / f, dst / f)
    return dst


@needs_data
def test_truncated_file_raises(tmp_path):
    d = _copy_test_split(MNIST_DIR, tmp_path / "m")
    p = d / "t10k-images-idx3-ubyte.gz"
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.CorruptDataError, match="t10k-images-idx3-ubyte.gz"):
        data.load_mnist("test", data_dir=d)


@needs_data
def test_corrupt_variants(tmp_path):
    d = _copy_test_split(MNIST_DIR, tmp_path / "m")
    img = d / "t10k-images-idx3-ubyte.gz"
    content = gzip.decompress((MNIST_DIR / TEST_FILES[0]).read_bytes())
    # not gzip at all
    img.write_bytes(b"hello, this is not gzip" * 10)
    with pytest.raises(data.CorruptDataError, match="gzip"):
        data.load_mnist("test", data_dir=d)
    # valid gzip, payload cut short -> size mismatch named
    img.write_bytes(gzip.compress(content[:-100], compresslevel=1))
    with pytest.raises(data.CorruptDataError, match="wrong size"):
        data.load_mnist("test", data_dir=d)
    # wrong magic (labels file under an images name)
    shutil.copy(MNIST_DIR / TEST_FILES[1], img)
    with pytest.raises(data.CorruptDataError, match="magic"):
        data.load_mnist("test", data_dir=d)
    # right structure, one pixel changed -> checksum mismatch
    bad = bytearray(content)
    bad[5000] ^= 0xFF
    img.write_bytes(gzip.compress(bytes(bad), compresslevel=1))
    with pytest.raises(data.CorruptDataError, match="checksum"):
        data.load_mnist("test", data_dir=d)
    # user files are never deleted
    assert img.is_file()


# ------------------------------------------------------------------------------------------
# Download path: pooch against mirrors served on 127.0.0.1
# ------------------------------------------------------------------------------------------

class Mirrors:
    """An HTTP server on 127.0.0.1 with one mirror per first path segment: /ok/<file> serves
    the real file, /down/ answers 503, /corrupt/ serves a valid gzip of altered content and
    /cut/ announces the full length but closes the connection halfway."""

    def __init__(self, src_dir):
        self.src_dir, self.log = src_dir, []
        mirrors = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirrors.log.append(self.path)
                kind, name = self.path.strip("/").split("/", 1)
                if kind == "down":
                    self.send_error(503, "mirror down")
                    return
                payload = (mirrors.src_dir / name).read_bytes()
                if kind == "corrupt":
                    altered = gzip.decompress(payload)[:-1] + b"\x07"
                    payload = gzip.compress(altered, compresslevel=1)
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if kind == "cut" else payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, kind):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{kind}/"

    def use(self, monkeypatch, dataset, *kinds):
        monkeypatch.setitem(mnist.MIRRORS, dataset, tuple(self.url(k) for k in kinds))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    monkeypatch.delenv("NBKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return tmp_path / "xdg" / "nbkit"


@pytest.fixture
def mirrors():
    m = Mirrors(MNIST_DIR)
    yield m
    m.close()


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file()) if folder.exists() else []


def test_archive_hashes_are_those_of_the_shared_files():
    """The .gz hashes pooch checks are the official archives'; the shared copies are those
    files, except MNIST's training images (rebuilt: only the gzip header differs), which the
    hash of the decompressed content accepts all the same."""
    import hashlib

    for dataset, folder in (("mnist", MNIST_DIR), ("fashion-mnist", FASHION_DIR)):
        for name, expected in mnist.ARCHIVE_SHA256[dataset].items():
            if not (folder / name).is_file():
                pytest.skip("shared MNIST/Fashion-MNIST files not available")
            raw = (folder / name).read_bytes()
            same = hashlib.sha256(raw).hexdigest() == expected
            assert same != (dataset == "mnist" and name.startswith("train-images")), name
            content = hashlib.sha256(gzip.decompress(raw)).hexdigest()
            assert content == mnist.SHA256[dataset][name], name


def test_missing_everywhere_download_fails(empty_env, mirrors, monkeypatch):
    mirrors.use(monkeypatch, "mnist", "down", "down")
    with pytest.raises(data.DataNotFoundError) as ei:
        data.load_mnist("test")
    msg = str(ei.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "NBKIT_DATA" in msg and "503" in msg
    assert mirrors.log == ["/down/t10k-images-idx3-ubyte.gz"] * 2  # both mirrors tried
    assert _leftovers(empty_env) == []
    # download=False: no attempt at all
    mirrors.log.clear()
    with pytest.raises(data.DataNotFoundError):
        data.load_mnist("test", download=False)
    assert mirrors.log == []


@needs_data
def test_download_into_cache(empty_env, mirrors, monkeypatch):
    mirrors.use(monkeypatch, "mnist", "ok")
    X, y = data.load_mnist("test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert mirrors.log == [f"/ok/{f}" for f in TEST_FILES]
    assert _leftovers(empty_env) == sorted(TEST_FILES)  # no temp files left
    for f in TEST_FILES:
        assert (empty_env / "mnist" / f).read_bytes() == (MNIST_DIR / f).read_bytes()
    # second call: found in the cache (pooch checks its hash), no network
    mirrors.log.clear()
    X2, _ = data.load_mnist("test")
    np.testing.assert_array_equal(X, X2)
    assert mirrors.log == []


@needs_data
def test_download_falls_back_to_second_mirror(empty_env, mirrors, monkeypatch):
    mirrors.use(monkeypatch, "mnist", "down", "ok")
    _, y = data.load_mnist("test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert mirrors.log == [f"/{k}/{f}" for f in TEST_FILES for k in ("down", "ok")]
    assert _leftovers(empty_env) == sorted(TEST_FILES)


@needs_data
def test_download_checksum_mismatch_tries_next_mirror(empty_env, mirrors, monkeypatch):
    mirrors.use(monkeypatch, "mnist", "corrupt", "ok")
    _, y = data.load_mnist("test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert len(mirrors.log) == 4
    # every mirror corrupt -> DataNotFoundError naming the hash mismatch, nothing written
    shutil.rmtree(empty_env)
    mirrors.use(monkeypatch, "mnist", "corrupt", "corrupt")
    with pytest.raises(data.DataNotFoundError, match="hash"):
        data.load_mnist("test")
    assert _leftovers(empty_env) == []


@needs_data
def test_interrupted_download_leaves_no_file(empty_env, mirrors, monkeypatch):
    mirrors.use(monkeypatch, "mnist", "cut", "cut")
    with pytest.raises(data.DataNotFoundError, match="t10k-images"):
        data.load_mnist("test")
    assert len(mirrors.log) == 2  # both mirrors tried
    assert _leftovers(empty_env) == []
    # Ctrl-C mid-stream propagates and also leaves nothing behind
    mirrors.use(monkeypatch, "mnist", "ok")

    def interrupted(self, *args, **kwargs):
        yield b"\x1f\x8b"
        raise KeyboardInterrupt

    monkeypatch.setattr(requests.Response, "iter_content", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.load_mnist("test")
    assert _leftovers(empty_env) == []


@needs_data
def test_corrupt_cached_file_is_redownloaded_once(empty_env, mirrors, monkeypatch):
    cached = _copy_test_split(MNIST_DIR, empty_env / "mnist")
    p = cached / TEST_FILES[1]
    p.write_bytes(p.read_bytes()[:100])
    # without download permission the corruption is reported
    monkeypatch.setattr(mnist, "_download", _no_network)
    with pytest.raises(data.CorruptDataError, match=TEST_FILES[1]):
        data.load_mnist("test", download=False)
    monkeypatch.undo()
    monkeypatch.delenv("NBKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty_env.parent))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    mirrors.use(monkeypatch, "mnist", "ok")
    _, y = data.load_mnist("test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert mirrors.log == [f"/ok/{TEST_FILES[1]}"]
    assert p.read_bytes() == (MNIST_DIR / TEST_FILES[1]).read_bytes()


@needs_data
def test_fashion_download(empty_env, monkeypatch):
    m = Mirrors(FASHION_DIR)
    try:
        m.use(monkeypatch, "fashion-mnist", "ok")
        _, y = data.load_fashion_mnist("test")
    finally:
        m.close()
    assert np.bincount(y).tolist() == [1000] * 10
    assert m.log == [f"/ok/{f}" for f in TEST_FILES]
    assert _leftovers(empty_env) == sorted(TEST_FILES)


# ------------------------------------------------------------------------------------------
# Splits, digits, toy sets
# ------------------------------------------------------------------------------------------

def test_validation_split():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    Xtr, ytr, Xva, yva = data.validation_split(X, y, 10, rng=3)
    assert Xtr.shape == (40, 2) and Xva.shape == (10, 2)
    assert sorted(ytr.tolist() + yva.tolist()) == list(range(50))
    np.testing.assert_array_equal(Xva[:, 0], 2 * yva)  # rows stay paired
    again = data.validation_split(X, y, 10, rng=3)
    np.testing.assert_array_equal(again[3], yva)
    assert not np.array_equal(data.validation_split(X, y, 10, rng=4)[3], yva)
    assert data.validation_split(X, y, 0.2, rng=0)[3].shape == (10,)
    for bad in (0, 50, -1):
        with pytest.raises(ValueError):
            data.validation_split(X, y, bad)
    with pytest.raises(ValueError):
        data.validation_split(X, y[:-1], 5)


def test_load_digits():
    X, y = data.load_digits("all")
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    Xtr, ytr = data.load_digits("train", test_size=0.25, rng=0)
    Xte, yte = data.load_digits("test", test_size=0.25, rng=0)
    assert len(yte) == 450 and len(ytr) == 1347
    # train + test together are exactly the full set (disjoint split)
    both = np.concatenate([Xtr, Xte])
    np.testing.assert_array_equal(both[np.lexsort(both.T)], X[np.lexsort(X.T)])
    assert np.bincount(np.concatenate([ytr, yte])).tolist() == np.bincount(y).tolist()
    np.testing.assert_array_equal(data.load_digits("test", rng=0)[1], yte)
    assert not np.array_equal(data.load_digits("test", rng=1)[0], Xte)
    with pytest.raises(ValueError):
        data.load_digits("valid")
    with pytest.raises(ValueError):
        data.load_digits("test", test_size=1.5)


@pytest.mark.parametrize("maker", [data.make_spirals, data.make_circles, data.make_xor])
def test_toy_sets_deterministic(maker):
    X1, y1 = maker(n=120, rng=5)
    X2, y2 = maker(n=120, rng=5)
    X3, _ = maker(n=120, rng=6)
    assert X1.shape == (120, 2) and X1.dtype == np.float32
    assert y1.shape == (120,) and y1.dtype == np.int64
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert np.all(np.isfinite(X1))


def test_toy_set_geometry():
    X, y = data.make_spirals(n=300, classes=3, noise=0.0, rng=0)
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-6)
    X, y = data.make_circles(n=200, noise=0.0, factor=0.3, rng=0)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-5)
    X, y = data.make_xor(n=200, noise=0.1, rng=0)
    assert np.mean((X[:, 0] * X[:, 1] < 0) == (y == 1)) > 0.99
    assert np.bincount(y).tolist() == [100, 100]
    with pytest.raises(ValueError):
        data.make_circles(n=10, factor=1.5)
    with pytest.raises(ValueError):
        data.make_spirals(n=10, noise=-1)


# ------------------------------------------------------------------------------------------
# one_hot, standardize
# ------------------------------------------------------------------------------------------

def test_one_hot():
    T = data.one_hot([2, 0, 1, 2])
    assert T.dtype == np.float32 and T.shape == (4, 3)
    np.testing.assert_array_equal(T, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert data.one_hot(np.array([1, 0]), 5).shape == (2, 5)
    assert data.one_hot(np.array([1.0, 3.0]), 4)[1, 3] == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        data.one_hot([0, -1, 2])
    with pytest.raises(ValueError, match="integer"):
        data.one_hot([0.5, 1.0])
    with pytest.raises(ValueError, match="num_classes"):
        data.one_hot([0, 3], num_classes=3)
    with pytest.raises(ValueError):
        data.one_hot([[0, 1]])
    with pytest.raises(TypeError):
        data.one_hot(["a", "b"])


def test_standardizer_fit_on_train_only():
    rng = np.random.default_rng(0)
    Xtr = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    Xtr[:, 3] = 7.0  # constant column
    Xte = rng.normal(5.0, 2.0, size=(200, 4)).astype(np.float32)
    Ztr, Zte = data.standardize(Xtr, Xte)
    assert Ztr.dtype == np.float32 and Zte.shape == (200, 4)
    np.testing.assert_allclose(Ztr[:, :3].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Ztr[:, :3].std(0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(Ztr[:, 3], 0.0)  # eps guard: no nan/inf
    assert np.all(np.isfinite(Zte))
    # test statistics not used: shifted test mean ~ (5-3)/2 = 1
    assert np.all(np.abs(Zte[:, :3].mean(0) - 1.0) < 0.25)
    s = data.Standardizer().fit(Xtr)  # scikit-learn's StandardScaler
    np.testing.assert_allclose(s.mean_[:3], Xtr[:, :3].mean(0), rtol=1e-5)
    np.testing.assert_allclose(s.scale_[:3], Xtr[:, :3].std(0), rtol=1e-5)
    assert s.scale_[3] == 1.0
    np.testing.assert_array_equal(s.transform(Xte), Zte)
    np.testing.assert_allclose(s.inverse_transform(s.transform(Xte)), Xte, rtol=1e-5, atol=1e-5)
    assert isinstance(data.standardize(Xtr), np.ndarray)
    with pytest.raises(ValueError, match="not fitted"):  # NotFittedError is a ValueError
        data.Standardizer().transform(Xtr)
    with pytest.raises(ValueError, match="4 features"):
        s.transform(Xtr[:, :2])
    with pytest.raises(ValueError, match="2D array"):
        data.standardize(Xtr[:, 0])


# ------------------------------------------------------------------------------------------
# minibatches
# ------------------------------------------------------------------------------------------

def test_minibatches_cover_each_index_once():
    N = 103
    X = np.arange(N * 2).reshape(N, 2)
    y = np.arange(N)
    batches = list(data.minibatches(X, y, 10, rng=np.random.default_rng(1)))
    assert [len(b[1]) for b in batches] == [10] * 10 + [3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(N))
    assert not np.array_equal(seen, np.arange(N))  # actually shuffled
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # pairs kept
    # deterministic per seed (int or Generator); without one, seed 0: the same order each call
    a = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=3)])
    b = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=np.random.default_rng(3))])
    c = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=4)])
    d1 = np.concatenate([yb for _, yb in data.minibatches(X, y, 7)])
    d2 = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=0)])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d1, d2)
    assert not np.array_equal(a, c)
    # a shared Generator gives a new order each epoch
    g = np.random.default_rng(0)
    e1 = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=g)])
    e2 = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=g)])
    assert not np.array_equal(e1, e2)
    # no shuffle: in order, as views of X and y (shuffled batches are new arrays)
    seq = np.concatenate([yb for _, yb in data.minibatches(X, y, 50, shuffle=False)])
    np.testing.assert_array_equal(seq, y)
    Xb, yb = next(data.minibatches(X, y, 50, shuffle=False))
    assert np.shares_memory(Xb, X) and np.shares_memory(yb, y)
    Xb, yb = next(data.minibatches(X, y, 50))
    assert not np.shares_memory(Xb, X) and not np.shares_memory(yb, y)
    assert len(list(data.minibatches(X, y, 1000))) == 1


def test_minibatches_validation():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        list(data.minibatches(X, np.zeros(4), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(data.minibatches(X, np.zeros(5), 0))
    with pytest.raises(TypeError):
        list(data.minibatches(X, np.zeros(5), 2.5))
    with pytest.raises(TypeError):
        list(data.minibatches(X, np.zeros(5), 2, rng="seed"))


# ------------------------------------------------------------------------------------------
# Augmentation
# ------------------------------------------------------------------------------------------

def _blob_images(n=4, side=28, seed=0):
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, side, side), dtype=np.float32)
    imgs[:, 8:20, 10:18] = rng.uniform(0.2, 1.0, size=(n, 12, 8))
    return imgs.reshape(n, side * side)


def test_shift_moves_pixels():
    X = np.zeros((1, 784), dtype=np.float32)
    X[0, 5 * 28 + 7] = 1.0  # row 5, col 7
    out = data.shift(X, 1, 0).reshape(28, 28)
    assert out[5, 8] == 1.0 and out.sum() == 1.0
    out = data.shift(X, 0, 2).reshape(28, 28)
    assert out[7, 7] == 1.0
    out = data.shift(X, -3, -1).reshape(28, 28)
    assert out[4, 4] == 1.0
    assert data.shift(X, 30, 0).sum() == 0.0  # shifted off the image
    assert data.shift(X, 0, 0).tobytes() == X.tobytes()
    # zero fill, dtype and single image shape kept
    img = np.arange(16, dtype=np.uint8)
    s = data.shift(img, 1, 0)
    assert s.dtype == np.uint8 and s.shape == (16,)
    np.testing.assert_array_equal(s.reshape(4, 4)[:, 0], 0)
    np.testing.assert_array_equal(s.reshape(4, 4)[:, 1:], img.reshape(4, 4)[:, :3])
    # per-image shifts
    Y = np.repeat(X, 2, axis=0)
    o = data.shift(Y, [1, 0], [0, 1]).reshape(2, 28, 28)
    assert o[0, 5, 8] == 1.0 and o[1, 6, 7] == 1.0
    with pytest.raises(ValueError):
        data.shift(X, 0.5, 0)
    with pytest.raises(ValueError, match="square"):
        data.shift(np.zeros((2, 10)), 1, 0)


def test_rotate_properties():
    X = _blob_images()
    np.testing.assert_array_equal(data.rotate(X, 0), X)
    R = data.rotate(X, 15)
    assert R.shape == X.shape and R.dtype == np.float32
    assert not np.allclose(R, X)
    np.testing.assert_allclose(R.sum(1), X.sum(1), rtol=0.03)
    # 90 degrees counter-clockwise == np.rot90 (exact grid)
    np.testing.assert_allclose(
        data.rotate(X[0], 90).reshape(28, 28), np.rot90(X[0].reshape(28, 28)), atol=1e-6)
    # matches scipy's bilinear rotation
    ref = ndi.rotate(X[1].reshape(28, 28), 23.0, reshape=False, order=1, mode="grid-constant")
    np.testing.assert_allclose(data.rotate(X[1], 23.0).reshape(28, 28), ref, atol=1e-5)
    # per-image angles
    per = data.rotate(X[:2], [0.0, 90.0])
    np.testing.assert_allclose(per[0], X[0])
    with pytest.raises(ValueError, match="180"):
        data.rotate(X, 200)
    with pytest.raises(ValueError):
        data.rotate(X, np.nan)


def test_augment():
    X = _blob_images(n=6)
    y = np.arange(6)
    Xa, ya = data.augment(X, y, rng=np.random.default_rng(0), max_shift=2, max_degrees=15,
                          copies=2)
    assert Xa.shape == (18, 784) and ya.tolist() == list(range(6)) * 3
    np.testing.assert_array_equal(Xa[:6], X)
    assert not np.allclose(Xa[6:12], X)
    np.testing.assert_allclose(Xa.sum(1), np.tile(X.sum(1), 3), rtol=0.05)
    Xb, _ = data.augment(X, y, rng=0, copies=2)
    Xc, _ = data.augment(X, y, copies=2)  # rng None is seed 0
    np.testing.assert_array_equal(Xb, Xc)
    # no transformation possible -> exact copies
    Xd, _ = data.augment(X, y, rng=1, max_shift=0, max_degrees=0)
    np.testing.assert_array_equal(Xd[6:], X)
    # labels optional; rng is a keyword (never taken for y)
    assert data.augment(X, rng=np.random.default_rng(0)).shape == (12, 784)
    with pytest.raises(TypeError):
        data.augment(X, y, 0)
    with pytest.raises(ValueError):
        data.augment(X, y[:3])
    with pytest.raises(ValueError):
        data.augment(X, y, max_degrees=270)
    with pytest.raises(ValueError):
        data.augment(X, y, max_shift=-1)
    with pytest.raises(ValueError, match="max_shift must be an integer in"):
        data.augment(X, y, max_shift=28)
