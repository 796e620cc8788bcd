"""Shared pieces of the widgets: the picture policy, palette, figure -> PNG, the figure box.

Every widget is three layers:

1. ``compute_*``: pure numpy, returns arrays (unit-tested);
2. ``plot_*``: draws on a :class:`matplotlib.figure.Figure` and returns it (never pyplot, so no
   global state and no figure leaks); given ``fig=`` (a figure it drew before) it redraws into
   it, keeping axes, ticks and what does not change (marking what changes *animated* lets
   :func:`render` draw the rest once);
3. ``*_widget()``: a thin ipywidgets wrapper, a :class:`FigureBox`.

The picture policy (one for every picture of nbkit.widgets, live or saved):

- a figure is laid out in CSS pixels: ``CSS_DPI`` = 96 figure dots per inch = 1 CSS px per dot,
  so a font of 9 pt is 12 CSS px on the screen, as on any web page; widths are at most
  ``MAX_WIDTH_PX`` (the notebook column of JupyterLab on a 1366×768 laptop, file browser open)
  and heights at most ``MAX_HEIGHT_PX``, so one row of controls and the picture fit in 600 px;
- the PNG is rendered at ``PIXEL_RATIO`` = 2 image pixels per CSS pixel and shown at its CSS
  size (``Image.layout.width``, and ``width``/``height`` metadata for a saved output), so it is
  crisp on HiDPI screens and projectors up to a device pixel ratio of 2;
- ``STYLE``: text of at least 9 pt, the Okabe-Ito palette with line styles as a second cue,
  constrained layout (no clipped labels).

A :class:`FigureBox` is a ``VBox`` of controls above (or an ``HBox`` of controls beside) an
``ipywidgets.Image`` holding the figure as PNG bytes. Its display bundle carries three
representations:

- ``application/vnd.jupyter.widget-view+json``: the live widget (JupyterLab with a kernel);
- ``image/png``: the figure at display time (nbconvert HTML without widget state, untrusted
  notebooks, any front end without the widget manager), at its CSS size;
- ``text/plain``: a fixed, deterministic description (what nbval compares).
"""

import base64
import contextlib
import functools
import html
import struct
import time
import zlib
from collections import OrderedDict

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import NullLocator

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
# Lines and markers: the palette without yellow (invisible on white) in an order whose
# neighbours differ in lightness too; black last. LINESTYLES is the second cue, in step.
PALETTE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple",
                                  "sky_blue", "black")]
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

CSS_DPI = 96
PIXEL_RATIO = 2
DPI = CSS_DPI * PIXEL_RATIO
MAX_WIDTH_PX = 860
MAX_HEIGHT_PX = 500
MIN_FONT_PT = 9
MULTI_SELECT_HINT = ("<small>Ctrl-click (⌘-click on a Mac) picks several; Shift-click a "
                     "range</small>")
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": mpl.cycler(color=PALETTE, linestyle=LINESTYLES),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.framealpha": 0.85,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def styled(plot):
    """Decorator: run a ``plot_*`` function under :data:`STYLE` (its artists keep the style)."""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return plot(*args, **kwargs)
    return wrapper


# Read from the registry when a picture is drawn, not at import (the grader may hide it).
def activation_color(name):
    """One fixed colour per activation (the palette in the order of
    nbkit.activations.ACTIVATIONS), so every widget uses the same colour for the same function."""
    return PALETTE[_activation_index(name) % len(PALETTE)]


def activation_linestyle(name):
    """The line style that goes with :func:`activation_color` (a second cue besides colour)."""
    return LINESTYLES[_activation_index(name) % len(LINESTYLES)]


def _activation_index(name):
    names = list(ACTIVATIONS)
    return names.index(name) if name in names else len(PALETTE) - 1


def activation_label(name):
    """The registry's legend label of an activation (the name itself if it is not there)."""
    return ACTIVATIONS[name].label if name in ACTIVATIONS else name


def css_size(fig):
    """(width, height) of a figure in CSS pixels at the policy's scale."""
    w, h = fig.get_size_inches()
    return int(round(w * CSS_DPI)), int(round(h * CSS_DPI))


