"""Static exports of the course that need no network at view time.

    python -m web.build slides OUT   # one reveal.js deck per lecture (nbconvert's reveal template)
    python -m web.build site OUT     # the course website (Sphinx + MyST-NB, sphinx-book-theme)

Both read the committed notebooks and never execute them. A widget output keeps only its saved
picture: the ``application/vnd.jupyter.widget-view+json`` entry (which outranks ``image/png`` in
every renderer) and the notebook's widget state are dropped (:func:`static_notebook`), so no page
needs a widget manager. reveal.js, MathJax, require.js and jQuery come from ``web/node_modules``
(pinned in ``web/package-lock.json``, installed by ``npm ci``) and are copied next to the pages.
The website holds lectures, their index and the *student* exercises, never ``solutions/``.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
NODE_MODULES = WEB / "node_modules"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC_PICTURES = ("image/png", "image/svg+xml", "image/jpeg")
# What each export serves from node_modules: (source, destination under the assets folder).
# MathJax 2 for the slides (nbconvert's reveal template calls the MathJax 2 API on every slide
# change), MathJax 3 for the website (Sphinx's MathJax 3 support); only the parts they load.
SLIDE_ASSETS = [
    *((f"reveal.js/dist/{p}", f"reveal.js/dist/{p}") for p in (
        "reveal.js", "reveal.css", "theme/white.css", "theme/fonts/source-sans-pro")),
    ("reveal.js/plugin/notes", "reveal.js/plugin/notes"),
    ("requirejs/require.js", "require.js"),
    ("jquery/dist/jquery.min.js", "jquery.min.js"),
    *((f"mathjax2/{p}", f"mathjax/{p}") for p in (
        "MathJax.js", "config", "extensions", "jax/input/TeX", "jax/element",
        "jax/output/CommonHTML", "fonts/HTML-CSS/TeX/woff", "localization/en")),
]
SITE_ASSETS = [(f"mathjax/es5/{p}", f"mathjax/{p}") for p in (
    "tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y", "sre")]
_EXERCISE_LINK = re.compile(r"\]\(\.\./exercises/([^/)]+)/\1\.ipynb\)")
# a markdown link to a notebook by relative path: ](path.ipynb) or ](path.ipynb#anchor)
_NOTEBOOK_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+\.ipynb)(#[^)\s]*)?\)")


def lectures() -> list[Path]:
    """The lecture notebooks, in course order."""
    return sorted((REPO / "lectures").glob("[0-9][0-9]_*.ipynb"))


def exercises() -> list[Path]:
    """The released (student) exercise notebooks ``exercises/<a>/<a>.ipynb``."""
    return sorted(p for p in (REPO / "exercises").glob("*/*.ipynb") if p.stem == p.parent.name)


def static_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` whose widget outputs show their saved picture and nothing live.

    Drops the widget-view entry of every output that also holds a picture, and the notebook's
    widget state. A widget output without a saved picture is an error: a static page would show
    its ``text/plain`` repr (``interactive(children=...)``) instead of the figure.
    """
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            if not any(m in data for m in STATIC_PICTURES):
                raise ValueError(
                    f"{name}, cell {index}: a widget output without a saved picture "
                    f"(expected one of {', '.join(STATIC_PICTURES)} beside {WIDGET_VIEW}); "
                    "re-run the cell with nbkit's widgets, which save their figure as PNG")
            del data[WIDGET_VIEW]
            output.get("metadata", {}).pop(WIDGET_VIEW, None)
    return nb


_INLINE_MATH = re.compile(r"\$[^$\n]+\$")


