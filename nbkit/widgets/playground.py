"""A Playground-style explorer (after TensorFlow Playground): train a small net on 2-D data live.

Pick a data set and its noise, the depth and width of the net, its activation, the learning
rate, the L2 penalty (weight decay) and the dropout probability, then press play: the net
trains ``STEPS_PER_TICK`` full-batch Adam steps per tick and the picture shows the decision
regions on the training points and the training vs test loss so far. Changing any setting
starts again from new weights; the seed fixes the data and the weights, so one setting always
gives the same run.
"""

import numpy as np

from nbkit import data, layers, losses, optim, train, validate
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    MARKERS,
    OKABE_ITO,
    PALETTE,
    FigureBox,
    control_style,
    reuse_figure,
    slider_layout,
    styled,
)
from nbkit.widgets.decision_boundary import compute_decision_boundary

PLAYGROUND_DATA = {
    "spirals": lambda noise, rng: data.make_spirals(n=300, classes=2, noise=noise, rng=rng),
    "circles": lambda noise, rng: data.make_circles(n=300, noise=noise, factor=0.5, rng=rng),
    "xor": lambda noise, rng: data.make_xor(n=300, noise=noise, rng=rng),
}
PLAYGROUND_ACTIVATIONS = ("tanh", "relu", "sigmoid")
STEPS_PER_TICK = 10
MAX_TICKS = 100
GRID = 80


