"""Smaller pictures for the lectures: activation explorer, learning curves, dropout, and the
decision boundary of a small net while it trains on 2-D toy data."""

from functools import lru_cache

import numpy as np

from nbkit import data, layers, losses, optim
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    ACTIVATION_COLORS,
    ACTIVATION_LABELS,
    OKABE_ITO,
    PALETTE,
    FigureBox,
    check_choice,
    check_int,
    check_positive,
    new_figure,
    slider_style,
)

# --------------------------------------------------------------------------------------------
# activation explorer
# --------------------------------------------------------------------------------------------

EXPLORER_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus")


def compute_activation(name, z):
    """``(f(z), f'(z))`` from ``nbkit.layers.activation_functions``; z any float array."""
    check_choice("activation", name, layers.activation_functions, "compute_activation")
    f, fprime = layers.activation_functions[name]
    z = np.asarray(z, dtype=np.float64)
    return f(z), fprime(z)


def plot_activations(names=("sigmoid", "tanh", "relu"), z_range=(-5.0, 5.0), n=401):
    """Two panels: f(z) and f'(z) for each named activation over ``z_range``. Returns a Figure."""
    lo, hi = z_range
    if not hi > lo:
        raise ValueError(f"plot_activations: z_range must be (low, high) with low < high, "
                         f"got {z_range!r}")
    z = np.linspace(lo, hi, n)
    fig, axes = new_figure(10, 3.6, ncols=2)
    ax_f, ax_d = axes[0]
    for i, name in enumerate(names):
        f, d = compute_activation(name, z)
        color = ACTIVATION_COLORS.get(name, PALETTE[i % len(PALETTE)])
        label = ACTIVATION_LABELS.get(name, name)
        ax_f.plot(z, f, color=color, lw=2, label=label)
        ax_d.plot(z, d, color=color, lw=2, label=label)
    if "sigmoid" in names:
        ax_d.axhline(0.25, color=OKABE_ITO["black"], ls="--", lw=1)
        ax_d.annotate("σ' ≤ 1/4", (lo, 0.25), xytext=(4, 4), textcoords="offset points",
                      fontsize=8)
    ax_f.set(xlabel="z", ylabel="f(z)", title="Activation f(z)")
    ax_d.set(xlabel="z", ylabel="f'(z)", title="Derivative f'(z)")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
    return fig


def activation_widget(names=("sigmoid", "tanh", "relu")):
    """A multiple selection of activations and a z-range slider above
    :func:`plot_activations`."""
    import ipywidgets as W

    controls = {
        "names": W.SelectMultiple(
            options=[(ACTIVATION_LABELS[a], a) for a in EXPLORER_ACTIVATIONS],
            value=tuple(names), description="activations", rows=5,
            style=slider_style()),
        "z_range": W.FloatRangeSlider(value=(-5.0, 5.0), min=-10, max=10, step=0.5,
                                      description="z range", continuous_update=False,
                                      style=slider_style()),
    }
    return FigureBox(controls, lambda names, z_range: plot_activations(names, z_range),
                     "<activation explorer widget (needs a live kernel); static picture shown "
                     "where widgets cannot render>")


# --------------------------------------------------------------------------------------------
# learning curves and early stopping
# --------------------------------------------------------------------------------------------


def early_stopping_epoch(val_loss, patience=None):
    """``(best_epoch, stop_epoch)`` for a validation-loss curve.

    ``best_epoch`` = argmin of val_loss among the epochs run; with ``patience`` p, training
    stops after the first epoch e with no improvement in the last p epochs, i.e.
    ``e - best_so_far(e) >= p`` (``stop_epoch = e``); without patience (or if that never
    happens) ``stop_epoch`` is the last epoch. Epochs are counted from 0.
    """
    v = np.asarray(val_loss, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"early_stopping_epoch: expected a non-empty 1-D curve, got shape "
                         f"{v.shape}")
    stop = len(v) - 1
    if patience is not None:
        patience = check_int("patience", patience, 1, 10**9, "early_stopping_epoch")
        best = 0
        for e in range(1, len(v)):
            if v[e] < v[best]:
                best = e
            elif e - best >= patience:
                stop = e
                break
    return int(np.argmin(v[: stop + 1])), stop


