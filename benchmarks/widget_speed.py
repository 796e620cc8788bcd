"""How long a widget takes to redraw after a slider move: compute + draw + PNG encode.

Usage::

    python -m benchmarks.widget_speed              # every widget of lecture 00, 12 moves each
    python -m benchmarks.widget_speed --smoke      # 3 moves each (CI), seconds

For every widget of lecture 00 (built with the lecture's arguments), the slider the browser test
moves (tests/test_browser.py) is stepped right one notch at a time, never to a setting drawn
before, and each redraw is timed two ways, interleaved so that the machine's load hits both
alike:

- ``nbkit``: ``FigureBox.redraw`` as the widget runs it (the PNG cache bypassed): the figure
  drawn before is reused, constrained layout runs only when a text changed, the artists that
  are not animated are drawn again only when one of them changed (``render``), and the PNG is
  encoded by ``figure_to_png`` (zlib level 1, no filters);
- ``baseline``: the same ``draw`` function into a fresh figure every time (full constrained
  layout) and ``Figure.savefig(format="png")`` at the same dpi -- what a widget does without
  figure reuse and the fast encoder.

Both give the same picture at the same size (2 image pixels per CSS pixel). The figures are the
median and the worst redraw per widget in seconds (wall time; ``cpu med``: the process's CPU
time, less sensitive to a busy machine) and ``baseline / nbkit`` (higher is better;
the issue's target is a median of at most 0.15 s for ``nbkit`` on a quiet 2-core machine). The
browser adds transport and decoding on top: tests/test_browser.py measures keypress to new
picture. Results are printed and written as JSON (``benchmarks/results/widget_speed.json``, or
``widget_speed_smoke.json`` with ``--smoke``).
"""

import argparse
import io
import json
import statistics
import time

import matplotlib as mpl

from benchmarks.train_speed import RESULTS_DIR, machine_info
from nbkit import widgets
from nbkit.widgets._base import DPI, STYLE

TARGET_MEDIAN_S = 0.15
# (constructor, keyword arguments) as in lectures/00_interactive_tour.ipynb, and the control
# that is moved (the one the browser test moves)
WIDGETS = [
    ("vanishing_gradients_widget", {"depth": 10, "width": 64, "init_scale": 1.0}, "depth"),
    ("init_variance_widget", {"scheme": "normal", "activation": "tanh", "std": 0.01}, "std"),
    ("optimizer_widget", {"surface": "quadratic", "lr": 0.03, "momentum": 0.9, "steps": 100},
     "lr"),
    ("activation_widget", {"names": ("sigmoid", "tanh", "relu")}, "z_range"),
    ("dropout_widget", {"p": 0.5}, "p"),
    ("decision_boundary_widget", {"dataset": "spirals", "hidden": 32}, "step"),
    ("playground_widget", {"dataset": "spirals", "noise": 0.2, "depth": 2, "width": 8}, "tick"),
]


def _next(control):
    """The value one notch right of a slider's (the lower end of a range slider), or None at
    its end."""
    value = control.value
    low = value[0] if isinstance(value, tuple) else value
    if hasattr(control, "base"):  # FloatLogSlider: min, max and step are exponents
        low, top = low * control.base ** control.step, control.base ** control.max
    else:
        low, top = low + control.step, control.max
    if low > top * (1 + 1e-9) or (isinstance(value, tuple) and low >= value[1]):
        return None
    return (low, *value[1:]) if isinstance(value, tuple) else low


def _baseline(box):
    """Redraw from scratch: a new figure, full constrained layout, matplotlib's PNG writer."""
    with mpl.rc_context(STYLE):
        fig = box._draw(None, **box.values())
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def time_widget(name, kwargs, control_name, moves):
    box = getattr(widgets, name)(**kwargs)
    control = box.controls[control_name]
    ours, base, cpu = [], [], []
    for _ in range(moves):
        value = _next(control)
        if value is None:
            break
        with box.muted():  # move the slider without the widget's own redraw
            control.value = value
        start, start_cpu = time.perf_counter(), time.process_time()
        box.redraw(use_cache=False)
        ours.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        start = time.perf_counter()
        _baseline(box)
        base.append(time.perf_counter() - start)
    if not ours:
        raise RuntimeError(f"{name}: slider {control.description!r} cannot move right")
    return {
        "slider": control.description, "moves": len(ours),
        "nbkit_median_s": statistics.median(ours), "nbkit_worst_s": max(ours),
        "nbkit_cpu_median_s": statistics.median(cpu),
        "baseline_median_s": statistics.median(base), "baseline_worst_s": max(base),
        "baseline_over_nbkit": statistics.median(base) / statistics.median(ours),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=None, help="slider moves per widget")
    parser.add_argument("--smoke", action="store_true", help="3 moves per widget")
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    moves = args.moves or (3 if args.smoke else 12)
    results = {name: time_widget(name, kwargs, control, moves) for name, kwargs, control in WIDGETS}
    every = [r["nbkit_median_s"] for r in results.values()]
    report = {"machine": machine_info(threads=None, torch=None), "moves": moves,
              "target_median_s": TARGET_MEDIAN_S, "widgets": results,
              "nbkit_median_of_medians_s": statistics.median(every),
              "nbkit_worst_median_s": max(every)}
    print(f"{'widget':28} {'slider':15} {'nbkit med':>9} {'worst':>7} {'cpu med':>7} "
          f"{'baseline':>9} {'ratio':>6}")
    for name, r in results.items():
        print(f"{name:28} {r['slider'][:15]:15} {r['nbkit_median_s']:9.3f} "
              f"{r['nbkit_worst_s']:7.3f} {r['nbkit_cpu_median_s']:7.3f} "
              f"{r['baseline_median_s']:9.3f} {r['baseline_over_nbkit']:6.2f}")
    print(f"median of the medians {report['nbkit_median_of_medians_s']:.3f} s, slowest widget "
          f"{report['nbkit_worst_median_s']:.3f} s (target {TARGET_MEDIAN_S} s); "
          f"load average {report['machine']['load_average_1min']}")
    out = args.out or RESULTS_DIR / ("widget_speed_smoke.json" if args.smoke
                                     else "widget_speed.json")
    RESULTS_DIR.mkdir(exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
