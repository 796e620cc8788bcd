"""``nbkit grade``: run every submission in its own sandbox and score it in the grader.

1. The grader checks that a sandbox can be made (:func:`nbkit.grading.sandbox.
   unavailable_reason`); if not it refuses, unless ``sandbox=False`` (``--no-sandbox``: every
   row is then marked ``unsandboxed``).
2. It prepares, in a private folder, what every sandbox of this run mounts: a copy of nbkit with
   the assignment's hidden references stubbed out (:mod:`nbkit.grading.references`) and the
   held-out images of this run (:mod:`nbkit.grading.heldout`, labels stay in the grader).
3. The solution runs once, in a sandbox like the submissions'; the records of its test cells are
   the reference (kept in memory only).
4. ``jobs`` workers grade the submissions in one asyncio loop: each is read safely
   (:mod:`nbkit.grading.submissions`), its test and locked cells are restored from the source
   (:func:`nbkit.grading.notebooks.restore_cells`), its cells run in a new sandbox
   (:mod:`nbkit.grading.execute`), every test cell is decided here
   (:mod:`nbkit.grading.verdicts`) and the row goes to the grade files at once
   (:class:`nbkit.grading.output.GradeFiles`): memory does not grow with the class.

**Resume** (``resume=True``, ``--resume``): a row of the earlier run's JSON is kept, not
regraded, iff it is that student's, for the same path, and both fingerprints still hold:
``submission_sha256`` (the notebook and the files graded with it) and ``grading_sha256``
(everything else a verdict depends on: the source notebook and its folder's files, the hidden
references, limits, data files, the sandbox mode and nbkit's own code). A changed submission or
a changed test is regraded; unreadable rows and rows the grader itself failed (a sandbox
that could not start: ``grading failed: ...``) are always redone. The JSON must belong to the
grader's user, writable by nobody else and reached without a symlink
(:func:`nbkit.grading.output.open_resumed`).

**Shards** (``shard=(k, n)``, ``--shard K/N``): submissions are named over the whole folder
first, then a run grades those whose name falls in shard ``k`` of ``n``
(:func:`shard_of`: the SHA-256 of the name, modulo ``n``) -- the same on every machine, and a
late submission moves nobody else. ``nbkit report`` merges the shards' files.

SIGINT or SIGTERM stops a run: kernels are killed, rows of finished submissions are kept (the
files sorted), and :class:`Interrupted` is raised (the command exits with 128 + the signal).

Limits (per-cell ``timeout``, ``wall`` per notebook, ``memory_mb`` per kernel) come from the
call (the command line), else from the assignment's source (``metadata.nbkit.grading``), else
:data:`DEFAULTS`.

Result of one submission (also the JSON rows, see ``solutions/README.md``): ``student``,
``assignment``, ``submission`` (path as given), ``status`` (``ok``, ``timeout``, ``error``,
``unreadable``; ``unsandboxed`` for every row of a run without sandbox), ``outcome`` (the status
it would have had with a sandbox), ``sandboxed``, ``score``, ``max_score``, ``message``,
``warnings``, ``seconds``, ``submission_sha256``, ``grading_sha256``, ``cells``
(``{grade_id: verdict}``, see :func:`nbkit.grading.verdicts.cell_verdicts`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
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
from .output import STATUSES, GradeFiles, num
from .sandbox import HELDOUT, OS_PATHS, Layout, Limits, Sandbox, unavailable_reason
from .submissions import Submission, collect, fingerprint
from .verdicts import cell_verdicts, value_problem

DEFAULTS = {"timeout": 60.0, "memory_mb": 2048}
IPC_PATH_MAX = 107  # bytes of a Unix socket path (Linux sun_path, without its NUL)
IPC_SUFFIX = len("/sb-12345678/run/k-10")  # a sandbox's socket below the run's folder
GRADER_FAILED = "grading failed: "  # the message of a row the grader (not the kernel) failed


class Interrupted(Exception):
    """A run stopped by a signal; the rows of finished submissions are in the grade files."""

    def __init__(self, signum: int, done: int, total: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name} with {done} of {total} "
                         "submission(s) graded; rerun with --resume to grade the rest")
        self.signum = signum


def shard_of(student: str, n: int) -> int:
    """The shard (1..n) of a student: SHA-256 of the name modulo ``n``."""
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


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
    """``files`` (flat: ``{name: bytes}``) in a new ``folder`` the sandbox's uid can read."""
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o644)
    folder.chmod(0o755)
    return folder


