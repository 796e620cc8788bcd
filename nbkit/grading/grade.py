"""``nbkit grade``: run every submission in its own sandbox and score it in the grader.

1. The grader checks that a sandbox can be made (:func:`nbkit.grading.sandbox.
   unavailable_reason`); if not it refuses, unless ``sandbox=False`` (``--no-sandbox``: every
   row is then marked ``unsandboxed``).
2. It prepares, in a private folder, what every sandbox of this run mounts: a copy of nbkit with
   the assignment's hidden references stubbed out (:mod:`nbkit.grading.references`) and the
   held-out images of this run (:mod:`nbkit.grading.heldout`, labels stay in the grader).
3. The solution runs once, in a sandbox like the submissions'; the records of its test cells are
   the reference (kept in memory only).
4. The submissions run concurrently (``jobs`` at a time) in one asyncio loop: each is read
   safely (:mod:`nbkit.grading.submissions`), its test and locked cells are restored from the
   source (:func:`nbkit.grading.notebooks.restore_cells`), its cells run in a new sandbox
   (:mod:`nbkit.grading.execute`) and every test cell is decided here
   (:mod:`nbkit.grading.verdicts`).

Limits (per-cell ``timeout``, ``wall`` per notebook, ``memory_mb`` per kernel) come from the
call (the command line), else from the assignment's source (``metadata.nbkit.grading``), else
:data:`DEFAULTS`.

Result of one submission (also the JSON rows, see ``solutions/README.md``): ``student``,
``assignment``, ``submission`` (path as given), ``status`` (``ok``, ``timeout``, ``error``,
``unreadable``; ``unsandboxed`` for every row of a run without sandbox), ``outcome`` (the status
it would have had with a sandbox), ``sandboxed``, ``score``, ``max_score``, ``message``,
``warnings``, ``seconds``, ``cells`` (``{grade_id: verdict}``, see
:func:`nbkit.grading.verdicts.cell_verdicts`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import heldout as heldout_sets
from . import references
from .checks import GRADING_ENV, HELDOUT_ENV
from .execute import Launch, kernel_env, run_cells
from .notebooks import (
    SOURCE_DIR,
    GradingError,
    grade_id,
    graded_cells,
    grading_settings,
    parse_submission,
    read_notebook,
    restore_cells,
    solution_path,
)
from .sandbox import HELDOUT, OS_PATHS, Layout, Limits, Sandbox, unavailable_reason
from .submissions import Submission, collect
from .verdicts import cell_verdicts, value_problem

DEFAULTS = {"timeout": 60.0, "memory_mb": 2048}
STATUSES = ("ok", "timeout", "error", "unreadable", "unsandboxed")


def _python_env() -> dict[str, str]:
    """Read-only binds of the interpreter and its packages."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    paths |= {os.path.abspath(p) for p in (sys.prefix, sys.exec_prefix)}
    return {p: p for p in sorted(paths)}


def check_exposure(binds, forbidden) -> None:
    """Refuse to grade when a folder every sandbox sees holds the solutions or submissions."""
    for src in binds:
        for f in forbidden:
            if Path(f).resolve().is_relative_to(os.path.realpath(src)):
                raise GradingError(f"{f} lies inside {src}, which every sandbox sees: move the "
                                   "course or the submissions out of it")


def _write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, mode=0o755)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_bytes(data)
        path.chmod(0o644)
    for d in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    return folder


