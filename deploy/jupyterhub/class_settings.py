"""The settings of one class on one JupyterHub: a JSON file written by ``setup_class.py`` and read
by ``class_config.py`` (the Hub) -- one home for the course id, the exchange and the groups.

Path: ``$NBKIT_CLASS_SETTINGS``, default ``/etc/nbkit/class.json``. Keys:

* ``course_id`` -- nbgrader's course id (also the exchange folder's name);
* ``exchange`` -- nbgrader's exchange root (mode 1777, the course folder inside it belongs to
  the course owner);
* ``course_dir`` -- the instructor's nbgrader course folder (a copy of this repository's
  ``nbgrader_config.py``, ``solutions/`` and ``exercises/``), mode 0700, inside the home of its
  owner, the instructor who releases, collects and grades;
* ``instructors_group``, ``students_group`` -- Unix groups: who is which (and who may log in);
* ``course_python`` -- the course environment's interpreter: users' servers and kernels run it.
"""

import json
import os
import sys

PATH_ENV = "NBKIT_CLASS_SETTINGS"
DEFAULT_PATH = "/etc/nbkit/class.json"
DEFAULTS = {
    "course_id": "nbkit-course",
    "exchange": "/srv/nbgrader/exchange",
    "course_dir": None,
    "instructors_group": "nbkit-instructors",
    "students_group": "nbkit-students",
    "course_python": sys.executable,
}


def path() -> str:
    return os.environ.get(PATH_ENV) or DEFAULT_PATH


def load(file: str | None = None) -> dict:
    """The settings, or a ``SystemExit`` saying how to create them."""
    file = file or path()
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise SystemExit(f"{file} not found: run deploy/jupyterhub/setup_class.py first "
                         f"(or point {PATH_ENV} at the class settings)") from None
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise SystemExit(f"{file}: unknown setting(s) {', '.join(unknown)}")
    settings = {**DEFAULTS, **data}
    if not settings["course_dir"]:
        raise SystemExit(f"{file}: course_dir is not set")
    return settings


def save(settings: dict, file: str | None = None) -> str:
    file = file or path()
    os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
    with open(file, "w", encoding="utf-8") as fh:
        json.dump(settings, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(file, 0o644)
    return file
