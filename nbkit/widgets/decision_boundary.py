"""The decision boundary of a small net on 2-D toy data, at any step of its training."""

from functools import lru_cache

import numpy as np

from nbkit import data, layers, losses, optim, train, validate
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    MARKERS,
    PALETTE,
    FigureBox,
    control_style,
    reuse_figure,
    slider_layout,
    styled,
)

TOY_DATASETS = {
    "spirals": lambda seed: data.make_spirals(n=300, classes=3, noise=0.2, rng=seed),
    "circles": lambda seed: data.make_circles(n=300, noise=0.1, factor=0.5, rng=seed),
    "xor": lambda seed: data.make_xor(n=300, noise=0.3, rng=seed),
}
SNAPSHOT_EVERY = 25
BOUNDARY_GRID = 120


@lru_cache(maxsize=8)
def train_snapshots(dataset="spirals", hidden=32, lr=0.003, max_steps=1000, seed=0):
    """Train ``Linear(2,h)-tanh-Linear(h,h)-tanh-Linear(h,K)`` with softmax cross-entropy and
    full-batch Adam (``nbkit.train.fit``, one step per epoch), keeping a copy of the parameters
    every ``SNAPSHOT_EVERY`` steps (cached: the widget's step slider only picks a snapshot).

    Returns ``(X (N, 2), y (N,), snapshots)`` with ``snapshots[k]`` = (step, list of parameter
    values, training loss, training accuracy) for steps 0, 25, 50, ... ``max_steps``.
    """
    validate.one_of(dataset, "dataset", TOY_DATASETS, "train_snapshots")
    validate.integer(max_steps, "max_steps", "train_snapshots", low=0)
    X, y = TOY_DATASETS[dataset](seed)
    model, loss = _net(hidden, y, seed), losses.SoftmaxCrossEntropyLoss()
    snaps = []

    def snapshot(step):
        result = train.evaluate(model, X, y, loss)
        params = [p.value.copy() for p in model.parameters()]
        snaps.append((step, params, result["loss"], result["accuracy"]))

    def every_few_steps(epoch, history, model):
        if (epoch + 1) % SNAPSHOT_EVERY == 0:
            snapshot(epoch + 1)

    with blas_thread_limit(1):
        snapshot(0)
        if max_steps > 0:
            train.fit(model, loss, optim.Adam(model.parameters(), lr=lr), X, y,
                      epochs=max_steps, batch_size=len(X), shuffle=False, progress=False,
                      callbacks=[every_few_steps])
    return X, y, tuple(snaps)


def compute_decision_boundary(model, xlim, ylim, n=BOUNDARY_GRID):
    """Class probabilities of ``model`` (logits out) on an n×n grid over xlim × ylim.

    Returns ``xx, yy`` (n, n) and ``probs`` (n, n, K) = softmax(model([x, y])).
    """
    xx, yy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    probs = losses.softmax(model(grid))
    return xx, yy, probs.reshape(n, n, -1)


def _net(hidden, y, seed):
    return layers.mlp([2, hidden, hidden, int(y.max()) + 1], activation="tanh", rng=seed)


def _model_at(dataset, hidden, lr, step, seed, max_steps=1000):
    X, y, snaps = train_snapshots(dataset, hidden, lr, max_steps, seed)
    k = min(range(len(snaps)), key=lambda i: abs(snaps[i][0] - step))
    model = _net(hidden, y, seed)
    for p, v in zip(model.parameters(), snaps[k][1], strict=True):
        p.value = v
    return model, X, y, snaps[k]


def _build_boundary(fig):
    ax = fig.subplots()
    ax.set(xlabel="x₁", ylabel="x₂")
    ax.grid(False)
    return np.array([ax])


@styled
def plot_decision_boundary(model, X, y, title="Decision boundary", *, fig=None,
                           size=(500, 440)):
    """Data points coloured by class (and marker shape) over the predicted class regions
    (shade = confidence), one legend right of the picture. ``fig``: a figure this function drew
    before, redrawn in place; ``size``: (width, height) in CSS px of a new figure."""
    pad = 0.3
    xlim = (float(X[:, 0].min()) - pad, float(X[:, 0].max()) + pad)
    ylim = (float(X[:, 1].min()) - pad, float(X[:, 1].max()) + pad)
    xx, yy, probs = compute_decision_boundary(model, xlim, ylim)
    K = probs.shape[-1]
    colors = np.array([_rgb(c) for c in PALETTE[:K]])
    img = probs @ colors  # (n, n, 3): mix of class colours by probability
    img = 1 - 0.45 * (1 - img)  # lighten
    fig, (ax,) = reuse_figure(fig, ("boundary", size), _build_boundary, size)
    ax.imshow(img, origin="lower", extent=(*xlim, *ylim), aspect="auto", interpolation="bilinear")
    ax.contour(xx, yy, probs.argmax(-1), levels=np.arange(K) + 0.5, colors="k",
               linewidths=0.8)
    for k in range(K):
        sel = y == k
        ax.scatter(X[sel, 0], X[sel, 1], s=16, color=PALETTE[k], edgecolors="k",
                   linewidths=0.4, marker=MARKERS[k % len(MARKERS)], label=f"class {k}")
    ax.set(xlim=xlim, ylim=ylim)
    ax.set_title(title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper")
    return fig


def _rgb(hex_color):
    return [int(hex_color[i: i + 2], 16) / 255 for i in (1, 3, 5)]


def decision_boundary_widget(dataset="spirals", hidden=32, lr=0.003, seed=0):
    """Dataset dropdown, hidden-width and training-step sliders above the decision boundary
    of a small tanh net trained with Adam (snapshots cached; see :func:`train_snapshots`)."""
    import ipywidgets as W

    validate.positive(lr, "lr", "decision_boundary_widget")
    common = {"style": control_style(), "layout": slider_layout("300px")}
    controls = {
        "dataset": W.Dropdown(options=list(TOY_DATASETS), value=dataset, description="data",
                              **common),
        "hidden": W.IntSlider(value=hidden, min=4, max=64, step=4, description="hidden units",
                              continuous_update=False, **common),
        "step": W.IntSlider(value=200, min=0, max=1000, step=SNAPSHOT_EVERY,
                            description="training step", continuous_update=False, **common),
    }

    def draw(fig, dataset, hidden, step):
        model, X, y, (s, _, value, acc) = _model_at(dataset, hidden, lr, step, seed)
        return plot_decision_boundary(
            model, X, y, f"{dataset}: step {s}, loss {value:.3f}, accuracy {acc:.0%}", fig=fig)

    return FigureBox(controls, draw, "<decision boundary widget (needs a live kernel); static "
                     "picture shown where widgets cannot render>", beside=True)
