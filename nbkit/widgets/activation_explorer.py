"""The activation explorer: f(z) and f'(z) of the activation functions, side by side."""

import numpy as np

from nbkit import validate
from nbkit.activations import ACTIVATIONS
from nbkit.widgets._base import (
    MAX_WIDTH_PX,
    MULTI_SELECT_HINT,
    OKABE_ITO,
    FigureBox,
    activation_color,
    activation_label,
    activation_linestyle,
    control_style,
    reuse_figure,
    slider_layout,
    styled,
)


def compute_activation(name, z):
    """``(f(z), f'(z))`` from ``nbkit.activations.ACTIVATIONS``; z any float array."""
    fn = ACTIVATIONS[validate.one_of(name, "activation", ACTIVATIONS, "compute_activation")]
    z = np.asarray(z, dtype=np.float64)
    return fn.f(z), fn.derivative(z)


def _build_activations(fig):
    ax_f, ax_d = axes = fig.subplots(1, 2)
    ax_f.set(xlabel="z", ylabel="f(z)", title="Activation f(z)")
    ax_d.set(xlabel="z", ylabel="f′(z)", title="Derivative f′(z)")
    for ax in axes:
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
    return axes


@styled
def plot_activations(names=("sigmoid", "tanh", "relu"), z_range=(-5.0, 5.0), n=401, *,
                     fig=None):
    """Two panels: f(z) and f'(z) for each named activation over ``z_range`` (colour and line
    style per activation; one legend right of the panels). ``fig``: a figure this function
    drew before, redrawn in place. Returns the Figure."""
    lo, hi = z_range
    if not hi > lo:
        raise ValueError(f"plot_activations: z_range must be (low, high) with low < high, "
                         f"got {z_range!r}")
    z = np.linspace(lo, hi, n)
    fig, (ax_f, ax_d) = reuse_figure(fig, "activations", _build_activations, (MAX_WIDTH_PX, 320))
    for name in names:
        f, d = compute_activation(name, z)
        style = {"color": activation_color(name), "ls": activation_linestyle(name)}
        ax_f.plot(z, f, label=activation_label(name), **style)
        ax_d.plot(z, d, **style)
    if "sigmoid" in names:
        ax_d.axhline(0.25, color=OKABE_ITO["black"], ls=":", lw=1)
        ax_d.annotate("σ′ ≤ 1/4", (lo, 0.25), xytext=(4, 4), textcoords="offset points")
    for ax in (ax_f, ax_d):
        ax.set_xlim(lo, hi)
        ax.set_autoscaley_on(True)
        ax.relim()
        ax.autoscale_view(scalex=False)
    if names:
        fig.legend(*ax_f.get_legend_handles_labels(), loc="outside right upper")
    return fig


def keep_range_open(slider, change, min_gap=None):
    """Keep a range slider's (low, high) with low < high: a move that closes the range (the
    End key on the upper handle, dragging one handle onto the other) is undone by pushing the
    other end one step away (or this end back, at the slider's bounds). Returns the value."""
    lo, hi = slider.value
    gap = slider.step if min_gap is None else min_gap
    if hi - lo >= gap:
        return slider.value
    old_lo, old_hi = change["old"] if change.get("old") else (lo, hi)
    if hi != old_hi:  # the upper handle moved: keep it, move the lower one below it
        lo = hi - gap
    else:
        hi = lo + gap
    if lo < slider.min:
        lo, hi = slider.min, slider.min + gap
    if hi > slider.max:
        lo, hi = slider.max - gap, slider.max
    slider.value = (lo, hi)
    return slider.value


def activation_widget(names=("sigmoid", "tanh", "relu")):
    """A multiple selection of activations (with a hint: Ctrl/⌘-click picks several) and a
    z-range slider that always keeps low < high, above :func:`plot_activations`."""
    import ipywidgets as W

    controls = {
        "names": W.SelectMultiple(
            options=[(activation_label(a), a) for a in ACTIVATIONS if a != "linear"],
            value=tuple(names), description="activations", rows=4,
            style=control_style(), layout=slider_layout("260px")),
        "z_range": W.FloatRangeSlider(value=(-5.0, 5.0), min=-10, max=10, step=0.5,
                                      description="z range", continuous_update=False,
                                      style=control_style(), layout=slider_layout("330px")),
    }
    hint = W.HTML(MULTI_SELECT_HINT, layout=W.Layout(width="260px"))

    def on_change(box, change):
        if change["owner"] is box.controls["z_range"]:
            with box.muted():
                keep_range_open(box.controls["z_range"], change)

    panel = W.HBox([W.VBox([controls["names"], hint]), controls["z_range"]])
    return FigureBox(controls, lambda fig, names, z_range: plot_activations(names, z_range,
                                                                            fig=fig),
                     "<activation explorer widget (needs a live kernel); static picture shown "
                     "where widgets cannot render>", on_change=on_change, panel=panel)