def playground_data(dataset="spirals", noise=0.2, seed=0):
    """``(X_train, y_train, X_test, y_test)``: 300 points of a 2-D toy set, half for training,
    half held out for the test loss (the same split for every setting of one seed)."""
    validate.one_of(dataset, "dataset", PLAYGROUND_DATA, "playground_data")
    validate.number(noise, "noise", "playground_data", 0, 1)
    X, y = PLAYGROUND_DATA[dataset](noise, seed)
    order = np.random.default_rng([seed, 7]).permutation(len(X))
    train_idx, test_idx = order[: len(X) // 2], order[len(X) // 2:]
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


class PlaygroundRun:
    """One training run of the explorer: an MLP ``2 -> width x depth -> 2`` (``activation``
    between layers, dropout ``p`` after each hidden activation), softmax cross-entropy, Adam
    with learning rate ``lr`` and weight decay ``l2``; :meth:`train_to` trains up to a number
    of steps and records the training and test loss after every tick."""

    def __init__(self, dataset="spirals", noise=0.2, depth=2, width=8, activation="tanh",
                 lr=0.03, l2=0.0, dropout=0.0, seed=0):
        owner = "PlaygroundRun"
        validate.integer(depth, "depth", owner, 1, 6)
        validate.integer(width, "width", owner, 1, 64)
        validate.one_of(activation, "activation", PLAYGROUND_ACTIVATIONS, owner)
        validate.positive(lr, "lr", owner)
        validate.number(l2, "l2", owner, 0, 1)
        validate.number(dropout, "dropout", owner, 0, 0.9)
        self.X, self.y, self.X_test, self.y_test = playground_data(dataset, noise, seed)
        rng = np.random.default_rng([seed, 8])
        net = layers.mlp([2] + [width] * depth + [2], activation=activation, rng=rng)
        modules = []
        for module in net.modules:
            modules.append(module)
            if dropout > 0 and not isinstance(module, layers.Linear):
                modules.append(layers.Dropout(dropout, rng=rng))
        self.model = layers.Sequential(*modules)
        self.loss = losses.SoftmaxCrossEntropyLoss()
        self.optimizer = optim.Adam(self.model.parameters(), lr=lr, weight_decay=l2)
        self.step = 0
        self.steps, self.train_loss, self.test_loss = [], [], []
        self._record()

    def _record(self):
        self.model.eval()
        self.steps.append(self.step)
        self.train_loss.append(train.evaluate(self.model, self.X, self.y, self.loss)["loss"])
        self.test_loss.append(train.evaluate(self.model, self.X_test, self.y_test,
                                             self.loss)["loss"])

    def train_to(self, step):
        """Full-batch steps until ``self.step >= step`` (never backwards), one record per
        ``STEPS_PER_TICK`` steps."""
        with blas_thread_limit(1):
            while self.step < step:
                self.model.train()
                for _ in range(STEPS_PER_TICK):
                    self.loss(self.model(self.X), self.y)
                    self.model.backward(self.loss.backward())
                    self.optimizer.step()
                self.step += STEPS_PER_TICK
                self._record()
        self.model.eval()
        return self


def _build_playground(fig):
    ax_b, ax_l = axes = fig.subplots(1, 2, width_ratios=(1, 1.1))
    ax_b.set(xlabel="x₁", ylabel="x₂")
    ax_b.grid(False)
    ax_l.set(xlabel="training step", ylabel="cross-entropy loss", title="Training vs test loss")
    return axes


@styled
def plot_playground(run, title="", *, fig=None):
    """Left: decision regions of ``run.model`` (shade = confidence) with the training points
    (filled) and the test points (hollow); right: training and test loss per recorded step.
    ``fig``: a figure this function drew before, redrawn in place. Returns the Figure."""
    X, y = run.X, run.y
    every = np.vstack([X, run.X_test])
    pad = 0.3
    xlim = (float(every[:, 0].min()) - pad, float(every[:, 0].max()) + pad)
    ylim = (float(every[:, 1].min()) - pad, float(every[:, 1].max()) + pad)
    xx, yy, probs = compute_decision_boundary(run.model, xlim, ylim, n=GRID)
    colors = np.array([[int(c[i: i + 2], 16) / 255 for i in (1, 3, 5)] for c in PALETTE[:2]])
    img = 1 - 0.45 * (1 - probs @ colors)
    fig, (ax_b, ax_l) = reuse_figure(fig, "playground", _build_playground, (860, 380))
    ax_b.imshow(img, origin="lower", extent=(*xlim, *ylim), aspect="auto",
                interpolation="bilinear")
    ax_b.contour(xx, yy, probs[..., 1], levels=[0.5], colors="k", linewidths=0.8)
    for k in range(2):
        ax_b.scatter(*X[y == k].T, s=16, color=PALETTE[k], edgecolors="k", linewidths=0.4,
                     marker=MARKERS[k], label=f"class {k} (training)")
        ax_b.scatter(*run.X_test[run.y_test == k].T, s=16, facecolors="none",
                     edgecolors=PALETTE[k], linewidths=1.0, marker=MARKERS[k],
                     label=f"class {k} (test)")
    ax_b.set(xlim=xlim, ylim=ylim)
    ax_b.set_title(title or f"step {run.step}")
    ax_l.set_autoscale_on(True)
    ax_l.plot(run.steps, run.train_loss, color=OKABE_ITO["blue"], ls="-", label="training loss")
    ax_l.plot(run.steps, run.test_loss, color=OKABE_ITO["vermillion"], ls="--",
              label="test loss")
    ax_l.set_xlim(0, max(STEPS_PER_TICK * 10, run.step))
    ax_l.set_ylim(0, 1.05 * max(max(run.train_loss), max(run.test_loss)))
    handles, labels = ax_b.get_legend_handles_labels()
    more = ax_l.get_legend_handles_labels()
    fig.legend(handles + more[0], labels + more[1], loc="outside right upper")
    return fig


def playground_widget(dataset="spirals", noise=0.2, depth=2, width=8, activation="tanh",
                      lr=0.03, l2=0.0, dropout=0.0, seed=0):
    """The explorer: data set, noise, depth, width, activation, learning rate, L2 and dropout
    controls, a play/pause button (each tick trains STEPS_PER_TICK more steps) and its step
    slider, above :func:`plot_playground`. Returns a :class:`~nbkit.widgets._base.FigureBox`
    whose ``run`` attribute is the current :class:`PlaygroundRun`."""
    import ipywidgets as W

    common = {"style": control_style(), "continuous_update": False}
    controls = {
        "dataset": W.Dropdown(options=list(PLAYGROUND_DATA), value=dataset, description="data",
                              style=control_style(), layout=slider_layout("200px")),
        "noise": W.FloatSlider(value=noise, min=0, max=0.5, step=0.05, description="noise",
                               layout=slider_layout("200px"), **common),
        "activation": W.Dropdown(options=list(PLAYGROUND_ACTIVATIONS), value=activation,
                                 description="activation", style=control_style(),
                                 layout=slider_layout("200px")),
        "depth": W.IntSlider(value=depth, min=1, max=4, description="hidden layers",
                             layout=slider_layout("200px"), **common),
        "width": W.IntSlider(value=width, min=2, max=32, step=2, description="width",
                             layout=slider_layout("200px"), **common),
        "lr": W.FloatLogSlider(value=lr, base=10, min=-3, max=0, step=0.25,
                               description="learning rate", readout_format=".3g",
                               layout=slider_layout("200px"), **common),
        "l2": W.SelectionSlider(options=[0.0, 1e-4, 1e-3, 1e-2, 3e-2, 0.1], value=l2,
                                description="L2", layout=slider_layout("200px"), **common),
        "dropout": W.FloatSlider(value=dropout, min=0, max=0.5, step=0.05,
                                 description="dropout p", layout=slider_layout("200px"),
                                 **common),
        "tick": W.Play(value=0, min=0, max=MAX_TICKS, interval=250, description="train",
                       show_repeat=False),
    }
    tick_slider = W.IntSlider(min=0, max=MAX_TICKS, description="×10 steps", readout=True,
                              continuous_update=False, layout=slider_layout("200px"),
                              style=control_style())
    W.jslink((controls["tick"], "value"), (tick_slider, "value"))
    settings = [k for k in controls if k != "tick"]

    def new_run(values):
        return PlaygroundRun(**{k: values[k] for k in settings}, seed=seed)

    def on_change(box, change):
        if change["owner"] is not box.controls["tick"]:
            box.run = None  # a new setting: new weights, from step 0
            with box.muted():
                box.controls["tick"].value = 0

    def draw(fig, tick, **values):
        if getattr(box_ref[0], "run", None) is None or tick * STEPS_PER_TICK < box_ref[0].run.step:
            box_ref[0].run = new_run(values)
        run = box_ref[0].run.train_to(tick * STEPS_PER_TICK)
        acc = train.evaluate(run.model, run.X_test, run.y_test, run.loss)["accuracy"]
        return plot_playground(run, f"step {run.step}: test accuracy {acc:.0%}", fig=fig)

    box_ref = [None]
    grid = W.GridBox([controls[k] for k in settings],
                     layout=W.Layout(grid_template_columns="repeat(4, 212px)"))
    panel = W.VBox([grid, W.HBox([controls["tick"], tick_slider])])

    class _Box(FigureBox):
        def redraw(self, use_cache=False):  # the picture depends on the run, not only values
            box_ref[0] = self
            super().redraw(use_cache=False)

    return _Box(controls, draw, "<playground widget: data, noise, depth, width, activation, "
                "learning rate, L2, dropout, play/pause (needs a live kernel); static picture "
                "shown where widgets cannot render>", on_change=on_change, panel=panel)
