"""Widget 2: how the initial weight scale shapes activations and gradients layer by layer.

For a layer ``z = h W`` with ``n_in`` inputs and i.i.d. zero-mean weights of variance ``s^2``,

    Var(z_j) = n_in s^2 E[h^2].

With ``s^2 = 1 / n_in`` (Xavier/Glorot for tanh, up to the fan-out average) or ``2 / n_in`` (He,
for ReLU, which zeroes half of its inputs) the variance is preserved from layer to layer; much
smaller weights make the activations (and the backpropagated gradients) collapse towards 0,
much larger ones saturate tanh/sigmoid or explode. With all weights zero every unit of a layer
computes the same function and receives the same gradient: the symmetry is never broken.
"""

import numpy as np
from matplotlib.ticker import MaxNLocator

from nbkit import init as initializers
from nbkit import validate
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    MAX_WIDTH_PX,
    OKABE_ITO,
    PALETTE,
    FigureBox,
    activation_label,
    control_style,
    log_scale,
    reuse_figure,
    slider_layout,
    styled,
)
from nbkit.widgets._mlp import ACT_NAMES, probe_data, run_probe

# scheme -> label: the names of nbkit.init.INITIALIZERS, and "normal" for N(0, std²) with the
# std slider's value
SCHEMES = {
    "zeros": "zeros",
    "normal": "N(0, std²)",
    "xavier_normal": "Xavier N(0, 2/(n_in+n_out))",
    "he_normal": "He N(0, 2/n_in)",
}
# the short names lectures used before the widgets shared nbkit.init's names
_SHORT_NAMES = {"xavier": "xavier_normal", "he": "he_normal"}
MAX_DEPTH = 12
MAX_WIDTH = 256
SPREAD_LABELS = ("activations h_ℓ", "gradients ∂L/∂W_ℓ")


def initializer(scheme, std=0.01):
    """The :mod:`nbkit.init` initializer ``f(shape, rng)`` for a scheme name in SCHEMES
    ("xavier" and "he" are accepted for "xavier_normal" and "he_normal")."""
    scheme = validate.one_of(_SHORT_NAMES.get(scheme, scheme), "scheme", SCHEMES, "initializer")
    return initializers.normal(std) if scheme == "normal" else initializers.get(scheme)


def _histograms(arrays, symmetric, bins):
    """Counts (len(arrays), bins) over one shared range, and the edges (bins + 1,)."""
    if symmetric:
        hi = max(float(np.percentile(np.abs(a), 99.5)) for a in arrays)
        lo = -hi
    else:
        lo = min(float(np.percentile(a, 0.5)) for a in arrays)
        hi = max(float(np.percentile(a, 99.5)) for a in arrays)
    if not hi - lo > 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.stack([np.histogram(np.clip(a, lo, hi), edges)[0] for a in arrays])
    return counts, edges


def compute_init_statistics(scheme="xavier_normal", activation="tanh", std=0.01, depth=8, width=100,
                            n=256, seed=0, bins=40):
    """Activations and weight gradients of a deep MLP right after initialization.

    Layers ``h_l = f(h_{l-1} W_l)`` (biases 0), ``W_l`` (width, width) drawn by
    :func:`initializer` (``std`` is used by the ``"normal"`` scheme only), input
    ``X ~ N(0, 1)`` (n, width), loss a fixed random read-out of ``h_depth``
    (see :mod:`nbkit.widgets._mlp`).

    Returns a dict (arrays of shape (depth,) unless stated; layer 1 = input side first):

    - ``"activations"``: list of depth arrays h_l (n, width);
    - ``"gradients"``: list of depth arrays dL/dW_l (width, width);
    - ``"act_mean"``, ``"act_std"``, ``"grad_mean"``, ``"grad_std"``: moments per layer;
    - ``"act_hist"``, ``"grad_hist"``: (counts (depth, bins), edges (bins + 1,)), one shared
      range per quantity so the layers can be compared;
    - ``"identical_units"``: bool, True where every unit of layer l has the same activation
      on every example (the symmetry problem);
    - ``"weight_std"``: the empirical standard deviation of each W_l.
    """
    owner = "compute_init_statistics"
    validate.one_of(activation, "activation", ACT_NAMES, owner)
    std = validate.positive(std, "std", owner)
    depth = validate.integer(depth, "depth", owner, 1, MAX_DEPTH)
    width = validate.integer(width, "width", owner, 2, MAX_WIDTH)
    n = validate.integer(n, "n", owner, 2, 10_000)
    bins = validate.integer(bins, "bins", owner, 2, 1000)
    X, G = probe_data(n, width, seed)
    init = initializer(scheme, std)
    rng = np.random.default_rng([seed, 3])
    Ws = [init((width, width), rng) for _ in range(depth)]
    with blas_thread_limit(1):
        r = run_probe(Ws, activation, X, G)
    hs, dWs = r["h"], r["dW"]
    return {
        "activations": hs,
        "gradients": dWs,
        "act_mean": np.array([h.mean() for h in hs], dtype=np.float64),
        "act_std": np.array([h.std() for h in hs], dtype=np.float64),
        "grad_mean": np.array([g.mean() for g in dWs], dtype=np.float64),
        "grad_std": np.array([g.std() for g in dWs], dtype=np.float64),
        "act_hist": _histograms(hs, symmetric=False, bins=bins),
        "grad_hist": _histograms(dWs, symmetric=True, bins=bins),
        "identical_units": np.array([bool(np.all(h == h[:, :1])) for h in hs]),
        "weight_std": np.array([W.std() for W in Ws], dtype=np.float64),
    }


