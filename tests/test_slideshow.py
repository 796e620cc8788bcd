"""Live slides in a real browser: JupyterLab + jupyterlab-rise + headless Chromium (Playwright).

Starts JupyterLab on 127.0.0.1 (tests/browser.py), opens a copy of the widget lecture, runs its
cells, clicks the notebook toolbar's "Render as Reveal Slideshow" button (RISE), advances two
slides in the slideshow, moves a slider of the widget on the slide and checks that its picture
changed, that math is typeset on the slides and that nothing was requested outside 127.0.0.1.
Skipped (with the reason) only where /usr/bin/chromium does not exist.
"""

import re
import shutil
from pathlib import Path

import browser
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "lectures" / "00_interactive_tour.ipynb"
RISE_BUTTON = "Render the current notebook as Reveal Slideshow"
SHOTS = Path("/tmp/nbkit-slideshow")  # screenshots for a person to look at

if not Path(browser.CHROMIUM).exists():
    pytest.skip(f"{browser.CHROMIUM} not found: install Debian's chromium to run the browser test",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _present_slide(frame):
    return frame.locator(".reveal .slides > section.present")


def test_lecture_presents_as_live_rise_slideshow(tmp_path):
    expect = sync_api.expect
    expect.set_options(timeout=browser.TIMEOUT_MS)
    SHOTS.mkdir(exist_ok=True)
    with browser.jupyterlab(tmp_path, [NOTEBOOK]) as (base, token, _root), \
            browser.chromium(sync_api, tmp_path, width=1366, height=768) as (page, requests):
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.locator(".jp-Notebook").first.wait_for()
            expect(page.locator(".jp-StatusBar-Widget").get_by_text(
                re.compile(r"\|\s*Idle\s*$"))).to_have_count(1)
            page.wait_for_timeout(1000)  # let the kernel's channels connect
            browser.run_all(page, expect)
            expect(page.locator(".jp-OutputArea img.widget-image").first).to_have_attribute(
                "src", re.compile(r"^blob:"))
            expect(page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                "data-status", "idle")

            # the slideshow starts at the selected cell: select the first one, then the button
            page.locator(".jp-Cell").first.click()
            page.keyboard.press("Escape")
            page.locator(f".jp-NotebookPanel-toolbar [title^='{RISE_BUTTON}']").click()
            frame = page.frame_locator("iframe[src*='/rise/']")
            slide = _present_slide(frame)
            expect(slide.locator("h1")).to_contain_text("Lecture 0")
            expect(frame.locator(".reveal mjx-container").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "rise-title.png"))

            titles = []
            for _ in range(2):  # advance two slides
                before = slide.inner_text()
                frame.locator(".reveal").first.press("ArrowRight")
                expect(slide).not_to_have_text(before)
                titles.append(slide.locator("h2").first.inner_text())
            assert titles[0] != titles[1], titles
            expect(slide.locator("mjx-container").first).to_be_visible()

            image = slide.locator("img.widget-image").first
            expect(image).to_have_attribute("src", re.compile(r"^blob:"))
            before = image.get_attribute("src")
            # drag with the mouse, as a lecturer does (arrow keys also turn the slide); on a
            # loaded machine the slide may still move when the first drag starts: up to 3 drags
            handle = slide.locator(".widget-slider .noUi-handle").first
            for attempt in range(3):
                handle.scroll_into_view_if_needed()
                handle.hover()  # waits until the handle is visible and stable
                box = handle.bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + 40 * (-1) ** attempt, y, steps=5)
                page.mouse.up()
                try:
                    expect(image).not_to_have_attribute("src", before, timeout=20_000)
                    break
                except AssertionError:
                    if attempt == 2:
                        raise
            expect(image).to_have_attribute("src", re.compile(r"^blob:"))
            expect(frame.get_by_text("Error displaying widget")).to_have_count(0)
            page.screenshot(path=str(SHOTS / "rise-widget.png"))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            shutil.copy(tmp_path / "failure.png", "/tmp/slideshow_failure.png")
            raise
    assert any("/rise/" in u for u in requests), "the slideshow page was never requested"
    assert not browser.outside(requests), f"requests left 127.0.0.1: {browser.outside(requests)}"
