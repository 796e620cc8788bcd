"""The computational graph of a scalar :class:`nbkit.autodiff.Value`, drawn with matplotlib.

Layered layout: column = depth (longest path from a leaf), so inputs are on the left and the
output on the right; within a column nodes are ordered by the mean height of their children.
One box per node with its trace name (``v₋₁``, ``v₀``, ``v₁`` ... as in Baydin et al.), its
operation, ``data`` and ``grad``; one arrow per operand edge. An edge that skips columns is
routed through the gaps between the boxes it passes, so no edge runs behind a box.
"""

import re

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from nbkit.widgets._base import DPI, MIN_FONT_PT, styled

_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")
XSTEP, YSTEP, BOX_W, BOX_H = 1.45, 1.0, 1.1, 0.8


def readable(text):
    """Trace names as a reader writes them: ``v_{-1}`` -> ``v₋₁``, ``v12`` -> ``v₁₂``."""
    text = re.sub(r"\bv_\{(-?\d+)\}", lambda m: "v" + m.group(1).translate(_SUBSCRIPT), text)
    return re.sub(r"\bv(\d+)\b", lambda m: "v" + m.group(1).translate(_SUBSCRIPT), text)


def _layers(graph):
    """Columns of nodes: depth, except that a constant sits just left of the op using it."""
    users = {v: [] for v in graph.order}
    for v in graph.order:
        for child in v._prev:
            users[child].append(v)
    column = {v: graph.depth[v] for v in graph.order}
    for v in graph.order:
        if not graph.is_variable(v) and users[v]:
            column[v] = max(0, min(graph.depth[u] for u in users[v]) - 1)
    layers = [[] for _ in range(max(column.values()) + 1)]
    for v in graph.order:
        layers[column[v]].append(v)
    return layers, column


def _positions(graph, layers):
    pos = {}
    for d, layer in enumerate(layers):
        def key(v):  # barycentre heuristic (fewer crossings); constants at the bottom
            if not v._prev:
                return (not graph.is_variable(v), 0.0, v._id)
            return (False, -sum(pos[c][1] for c in v._prev) / len(v._prev), v._id)

        layer.sort(key=key)
        for i, v in enumerate(layer):
            pos[v] = (d * XSTEP, ((len(layer) - 1) / 2 - i) * YSTEP)
    return pos


def _free_height(y, boxes):
    """The height nearest to ``y`` at which a horizontal line misses every box of a column
    (``boxes``: their centre heights): y itself, the middle of a gap, or beyond the column."""
    half = BOX_H / 2 + 0.04
    if all(abs(y - b) > half for b in boxes):
        return y
    ys = sorted(boxes)
    candidates = [ys[0] - YSTEP / 2, ys[-1] + YSTEP / 2]
    candidates += [(a + b) / 2 for a, b in zip(ys[:-1], ys[1:], strict=False) if b - a > 2 * half]
    return min(candidates, key=lambda c: abs(c - y))


def _route(start, end, columns_between):
    """Waypoints of an edge from ``start`` (right side of a box) to ``end`` (left side),
    passing each column in between (x, centre heights) at a free height."""
    (x0, y0), (x1, y1) = start, end
    points = [start]
    for x, boxes in columns_between:
        t = (x - x0) / (x1 - x0)
        y = _free_height(y0 + t * (y1 - y0), boxes)
        points += [(x - BOX_W / 2 - 0.05, y), (x + BOX_W / 2 + 0.05, y)]
    return points + [end]


def _node_text(graph, v, output):
    name = readable(graph.names[v])
    if v._prev:
        head, what, color = name, f"= {readable(graph.expression(v))}", "#cfe2f3"
    elif graph.is_variable(v):
        head, what, color = name, f"= {graph.input_names[v]} (input)", "#d9ead3"
    else:
        head, what, color = "constant", f"{v.data:g}", "#eeeeee"
    if v is output:
        color = "#fce5cd"
    if v.label and v.label not in what:
        head = f"{head} · {v.label}"
    return f"{head}\n{what}\ndata {_fmt(v.data)}\ngrad {_fmt(v.grad)}", color


def _fmt(x):
    s = f"{x:.3f}"
    return "0.000" if s == "-0.000" else s


@styled
def draw_graph(output, ax=None, *, inputs=None, max_nodes=200):
    """Draw the computational graph of ``output`` (a Value) with matplotlib; return the Figure.

    Call ``output.backward()`` first to see gradients. ``inputs``: the input Values in trace
    order (default: the leaves that are not constants). ``ax``: draw into this Axes (its figure
    is returned); by default a new ``matplotlib.figure.Figure`` (no pyplot) sized to the graph
    on the picture policy of :mod:`nbkit.widgets` (1 inch = CSS_DPI px, rendered at 2×).
    Graphs with more than ``max_nodes`` nodes are refused (ValueError): they would be
    unreadable.
    """
    from matplotlib.figure import Figure

    from nbkit.autodiff import _Graph

    graph = _Graph(output, inputs)
    if len(graph.order) > max_nodes:
        raise ValueError(f"draw_graph: the graph has {len(graph.order)} nodes, more than "
                         f"max_nodes={max_nodes}; pass a larger max_nodes to draw it anyway")
    layers, column = _layers(graph)
    pos = _positions(graph, layers)
    tallest = max(len(layer) for layer in layers)
    if ax is None:
        width = min(8.9, max(4.0, 1.55 * len(layers)))
        fig = Figure(figsize=(width, max(2.6, 1.0 * tallest + 0.7)), dpi=DPI,
                     layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for v in graph.order:
        x, y = pos[v]
        text, color = _node_text(graph, v, output)
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.0,rounding_size=0.06", fc=color,
                                    ec="0.3", lw=0.8, zorder=2))
        ax.text(x, y, text, ha="center", va="center", fontsize=MIN_FONT_PT, family="monospace",
                zorder=3)

    low, high = -(tallest - 1) / 2 * YSTEP - BOX_H / 2, (tallest - 1) / 2 * YSTEP + BOX_H / 2
    drawn = set()
    for v in graph.order:
        for child in v._prev:
            if (child, v) in drawn:
                continue
            drawn.add((child, v))
            (xc, yc), (xp, yp) = pos[child], pos[v]
            between = [(d * XSTEP, [pos[u][1] for u in layers[d]])
                       for d in range(column[child] + 1, column[v])]
            points = _route((xc + BOX_W / 2, yc), (xp - BOX_W / 2, yp), between)
            low, high = min(low, *(p[1] for p in points)), max(high, *(p[1] for p in points))
            codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
            ax.add_patch(FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>",
                                         mutation_scale=10, color="0.35", lw=0.9, zorder=1,
                                         shrinkA=0, shrinkB=0))

    ax.set_xlim(-BOX_W / 2 - 0.15, (len(layers) - 1) * XSTEP + BOX_W / 2 + 0.15)
    ax.set_ylim(low - 0.15, high + 0.15)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    title = output.label or readable(graph.names[output])
    ax.set_title(f"Computational graph of {title} = {_fmt(output.data)} "
                 f"({len(graph.order)} nodes)")
    return fig
