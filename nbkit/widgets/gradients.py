"""Widget 1: vanishing (and exploding) gradients in a deep MLP.

Backpropagation multiplies the error signal by ``W_l^T`` and by ``f'(z_l)`` once per layer:

    dL/dz_l = (dL/dz_{l+1} W_{l+1}^T) ⊙ f'(z_l),        dL/dW_l = h_{l-1}^T dL/dz_l.

The widget shows both norms per layer. With the sigmoid, ``σ'(z) <= 1/4``, so both shrink
roughly geometrically towards the input (unless the weights are large). ReLU's derivative is
exactly 0 or 1, so what happens to the error signal ``||dL/dz_l||`` is decided by the weight
scale: it stays roughly constant with He-scaled weights (``std = sqrt(2 / n_in)``) and shrinks
by about ``1/sqrt(2)`` per layer with Xavier-like ones (``std = sqrt(1 / n_in)``). The weight
gradient ``||dL/dW_l||`` of a bias-free ReLU net has the same shape across layers for every
scale: scaling all weights by ``c`` multiplies ``h_{l-1}`` by ``c^(l-1)`` and ``dL/dz_l`` by
``c^(L-l)``, so their product by ``c^(L-1)`` in every layer. Units whose input is negative for
every example are dead: they pass no gradient at all.
"""

from functools import lru_cache

import numpy as np
from matplotlib.ticker import MaxNLocator

from nbkit import validate
from nbkit.activations import ACTIVATIONS
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    MAX_WIDTH_PX,
    MIN_FONT_PT,
    OKABE_ITO,
    FigureBox,
    activation_color,
    activation_label,
    activation_linestyle,
    control_style,
    log_scale,
    reuse_figure,
    slider_layout,
    styled,
)
from nbkit.widgets._mlp import ACT_NAMES, probe_data, run_probe

MAX_DEPTH = 30
MAX_WIDTH = 128
N_EXAMPLES = 64


@lru_cache(maxsize=8)
def standard_weights(width, seed, depth=MAX_DEPTH):
    """Cached ``depth`` matrices (width, width) with entries N(0, 1/width): ``gain`` = 1.

    The widget multiplies them by the init-scale slider, so moving that slider (or the depth
    slider, which takes a prefix) draws no new random numbers.
    """
    rng = np.random.default_rng([seed, 2])
    Ws = [
        (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        for _ in range(depth)
    ]
    for W in Ws:
        W.flags.writeable = False
    return tuple(Ws)


def compute_vanishing_gradients(depth=10, width=64, init_scale=1.0, activations=ACT_NAMES,
                                n=N_EXAMPLES, seed=0, dtype=np.float32):
    """Per-layer gradient statistics of a deep MLP for several activations, same weights.

    Layers ``z_l = h_{l-1} W_l``, ``h_l = f(z_l)``, ``W_l ~ N(0, init_scale^2 / width)``
    (``init_scale = 1``: LeCun/Xavier for square layers; ``sqrt(2)``: He), input
    ``X ~ N(0, 1)`` of shape (n, width), loss a fixed random read-out of ``h_depth``
    (see :mod:`nbkit.widgets._mlp`). ``dtype`` is that of the weights and data (float32 for
    the widget's speed, float64 for tables whose digits must not depend on the BLAS kernel).

    Returns ``{activation: {"grad_norm", "dz_norm", "mean_fprime", "dead_fraction",
    "act_std"}}``, each an array of shape (depth,), layer 1 (input side) first:

    - ``grad_norm[l]`` = ||dL/dW_l||_F;
    - ``dz_norm[l]`` = ||dL/dz_l||_F, the error signal (delta) of layer l;
    - ``mean_fprime[l]`` = mean over examples and units of f'(z_l);
    - ``dead_fraction[l]`` = fraction of units with f'(z_l) = 0 for every example;
    - ``act_std[l]`` = standard deviation of h_l.
    """
    owner = "compute_vanishing_gradients"
    depth = validate.integer(depth, "depth", owner, 1, MAX_DEPTH)
    width = validate.integer(width, "width", owner, 2, MAX_WIDTH)
    n = validate.integer(n, "n", owner, 1, 10_000)
    init_scale = validate.positive(init_scale, "init_scale", owner)
    for a in activations:
        validate.one_of(a, "activation", ACT_NAMES, owner)
    X, G = probe_data(n, width, seed)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype}")
    X, G = X.astype(dtype, copy=False), G.astype(dtype, copy=False)
    Ws = [dtype.type(init_scale) * W.astype(dtype, copy=False)
          for W in standard_weights(width, seed)[:depth]]
    out = {}
    for a in activations:
        with blas_thread_limit(1):
            r = run_probe(Ws, a, X, G)
        fprime = [ACTIVATIONS[a].derivative(z) for z in r["z"]]
        out[a] = {
            "grad_norm": np.array([np.linalg.norm(dW) for dW in r["dW"]], dtype=np.float64),
            "dz_norm": np.array([np.linalg.norm(dz) for dz in r["dz"]], dtype=np.float64),
            "mean_fprime": np.array([fp.mean() for fp in fprime], dtype=np.float64),
            "dead_fraction": np.array([np.mean(np.all(fp == 0, axis=0)) for fp in fprime]),
            "act_std": np.array([h.std() for h in r["h"]], dtype=np.float64),
        }
    return out


