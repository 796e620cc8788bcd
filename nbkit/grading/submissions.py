"""Finding submissions, reading them safely, naming students.

* Folders given on the command line are walked without following symlinks; every entry named
  ``*.ipynb`` (outside ``.ipynb_checkpoints``) is a submission.
* A submission is read only if it is a regular file reached without any symlink on the path as
  given (each component is opened with ``O_NOFOLLOW``; the file with ``O_NONBLOCK``, so a FIFO
  never blocks). Anything else -- a symlink, FIFO, device, socket, folder, or a file above
  :data:`~nbkit.grading.notebooks.MAX_NOTEBOOK_BYTES` -- gets a row ``unreadable`` at once.
* An argument named ``*.ipynb`` is a file to grade, whatever it is (a folder so named gets its
  ``unreadable`` row); any other folder is searched.
* The student is named from the path *as given* (never from a symlink's target): the first
  folder below the folder given (``subs/alice/...`` -> ``alice``; nbgrader's
  ``submitted/<student>/<assignment>/<assignment>.ipynb`` -> ``<student>``), else the file stem
  (``subs/bob.ipynb`` -> ``bob``). Files given one by one are named as if the folders holding
  their student folders had been given: a file's student folder is its folder (the grandparent
  if that folder is named like the assignment), and the file is named after the folder right
  below the outermost parent of any given file's student folder that holds it. So
  ``submitted/*/ps1/ps1.ipynb`` and ``submitted/**/*.ipynb`` both name every file after the
  folder below ``submitted/``, whatever a student nests inside their own; a file in the
  current folder is named by its stem.
* A name is made fit for a CSV cell and a folder name: bytes that are not UTF-8 and control
  characters become U+FFFD, it is cut to :data:`MAX_NAME_BYTES` bytes, and an empty, blank or
  path-like name becomes ``student-<k>``. Two submissions with one name (nested or duplicate
  folders) get distinct rows and a warning: the least nested keeps ``name``, the others are
  ``name#2``, ... (``#`` is in no user name, so no classmate's); beyond
  :data:`MAX_PER_STUDENT` of one name the rest are not graded: one ``unreadable`` row stands for
  them.
* In a per-student folder the student's other regular files (not symlinks, at most
  :data:`MAX_FILES` files and :data:`MAX_FILES_BYTES` bytes) go into the kernel's working folder.
* Nothing is read by :func:`collect`: :meth:`Submission.read` reads a submission when it is
  graded, so a class of hundreds is never in memory at once.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .notebooks import MAX_NOTEBOOK_BYTES

MAX_FILES = 50
MAX_FILES_BYTES = 20_000_000
MAX_NAME_BYTES = 245  # a name is a folder of the feedback: with "#k" within 255 bytes
MAX_PER_STUDENT = 5  # notebooks graded under one name; the rest are refused
MAX_DEPTH = 20  # folders below a folder given that are searched
_SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass
class Submission:
    """One submitted notebook: ``path`` as given, the student's name and own folder."""

    path: Path
    student: str
    folder: Path | None = None  # the student's own folder (per-student layouts only)
    refused: str = ""  # why it is not graded at all, if so

    def read(self, warn=print) -> tuple[bytes, dict[str, bytes]]:
        """The notebook's bytes and the student's other files; ``ValueError`` (why it is
        unreadable) for anything but a regular file reached without symlinks."""
        if self.refused:
            raise ValueError(self.refused)
        data = read_regular(self.path)
        files = _own_files(self.folder, self.path, warn) if self.folder is not None else {}
        return data, files


