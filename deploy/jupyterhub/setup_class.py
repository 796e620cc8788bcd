#!/usr/bin/env python3
"""Set up a class on one server (run as root; idempotent): accounts, groups, exchange, course.

    sudo python3 deploy/jupyterhub/setup_class.py --course-id ml101 \\
        --instructor alice --students bob,carol --create-users \\
        --course-from /srv/nbkit-course --course-python /opt/nbkit-course/bin/python

1. Unix groups ``--instructors-group`` and ``--students-group``; every named account is put in
   its group (``--create-users`` creates missing accounts, with a locked password: set one with
   ``passwd``); every class member's home becomes mode 0700.
2. The exchange root ``--exchange`` (root-owned, mode 1777: anyone may create entries, nobody can
   rename another's) and in it the course folder owned by the instructor, with nbgrader's
   ``outbound`` (0755), ``inbound`` (2733 in the instructors' group: students can write, not
   list; submissions inherit the group) and ``feedback`` (0711: not listable).
3. The course folder ``--course-dir`` (default ``~<instructor>/<course-id>``), mode 0700, owned by
   the instructor: copied from the checkout ``--course-from`` (``nbgrader_config.py``,
   ``solutions/``, ``exercises/``) unless it exists.
4. The class settings (``$NBKIT_CLASS_SETTINGS`` or ``--settings``, default
   ``/etc/nbkit/class.json``) that the Hub's ``class_config.py`` reads.
"""

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import class_settings  # noqa: E402

COURSE_FILES = ("nbgrader_config.py", "solutions", "exercises")


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def ensure_group(name: str) -> int:
    run("groupadd", "-f", name)
    return grp.getgrnam(name).gr_gid


def ensure_user(name: str, group: str, create: bool) -> pwd.struct_passwd:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        if not create:
            raise SystemExit(f"no account {name!r}: create it or pass --create-users") from None
        run("useradd", "--create-home", "--shell", "/bin/bash", name)
        pw = pwd.getpwnam(name)
    run("usermod", "-a", "-G", group, name)
    os.chmod(pw.pw_dir, 0o700)
    return pw


def ensure_dir(path: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    os.makedirs(path, exist_ok=True)
    if os.path.islink(path):
        raise SystemExit(f"{path} is a symlink: remove it")
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def setup_exchange(root: str, course_id: str, owner: pwd.struct_passwd, group_gid: int) -> None:
    ensure_dir(root, 0o1777)
    course = os.path.join(root, course_id)
    ensure_dir(course, 0o755, owner.pw_uid, owner.pw_gid)
    ensure_dir(os.path.join(course, "outbound"), 0o755, owner.pw_uid, owner.pw_gid)
    ensure_dir(os.path.join(course, "inbound"), 0o2733, owner.pw_uid, group_gid)
    ensure_dir(os.path.join(course, "feedback"), 0o711, owner.pw_uid, owner.pw_gid)


def setup_course_dir(course_dir: str, source: str | None, owner: pwd.struct_passwd) -> None:
    if not os.path.isdir(course_dir):
        if not source:
            raise SystemExit(f"{course_dir} does not exist: pass --course-from CHECKOUT")
        os.makedirs(course_dir)
        for name in COURSE_FILES:
            src = os.path.join(source, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(course_dir, name),
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints",
                                                              "__pycache__"))
            elif os.path.isfile(src):
                shutil.copy2(src, os.path.join(course_dir, name))
    for dirpath, dirnames, filenames in os.walk(course_dir):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
            os.lchown(name, owner.pw_uid, owner.pw_gid)
    os.chmod(course_dir, 0o700)
    solutions = os.path.join(course_dir, "solutions")
    if os.path.isdir(solutions):
        run("chmod", "-R", "go-rwx", solutions)


def parse_args(argv=None):
    d = class_settings.DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--course-id", default=d["course_id"])
    p.add_argument("--exchange", default=d["exchange"])
    p.add_argument("--instructor", required=True,
                   help="the account that owns the course folder (releases, collects, grades)")
    p.add_argument("--instructors", default="", help="more instructors, comma-separated")
    p.add_argument("--students", default="", help="student accounts, comma-separated")
    p.add_argument("--instructors-group", default=d["instructors_group"])
    p.add_argument("--students-group", default=d["students_group"])
    p.add_argument("--create-users", action="store_true", help="create missing accounts")
    p.add_argument("--course-dir", help="default: ~INSTRUCTOR/COURSE_ID")
    p.add_argument("--course-from", help="course checkout to copy the course folder from")
    p.add_argument("--course-python", default=d["course_python"],
                   help="the course environment's python (users' servers and kernels)")
    p.add_argument("--settings", default=class_settings.path())
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run setup_class.py as root")
    igid = ensure_group(a.instructors_group)
    ensure_group(a.students_group)
    names = lambda s: [n for n in s.split(",") if n]  # noqa: E731
    owner = ensure_user(a.instructor, a.instructors_group, a.create_users)
    for name in names(a.instructors):
        ensure_user(name, a.instructors_group, a.create_users)
    for name in names(a.students):
        ensure_user(name, a.students_group, a.create_users)
    course_dir = a.course_dir or os.path.join(owner.pw_dir, a.course_id)
    setup_exchange(a.exchange, a.course_id, owner, igid)
    setup_course_dir(course_dir, a.course_from, owner)
    file = class_settings.save({
        "course_id": a.course_id, "exchange": os.path.abspath(a.exchange),
        "course_dir": os.path.abspath(course_dir), "instructors_group": a.instructors_group,
        "students_group": a.students_group, "course_python": a.course_python}, a.settings)
    print(f"class {a.course_id}: course folder {course_dir}, exchange {a.exchange}, "
          f"settings {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
