"""Shared pieces of the widgets: palette, figure -> PNG, and the interactive-figure box.

Every widget is three layers:

1. ``compute_*``: pure numpy, returns arrays (unit-tested);
2. ``plot_*``: draws on a new :class:`matplotlib.figure.Figure` and returns it (never pyplot,
   so no global state and no figure leaks);
3. ``*_widget()``: a thin ipywidgets wrapper, an :class:`FigureBox`.

An :class:`FigureBox` is a ``VBox`` of controls above an ``ipywidgets.Image`` holding
the figure as PNG bytes. Its display bundle carries three representations:

- ``application/vnd.jupyter.widget-view+json``: the live widget (JupyterLab with a kernel);
- ``image/png``: the figure at display time (nbconvert HTML without widget state, any
  front end without the widget manager);
- ``text/plain``: a fixed, deterministic description (what nbval compares).
"""

import base64
import contextlib
import io
import time

import ipywidgets as widgets
from matplotlib.figure import Figure

from nbkit.activations import ACTIVATIONS

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky_blue",
                                  "yellow", "black")]


# Read from the registry when a picture is drawn, not at import (the grader may hide it).
def activation_color(name):
    """One fixed colour per activation (the palette in the order of
    nbkit.activations.ACTIVATIONS), so every widget uses the same colour for the same function."""
    names = list(ACTIVATIONS)
    return PALETTE[names.index(name) % len(PALETTE)] if name in names else OKABE_ITO["black"]


def activation_label(name):
    """The registry's legend label of an activation (the name itself if it is not there)."""
    return ACTIVATIONS[name].label if name in ACTIVATIONS else name

DPI = 80


def new_figure(width=9.0, height=3.6, ncols=1, nrows=1, **subplot_kw):
    """A fresh Figure (not registered with pyplot) and its axes array of shape (nrows, ncols)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def figure_to_png(fig):
    """Render a Figure to PNG bytes (Agg, fast zlib level; no timestamps, so deterministic)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


class StaticPNG:
    """A PNG picture for IPython's display machinery (``image/png`` + a fixed ``text/plain``)."""

    def __init__(self, png, text="<figure>"):
        if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
            raise TypeError("StaticPNG: expected PNG bytes")
        self.png, self.text = bytes(png), text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.text}


def show(fig, text=None):
    """Wrap a Figure as a displayable PNG (deterministic ``text/plain``) for notebooks."""
    if not isinstance(fig, Figure):
        raise TypeError(f"show: expected a matplotlib Figure, got {type(fig).__name__}")
    if text is None:
        titles = [fig._suptitle.get_text()] if fig._suptitle else []
        titles += [ax.get_title() for ax in fig.axes if ax.get_title()]
        text = f"<figure: {titles[0] if titles else 'plot'}>"
    title = text
    return StaticPNG(figure_to_png(fig), title)


class FigureBox(widgets.VBox):
    """Controls above an ``ipywidgets.Image`` showing a matplotlib figure as PNG.

    ``FigureBox(controls, draw, description, rows=None, on_change=None)``

    - ``controls``: dict name -> value widget (slider, dropdown, ...);
    - ``draw(**{name: widget.value}) -> Figure`` redraws the picture; it is called once at
      construction and after every change of a control's ``value``;
    - ``description``: the fixed ``text/plain`` representation;
    - ``rows``: optional list of lists of control names, one ``HBox`` per row;
    - ``on_change(box, change)``: optional hook run before the redraw (e.g. to reset sliders).

    Attributes: ``controls``, ``image`` (``ipywidgets.Image``, ``value`` = PNG bytes),
    ``draw_count``, ``last_draw_seconds``.
    """

    def __init__(self, controls, draw, description, *, rows=None, on_change=None):
        self.controls = dict(controls)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self._draw, self._description, self._on_change = draw, description, on_change
        self._muted = False
        self.draw_count, self.last_draw_seconds = 0, 0.0
        rows = rows or [list(self.controls)]
        boxes = [widgets.HBox([self.controls[name] for name in row]) for row in rows]
        super().__init__(children=[*boxes, self.image])
        for w in self.controls.values():
            w.observe(self._changed, names="value")
        self.redraw()

    def values(self):
        return {name: w.value for name, w in self.controls.items()}

    @contextlib.contextmanager
    def muted(self):
        """Within this block, changing a control's value runs no hook and no redraw."""
        self._muted = True
        try:
            yield self
        finally:
            self._muted = False

    def _changed(self, change):
        if self._muted:
            return
        if self._on_change is not None:
            self._on_change(self, change)
        self.redraw()

    def redraw(self):
        """Recompute and re-render the figure into ``self.image.value``."""
        start = time.perf_counter()
        self.image.value = figure_to_png(self._draw(**self.values()))
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - start

    def __repr__(self):
        return self._description

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self._description
        if self.image.value:
            bundle["image/png"] = base64.b64encode(bytes(self.image.value)).decode("ascii")
        return bundle


def slider_style():
    return {"description_width": "initial"}