def fingerprint(data: bytes, files: dict[str, bytes]) -> str:
    """SHA-256 of a submission: its notebook and, by name, the other files graded with it."""
    h = hashlib.sha256(data)
    for name in sorted(files):
        h.update(b"\0" + name.encode("utf-8", "surrogateescape") + b"\0")
        h.update(hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file reached without symlinks (as given) and at
    most ``limit`` bytes; else ``ValueError`` saying what it is."""
    parts = path.parts
    start = "/" if path.is_absolute() else "."
    fd = os.open(start, os.O_PATH | os.O_DIRECTORY)
    try:
        for part in parts[1 if path.is_absolute() else 0:-1]:
            try:
                nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise ValueError(f"the path goes through {part!r}, which is not a plain folder "
                                 f"({exc.strerror})") from None
            os.close(fd)
            fd = nxt
        try:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            raise ValueError(f"cannot read it: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"it is {_kind(st.st_mode)}, not a regular file")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
        try:
            ffd = os.open(parts[-1], flags, dir_fd=fd)
        except OSError as exc:
            raise ValueError(f"cannot read it: {exc.strerror}") from None
        with os.fdopen(ffd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"it is {_kind(st.st_mode)}, not a regular file")
            if st.st_size > limit:
                raise ValueError(f"file is {st.st_size} bytes, larger than the {limit}-byte "
                                 "limit")
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"file is larger than the {limit}-byte limit")
        return data
    finally:
        os.close(fd)


def _walk(folder: Path, warn) -> list[Path]:
    """Every ``*.ipynb`` entry below ``folder`` (any file type) at most :data:`MAX_DEPTH`
    folders down; symlinked folders are not entered, nor are folders named ``*.ipynb``."""
    found, stack = [], [(folder, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as exc:
            warn(f"warning: {here}: cannot be listed ({exc.strerror}): not searched")
            continue
        for e in entries:
            path = Path(e.path)
            if e.name.endswith(".ipynb"):
                found.append(path)
            elif e.is_symlink() and e.is_dir():
                warn(f"warning: {path} is a symlink to a folder: not followed")
            elif e.is_dir(follow_symlinks=False) and e.name not in _SKIP_DIRS:
                if depth + 1 < MAX_DEPTH:
                    stack.append((path, depth + 1))
                else:
                    warn(f"warning: {path}: more than {MAX_DEPTH} folders deep: not searched")
    return sorted(found)


def _owner_folder(path: Path, assignment: str) -> Path | None:
    """The folder a file given directly is named after (``None``: it is named by its stem)."""
    parent = path.parent
    if parent.name == assignment and parent.parent.name not in ("", "."):
        return parent.parent
    return parent if parent.name not in ("", ".") else None


def _name_direct_files(subs: list[Submission], assignment: str, warn) -> None:
    """Name files given directly after the folder right below the outermost class folder (a
    parent of any of their student folders) that holds them: Alice, who owns only ``alice/``,
    cannot make a file of hers be named otherwise, however she nests it."""
    owners = {sub.path: _owner_folder(sub.path, assignment) for sub in subs}
    roots = sorted({Path(os.path.abspath(f)).parent for f in owners.values() if f},
                   key=lambda r: len(r.parts))
    warned: set[Path] = set()
    for sub in subs:
        if owners[sub.path] is None:
            sub.student = sub.path.stem
            continue
        here = Path(os.path.abspath(sub.path))
        root = next(r for r in roots if here.is_relative_to(r))
        sub.student = (here.relative_to(root).parts or ("",))[0]  # "": "x/.." names no one
        if root != Path(os.path.abspath(owners[sub.path])).parent and root not in warned:
            warned.add(root)
            warn(f"warning: {sub.path} is named after the folder right below {root}, which "
                 "holds another given file's student folder (grade one class folder per run)")


def _clean_name(name: str, k: int) -> str:
    """``name`` as a CSV cell and one folder name (see the module's docstring)."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in name)
    name = name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore")
    if not name.strip() or name in (".", "..") or "/" in name:
        return f"student-{k}"
    return name


def _nesting(sub: Submission) -> tuple[int, str]:
    return len(Path(os.path.abspath(sub.path)).parts), str(sub.path)


def _number_duplicates(subs: list[Submission], warn) -> list[Submission]:
    """Distinct rows for one name: the least nested submission keeps it, the others get
    ``name#2``, ``name#3``, ... (``#`` is in no user name) and a warning. Past
    :data:`MAX_PER_STUDENT` of one name, one refused row stands for the rest."""
    counts = Counter(sub.student for sub in subs)
    seen: Counter[str] = Counter()
    dropped: set[int] = set()
    for sub in sorted(subs, key=_nesting):
        name = sub.student
        seen[name] += 1
        if seen[name] > MAX_PER_STUDENT + 1:
            dropped.add(id(sub))
            continue
        if seen[name] == 1:
            continue
        k = seen[name]
        while f"{name}#{k}" in counts:
            k += 1
        sub.student = f"{name}#{k}"
        counts[sub.student] = 1
        if seen[name] > MAX_PER_STUDENT:
            more = counts[name] - MAX_PER_STUDENT
            sub.refused = (f"not graded: {more} more notebook(s) are named {name!r}; at most "
                           f"{MAX_PER_STUDENT} are graded, and this row stands for the rest")
            warn(f"warning: {counts[name]} notebooks are named {name!r}: the {more} most nested "
                 f"are not graded (one row {sub.student!r}, 'unreadable')")
        else:
            warn(f"warning: {sub.path}: another submission is also named {name!r}; this row "
                 f"is {sub.student!r}")
    return [sub for sub in subs if id(sub) not in dropped]


def _own_files(folder: Path, notebook: Path, warn) -> dict[str, bytes]:
    files, total = {}, 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        p = Path(entry.path)
        if p == notebook or entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        if len(files) >= MAX_FILES or total + entry.stat(follow_symlinks=False).st_size \
                > MAX_FILES_BYTES:
            warn(f"warning: {folder}: more than {MAX_FILES} files or {MAX_FILES_BYTES} bytes; "
                 "the rest is not copied")
            break
        try:
            files[entry.name] = read_regular(p, MAX_FILES_BYTES)
            total += len(files[entry.name])
        except ValueError:
            continue
    return files


def collect(paths: list[str], assignment: str, warn=print) -> list[Submission]:
    """Submissions for the files and folders ``paths`` (as given), named (not read)."""
    subs: list[Submission] = []
    direct: list[Submission] = []
    for arg in paths:
        given = Path(arg)
        if given.is_dir() and not given.is_symlink() and not given.name.endswith(".ipynb"):
            for f in _walk(given, warn):
                rel = f.relative_to(given)
                nested = len(rel.parts) > 1
                subs.append(Submission(f, rel.parts[0] if nested else rel.stem,
                                       folder=f.parent if nested else None))
        else:
            direct.append(Submission(given, ""))
            subs.append(direct[-1])
    _name_direct_files(direct, assignment, warn)
    for k, sub in enumerate(subs, 1):
        sub.student = _clean_name(sub.student, k)
    return _number_duplicates(subs, warn)
