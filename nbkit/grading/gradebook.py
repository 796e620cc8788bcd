"""Keep an nbgrader course in step with ``nbkit grade``: scores into nbgrader's gradebook, feedback
where ``nbgrader release_feedback`` takes it.

nbgrader's route: ``nbgrader generate_assignment A`` (fills the gradebook with A's notebooks and
grade cells), ``nbgrader release_assignment A``, students ``fetch``/``submit``, ``nbgrader
collect A`` (``<submitted>/<student>/A/``), then -- instead of ``nbgrader autograde`` --
``nbkit grade A <submitted>/*/A/A.ipynb --csv .. --json .. --feedback DIR`` and
``nbkit report grades.csv --nbgrader-course COURSE --feedback DIR``, which calls
:func:`sync_nbgrader`:

* every student's submission gets the timestamp of ``<submitted>/<student>/A/timestamp.txt`` and
  each autograded cell's ``auto_score`` the points ``nbkit grade`` gave that test (so formgrader
  and ``nbgrader export`` show nbkit's scores; a manual score an instructor entered is kept and
  the cell is flagged for review, as nbgrader's own autograder does), and the notebook is copied
  to ``<autograded>/<student>/A/A.ipynb`` (formgrader lists a submission as graded by that
  folder; it is the notebook as submitted: nbkit keeps no executed copy of untrusted code);
* with ``feedback_dir``: ``DIR/<student>/A.html`` becomes ``<feedback>/<student>/A/A.html`` next
  to copies of the submission's ``timestamp.txt`` and ``submission_secret.txt``, all mode 0600
  (the exchange of :mod:`nbkit.grading.exchange` then shows each page to its student only);
* a student's files are read only if they are regular files reached without symlinks (a
  timestamp or secret of at most 4 kB; an unparsable timestamp is none), and a secret two
  students share gets neither a feedback page (release_feedback names the page by it).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from .notebooks import GradingError
from .output import quote
from .submissions import read_regular

SMALL_FILE_BYTES = 4096  # timestamp.txt, submission_secret.txt


def course_directory(course_root):
    """nbgrader's ``CourseDirectory`` of ``course_root`` with its ``nbgrader_config.py``."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config, PyFileConfigLoader

    root = Path(course_root).resolve()
    if not root.is_dir():
        raise GradingError(f"nbgrader course folder {root} does not exist")
    cfg = Config()
    if (root / "nbgrader_config.py").is_file():
        cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    cfg.CourseDirectory.root = str(root)
    return CourseDirectory(config=cfg)


def _write_private(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, dest)


def _lay_out_feedback(page: Path, secret: bytes | None, timestamp: bytes | None,
                      dest: Path) -> None:
    """``dest/<page>`` and the submission's secret and timestamp, as release_feedback wants."""
    if not page.is_file():
        raise GradingError(f"no feedback page {page}")
    _write_private(page.read_bytes(), dest / page.name)
    for name, data in (("submission_secret.txt", secret), ("timestamp.txt", timestamp)):
        if data is not None:
            _write_private(data, dest / name)


def _small_file(path: Path) -> bytes | None:
    """A student's small file (a regular file reached without symlinks), else ``None``."""
    try:
        return read_regular(path, SMALL_FILE_BYTES)
    except ValueError:
        return None


def _timestamp(text: bytes | None):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text.decode().strip()) if text else None
    except ValueError:  # UnicodeDecodeError too: a student wrote it
        return None


def _store_scores(gb, assignment, row, notebook: str, timestamp) -> None:
    gb.update_or_create_student(row.student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    gb.update_or_create_submission(assignment, row.student, **kwargs)
    for gid, points in row.tests.items():
        grade = gb.find_grade(gid, notebook, assignment, row.student)
        grade.auto_score = float(points)
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def _not_a_student(student: str, submitted: Path) -> str:
    """Why ``student`` is no student of nbgrader's to store (``""``: it is one)."""
    if quote(student) != student or not student.isprintable():
        return ("nbgrader export would write this name unquoted (it starts like a formula or "
                "with ', or holds a control character)")
    if not submitted.is_dir() or submitted.is_symlink():
        return f"no folder {submitted} (nbgrader collected no such submission)"
    return ""


def sync_nbgrader(course_root, rows, *, feedback_dir=None) -> dict:
    """Store ``rows`` (of :func:`nbkit.grading.report.read_results`) in the gradebook of the
    nbgrader course ``course_root``; lay out ``feedback_dir`` for ``release_feedback``.

    Only rows of a student nbgrader collected are stored: a row with no
    ``<submitted>/<student>/<assignment>/`` folder (``alice#2``, a renamed or hand-made row) or
    whose name ``nbgrader export`` would write as a spreadsheet formula is skipped.

    Returns ``{"submissions": n, "feedback": m, "skipped": [(student, why), ...]}``. Raises
    :class:`GradingError` when the assignment or one of its tests is not in the gradebook (run
    ``nbgrader generate_assignment`` first) or a student's feedback page is missing.
    """
    from nbgrader.api import Gradebook, MissingEntry

    bin_dir = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and os.path.isfile(os.path.join(bin_dir, "alembic")):
        # nbgrader's Gradebook runs the `alembic` command: this environment's, if not on PATH
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    cd = course_directory(course_root)
    done = {"submissions": 0, "feedback": 0, "skipped": []}
    secrets = {row.student: _small_file(Path(cd.format_path(
        cd.submitted_directory, row.student, row.assignment)) / "submission_secret.txt")
        for row in rows}
    shared = Counter(secrets.values())
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for row in rows:
            a = row.assignment
            try:
                notebooks = {nb.name: nb for nb in gb.find_assignment(a).notebooks}
            except MissingEntry:
                raise GradingError(f"assignment {a!r} is not in the gradebook {cd.db_url}: run "
                                   f"`nbgrader generate_assignment {a}` in {cd.root} first"
                                   ) from None
            if a not in notebooks:
                raise GradingError(f"the gradebook's assignment {a!r} has no notebook {a!r} "
                                   f"(it has {', '.join(sorted(notebooks)) or 'none'})")
            cells = {c.name for c in notebooks[a].grade_cells}
            unknown = sorted(set(row.tests) - cells)
            if unknown:
                raise GradingError(f"test(s) {', '.join(unknown)} of {a} are not grade cells in "
                                   f"the gradebook: rerun `nbgrader generate_assignment {a}`")
            submitted = Path(cd.format_path(cd.submitted_directory, row.student, a))
            why = _not_a_student(row.student, submitted)
            if why:
                done["skipped"].append((row.student, why))
                continue
            stamp = _small_file(submitted / "timestamp.txt")
            _store_scores(gb, a, row, a, _timestamp(stamp))
            # formgrader counts a submission as graded by this folder and shows its notebook
            auto = Path(cd.format_path(cd.autograded_directory, row.student, a))
            auto.mkdir(parents=True, exist_ok=True)
            try:
                _write_private(read_regular(submitted / f"{a}.ipynb"), auto / f"{a}.ipynb")
            except ValueError:
                pass  # graded "unreadable": there is no notebook to show
            done["submissions"] += 1
            if not feedback_dir:
                continue
            secret = secrets[row.student]
            if secret is not None and shared[secret] > 1:
                done["skipped"].append((row.student, "its submission_secret.txt is another "
                                        "student's too: no feedback page (release_feedback "
                                        "would give both students one page)"))
                continue
            _lay_out_feedback(Path(feedback_dir) / row.student / f"{a}.html", secret, stamp,
                              Path(cd.format_path(cd.feedback_directory, row.student, a)))
            done["feedback"] += 1
    return done
