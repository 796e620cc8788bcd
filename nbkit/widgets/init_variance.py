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

from nbkit import init as initializers
from nbkit import validate
from nbkit.threads import blas_thread_limit
from nbkit.widgets._base import (
    OKABE_ITO,
    PALETTE,
    FigureBox,
    activation_label,
    new_figure,
    slider_style,
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


def _ridgeline(ax, counts, edges, means, stds, color_cycle):
    """One histogram per layer, stacked vertically (layer 1 at the bottom), with a bar for
    mean ± std under each."""
    centers = 0.5 * (edges[:-1] + edges[1:])
    for l, c in enumerate(counts):
        height = c / max(c.max(), 1) * 0.85
        ax.fill_between(centers, l + 1, l + 1 + height, color=color_cycle[l % len(color_cycle)],
                        alpha=0.6, step="mid", lw=0)
    rows = np.arange(1, len(counts) + 1) + 0.03
    m = np.clip(means, edges[0], edges[-1])
    ax.hlines(rows, np.clip(m - stds, edges[0], edges[-1]), np.clip(m + stds, edges[0], edges[-1]),
              color=OKABE_ITO["black"], lw=1.2)
    ax.plot(m, rows, "|", color=OKABE_ITO["black"], ms=8)
    ax.set_ylim(0.8, len(counts) + 1)
    ax.set_yticks(np.arange(1, len(counts) + 1))
    ax.set_xlim(edges[0], edges[-1])


def plot_init_statistics(stats, scheme=None, activation=None, std=None):
    """Four panels for the output of :func:`compute_init_statistics`: activation and gradient
    histograms per layer (bar = mean ± std), std per layer (log scale), and the activations of
    the middle layer (examples × units; identical columns = symmetric units).
    Returns a new Figure."""
    hs = stats["activations"]
    depth = len(hs)
    fig, axes = new_figure(10, 6.4, ncols=2, nrows=2)
    (ax_a, ax_g), (ax_s, ax_h) = axes
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"]]
    _ridgeline(ax_a, *stats["act_hist"], stats["act_mean"], stats["act_std"], colors)
    _ridgeline(ax_g, *stats["grad_hist"], stats["grad_mean"], stats["grad_std"], colors)
    ax_a.set(xlabel="activation value h", ylabel="layer l",
             title="Activations per layer (bar: mean ± std)")
    ax_g.set(xlabel="weight gradient ∂L/∂W", ylabel="layer l",
             title="Weight gradients per layer (bar: mean ± std)")
    ax_g.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))

    layer = np.arange(1, depth + 1)
    tiny = 1e-12
    ax_s.semilogy(layer, np.maximum(stats["act_std"], tiny), "o-", color=PALETTE[0],
                  label="std of activations h_l")
    ax_s.semilogy(layer, np.maximum(stats["grad_std"], tiny), "s-", color=PALETTE[1],
                  label="std of gradients ∂L/∂W_l")
    ax_s.set(xlabel="layer l (1 = input side)", ylabel="standard deviation (log scale)",
             title="Spread per layer", xticks=layer)
    ax_s.grid(alpha=0.3)
    ax_s.legend(fontsize=8)

    mid = (depth - 1) // 2
    h = hs[mid][:16, :24]
    im = ax_h.imshow(h, aspect="auto", cmap="cividis", interpolation="nearest")
    fig.colorbar(im, ax=ax_h, fraction=0.05)
    same = bool(stats["identical_units"][mid])
    ax_h.set(xlabel="unit j", ylabel="example n",
             title=f"Layer {mid + 1} activations"
             + (": ALL UNITS IDENTICAL (symmetry)" if same else ""))
    if same:
        ax_h.title.set_color(OKABE_ITO["vermillion"])

    parts = []
    if scheme is not None:
        label = SCHEMES.get(_SHORT_NAMES.get(scheme, scheme), str(scheme))
        if scheme == "normal" and std is not None:
            label = f"N(0, {std:.3g}²)"
        parts.append(f"init {label}")
    if activation is not None:
        parts.append(activation_label(activation))
    fig.suptitle("Initialization: " + (", ".join(parts) if parts else "statistics per layer"))
    fig.subplots_adjust(left=0.08, right=0.94, bottom=0.08, top=0.89, wspace=0.25, hspace=0.42)
    return fig


def init_variance_widget(scheme="normal", activation="tanh", std=0.01, depth=8, width=100,
                         seed=0):
    """Dropdowns for the scheme and activation, a log slider for the weight std (used by the
    N(0, std²) scheme) and a depth slider, above :func:`plot_init_statistics`.
    Returns a :class:`~nbkit.widgets._base.FigureBox`."""
    import ipywidgets as W

    style = slider_style()
    controls = {
        "scheme": W.Dropdown(options=[(label, key) for key, label in SCHEMES.items()],
                             value=_SHORT_NAMES.get(scheme, scheme), description="init",
                             style=style),
        "activation": W.Dropdown(options=[(activation_label(a), a) for a in ACT_NAMES],
                                 value=activation, description="activation", style=style),
        "std": W.FloatLogSlider(value=std, base=10, min=-3, max=1, step=0.1,
                                description="weight std", continuous_update=False,
                                readout_format=".3g", style=style,
                                disabled=scheme != "normal"),
        "depth": W.IntSlider(value=depth, min=2, max=MAX_DEPTH, description="depth",
                             continuous_update=False, style=style),
    }

    def on_change(box, change):
        box.controls["std"].disabled = box.controls["scheme"].value != "normal"

    def draw(scheme, activation, std, depth):
        stats = compute_init_statistics(scheme, activation, std, depth, width, seed=seed)
        return plot_init_statistics(stats, scheme, activation, std)

    return FigureBox(controls, draw, "<init variance widget: init scheme, activation, weight "
                     "std, depth (needs a live kernel); static picture shown where widgets "
                     "cannot render>", rows=[["scheme", "activation"], ["std", "depth"]],
                     on_change=on_change)
