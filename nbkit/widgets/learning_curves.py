"""Learning curves: training vs validation per epoch with the early-stopping epoch marked, and
one metric of several training runs on one axes."""

import numpy as np
from matplotlib.ticker import MaxNLocator

from nbkit import validate
from nbkit.train import early_stopping_epoch
from nbkit.widgets._base import LINESTYLES, OKABE_ITO, PALETTE, new_figure, styled


@styled
def plot_learning_curve(history=None, *, train=None, val=None, best_epoch=None,
                        metric="loss", patience=None):
    """Train vs validation curve per epoch with a marker at the early-stopping epoch.

    Pass an ``nbkit.train.History`` (uses ``train_<metric>``, ``val_<metric>``,
    ``best_epoch``) or the arrays ``train`` (E,) and ``val`` (E,). ``metric`` is "loss" or
    "acc". ``best_epoch`` defaults to the history's, else to :func:`early_stopping_epoch`
    of the validation loss curve. Returns a Figure.
    """
    validate.one_of(metric, "metric", ("loss", "acc"), "plot_learning_curve")
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
    fig, axes = new_figure(640, 340)
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    return fig


HISTORY_METRICS = {
    "train_loss": "mean training loss",
    "train_acc": "training accuracy",
    "val_loss": "validation loss",
    "val_acc": "validation accuracy",
}
# line styles cycled with PALETTE, so runs differ by more than colour (colour-blind safe)
HISTORY_LINESTYLES = LINESTYLES


@styled
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
    validate.one_of(metric, "metric", HISTORY_METRICS, "plot_histories")
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
    fig, axes = new_figure(760, 340)
    ax = axes[0, 0]
    for i, (name, curve) in enumerate(curves.items()):
        style = {"marker": "o", "ms": 3} if curve.size <= 20 else {}
        ax.plot(np.arange(1, curve.size + 1), curve, color=PALETTE[i % len(PALETTE)],
                ls=HISTORY_LINESTYLES[i % len(HISTORY_LINESTYLES)], lw=1.8, label=str(name),
                **style)
    if logy:
        ax.set_yscale("log")
    longest = max(c.size for c in curves.values())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if longest <= 10:
        ax.set_xticks(np.arange(1, longest + 1))
    ax.set(xlabel=ax_labels[0], ylabel=ax_labels[1],
           title=f"{HISTORY_METRICS[metric]} per epoch" if title is None else title)
    # outside the axes, right of them: a legend never covers a curve
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper")
    return fig
