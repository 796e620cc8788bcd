"""Optimizer update rules written as the equations vs with in-place tricks: what does it cost?

Usage::

    python -m benchmarks.update_rules              # MNIST 784-200-10 tanh, ~2-4 minutes
    python -m benchmarks.update_rules --smoke      # a 5k subset, one epoch (CI), seconds

For Adam and for SGD with momentum, two versions of the same rule (same buffers, same results
to rounding):

- ``plain``: the equations as the lectures write them, e.g. for Adam
  ``m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;  θ -= lr m̂ / (√v̂ + ε)`` -- every
  operator makes a temporary array (subclasses of the nbkit optimizers, defined here);
- ``inplace``: nbkit's ``optim.Adam`` and ``optim.SGD``, with ``out=`` arguments and a scratch
  buffer allocated once, so a step allocates no parameter-sized array.

Timed, interleaved so that the machine's load hits both alike (median over ``--epochs``):
``step``, one ``optimizer.step()`` on the 159,010 parameters of 784-200-10 (median of 200 steps),
and ``epoch``, one epoch of ``nbkit.train.fit`` at batch sizes 32, 100 and 1000 -- what a student
waits for. The figure of merit is ``plain / inplace`` per epoch: the in-place version is worth its
extra statements only if that ratio is clearly above 1 (it is: see benchmarks/PROFILE.md).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.train_speed import RESULTS_DIR, SIZES, load_data, machine_info, time_interleaved
from nbkit import layers, losses, optim, train
from nbkit.threads import blas_thread_limit


class PlainAdam(optim.Adam):
    """Adam written as its equations."""

    def _update(self, p, g, state, lr):
        b1, b2 = self.betas
        m = self._buffer(state, "m", p.value)
        v = self._buffer(state, "v", p.value)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
        p.value -= lr * m_hat / (np.sqrt(v_hat) + self.eps)


class PlainMomentum(optim.SGD):
    """SGD with momentum written as its equations."""

    def _update(self, p, g, state, lr):
        v = self._buffer(state, "velocity", p.value)
        v[...] = self.momentum * v - lr * g
        p.value += v


# the in-place versions are nbkit's own
RULES = {
    "adam": {"plain": (PlainAdam, {"lr": 1e-3}), "inplace": (optim.Adam, {"lr": 1e-3})},
    "momentum": {"plain": (PlainMomentum, {"lr": 0.05, "momentum": 0.9}),
                 "inplace": (optim.SGD, {"lr": 0.05, "momentum": 0.9})},
}


def make_model():
    rng = np.random.default_rng(0)
    return layers.Sequential(layers.Linear(SIZES[0], SIZES[1], rng=rng), layers.Tanh(),
                             layers.Linear(SIZES[1], SIZES[2], rng=rng))


def make_epoch(X, y, batch_size, cls, kwargs):
    model = make_model()
    optimizer = cls(model.parameters(), **kwargs)
    loss = losses.SoftmaxCrossEntropyLoss()

    def epoch(seed):
        train.fit(model, loss, optimizer, X, y, epochs=1, batch_size=batch_size, rng=seed,
                  progress=False)

    return epoch


def make_steps(cls, kwargs, steps):
    """`steps` optimizer steps on fixed random gradients (what the optimizer alone costs)."""
    model = make_model()
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.grad.shape, dtype=np.float32) * 1e-2
    optimizer = cls(model.parameters(), **kwargs)

    def run(seed):
        for _ in range(steps):
            optimizer.step()

    return run


def same_results(cls_a, cls_b, kwargs, steps=5):
    """The two versions give the same parameters to float32 rounding."""
    values = []
    for cls in (cls_a, cls_b):
        model = make_model()
        rng = np.random.default_rng(2)
        optimizer = cls(model.parameters(), **kwargs)
        for _ in range(steps):
            for p in model.parameters():
                p.grad[...] = rng.standard_normal(p.grad.shape, dtype=np.float32)
            optimizer.step()
        values.append([p.value.copy() for p in model.parameters()])
    return all(np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(*values, strict=True))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.update_rules", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="one epoch on a 5000-example subset")
    p.add_argument("--epochs", type=int, default=None, help="timed epochs (default 5; 1 smoke)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--data", choices=("auto", "mnist", "random"), default="auto")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    epochs = args.epochs or (1 if args.smoke else 5)
    warmup = 0 if args.smoke else 1
    X, y, source = load_data(args.data, 5000 if args.smoke else 60000)
    rows = []
    with blas_thread_limit(args.threads):
        machine = machine_info(args.threads, None)
        print(f"{machine['cpu']}; {args.threads} BLAS thread(s); data: {source} {X.shape}; "
              f"{epochs} timed epoch(s) after {warmup} warm-up")
        print(f"{'rule':>9} {'what':>10} {'plain s':>10} {'inplace s':>10} {'plain/inplace':>14}")
        for rule, versions in RULES.items():
            (cls_p, kw), (cls_i, _) = versions["plain"], versions["inplace"]
            assert same_results(cls_p, cls_i, kw), f"{rule}: the two versions disagree"
            cases = [("step", {v: make_steps(*versions[v], steps=200) for v in versions}, 200)]
            cases += [(f"epoch {b}", {v: make_epoch(X, y, b, *versions[v]) for v in versions}, 1)
                      for b in (32, 100, 1000)]
            for what, contenders, per in cases:
                times = time_interleaved(contenders, epochs, warmup)
                row = {"rule": rule, "what": what,
                       **{f"{v}_s": statistics.median(ts) / per for v, ts in times.items()}}
                row["plain_over_inplace"] = row["plain_s"] / row["inplace_s"]
                rows.append(row)
                print(f"{rule:>9} {what:>10} {row['plain_s']:>10.2e} {row['inplace_s']:>10.2e} "
                      f"{row['plain_over_inplace']:>14.3f}", flush=True)
    result = {"smoke": args.smoke, "data": source, "epochs": epochs, "machine": machine,
              "rows": rows, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = args.json or RESULTS_DIR / ("update_rules_smoke.json" if args.smoke
                                       else "update_rules.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
