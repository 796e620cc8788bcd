"""Notebook plumbing: nbgrader metadata, deterministic I/O, course layout, test-cell restoration.

Cell kinds (nbgrader metadata ``cell.metadata.nbgrader``, schema 3):

* solution cell: ``solution=True, grade=False`` -- students write code here;
* test cell (autograded): ``grade=True, solution=False`` (code) with ``points``;
* locked cell: ``locked=True`` -- read-only setup/markdown, restored when grading.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat

SOURCE_DIR = "solutions"
RELEASE_DIR = "exercises"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


class GradingError(Exception):
    """A usage or authoring error (missing assignment, solution failing its own tests, ...)."""


# --------------------------------------------------------------------------------------------
# metadata predicates
# --------------------------------------------------------------------------------------------
def nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    gid = nbg(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_test_cell(cell) -> bool:
    """Autograded test cell: code, ``grade=True``, ``solution=False``."""
    m = nbg(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def is_protected(cell) -> bool:
    """Cells restored from the source when grading: test cells and locked cells."""
    m = nbg(cell)
    return is_test_cell(cell) or bool(m.get("locked"))


def has_hidden_tests(cell) -> bool:
    return BEGIN_HIDDEN in cell.get("source", "")


def graded_cells(nb) -> list:
    """``[(grade_id, points, has_hidden)]`` of the autograded test cells, in notebook order."""
    out = []
    for cell in nb.cells:
        if is_test_cell(cell) and grade_id(cell):
            out.append((grade_id(cell), float(nbg(cell).get("points", 0) or 0),
                        has_hidden_tests(cell)))
    return out


# --------------------------------------------------------------------------------------------
# course layout and I/O
# --------------------------------------------------------------------------------------------
def find_course_root(start: str | os.PathLike | None = None) -> Path:
    """Nearest folder (from ``start`` or the cwd upwards) holding ``solutions/``; else the repo
    folder of this package (editable installs)."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / SOURCE_DIR).is_dir():
            return d
    pkg_root = Path(__file__).resolve().parents[2]
    if (pkg_root / SOURCE_DIR).is_dir():
        return pkg_root
    raise GradingError(f"no '{SOURCE_DIR}/' folder found in {here} or its parents; "
                       "run from the course folder or pass --root")


def list_assignments(root: Path) -> list[str]:
    """Assignments are ``solutions/<name>/<name>.ipynb``; sorted names."""
    src = Path(root) / SOURCE_DIR
    if not src.is_dir():
        return []
    return sorted(d.name for d in src.iterdir()
                  if d.is_dir() and (d / f"{d.name}.ipynb").is_file())


def solution_path(root: Path, assignment: str) -> Path:
    path = Path(root) / SOURCE_DIR / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        known = ", ".join(list_assignments(root)) or "none"
        raise GradingError(f"unknown assignment {assignment!r}: expected {path} "
                           f"(known assignments: {known})")
    return path


def release_path(root: Path, assignment: str) -> Path:
    return Path(root) / RELEASE_DIR / assignment / f"{assignment}.ipynb"


def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def dumps_notebook(nb) -> str:
    """Stable serialization: nbformat's sorted-keys, indent-1 JSON plus a final newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_notebook(nb), encoding="utf-8")


def load_submission(path: str | os.PathLike, max_bytes: int = 50_000_000):
    """Read a submitted notebook defensively; raises ``ValueError`` with a reason if unusable."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"file is {size} bytes, larger than the {max_bytes}-byte limit")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a JSON notebook: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise ValueError("not a notebook: no list of cells")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"not a readable notebook: {type(exc).__name__}: {exc}") from None
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError(f"cell {i} is malformed")
        if not isinstance(cell.get("source", ""), str):
            raise ValueError(f"cell {i} has a non-text source")
        if not isinstance(cell.get("metadata", {}), dict):
            raise ValueError(f"cell {i} has malformed metadata")
    return nb


# --------------------------------------------------------------------------------------------
# restoring the source's test and locked cells into a submission
# --------------------------------------------------------------------------------------------
def _clean_code_cell(cell):
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    cell.setdefault("metadata", {})
    return cell


def restore_cells(submission, source):
    """Return a copy of ``submission`` in which every protected cell of ``source`` (test cells
    with their hidden tests, locked cells) replaces the submission's cell with the same grade_id,
    or is re-inserted after the nearest preceding source cell that the submission still has.

    Duplicated grade_ids in the submission keep only their first occurrence's metadata. All
    outputs are cleared and the kernelspec is the source's.
    """
    nb = copy.deepcopy(submission)
    seen: set[str] = set()
    for cell in nb.cells:
        _clean_code_cell(cell)
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            cell["metadata"].pop("nbgrader", None)
        seen.add(gid)

    def position(gid):
        for i, c in enumerate(nb.cells):
            if grade_id(c) == gid:
                return i
        return None

    previous_ids: list[str] = []
    for src_cell in source.cells:
        gid = grade_id(src_cell)
        if gid is None:
            continue
        if is_protected(src_cell):
            new = _clean_code_cell(copy.deepcopy(src_cell))
            pos = position(gid)
            if pos is not None:
                old_id = nb.cells[pos].get("id")
                if old_id is not None:
                    new["id"] = old_id
                nb.cells[pos] = new
            else:
                insert_at = 0
                for prev in reversed(previous_ids):
                    p = position(prev)
                    if p is not None:
                        insert_at = p + 1
                        break
                nb.cells.insert(insert_at, new)
        previous_ids.append(gid)

    # unique cell ids (a re-inserted cell may collide with a student's cell)
    ids: set[str] = set()
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in ids:
            cid = f"nbkit-{i}"
            while cid in ids:
                cid += "x"
            cell["id"] = cid
        ids.add(cid)
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5) or 5), 5)
    nb.metadata["kernelspec"] = copy.deepcopy(source.metadata.get("kernelspec", {
        "name": "python3", "display_name": "Python 3", "language": "python"}))
    return nb


def wrong_answer_notebook(source):
    """The solution notebook with every solution cell that has ``metadata.nbkit.wrong`` replaced
    by that plausible wrong answer; ``None`` if the source defines no wrong answer."""
    nb = copy.deepcopy(source)
    changed = False
    for cell in nb.cells:
        wrong = cell.get("metadata", {}).get("nbkit", {}).get("wrong")
        if isinstance(wrong, str):
            cell["source"] = wrong
            changed = True
        cell.get("metadata", {}).pop("nbkit", None)
    return nb if changed else None
