"""A real browser test: JupyterLab 4 + headless Chromium (Playwright) drive the widget lecture.

Starts JupyterLab on 127.0.0.1 (free port, random token, temporary root, settings and
workspaces) as a child process, opens a temporary copy of lectures/00_interactive_tour.ipynb,
runs all cells, moves one slider of each of the three main widgets with the keyboard and checks
that the picture changed, that no error output appeared and that the page requested nothing
outside 127.0.0.1. Skipped (with the reason) only where /usr/bin/chromium does not exist.
"""

import re
import shutil
import time
from pathlib import Path

import browser
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "lectures" / "00_interactive_tour.ipynb"
CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS = browser.CHROMIUM, browser.CHROMIUM_FLAGS, browser.TIMEOUT_MS
# The three main widgets, in notebook order: a snippet of the cell source -> which slider.
WIDGET_CELLS = {
    "vanishing_gradients_widget": "depth",
    "init_variance_widget": "weight std",
    "optimizer_widget": "learning rate",
}

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the browser test",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server of our own (tests/browser.py); yields (base_url, token, root)."""
    with browser.jupyterlab(tmp_path, [NOTEBOOK]) as server:
        yield server


def _widget_output(page, snippet):
    """The output area of the code cell whose source contains ``snippet``."""
    cell = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=snippet))
    return cell.locator(".jp-OutputArea")


def test_lecture_widgets_in_real_browser(lab, tmp_path):
    base, token, _ = lab
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    requests = []
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            context.on("request", lambda r: requests.append(r.url))
            page = context.pages[0] if context.pages else context.new_page()
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.locator(".jp-Notebook").first.wait_for()
            status = page.locator(".jp-Notebook-ExecutionIndicator")
            expect(status).to_have_attribute("data-status", "idle")
            # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up ...
            expect(page.locator(".jp-StatusBar-Widget").get_by_text(
                re.compile(r"\|\s*Idle\s*$"))).to_have_count(1)
            # ... and the page must have opened the kernel's channels websocket
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while not any("/channels" in u for u in requests):
                assert time.monotonic() < deadline, "no kernel websocket within 60 s"
                page.wait_for_timeout(200)

            first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
            for attempt in range(3):  # a Run All sent before the kernel is wired up is lost
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel",
                             has_text=re.compile(r"^Run All Cells$")).click()
                try:
                    expect(first_prompt).to_have_text(re.compile(r"\[(\d+|\*)\]"),
                                                      timeout=15_000)
                    break
                except AssertionError:
                    if attempt == 2:
                        raise
            # the last cell's widget image exists once every cell has run
            for snippet in WIDGET_CELLS:
                expect(_widget_output(page, snippet).locator("img.widget-image")).to_have_attribute(
                    "src", re.compile(r"^blob:"))
            expect(status).to_have_attribute("data-status", "idle")
            expect(page.locator(".jp-OutputArea img.widget-image")).to_have_count(6)

            for snippet, slider in WIDGET_CELLS.items():
                out = _widget_output(page, snippet)
                image = out.locator("img.widget-image")
                before = image.get_attribute("src")
                handle = out.locator(".widget-slider", has_text=slider).locator(".noUi-handle")
                handle.scroll_into_view_if_needed()
                handle.focus()
                for _ in range(3):
                    handle.press("ArrowRight")
                expect(image).not_to_have_attribute("src", before)
                expect(image).to_have_attribute("src", re.compile(r"^blob:"))
            expect(status).to_have_attribute("data-status", "idle")

            stderr = page.locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                has_text="Traceback")
            expect(stderr).to_have_count(0)
            expect(page.locator(".jp-RenderedText[data-mime-type*=error]")).to_have_count(0)
            expect(page.get_by_text("Error displaying widget")).to_have_count(0)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            shutil.copy(tmp_path / "failure.png", "/tmp/browser_failure.png")
            raise
        finally:
            context.close()
    assert requests, "recorded no requests at all"
    outside = browser.outside(requests)
    assert not outside, f"requests left 127.0.0.1: {outside[:10]}"


def test_committed_lecture_shows_widgets_before_running(lab, tmp_path):
    """Opened as committed (nothing run yet), every widget output renders from the saved widget
    state: a picture, never 'Error displaying widget: model not found'."""
    base, token, _ = lab
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.locator(".jp-Notebook").first.wait_for()
            expect(page.locator(".jp-StatusBar-Widget").get_by_text(
                re.compile(r"\|\s*Idle\s*$"))).to_have_count(1)
            page.wait_for_timeout(3000)  # let the widget manager restore the saved state
            for snippet in WIDGET_CELLS:
                out = _widget_output(page, snippet)
                out.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                page.screenshot(path=f"/tmp/state_{snippet}.png")
                expect(out.locator("img").first).to_have_attribute(
                    "src", re.compile(r"^(blob|data):"))
                expect(out.get_by_text("Error displaying widget")).to_have_count(0)
        except Exception:
            page.screenshot(path="/tmp/browser_state_failure.png")
            raise
        finally:
            context.close()
