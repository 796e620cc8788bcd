"""Dropout: which units one training step removes, and the full network used at test time."""

import numpy as np

from nbkit import layers, validate
from nbkit.widgets._base import (
    MAX_WIDTH_PX,
    OKABE_ITO,
    FigureBox,
    control_style,
    reuse_figure,
    slider_layout,
    styled,
)


def compute_dropout_masks(sizes=(4, 8, 8, 3), p=0.5, seed=0):
    """Keep-masks of one training step with ``nbkit.layers.Dropout(p)`` on every hidden layer.

    ``sizes`` = units per layer (input, hidden..., output). Returns a list of bool arrays,
    one per layer, True = kept (input and output layers are always kept). At test time
    (``eval()``) every unit is kept; inverted dropout scales kept units by 1 / (1 - p) during
    training instead.
    """
    sizes = [validate.integer(s, "size", "compute_dropout_masks", 1, 64) for s in sizes]
    if len(sizes) < 3:
        raise ValueError("compute_dropout_masks: need sizes (input, hidden..., output)")
    rng = np.random.default_rng(seed)
    masks = [np.ones(sizes[0], dtype=bool)]
    for s in sizes[1:-1]:
        drop = layers.Dropout(p, rng=rng)
        drop.train()
        drop.forward(np.ones((1, s), dtype=np.float32))
        masks.append(np.ones(s, dtype=bool) if drop.mask is None else drop.mask[0] > 0)
    masks.append(np.ones(sizes[-1], dtype=bool))
    return masks


def _draw_net(ax, sizes, masks, title):
    xs = np.arange(len(sizes))
    pos = [np.linspace(-(s - 1) / 2, (s - 1) / 2, s) for s in sizes]
    segs_on, segs_off = [], []
    for l in range(len(sizes) - 1):
        for i, yi in enumerate(pos[l]):
            for j, yj in enumerate(pos[l + 1]):
                seg = [(xs[l], yi), (xs[l + 1], yj)]
                (segs_on if masks[l][i] and masks[l + 1][j] else segs_off).append(seg)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segs_off, colors="0.85", linewidths=0.5))
    ax.add_collection(LineCollection(segs_on, colors=OKABE_ITO["blue"], linewidths=0.8))
    for l in range(len(sizes)):
        kept = masks[l]
        ax.scatter(np.full(kept.sum(), xs[l]), pos[l][kept], s=160, color=OKABE_ITO["orange"],
                   edgecolors="k", zorder=3)
        ax.scatter(np.full((~kept).sum(), xs[l]), pos[l][~kept], s=160, color="white",
                   edgecolors="0.6", zorder=3)
        ax.scatter(np.full((~kept).sum(), xs[l]), pos[l][~kept], s=90, marker="x",
                   color=OKABE_ITO["vermillion"], zorder=4)
    ax.set_xticks(xs, ["input"] + [f"hidden {i}" for i in range(1, len(sizes) - 1)]
                  + ["output"])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    top = max(sizes) / 2 + 0.3
    ax.set_ylim(-top, top)
    ax.set(xlabel="layer", ylabel="units", title=title)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


@styled
def plot_dropout(sizes, masks, p, *, fig=None):
    """Left: the thinned network of one training step (dropped units crossed out, their
    connections greyed); right: the full network used at test time. ``fig``: a figure this
    function drew before, redrawn in place. Returns the Figure."""
    fig, axes = reuse_figure(fig, ("dropout", tuple(sizes)),
                             lambda fig: fig.subplots(1, 2, squeeze=False), (MAX_WIDTH_PX, 330))
    kept = sum(int(m.sum()) for m in masks[1:-1])
    total = sum(len(m) for m in masks[1:-1])
    _draw_net(axes[0, 0], sizes, masks,
              f"Training step: {total - kept} of {total} hidden units dropped (p = {p:.2f})\n"
              f"kept units scaled by 1/(1−p) = {1 / (1 - p):.2f}")
    _draw_net(axes[0, 1], sizes, [np.ones(len(m), dtype=bool) for m in masks],
              "Test time: every unit, no scaling\n(inverted dropout = identity in eval)")
    return fig


def dropout_widget(sizes=(4, 8, 8, 3), p=0.5):
    """Sliders for the drop probability p and the random draw, above :func:`plot_dropout`."""
    import ipywidgets as W

    controls = {
        "p": W.FloatSlider(value=p, min=0.0, max=0.9, step=0.05, description="drop prob. p",
                           continuous_update=False, style=control_style(),
                           layout=slider_layout("280px")),
        "draw": W.IntSlider(value=0, min=0, max=50, description="training step (new mask)",
                            continuous_update=False, style=control_style(),
                            layout=slider_layout("360px")),
    }

    def draw(fig, p, draw):
        return plot_dropout(sizes, compute_dropout_masks(sizes, p, seed=draw), p, fig=fig)

    return FigureBox(controls, draw, "<dropout widget (needs a live kernel); static picture "
                     "shown where widgets cannot render>")
