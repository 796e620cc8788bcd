"""Widget 3: optimizer trajectories on 2-D loss surfaces.

Every optimizer here is the :mod:`nbkit.optim` one (a single implementation), run on a
2-element parameter ``θ = (x, y)`` with the exact gradient of the surface:

- SGD:           θ <- θ - η g
- momentum:      v <- λ v - η g;  θ <- θ + v
- SGD 1/t:       θ <- θ - η_t g  with  η_t = η / (1 + t)  (``optim.inverse_time_decay``; the
                 "1/t" of Robbins and Monro, not the η/√(t+1) of ``optim.inverse_sqrt_decay``)
- Adagrad:       G <- G + g²;  θ <- θ - η g / (√G + ε)
- Adam:          bias-corrected moving averages of g and g².
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from nbkit import optim, validate
from nbkit.module import Parameter
from nbkit.widgets._base import (
    MAX_WIDTH_PX,
    MULTI_SELECT_HINT,
    OKABE_ITO,
    FigureBox,
    control_style,
    log_scale,
    reuse_figure,
    slider_layout,
    styled,
)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss ``f(θ)`` with gradient, its minimum value and a view box for plots."""

    name: str
    formula: str
    f: object
    grad: object
    f_min: float
    minima: tuple
    start: tuple
    xlim: tuple
    ylim: tuple


SURFACES = {
    "quadratic": Surface(
        "ill-conditioned quadratic", "f = (x² + 20 y²) / 2",
        lambda x, y: 0.5 * (x**2 + 20.0 * y**2), lambda x, y: np.array([x, 20.0 * y]),
        0.0, ((0.0, 0.0),), (-1.8, 1.0), (-2.0, 2.0), (-1.5, 1.5)),
    "saddle": Surface(
        "saddle", "f = x²/2 + y⁴/4 − y²/2",
        lambda x, y: 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2, lambda x, y: np.array([x, y**3 - y]),
        -0.25, ((0.0, 1.0), (0.0, -1.0)), (1.8, 0.01), (-2.0, 2.0), (-1.6, 1.6)),
    "valley": Surface(
        "Rosenbrock-like valley", "f = (1 − x)² + 10 (y − x²)²",
        lambda x, y: (1 - x) ** 2 + 10.0 * (y - x**2) ** 2,
        lambda x, y: np.array([-2 * (1 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)]),
        0.0, ((1.0, 1.0),), (-1.5, 1.5), (-2.0, 2.0), (-1.0, 3.0)),
}

# method: (the nbkit.optim optimizer of parameters ps for a learning rate and momentum,
# colour, line style): every pair differs in colour (colour-blind safe, visible on white) and
# in line style.
METHODS = {
    "SGD": (lambda ps, lr, momentum: optim.SGD(ps, lr), OKABE_ITO["black"], ":"),
    "momentum": (lambda ps, lr, momentum: optim.SGD(ps, lr, momentum=momentum),
                 OKABE_ITO["vermillion"], "-"),
    "SGD 1/t": (lambda ps, lr, momentum: optim.SGD(ps, optim.inverse_time_decay(lr)),
                OKABE_ITO["purple"], (0, (5, 1, 1, 1, 1, 1))),
    "Adagrad": (lambda ps, lr, momentum: optim.Adagrad(ps, lr), OKABE_ITO["blue"], "--"),
    "Adam": (lambda ps, lr, momentum: optim.Adam(ps, lr), OKABE_ITO["green"], "-."),
}
DEFAULT_METHODS = ("momentum", "Adagrad")  # the comparison the optimizer lecture is about
# Legend labels: the method names above, with the schedule spelled out where "1/t" could be
# read as η/√(t+1) (which some slides call "1/t decay").
METHOD_LABELS = {"SGD 1/t": "SGD 1/t: η/(1+t)"}
DIVERGED = 1e6  # |θ| beyond this counts as divergence; the path stops there


def point(xy):
    """θ = (x, y) as an :class:`nbkit.module.Parameter` of shape (2,), float64, without weight
    decay (nothing to decay on a point of the plane)."""
    return Parameter(np.array(xy, dtype=np.float64).reshape(2), decay=False, name="theta")


def make_optimizer(method, point, lr, momentum=0.9):
    """The :mod:`nbkit.optim` optimizer for a method name in METHODS."""
    make = METHODS[validate.one_of(method, "method", METHODS, "make_optimizer")][0]
    return make([point], lr, momentum)