def plot_learning_curve(history=None, *, train=None, val=None, best_epoch=None,
                        metric="loss", patience=None):
    """Train vs validation curve per epoch with a marker at the early-stopping epoch.

    Pass an ``nbkit.train.History`` (uses ``train_<metric>``, ``val_<metric>``,
    ``best_epoch``) or the arrays ``train`` (E,) and ``val`` (E,). ``metric`` is "loss" or
    "acc". ``best_epoch`` defaults to the history's, else to :func:`early_stopping_epoch`
    of the validation loss curve. Returns a Figure.
    """
    check_choice("metric", metric, ("loss", "acc"), "plot_learning_curve")
    if history is not None:
        train = getattr(history, f"train_{metric}")
        val = getattr(history, f"val_{metric}")
        if best_epoch is None:
            best_epoch = history.best_epoch
    if train is None or len(train) == 0:
        raise ValueError("plot_learning_curve: pass a History or a non-empty train curve")
    train = np.asarray(train, dtype=np.float64)
    val = None if val is None or len(val) == 0 else np.asarray(val, dtype=np.float64)
    if best_epoch is None and val is not None and metric == "loss":
        best_epoch = early_stopping_epoch(val, patience)[0]
    fig, axes = new_figure(6.5, 3.8)
    ax = axes[0, 0]
    # epochs are numbered from 1 on the axis; best_epoch (0-based, as in History) is shifted
    ax.plot(np.arange(1, len(train) + 1), train, "o-", ms=3, color=OKABE_ITO["blue"],
            label="training")
    if val is not None:
        ax.plot(np.arange(1, len(val) + 1), val, "s-", ms=3, color=OKABE_ITO["orange"],
                label="validation")
    if best_epoch is not None:
        ax.axvline(best_epoch + 1, color=OKABE_ITO["vermillion"], ls="--", lw=1.2,
                   label=f"early stopping (best epoch {best_epoch + 1})")
        if val is not None and best_epoch < len(val):
            ax.plot([best_epoch + 1], [val[best_epoch]], "*", ms=12,
                    color=OKABE_ITO["vermillion"])
    name = {"loss": "loss", "acc": "accuracy"}[metric]
    ax.set(xlabel="epoch (from 1)", ylabel=name,
           title=f"Learning curve: training vs validation {name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.14, top=0.9)
    return fig


HISTORY_METRICS = {
    "train_loss": "mean training loss",
    "train_acc": "training accuracy",
    "val_loss": "validation loss",
    "val_acc": "validation accuracy",
}
# line styles cycled with PALETTE, so runs differ by more than colour (colour-blind safe)
HISTORY_LINESTYLES = ("-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)))


def plot_histories(histories, metric="train_loss", *, logy=False, title=None, ax_labels=None):
    """One curve per run: ``metric`` per epoch for several training runs on one axes.

    ``histories`` maps a run name (legend label) to an ``nbkit.train.History`` (its attribute
    ``metric``, one of "train_loss", "train_acc", "val_loss", "val_acc") or directly to a
    curve, a 1-D array (E,). A run with E epochs is drawn at x = 1, ..., E (epochs counted from
    1); runs may have different lengths. Colours cycle through the Okabe-Ito ``PALETTE`` and
    line styles through ``HISTORY_LINESTYLES``. ``logy`` puts the y axis on a log scale;
    ``ax_labels`` = (xlabel, ylabel) overrides ("epoch (from 1)", <metric label>); ``title``
    defaults to "<metric label> per epoch". Returns a Figure (not registered with pyplot).
    """
    check_choice("metric", metric, HISTORY_METRICS, "plot_histories")
    if not isinstance(histories, dict) or not histories:
        raise ValueError("plot_histories: expected a non-empty dict name -> History or 1-D "
                         f"curve, got {type(histories).__name__}")
    curves = {}
    for name, run in histories.items():
        values = getattr(run, metric) if hasattr(run, "train_loss") else run
        curve = np.asarray(values, dtype=np.float64)
        if curve.ndim != 1 or curve.size == 0:
            raise ValueError(f"plot_histories: run {name!r} has no 1-D {metric} curve "
                             f"(got shape {curve.shape}); expected a History or an array (E,)")
        curves[name] = curve
    if ax_labels is None:
        ax_labels = ("epoch (from 1)", HISTORY_METRICS[metric])
    if len(ax_labels) != 2:
        raise ValueError(f"plot_histories: ax_labels must be (xlabel, ylabel), got {ax_labels!r}")
    fig, axes = new_figure(6.5, 3.8)
    ax = axes[0, 0]
    for i, (name, curve) in enumerate(curves.items()):
        style = {"marker": "o", "ms": 3} if curve.size <= 20 else {}
        ax.plot(np.arange(1, curve.size + 1), curve, color=PALETTE[i % len(PALETTE)],
                ls=HISTORY_LINESTYLES[i % len(HISTORY_LINESTYLES)], lw=1.8, label=str(name),
                **style)
    if logy:
        ax.set_yscale("log")
    longest = max(c.size for c in curves.values())
    if longest <= 10:
        ax.set_xticks(np.arange(1, longest + 1))
    ax.set(xlabel=ax_labels[0], ylabel=ax_labels[1],
           title=f"{HISTORY_METRICS[metric]} per epoch" if title is None else title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.14, top=0.9)
    return fig


# --------------------------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------------------------


def compute_dropout_masks(sizes=(4, 8, 8, 3), p=0.5, seed=0):
    """Keep-masks of one training step with ``nbkit.layers.Dropout(p)`` on every hidden layer.

    ``sizes`` = units per layer (input, hidden..., output). Returns a list of bool arrays,
    one per layer, True = kept (input and output layers are always kept). At test time
    (``eval()``) every unit is kept; inverted dropout scales kept units by 1 / (1 - p) during
    training instead.
    """
    sizes = [check_int("size", s, 1, 64, "compute_dropout_masks") for s in sizes]
    if len(sizes) < 3:
        raise ValueError("compute_dropout_masks: need sizes (input, hidden..., output)")
    rng = np.random.default_rng(seed)
    masks = [np.ones(sizes[0], dtype=bool)]
    for s in sizes[1:-1]:
        drop = layers.Dropout(p, rng=rng)
        drop.train()
        drop.forward(np.ones((1, s), dtype=np.float32))
        masks.append(np.ones(s, dtype=bool) if drop.mask is None else drop.mask[0] > 0)
    masks.append(np.ones(sizes[-1], dtype=bool))
    return masks


def _draw_net(ax, sizes, masks, title):
    xs = np.arange(len(sizes))
    pos = [np.linspace(-(s - 1) / 2, (s - 1) / 2, s) for s in sizes]
    segs_on, segs_off = [], []
    for l in range(len(sizes) - 1):
        for i, yi in enumerate(pos[l]):
            for j, yj in enumerate(pos[l + 1]):
                seg = [(xs[l], yi), (xs[l + 1], yj)]
                (segs_on if masks[l][i] and masks[l + 1][j] else segs_off).append(seg)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segs_off, colors="0.85", linewidths=0.5))
    ax.add_collection(LineCollection(segs_on, colors=OKABE_ITO["blue"], linewidths=0.8))
    for l in range(len(sizes)):
        kept = masks[l]
        ax.scatter(np.full(kept.sum(), xs[l]), pos[l][kept], s=160, color=OKABE_ITO["orange"],
                   edgecolors="k", zorder=3)
        ax.scatter(np.full((~kept).sum(), xs[l]), pos[l][~kept], s=160, color="white",
                   edgecolors="0.6", zorder=3)
        ax.scatter(np.full((~kept).sum(), xs[l]), pos[l][~kept], s=90, marker="x",
                   color=OKABE_ITO["vermillion"], zorder=4)
    ax.set_xticks(xs, ["input"] + [f"hidden {i}" for i in range(1, len(sizes) - 1)]
                  + ["output"])
    ax.set_yticks([])
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    top = max(sizes) / 2 + 0.3
    ax.set_ylim(-top, top)
    ax.set(xlabel="layer", ylabel="units", title=title)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def plot_dropout(sizes, masks, p):
    """Left: the thinned network of one training step (dropped units crossed out, their
    connections greyed); right: the full network used at test time. Returns a Figure."""
    fig, axes = new_figure(10, 3.8, ncols=2)
    kept = sum(int(m.sum()) for m in masks[1:-1])
    total = sum(len(m) for m in masks[1:-1])
    _draw_net(axes[0, 0], sizes, masks,
              f"Training step: {total - kept} of {total} hidden units dropped (p = {p:.2f})\n"
              f"kept units scaled by 1/(1−p) = {1 / (1 - p):.2f}")
    _draw_net(axes[0, 1], sizes, [np.ones(len(m), dtype=bool) for m in masks],
              "Test time: every unit, no scaling\n(inverted dropout = identity in eval)")
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.14, top=0.84, wspace=0.12)
    return fig


