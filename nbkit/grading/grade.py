"""``nbkit grade``: score submissions so that nothing inside a student's kernel can raise a score.

1. The solution runs once per ``nbkit grade`` call (:func:`reference_records`, in memory only: no
   on-disk cache a submission could poison) and every test cell's records become the reference.
2. Every submission runs in its own worker process (``jobs`` at a time,
   ``python -m nbkit.grading.worker``). The worker gets its job and a fresh random HMAC key over
   its stdin (never on disk, in the environment or on the command line) and never sees the
   reference records. It reads the submission defensively (corrupt -> ``unreadable``), restores
   every test cell and locked cell from the solution by ``grade_id``
   (:func:`nbkit.grading.notebooks.restore_cells`), executes it in a fresh memory-limited kernel
   with a per-cell timeout (:func:`nbkit.grading.execute.run_notebook`; the kernel's environment
   carries a per-run nonce copied into each record) and returns, HMAC-authenticated on its
   stdout, what each test cell did: status, error, records.
3. The main process rejects any result without a valid HMAC (status ``error``, 0 points; also
   when the worker was killed by a signal) and decides every test cell itself
   (:func:`cell_verdicts`): a cell of the *solution's* list of ``grade_id``s passes iff it ran
   without error and its records have the same multiset of names as the solution's and every
   value matches under the *solution's* comparison (``np.allclose`` with the solution's
   ``rtol``/``atol``, the solution's bounds, or -- for :func:`~nbkit.grading.checks.check_accuracy`
   -- ``mean(predictions == solution's labels) >= solution's threshold``); it then scores that
   cell's ``max_points`` from the solution. Nothing a worker reports can exceed those points.
4. When the grader runs as root (``os.geteuid() == 0``, e.g. in CI or a grading container) each
   kernel drops to its own unprivileged uid (``NBKIT_GRADE_UID_BASE``, default 61000, + the job
   slot; no passwd entry needed) in a fresh working directory owned by that uid, with ``HOME``,
   ``IPYTHONDIR``, ``MPLCONFIGDIR`` and the XDG/Jupyter dirs inside it. Every process of that uid
   is killed before and after each submission.

Statuses: ``ok``; ``timeout`` (some cell timed out, later cells were still run); ``error`` (the
kernel or the worker died: cells not run score 0); ``unreadable``.

Threat model (see ``solutions/README.md``): rebinding ``np.allclose``, ``numpy.testing``, the
check helpers, ``AssertionError``, ``nbkit.train.evaluate`` or swallowing exceptions cannot turn a
wrong value into a pass; a forged record must still hold the right numbers. As root, a kernel can
neither signal the grader's processes nor write files it does not own nor read files that are not
world-readable (keep ``solutions/`` mode 700 then). When *not* root, the kernel runs with the
grader's user rights: it can kill the grader (its row, or the whole run, is lost, never a higher
score) and read or write every file of that user, e.g. the solutions: grade in a container as root.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import pwd
import queue
import secrets
import shutil
import signal
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
    SOURCE_DIR,
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
UID_BASE_ENV = "NBKIT_GRADE_UID_BASE"
DEFAULT_UID_BASE = 61000


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


def reference_records(root: Path, assignment: str, *, timeout: float = DEFAULT_TIMEOUT,
                      memory_mb: int | None = DEFAULT_MEMORY_MB) -> dict[str, list[dict]]:
    """Execute the solution once; ``{grade_id: [record, ...]}`` for every test cell.

    Raises :class:`GradingError` if the solution fails one of its own tests or a test cell records
    nothing (such a cell could not be graded safely). The records live only in this process's
    memory: no disk cache a submission could poison.
    """
    sol = solution_path(root, assignment)
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
    if ref.get("compare") == "accuracy":
        try:
            labels = decode_value(ref["labels"], ref["labels_shape"])
        except (KeyError, ValueError, TypeError):
            return f"{name}: malformed reference record"
        if got.shape != labels.shape:
            return f"{name}: wrong shape {got.shape}, expected {labels.shape}"
        acc = float(np.mean(got == labels)) if labels.size else 0.0
        lo = float(ref.get("lower") or 0.0)
        if not acc >= lo:
            return f"{name}: accuracy {acc:.4f} is below the required {lo:g}"
        return None
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
    extra = sum(len(v) for k, v in by_name.items() if k not in ref_by_name)
    if extra:  # names chosen by the submission are never echoed (feedback could leak through them)
        problems.append(f"{extra} unexpected record(s)")
    return problems


def run_submission(submission_path: str, root: Path, assignment: str, *,
                   timeout: float = DEFAULT_TIMEOUT, memory_mb: int | None = DEFAULT_MEMORY_MB,
                   output_cap: int = DEFAULT_OUTPUT_CAP, sandbox_uid: int | None = None,
                   executed_path: str | None = None) -> dict:
    """Run one submission (in a worker process); no verdicts, no reference records needed.

    Returns ``{"status", "message", "cells": {grade_id: {"status", "error", "records"}}}`` for
    the solution's test cells that were executed (records: this run's nonce only).
    ``sandbox_uid``: run the kernel as this uid (the caller must be root).
    """
    t0 = time.time()
    sol_path = solution_path(root, assignment)
    source = read_notebook(sol_path)
    tests = {t[0] for t in graded_cells(source)}
    result: dict = {"status": "ok", "message": "", "cells": {}}
    try:
        sub = load_submission(submission_path)
        nb = restore_cells(sub, source)
    except Exception as exc:  # noqa: BLE001 - anything wrong with the file
        result["status"] = "unreadable"
        result["message"] = f"{type(exc).__name__}: {exc}"[:1000]
        return _finish(result, t0)
    nonce = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="nbkit-sub-") as tmp:
        _copy_extra_files(sol_path.parent, Path(tmp), assignment)
        env = {NONCE_ENV: nonce}
        if sandbox_uid is not None:
            env.update(_sandbox_home(Path(tmp), sandbox_uid))
        run = run_notebook(nb, timeout=timeout, memory_mb=memory_mb, output_cap=output_cap,
                           env_extra=env, cwd=tmp, sandbox_uid=sandbox_uid)
    for cell, cr in zip(nb.cells, run.cells, strict=True):
        gid = grade_id(cell)
        if gid not in tests or gid in result["cells"] or not nbg(cell).get("grade"):
            continue
        result["cells"][gid] = {
            "status": cr.status, "error": cr.error,
            "records": [r for r in cr.records if isinstance(r, dict) and r.get("nonce") == nonce]}
    if run.kernel_died:
        result["status"] = "error"
        result["message"] = run.message
    elif run.timed_out:
        result["status"] = "timeout"
    if executed_path:
        from .notebooks import write_notebook

        try:
            write_notebook(nb, executed_path)
        except Exception:  # noqa: BLE001
            pass
    return _finish(result, t0)


def _sandbox_home(work: Path, uid: int) -> dict:
    """Make ``work`` (and a home inside it) owned by ``uid``; the kernel's environment for it."""
    home = work / ".home"
    dirs = {"HOME": home, "IPYTHONDIR": home / ".ipython",
            "MPLCONFIGDIR": home / ".config" / "matplotlib", "XDG_CONFIG_HOME": home / ".config",
            "XDG_CACHE_HOME": home / ".cache", "XDG_DATA_HOME": home / ".local" / "share",
            "JUPYTER_CONFIG_DIR": home / ".jupyter",
            "JUPYTER_DATA_DIR": home / ".local" / "share" / "jupyter",
            "JUPYTER_RUNTIME_DIR": home / ".local" / "share" / "jupyter" / "runtime"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for dirpath, _dirnames, filenames in os.walk(work):
        os.chown(dirpath, uid, uid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), uid, uid, follow_symlinks=False)
    env = {k: str(v) for k, v in dirs.items()}
    env.update(USER=f"nbkit{uid}", LOGNAME=f"nbkit{uid}", TMPDIR=str(work))
    return env


