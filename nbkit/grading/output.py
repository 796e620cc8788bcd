"""The grade files of ``nbkit grade``, written row by row as submissions finish.

CSV (``--csv``): ``student, assignment, score, max_score, status``, then one column per test
cell of the solution (its ``grade_id``, in notebook order) holding that cell's points. Numbers
are written without a trailing ``.0``; a student name that starts like a spreadsheet formula
(``= + - @``, a tab or carriage return, also after white space) or with ``'`` gets a leading
``'`` (:func:`unquote` removes it again).

JSON (``--json``): a list of the results of :func:`nbkit.grading.grade.grade`, one object per
line, keys sorted. It holds kernel-reported error text (capped): for instructors, not students.

Rows are appended to both files (and flushed) the moment a submission is graded, so the grader
keeps none in memory and an interrupted run loses only the submissions being graded. While a
run goes on, or after it was killed, the rows are in the order they finished and the JSON lacks
its closing ``]``; when a run ends -- also by SIGINT or SIGTERM -- both files are rewritten
sorted by student, the JSON a valid list. :func:`read_rows` reads either form (``--resume``).
Both formats are documented in ``solutions/README.md`` and kept stable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from pathlib import Path

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "status")
STATUSES = ("ok", "timeout", "error", "unreadable", "unsandboxed")


def num(x) -> str:
    """A score as written in the grade files and feedback: ``3``, ``2.5``, ``0.3333``."""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")  # "'": so that unquote is exact


def _formula_like(text: str) -> bool:
    return text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS


def quote(text: str) -> str:
    """A student name as a CSV cell that no spreadsheet runs as a formula: a leading ``'`` if
    it starts (also after white space) like one."""
    return "'" + text if _formula_like(text) else text


def unquote(text: str) -> str:
    """The student name a CSV cell written by :func:`quote` holds."""
    return text[1:] if text[:1] == "'" and _formula_like(text[1:]) else text


def csv_row(r: dict, gids: list[str]) -> list[str]:
    return [quote(r["student"]), r["assignment"], num(r["score"]), num(r["max_score"]),
            r["status"], *(num(r["cells"][g]["points"]) for g in gids)]


def read_rows(fh):
    """``(offset, length, row)`` of every complete row of a JSON grade file (a binary file
    object) in file order; a line cut short (by a killed run) is skipped."""
    fh.seek(0)
    offset = 0
    for line in fh:
        start, offset = offset, offset + len(line)
        text = line.rstrip(b"\r\n").rstrip(b",")
        if text.startswith(b"{"):
            try:
                row = json.loads(text)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield start, len(text), row


def untrusted(st: os.stat_result) -> str | None:
    """Why a grade file with the status ``st`` may have been written by someone else (then
    ``--resume`` must not believe its rows), else ``None``: it must be a regular file owned by
    this user and writable by nobody else."""
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid != os.geteuid():
        return f"it belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"others may write it (mode {stat.filemode(st.st_mode)})"
    return None


def open_resumed(path: Path):
    """The earlier run's JSON ``path`` opened for reading and appending (never through a
    symlink; checked on the open file, so it cannot be swapped after the check), ``None`` if
    there is none; ``ValueError`` saying why it is not to be trusted."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot open it without following a symlink ({exc.strerror})") from None
    why = untrusted(os.fstat(fd))
    if why:
        os.close(fd)
        raise ValueError(why)
    return os.fdopen(fd, "r+b")


class GradeFiles:
    """The CSV and JSON of one run: :meth:`add` appends a row, :meth:`close` sorts the files.

    ``resume``: keep the rows of an earlier run's JSON in the file; :meth:`previous` returns
    the latest one of a student (the caller decides if it still holds) and :meth:`keep` makes
    it a row of this run.
    """

    def __init__(self, tests, csv_path=None, json_path=None, *, resume: bool = False):
        self.gids = [t[0] for t in tests]
        self.csv_rows: dict[str, list[str]] = {}
        self.rows: dict[str, tuple[int, int]] = {}  # student -> its JSON text in the file
        self._old: dict[str, tuple[int, int]] = {}
        self._csv = self._json = None
        if json_path:
            path = Path(json_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            end = 0
            self._json = open_resumed(path) if resume else None
            if self._json is not None:
                for off, n, row in read_rows(self._json):
                    self._old[str(row.get("student"))] = (off, n)
                    end = off + n
            else:
                self._json = open(path, "w+b")
            self._json.truncate(end)
            self._json.seek(end)
            self._json.write(b",\n" if end else b"[\n")
        if csv_path:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            self._csv = open(csv_path, "w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._csv)
            self._writer.writerow([*CSV_COLUMNS, *self.gids])
        self.csv_path, self.json_path = csv_path, json_path

    def _read(self, where: tuple[int, int]) -> bytes:
        self._json.seek(where[0])
        text = self._json.read(where[1])
        self._json.seek(0, os.SEEK_END)
        return text

    def previous(self, student: str) -> dict | None:
        """The earlier run's row of ``student`` (``resume``), or ``None``."""
        where = self._old.get(student)
        return None if where is None else json.loads(self._read(where))

    def _csv_add(self, row: dict) -> None:
        self.csv_rows[row["student"]] = csv_row(row, self.gids)
        if self._csv is not None:
            self._writer.writerow(self.csv_rows[row["student"]])
            self._csv.flush()

    def keep(self, row: dict) -> None:
        """Make the earlier run's row of ``row["student"]`` (from :meth:`previous`) one of
        this run's."""
        self.rows[row["student"]] = self._old[row["student"]]
        self._csv_add(row)

    def add(self, row: dict) -> None:
        if self._json is not None:
            text = json.dumps(row, sort_keys=True).encode("ascii")
            self.rows[row["student"]] = (self._json.tell(), len(text))
            self._json.write(text + b",\n")
            self._json.flush()
        self._csv_add(row)

    def _json_text(self):
        yield b"["
        for i, student in enumerate(sorted(self.rows)):
            yield (b",\n" if i else b"\n") + self._read(self.rows[student])
        yield b"\n]\n"

    def close(self) -> None:
        """Replace both files with this run's rows only, sorted by student."""
        if self._json is not None:
            mode = stat.S_IMODE(os.fstat(self._json.fileno()).st_mode)
            _replace(Path(self.json_path), mode, self._json_text())
            self._json.close()
        if self._csv is not None:
            mode = stat.S_IMODE(os.fstat(self._csv.fileno()).st_mode)
            self._csv.close()
            text = io.StringIO(newline="")
            w = csv.writer(text)
            w.writerow([*CSV_COLUMNS, *self.gids])
            w.writerows(self.csv_rows[s] for s in sorted(self.csv_rows))
            _replace(Path(self.csv_path), mode, [text.getvalue().encode("utf-8")])


def _replace(path: Path, mode: int, chunks) -> None:
    """Replace ``path`` at once by a file of ``chunks`` (a new file: never through a link)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(results: list[dict], tests, path: str | Path) -> None:
    files = GradeFiles(tests, csv_path=path)
    for r in results:
        files.add(r)
    files.close()

