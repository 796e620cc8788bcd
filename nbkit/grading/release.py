"""``nbkit release``: student versions ``exercises/<a>/<a>.ipynb`` from ``solutions/<a>/<a>.ipynb``.

Uses nbgrader's own preprocessors in-process, in the order of nbgrader's ``generate_assignment``
(minus the database step ``SaveCells`` and the optional header/footer)::

    LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
    ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata

then executes the result once in a fresh kernel and tags with ``raises-exception`` exactly the code
cells that raise (so nbval and JupyterLab's Run All keep going). Output is deterministic: no
outputs, no execution counts, no timestamps, sorted JSON. Other files in ``solutions/<a>/``
(data files, images) are copied unchanged.
"""

from __future__ import annotations

import copy
import difflib
import logging
from pathlib import Path

from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
    NbGraderPreprocessor,
)

from .execute import run_notebook
from .notebooks import (
    RELEASE_DIR,
    SOURCE_DIR,
    GradingError,
    dumps_notebook,
    list_assignments,
    read_notebook,
    solution_path,
)

RAISES_TAG = "raises-exception"
AUTHOR_KEY = "nbkit"
_IGNORED = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}

log = logging.getLogger("nbkit.release")


def _preprocessors():
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def strip_for_release(source_nb):
    """Apply nbgrader's release preprocessors to a copy of ``source_nb`` (no execution)."""
    nb = copy.deepcopy(source_nb)
    resources: dict = {}
    for pre in _preprocessors():
        nb, resources = pre.preprocess(nb, resources)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # ClearOutput has cleared outputs and counts
    return nb


def raising_cells(nb, timeout: float = 120) -> list[int]:
    """Indices of the code cells of ``nb`` that raise when it is executed top to bottom."""
    run = run_notebook(copy.deepcopy(nb), timeout=timeout)
    if run.kernel_died:
        raise GradingError(f"the kernel died while executing the released notebook: {run.message}")
    bad = [c.index for c in run.cells if c.status == "timeout"]
    if bad:
        raise GradingError(f"cells {bad} of the released notebook time out")
    return [c.index for c in run.cells if c.status == "error"]


def build_release(source_nb, timeout: float = 120):
    """Released notebook (NotebookNode) of ``source_nb`` with exact ``raises-exception`` tags."""
    return build_tags(strip_for_release(source_nb), timeout=timeout)


class TagRaisingCells(NbGraderPreprocessor):
    """nbgrader preprocessor: tag exactly the raising cells with ``raises-exception``.

    Appended to ``GenerateAssignment.preprocessors`` in ``nbgrader_config.py`` so that
    ``nbgrader generate_assignment`` writes the same files as ``nbkit release``.
    """

    def preprocess(self, nb, resources):
        # in a thread of its own: formgrader's "Generate" calls this inside its running event
        # loop, where run_notebook's asyncio.run() would fail
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            tagged = pool.submit(build_tags, nb).result()
        return tagged, resources


def build_tags(nb, timeout: float = 120):
    """Copy of an already stripped notebook with exact ``raises-exception`` tags and without
    the authors' ``metadata.nbkit`` entries (wrong answers for the tests)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop(AUTHOR_KEY, None)  # grading settings stay in the source
    for cell in nb.cells:
        cell.metadata.pop(AUTHOR_KEY, None)  # authoring data (e.g. wrong answers) stays private
        tags = [t for t in cell.metadata.get("tags", []) if t != RAISES_TAG]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    for i in raising_cells(nb, timeout=timeout):
        cell = nb.cells[i]
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), RAISES_TAG]
    return nb


def release_files(root: Path, assignment: str, timeout: float = 120) -> dict[Path, bytes]:
    """Mapping relative path (under ``exercises/``) -> content of the released assignment."""
    src = solution_path(root, assignment)
    nb = build_release(read_notebook(src), timeout=timeout)
    files = {Path(assignment) / f"{assignment}.ipynb": dumps_notebook(nb).encode("utf-8")}
    for rel in _all_files(src.parent):
        if rel != Path(f"{assignment}.ipynb"):
            files[Path(assignment) / rel] = (src.parent / rel).read_bytes()
    return files


def release(root: Path, assignments: list[str] | None = None, *, check: bool = False,
            timeout: float = 120, out=print) -> int:
    """Write (or with ``check=True`` compare) the released assignments; returns an exit code.

    ``check``: exits 1 and lists the differences if ``exercises/`` is out of date (stale files
    of a released assignment folder count as differences too).
    """
    root = Path(root)
    names = assignments or list_assignments(root)
    if not names:
        raise GradingError(f"no assignments found in {root / SOURCE_DIR}")
    problems: list[str] = []
    for name in names:
        files = release_files(root, name, timeout=timeout)
        dest_dir = root / RELEASE_DIR / name
        existing = {Path(name) / p for p in _all_files(dest_dir)}
        if check:
            for rel, content in files.items():
                path = root / RELEASE_DIR / rel
                if not path.is_file():
                    problems.append(f"missing: {RELEASE_DIR}/{rel}")
                    continue
                old = path.read_bytes()
                if old != content:
                    diff = difflib.unified_diff(
                        old.decode("utf-8", "replace").splitlines(),
                        content.decode("utf-8", "replace").splitlines(),
                        f"committed {RELEASE_DIR}/{rel}", f"regenerated {RELEASE_DIR}/{rel}",
                        lineterm="", n=1)
                    problems.append("differs: " + "\n".join(list(diff)[:40]))
            for rel in sorted(existing - set(files)):
                problems.append(f"stale file: {RELEASE_DIR}/{rel}")
        else:
            for rel in sorted(existing - set(files)):
                (root / RELEASE_DIR / rel).unlink()
            for rel, content in files.items():
                path = root / RELEASE_DIR / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.is_file() or path.read_bytes() != content:
                    path.write_bytes(content)
            out(f"released {name} -> {RELEASE_DIR}/{name}/")
    if check:
        if problems:
            out("exercises/ is out of date (run `nbkit release`):")
            for p in problems:
                out("  " + p)
            return 1
        out(f"exercises/ is up to date ({len(names)} assignment(s))")
    return 0


def _all_files(folder: Path) -> list[Path]:
    return [p.relative_to(folder) for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part in _IGNORED for part in p.relative_to(folder).parts)]

