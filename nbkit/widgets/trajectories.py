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

from nbkit import optim, validate
from nbkit.module import Parameter
from nbkit.widgets._base import OKABE_ITO, FigureBox, new_figure, slider_style


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

# method: (the nbkit.optim optimizer of parameters ps for a learning rate and momentum, colour)
METHODS = {
    "SGD": (lambda ps, lr, momentum: optim.SGD(ps, lr), OKABE_ITO["blue"]),
    "momentum": (lambda ps, lr, momentum: optim.SGD(ps, lr, momentum=momentum),
                 OKABE_ITO["orange"]),
    "SGD 1/t": (lambda ps, lr, momentum: optim.SGD(ps, optim.inverse_time_decay(lr)),
                OKABE_ITO["purple"]),
    "Adagrad": (lambda ps, lr, momentum: optim.Adagrad(ps, lr), OKABE_ITO["green"]),
    "Adam": (lambda ps, lr, momentum: optim.Adam(ps, lr), OKABE_ITO["vermillion"]),
}
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
    make, _ = METHODS[validate.one_of(method, "method", METHODS, "make_optimizer")]
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


def plot_trajectories(results, surface="quadratic", lr=None):
    """Left: the paths on a contour plot of the surface; right: f(θ_t) − f_min per step
    (log scale). ``results`` is the output of :func:`compute_trajectories`. Returns a Figure.
    """
    s = SURFACES[surface]
    fig, axes = new_figure(10.5, 4.2, ncols=2)
    ax_c, ax_l = axes[0]
    X, Y, Z = loss_grid(surface)
    ax_c.contourf(X, Y, Z, levels=14, cmap="Greys", alpha=0.55)
    ax_c.contour(X, Y, Z, levels=14, colors="0.45", linewidths=0.4)
    for m, (path, losses) in results.items():
        color = METHODS[m][1] if m in METHODS else OKABE_ITO["black"]
        label = METHOD_LABELS.get(m, m)
        ax_c.plot(path[:, 0], path[:, 1], ".-", color=color, lw=1.3, ms=3, label=label)
        gap = np.maximum(losses - s.f_min, 1e-16)
        tail = " (diverged)" if len(path) and not np.abs(path[-1]).max() < DIVERGED else ""
        ax_l.semilogy(np.arange(len(gap)), gap, color=color, lw=1.5, label=label + tail)
    first = next(iter(results.values()))[0]
    ax_c.plot(*first[0], "o", color=OKABE_ITO["black"], ms=6, label="start")
    mins = np.array(s.minima)
    ax_c.plot(mins[:, 0], mins[:, 1], "*", color=OKABE_ITO["yellow"], mec="k", ms=12,
              label="minimum")
    ax_c.set(xlim=s.xlim, ylim=s.ylim, xlabel="x", ylabel="y",
             title=f"{s.name}: {s.formula}")
    ax_c.legend(fontsize=7, loc="lower right", framealpha=0.8)
    lr_text = "" if lr is None else f" (lr = {lr:.3g})"
    ax_l.set(xlabel="step t", ylabel="f(θ_t) − f_min (log scale)",
             title="Loss per step" + lr_text, ylim=(1e-10, None))
    ax_l.grid(alpha=0.3)
    ax_l.legend(fontsize=8, loc="lower left")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.91, wspace=0.22)
    return fig


def optimizer_widget(surface="quadratic", lr=0.03, momentum=0.9, steps=100):
    """Surface dropdown and sliders for lr (log), momentum λ, steps and start point, above
    :func:`plot_trajectories`. Changing the surface moves the start to its default.
    Returns a :class:`~nbkit.widgets._base.FigureBox`."""
    import ipywidgets as W

    style = slider_style()
    s = SURFACES[surface]
    controls = {
        "surface": W.Dropdown(options=[(v.name, k) for k, v in SURFACES.items()],
                              value=surface, description="surface", style=style),
        "lr": W.FloatLogSlider(value=lr, base=10, min=-4, max=0, step=0.05,
                               description="learning rate η", continuous_update=False,
                               readout_format=".3g", style=style),
        "momentum": W.FloatSlider(value=momentum, min=0, max=0.99, step=0.01,
                                  description="momentum λ", continuous_update=False,
                                  style=style),
        "steps": W.IntSlider(value=steps, min=5, max=500, step=5, description="steps",
                             continuous_update=False, style=style),
        "x0": W.FloatSlider(value=s.start[0], min=-2, max=2, step=0.05, description="start x",
                            continuous_update=False, style=style),
        "y0": W.FloatSlider(value=s.start[1], min=-1.5, max=3, step=0.05,
                            description="start y", continuous_update=False, style=style),
    }

    def on_change(box, change):
        if change["owner"] is box.controls["surface"]:
            sx, sy = SURFACES[change["new"]].start
            with box.muted():
                box.controls["x0"].value, box.controls["y0"].value = sx, sy

    def draw(surface, lr, momentum, steps, x0, y0):
        results = compute_trajectories(surface, lr, momentum, steps, (x0, y0))
        return plot_trajectories(results, surface, lr)

    return FigureBox(controls, draw, "<optimizer trajectories widget: surface, learning rate, "
                     "momentum, steps, start point (needs a live kernel); static picture shown "
                     "where widgets cannot render>",
                     rows=[["surface", "lr", "momentum"], ["steps", "x0", "y0"]],
                     on_change=on_change)