def _build_vanishing(fig, names):
    """The three panels, a line per activation in each, the legend and a note on dead units;
    what a slider changes (the lines, the note, the left title, the axes but the slope's y
    axis) is animated (:func:`~nbkit.widgets._base.render`)."""
    axes = fig.subplots(1, 3)
    ax_g, ax_d, ax_f = axes
    ax_g.set_ylabel(r"‖∂L/∂W$_\ell$‖ (log scale)")
    ax_d.set(ylabel=r"‖∂L/∂z$_\ell$‖ (log scale)",
             title=r"Error signal ‖∂L/∂z$_\ell$‖ per layer")
    log_scale(ax_g)
    log_scale(ax_d)
    # f' <= 1 for every activation here: the band above 1 is for the note on dead units
    ax_f.set(ylabel=r"mean $f'(z_\ell)$", title="Mean slope f′ per layer", ylim=(0, 1.2))
    fig._nbkit_note = ax_f.text(0.98, 0.98, "", transform=ax_f.transAxes, ha="right", va="top",
                                fontsize=MIN_FONT_PT)
    ax_f.axhline(0.25, color=OKABE_ITO["black"], ls=":", lw=1)
    ax_f.annotate("σ′ ≤ 1/4", (0.02, 0.25), xycoords=("axes fraction", "data"),
                  xytext=(0, 3), textcoords="offset points", fontsize=MIN_FONT_PT)
    fig._nbkit_lines = {}
    for a in names:
        style = {"color": activation_color(a), "ls": activation_linestyle(a), "marker": "o",
                 "ms": 3.5, "animated": True}
        fig._nbkit_lines[a] = [ax.plot([], [], **style)[0] for ax in axes]
    for ax in axes:
        ax.set_xlabel(r"layer $\ell$ (1 = input side)")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    for artist in (ax_g.xaxis, ax_g.yaxis, ax_g.title, ax_d.xaxis, ax_d.yaxis, ax_f.xaxis,
                   fig._nbkit_note):
        artist.set_animated(True)
    fig.legend([lines[0] for lines in fig._nbkit_lines.values()], names,
               loc="outside upper center", ncols=min(len(names), 4), frameon=False)
    return axes


@styled
def plot_vanishing_gradients(stats, init_scale=None, *, fig=None):
    """Left: the weight gradient ||dL/dW_l|| per layer (log scale) per activation. Middle: the
    error signal ||dL/dz_l|| per layer (log scale), beside it, so the two stories can be told
    apart. Right: mean f'(z_l) per layer, with the bound σ' <= 1/4 and the share of dead ReLU
    units. One legend above the panels. ``stats`` is the output of
    :func:`compute_vanishing_gradients`; exact zeros are not drawn on the log scales (the legend
    says so). ``fig``: a figure this function drew before, redrawn in place. Returns the Figure.
    """
    if not stats:
        raise ValueError("plot_vanishing_gradients: stats is empty")
    names = tuple(stats)
    fig, (ax_g, ax_d, ax_f) = reuse_figure(fig, ("vanishing", names),
                                           lambda f: _build_vanishing(f, names),
                                           (MAX_WIDTH_PX, 330))
    depth = len(next(iter(stats.values()))["grad_norm"])
    layer = np.arange(1, depth + 1)
    labels, dead = fig.legends[0].get_texts(), []
    for (a, s), text in zip(stats.items(), labels, strict=True):
        text.set_text(activation_label(a) + (" (zeros not drawn)" if np.any(s["grad_norm"] == 0)
                                             else ""))
        if a in ("relu", "leaky_relu"):
            dead.append(f"{activation_label(a)} {100 * s['dead_fraction'].mean():.0f}%")
        dz = s.get("dz_norm", np.zeros(depth))
        for line, values in zip(fig._nbkit_lines[a], (s["grad_norm"], dz, s["mean_fprime"]),
                                strict=True):
            line.set_data(layer, np.where(values > 0, values, np.nan) if line.axes is not ax_f
                          else values)
    fig._nbkit_note.set_text("dead units: " + ",\n".join(dead) if dead else "")
    scale = "" if init_scale is None else f" (init scale {init_scale:.3g})"
    ax_g.title.set_text(r"Weight gradient ‖∂L/∂W$_\ell$‖" + scale)
    for ax in (ax_g, ax_d, ax_f):
        ax.set_xlim(0.5, depth + 0.5)
        ax.relim()
        ax.autoscale_view(scalex=False, scaley=ax is not ax_f)
    return fig


def vanishing_gradients_widget(depth=10, width=64, init_scale=1.0, seed=0):
    """Sliders for depth, width and (log) init scale above the three panels of
    :func:`plot_vanishing_gradients`. Returns a :class:`~nbkit.widgets._base.FigureBox`."""
    import ipywidgets as W

    common = {"continuous_update": False, "style": control_style(), "layout": slider_layout()}
    controls = {
        "depth": W.IntSlider(value=depth, min=2, max=MAX_DEPTH, step=1, description="depth",
                             **common),
        "width": W.IntSlider(value=width, min=16, max=MAX_WIDTH, step=16, description="width",
                             **common),
        "init_scale": W.FloatLogSlider(value=init_scale, base=10, min=-1, max=1, step=0.05,
                                       description="init scale (std·√n_in)",
                                       readout_format=".3g",
                                       **{**common, "layout": slider_layout("300px")}),
    }

    def draw(fig, depth, width, init_scale):
        stats = compute_vanishing_gradients(depth, width, init_scale, seed=seed)
        return plot_vanishing_gradients(stats, init_scale, fig=fig)

    return FigureBox(controls, draw, "<vanishing gradients widget: sliders depth, width, init "
                     "scale (needs a live kernel); static picture shown where widgets cannot "
                     "render>")