class GradingRun:
    """What one ``nbkit grade`` call shares between its sandboxes (a private folder)."""

    def __init__(self, root: Path, assignment: str, *, sandboxed: bool = True,
                 timeout: float | None = None, memory_mb: int | None = None,
                 wall: float | None = None):
        self.root, self.assignment, self.sandboxed = Path(root), assignment, sandboxed
        self.source_path = solution_path(self.root, assignment)
        self.source = read_notebook(self.source_path)
        self.tests = graded_cells(self.source)
        if not self.tests:
            raise GradingError(f"{assignment} has no autograded test cells")
        settings = {**DEFAULTS, **grading_settings(self.source)}
        self.timeout = float(timeout or settings["timeout"])
        n_code = sum(1 for c in self.source.cells if c.cell_type == "code")
        self.wall = float(wall or settings.get("wall") or self.timeout * (n_code + 2))
        self.limits = Limits(memory_mb=int(memory_mb or settings["memory_mb"]),
                             cpu_seconds=int(self.wall) + 60)
        self.base = Path(tempfile.mkdtemp(prefix="nbkit-grade-"))
        try:
            self._prepare(settings)
        except BaseException:
            self.close()
            raise

    def _prepare(self, settings: dict) -> None:
        entries = references.load_config(self.root / SOURCE_DIR / references.CONFIG_NAME)
        self.hidden_entries = entries.get(self.assignment, [])
        resolved = references.resolve(self.hidden_entries)
        self.hidden_names = {f"{m}.{n}" for m, names in resolved.items() for n in names
                             if n != references.WHOLE_MODULE}
        lib = self.base / "lib"
        lib.mkdir(mode=0o755)
        staged = references.stage(lib, self.assignment, self.hidden_entries)
        import nbkit

        real = Path(nbkit.__file__).resolve().parent
        self.heldout_dir = self.base / "heldout"
        self.labels, masks = heldout_sets.prepare(settings["heldout"], secrets.randbits(64),
                                                  self.heldout_dir, self.base / "masks")
        self.extra = {p.name: p.read_bytes() for p in sorted(self.source_path.parent.iterdir())
                      if p.is_file() and p.name != self.source_path.name
                      and not p.name.startswith(".")}
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": "/tmp/matplotlib", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", GRADING_ENV: "1",
               HELDOUT_ENV: HELDOUT, "PYTHONPATH": str(real.parent),
               "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        ro = {str(staged): str(real), **{host: dest for dest, host in masks.items()}}
        data_root = os.environ.get("NBKIT_DATA")
        if settings["data"]:
            if not data_root:
                raise GradingError(f"{self.assignment} needs data files {settings['data']}: "
                                   "set NBKIT_DATA")
            for rel in settings["data"]:
                path = Path(data_root, rel)
                if not path.is_file():
                    raise GradingError(f"{self.assignment} needs {path}, which does not exist")
                ro[str(path.resolve())] = str(Path(data_root).absolute() / rel)
            env["NBKIT_DATA"] = str(Path(data_root).absolute())
        self.layout = Layout(ro={**_python_env(), **ro}, env=env)
        check_exposure([*self.layout.ro, *OS_PATHS], [self.root / SOURCE_DIR])

    def launch(self, folder: Path) -> Launch:
        """How to start a kernel that begins with the files of ``folder``."""
        if self.sandboxed:
            return Launch(sandbox=lambda: Sandbox(self.base, self.layout, self.limits,
                                                  submission=folder,
                                                  heldout=self.heldout_dir))
        work = Path(tempfile.mkdtemp(prefix="work-", dir=self.base))
        shutil.copytree(folder, work, dirs_exist_ok=True)
        env = kernel_env({GRADING_ENV: "1", HELDOUT_ENV: str(self.heldout_dir)})
        return Launch(env=env, cwd=str(work), limits=self.limits)

    async def run(self, nb, files: dict[str, bytes]):
        """Run ``nb`` (already restored) starting with ``files``; ``{grade_id: CellRun}``."""
        folder = _write_files(Path(tempfile.mkdtemp(prefix="files-", dir=self.base)) / "f",
                              {**files, **self.extra})
        sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
        try:
            result = await asyncio.wait_for(
                run_cells(sources, self.launch(folder), timeout=self.timeout, wall=self.wall),
                self.wall + 120)
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)
        cells: dict = {}
        for cell, cr in zip(nb.cells, result.cells, strict=True):
            gid = grade_id(cell)
            if gid is not None and gid not in cells:
                cells[gid] = cr
        return result, cells

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


async def reference_records(run: GradingRun) -> dict[str, list[dict]]:
    """Run the solution once; ``{grade_id: records}`` of its test cells (memory only).

    Raises :class:`GradingError` if the solution fails a cell, a test cell records nothing, or
    the solution misses its own held-out threshold on this run's images."""
    result, cells = await run.run(run.source, {})
    if result.kernel_died:
        raise GradingError(f"the solution of {run.assignment} could not run: {result.message}")
    for i, cr in enumerate(result.cells):
        if cr.status in ("error", "timeout", "not_run"):
            err = cr.error or {}
            raise GradingError(f"the solution of {run.assignment} fails in cell {i} "
                               f"({grade_id(run.source.cells[i]) or 'no grade_id'}): "
                               f"{cr.status} {err.get('ename', '')}: {err.get('evalue', '')}")
    refs = {}
    for gid, _pts, _hidden in run.tests:
        recs = cells[gid].records
        if not recs:
            raise GradingError(f"test cell {gid!r} of {run.assignment} records no values: use "
                               "the checks of nbkit.grading.checks in every test cell")
        for r in recs:
            if r.get("compare") == "heldout" and value_problem(r, r, run.labels):
                raise GradingError(f"the solution of {run.assignment} fails its own held-out "
                                   f"test {r['name']!r}: {value_problem(r, r, run.labels)}")
        refs[gid] = recs
    return refs


