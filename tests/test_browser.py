"""Real browser tests: JupyterLab 4 + headless Chromium (Playwright) drive every widget lecture.

One JupyterLab server (the students' Lab of ``make lab``: web/lab/student config, only the
environment's overrides.json as settings) and one Chromium page at 1366×768 CSS px and device
pixel ratio 2 are shared by all tests of this module. For every lecture with widgets:

- opened as committed (nothing run), every widget output shows its saved picture, crisp
  (image pixels ≥ 1.5× its CSS size) and no "Error displaying widget";
- after Run All, every live widget is crisp, fits a 1366×768 laptop (at most 600 px tall, no
  wider than the notebook column), and redraws after keypresses on one of its sliders: the
  time from keydown to the new picture decoded in the page is measured, divided by the
  machine's load when it was measured (the 1-minute load average per core when above 1, times
  ``NBKIT_BROWSER_SLACK`` if set) and asserted at twice the targets (a regression fails, the
  lagging load average does not): over all presses of all lectures median ≤ 2 × 0.25 s and
  worst ≤ 2 × 0.5 s, and per lecture worst ≤ 2 × 0.5 s;
- saved, its kernel shut down and reopened, every widget still shows its picture (the widget
  state saved with the notebook, web/lab/overrides.json);
- no page error, no console error, no traceback, nothing requested outside 127.0.0.1.

The first screen of ``make lab`` is checked too: the lecture index rendered as Markdown, no news
pop-up, none of nbgrader's instructor UI. Screenshots land in /tmp/nbkit-browser for a person to
look at; the measured latencies in /tmp/nbkit-browser/latency.json. Skipped (with the reason)
only where /usr/bin/chromium does not exist.
"""

import json
import os
import re
import statistics
import subprocess
import urllib.request
from pathlib import Path

import browser
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "lectures").glob("*.ipynb"))
SHOTS = Path("/tmp/nbkit-browser")
WIDTH, HEIGHT, RATIO = 1366, 768, 2
MAX_WIDGET_HEIGHT = 600
MIN_PIXELS_PER_CSS_PX = 1.5
MEDIAN_LATENCY, WORST_LATENCY = 0.25, 0.5
PRESSES = 3
RUN_ALL_MS = 300_000  # a lecture runs in < 60 s on a quiet 2-core machine; CI runs 2 at once
# the slider each widget is measured with (its description); the first slider otherwise
SLIDER = {"decision_boundary_widget": "training step", "playground_widget": "×10 steps",
          "init_variance_widget": "weight std", "optimizer_widget": "learning rate"}
expect = None
MEASURED = []  # every keypress-to-picture latency of the module, divided by the load then

if not Path(browser.CHROMIUM).exists():
    pytest.skip(f"{browser.CHROMIUM} not found: install Debian's chromium to run the browser test",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _widget_calls(path):
    """The widget constructors called by the code cells of a notebook, in order."""
    calls = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            calls += re.findall(r"\b(\w+_widget)\(", "".join(cell["source"]))
    return calls


WIDGET_LECTURES = [p for p in LECTURES if _widget_calls(p)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The students' Lab (as ``make lab`` starts it) with copies of the widget lectures and
    the lecture index; yields (base_url, token, root)."""
    tmp = tmp_path_factory.mktemp("lab")
    with browser.jupyterlab(tmp, [*WIDGET_LECTURES, REPO / "lectures" / "README.md"],
                            config_path=REPO / "web" / "lab" / "student",
                            quiet_settings=False) as server:
        yield server


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One Chromium page at 1366×768, pixel ratio 2; ``page.errors`` and ``page.requests``
    collect page/console errors and every URL requested."""
    global expect
    expect = sync_api.expect
    expect.set_options(timeout=browser.TIMEOUT_MS)
    SHOTS.mkdir(exist_ok=True)
    errors = []
    with browser.chromium(sync_api, tmp_path_factory.mktemp("chromium"), width=WIDTH,
                          height=HEIGHT, scale=RATIO, errors=errors) as (page, requests):
        page.errors, page.requests = errors, requests
        yield page
    outside = browser.outside(requests)
    assert not outside, f"requests left 127.0.0.1: {outside[:10]}"


def _open(page, lab, name):
    """Open one notebook alone (a workspace of its own, reset: no tab of another lecture)."""
    base, token, _ = lab
    page.goto(f"{base}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    page.locator(".jp-Notebook").first.wait_for()
    expect(page.locator(".jp-StatusBar-Widget").get_by_text(
        re.compile(r"\|\s*Idle\s*$"))).to_have_count(1)


def _widget_outputs(page, count):
    """The output areas of the ``count`` cells that call a widget, in notebook order (waits
    until Lab has rendered them all: it renders cells below the screen while idle)."""
    cells = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=re.compile(r"_widget\(")))
    expect(cells).to_have_count(count)
    return [cells.nth(i).locator(".jp-OutputArea") for i in range(cells.count())]


def _no_errors(page):
    expect(page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                        has_text="Traceback")).to_have_count(0)
    expect(page.locator(".jp-RenderedText[data-mime-type*=error]")).to_have_count(0)
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    assert not page.errors, page.errors