def dropout_widget(sizes=(4, 8, 8, 3), p=0.5):
    """Sliders for the drop probability p and the random draw, above :func:`plot_dropout`."""
    import ipywidgets as W

    controls = {
        "p": W.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="drop prob. p",
                           continuous_update=False, style=slider_style()),
        "draw": W.IntSlider(value=0, min=0, max=50, description="training step (new mask)",
                            continuous_update=False, style=slider_style()),
    }

    def draw(p, draw):
        return plot_dropout(sizes, compute_dropout_masks(sizes, p, seed=draw), p)

    return FigureBox(controls, draw, "<dropout widget (needs a live kernel); static picture "
                     "shown where widgets cannot render>")


# --------------------------------------------------------------------------------------------
# decision boundary while a small net trains
# --------------------------------------------------------------------------------------------

TOY_DATASETS = {
    "spirals": lambda seed: data.make_spirals(n=300, classes=3, noise=0.2, seed=seed),
    "circles": lambda seed: data.make_circles(n=300, noise=0.1, factor=0.5, seed=seed),
    "xor": lambda seed: data.make_xor(n=300, noise=0.3, seed=seed),
}
SNAPSHOT_EVERY = 25
BOUNDARY_GRID = 120


@lru_cache(maxsize=8)
def train_snapshots(dataset="spirals", hidden=32, lr=0.003, max_steps=1000, seed=0):
    """Train ``Linear(2,h)-tanh-Linear(h,h)-tanh-Linear(h,K)`` with softmax cross-entropy and
    full-batch Adam (all :mod:`nbkit`), keeping a copy of the parameters every
    ``SNAPSHOT_EVERY`` steps (cached: the widget's step slider only picks a snapshot).

    Returns ``(X (N, 2), y (N,), snapshots)`` with ``snapshots[k]`` = (step, list of parameter
    values, training loss, training accuracy) for steps 0, 25, 50, ... ``max_steps``.
    """
    check_choice("dataset", dataset, TOY_DATASETS, "train_snapshots")
    X, y = TOY_DATASETS[dataset](seed)
    K = int(y.max()) + 1
    model = layers.mlp([2, hidden, hidden, K], activation="tanh", rng=seed)
    loss = losses.SoftmaxCrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    snaps = []
    with blas_thread_limit(1):
        for step in range(max_steps + 1):
            out = model(X)
            value = loss(out, y)
            if step % SNAPSHOT_EVERY == 0:
                acc = float(np.mean(out.argmax(axis=1) == y))
                snaps.append((step, [p.value.copy() for p in model.parameters()], value, acc))
            if step == max_steps:
                break
            model.backward(loss.backward())
            opt.step()
    return X, y, tuple(snaps)