def _ridgeline(ax, depth):
    """One histogram per layer, stacked vertically (layer 1 at the bottom), and a bar for
    mean ± std under each: the artists, filled in by :func:`_draw_ridgeline`."""
    hists = [ax.stairs([0], [0, 1], baseline=l + 1, fill=True, color=PALETTE[l % 4], alpha=0.6,
                       lw=0) for l in range(depth)]
    bars = ax.hlines([], [], [], color=OKABE_ITO["black"], lw=1.2)
    marks = ax.plot([], [], "|", color=OKABE_ITO["black"], ms=8)[0]
    ax.set_ylim(0.8, depth + 1)
    ax.set_yticks(np.arange(1, depth + 1))
    ax.grid(False)
    return hists, bars, marks


def _draw_ridgeline(ax, ridge, counts, edges, means, stds):
    hists, bars, marks = ridge
    for l, (c, hist) in enumerate(zip(counts, hists, strict=True)):
        hist.set_data(l + 1 + c / max(c.max(), 1) * 0.85, edges, baseline=l + 1)
    rows = np.arange(1, len(counts) + 1) + 0.03
    m, lo, hi = (np.clip(v, edges[0], edges[-1]) for v in (means, means - stds, means + stds))
    bars.set_segments([[(a, y), (b, y)] for a, b, y in zip(lo, hi, rows, strict=True)])
    marks.set_data(m, rows)
    ax.set_xlim(edges[0], edges[-1])


def _build_init(fig, depth, shape):
    """The four panels for ``depth`` layers and a heat map of ``shape``; what a control changes
    (histograms, bars, lines, the heat map and its colour bar, the legend, the note, the
    titles that name the setting, the axes whose limits follow the data) is animated
    (:func:`~nbkit.widgets._base.render`)."""
    (ax_a, ax_g), (ax_s, ax_h) = axes = fig.subplots(2, 2)
    ax_a.set(xlabel="activation value h", ylabel="layer ℓ",
             title="Activations per layer (bar: mean ± std)")
    ax_g.set(xlabel="weight gradient ∂L/∂W", ylabel="layer ℓ",
             title="Weight gradients per layer (bar: mean ± std)")
    ax_g.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    fig._nbkit_ridges = [_ridgeline(ax, depth) for ax in (ax_a, ax_g)]
    animated = [a for hists, *rest in fig._nbkit_ridges for a in (*hists, *rest)]
    animated += [ax_a.xaxis, ax_g.xaxis]
    ax_s.set(xlabel="layer ℓ (1 = input side)", ylabel="std (log scale)",
             title="Spread per layer", xlim=(0.5, depth + 0.5))
    log_scale(ax_s)
    ax_s.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig._nbkit_spread = [ax_s.plot([], [], marker=marker, ms=4, label=label)[0]
                         for marker, label in zip("os", SPREAD_LABELS, strict=True)]
    fig._nbkit_zeros = ax_s.text(0.5, 0.5, "", transform=ax_s.transAxes, ha="center",
                                 va="center", color=OKABE_ITO["vermillion"])
    image = ax_h.imshow(np.zeros(shape), aspect="auto", cmap="cividis", interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax_h, fraction=0.08, pad=0.02, label="h")
    ax_h.set(xlabel="unit j", ylabel="example n")
    ax_h.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_h.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_h.grid(False)
    fig._nbkit_image = image
    animated += [*fig._nbkit_spread, fig._nbkit_zeros, ax_s.yaxis, ax_s.legend(loc="best"),
                 image, colorbar.ax, ax_h.title, fig.suptitle("")]
    for artist in animated:
        artist.set_animated(True)
    return axes