def new_figure(width=MAX_WIDTH_PX, height=340, ncols=1, nrows=1, **subplot_kw):
    """A fresh Figure (not registered with pyplot, constrained layout) of ``width`` × ``height``
    CSS pixels (at most MAX_WIDTH_PX × MAX_HEIGHT_PX), and its axes array (nrows, ncols)."""
    if not (0 < width <= MAX_WIDTH_PX and 0 < height <= MAX_HEIGHT_PX):
        raise ValueError(f"new_figure: {width}×{height} px is outside the picture policy "
                         f"(at most {MAX_WIDTH_PX}×{MAX_HEIGHT_PX})")
    fig = Figure(figsize=(width / CSS_DPI, height / CSS_DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(h_pad=4 / 72, w_pad=4 / 72)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw) if nrows * ncols else None
    return fig, axes


def reuse_figure(fig, key, build, size):
    """The axes of a figure laid out for ``key``, ready to draw the changing part on.

    ``size`` = (width, height) in CSS px of a new figure; ``build(fig) -> axes`` lays it out
    (axes, labels, and whatever does not change with the data). With ``fig=None`` a new
    figure is made and built; a figure built for another ``key`` is cleared and rebuilt; a
    figure built for ``key`` keeps its axes (ticks, layout, static artists) and loses only
    what was drawn after ``build``. Returns ``(fig, axes)``.
    """
    state = getattr(fig, "_nbkit_reuse", None)
    if state is not None and state[0] == key:
        _, axes, static = state
        for legend in list(fig.legends):
            if legend not in static:
                legend.remove()
        for text in list(fig.texts):
            if text not in static:
                text.remove()
        for ax in fig.axes:
            if hasattr(ax, "_colorbar"):  # a colorbar redraws itself from its mappable
                continue
            if ax.get_legend() is not None and ax.get_legend() not in static:
                ax.get_legend().remove()
            removed = [artist for artist in ax.get_children() if artist not in static
                       and artist.axes is ax and hasattr(artist, "remove")]
            for artist in removed:
                with contextlib.suppress(NotImplementedError, ValueError):
                    artist.remove()
            if removed:
                ax.relim()
                ax.set_prop_cycle(None)
        return fig, axes
    if fig is None:
        fig, _ = new_figure(*size, ncols=0, nrows=0)
    else:
        fig.clear()
    axes = build(fig)
    static = {a for ax in fig.axes for a in ax.get_children()}
    static |= {ax.get_legend() for ax in fig.axes if ax.get_legend() is not None}
    static |= set(fig.legends) | set(fig.texts)
    fig._nbkit_reuse = (key, axes, static)
    return fig, axes


def _text_shape(texts):
    """What of some texts decides the space they take: their lines and lengths (the first, the
    last and the longest; tick labels overhang at the ends)."""
    texts = [t for t in texts if t]
    if not texts:
        return ()
    lengths = [max(len(line) for line in t.split("\n")) for t in texts]
    return (max(t.count("\n") for t in texts), lengths[0], lengths[-1], max(lengths))


def _layout_signature(fig):
    """What constrained layout depends on that changes between redraws: the shape of every
    tick label, title, axis label and legend text (cheap: no text is measured)."""
    sig = [_text_shape([fig._suptitle.get_text() if fig._suptitle else ""])]
    for ax in fig.axes:
        ax.get_xlim(), ax.get_ylim()  # settle autoscaling
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            locs = [v for v in axis.get_major_locator()() if np.isfinite(v) and lo <= v <= hi]
            sig.append(_text_shape(axis.get_major_formatter().format_ticks(locs)))
        sig.append(tuple(_text_shape([t]) for t in (ax.get_title(), ax.get_xlabel(),
                                                    ax.get_ylabel())))
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    sig += [_text_shape([t.get_text() for t in legend.get_texts()]) for legend in legends]
    return tuple(sig)


def lay_out(fig):
    """Constrained layout, run again only when a text it depends on changed.

    The first call takes over the figure's constrained-layout engine (the figure then has
    none of its own, so a redraw does not lay it out again); later calls re-run it only when
    a text is longer (or has more lines) than when it was last laid out (:func:`_fits`). A
    redraw that only moves data skips the layout, which is most of the cost of drawing a small
    figure."""
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        fig._nbkit_layout = engine
        fig.set_layout_engine("none")
    if getattr(fig, "_nbkit_layout", None) is None:
        return
    signature = _layout_signature(fig)
    if not _fits(signature, getattr(fig, "_nbkit_signature", None)):
        fig._nbkit_layout.execute(fig)
        fig._nbkit_signature = signature


def _fits(signature, laid_out):
    """Whether texts of ``signature`` fit the space laid out for ``laid_out``: the same texts,
    each with at most as many lines and characters (shorter texts leave a little space, never
    clip)."""
    if laid_out is None or len(signature) != len(laid_out):
        return False
    with contextlib.suppress(TypeError):  # a text was added or removed: lay out again
        return _fits_each(signature, laid_out)
    return False


def _fits_each(signature, laid_out):
    for new, old in zip(signature, laid_out, strict=True):
        if isinstance(new, tuple) and new and isinstance(new[0], tuple):
            if not _fits(new, old):
                return False
        elif len(new) != len(old) or any(a > b for a, b in zip(new, old, strict=True)):
            return False
    return True


def log_scale(ax, axis="y"):
    """A log axis with major ticks only (minor ticks cost drawing time and add no label)."""
    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"{axis}axis").set_minor_locator(NullLocator())