def compute_decision_boundary(model, xlim, ylim, n=BOUNDARY_GRID):
    """Class probabilities of ``model`` (logits out) on an n×n grid over xlim × ylim.

    Returns ``xx, yy`` (n, n) and ``probs`` (n, n, K) = softmax(model([x, y])).
    """
    xx, yy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    probs = losses.softmax(model(grid))
    return xx, yy, probs.reshape(n, n, -1)


def _model_at(dataset, hidden, lr, step, seed, max_steps=1000):
    X, y, snaps = train_snapshots(dataset, hidden, lr, max_steps, seed)
    k = min(range(len(snaps)), key=lambda i: abs(snaps[i][0] - step))
    K = int(y.max()) + 1
    model = layers.mlp([2, hidden, hidden, K], activation="tanh", rng=seed)
    for p, v in zip(model.parameters(), snaps[k][1], strict=True):
        p.value = v
    return model, X, y, snaps[k]


def plot_decision_boundary(model, X, y, title="Decision boundary"):
    """Data points coloured by class over the predicted class regions (shade = confidence)."""
    pad = 0.3
    xlim = (float(X[:, 0].min()) - pad, float(X[:, 0].max()) + pad)
    ylim = (float(X[:, 1].min()) - pad, float(X[:, 1].max()) + pad)
    xx, yy, probs = compute_decision_boundary(model, xlim, ylim)
    K = probs.shape[-1]
    colors = np.array([_rgb(c) for c in PALETTE[:K]])
    img = probs @ colors  # (n, n, 3): mix of class colours by probability
    img = 1 - 0.45 * (1 - img)  # lighten
    fig, axes = new_figure(5.2, 4.6)
    ax = axes[0, 0]
    ax.imshow(img, origin="lower", extent=(*xlim, *ylim), aspect="auto", interpolation="bilinear")
    ax.contour(xx, yy, probs.argmax(-1), levels=np.arange(K) + 0.5, colors="k",
               linewidths=0.8)
    markers = "osD^v"
    for k in range(K):
        sel = y == k
        ax.scatter(X[sel, 0], X[sel, 1], s=14, color=PALETTE[k], edgecolors="k",
                   linewidths=0.4, marker=markers[k % len(markers)], label=f"class {k}")
    ax.set(xlim=xlim, ylim=ylim, xlabel="x₁", ylabel="x₂", title=title)
    ax.legend(fontsize=7, loc="upper right")
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.9)
    return fig


