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
import sys
from pathlib import Path

# jsonschema (below nbformat) imports rfc3987-syntax where it is installed (jupyter-events wants
# it), which compiles a grammar for ~2 s; no notebook schema uses the "iri" format it checks.
sys.modules.setdefault("rfc3987_syntax", None)
import nbformat  # noqa: E402

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


MAX_NOTEBOOK_BYTES = 50_000_000
MAX_CELLS = 2000  # a course notebook has tens; parsing is linear in cells and blocks the grader


def parse_submission(data: bytes):
    """A submitted notebook from its bytes (nbformat 3 or 4; converted to 4); raises
    ``ValueError`` with a reason if it is not a usable notebook."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"file is {len(data)} bytes, larger than the {MAX_NOTEBOOK_BYTES}-byte "
                         "limit")
    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not a JSON notebook: {type(exc).__name__}: {exc}"[:300]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        raise ValueError("not a notebook: no nbformat version")
    if raw["nbformat"] not in (3, 4):
        raise ValueError(f"unsupported nbformat version {raw['nbformat']} (expected 3 or 4)")
    n_cells = sum(len(c) for c in [raw.get("cells"), *(w.get("cells") for w in (
        raw.get("worksheets") if isinstance(raw.get("worksheets"), list) else [])
        if isinstance(w, dict))] if isinstance(c, list))
    if n_cells > MAX_CELLS:
        raise ValueError(f"the notebook has {n_cells} cells, more than the {MAX_CELLS} allowed")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"not a readable notebook: {type(exc).__name__}: {exc}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook: no list of cells")
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError(f"cell {i} is malformed")
        if not isinstance(cell.get("source", ""), str):
            raise ValueError(f"cell {i} has a non-text source")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
    return nb


def grading_settings(source) -> dict:
    """The assignment's own grading settings, ``metadata.nbkit.grading`` of its source notebook:
    ``timeout`` (s per cell), ``memory_mb`` (per kernel), ``wall`` (s per notebook),
    ``heldout`` (held-out set names) and ``data`` (files below ``$NBKIT_DATA`` the sandbox may
    read). Raises :class:`GradingError` for malformed values."""
    meta = source.metadata.get("nbkit", {}).get("grading", {})
    if not isinstance(meta, dict):
        raise GradingError("metadata.nbkit.grading must be a mapping")
    out = {}
    for key in ("timeout", "wall"):
        if key in meta:
            if not isinstance(meta[key], (int, float)) or meta[key] <= 0:
                raise GradingError(f"metadata.nbkit.grading.{key} must be a positive number")
            out[key] = float(meta[key])
    if "memory_mb" in meta:
        if not isinstance(meta["memory_mb"], int) or meta["memory_mb"] < 256:
            raise GradingError("metadata.nbkit.grading.memory_mb must be an int >= 256")
        out["memory_mb"] = meta["memory_mb"]
    for key in ("heldout", "data"):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise GradingError(f"metadata.nbkit.grading.{key} must be a list of strings")
        if key == "data" and any(Path(v).is_absolute() or ".." in Path(v).parts for v in value):
            raise GradingError("metadata.nbkit.grading.data: paths relative to $NBKIT_DATA")
        out[key] = list(value)
    unknown = set(meta) - {"timeout", "wall", "memory_mb", "heldout", "data"}
    if unknown:
        raise GradingError(f"metadata.nbkit.grading: unknown keys {sorted(unknown)}")
    return out


# --------------------------------------------------------------------------------------------
# restoring the source's test and locked cells into a submission
# --------------------------------------------------------------------------------------------
def released_source(cell) -> str:
    """What a protected cell looks like in the exercise: a test cell without its hidden tests."""
    src = cell.get("source", "")
    return src.split(BEGIN_HIDDEN)[0] if is_test_cell(cell) else src


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _identify(nb, source, warnings: list[str]) -> list[str | None]:
    """The source grade_id of every submission cell: its metadata's, else (no or unknown
    metadata) a protected source cell with the same text, else the source cell at the same
    position when both notebooks have equally many cells of the same types."""
    known = {grade_id(c): c for c in source.cells if grade_id(c)}
    ids: list[str | None] = []
    for cell in nb.cells:
        gid = grade_id(cell)
        ids.append(gid if gid in known and gid not in ids else None)
    protected = [c for c in source.cells if grade_id(c) and is_protected(c)]
    by_text: dict[tuple, list[str]] = {}
    for c in protected:
        by_text.setdefault((c.cell_type, _norm(released_source(c))), []).append(grade_id(c))
    for i, cell in enumerate(nb.cells):
        if ids[i] is None and not grade_id(cell):
            for gid in by_text.get((cell.get("cell_type"), _norm(cell.get("source", ""))), []):
                if gid not in ids:
                    ids[i] = gid
                    warnings.append(f"cell {i} has no nbgrader metadata: matched to {gid!r} "
                                    "by its text")
                    break
    same_shape = len(nb.cells) == len(source.cells) and all(
        a.get("cell_type") == b.cell_type for a, b in zip(nb.cells, source.cells, strict=True))
    if same_shape:
        for i, (cell, src) in enumerate(zip(nb.cells, source.cells, strict=True)):
            gid = grade_id(src)
            if ids[i] is None and gid and gid not in ids and not grade_id(cell):
                ids[i] = gid
                warnings.append(f"cell {i} has no nbgrader metadata: matched to {gid!r} by its "
                                "position")
    return ids


def restore_cells(submission, source, warnings: list[str] | None = None):
    """A copy of ``submission`` in which every protected cell of ``source`` (test cells with
    their hidden tests, locked cells) replaces the submission's cell with the same grade_id
    (see :func:`_identify` for cells whose metadata an editor stripped), or is inserted after
    the nearest preceding source cell the submission still has (only the cells' types, sources
    and grade_ids are used: the kernel gets the submission's own bytes); ``warnings`` (a list)
    receives what was guessed or missing."""
    warnings = [] if warnings is None else warnings
    nb = copy.deepcopy(submission)
    ids = _identify(nb, source, warnings)
    for cell, gid in zip(nb.cells, ids, strict=True):
        if gid is None:
            cell["metadata"].pop("nbgrader", None)
        else:
            cell["metadata"]["nbgrader"] = {**nbg(cell), "grade_id": gid}
    positions = {gid: i for i, gid in enumerate(ids) if gid is not None}
    cells = list(nb.cells)
    previous: list[str] = []
    for src_cell in source.cells:
        gid = grade_id(src_cell)
        if gid is None:
            continue
        if is_protected(src_cell):
            new = copy.deepcopy(src_cell)
            if gid in positions:
                cells[positions[gid]] = new
            else:
                after = next((positions[p] for p in reversed(previous) if p in positions), -1)
                cells.insert(after + 1, new)
                ids.insert(after + 1, gid)
                positions = {g: i for i, g in enumerate(ids) if g is not None}
                if is_test_cell(src_cell):
                    warnings.append(f"test cell {gid!r} was missing: restored from the source")
        previous.append(gid)
    nb.cells = cells
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
