"""JupyterHub configuration of a class: roles, the course environment, nbgrader's exchange.

Load it from a Hub configuration (``jupyterhub_config.py`` here does; on The Littlest JupyterHub
put ``load_subconfig("/path/to/deploy/jupyterhub/class_config.py")`` in
``/opt/tljh/config/jupyterhub_config.d/nbkit.py``). It reads the class settings written by
``setup_class.py`` (:mod:`class_settings`) and sets

* JupyterHub groups ``instructors`` and ``students`` from the Unix groups of the settings
  (read when the Hub starts: restart it after changing the roster), and a role ``instructor``:
  the admin page, see every user and start/stop students' servers (not use them);
* every user's server and kernel: the course environment (``course_python``), JupyterLab, and on
  ``JUPYTER_CONFIG_PATH`` the role's settings in ``jupyter-config/``: students get the
  Assignments tab (fetch, submit, fetch feedback), instructors also formgrader with their
  course folder; everyone nbgrader's exchange with nbkit's stricter permissions.

Who is an instructor is decided when a server starts, from the Unix group, so a role change needs
only a server restart. Nothing here is a security boundary by itself: the file permissions of
homes (0700), the course folder (0700) and the exchange (see ``nbkit.grading.exchange``) are.
"""

import grp
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import class_settings  # noqa: E402

c = get_config()  # noqa: F821 - injected by traitlets
S = class_settings.load()


def members(group: str) -> list[str]:
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


c.JupyterHub.load_groups = {
    "instructors": {"users": members(S["instructors_group"])},
    "students": {"users": members(S["students_group"])},
}
c.JupyterHub.load_roles = [
    {"name": "instructor", "groups": ["instructors"],
     "scopes": ["admin-ui", "list:users", "read:users", "read:servers",
                "servers!group=students"]},
]

c.Spawner.cmd = [S["course_python"], "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"


def role_of(username: str) -> str:
    return "instructor" if username in members(S["instructors_group"]) else "student"


def class_environment(spawner) -> None:
    """Per-user environment of the server (a ``Spawner.pre_spawn_hook``)."""
    role = role_of(spawner.user.name)
    config = [os.path.join(HERE, "jupyter-config", role), os.path.join(HERE, "jupyter-config",
                                                                         "common")]
    spawner.environment.update({
        "JUPYTER_CONFIG_PATH": os.pathsep.join(config),
        "NBKIT_COURSE_ID": S["course_id"],
        "NBKIT_EXCHANGE": S["exchange"],
        "NBKIT_CLASS_ROLE": role,
        # the course environment's commands (nbgrader, nbkit, ...) first, in terminals too
        "PATH": os.pathsep.join([os.path.dirname(S["course_python"]),
                                 os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")]),
    })
    if role == "instructor":
        spawner.environment["NBKIT_COURSE_DIR"] = S["course_dir"]


c.Spawner.pre_spawn_hook = class_environment
