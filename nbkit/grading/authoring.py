"""Build nbgrader source notebooks from short Python scripts (deterministic output).

Example (a short build script; solutions/README.md says how a new exercise is added)::

    from nbkit.grading.authoring import markdown, setup, solution, tests, write_source

    cells = [
        markdown("# 01 Title\\nGoal ... $\\\\frac{dL}{dw}$", grade_id="intro"),
        setup("import numpy as np\\nfrom nbkit.grading.checks import check_close", "imports"),
        solution('''
            def f(x):
                ### BEGIN SOLUTION
                return 2 * x
                ### END SOLUTION
        ''', "f"),
        tests('check_close("f(1)", f(1.0), 2.0)', "test_f", points=1,
              hidden='check_close("f(-3)", f(-3.0), -6.0)'),
    ]
    write_source("01_title", cells)        # -> solutions/01_title/01_title.ipynb

Every source string is dedented and stripped. Cell ids are the grade_ids (plain cells get
``cell-<n>``), metadata is nbgrader schema 3, the kernelspec is ``python3``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .notebooks import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    SOURCE_DIR,
    find_course_root,
    grading_settings,
    write_notebook,
)

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n").rstrip()


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool,
          points: float | None = None) -> dict:
    if not grade_id or not all(ch.isalnum() or ch in "-_" for ch in grade_id):
        raise ValueError(f"grade_id must be a non-empty [A-Za-z0-9_-] string, got {grade_id!r}")
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(text: str, grade_id: str | None = None):
    """Markdown cell; with ``grade_id`` it is locked (read-only, restored when grading)."""
    cell = new_markdown_cell(_src(text))
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def code(text: str):
    """Plain code cell (students may edit or delete it; never graded)."""
    return new_code_cell(_src(text))


def setup(text: str, grade_id: str):
    """Locked code cell (imports, data, helpers): restored from the source when grading."""
    cell = new_code_cell(_src(text))
    cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def solution(text: str, grade_id: str, wrong: str | None = None):
    """Solution cell: the lines between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` are
    replaced by ``raise NotImplementedError()`` in the exercise (the whole cell if no markers).

    ``wrong``: optional complete cell source with a *plausible mistake* (transposed dW, missing
    1/N, forgotten sigma'...). Stored in ``metadata.nbkit.wrong`` (never released); the tests
    grade the notebook with these sources and require a score strictly between 0 and the maximum.
    """
    src = _src(text)
    if (BEGIN_SOLUTION in src) != (END_SOLUTION in src):
        raise ValueError(f"solution cell {grade_id!r}: unbalanced BEGIN/END SOLUTION markers")
    cell = new_code_cell(src)
    cell.metadata.update(_meta(grade_id, grade=False, solution=True, locked=False))
    if wrong is not None:
        cell.metadata["nbkit"] = {"wrong": _src(wrong)}
    return cell


def tests(visible: str, grade_id: str, points: float, hidden: str | None = None):
    """Autograded test cell: ``visible`` checks, then ``hidden`` ones (removed from the exercise,
    restored when grading). Use the checks of :mod:`nbkit.grading.checks`: every test cell must
    record at least one value. ``points`` > 0."""
    if not points or points <= 0:
        raise ValueError(f"test cell {grade_id!r}: points must be > 0, got {points!r}")
    src = _src(visible)
    if hidden:
        src = f"{src}\n{BEGIN_HIDDEN}\n{_src(hidden)}\n{END_HIDDEN}"
    cell = new_code_cell(src)
    cell.metadata.update(_meta(grade_id, grade=True, solution=False, locked=True,
                               points=float(points)))
    return cell


def notebook(cells: list) -> nbformat.NotebookNode:
    """Notebook with deterministic cell ids and metadata; checks grade_ids are unique."""
    seen: set[str] = set()
    out = []
    for i, cell in enumerate(cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid:
            if gid in seen:
                raise ValueError(f"duplicate grade_id {gid!r}")
            seen.add(gid)
            cell["id"] = gid
        else:
            cell["id"] = f"cell-{i:02d}"
        out.append(cell)
    nb = new_notebook(cells=out, metadata={"kernelspec": dict(KERNELSPEC),
                                           "language_info": dict(LANGUAGE_INFO)})
    nbformat.validate(nb)
    return nb


def write_source(assignment: str, cells: list, root: str | Path | None = None,
                 grading: dict | None = None) -> Path:
    """Write ``<root>/solutions/<assignment>/<assignment>.ipynb`` (root: the course folder).

    ``grading``: the assignment's grading settings (``timeout``, ``wall``, ``memory_mb``,
    ``heldout``, ``data``; see :func:`nbkit.grading.notebooks.grading_settings`), stored in
    ``metadata.nbkit.grading`` of the source only.
    """
    root = Path(root) if root is not None else find_course_root()
    path = root / SOURCE_DIR / assignment / f"{assignment}.ipynb"
    nb = notebook(cells)
    if grading:
        nb.metadata["nbkit"] = {"grading": dict(grading)}
        grading_settings(nb)  # validate
    write_notebook(nb, path)
    return path