def cell_verdicts(run: dict, tests, refs: dict[str, list[dict]]) -> dict:
    """Verdicts (grader process) for every ``(grade_id, max_points, hidden)`` of the solution.

    ``run``: what :func:`run_submission` returned. Points are the solution's ``max_points`` of a
    passing cell, else 0; grade_ids the solution does not have are ignored.
    """
    raw = run.get("cells") if isinstance(run.get("cells"), dict) else {}
    out = {}
    for gid, pts, hidden in tests:
        c = {"points": 0.0, "max_points": float(pts), "passed": False, "status": "not_run",
             "reason": "not run", "error": None, "hidden": hidden}
        out[gid] = c
        r = raw.get(gid)
        if not isinstance(r, dict):
            if run.get("status") == "unreadable":
                c["reason"] = "submission unreadable"
            elif run.get("status") == "error":
                c["reason"] = "not run (the kernel died)"
            continue
        status = r.get("status") if r.get("status") in (
            "ok", "error", "timeout", "not_run", "skipped") else "error"
        c["status"] = status
        err = r.get("error")
        c["error"] = err if isinstance(err, dict) else None
        if status != "ok":
            c["reason"] = {"timeout": "timed out", "not_run": "not run (the kernel died)",
                           "error": "raised an error"}.get(status, status)
            continue
        recs = r.get("records") if isinstance(r.get("records"), list) else []
        problems = compare_records(recs, refs.get(gid, []))
        if problems or gid not in refs:
            c["reason"] = "values differ from the reference: " + "; ".join(
                problems[:10] or ["no reference"])
            continue
        c.update(passed=True, points=float(pts), reason="")
    return out