def _picture(out):
    """The picture of a widget output, live (widget image) or saved (rendered PNG)."""
    return out.locator("img").first


def _crispness(img):
    """Image pixels per CSS pixel (the smaller of width and height)."""
    return img.evaluate("""i => Math.min(i.naturalWidth / i.getBoundingClientRect().width,
                                         i.naturalHeight / i.getBoundingClientRect().height)""")


def _check_picture(out, where):
    out.scroll_into_view_if_needed()  # Lab renders the outputs of a cell once it is near the screen
    img = _picture(out)
    img.scroll_into_view_if_needed()
    expect(img).to_have_attribute("src", re.compile(r"^(blob|data):"))
    expect(out.get_by_text("Error displaying widget")).to_have_count(0)
    img.evaluate("i => i.decode()")
    crisp = _crispness(img)
    assert crisp >= MIN_PIXELS_PER_CSS_PX, (
        f"{where}: {crisp:.2f} image pixels per CSS px at pixel ratio {RATIO} (blurry)")


def _fit(out, column, where):
    box = out.locator(".jp-OutputArea-output").first.bounding_box()
    widget = out.locator(".widget-box").first.bounding_box()
    assert box["height"] <= MAX_WIDGET_HEIGHT, (
        f"{where}: {box['height']:.0f} px tall, more than {MAX_WIDGET_HEIGHT} at {WIDTH}×{HEIGHT}")
    assert widget["x"] + widget["width"] <= column["x"] + column["width"] + 1, (
        f"{where}: {widget['width']:.0f} px wide, wider than the notebook column "
        f"({column['width']:.0f} px)")


ARM = """([img, handle]) => {
    window.__nbkit = {old: img.src, key: null, shown: null};
    handle.addEventListener('keydown', () => { window.__nbkit.key = performance.now(); },
                            {once: true, capture: true});
    const obs = new MutationObserver(() => {
        if (img.src !== window.__nbkit.old) {
            obs.disconnect();
            img.decode().then(() => { window.__nbkit.shown = performance.now(); });
        }
    });
    obs.observe(img, {attributes: true, attributeFilter: ['src']});
}"""


def _latencies(page, out, name):
    """Seconds from keydown on a slider handle to the new picture decoded, PRESSES times."""
    label = SLIDER.get(name)
    sliders = out.locator(".widget-slider")
    slider = sliders.filter(has_text=label).first if label else sliders.first
    handle = slider.locator(".noUi-handle").first
    img = _picture(out)
    handle.scroll_into_view_if_needed()
    seconds = []
    for _ in range(PRESSES):
        page.evaluate(ARM, [img.element_handle(), handle.element_handle()])
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function("window.__nbkit.shown !== null", timeout=30_000)
        seconds.append(page.evaluate("(window.__nbkit.shown - window.__nbkit.key) / 1000"))
    return seconds


