"""Training speed of nbkit against PyTorch and against the hardware (the GEMM lower bound).

Usage::

    python -m benchmarks.train_speed                 # full run, ~5-10 minutes on 2 cores
    python -m benchmarks.train_speed --smoke         # one epoch on a 5k subset (CI), seconds
    python -m benchmarks.train_speed --epochs 7 --threads 1 --json out.json

What is timed, on the same data X (N, 784) float32 and labels y in 0..9 (MNIST when the files
are found locally, else uniform random numbers: the speed does not depend on the values):

1. ``nbkit``: ``Sequential(Linear(784, 200), Tanh(), Linear(200, 10))`` with
   ``SoftmaxCrossEntropyLoss`` and ``SGD(lr=0.1)``, one epoch of ``nbkit.train.fit`` (shuffled
   mini-batches, loss and accuracy bookkeeping included) at batch sizes 32, 100 and 1000.
2. ``torch``: the same network and loop in PyTorch on the CPU (autograd, ``torch.optim.SGD``,
   ``CrossEntropyLoss``, shuffled index batches, ``loss.item()`` and the accuracy count per
   batch like fit), with ``torch.set_num_threads`` equal to numpy's BLAS threads. Skipped with
   a message when torch is not installed (``pip install torch`` -- a benchmark-only dependency).
3. ``gemm``: the lower bound, the five matrix products of one training step alone (forward
   ``X W1``, ``H W2``; backward ``H^T dZ``, ``dZ W2^T``, ``X^T dA``; no ``dX`` of the first layer,
   which neither nbkit's fit nor autograd computes) for every mini-batch of an epoch, with
   numpy's BLAS into preallocated outputs.

Each is timed epoch by epoch, interleaved (nbkit, torch, gemm, nbkit, ...) so that a change in
the machine's load hits all three alike; the figure is the median over ``--epochs`` epochs after
one warm-up epoch. Ratios: ``nbkit / torch`` (lower is better, target <= 0.8) and
``gemm / nbkit`` (the fraction of the hardware bound reached, target >= 0.5 at batch 100, 1000).

Finally the scalar ``Value`` engine (``nbkit.autodiff.MLP``) is timed on one example of a
784-16-10 network (forward, cross-entropy, backward) against the same computation in nbkit.

The results are printed as a table and written as JSON (default
``benchmarks/results/latest.json``, or ``smoke.json`` with ``--smoke``).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from nbkit import data, layers, losses, optim, train
from nbkit.threads import blas_thread_limit

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BATCH_SIZES = (32, 100, 1000)
SIZES = (784, 200, 10)  # input, hidden, classes
LR = 0.1
TARGET_TORCH_RATIO = 0.8  # nbkit time / torch time, at every batch size
TARGET_GEMM_FRACTION = 0.5  # gemm time / nbkit time, at batch sizes 100 and 1000
GEMM_TARGET_BATCHES = (100, 1000)


# --------------------------------------------------------------------------------------------
# threads, machine, data
# --------------------------------------------------------------------------------------------


def blas_info():
    """numpy's BLAS as reported by threadpoolctl (None if there is none); SciPy may have loaded
    a BLAS of its own, which is not the one numpy's products use."""
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    blas.sort(key=lambda lib: "numpy" not in str(lib.get("filepath")))
    if not blas:
        return None
    return {k: blas[0].get(k) for k in ("internal_api", "version", "architecture",
                                        "threading_layer", "num_threads", "filepath")}


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads, torch):
    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": blas_info(),
        "threads": threads,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkl"] = bool(torch.backends.mkl.is_available())
    return info


def load_data(source, n, seed=0):
    """(X, y, name): X (n, 784) float32, y (n,) int64. MNIST if asked/found, else random."""
    if source in ("auto", "mnist"):
        try:
            X, y = data.load_mnist("train", download=False)
            # a writable copy: the loader returns read-only views, torch wants writable arrays
            return np.array(X[:n], dtype=np.float32), y[:n].astype(np.int64), "mnist"
        except (data.DataNotFoundError, OSError) as err:
            if source == "mnist":
                raise
            print(f"MNIST not found locally ({type(err).__name__}); using random data")
    rng = np.random.default_rng(seed)
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=n, dtype=np.int64)
    return X, y, "random"


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# --------------------------------------------------------------------------------------------
# one epoch of each contender; every `make_*` returns a function epoch(seed) -> None
# --------------------------------------------------------------------------------------------


def make_nbkit(X, y, batch_size):
    rng = np.random.default_rng(0)
    model = layers.Sequential(layers.Linear(SIZES[0], SIZES[1], rng=rng), layers.Tanh(),
                              layers.Linear(SIZES[1], SIZES[2], rng=rng))
    loss = losses.SoftmaxCrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=LR)

    def epoch(seed):
        train.fit(model, loss, optimizer, X, y, epochs=1, batch_size=batch_size, rng=seed,
                  progress=False)

    return epoch