def grade_notebook(submission_path: str, root: Path, assignment: str,
                   refs: dict[str, list[dict]], *, timeout: float = DEFAULT_TIMEOUT,
                   memory_mb: int | None = DEFAULT_MEMORY_MB,
                   output_cap: int = DEFAULT_OUTPUT_CAP,
                   executed_path: str | None = None) -> dict:
    """Grade one submission in this process (no worker, no sandbox): run + verdicts."""
    tests = graded_cells(read_notebook(solution_path(root, assignment)))
    run = run_submission(submission_path, root, assignment, timeout=timeout,
                         memory_mb=memory_mb, output_cap=output_cap,
                         executed_path=executed_path)
    cells = cell_verdicts(run, tests, refs)
    return {"submission": str(submission_path), "assignment": assignment,
            "status": run["status"], "message": run["message"], "cells": cells,
            "max_score": float(sum(t[1] for t in tests)),
            "score": float(sum(c["points"] for c in cells.values())),
            "seconds": run.get("seconds"), "grader_maxrss_mb": run.get("grader_maxrss_mb")}


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


def sign(key: bytes, body: bytes) -> str:
    """HMAC-SHA256 of a worker's result ``body`` under the job's ``key`` (hex)."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _run_worker(job: dict, wall: float) -> dict:
    """Run one job in a worker; its authenticated raw result, else an ``error`` result."""
    key = secrets.token_bytes(32)
    stdin = json.dumps({"key": key.hex(), "job": job}).encode()
    proc = subprocess.Popen([sys.executable, "-m", "nbkit.grading.worker"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err_b = proc.communicate(stdin, timeout=wall)
        err = err_b.decode("utf-8", "replace")[-2000:].strip()
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return {"status": "error", "cells": {},
                "message": f"the grading worker exceeded {wall:.0f} s"}
    if proc.returncode < 0:
        return {"status": "error", "cells": {},
                "message": f"the grading worker was killed by signal {-proc.returncode}"}
    try:
        msg = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        body = msg["result"].encode("utf-8")
        if not (isinstance(msg.get("mac"), str) and hmac.compare_digest(msg["mac"],
                                                                        sign(key, body))):
            raise ValueError("bad MAC")
        res = json.loads(body)
        if not isinstance(res, dict):
            raise ValueError("not a dict")
    except Exception:  # noqa: BLE001 - no valid authenticated result
        why = f"exit code {proc.returncode}" + (f": {err}" if err else "")
        return {"status": "error", "cells": {},
                "message": f"grading worker failed (no authenticated result; {why})"[:2000]}
    return res


def _free_uids(n: int) -> list[int]:
    """``n`` uids without a passwd entry, from ``NBKIT_GRADE_UID_BASE`` (default 61000) up."""
    uid, out = int(os.environ.get(UID_BASE_ENV, DEFAULT_UID_BASE)), []
    while len(out) < n:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            out.append(uid)
        uid += 1
    return out


def _warn_if_solutions_readable(root: Path, sandbox: bool, log) -> None:
    """Say how to keep submissions from reading the solutions (see the module docstring)."""
    solutions = Path(root) / SOURCE_DIR
    if not solutions.is_dir():
        return
    if not sandbox:
        log("warning: grading as a normal user: a submission runs with your rights (it cannot "
            "raise its score, but it can read your files); grade as root in a container")
    elif solutions.stat().st_mode & 0o005:
        log(f"warning: {solutions} is readable by other users, so a submission could read the "
            f"solutions; run `chmod -R go-rwx {solutions}` before grading")


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (``kill -9 -1`` run as that uid; needs root)."""
    kill = shutil.which("kill", path="/bin:/usr/bin") or "/bin/kill"
    for _ in range(3):
        subprocess.run([kill, "-9", "-1"], user=uid, group=uid, extra_groups=[],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, cwd="/")