def run_optimizer(surface, method, lr, steps, start, momentum=0.9):
    """Run one optimizer for ``steps`` steps from ``start`` on a surface (name or Surface).

    Returns ``(path, losses)``: ``path`` (k + 1, 2) with ``path[0] = start``, ``losses``
    (k + 1,) = f(path); ``k = steps`` unless the iterate diverged (|θ| > 1e6 or not finite),
    in which case the path stops at the first such point.
    """
    s = SURFACES[surface] if isinstance(surface, str) else surface
    steps = validate.integer(steps, "steps", "run_optimizer", 0, 100_000)
    p = point(start)
    opt = make_optimizer(method, p, lr, momentum)
    path = np.empty((steps + 1, 2))
    path[0] = p.value
    k = 0
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            p.grad = s.grad(*p.value)
            opt.step()
            path[k] = p.value
            if not (np.all(np.isfinite(p.value)) and np.abs(p.value).max() < DIVERGED):
                break
        else:
            k = steps
        path = path[: k + 1]
        losses = s.f(path[:, 0], path[:, 1])
    return path, losses


def compute_trajectories(surface="quadratic", lr=0.03, momentum=0.9, steps=100, start=None,
                         methods=tuple(METHODS)):
    """Paths of several optimizers on one surface at the same learning rate.

    Returns ``{method: (path (k+1, 2), losses (k+1,))}`` (see :func:`run_optimizer`).
    ``start`` defaults to the surface's own starting point.
    """
    owner = "compute_trajectories"
    validate.one_of(surface, "surface", SURFACES, owner)
    for m in methods:
        validate.one_of(m, "method", METHODS, owner)
    lr = validate.positive(lr, "lr", owner)
    validate.number(momentum, "momentum", owner, 0, 1, high_open=True)
    start = SURFACES[surface].start if start is None else tuple(float(v) for v in start)
    if len(start) != 2:
        raise ValueError(f"{owner}: start must be a pair (x, y), got {start!r}")
    return {m: run_optimizer(surface, m, lr, steps, start, momentum) for m in methods}


def steps_to_reach(path, target, tol=1e-3):
    """First step k with ||path[k] - target|| < tol (None if never)."""
    d = np.linalg.norm(np.asarray(path) - np.asarray(target), axis=1)
    hit = np.flatnonzero(d < tol)
    return int(hit[0]) if hit.size else None


@lru_cache(maxsize=8)
def loss_grid(surface, n=120):
    """Cached contour data for a surface: X, Y (n, n) grid over its view box and log10 of
    f - f_min + 1e-3 (a log scale shows valleys and plateaus alike)."""
    s = SURFACES[surface]
    X, Y = np.meshgrid(np.linspace(*s.xlim, n), np.linspace(*s.ylim, n))
    Z = np.log10(s.f(X, Y) - s.f_min + 1e-3)
    for a in (X, Y, Z):
        a.flags.writeable = False
    return X, Y, Z


def _build_trajectories(surface):
    def build(fig):
        s = SURFACES[surface]
        ax_c, ax_l = axes = fig.subplots(1, 2, width_ratios=(1, 1.15))
        X, Y, Z = loss_grid(surface)
        ax_c.contourf(X, Y, Z, levels=14, cmap="Greys", alpha=0.35)
        ax_c.contour(X, Y, Z, levels=14, colors="0.55", linewidths=0.4)
        mins = np.array(s.minima)
        ax_c.plot(mins[:, 0], mins[:, 1], "*", color="white", mec="k", ms=13, ls="none",
                  label="minimum", zorder=4)
        ax_c.set(xlim=s.xlim, ylim=s.ylim, xlabel="x", ylabel="y",
                 title=f"{s.name}: {s.formula}")
        ax_c.grid(False)
        ax_l.set(xlabel="step t", ylabel="f(θ_t) − f_min (log scale)")
        log_scale(ax_l)
        ax_l.xaxis.set_major_locator(MaxNLocator(integer=True))
        return axes
    return build


