"""nbgrader's file exchange with permissions that keep students out of each other's work.

nbgrader's default exchange (``<exchange>/<course>/{outbound,inbound,feedback}``) hides
submissions and feedback only by unlistable folders and unguessable names: a submission's files
are world-readable (mode 0644 in a 0777 folder) and so is every feedback page; and ``nbgrader
collect`` only *warns* when a submission's owner is not the student it names, then collects it.
These subclasses (enable them in ``nbgrader_config.py``, see ``deploy/jupyterhub/``)::

    c.ExchangeFactory.submit = "nbkit.grading.exchange.ExchangeSubmit"
    c.ExchangeFactory.collect = "nbkit.grading.exchange.ExchangeCollect"
    c.ExchangeFactory.release_feedback = "nbkit.grading.exchange.ExchangeReleaseFeedback"

* :class:`ExchangeSubmit`: a submission's files and folders carry a POSIX ACL that lets only
  their owner and the group of ``inbound/`` (the instructors' group) in: other students get
  ``EACCES`` even if they learn its name. (Group ownership cannot do it: a student may not give
  files to a group they are not in, and ``copytree`` drops the set-gid bit it would inherit.)
* :class:`ExchangeCollect`: takes per student the latest submission that is a real folder (not a
  symlink) owned by that student's account and holds only regular files and folders; anything
  else (``nbgrader submit --student=someone-else``, a symlink to the instructor's files, a FIFO)
  is skipped with an error in the log. Files are copied without following symlinks.
* :class:`ExchangeReleaseFeedback`: every released page is mode 0600 plus a POSIX ACL entry that
  lets exactly its student's account read it (``u:<student>:r``); where the file system has no
  ACLs it falls back to nbgrader's world-readable page with a warning.

The exchange root should be mode 1777 (sticky: no student can rename the course folder away) and
``<course>/`` created by the instructor before the class starts (``setup_class.py``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import struct

from nbgrader.exchange.default.collect import ExchangeCollect as _Collect
from nbgrader.exchange.default.release_feedback import (
    ExchangeReleaseFeedback as _ReleaseFeedback,
)
from nbgrader.exchange.default.submit import ExchangeSubmit as _Submit
from nbgrader.utils import ignore_patterns, notebook_hash
from traitlets import Bool, Dict, Int, Unicode
from traitlets.config import LoggingConfigurable


class ExchangeSubmit(_Submit):
    """Submissions readable by their owner and the instructors' group (of ``inbound/``) only."""

    def set_perms(self, dest, fileperms, dirperms):
        gid = os.stat(self.inbound_path).st_gid
        try:
            for dirpath, dirnames, filenames in os.walk(dest):
                for name in filenames:
                    set_acl(os.path.join(dirpath, name), owner=6, groups={gid: 4})
                for name in [*dirnames, ""]:
                    set_acl(os.path.join(dirpath, name), owner=7, groups={gid: 5})
        except OSError as exc:
            self.log.warning("No POSIX ACLs (%s): this submission is readable by anyone who "
                             "learns its name, as with nbgrader's default exchange", exc)
            super().set_perms(dest, fileperms, dirperms)

    def copy_files(self):
        super().copy_files()  # its last step opens the top folder to everyone (0777) ...
        top = os.path.join(self.inbound_path, self.assignment_filename)
        try:  # ... so that instructors may delete it: the instructors' group alone may
            set_acl(top, owner=7, groups={os.stat(self.inbound_path).st_gid: 7})
        except OSError:
            pass


class _Accounts(LoggingConfigurable):
    uids = Dict(
        key_trait=Unicode(), value_trait=Int(),
        help="Student id -> uid, for accounts that are not in the passwd database (e.g. each "
             "user's container on Kubernetes running with its own uid); others are looked up "
             "with pwd.").tag(config=True)

    def uid_of(self, student: str) -> int | None:
        if student in self.uids:
            return self.uids[student]
        try:
            return pwd.getpwnam(student).pw_uid
        except KeyError:
            return None