def test_make_lab_first_screen(lab, page):
    """``make lab``: the lecture index rendered (links to the lectures), no news pop-up, no
    nbgrader instructor UI (menu, "Create Assignment", formgrader, course list)."""
    dry = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert re.search(r"JUPYTER_CONFIG_PATH=\S*web/lab/student .*jupyter lab .*"
                     r"lectures/README\.md", dry), dry
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/README.md?token={token}")
    rendered = page.locator(".jp-RenderedMarkdown").first
    expect(rendered.locator("a[href*='00_interactive_tour.ipynb']").first).to_be_visible()
    expect(page.locator(".jp-FileEditor")).to_have_count(0)  # not the raw text
    page.wait_for_timeout(3000)  # news and update checks would have popped up by now
    expect(page.locator(".jp-Notification-Toast, .Toastify__toast")).to_have_count(0)
    expect(page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_have_count(0)
    expect(page.get_by_text("Create Assignment")).to_have_count(0)
    expect(page.get_by_text("Formgrader")).to_have_count(0)
    page.screenshot(path=str(SHOTS / f"first-screen-{WIDTH}x{HEIGHT}@{RATIO}x.png"))
    assert not page.errors, page.errors


@pytest.mark.parametrize("lecture", WIDGET_LECTURES, ids=lambda p: p.stem)
def test_widgets_in_a_real_browser(lab, page, lecture):
    calls = _widget_calls(lecture)
    try:
        _open(page, lab, lecture.name)
        column = page.locator(".jp-Notebook").first.bounding_box()
        outputs = _widget_outputs(page, len(calls))
        assert len(outputs) == len(calls)
        for out, name in zip(outputs, calls, strict=True):  # as committed: saved pictures
            _check_picture(out, f"{lecture.stem} {name} (committed)")

        page.wait_for_timeout(1000)  # let the kernel's channels connect
        browser.run_all(page, expect)
        outputs = _widget_outputs(page, len(calls))
        for out in outputs:
            expect(out.locator("img.widget-image")).to_have_attribute("src", re.compile("^blob:"))
        expect(page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=RUN_ALL_MS)
        latencies = {}
        for i, (out, name) in enumerate(zip(outputs, calls, strict=True)):
            where = f"{lecture.stem} {name}"
            _check_picture(out, where)
            _fit(out, column, where)
            latencies[f"{i}:{name}"] = _latencies(page, out, name)
            out.screenshot(path=str(SHOTS / f"{lecture.stem}-{i}-{name}@{RATIO}x.png"))
        _no_errors(page)
        every = [s for values in latencies.values() for s in values]
        slack = _slack()
        _record(lecture.stem, latencies, slack)
        MEASURED.extend(s / slack for s in every)
        assert max(every) <= 2 * WORST_LATENCY * slack, (  # a single widget far too slow
            f"{lecture.stem}: keypress to new picture worst {max(every):.3f} s (allowed "
            f"2 × {WORST_LATENCY} s × load {slack:.2f}): {latencies}")

        # saved, kernel shut down, reopened (the next day): the pictures are still there
        page.keyboard.press("Control+s")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0)
        base, token, root = lab
        saved = json.loads((root / lecture.name).read_text(encoding="utf-8"))
        assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
        page.goto("about:blank")
        _shut_down_kernels(base, token)
        _open(page, lab, lecture.name)
        page.wait_for_timeout(2000)  # the widget manager restores the saved state
        for out, name in zip(_widget_outputs(page, len(calls)), calls, strict=True):
            _check_picture(out, f"{lecture.stem} {name} (reopened after save)")
        page.screenshot(path=str(SHOTS / f"{lecture.stem}-reopened@{RATIO}x.png"))
        _no_errors(page)
    except Exception:
        page.screenshot(path=str(SHOTS / f"{lecture.stem}-failure.png"))
        raise


def _shut_down_kernels(base, token):
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels",
                                                       headers=headers)) as r:
        kernels = json.load(r)
    for kernel in kernels:
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/kernels/{kernel['id']}", method="DELETE", headers=headers)).close()


def _slack():
    """How much slower than quiet the machine is now: load average per core (at least 1),
    times NBKIT_BROWSER_SLACK (default 1)."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return max(1.0, load) * float(os.environ.get("NBKIT_BROWSER_SLACK", "1"))


def _record(stem, latencies, slack):
    path = SHOTS / "latency.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[stem] = {"seconds": latencies, "load_slack": slack}
    path.write_text(json.dumps(data, indent=1))


def test_redraw_latency_over_every_widget():
    """Over every keypress of every widget lecture (run after them), each latency divided by
    the load when it was measured: median ≤ 2 × the target of 0.25 s, worst ≤ 2 × the target
    of 0.5 s."""
    if len(MEASURED) < PRESSES * len(WIDGET_LECTURES):
        pytest.skip("needs every widget lecture's measurements (run the whole module)")
    median, worst = statistics.median(MEASURED), max(MEASURED)
    # Asserted with a margin of 2× (a regression, not the target, fails CI: the load average
    # lags the load); the figures against the targets are in latency.json and the README.
    assert median <= 2 * MEDIAN_LATENCY and worst <= 2 * WORST_LATENCY, (
        f"keypress to new picture, load-scaled: median {median:.3f} s, worst {worst:.3f} s "
        f"over {len(MEASURED)} presses (see {SHOTS / 'latency.json'})")