def _tree_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.py")):
        h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


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
            if len(os.fsencode(self.base)) + IPC_SUFFIX > IPC_PATH_MAX:
                raise GradingError(
                    f"the temporary folder {self.base.parent} has too long a path for the "
                    f"kernels' ZMQ ipc sockets (at most {IPC_PATH_MAX - IPC_SUFFIX - 21} "
                    "bytes): set TMPDIR to a shorter folder, e.g. TMPDIR=/tmp")
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
        data_files = []
        if settings["data"]:
            if not data_root:
                raise GradingError(f"{self.assignment} needs data files {settings['data']}: "
                                   "set NBKIT_DATA")
            for rel in settings["data"]:
                path = Path(data_root, rel)
                if not path.is_file():
                    raise GradingError(f"{self.assignment} needs {path}, which does not exist")
                ro[str(path.resolve())] = str(Path(data_root).absolute() / rel)
                data_files.append([rel, path.stat().st_size, path.stat().st_mtime_ns])
            env["NBKIT_DATA"] = str(Path(data_root).absolute())
        self.layout = Layout(ro={**_python_env(), **ro}, env=env)
        check_exposure([*self.layout.ro, *OS_PATHS], [self.root / SOURCE_DIR])
        self.key = hashlib.sha256(json.dumps({
            "source": hashlib.sha256(self.source_path.read_bytes()).hexdigest(),
            "files": {k: hashlib.sha256(v).hexdigest() for k, v in self.extra.items()},
            "hidden": self.hidden_entries, "data": data_files, "heldout": settings["heldout"],
            "limits": [self.timeout, self.wall, self.limits.memory_mb],
            "sandboxed": self.sandboxed, "nbkit": _tree_sha256(real)},
            sort_keys=True).encode()).hexdigest()

    def launch(self, folder: Path) -> Launch:
        """How to start a kernel that begins with the files of ``folder``."""
        if self.sandboxed:
            return Launch(sandbox=lambda: Sandbox(self.base, self.layout, self.limits,
                                                  submission=folder,
                                                  heldout=self.heldout_dir))
        env = kernel_env({GRADING_ENV: "1", HELDOUT_ENV: str(self.heldout_dir)})
        return Launch(env=env, cwd=str(folder), limits=self.limits)

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
         warnings: list[str], seconds: float, sha: str | None) -> dict:
    return {"student": sub.student, "assignment": run.assignment, "submission": str(sub.path),
            "status": outcome if run.sandboxed else "unsandboxed", "outcome": outcome,
            "sandboxed": run.sandboxed, "message": message[:2000], "warnings": warnings[:50],
            "cells": cells, "max_score": float(sum(t[1] for t in run.tests)),
            "score": float(sum(c["points"] for c in cells.values())),
            "seconds": round(seconds, 3), "submission_sha256": sha, "grading_sha256": run.key}


def unreadable_row(run: GradingRun, sub: Submission, problem: str, sha: str | None = None,
                   warnings=()) -> dict:
    cells = cell_verdicts({}, run.tests, {}, why_missing="submission unreadable")
    return _row(run, sub, "unreadable", problem, cells, list(warnings), 0.0, sha)


async def grade_submission(run: GradingRun, sub: Submission, refs: dict, warn=print) -> dict:
    """Grade one submission, reading it now (never raises but for cancellation)."""
    t0, warnings = time.monotonic(), []
    try:
        data, files = sub.read(warn)
    except ValueError as exc:
        return unreadable_row(run, sub, str(exc))
    sha = fingerprint(data, files)
    try:
        nb = restore_cells(parse_submission(data), run.source, warnings)
    except ValueError as exc:
        return unreadable_row(run, sub, str(exc), sha, warnings)
    except Exception as exc:  # noqa: BLE001 - one odd notebook must not stop the class
        return unreadable_row(run, sub, f"not a usable notebook: {type(exc).__name__}", sha,
                              warnings)
    try:
        result, ran = await run.run(nb, {**files, f"{run.assignment}.ipynb": data})
        outcome = "error" if result.kernel_died else ("timeout" if result.timed_out else "ok")
        message = result.message
    except (TimeoutError, OSError) as exc:
        ran, outcome, message = {}, "error", f"{GRADER_FAILED}{type(exc).__name__}: {exc}"
    cells = cell_verdicts(ran, run.tests, refs, labels=run.labels,
                          hidden_names=run.hidden_names)
    return _row(run, sub, outcome, message, cells, warnings, time.monotonic() - t0, sha)


def still_valid(row: dict | None, run: GradingRun, sub: Submission, sha: str) -> bool:
    """Whether an earlier run's ``row`` may stand for ``sub`` now (see the module doc)."""
    if not isinstance(row, dict) or row.get("outcome") == "unreadable" \
            or str(row.get("message", "")).startswith(GRADER_FAILED):
        return False
    cells = row.get("cells")
    expected = {"student": sub.student, "submission": str(sub.path), "submission_sha256": sha,
                "grading_sha256": run.key, "assignment": run.assignment,
                "sandboxed": run.sandboxed}
    try:
        return (all(row.get(k) == v for k, v in expected.items())
                and row.get("status") in STATUSES and set(cells) == {t[0] for t in run.tests}
                and all(0 <= cells[g]["points"] <= p for g, p, _ in run.tests)
                and row["score"] == sum(cells[g]["points"] for g, _, _ in run.tests))
    except (TypeError, KeyError):
        return False