@styled
def plot_init_statistics(stats, scheme=None, activation=None, std=None, *, fig=None):
    """Four panels for the output of :func:`compute_init_statistics`: activation and gradient
    histograms per layer (bar = mean ± std), std per layer (log scale; a std of exactly 0 is
    stated, not drawn), and the activations of the middle layer (examples × units; identical
    columns = symmetric units). ``fig``: a figure this function drew before, redrawn in place.
    Returns the Figure."""
    hs = stats["activations"]
    depth, mid = len(hs), (len(hs) - 1) // 2
    h = hs[mid][:16, :24]
    fig, axes = reuse_figure(fig, ("init", depth, h.shape),
                             lambda f: _build_init(f, depth, h.shape), (MAX_WIDTH_PX, 470))
    (ax_a, ax_g), (ax_s, ax_h) = axes
    ridge_a, ridge_g = fig._nbkit_ridges
    _draw_ridgeline(ax_a, ridge_a, *stats["act_hist"], stats["act_mean"], stats["act_std"])
    _draw_ridgeline(ax_g, ridge_g, *stats["grad_hist"], stats["grad_mean"], stats["grad_std"])

    layer = np.arange(1, depth + 1)
    zeros, legend = [], ax_s.get_legend()
    for line, text, key, label in zip(fig._nbkit_spread, legend.get_texts(),
                                      ("act_std", "grad_std"), SPREAD_LABELS, strict=True):
        values = stats[key]
        line.set_data(layer, np.where(values > 0, values, np.nan))
        text.set_text(label + (" (0 not drawn)" if np.any(values == 0) else ""))
        if np.all(values == 0):
            zeros.append(label)
    fig._nbkit_zeros.set_text("std = 0 exactly in every layer for\n" + " and ".join(zeros)
                              + "\n(not drawn: a log scale has no 0)" if zeros else "")
    legend.set_visible(len(zeros) < 2)
    if len(zeros) == 2:
        ax_s.set_ylim(0.1, 10)
    else:
        ax_s.set_autoscaley_on(True)
        ax_s.relim()
        ax_s.autoscale_view(scalex=False)

    image = fig._nbkit_image
    image.set_data(h)
    lo, hi = float(h.min()), float(h.max())
    image.set_clim(*((lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)))
    same = bool(stats["identical_units"][mid])
    ax_h.title.set_text(f"Layer {mid + 1} activations" + (": ALL UNITS IDENTICAL"
                                                          if same else ""))
    ax_h.title.set_color(OKABE_ITO["vermillion"] if same else "black")

    parts = []
    if scheme is not None:
        label = SCHEMES.get(_SHORT_NAMES.get(scheme, scheme), str(scheme))
        if scheme == "normal" and std is not None:
            label = f"N(0, {std:.3g}²)"
        parts.append(f"init {label}")
    if activation is not None:
        parts.append(activation_label(activation))
    fig._suptitle.set_text("Initialization: " + (", ".join(parts) if parts
                                                 else "statistics per layer"))
    return fig


def init_variance_widget(scheme="normal", activation="tanh", std=0.01, depth=8, width=100,
                         seed=0):
    """Dropdowns for the scheme and activation, a log slider for the weight std (used by the
    N(0, std²) scheme) and a depth slider, in one row above :func:`plot_init_statistics`.
    Returns a :class:`~nbkit.widgets._base.FigureBox`."""
    import ipywidgets as W

    common = {"style": control_style()}
    controls = {
        "scheme": W.Dropdown(options=[(label, key) for key, label in SCHEMES.items()],
                             value=_SHORT_NAMES.get(scheme, scheme), description="init",
                             layout=slider_layout("245px"), **common),
        "activation": W.Dropdown(options=[(activation_label(a), a) for a in ACT_NAMES],
                                 value=activation, description="activation",
                                 layout=slider_layout("175px"), **common),
        "std": W.FloatLogSlider(value=std, base=10, min=-3, max=1, step=0.1,
                                description="weight std", continuous_update=False,
                                readout_format=".3g", disabled=scheme != "normal",
                                layout=slider_layout("235px"), **common),
        "depth": W.IntSlider(value=depth, min=2, max=MAX_DEPTH, description="depth",
                             continuous_update=False, layout=slider_layout("175px"), **common),
    }

    def on_change(box, change):
        box.controls["std"].disabled = box.controls["scheme"].value != "normal"

    def draw(fig, scheme, activation, std, depth):
        stats = compute_init_statistics(scheme, activation, std, depth, width, seed=seed)
        return plot_init_statistics(stats, scheme, activation, std, fig=fig)

    return FigureBox(controls, draw, "<init variance widget: init scheme, activation, weight "
                     "std, depth (needs a live kernel); static picture shown where widgets "
                     "cannot render>", on_change=on_change)
