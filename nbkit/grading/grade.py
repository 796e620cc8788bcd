"""``nbkit grade``: score submissions so that nothing inside a student's kernel can raise a score.

For every submission (each in its own worker process, ``jobs`` at a time):

1. read it defensively (corrupt / non-JSON / huge -> status ``unreadable``, 0 points);
2. restore every test cell (with its hidden tests) and every locked cell from the solution by
   ``grade_id`` (:func:`nbkit.grading.notebooks.restore_cells`);
3. execute it in a fresh, memory-limited kernel with a per-cell timeout
   (:func:`nbkit.grading.execute.run_notebook`); the kernel's environment carries a fresh random
   nonce (``NBKIT_GRADE_NONCE``) that :func:`nbkit.grading.checks.record` copies into each record;
4. decide each test cell **in the grader process**: it passes iff it ran without error, emitted
   (with this run's nonce) records with the same multiset of names as the same cell of the
   solution notebook, and every value matches the solution's value under the *solution's*
   comparison (``np.allclose`` with the solution's ``rtol``/``atol``, or the solution's bounds).

The solution is executed once per run (``reference_records``; cached on disk by a hash of the
solution folder and of nbkit's sources). Statuses: ``ok``; ``timeout`` (some cell timed out, later
cells were still run); ``error`` (the kernel died: cells not run score 0); ``unreadable``.

Threat model (documented honestly): the verdict never depends on code the student can change,
so rebinding ``np.allclose``, ``numpy.testing``, the check helpers, ``AssertionError`` or swallowing
exceptions cannot turn a wrong value into a pass. A student who forges a record (e.g. by
publishing the display message by hand, reading the nonce from the environment) must still put
the right numbers in it, i.e. compute the answer. The nonce only rules out records that were not
produced during this grading run. Students' code does run with the grader's user rights, so grade
on a machine/account where the solutions are not readable if that matters.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .checks import NONCE_ENV, decode_value
from .execute import DEFAULT_MEMORY_MB, DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT, run_notebook
from .notebooks import (
    GradingError,
    grade_id,
    graded_cells,
    load_submission,
    nbg,
    read_notebook,
    restore_cells,
    solution_path,
)

STATUSES = ("ok", "timeout", "error", "unreadable")
_COURSE_DIRS = {"solutions", "exercises", "source", "release", "submitted", "autograded",
                "feedback", "grading"}


# --------------------------------------------------------------------------------------------
# reference records from the solution
# --------------------------------------------------------------------------------------------
def _copy_extra_files(src_dir: Path, dest: Path, assignment: str) -> None:
    for p in src_dir.iterdir():
        if p.name in (f"{assignment}.ipynb", ".ipynb_checkpoints", "__pycache__"):
            continue
        if p.is_dir():
            shutil.copytree(p, dest / p.name, dirs_exist_ok=True)
        elif p.is_file():
            shutil.copy2(p, dest / p.name)


def _hash_inputs(sol: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(sol.parent.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(sol.parent)).encode())
            h.update(p.read_bytes())
    pkg = Path(__file__).resolve().parents[1]
    for p in sorted(pkg.rglob("*.py")):
        h.update(str(p.relative_to(pkg)).encode())
        h.update(p.read_bytes())
    h.update(f"{sys.version}|{np.__version__}".encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("NBKIT_GRADE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbkit" / "grading"


def reference_records(root: Path, assignment: str, *, timeout: float = DEFAULT_TIMEOUT,
                      memory_mb: int | None = DEFAULT_MEMORY_MB,
                      cache_dir: Path | None = None) -> dict[str, list[dict]]:
    """Execute the solution once; ``{grade_id: [record, ...]}`` for every test cell.

    Raises :class:`GradingError` if the solution fails one of its own tests or a test cell records
    nothing (such a cell could not be graded safely). Cached under ``cache_dir`` when given.
    """
    sol = solution_path(root, assignment)
    key = _hash_inputs(sol)
    cache_file = Path(cache_dir) / f"{assignment}-{key[:32]}.json" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            return json.loads(cache_file.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    nb = read_notebook(sol)
    nonce = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="nbkit-ref-") as tmp:
        _copy_extra_files(sol.parent, Path(tmp), assignment)
        run = run_notebook(nb, timeout=timeout, memory_mb=memory_mb,
                           env_extra={NONCE_ENV: nonce}, cwd=tmp)
    if run.kernel_died:
        raise GradingError(f"the kernel died while running the solution of {assignment}: "
                           f"{run.message}")
    graded = {t[0] for t in graded_cells(nb)}
    refs: dict[str, list[dict]] = {}
    for cell, cr in zip(nb.cells, run.cells, strict=True):
        gid = grade_id(cell)
        if cr.status in ("error", "timeout", "not_run"):
            err = cr.error or {}
            raise GradingError(f"the solution of {assignment} fails in cell {cr.index} "
                               f"({gid or 'no grade_id'}): {cr.status} "
                               f"{err.get('ename', '')}: {err.get('evalue', '')}")
        if gid not in graded:
            continue
        recs = [r for r in cr.records if r.get("nonce") == nonce]
        if not recs:
            raise GradingError(f"test cell {gid!r} of {assignment} records no values; use the "
                               "checks of nbkit.grading.checks (or record()) in every test cell")
        refs[gid] = recs
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmpf = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmpf.write_text(json.dumps(refs))
        os.replace(tmpf, cache_file)
    return refs


# --------------------------------------------------------------------------------------------
# verdicts (grader process only)
# --------------------------------------------------------------------------------------------
def _value_matches(student: dict, ref: dict) -> str | None:
    """``None`` if the student's record satisfies the solution's record, else a reason."""
    name = ref.get("name")
    try:
        exp = decode_value(ref["value"], ref["shape"])
        got = decode_value(student.get("value"), student.get("shape", []))
    except (KeyError, ValueError, TypeError):
        return f"{name}: malformed record"
    if ref.get("compare", "close") == "bounds":
        lo, hi = ref.get("lower"), ref.get("upper")
        if got.size == 0 or not np.all(np.isfinite(got)):
            return f"{name}: not a finite value"
        if (lo is not None and np.any(got < lo)) or (hi is not None and np.any(got > hi)):
            return f"{name}: out of the required range"
        return None
    if got.shape != exp.shape:
        return f"{name}: wrong shape {got.shape}, expected {exp.shape}"
    if not np.allclose(got, exp, rtol=float(ref.get("rtol", 1e-6)),
                       atol=float(ref.get("atol", 1e-9)), equal_nan=True):
        return f"{name}: wrong value"
    return None


def compare_records(student: list[dict], reference: list[dict]) -> list[str]:
    """Reasons why ``student`` records do not match ``reference`` (empty list: they match)."""
    problems = []
    by_name: dict[str, list[dict]] = {}
    for r in student:
        if isinstance(r, dict) and isinstance(r.get("name"), str):
            by_name.setdefault(r["name"], []).append(r)
    ref_by_name: dict[str, list[dict]] = {}
    for r in reference:
        ref_by_name.setdefault(r["name"], []).append(r)
    for name, refs in ref_by_name.items():
        got = by_name.get(name, [])
        if len(got) != len(refs):
            problems.append(f"{name}: recorded {len(got)} time(s), expected {len(refs)}")
            continue
        for s, r in zip(got, refs, strict=True):
            reason = _value_matches(s, r)
            if reason:
                problems.append(reason)
    for name in sorted(set(by_name) - set(ref_by_name)):
        problems.append(f"{name}: unexpected record")
    return problems


def grade_notebook(submission_path: str, root: Path, assignment: str,
                   refs: dict[str, list[dict]], *, timeout: float = DEFAULT_TIMEOUT,
                   memory_mb: int | None = DEFAULT_MEMORY_MB,
                   output_cap: int = DEFAULT_OUTPUT_CAP,
                   executed_path: str | None = None) -> dict:
    """Grade one submission (runs in a worker process). Returns a JSON-able result dict."""
    t0 = time.time()
    sol_path = solution_path(root, assignment)
    source = read_notebook(sol_path)
    tests = graded_cells(source)
    cells_out = {gid: {"points": 0.0, "max_points": pts, "passed": False, "status": "not_run",
                       "reason": "", "error": None, "hidden": hidden}
                 for gid, pts, hidden in tests}
    result = {"submission": str(submission_path), "assignment": assignment, "status": "ok",
              "message": "", "cells": cells_out,
              "max_score": float(sum(t[1] for t in tests)), "score": 0.0}
    try:
        sub = load_submission(submission_path)
        nb = restore_cells(sub, source)
    except Exception as exc:  # noqa: BLE001 - anything wrong with the file
        result["status"] = "unreadable"
        result["message"] = f"{type(exc).__name__}: {exc}"[:1000]
        for c in cells_out.values():
            c["reason"] = "submission unreadable"
        return _finish(result, t0)
    nonce = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="nbkit-sub-") as tmp:
        _copy_extra_files(sol_path.parent, Path(tmp), assignment)
        run = run_notebook(nb, timeout=timeout, memory_mb=memory_mb, output_cap=output_cap,
                           env_extra={NONCE_ENV: nonce}, cwd=tmp)
    done = set()
    for cell, cr in zip(nb.cells, run.cells, strict=True):
        gid = grade_id(cell)
        if gid not in cells_out or gid in done or not nbg(cell).get("grade"):
            continue
        done.add(gid)
        out = cells_out[gid]
        out["status"] = cr.status
        if cr.status != "ok":
            out["error"] = cr.error
            out["reason"] = {"timeout": "timed out", "not_run": "not run (the kernel died)",
                             "error": "raised an error"}.get(cr.status, cr.status)
            continue
        recs = [r for r in cr.records if isinstance(r, dict) and r.get("nonce") == nonce]
        problems = compare_records(recs, refs.get(gid, []))
        if problems:
            out["reason"] = "values differ from the reference: " + "; ".join(problems[:10])
            continue
        out["passed"] = True
        out["points"] = out["max_points"]
    if run.kernel_died:
        result["status"] = "error"
        result["message"] = run.message
    elif run.timed_out:
        result["status"] = "timeout"
    result["score"] = float(sum(c["points"] for c in cells_out.values()))
    if executed_path:
        from .notebooks import write_notebook

        try:
            write_notebook(nb, executed_path)
        except Exception:  # noqa: BLE001
            pass
    return _finish(result, t0)


def _finish(result: dict, t0: float) -> dict:
    import resource

    result["seconds"] = round(time.time() - t0, 3)
    result["grader_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


# --------------------------------------------------------------------------------------------
# many submissions
# --------------------------------------------------------------------------------------------
def collect_submissions(paths: list[str]) -> list[tuple[Path, Path | None]]:
    """Expand folders to every ``.ipynb`` below them; ``[(file, folder_given_or_None)]``."""
    out: list[tuple[Path, Path | None]] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in f.parts:
                    out.append((f, path.resolve()))
        else:
            out.append((path, None))
    return out


def student_name(path: Path, assignment: str, folder: Path | None = None) -> str:
    """The submission's parent folder name, else its file stem.

    The stem is used when the parent is the cwd or a course folder (``solutions``, ``submitted``,
    ...), and when the parent is the folder given on the command line and the stem is not just
    the assignment name (``subs/alice.ipynb`` -> ``alice``; ``subs/bob/A.ipynb`` -> ``bob``).
    When the parent is named like the assignment (nbgrader's
    ``submitted/<student>/<assignment>/<assignment>.ipynb``) the grandparent names the student.
    """
    parent = path.resolve().parent
    cwd = Path.cwd().resolve()

    def anonymous(d: Path) -> bool:
        return d == cwd or d.name in _COURSE_DIRS or d == d.parent

    if parent.name == assignment:
        gp = parent.parent
        if not anonymous(gp) and gp != folder:
            return gp.name
        return path.stem
    if anonymous(parent) or (parent == folder and path.stem != assignment):
        return path.stem
    return parent.name


def _num(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


def _run_worker(job: dict, wall: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="nbkit-job-") as tmp:
        job_file, res_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_file.write_text(json.dumps(job))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "nbkit.grading.worker", str(job_file), str(res_file)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                timeout=wall, start_new_session=True, check=False)
            err = proc.stderr.decode("utf-8", "replace")[-2000:]
        except subprocess.TimeoutExpired:
            err = f"the grading worker exceeded {wall:.0f} s"
        if res_file.is_file():
            try:
                return json.loads(res_file.read_text())
            except json.JSONDecodeError:
                pass
        return {"status": "error", "message": f"grading worker failed: {err.strip()}"[:2000],
                "cells": {}, "score": 0.0}


def grade(root: Path, assignment: str, submissions: list[str], *, csv_path: str | None = None,
          jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int | None = DEFAULT_MEMORY_MB, output_cap: int = DEFAULT_OUTPUT_CAP,
          feedback_dir: str | None = None, json_path: str | None = None,
          cache_dir: Path | None = None, log=None) -> list[dict]:
    """Grade ``submissions`` (files or folders) of ``assignment``; write CSV/feedback/JSON.

    Returns one result dict per submission (keys: student, assignment, score, max_score,
    status, message, cells{grade_id: {points, max_points, passed, status, reason, error,
    hidden}}, submission, seconds, grader_maxrss_mb), sorted by student.
    """
    root = Path(root)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    source = read_notebook(solution_path(root, assignment))
    tests = graded_cells(source)
    files = collect_submissions(submissions)
    if not files:
        raise GradingError("no submissions given (files or folders with .ipynb files)")
    t0 = time.time()
    refs = reference_records(root, assignment, timeout=timeout, memory_mb=memory_mb,
                             cache_dir=cache_dir)
    log(f"reference records of {assignment} ready ({time.time() - t0:.1f} s)")
    n_code = sum(1 for c in source.cells if c.cell_type == "code")
    wall = 120 + (n_code + 10) * (timeout + 15)
    jobs = max(1, int(jobs or len(os.sched_getaffinity(0))))
    names: dict[str, int] = {}
    entries = []
    for f, folder in files:
        name = student_name(f, assignment, folder)
        names[name] = names.get(name, 0) + 1
        entries.append((f, name))
    seen: dict[str, int] = {}
    unique = []
    for f, name in entries:
        if names[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}-{seen[name]}"
        unique.append((f, name))

    def work(item):
        f, name = item
        job = {"submission": str(f.resolve()), "root": str(root.resolve()),
               "assignment": assignment, "refs": refs, "timeout": timeout,
               "memory_mb": memory_mb, "output_cap": output_cap}
        res = _run_worker(job, wall)
        res.setdefault("cells", {})
        for gid, pts, hidden in tests:
            res["cells"].setdefault(gid, {"points": 0.0, "max_points": pts, "passed": False,
                                          "status": "not_run", "reason": "not graded",
                                          "error": None, "hidden": hidden})
        res.update(student=name, assignment=assignment, submission=str(f),
                   max_score=float(sum(t[1] for t in tests)))
        res["score"] = float(sum(c["points"] for c in res["cells"].values()))
        if res.get("status") not in STATUSES:
            res["status"] = "error"
        log(f"  {name}: {_num(res['score'])}/{_num(res['max_score'])} {res['status']}")
        return res

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(work, unique))
    results.sort(key=lambda r: (r["student"], r["submission"]))
    if csv_path:
        write_csv(results, tests, csv_path)
    if feedback_dir:
        from .feedback import write_feedback

        for r in results:
            write_feedback(r, source, Path(feedback_dir))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1, sort_keys=True))
    log(f"graded {len(results)} submission(s) in {time.time() - t0:.1f} s with {jobs} job(s)")
    return results


def write_csv(results: list[dict], tests, path: str) -> None:
    """Columns: student, assignment, score, max_score, status, then one per test grade_id."""
    gids = [t[0] for t in tests]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "assignment", "score", "max_score", "status", *gids])
        for r in results:
            w.writerow([r["student"], r["assignment"], _num(r["score"]), _num(r["max_score"]),
                        r["status"], *(_num(r["cells"][g]["points"]) for g in gids)])