class _Progress:
    """Where each finished row goes: the grade files, the feedback, the log."""

    def __init__(self, files: GradeFiles, feedback_dir, total: int, log, keep: bool):
        self.files, self.feedback_dir, self.total, self.log = files, feedback_dir, total, log
        self.done, self.results = 0, [] if keep else None

    def __call__(self, row: dict, kept: bool = False) -> None:
        (self.files.keep if kept else self.files.add)(row)
        if self.feedback_dir:
            from .feedback import write_feedback

            try:
                write_feedback(row, Path(self.feedback_dir))
            except OSError as exc:  # one page that cannot be written must not stop the class
                self.log(f"warning: no feedback page for {row['student']!r}: {exc}")
        if self.results is not None:
            self.results.append(row)
        self.done += 1
        self.log(f"  [{self.done}/{self.total}] {row['student']}: {num(row['score'])}/"
                 f"{num(row['max_score'])} {row['status']}{' (kept)' if kept else ''}")


async def _grade_queue(run: GradingRun, queue: list[Submission], jobs: int, done, log):
    """Grade ``queue`` with ``jobs`` workers; a signal cancels it (:class:`Interrupted`)."""
    loop, me, caught = asyncio.get_running_loop(), asyncio.current_task(), []

    def on_signal(signum):
        if caught:  # a second signal: stop at once (the files stay resumable)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        caught.append(signum)
        me.cancel()

    signals = (signal.SIGINT, signal.SIGTERM) if me is not None and \
        threading.current_thread() is threading.main_thread() else ()
    for s in signals:
        loop.add_signal_handler(s, on_signal, s)
    try:
        t0 = time.monotonic()
        refs = await reference_records(run)
        log(f"reference records of {run.assignment} ready ({time.monotonic() - t0:.1f} s)")
        todo = iter(queue)

        async def worker():
            for sub in todo:
                done(await grade_submission(run, sub, refs, warn=log))

        workers = [asyncio.create_task(worker()) for _ in range(jobs)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    except asyncio.CancelledError:
        if not caught:
            raise
        raise Interrupted(caught[0], done.done, done.total) from None
    finally:
        for s in signals:
            loop.remove_signal_handler(s)


def _open_files(run, csv_path, json_path, resume, given) -> GradeFiles:
    if resume:
        if not json_path:
            raise GradingError("--resume needs --json FILE: the rows of the earlier run")
        real = Path(os.path.realpath(json_path))
        inside = [g for g in given if real.is_relative_to(os.path.realpath(g))]
        if inside:
            raise GradingError(f"--resume: not trusting the rows of {json_path}: it lies in "
                               f"the submissions {inside[0]}")
    try:
        return GradeFiles(run.tests, csv_path, json_path, resume=resume)
    except ValueError as exc:
        raise GradingError(f"--resume: not trusting the rows of {json_path}: {exc}") from None


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (ANSI escapes, newlines that students put
    in file names) written as escapes, so that no log line can be forged or hidden."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(text))


def grade(root: Path, assignment: str, submissions: list[str], *, csv_path: str | None = None,
          json_path: str | None = None, feedback_dir: str | None = None,
          jobs: int | None = None, timeout: float | None = None, memory_mb: int | None = None,
          wall: float | None = None, sandbox: bool = True, resume: bool = False,
          shard: tuple[int, int] | None = None, keep: bool = True, log=None) -> list[dict]:
    """Grade ``submissions`` (files or folders) of ``assignment``; write CSV/JSON/feedback.

    Returns one result per submission (see the module docstring), sorted by student; with
    ``keep=False`` none (the command line: the files hold them). Raises :class:`Interrupted`
    after SIGINT/SIGTERM, with the finished rows written.
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
    if shard is not None:
        k, n = shard
        subs = [s for s in subs if shard_of(s.student, n) == k]
        log(f"shard {k}/{n}: {len(subs)} submission(s)")
    jobs = max(1, int(jobs or len(os.sched_getaffinity(0))))
    t0 = time.monotonic()
    run = GradingRun(root, assignment, sandboxed=sandbox, timeout=timeout,
                     memory_mb=memory_mb, wall=wall)
    try:
        if sandbox:
            check_exposure([*run.layout.ro, *OS_PATHS], [s.path.parent for s in subs])
        given = {str(p) for p in submissions} | {str(s.path.parent) for s in subs}
        files = _open_files(run, csv_path, json_path, resume, given)
        done = _Progress(files, feedback_dir, len(subs), log, keep)
        try:
            queue = []
            for sub in subs:  # odd files get their rows now; a resumed run keeps what holds
                try:
                    sha = fingerprint(*sub.read(warn=lambda m: None))
                except ValueError as exc:
                    done(unreadable_row(run, sub, str(exc)))
                    continue
                old = files.previous(sub.student) if resume else None
                if still_valid(old, run, sub, sha):
                    old["cells"] = {g: old["cells"][g] for g, _, _ in run.tests}
                    done(old, kept=True)
                else:
                    queue.append(sub)
            if queue:
                asyncio.run(_grade_queue(run, queue, jobs, done, log))
        finally:
            files.close()
    finally:
        run.close()
    log(f"graded {len(subs)} submission(s) in {time.monotonic() - t0:.1f} s with {jobs} "
        f"job(s){'' if sandbox else ' WITHOUT sandbox'}")
    return sorted(done.results or [], key=lambda r: (r["student"], r["submission"]))
