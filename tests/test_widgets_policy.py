"""The picture policy of nbkit.widgets and the behaviour of its controls (no browser needed).

Every widget: a PNG at PIXEL_RATIO image pixels per CSS pixel, shown at its CSS size (metadata
of the saved output, ``Image.layout.width`` live), within the policy's size; figures reused
between redraws and laid out again only when a text grew; the PNG cache; errors shown in the
widget; ranges kept open; the trajectories' default pair; the Playground trains while it plays.
"""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pytest

from nbkit import widgets
from nbkit.widgets._base import (
    MAX_HEIGHT_PX,
    MAX_WIDTH_PX,
    OKABE_ITO,
    PALETTE,
    PIXEL_RATIO,
    FigureBox,
    figure_to_png,
    lay_out,
    new_figure,
    png_size,
)

ROOT = Path(__file__).resolve().parents[1]
LECTURE_00 = [  # as lectures/00_interactive_tour.ipynb builds them
    ("vanishing_gradients_widget", {"depth": 10, "width": 64, "init_scale": 1.0}),
    ("init_variance_widget", {"scheme": "normal", "activation": "tanh", "std": 0.01}),
    ("optimizer_widget", {"surface": "quadratic", "lr": 0.03, "momentum": 0.9, "steps": 100}),
    ("activation_widget", {"names": ("sigmoid", "tanh", "relu")}),
    ("dropout_widget", {"p": 0.5}),
    ("decision_boundary_widget", {"dataset": "spirals", "hidden": 32}),
    ("playground_widget", {"dataset": "spirals", "noise": 0.2, "depth": 2, "width": 8}),
]


@pytest.fixture(scope="module")
def boxes():
    return {name: getattr(widgets, name)(**kwargs) for name, kwargs in LECTURE_00}


@pytest.mark.parametrize("name", [n for n, _ in LECTURE_00])
def test_every_widget_is_drawn_at_twice_its_css_size(boxes, name):
    box = boxes[name]
    png = bytes(box.image.value)
    width, height = png_size(png)
    css_width = int(box.image.layout.width.removesuffix("px"))
    assert css_width * PIXEL_RATIO == width
    assert 0 < css_width <= MAX_WIDTH_PX and 0 < height / PIXEL_RATIO <= MAX_HEIGHT_PX
    data, metadata = box._repr_mimebundle_()
    assert metadata["image/png"] == {"width": css_width, "height": round(height / PIXEL_RATIO)}
    assert data["text/plain"] == repr(box) and "model_id" in str(
        data["application/vnd.jupyter.widget-view+json"])


def test_new_figure_enforces_the_policy():
    fig, axes = new_figure(400, 300)
    assert fig.dpi == 192 and axes.shape == (1, 1)
    with pytest.raises(ValueError, match="picture policy"):
        new_figure(MAX_WIDTH_PX + 1, 300)


def test_palette_pairs_are_distinct_and_visible_on_white():
    assert OKABE_ITO["yellow"] not in PALETTE
    rgb = [np.array(mcolors.to_rgb(c)) for c in PALETTE]
    for a, b in itertools.combinations(rgb, 2):
        assert np.abs(a - b).sum() > 0.3
    luminance = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in rgb]
    assert max(luminance) < 0.75  # no colour washes out on white


def test_layout_runs_again_only_when_a_text_grew():
    fig, axes = new_figure(400, 300)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1])
    ax.set_ylabel("short")
    lay_out(fig)
    laid_out = ax.get_position().bounds
    ax.set_ylabel("shrt")  # shorter: the space laid out still fits it
    lay_out(fig)
    assert ax.get_position().bounds == laid_out
    ax.set_ylabel("a much longer label\non two lines")
    lay_out(fig)
    assert ax.get_position().bounds != laid_out


