"""The activation explorer: f(z) and f'(z) of the activation functions, side by side."""

import numpy as np

from nbkit import validate
from nbkit.activations import ACTIVATIONS
from nbkit.widgets._base import (
    OKABE_ITO,
    FigureBox,
    activation_color,
    activation_label,
    new_figure,
    slider_style,
)


def compute_activation(name, z):
    """``(f(z), f'(z))`` from ``nbkit.activations.ACTIVATIONS``; z any float array."""
    fn = ACTIVATIONS[validate.one_of(name, "activation", ACTIVATIONS, "compute_activation")]
    z = np.asarray(z, dtype=np.float64)
    return fn.f(z), fn.derivative(z)


def plot_activations(names=("sigmoid", "tanh", "relu"), z_range=(-5.0, 5.0), n=401):
    """Two panels: f(z) and f'(z) for each named activation over ``z_range``. Returns a Figure."""
    lo, hi = z_range
    if not hi > lo:
        raise ValueError(f"plot_activations: z_range must be (low, high) with low < high, "
                         f"got {z_range!r}")
    z = np.linspace(lo, hi, n)
    fig, axes = new_figure(10, 3.6, ncols=2)
    ax_f, ax_d = axes[0]
    for name in names:
        f, d = compute_activation(name, z)
        color, label = activation_color(name), activation_label(name)
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
            options=[(activation_label(a), a) for a in ACTIVATIONS if a != "linear"],
            value=tuple(names), description="activations", rows=5,
            style=slider_style()),
        "z_range": W.FloatRangeSlider(value=(-5.0, 5.0), min=-10, max=10, step=0.5,
                                      description="z range", continuous_update=False,
                                      style=slider_style()),
    }
    return FigureBox(controls, lambda names, z_range: plot_activations(names, z_range),
                     "<activation explorer widget (needs a live kernel); static picture shown "
                     "where widgets cannot render>")