@styled
def plot_trajectories(results, surface="quadratic", lr=None, *, fig=None):
    """Left: the paths on a contour plot of the surface (start ●, minimum ★); right:
    f(θ_t) − f_min per step (log scale). One legend right of the panels. ``results`` is the
    output of :func:`compute_trajectories`; ``fig``: a figure this function drew before,
    redrawn in place (the contours are kept while the surface is the same). Returns the Figure.
    """
    s = SURFACES[surface]
    fig, (ax_c, ax_l) = reuse_figure(fig, ("trajectories", surface),
                                     _build_trajectories(surface), (MAX_WIDTH_PX, 360))
    ax_l.set_autoscale_on(True)
    for m, (path, losses) in results.items():
        _, color, ls = METHODS.get(m, (None, OKABE_ITO["black"], "-"))
        label = METHOD_LABELS.get(m, m)
        diverged = len(path) and not np.abs(path[-1]).max() < DIVERGED
        ax_c.plot(path[:, 0], path[:, 1], color=color, ls=ls, lw=1.6, marker=".", ms=3,
                  zorder=3)
        gap = np.maximum(losses - s.f_min, 1e-16)
        ax_l.plot(np.arange(len(gap)), gap, color=color, ls=ls,
                  label=label + (" (diverged)" if diverged else ""))
    if results:
        first = next(iter(results.values()))[0]
        ax_c.plot(*first[0], "o", color=OKABE_ITO["black"], ms=6, zorder=4)
    lr_text = "" if lr is None else f" (η = {lr:.3g})"
    ax_l.set_title("Loss per step" + lr_text)
    ax_l.relim()
    ax_l.autoscale_view()
    bottom, top = ax_l.get_ylim()
    ax_l.set_ylim(max(bottom, 1e-10), top)
    handles, labels = ax_l.get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", color=OKABE_ITO["black"], ls="none"),
                Line2D([], [], marker="*", color="white", mec="k", ms=11, ls="none")]
    labels += ["start", "minimum"]
    fig.legend(handles, labels, loc="outside right upper")
    return fig


def optimizer_widget(surface="quadratic", lr=0.03, momentum=0.9, steps=100,
                     methods=DEFAULT_METHODS):
    """A list of methods to compare (Adagrad vs momentum at first; Ctrl/Shift/⌘-click picks
    several), surface dropdown and sliders for lr (log), momentum λ, steps and start point,
    above :func:`plot_trajectories`. Changing the surface moves the start to its default.
    Returns a :class:`~nbkit.widgets._base.FigureBox`."""
    import ipywidgets as W

    for m in methods:
        validate.one_of(m, "method", METHODS, "optimizer_widget")
    common = {"continuous_update": False, "style": control_style()}
    s = SURFACES[surface]
    controls = {
        "methods": W.SelectMultiple(options=[(METHOD_LABELS.get(m, m), m) for m in METHODS],
                                    value=tuple(methods), rows=len(METHODS) - 1,
                                    description="methods", style=control_style(),
                                    layout=slider_layout("250px")),
        "surface": W.Dropdown(options=[(v.name, k) for k, v in SURFACES.items()],
                              value=surface, description="surface", style=control_style(),
                              layout=slider_layout("250px")),
        "lr": W.FloatLogSlider(value=lr, base=10, min=-4, max=0, step=0.05,
                               description="learning rate η", readout_format=".3g",
                               layout=slider_layout("250px"), **common),
        "momentum": W.FloatSlider(value=momentum, min=0, max=0.99, step=0.01,
                                  description="momentum λ", layout=slider_layout("250px"),
                                  **common),
        "steps": W.IntSlider(value=steps, min=5, max=500, step=5, description="steps",
                             layout=slider_layout("250px"), **common),
        "x0": W.FloatSlider(value=s.start[0], min=-2, max=2, step=0.05, description="start x",
                            layout=slider_layout("250px"), **common),
        "y0": W.FloatSlider(value=s.start[1], min=-1.5, max=3, step=0.05,
                            description="start y", layout=slider_layout("250px"), **common),
    }
    hint = W.HTML(MULTI_SELECT_HINT, layout=W.Layout(width="250px"))

    def on_change(box, change):
        if change["owner"] is box.controls["surface"]:
            sx, sy = SURFACES[change["new"]].start
            with box.muted():
                box.controls["x0"].value, box.controls["y0"].value = sx, sy

    def draw(fig, methods, surface, lr, momentum, steps, x0, y0):
        results = compute_trajectories(surface, lr, momentum, steps, (x0, y0), methods)
        return plot_trajectories(results, surface, lr, fig=fig)

    sliders = W.GridBox([controls[k] for k in ("surface", "lr", "momentum", "steps", "x0", "y0")],
                        layout=W.Layout(grid_template_columns="repeat(2, 262px)"))
    panel = W.HBox([W.VBox([controls["methods"], hint]), sliders])
    return FigureBox(controls, draw, "<optimizer trajectories widget: methods, surface, learning "
                     "rate, momentum, steps, start point (needs a live kernel); static picture "
                     "shown where widgets cannot render>", on_change=on_change, panel=panel)