def grade(root: Path, assignment: str, submissions: list[str], *, csv_path: str | None = None,
          jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int | None = DEFAULT_MEMORY_MB, output_cap: int = DEFAULT_OUTPUT_CAP,
          feedback_dir: str | None = None, json_path: str | None = None,
          log=None) -> list[dict]:
    """Grade ``submissions`` (files or folders) of ``assignment``; write CSV/feedback/JSON.

    Returns one result dict per submission (keys: student, assignment, score, max_score,
    status, message, cells{grade_id: {points, max_points, passed, status, reason, error,
    hidden}}, submission, seconds, grader_maxrss_mb), sorted by student. The solution runs once
    per call; its records stay in memory.
    """
    root = Path(root)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    source = read_notebook(solution_path(root, assignment))
    tests = graded_cells(source)
    files = collect_submissions(submissions)
    if not files:
        raise GradingError("no submissions given (files or folders with .ipynb files)")
    t0 = time.time()
    refs = reference_records(root, assignment, timeout=timeout, memory_mb=memory_mb)
    log(f"reference records of {assignment} ready ({time.time() - t0:.1f} s)")
    n_code = sum(1 for c in source.cells if c.cell_type == "code")
    wall = 120 + (n_code + 10) * (timeout + 15)
    jobs = max(1, int(jobs or len(os.sched_getaffinity(0))))
    slots: queue.Queue = queue.Queue()
    sandbox = os.geteuid() == 0
    _warn_if_solutions_readable(root, sandbox, log)
    for uid in (_free_uids(jobs) if sandbox else [None] * jobs):
        slots.put(uid)
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
        uid = slots.get()
        try:
            if uid is not None:
                kill_uid(uid)
            job = {"submission": str(f.resolve()), "root": str(root.resolve()),
                   "assignment": assignment, "timeout": timeout, "memory_mb": memory_mb,
                   "output_cap": output_cap, "sandbox_uid": uid}
            run = _run_worker(job, wall)
        finally:
            if uid is not None:
                kill_uid(uid)
            slots.put(uid)
        status = run.get("status") if run.get("status") in STATUSES else "error"
        cells = cell_verdicts(run, tests, refs)
        res = {"student": name, "assignment": assignment, "submission": str(f),
               "status": status, "message": str(run.get("message") or "")[:2000],
               "cells": cells, "max_score": float(sum(t[1] for t in tests)),
               "score": float(sum(c["points"] for c in cells.values())),
               "seconds": run.get("seconds"), "grader_maxrss_mb": run.get("grader_maxrss_mb")}
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