def _rgb(hex_color):
    return [int(hex_color[i: i + 2], 16) / 255 for i in (1, 3, 5)]


def decision_boundary_widget(dataset="spirals", hidden=32, lr=0.003, seed=0):
    """Dataset dropdown, hidden-width and training-step sliders above the decision boundary
    of a small tanh net trained with Adam (snapshots cached; see :func:`train_snapshots`)."""
    import ipywidgets as W

    check_positive("lr", lr, "decision_boundary_widget")
    controls = {
        "dataset": W.Dropdown(options=list(TOY_DATASETS), value=dataset, description="data"),
        "hidden": W.IntSlider(value=hidden, min=4, max=64, step=4, description="hidden units",
                              continuous_update=False, style=slider_style()),
        "step": W.IntSlider(value=200, min=0, max=1000, step=SNAPSHOT_EVERY,
                            description="training step", continuous_update=False,
                            style=slider_style()),
    }

    def draw(dataset, hidden, step):
        model, X, y, (s, _, value, acc) = _model_at(dataset, hidden, lr, step, seed)
        return plot_decision_boundary(
            model, X, y, f"{dataset}: step {s}, loss {value:.3f}, accuracy {acc:.0%}")

    return FigureBox(controls, draw, "<decision boundary widget (needs a live kernel); static "
                     "picture shown where widgets cannot render>")