def render(fig):
    """Draw a Figure on its Agg canvas; returns the canvas.

    Artists marked *animated* (``set_animated(True)``: what a control changes -- data, and the
    axes, texts or legends that follow it) are left out of the picture of the rest, which is
    kept and drawn again only when some of the rest changed (``fig.stale``: matplotlib marks a
    figure stale whenever one of its non-animated artists changes); each redraw restores that
    picture and draws the animated artists over it (an Axes' own in z-order, then the
    figure's). Text is most of the cost of drawing, so titles, labels and the ticks of axes
    whose limits do not change are drawn once. (``savefig`` draws everything, as usual.)"""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    background = getattr(fig, "_nbkit_background", None)
    if background is None or fig.stale or background[0] != fig.bbox.bounds:
        canvas.draw()
        fig._nbkit_background = (fig.bbox.bounds, canvas.copy_from_bbox(fig.bbox))
    else:
        canvas.restore_region(background[1])
    renderer = canvas.get_renderer()
    for artist in fig.get_children():
        if artist.get_animated():
            artist.draw(renderer)
        elif artist in fig.axes:
            for child in sorted(artist.get_children(), key=lambda a: a.get_zorder()):
                if child.get_animated():
                    child.draw(renderer)
    fig.stale = False  # drawing an animated axis marks its ticks (and so the figure) stale
    return canvas