def _math_in_tables(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Write ``|`` inside inline math in a table row as ``\\vert``: Jupyter takes the math out
    before it parses the table, MyST splits the cell at that bar."""
    def fix_row(line: str) -> str:
        if not line.lstrip().startswith("|"):
            return line
        return _INLINE_MATH.sub(lambda m: m.group(0).replace("|", r"\vert "), line)

    for cell in nb.cells:
        if cell.cell_type == "markdown" and "|" in cell.source:
            cell.source = "\n".join(fix_row(line) for line in cell.source.split("\n"))
    return nb


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _title(nb: nbformat.NotebookNode, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{path}: no '# Title' heading in any markdown cell")


def copy_assets(pairs, dest: Path) -> None:
    """Copy ``(source under web/node_modules, destination under dest)`` pairs."""
    if not (NODE_MODULES / ".package-lock.json").exists():
        raise FileNotFoundError(
            f"{NODE_MODULES} is missing or incomplete: install the pinned JavaScript assets "
            "with `npm ci --prefix web` (or `make web/node_modules`)")
    for src, dst in pairs:
        src, dst = NODE_MODULES / src, dest / dst
        if not src.exists():
            raise FileNotFoundError(f"{src} not found: re-run `npm ci --prefix web`")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)


def relink_notebooks(nb: nbformat.NotebookNode, source: Path, href) -> nbformat.NotebookNode:
    """Rewrite the markdown links to notebooks: ``href(target)`` gives the new link of ``target``,
    the absolute path of the linked notebook in the repository (``source`` is the notebook's own
    path, against which relative links resolve)."""
    def sub(match):
        target = (source.parent / match.group(1)).resolve()
        return f"]({href(target)}{match.group(2) or ''})"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _NOTEBOOK_LINK.sub(sub, cell.source)
    return nb


# -- slides -------------------------------------------------------------------------------------

def slides_exporter():
    """nbconvert's SlidesExporter pointed at the local assets (``_assets/`` beside the decks)."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.extra_template_basedirs = [str(WEB / "templates")]
    c.SlidesExporter.template_name = "nbkit_reveal"
    c.SlidesExporter.reveal_url_prefix = "_assets/reveal.js"
    c.SlidesExporter.reveal_theme = "white"  # its fonts ship with reveal.js (no Google Fonts)
    c.SlidesExporter.reveal_scroll = True  # a tall code cell + figure scrolls instead of clipping
    c.SlidesExporter.require_js_url = "_assets/require.js"
    c.SlidesExporter.jquery_url = "_assets/jquery.min.js"
    c.SlidesExporter.mathjax_url = "_assets/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    exporter = SlidesExporter(config=c)
    # plots carry no alt text (nbconvert fills in a generic one): one warning per deck, unneeded
    exporter.log.addFilter(lambda record: "Alternative text" not in str(record.msg))
    return exporter


def build_slides(out: Path, notebooks: list[Path] | None = None, site: Path | None = None
                 ) -> list[Path]:
    """Write ``out/<lecture>.slides.html`` for each lecture and the shared ``out/_assets/``.

    Links to other notebooks point at the notebooks of this checkout, or, with ``site`` (the
    website's root folder), at that notebook's page on the website.
    """
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(SLIDE_ASSETS, out / "_assets")
    exporter = slides_exporter()

    def href(target: Path) -> str:
        if site is not None:
            target = site.resolve() / target.relative_to(REPO).with_suffix(".html")
        return Path(os.path.relpath(target, out)).as_posix()

    written = []
    for path in notebooks or lectures():
        nb = static_notebook(_read(path), str(path.relative_to(REPO)))
        body, _ = exporter.from_notebook_node(relink_notebooks(nb, path, href),
                                              resources={"metadata": {"name": path.stem}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


# -- website ------------------------------------------------------------------------------------

def _exercise_backlinks() -> dict[str, list[tuple[str, str]]]:
    """exercise name -> [(lecture title, lecture file)] for every lecture that links to it."""
    links: dict[str, list[tuple[str, str]]] = {}
    for path in lectures():
        nb = _read(path)
        names = {m for c in nb.cells if c.cell_type == "markdown"
                 for m in _EXERCISE_LINK.findall(c.source)}
        for name in sorted(names):
            links.setdefault(name, []).append((_title(nb, path), path.name))
    return links


def stage_site_sources(stage: Path) -> None:
    """Lay out the Sphinx sources: index, lecture index, static lectures, student exercises.

    Each exercise page gains one line after its title linking back to the lecture(s) that
    teach it (taken from the lectures' own links to the exercise).
    """
    shutil.copy2(WEB / "index.md", stage / "index.md")
    decks = "\n".join(
        f'<li><a href="slides/{p.stem}.slides.html">{_title(_read(p), p)}</a></li>'
        for p in lectures())
    (stage / "slides.md").write_text(
        "# Slides\n\nEach lecture as reveal.js slides, built from the cells' slide metadata "
        "(arrow keys or space to advance, `Esc` for the overview, `S` for speaker notes). "
        "To present with live widgets, use `make lab` and the lecture's *Render as Reveal "
        f"Slideshow* button (or `Alt+R`).\n\n<ul>\n{decks}\n</ul>\n")
    (stage / "lectures").mkdir(parents=True)
    shutil.copy2(REPO / "lectures" / "README.md", stage / "lectures" / "README.md")
    for path in lectures():
        nb = static_notebook(_read(path), str(path.relative_to(REPO)))
        nbformat.write(_math_in_tables(nb), stage / "lectures" / path.name)
    backlinks = _exercise_backlinks()
    for path in exercises():
        nb = _math_in_tables(static_notebook(_read(path), str(path.relative_to(REPO))))
        taught = backlinks.get(path.stem)
        if taught:
            text = ", ".join(f"[{title}](../../lectures/{file})" for title, file in taught)
            _insert_after_title(nb, f"*Taught in* {text}.")
        (stage / "exercises" / path.stem).mkdir(parents=True)
        nbformat.write(nb, stage / "exercises" / path.stem / path.name)


def _insert_after_title(nb: nbformat.NotebookNode, markdown: str) -> None:
    """Put a paragraph right below the notebook's ``# Title`` line."""
    for cell in nb.cells:
        lines = cell.source.split("\n")
        if cell.cell_type == "markdown" and lines[0].startswith("# "):
            cell.source = "\n".join([lines[0], "", markdown, "", *lines[1:]])
            return
    raise ValueError("no markdown cell starts with a '# Title' line")


def build_site(out: Path, *, quiet: bool = True) -> Path:
    """Build the website into ``out`` (index.html at its root) with Sphinx; warnings are errors.

    The lectures' slide decks are built into ``out/slides/``.
    """
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / ".buildinfo").exists():
            raise FileExistsError(f"{out} is not empty and holds no earlier site build: "
                                  "choose an empty or new folder")
        shutil.rmtree(out)  # an earlier build: start clean, so no page outlives its source
    with tempfile.TemporaryDirectory(prefix="nbkit-site-") as tmp:
        stage, vendor = Path(tmp) / "src", Path(tmp) / "vendor"
        stage.mkdir()
        stage_site_sources(stage)
        copy_assets(SITE_ASSETS, vendor)
        with docutils_namespace():
            app = Sphinx(
                srcdir=str(stage), confdir=str(WEB), outdir=str(out),
                doctreedir=str(Path(tmp) / "doctrees"), buildername="html",
                confoverrides={"html_static_path": [str(WEB / "_static"), str(vendor)]},
                status=None if quiet else sys.stdout, warning=sys.stderr,
                freshenv=True, warningiserror=True, keep_going=True)
            app.build(force_all=True)
        if app.statuscode:
            raise RuntimeError(f"Sphinx reported errors (exit status {app.statuscode})")
    build_slides(out / "slides", site=out)
    return out / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.build", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["slides", "site"])
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Sphinx's progress")
    args = parser.parse_args(argv)
    if args.what == "slides":
        for path in build_slides(args.out):
            print(path)
    else:
        print(build_site(args.out, quiet=not args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