def untrusted_reason(path: str, uid: int | None) -> str | None:
    """Why the inbound submission ``path`` must not be collected as that of the student with
    ``uid`` (``None``: unknown account), else ``None``."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot stat it ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder (a symlink?)"
    if uid is None:
        return "the student it names has no account here"
    if st.st_uid != uid:
        return f"it belongs to uid {st.st_uid}, not to the student it names (uid {uid})"
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                return f"{os.path.relpath(os.path.join(dirpath, name), path)} is not a regular file"
    return None


class ExchangeCollect(_Collect, _Accounts):
    """Collect only submissions that really come from the student they name."""

    strict_owner = Bool(
        True, help="Skip (not just warn about) submissions not owned by the student they name, "
                   "symlinks and special files. Turn off only where every student has the same "
                   "uid (e.g. containers on a shared volume).").tag(config=True)

    def _path_to_record(self, path):
        rec = super()._path_to_record(path)
        rec["untrusted"] = (untrusted_reason(path, self.uid_of(rec["username"]))
                            if self.strict_owner else None)
        if rec["untrusted"]:
            self.log.error("Not collecting %s: %s", rec["filename"], rec["untrusted"])
        return rec

    def _sort_by_timestamp(self, records):
        # trusted submissions first, each group newest first: the one picked per student is the
        # newest trusted one whenever there is one
        return sorted(records, key=lambda r: (r.get("untrusted") is None, r["timestamp"]),
                      reverse=True)

    def copy_files(self):
        self.src_records = [r for r in self.src_records if not r.get("untrusted")]
        super().copy_files()

    def do_copy(self, src, dest, log=None):
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"submission {src} is larger than {self.coursedir.max_dir_size} kB")
        shutil.copytree(src, dest, symlinks=True,
                        ignore=ignore_patterns(exclude=self.coursedir.ignore,
                                               include=self.coursedir.include,
                                               max_file_size=self.coursedir.max_file_size,
                                               log=self.log))
        for dirpath, dirnames, filenames in os.walk(dest):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    self.log.error("Removed symlink %s from a collected submission", p)
                    os.unlink(p)


_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20)
_ACL_NO_ID = 0xFFFFFFFF


def set_acl(path: str, *, owner: int, users: dict | None = None,
            groups: dict | None = None) -> None:
    """Replace ``path``'s permissions by a POSIX ACL (Linux ``system.posix_acl_access``): the
    owner gets ``owner`` (rwx bits, e.g. 6), each ``{uid: bits}`` of ``users`` and ``{gid: bits}``
    of ``groups`` theirs; the owning group and everyone else nothing. Raises ``OSError`` where
    the file system has no ACLs."""
    users, groups = users or {}, groups or {}
    mask = 0
    for bits in [*users.values(), *groups.values()]:
        mask |= bits
    os.chmod(path, (owner << 6) | (mask << 3))
    entries = [(_ACL_USER_OBJ, owner, _ACL_NO_ID),
               *((_ACL_USER, b, uid) for uid, b in sorted(users.items())),
               (_ACL_GROUP_OBJ, 0, _ACL_NO_ID),
               *((_ACL_GROUP, b, gid) for gid, b in sorted(groups.items())),
               (_ACL_MASK, mask, _ACL_NO_ID), (_ACL_OTHER, 0, _ACL_NO_ID)]
    value = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    os.setxattr(path, "system.posix_acl_access", value, follow_symlinks=False)


class ExchangeReleaseFeedback(_ReleaseFeedback, _Accounts):
    """Released feedback pages readable by their own student only."""

    def copy_files(self):
        super().copy_files()
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = self.coursedir.format_path(self.coursedir.feedback_directory,
                                             self.coursedir.student_id or "*",
                                             self.coursedir.assignment_id)
        for folder in sorted(glob.glob(pattern)):
            student = os.path.basename(os.path.dirname(folder))
            secret_file = os.path.join(folder, "submission_secret.txt")
            if student in exclude or not os.path.isfile(secret_file):
                continue
            with open(secret_file) as fh:
                secret = fh.read()
            for page in glob.glob(os.path.join(folder, "*.html")):
                notebook_id = os.path.splitext(os.path.basename(page))[0]
                released = os.path.join(self.dest_path, notebook_hash(
                    secret=secret, notebook_id=notebook_id) + ".html")
                self._restrict(released, student)

    def _restrict(self, path: str, student: str) -> None:
        try:
            uid = self.uid_of(student)
            if uid is None:
                raise OSError(f"no account {student!r}")
            set_acl(path, owner=6, users={uid: 4})
        except OSError as exc:
            os.chmod(path, 0o644)
            self.log.warning("Feedback %s is readable by anyone who knows its name (could not "
                             "restrict it to %s: %s)", path, student, exc)