def _counter_box():
    calls = []

    def draw(fig, n):
        calls.append(n)
        if n < 0:
            raise ValueError("n must be >= 0")
        fig, axes = new_figure(200, 150) if fig is None else (fig, None)
        fig.axes[0].cla()
        fig.axes[0].set_title(f"n = {n}")
        return fig

    import ipywidgets as W
    return FigureBox({"n": W.IntSlider(value=0, min=-3, max=3)}, draw, "<counter>"), calls


def test_figure_box_reuses_its_figure_and_caches_pictures():
    box, calls = _counter_box()
    first_figure, first_png = box.figure, bytes(box.image.value)
    box.controls["n"].value = 1
    assert box.figure is first_figure and bytes(box.image.value) != first_png
    box.controls["n"].value = 0  # drawn before: from the cache, draw not called
    assert calls == [0, 1] and bytes(box.image.value) == first_png


def test_figure_box_shows_an_error_and_keeps_the_picture():
    box, _ = _counter_box()
    before = bytes(box.image.value)
    box.controls["n"].value = -1
    assert "could not draw" in box.message.value and "n must be &gt;= 0" in box.message.value
    assert bytes(box.image.value) == before
    box.controls["n"].value = 2  # the next good setting draws again and clears the message
    assert box.message.value == "" and bytes(box.image.value) != before


@pytest.mark.parametrize("name, control, values", [
    ("vanishing_gradients_widget", "depth", (11, 12, 24)),
    ("vanishing_gradients_widget", "init_scale", (2.0, 0.2)),
    ("init_variance_widget", "std", (0.02, 0.5, 5.0)),
    ("init_variance_widget", "scheme", ("zeros", "he_normal")),
])
def test_redraw_over_the_kept_background_is_the_full_picture(name, control, values):
    """What render draws over the kept picture of the static part is pixel for pixel what a
    full redraw of the same figure gives, and most redraws keep it."""
    box = getattr(widgets, name)(**dict(LECTURE_00)[name])
    kept = 0
    for value in values:
        background = box.figure._nbkit_background
        box.controls[control].value = value
        kept += box.figure._nbkit_background is background
        box.figure.stale = True  # draw everything again
        assert figure_to_png(box.figure) == bytes(box.image.value), (control, value)
    assert kept or control == "scheme"  # a new scheme may relabel the legend


def test_activation_range_stays_open_and_redraws(boxes):
    box = boxes["activation_widget"]
    z_range = box.controls["z_range"]
    count = box.draw_count
    z_range.value = (z_range.value[0], z_range.value[0])  # Home on the upper handle: lo = hi
    lo, hi = z_range.value
    assert lo < hi and z_range.min <= lo and hi <= z_range.max
    assert box.draw_count > count and box.message.value == ""


def test_trajectories_compare_momentum_and_adagrad_by_default(boxes):
    box = boxes["optimizer_widget"]
    assert box.controls["methods"].value == ("momentum", "Adagrad")
    count = box.draw_count
    box.controls["methods"].value = ("SGD",)
    assert box.draw_count == count + 1 and box.message.value == ""


def test_playground_trains_while_it_plays(boxes):
    box = boxes["playground_widget"]
    run = box.run
    assert run.step == 0
    box.controls["tick"].value = 5  # five ticks of the play button
    assert box.run is run and run.step > 0
    assert len(run.train_loss) == len(run.test_loss) == len(run.steps) >= 2
    assert run.train_loss[-1] < run.train_loss[0]
    box.controls["width"].value = box.controls["width"].value + 1  # a new net starts over
    assert box.run is not run and box.run.step == 0


def test_widget_speed_benchmark_runs(tmp_path):
    """benchmarks/widget_speed.py on one slider move per widget: every widget of lecture 00
    timed both ways (numbers are not asserted: that is a benchmark's job)."""
    out = tmp_path / "speed.json"
    subprocess.run([sys.executable, "-m", "benchmarks.widget_speed", "--moves", "1", "--out",
                    str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    assert set(report["widgets"]) == {name for name, _ in LECTURE_00}
    for result in report["widgets"].values():
        assert result["moves"] == 1
        assert result["nbkit_median_s"] > 0 and result["baseline_over_nbkit"] > 0
