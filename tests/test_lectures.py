"""Guards for the rule "every number in a lecture is true on every machine".

Strict nbval (``make test-notebooks``) compares every text output of a lecture with the stored
one. Results of long float32 trainings are chaotic in their last bits (another CPU, BLAS kernel
or thread count ends elsewhere), so lectures print *verdicts* about bands for them and show the
run's own numbers only in a few cells tagged ``nbval-ignore-output``. These tests keep that
escape hatch small and honest, and check the committed outputs for two other promises:

- every ``nbval-ignore-output`` cell asserts its bands in code (a regression still fails);
- there are few such cells, and nbval's other escape hatches (skip tags, comment markers) are
  not used at all;
- no markdown cell quotes a number that only one run printed;
- ``np.allclose`` and friends are always given explicit tolerances (float32 needs float32 ones);
- every figure a cell means to show is in its stored outputs (one image per ``show`` call or
  widget), so the text never discusses a picture that did not render.
"""

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "lectures").glob("*.ipynb"))
IGNORE = "nbval-ignore-output"
MAX_IGNORED_PER_NOTEBOOK = 2
MAX_IGNORED_TOTAL = 6
CLOSE_CALLS = {"allclose", "isclose", "assert_allclose"}


def _cells(path, kind=None):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if kind is None or c["cell_type"] == kind]


def _source(cell):
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _tree(cell):
    """The cell's code as an AST (IPython magics and shell lines blanked out)."""
    lines = [("" if line.lstrip().startswith(("%", "!")) else line)
             for line in _source(cell).splitlines()]
    return ast.parse("\n".join(lines))


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _ignored(path):
    return [c for c in _cells(path, "code") if IGNORE in _tags(c)]


def _text_output(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        elif "data" in out and "text/plain" in out["data"]:
            data = out["data"]["text/plain"]
            parts.append(data if isinstance(data, str) else "".join(data))
    return "".join(parts)


def test_there_are_lectures():
    assert len(LECTURES) >= 12


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_ignored_cells_assert_their_bands(path):
    for cell in _ignored(path):
        asserts = [n for n in ast.walk(_tree(cell)) if isinstance(n, ast.Assert)]
        assert asserts, (f"{path.name}: a cell tagged {IGNORE} must assert the bands of the "
                         f"numbers it shows, so that a regression still fails:\n{_source(cell)}")


def test_few_cells_escape_output_comparison():
    counts = {p.name: len(_ignored(p)) for p in LECTURES}
    too_many = {k: v for k, v in counts.items() if v > MAX_IGNORED_PER_NOTEBOOK}
    assert not too_many, f"more than {MAX_IGNORED_PER_NOTEBOOK} {IGNORE} cells: {too_many}"
    assert sum(counts.values()) <= MAX_IGNORED_TOTAL, counts


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_no_other_nbval_escape_hatches(path):
    for cell in _cells(path, "code"):
        other = [t for t in _tags(cell) if t.startswith("nbval") and t != IGNORE]
        assert not other, f"{path.name}: tags {other} are not allowed in lectures"
        assert not re.search(r"#\s*(NBVAL|PYTEST_VALIDATE)_", _source(cell)), (
            f"{path.name}: use the {IGNORE} tag (counted by this test), not comment markers:\n"
            f"{_source(cell)}")


def _numbers(text):
    """Numbers with at least three significant digits, as printed ("0.244", "1169", "88.3")."""
    found = set()
    # digit groups written with spaces ("200 000", "10\u202f000") are one number
    for m in re.finditer(r"(?<![\w.])(?:\d{1,3}(?:[ \u2009\u202f]\d{3})+|\d+(?:\.\d+)?)(?![\w.])",
                         text):
        digits = m.group().replace(".", "").lstrip("0")
        if len(digits) >= 3:
            found.add(m.group())
    return found


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_markdown_quotes_no_single_run_digits(path):
    """A number shown only by an nbval-ignore-output cell is one run's: the text must not quote
    it (it quotes bands and directions instead)."""
    run_numbers = set()
    for cell in _ignored(path):
        run_numbers |= _numbers(_text_output(cell))
    code_numbers = set()
    for cell in _cells(path, "code"):
        code_numbers |= _numbers(_source(cell))          # constants written in the code are fine
    markdown = "\n".join(_source(c) for c in _cells(path, "markdown"))
    quoted = sorted((run_numbers - code_numbers) & _numbers(markdown))
    assert not quoted, f"{path.name}: markdown quotes numbers of one run: {quoted}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_closeness_checks_state_their_tolerances(path):
    for cell in _cells(path, "code"):
        for node in ast.walk(_tree(cell)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in CLOSE_CALLS:
                keywords = {k.arg for k in node.keywords}
                assert keywords & {"rtol", "atol"}, (
                    f"{path.name}: {name}(...) needs explicit rtol/atol (float32 results need "
                    f"float32 tolerances):\n{ast.unparse(node)}")


def _expected_figures(cell):
    """Pictures a cell means to show: one per call of ``show(...)`` / ``*.show()`` and per
    ``*_widget(...)`` call (each displays a PNG, also where widgets cannot render)."""
    count = 0
    for node in ast.walk(_tree(cell)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "show" or name.endswith("_widget"):
                count += 1
    return count


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_figure_a_cell_shows_is_rendered(path):
    for cell in _cells(path, "code"):
        images = sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
        expected = _expected_figures(cell)
        assert images == expected, (
            f"{path.name}: the cell calls show/widgets {expected} time(s) but its stored outputs "
            f"hold {images} picture(s); only the last expression of a cell is displayed, so put "
            f"each figure in its own cell (or display() it):\n{_source(cell)}")


def test_the_guards_catch_what_they_guard():
    """The helpers above flag the mistakes they exist for."""
    def code(src, outputs=(), tags=()):
        return {"cell_type": "code", "source": src, "outputs": list(outputs),
                "metadata": {"tags": list(tags)}}
    png = {"output_type": "display_data", "data": {"image/png": "", "text/plain": "<figure>"}}
    two_shows = code("show(a)\nshow(b)", [png])
    assert _expected_figures(two_shows) == 2     # one picture lost: the test above fails
    assert not [n for n in ast.walk(_tree(code("print(1)"))) if isinstance(n, ast.Assert)]
    assert _numbers("test errors 1169, 88.3 %, ratio 0.04, 7") == {"1169", "88.3"}
    assert _numbers("200 000 weights, 200 errors") == {"200 000", "200"}