def figure_to_png(fig):
    """Render a Figure (:func:`render`) to PNG bytes at the figure's dpi: RGB, rows unfiltered,
    zlib level 1 (several times faster to encode than matplotlib's savefig, a few % larger), no
    text chunks, so the same figure gives the same bytes."""
    rgba = np.asarray(render(fig).buffer_rgba())
    height, width = rgba.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 = none
    rows[:, 1:].reshape(height, width, 3)[...] = rgba[..., :3]
    return b"".join([
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
        _png_chunk(b"IEND", b""),
    ])


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_size(png):
    """(width, height) in pixels of PNG bytes (read from the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _png_metadata(png):
    w, h = png_size(png)
    return {"image/png": {"width": round(w / PIXEL_RATIO), "height": round(h / PIXEL_RATIO)}}


class StaticPNG:
    """A PNG picture for IPython's display machinery: ``image/png`` shown at its CSS size
    (``width``/``height`` metadata, 1/PIXEL_RATIO of its pixels) + a fixed ``text/plain``."""

    def __init__(self, png, text="<figure>"):
        if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
            raise TypeError("StaticPNG: expected PNG bytes")
        self.png, self.text = bytes(png), text

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.text}
        return data, _png_metadata(self.png)


def show(fig, text=None):
    """Wrap a Figure as a displayable PNG (deterministic ``text/plain``) for notebooks."""
    if not isinstance(fig, Figure):
        raise TypeError(f"show: expected a matplotlib Figure, got {type(fig).__name__}")
    if text is None:
        titles = [fig._suptitle.get_text()] if fig._suptitle else []
        titles += [ax.get_title() for ax in fig.axes if ax.get_title()]
        text = f"<figure: {titles[0] if titles else 'plot'}>"
    return StaticPNG(figure_to_png(fig), text)


class FigureBox(widgets.Box):
    """Controls above (or beside) an ``ipywidgets.Image`` showing a matplotlib figure as PNG.

    ``FigureBox(controls, draw, description, rows=None, on_change=None, beside=False)``

    - ``controls``: dict name -> value widget (slider, dropdown, ...);
    - ``draw(fig, **{name: widget.value}) -> Figure`` redraws the picture, into ``fig`` (the
      figure it returned last time, None at first); it is called once at construction and
      after every change of a control's ``value``;
    - ``description``: the fixed ``text/plain`` representation;
    - ``rows``: optional list of lists of control names, one row each;
    - ``on_change(box, change)``: optional hook run before the redraw (e.g. to reset sliders);
    - ``beside``: controls in a column left of the picture instead of rows above it;
    - ``extra``: optional widgets shown after the controls (buttons, hints);
    - ``panel``: optional widget holding the controls, laid out by the caller (instead of
      ``rows``).

    The PNGs of the last ``CACHE_SIZE`` control settings are kept, so going back to a setting
    costs nothing. A draw that fails shows its error under the controls (the previous picture
    stays) instead of failing silently. Attributes: ``controls``, ``image``
    (``ipywidgets.Image``, ``value`` = PNG bytes), ``message`` (``ipywidgets.HTML``),
    ``figure``, ``draw_count``, ``last_draw_seconds``.
    """

    CACHE_SIZE = 64

    def __init__(self, controls, draw, description, *, rows=None, on_change=None,
                 beside=False, extra=(), panel=None):
        self.controls = dict(controls)
        self.image = widgets.Image(format="png")
        self.message = widgets.HTML(layout=widgets.Layout(margin="0 0 0 8px"))
        self._draw, self._description, self._on_change = draw, description, on_change
        self._muted, self._cache, self.figure = False, OrderedDict(), None
        self.draw_count, self.last_draw_seconds = 0, 0.0
        rows = rows or [list(self.controls)]
        row_layout = widgets.Layout(flex_flow="column" if beside else "row wrap",
                                    align_items="flex-start")
        boxes = [panel] if panel is not None else [
            widgets.Box([self.controls[name] for name in row], layout=row_layout)
            for row in rows]
        panel = widgets.VBox([*boxes, *extra, self.message],
                             layout=widgets.Layout(flex="0 0 auto"))
        layout = widgets.Layout(display="flex", flex_flow="row" if beside else "column",
                                align_items="flex-start")
        super().__init__(children=[panel, self.image], layout=layout)
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
        try:
            if self._on_change is not None:
                self._on_change(self, change)
            self.redraw()
        except Exception as err:  # noqa: BLE001 - shown under the controls, not swallowed
            self.show_error(err)

    def show_error(self, err):
        """Say under the controls why the picture could not be redrawn (it keeps the last)."""
        self.message.value = ("<span style='color:#D55E00'>could not draw: "
                              f"{html.escape(f'{type(err).__name__}: {err}')}</span>")

    def _key(self):
        try:
            key = tuple(sorted(self.values().items()))
            hash(key)
            return key
        except TypeError:
            return None

    def redraw(self, use_cache=True):
        """Recompute and re-render the figure into ``self.image.value`` (from the cache when
        these control values were drawn before)."""
        start = time.perf_counter()
        key = self._key() if use_cache else None
        try:
            if key is not None and key in self._cache:
                self._cache.move_to_end(key)
                png = self._cache[key]
            else:
                with mpl.rc_context(STYLE):
                    self.figure = self._draw(self.figure, **self.values())
                    lay_out(self.figure)
                png = figure_to_png(self.figure)
                if key is not None:
                    self._cache[key] = png
                    while len(self._cache) > self.CACHE_SIZE:
                        self._cache.popitem(last=False)
        except Exception as err:
            self.show_error(err)
            raise
        self.message.value = ""
        width, height = png_size(png)
        self.image.layout.width = f"{round(width / PIXEL_RATIO)}px"
        self.image.layout.max_width = "100%"
        self.image.value = png
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - start

    def __repr__(self):
        return self._description

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self._description
        if self.image.value:
            png = bytes(self.image.value)
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
            return bundle, _png_metadata(png)
        return bundle


def control_style():
    return {"description_width": "initial"}



def slider_layout(width="250px"):
    """Compact controls: a fixed width so a row of them wraps instead of overflowing."""
    return widgets.Layout(width=width, margin="2px 12px 2px 0")