def _row(run: GradingRun, sub: Submission, outcome: str, message: str, cells: dict,
         warnings: list[str], seconds: float) -> dict:
    return {"student": sub.student, "assignment": run.assignment, "submission": str(sub.path),
            "status": outcome if run.sandboxed else "unsandboxed", "outcome": outcome,
            "sandboxed": run.sandboxed, "message": message[:2000], "warnings": warnings[:50],
            "cells": cells, "max_score": float(sum(t[1] for t in run.tests)),
            "score": float(sum(c["points"] for c in cells.values())),
            "seconds": round(seconds, 3)}


async def grade_submission(run: GradingRun, sub: Submission, refs: dict) -> dict:
    """Grade one submission (never raises)."""
    t0, warnings = time.monotonic(), []
    if sub.problem is None:
        try:
            nb = restore_cells(parse_submission(sub.data), run.source, warnings)
        except ValueError as exc:
            sub.problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd notebook must not stop the class
            sub.problem = f"not a usable notebook: {type(exc).__name__}"
    if sub.problem is not None:
        cells = cell_verdicts({}, run.tests, refs, why_missing="submission unreadable")
        return _row(run, sub, "unreadable", sub.problem, cells, warnings, 0.0)
    files = {**sub.files, f"{run.assignment}.ipynb": sub.data}
    try:
        result, ran = await run.run(nb, files)
        outcome = "error" if result.kernel_died else ("timeout" if result.timed_out else "ok")
        message = result.message
    except (TimeoutError, OSError) as exc:
        ran, outcome, message = {}, "error", f"grading failed: {type(exc).__name__}: {exc}"
    cells = cell_verdicts(ran, run.tests, refs, labels=run.labels,
                          hidden_names=run.hidden_names)
    return _row(run, sub, outcome, message, cells, warnings, time.monotonic() - t0)


async def _grade_all(run: GradingRun, subs: list[Submission], jobs: int, log) -> list[dict]:
    t0 = time.monotonic()
    refs = await reference_records(run)
    log(f"reference records of {run.assignment} ready ({time.monotonic() - t0:.1f} s)")
    gate = asyncio.Semaphore(jobs)

    async def one(sub):
        if sub.problem is None:
            async with gate:
                res = await grade_submission(run, sub, refs)
        else:
            res = await grade_submission(run, sub, refs)
        log(f"  {res['student']}: {_num(res['score'])}/{_num(res['max_score'])} {res['status']}")
        return res

    return list(await asyncio.gather(*(one(s) for s in subs)))


def _num(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (ANSI escapes, newlines that students put
    in file names) written as escapes, so that no log line can be forged or hidden."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(text))


def grade(root: Path, assignment: str, submissions: list[str], *, csv_path: str | None = None,
          json_path: str | None = None, feedback_dir: str | None = None,
          jobs: int | None = None, timeout: float | None = None, memory_mb: int | None = None,
          wall: float | None = None, sandbox: bool = True, log=None) -> list[dict]:
    """Grade ``submissions`` (files or folders) of ``assignment``; write CSV/JSON/feedback.

    Returns one result per submission (see the module docstring), sorted by student.
    """
    out = log or (lambda msg: print(msg, file=sys.stderr))

    def log(msg):
        out(printable(msg))

    if sandbox:
        reason = unavailable_reason()
        if reason:
            raise GradingError(f"cannot grade in a sandbox: {reason}. Use --no-sandbox to grade "
                               "anyway (every row is then marked 'unsandboxed').")
    else:
        log("warning: grading WITHOUT a sandbox: submissions run with your rights, can read "
            "your files and the solutions, and can forge their scores; rows are 'unsandboxed'")
    subs = collect(submissions, assignment, warn=log)
    if not subs:
        raise GradingError("no submissions given (files or folders with .ipynb files)")
    jobs = max(1, int(jobs or len(os.sched_getaffinity(0))))
    t0 = time.monotonic()
    run = GradingRun(root, assignment, sandboxed=sandbox, timeout=timeout,
                     memory_mb=memory_mb, wall=wall)
    try:
        if sandbox:
            check_exposure([*run.layout.ro, *OS_PATHS], [s.path.parent for s in subs])
        results = asyncio.run(_grade_all(run, subs, jobs, log))
    finally:
        run.close()
    results.sort(key=lambda r: (r["student"], r["submission"]))
    from .output import write_csv, write_json

    if csv_path:
        write_csv(results, run.tests, csv_path)
    if json_path:
        write_json(results, json_path)
    if feedback_dir:
        from .feedback import write_feedback

        for r in results:
            write_feedback(r, Path(feedback_dir))
    log(f"graded {len(results)} submission(s) in {time.monotonic() - t0:.1f} s with {jobs} "
        f"job(s){'' if sandbox else ' WITHOUT sandbox'}")
    return results
