"""The static course website and slides (web/build.py): built once per test session from the
committed notebooks, then checked as files (every lecture and exercise has a page, every internal
link and asset resolves, no asset comes from another host, no solution is in it, widgets show
their saved picture, no math is left unparsed) and in headless Chromium served from 127.0.0.1
with every other request blocked (math typeset without errors, pictures load, slides advance,
nothing left the machine). Screenshots at 1366x768, pixel ratio 1 and 2, go to /tmp/nbkit-site/.
"""

import html
import importlib.util
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import browser
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path("/tmp/nbkit-site")
_spec = importlib.util.spec_from_file_location("web_build", REPO / "web" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run([sys.executable, "-m", "web.build", "site", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


class _Links(HTMLParser):
    """Collects (tag, attribute, url) of every link and asset reference, and every id."""

    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.refs.append((tag, name, attrs[name], attrs.get("rel", "")))


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _pages(site):
    """The site's pages (the theme's _static/*.html are Jinja macros, not pages)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def _lecture_pages(site):
    return [site / "lectures" / f"{p.stem}.html" for p in build.lectures()]


def _exercise_pages(site):
    return [site / "exercises" / p.stem / f"{p.stem}.html" for p in build.exercises()]


# -- unit tests of the build's notebook rules -----------------------------------------------------

def _widget_output(with_picture=True):
    data = {build.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "interactive(children=(...))"}
    if with_picture:
        data["image/png"] = "iVBORw0KGgo="
    return nbformat.v4.new_output("display_data", data=data)


def test_static_notebook_keeps_the_picture_and_drops_the_live_widget():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells.append(nbformat.v4.new_code_cell("w", outputs=[_widget_output()]))
    static = build.static_notebook(nb)
    assert set(static.cells[0].outputs[0].data) == {"image/png", "text/plain"}
    assert "widgets" not in static.metadata
    assert build.WIDGET_VIEW in nb.cells[0].outputs[0].data, "the input must not change"


def test_static_notebook_refuses_a_widget_without_a_saved_picture():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("w", outputs=[_widget_output(False)]))
    with pytest.raises(ValueError, match=r"lecture\.ipynb, cell 0: a widget output without"):
        build.static_notebook(nb, "lecture.ipynb")


def test_links_to_notebooks_are_rewritten_and_others_kept():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "[ex](../exercises/a/a.ipynb#part-1), [web](https://x.org/b.ipynb), [top](#top)"))
    source = REPO / "lectures" / "00_x.ipynb"
    build.relink_notebooks(nb, source, lambda t: t.relative_to(REPO).with_suffix(".html"))
    assert nb.cells[0].source == (
        "[ex](exercises/a/a.html#part-1), [web](https://x.org/b.ipynb), [top](#top)")


def test_math_in_table_rows_keeps_its_bars():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("| a | $N/|B|$ |\n$|x|$ outside a table"))
    build._math_in_tables(nb)
    assert nb.cells[0].source == "| a | $N/\\vert B\\vert $ |\n$|x|$ outside a table"


# -- the built site, as files ---------------------------------------------------------------------

def test_every_lecture_and_exercise_has_a_page_reachable_from_the_index(site):
    expected = {*_lecture_pages(site), *_exercise_pages(site), site / "lectures" / "README.html"}
    assert len(expected) == len(build.lectures()) + len(build.exercises()) + 1 >= 13
    reachable, todo = set(), [site / "index.html"]
    while todo:
        page = todo.pop()
        if page in reachable or page.suffix != ".html" or not page.exists():
            continue
        reachable.add(page)
        for _tag, _attr, url, _rel in _parse(page).refs:
            if not urlparse(url).scheme and not url.startswith("#"):
                todo.append((page.parent / unquote(url.split("#")[0])).resolve())
    assert not expected - reachable, sorted(str(p.relative_to(site)) for p in expected - reachable)
    for deck in build.lectures():
        assert site / "slides" / f"{deck.stem}.slides.html" in reachable


def test_internal_links_and_assets_resolve_and_no_asset_comes_from_another_host(site):
    broken, remote_assets, ids = [], [], {}
    for page in _pages(site):
        for tag, attr, url, rel in _parse(page).refs:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https", "mailto"):
                # a link a reader may follow is fine; anything loaded to show the page is not
                if not (tag == "a" or (tag == "link" and "stylesheet" not in rel
                                       and "preload" not in rel and "icon" not in rel)):
                    remote_assets.append(f"{page.relative_to(site)}: <{tag} {attr}={url}>")
                continue
            if parsed.scheme in ("data", "javascript") or url.startswith("#"):
                continue
            target = (page.parent / unquote(parsed.path)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {url}")
            elif parsed.fragment and target.suffix == ".html" and "slides" not in target.parts:
                if target not in ids:
                    ids[target] = _parse(target).ids
                if parsed.fragment not in ids[target]:
                    broken.append(f"{page.relative_to(site)} -> {url} (no such anchor)")
    assert not broken, broken[:20]
    assert not remote_assets, remote_assets[:20]
    css = "\n".join(p.read_text(errors="replace") for p in site.rglob("*.css"))
    assert not re.findall(r"@import\s+url\(\s*['\"]?https?:", css)


def _solution_lines():
    """Non-trivial lines the solutions write between BEGIN and END SOLUTION that no lecture or
    student exercise contains (a loop header a lecture also shows is no leak)."""
    public = "\n".join(c.source for p in [*build.lectures(), *build.exercises()]
                       for c in nbformat.read(p, as_version=4).cells)
    lines = set()
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            inside = False
            for line in cell.source.splitlines():
                if "BEGIN SOLUTION" in line:
                    inside = True
                elif "END SOLUTION" in line:
                    inside = False
                elif inside and len(line.strip()) >= 25 and line.strip() not in public:
                    lines.add(line.strip())
    return lines


def test_no_solution_is_on_the_site(site):
    files = [p for p in site.rglob("*") if p.is_file()]
    assert not [p for p in files if "solutions" in p.relative_to(site).parts]
    texts = {p: html.unescape(p.read_text(errors="replace")) for p in files
             if p.suffix in (".html", ".js", ".ipynb", ".txt", ".json")
             and "mathjax" not in p.parts}
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert not [p for p, t in texts.items() if marker in t], marker
    solution = _solution_lines()
    assert len(solution) > 20
    blob = "\n".join(texts.values())
    leaked = sorted(line for line in solution if line in blob)
    assert not leaked, leaked[:10]
    assert not [u for p in _pages(site) for _t, _a, u, _r in _parse(p).refs if "solutions/" in u]


def test_widget_outputs_show_their_saved_picture(site):
    widget_lectures = 0
    for path, page in zip(build.lectures(), _lecture_pages(site), strict=True):
        nb = nbformat.read(path, as_version=4)
        pictures = sum("image/png" in o.get("data", {}) for c in nb.cells
                       for o in c.get("outputs", []))
        widget_lectures += any(build.WIDGET_VIEW in o.get("data", {}) for c in nb.cells
                               for o in c.get("outputs", []))
        text = page.read_text()
        images = re.findall(r'<img [^>]*src="(\.\./_images/[^"]+\.png)"', text)
        assert len(images) == pictures, (page.name, len(images), pictures)
        assert all((page.parent / src).resolve().stat().st_size > 1000 for src in images)
        assert "widget-state+json" not in text and "widget-view+json" not in text
    assert widget_lectures >= 1


def _prose(page: Path) -> str:
    """The page's article text without code, scripts and typeset math."""
    text = page.read_text()
    main = text[text.find("<main"):text.find("</main>")]
    main = re.sub(r"<(pre|code|script|style)\b[\s\S]*?</\1>", " ", main)
    main = re.sub(r'<(span|div) class="math[^"]*"[^>]*>[\s\S]*?</\1>', " ", main)
    return html.unescape(re.sub(r"<[^>]+>", " ", main))


def test_no_math_is_left_unparsed(site):
    left = {}
    for page in [*_lecture_pages(site), *_exercise_pages(site)]:
        raw = re.findall(r".{0,30}(?:\$|\\(?:frac|partial|sum|mathbf|begin|left|sigma)\b).{0,30}",
                         _prose(page))
        if raw:
            left[page.name] = raw[:3]
    assert not left, left


def test_exercise_pages_link_back_to_their_lecture(site):
    backlinks = build._exercise_backlinks()
    assert backlinks, "no lecture links to an exercise"
    for name, lectures in backlinks.items():
        text = (site / "exercises" / name / f"{name}.html").read_text()
        for _title, file in lectures:
            assert f'href="../../lectures/{Path(file).stem}.html"' in text, (name, file)


def test_every_lecture_presents_from_its_slide_metadata(site):
    for path in build.lectures():
        cells = nbformat.read(path, as_version=4).cells
        kinds = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in cells]
        assert kinds[0] == "slide", f"{path.name}: the first cell must start a slide"
        assert kinds.count("slide") >= 3, path.name
        deck = (site / "slides" / f"{path.stem}.slides.html").read_text()
        # nbconvert: <section> per slide around a <section> per sub-slide
        assert deck.count("<section><section>") == kinds.count("slide"), path.name
        assert deck.count("<section>") == 2 * kinds.count("slide") + kinds.count("subslide")


# -- in a real browser, offline -------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not Path(browser.CHROMIUM).exists(),
                                    reason=f"{browser.CHROMIUM} not found: install chromium")


def _widget_lecture():
    for path in build.lectures():
        if build.WIDGET_VIEW in path.read_text():
            return path
    raise AssertionError("no lecture has a widget output")


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("scale", [1, 2])
def test_site_offline_in_chromium(site, tmp_path, scale):
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    lecture = _widget_lecture()
    pages = ["index.html", f"lectures/{lecture.stem}.html",
             f"exercises/{build.exercises()[0].stem}/{build.exercises()[0].stem}.html"]
    with browser.static_server(site) as (base, errors), browser.chromium(
            sync_api, tmp_path, width=1366, height=768, scale=scale,
            block_outside=True) as (page, requests):
        console = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)))
        for path in pages:
            page.goto(f"{base}/{path}")
            page.wait_for_load_state("networkidle")
            math = page.locator("article mjx-container")
            if path != "index.html":
                page.wait_for_function("document.querySelectorAll('mjx-container').length > 0")
                assert math.count() > 5, path
                assert math.first.bounding_box()["width"] > 0
            assert page.locator("mjx-merror, mjx-container [data-mjx-error]").count() == 0, path
            assert not page.evaluate(  # every picture on the page decoded
                "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                ".map(i => i.src)"), path
            name = path.replace("/", "_").replace(".html", "")
            page.screenshot(path=str(SHOTS / f"{name}@{scale}x.png"))
            if path.startswith("lectures/"):
                widget = page.locator(
                    ".cell:has(.cell_input:has-text('_widget(')) .cell_output img")
                widget.first.scroll_into_view_if_needed()
                assert widget.first.evaluate("i => i.naturalWidth") > 300
                page.screenshot(path=str(SHOTS / f"{name}-widget@{scale}x.png"))
    assert not errors, errors
    assert not [c for c in console if "invalid theme mode" not in c], console
    assert requests and not browser.outside(requests), browser.outside(requests)


@needs_chromium
@pytest.mark.browser
def test_slides_offline_in_chromium(site, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    deck = f"slides/{_widget_lecture().stem}.slides.html"
    with browser.static_server(site) as (base, errors), browser.chromium(
            sync_api, tmp_path, width=1366, height=768, block_outside=True) as (page, requests):
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/{deck}")
        page.wait_for_selector(".reveal.ready")
        page.wait_for_function("document.querySelectorAll('.MathJax_CHTML').length > 0")
        page.screenshot(path=str(SHOTS / "slides-title.png"))
        seen = [page.evaluate("location.hash")]
        for _ in range(3):
            page.keyboard.press("Space")
            page.wait_for_function(f"location.hash !== {json.dumps(seen[-1])}")
            seen.append(page.evaluate("location.hash"))
        # MathJax typesets the slide it lands on; on a loaded machine that takes a while
        page.wait_for_function(
            "document.querySelectorAll('section.present .MathJax_CHTML').length > 0",
            timeout=30_000)
        page.screenshot(path=str(SHOTS / "slides-advanced.png"))
        assert not page.evaluate(
            "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert page.locator(".reveal section img").count() > 0
        assert page.locator(".MathJax_Error, .MathJax_CHTML [data-mjx-error]").count() == 0
    assert len(set(seen)) == 4, seen
    assert not errors, errors
    assert requests and not browser.outside(requests), browser.outside(requests)