def make_torch(torch, X, y, batch_size):
    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Tanh(),
                                torch.nn.Linear(SIZES[1], SIZES[2]))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    n = len(Xt)

    def epoch(seed):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        loss_sum, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            Xb, yb = Xt[idx], yt[idx]
            out = model(Xb)
            loss = loss_fn(out, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            correct += (out.argmax(dim=1) == yb).sum().item()

    return epoch


def make_gemm(X, batch_size):
    """The matrix products of one epoch, nothing else: the lower bound for any implementation."""
    d_in, d_hid, d_out = SIZES
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((d_in, d_hid), dtype=np.float32)
    W2 = rng.standard_normal((d_hid, d_out), dtype=np.float32)
    dW1, dW2 = np.empty_like(W1), np.empty_like(W2)
    H = rng.standard_normal((batch_size, d_hid), dtype=np.float32)  # forward: hidden layer
    dA = np.empty_like(H)  # backward: dL/d(pre-activation of the hidden layer)
    Z = np.empty((batch_size, d_out), np.float32)
    dZ = rng.standard_normal((batch_size, d_out), dtype=np.float32)
    n = len(X)

    def epoch(seed):
        for start in range(0, n, batch_size):
            Xb = X[start:start + batch_size]
            b = len(Xb)
            Hb, Zb, dZb, dAb = H[:b], Z[:b], dZ[:b], dA[:b]
            np.matmul(Xb, W1, out=Hb)  # forward, layer 1   (b, 784) @ (784, 200)
            np.matmul(Hb, W2, out=Zb)  # forward, layer 2   (b, 200) @ (200, 10)
            np.matmul(Hb.T, dZb, out=dW2)  # dW2 = H^T dZ   (200, b) @ (b, 10)
            np.matmul(dZb, W2.T, out=dAb)  # dH = dZ W2^T   (b, 10) @ (10, 200)
            np.matmul(Xb.T, dAb, out=dW1)  # dW1 = X^T dA   (784, b) @ (b, 200)

    return epoch


def time_interleaved(contenders, epochs, warmup):
    """Time epochs of every contender in turn; returns name -> list of seconds per epoch."""
    times = {name: [] for name in contenders}
    for r in range(warmup + epochs):
        for name, epoch in contenders.items():
            t0 = time.perf_counter()
            epoch(r)
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(elapsed)
    return times


# --------------------------------------------------------------------------------------------
# the Value engine against vectorised nbkit, one 784-16-10 example
# --------------------------------------------------------------------------------------------


def value_engine(x, label, repeats):
    """Seconds for forward + cross-entropy + backward of one example: Value engine vs nbkit."""
    try:
        from nbkit.autodiff import MLP
    except ImportError as err:
        return {"skipped": f"nbkit.autodiff.MLP not available ({err})"}
    d_in, d_hid, d_out = SIZES[0], 16, SIZES[-1]
    net = MLP(d_in, [d_hid, d_out], rng=np.random.default_rng(0))
    xs = [float(v) for v in x]

    def value_step():
        net.zero_grad()
        logits = net(xs)
        m = max(z.data for z in logits)  # a constant shift, for stability
        loss = sum((z - m).exp() for z in logits).log() - (logits[label] - m)
        loss.backward()

    rng = np.random.default_rng(0)
    model = layers.Sequential(layers.Linear(d_in, d_hid, rng=rng), layers.Tanh(),
                              layers.Linear(d_hid, d_out, rng=rng))
    loss = losses.SoftmaxCrossEntropyLoss()
    Xb, yb = x[None, :].astype(np.float32), np.array([label])

    def nbkit_step():
        loss.forward(model(Xb), yb)
        model.backward(loss.backward(), input_grad=False)

    t_value = _best_time(value_step, number=1, repeats=repeats)
    t_nbkit = _best_time(nbkit_step, number=2000, repeats=5)
    return {"network": f"{d_in}-{d_hid}-{d_out}", "value_s": t_value, "nbkit_s": t_nbkit,
            "slowdown": t_value / t_nbkit, "value_nodes_per_example": _count_nodes(net, xs)}


def _best_time(fn, number, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _count_nodes(net, xs):
    seen, stack = set(), list(net(xs))
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(getattr(v, "_prev", ()) or getattr(v, "_children", ()))
    return len(seen)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def summarize(batch_size, times):
    row = {"batch_size": batch_size}
    for name, ts in times.items():
        row[f"{name}_s"] = statistics.median(ts)
        row[f"{name}_epochs_s"] = ts
    row["nbkit_over_torch"] = row["nbkit_s"] / row["torch_s"] if "torch_s" in row else None
    row["gemm_over_nbkit"] = row["gemm_s"] / row["nbkit_s"]
    return row


def check_targets(rows):
    checks = []
    for row in rows:
        if row["nbkit_over_torch"] is not None:
            checks.append({"batch_size": row["batch_size"], "target": "nbkit/torch <= 0.8",
                           "value": row["nbkit_over_torch"],
                           "met": row["nbkit_over_torch"] <= TARGET_TORCH_RATIO})
        if row["batch_size"] in GEMM_TARGET_BATCHES:
            checks.append({"batch_size": row["batch_size"], "target": "gemm/nbkit >= 0.5",
                           "value": row["gemm_over_nbkit"],
                           "met": row["gemm_over_nbkit"] >= TARGET_GEMM_FRACTION})
    return checks


TABLE_HEADER = (f"{'batch':>6} {'nbkit s/ep':>11} {'torch s/ep':>11} {'nbkit/torch':>12} "
                f"{'GEMM s/ep':>10} {'GEMM/nbkit':>11}")


def format_row(r):
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    return (f"{r['batch_size']:>6} {r['nbkit_s']:>11.3f} {fmt(r.get('torch_s'), '.3f'):>11}"
            f" {fmt(r['nbkit_over_torch'], '.2f'):>12} {r['gemm_s']:>10.3f}"
            f" {r['gemm_over_nbkit']:>11.0%}")


def format_table(rows):
    return "\n".join([TABLE_HEADER] + [format_row(r) for r in rows])


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="one epoch on a 5000-example subset, no warm-up (CI)")
    p.add_argument("--epochs", type=int, default=None,
                   help="timed epochs per contender and batch size (default 5; 1 with --smoke)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/torch threads (default: numpy's current BLAS threads)")
    p.add_argument("--json", type=Path, default=None,
                   help="output file (default benchmarks/results/latest.json or smoke.json)")
    p.add_argument("--data", choices=("auto", "mnist", "random"), default="auto",
                   help="auto: MNIST if found locally (never downloaded), else random")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.smoke else 5
    if args.epochs < 1 or (args.threads is not None and args.threads < 1):
        p.error("--epochs and --threads must be >= 1")
    if any(b < 1 for b in args.batch_sizes):
        p.error("--batch-sizes must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    n = 5000 if args.smoke else 60000
    warmup = 0 if args.smoke else 1
    blas = blas_info()
    threads = args.threads or (blas["num_threads"] if blas else os.cpu_count())
    torch = None if args.no_torch else import_torch()
    if torch is None and not args.no_torch:
        print("PyTorch not installed: skipping the torch rows (pip install torch)")
    if torch is not None:
        torch.set_num_threads(threads)
    X, y, source = load_data(args.data, n)

    rows = []
    with blas_thread_limit(threads):
        machine = machine_info(threads, torch)
        print(f"{machine['cpu']}, {machine['logical_cpus']} logical CPUs; numpy BLAS: "
              f"{_blas_name(machine['numpy_blas'])}; {threads} thread(s); data: {source} "
              f"{X.shape}; {args.epochs} timed epoch(s) after {warmup} warm-up")
        load = machine["load_average_1min"]
        if load is not None and load > 0.5 * (os.cpu_count() or 1):
            print(f"warning: the machine is busy (load average {load:.1f} on "
                  f"{os.cpu_count()} CPUs): times will be slower and noisier than on an idle one")
        print(TABLE_HEADER)
        for batch_size in args.batch_sizes:
            contenders = {"nbkit": make_nbkit(X, y, batch_size)}
            if torch is not None:
                contenders["torch"] = make_torch(torch, X, y, batch_size)
            contenders["gemm"] = make_gemm(X, batch_size)
            rows.append(summarize(batch_size, time_interleaved(contenders, args.epochs, warmup)))
            print(format_row(rows[-1]), flush=True)
        value = value_engine(X[0], int(y[0]), repeats=1 if args.smoke else 3)

    if hasattr(os, "getloadavg"):  # a busy machine makes every figure slower and noisier
        machine["load_average_1min_end"] = os.getloadavg()[0]
    checks = check_targets(rows)
    print()
    print(format_table(rows))
    if "skipped" in value:
        print(f"Value engine: skipped, {value['skipped']}")
    else:
        print(f"Value engine, one {value['network']} example (forward + loss + backward): "
              f"{value['value_s'] * 1e3:.1f} ms vs nbkit {value['nbkit_s'] * 1e6:.1f} us "
              f"-> {value['slowdown']:,.0f}x slower")
    for c in checks:
        print(f"  batch {c['batch_size']:>4}: {c['target']:<20} {c['value']:.2f}  "
              f"{'ok' if c['met'] else 'MISSED'}")

    result = {"smoke": args.smoke, "data": source, "n_examples": n, "epochs": args.epochs,
              "warmup_epochs": warmup, "network": "-".join(map(str, SIZES)), "lr": LR,
              "machine": machine, "rows": rows, "value_engine": value, "targets": checks,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = args.json or RESULTS_DIR / ("smoke.json" if args.smoke else "latest.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {path}")
    return result


def _blas_name(blas):
    if blas is None:
        return "unknown (no BLAS reported by threadpoolctl)"
    return f"{blas['internal_api']} {blas['version']} ({blas['architecture']})"


if __name__ == "__main__":
    main(sys.argv[1:])
