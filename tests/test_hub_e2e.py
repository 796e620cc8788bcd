"""A class on a real JupyterHub (deploy/jupyterhub/) from release to feedback, with nbkit grading.

The test creates one instructor and two student accounts (real Unix users, random names, removed
afterwards), sets the class up with ``deploy/jupyterhub/setup_class.py`` in a temporary folder
(exchange, course folder, class settings), starts ``deploy/jupyterhub/jupyterhub_config.py`` on
127.0.0.1 (free ports; configurable-http-proxy from npm; PAM; a server per user running as that
user) and drives every user through the Hub's REST API with their own token:

* the instructor generates and releases ``01_scalar_backprop`` through formgrader's API;
* each student fetches it through the Assignments API of their own server, fills it in through
  the contents API (alice correctly, bob partly wrong) and submits;
* bob also tries to cheat through the exchange: a later submission in alice's name, and one of
  his own that is a symlink to the instructor's solution;
* the instructor collects; ``nbkit grade`` (run as root, sandboxed) grades nbgrader's
  ``submitted/<student>/<assignment>/``; ``nbkit report --nbgrader-course`` (as the instructor)
  writes the class report, fills nbgrader's gradebook and lays out the feedback; the instructor
  releases it; each student fetches their own;
* every student's attempts to read the other's work fail with a real ``EACCES``.

Skipped, saying why, only where the Hub cannot run: not root, no ``configurable-http-proxy``
(``npm install -g configurable-http-proxy``), no ``jupyterhub`` (``pip install -e '.[hub]'``), or
no Python interpreter that an unprivileged account may run with this checkout's packages.
"""

from __future__ import annotations

import copy
import csv
import grp
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nbkit.grading.notebooks import grade_id, nbg, read_notebook, wrong_answer_notebook

pytestmark = [pytest.mark.slow, pytest.mark.hub]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "jupyterhub"
ASSIGNMENT = "01_scalar_backprop"
DEADLINE_S = 240  # the whole class, start to stop
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"

if os.geteuid() != 0:
    pytest.skip("the Hub test creates Unix accounts and runs servers as them: run it as root",
                allow_module_level=True)
if not shutil.which("configurable-http-proxy"):
    pytest.skip("configurable-http-proxy not found: npm install -g configurable-http-proxy",
                allow_module_level=True)
pytest.importorskip("jupyterhub", reason="jupyterhub not installed: pip install -e '.[hub]'")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def nbkit_grade(course_dir: Path, files: list[Path], out: Path) -> dict[str, Path]:
    """The one call of ``nbkit grade`` (its flags may change with the grader): grade ``files``
    of ASSIGNMENT; returns the CSV, JSON and feedback folder it wrote."""
    paths = {"csv": out / "grades.csv", "json": out / "grades.json", "feedback": out / "feedback"}
    cmd = [str(Path(sys.executable).parent / "nbkit"), "grade", ASSIGNMENT, *map(str, files),
           "--root", str(course_dir), "--jobs", "2", "--timeout", "60",
           "--csv", str(paths["csv"]), "--json", str(paths["json"]),
           "--feedback", str(paths["feedback"])]
    # sandbox uids of its own: other test files may be grading in the other pytest worker
    env = {**os.environ, "NBKIT_GRADE_UID_BASE": "62500"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=course_dir,
                          env=env)
    assert proc.returncode == 0, f"nbkit grade failed:\n{proc.stdout}\n{proc.stderr}"
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_user(user: str, *cmd: str, timeout: float = 120, check=True) -> str:
    """Run ``cmd`` as ``user`` (``runuser``, login environment, in their home)."""
    proc = subprocess.run([RUNUSER, "-u", user, "--", *cmd], capture_output=True, text=True,
                          timeout=timeout, cwd=pwd.getpwnam(user).pw_dir,
                          env={"PATH": "/usr/bin:/bin", "HOME": pwd.getpwnam(user).pw_dir,
                               "LANG": "C.UTF-8"})
    if check:
        assert proc.returncode == 0, f"{cmd} as {user}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def user_python(base: Path) -> str:
    """A Python with this checkout's packages that unprivileged accounts may run: this one, or a
    venv of the system's Python of the same version over our site-packages."""
    probe = "import nbkit, nbgrader, jupyterhub, jupyterlab"
    if subprocess.run([RUNUSER, "-u", "nobody", "--", sys.executable, "-c", probe],
                      capture_output=True).returncode == 0:
        return sys.executable
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}",
                          path="/usr/bin:/usr/local/bin")
    if not system:
        pytest.skip(f"{sys.executable} is not executable by other users and there is no system "
                    f"python{sys.version_info.major}.{sys.version_info.minor} to stand in")
    env = base / "course-env"
    subprocess.run([system, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    own_site = next(env.glob("lib/python*/site-packages"))
    (own_site / "nbkit-course.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    for sub in ("share/jupyter", "etc/jupyter"):  # lab extensions and server extensions
        if (Path(sys.prefix) / sub).is_dir():
            (env / sub).parent.mkdir(parents=True, exist_ok=True)
            (env / sub).symlink_to(Path(sys.prefix) / sub)
    python = str(env / "bin" / "python")
    shebang = f"#!{Path(sys.prefix) / 'bin' / 'python'}".encode()
    for script in (Path(sys.prefix) / "bin").iterdir():  # console scripts: nbgrader, alembic...
        target = env / "bin" / script.name
        if script.is_file() and not target.exists():
            text = script.read_bytes()
            if text.startswith(shebang + b"\n") or text.startswith(shebang + b"3"):
                target.write_bytes(b"#!" + python.encode() + text[text.index(b"\n"):])
                target.chmod(0o755)
    probe_run = subprocess.run([RUNUSER, "-u", "nobody", "--", python, "-c", probe],
                               capture_output=True, text=True)
    if probe_run.returncode != 0:
        pytest.skip(f"no Python with nbkit that other accounts may run: {probe_run.stderr[-300:]}")
    return python


class Hub:
    """A JupyterHub of our own; users act through their own API tokens."""

    def __init__(self, url: str, admin_token: str):
        self.url, self.admin_token, self.tokens = url, admin_token, {}

    def call(self, method, path, token=None, body=None, expect=(200, 201, 202, 204)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {token or self.admin_token}",
            "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        if expect is not None:
            assert status in ((expect,) if isinstance(expect, int) else expect), \
                f"{method} {path}: HTTP {status}: {text[:2000]}"
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def as_(self, user, method, path, body=None, expect=(200, 201, 202, 204)):
        return self.call(method, f"/user/{user}{path}", self.tokens[user], body, expect)[1]

    def start_servers(self, users, timeout=90):
        with ThreadPoolExecutor(len(users)) as pool:
            list(pool.map(lambda u: self.call("POST", f"/hub/api/users/{u}/server"), users))
        deadline = time.monotonic() + timeout
        for u in users:
            while not self.call("GET", f"/hub/api/users/{u}")[1]["servers"].get(
                    "", {}).get("ready"):
                assert time.monotonic() < deadline, f"{u}'s server did not start in {timeout} s"
                time.sleep(0.3)
            self.tokens[u] = self.call("POST", f"/hub/api/users/{u}/tokens",
                                       body={"note": "e2e", "expires_in": 900})[1]["token"]


def kernel_python(user: str, timeout: float = 30) -> str:
    """The interpreter (``argv[0]``) of ``user``'s running ipykernel process."""
    uid, deadline = pwd.getpwnam(user).pw_uid, time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and proc.stat().st_uid == uid:
                    argv = (proc / "cmdline").read_bytes().decode().split("\0")
                    if "ipykernel_launcher" in argv:
                        return argv[0]
            except OSError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no kernel process of {user} within {timeout} s")


def fill_in(fetched: dict, source, *, wrong: bool) -> dict:
    """The fetched student notebook with its solution cells written from the solution (or from
    its plausible wrong answers)."""
    answers = wrong_answer_notebook(source) if wrong else source
    by_id = {grade_id(c): c.source for c in answers.cells if nbg(c).get("solution")}
    nb = copy.deepcopy(fetched)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and gid in by_id:
            cell["source"] = by_id[gid]
    return nb


PROBE = r"""
import errno, json, os, sys
out = {}
for what, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.isdir(path) and what.startswith("list"):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        out[what] = "ok"
    except OSError as exc:
        out[what] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(out))
"""


def try_read(user: str, paths: dict[str, Path]) -> dict[str, str]:
    """As ``user``: ``{what: "ok" | errno name}`` for reading (or listing) each path."""
    return json.loads(as_user(user, "/usr/bin/python3", "-c", PROBE,
                              json.dumps({k: str(v) for k, v in paths.items()})))


def pam_login(url: str, user: str, password: str) -> int:
    """Log in through the Hub's login form; the HTTP status of the answer (302: logged in)."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{url}/hub/login", timeout=30).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password,
                                   "_xsrf": xsrf}).encode()
    try:
        return opener.open(f"{url}/hub/login?next=", data=form, timeout=30).status
    except urllib.error.HTTPError as exc:
        return exc.code


# --------------------------------------------------------------------------------------------
# the class
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def klass():
    tag = secrets.token_hex(3)
    users = {"instructor": f"nbk{tag}i", "alice": f"nbk{tag}a", "bob": f"nbk{tag}b"}
    groups = (f"nbk{tag}-staff", f"nbk{tag}-class")
    base = Path(tempfile.mkdtemp(prefix="nbkit-hub-"))
    base.chmod(0o755)
    hub_proc = log = None
    try:
        python = user_python(base)
        settings = base / "class.json"
        subprocess.run([sys.executable, str(DEPLOY / "setup_class.py"),
                        "--course-id", f"nbkit-{tag}", "--exchange", str(base / "exchange"),
                        "--instructor", users["instructor"],
                        "--students", f"{users['alice']},{users['bob']}",
                        "--instructors-group", groups[0], "--students-group", groups[1],
                        "--create-users", "--course-from", str(REPO),
                        "--course-python", python, "--settings", str(settings)],
                       check=True, capture_output=True, timeout=60)
        passwords = {u: secrets.token_urlsafe(12) for u in users.values()}
        subprocess.run(["chpasswd"], input="".join(f"{u}:{p}\n" for u, p in passwords.items()),
                       text=True, check=True)
        state = base / "hub"
        state.mkdir(mode=0o700)
        port, token = free_port(), secrets.token_hex(32)
        (state / "test_config.py").write_text(f"""
load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{state}/proxy.pid"
c.JupyterHub.services = [{{"name": "e2e-driver", "api_token": "{token}"}}]
c.JupyterHub.load_roles.append({{"name": "e2e-driver", "services": ["e2e-driver"],
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]}})
""")
        log = (state / "hub.log").open("wb")
        hub_proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(state / "test_config.py")],
            cwd=state, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "NBKIT_CLASS_SETTINGS": str(settings)})
        hub = Hub(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 60
        while True:
            assert hub_proc.poll() is None, \
                "JupyterHub exited:\n" + (state / "hub.log").read_text()[-3000:]
            try:
                if hub.call("GET", "/hub/api/", expect=None)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "JupyterHub did not answer within 60 s"
            time.sleep(0.3)
        yield {"hub": hub, "users": users, "passwords": passwords, "base": base,
               "settings": json.loads(settings.read_text()), "log": state / "hub.log"}
    finally:
        if hub_proc is not None:
            hub_proc.terminate()  # the Hub stops the users' servers and the proxy
            try:
                hub_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hub_proc.kill()
                hub_proc.wait(timeout=10)
        if log:
            log.close()
        for name in users.values():
            try:
                uid = pwd.getpwnam(name).pw_uid
            except KeyError:
                continue
            subprocess.run(["kill", "-9", "-1"], user=uid, group=uid, extra_groups=[],
                           capture_output=True, cwd="/")  # only this test's accounts' processes
            subprocess.run(["userdel", "-r", name], capture_output=True)
        for g in groups:
            try:
                grp.getgrnam(g)
                subprocess.run(["groupdel", g], capture_output=True)
            except KeyError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def test_class_from_release_to_feedback(klass):
    t0 = time.monotonic()
    hub, u, settings = klass["hub"], klass["users"], klass["settings"]
    instructor, alice, bob = u["instructor"], u["alice"], u["bob"]
    course = Path(settings["course_dir"])
    exchange = Path(settings["exchange"]) / settings["course_id"]
    hub.start_servers([instructor, alice, bob])

    # --- roles: formgrader for the instructor only; the course environment as the kernel
    assert hub.as_(instructor, "GET", "/formgrader/api/status")["status"] is True
    hub.as_(alice, "GET", "/formgrader/api/status", expect=404)
    kernel = hub.as_(alice, "POST", "/api/kernels", {"name": "python3"})
    assert kernel_python(alice) == settings["course_python"]
    hub.as_(alice, "DELETE", f"/api/kernels/{kernel['id']}")
    # --- the Hub keeps users apart: alice's token cannot reach bob's server
    hub.call("GET", f"/user/{bob}/api/contents", hub.tokens[alice], expect=403)
    hub.call("GET", "/hub/api/users", hub.tokens[alice], expect=403)
    listed = {x["name"] for x in hub.call("GET", "/hub/api/users", hub.tokens[instructor])[1]}
    assert listed == {instructor, alice, bob}

    # --- instructor: generate (fills the gradebook) and release through formgrader
    for step in ("assign", "release"):
        res = hub.as_(instructor, "POST", f"/formgrader/api/assignment/{ASSIGNMENT}/{step}")
        assert res["success"], json.dumps(res, indent=1)[-5000:]
    assert (exchange / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    # --- students: fetch, fill in (alice right, bob partly wrong), submit
    source = read_notebook(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nb_path = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    ids = {"course_id": settings["course_id"], "assignment_id": ASSIGNMENT}
    for student, wrong in ((alice, False), (bob, True)):
        hub.as_(student, "POST", "/assignments/fetch", ids)
        fetched = hub.as_(student, "GET", f"/api/contents/{nb_path}?content=1")["content"]
        assert "### BEGIN SOLUTION" not in json.dumps(fetched)
        hub.as_(student, "PUT", f"/api/contents/{nb_path}",
                {"type": "notebook", "format": "json",
                 "content": fill_in(fetched, source, wrong=wrong)})
        res = hub.as_(student, "POST", "/assignments/submit", ids)
        assert not (isinstance(res, dict) and res.get("success") is False), res
    inbound = sorted(p.name for p in (exchange / "inbound").iterdir())
    submission = {s: exchange / "inbound" / next(n for n in inbound if n.startswith(s + "+"))
                  for s in (alice, bob)}

    # --- bob cheats through the exchange: a later submission in alice's name (the released,
    #     empty notebook) and one of his own that is a symlink to the solution
    later = "2999-01-01 00:00:00.000000 UTC"
    forged = exchange / "inbound" / f"{alice}+{ASSIGNMENT}+{later}+forged"
    linked = exchange / "inbound" / f"{bob}+{ASSIGNMENT}+{later}+linked"
    as_user(bob, "/usr/bin/python3", "-c", f"""
import os, shutil
os.mkdir({str(forged)!r})
shutil.copy({str(exchange / 'outbound' / ASSIGNMENT / f'{ASSIGNMENT}.ipynb')!r}, {str(forged)!r})
open(os.path.join({str(forged)!r}, "timestamp.txt"), "w").write({later!r})
os.mkdir({str(linked)!r})
os.symlink({str(course / 'solutions' / ASSIGNMENT / f'{ASSIGNMENT}.ipynb')!r},
           os.path.join({str(linked)!r}, "{ASSIGNMENT}.ipynb"))
open(os.path.join({str(linked)!r}, "timestamp.txt"), "w").write({later!r})
""")

    # --- instructor: collect; grade nbgrader's layout with nbkit; report + gradebook + feedback
    res = hub.as_(instructor, "POST", f"/formgrader/api/assignment/{ASSIGNMENT}/collect")
    assert res["success"], json.dumps(res, indent=1)[-5000:]
    assert "Not collecting" in res["log"] and "forged" in res["log"] and "linked" in res["log"]
    submitted = course / "grading" / "submitted"
    files = sorted(submitted.glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"))
    assert [f.parts[-3] for f in files] == sorted([alice, bob])
    for s in (alice, bob):
        assert (submitted / s / ASSIGNMENT / "timestamp.txt").read_text() != later
    out = course / "grading" / "nbkit" / ASSIGNMENT
    graded = nbkit_grade(course, files, out)
    subprocess.run(["chown", "-R", f"{instructor}:", str(course / "grading" / "nbkit")],
                   check=True)
    rows = {r["student"]: r for r in csv.DictReader(graded["csv"].open())}
    top = float(rows[alice]["max_score"])
    assert rows[alice]["status"] == rows[bob]["status"] == "ok"
    assert float(rows[alice]["score"]) == top and 0 < float(rows[bob]["score"]) < top, rows
    as_user(instructor, settings["course_python"], "-m", "nbkit.grading.cli", "report",
            str(graded["csv"]), str(graded["json"]), "--out", str(out / "report"),
            "--root", str(course), "--nbgrader-course", str(course),
            "--feedback", str(graded["feedback"]))
    lms = list(csv.reader((out / "report" / f"{ASSIGNMENT}_lms.csv").open()))
    assert lms == [["student", "total"], *sorted([s, rows[s]["score"]] for s in (alice, bob))]
    assert "data:image/png;base64," in (out / "report" / f"{ASSIGNMENT}_report.html").read_text()
    subs = hub.as_(instructor, "GET", f"/formgrader/api/submissions/{ASSIGNMENT}")
    gradebook = {s["student"]: s["score"] for s in subs}
    assert gradebook == {s: float(rows[s]["score"]) for s in (alice, bob)}
    res = hub.as_(instructor, "POST", f"/formgrader/api/assignment/{ASSIGNMENT}/release_feedback")
    assert res["success"], json.dumps(res, indent=1)[-5000:]

    # --- students fetch their own feedback
    pages = {}
    for student in (alice, bob):
        hub.as_(student, "POST", "/assignments/fetch_feedback", ids)
        (stamp,) = hub.as_(student, "GET", f"/api/contents/{ASSIGNMENT}/feedback")["content"]
        page_path = urllib.parse.quote(f"{stamp['path']}/{ASSIGNMENT}.html")
        page = hub.as_(student, "GET", f"/api/contents/{page_path}?type=file&format=text"
                       )["content"]
        assert f"Student: <b>{student}</b>" in page
        score = rows[student]["score"]
        assert f"<b>{score} / {rows[student]['max_score']}</b>" in page
        pages[student] = page
    released = sorted((exchange / "feedback").iterdir())
    assert len(released) == 2

    # --- neither student can read the other's work: real EACCES from the kernel
    for me, other in ((alice, bob), (bob, alice)):
        other_page = next(p for p in released if other in p.read_text())
        got = try_read(me, {
            "list inbound": exchange / "inbound",
            "list released feedback": exchange / "feedback",
            "other's submission": submission[other] / f"{ASSIGNMENT}.ipynb",
            "other's submission secret": submission[other] / "submission_secret.txt",
            "other's released feedback page": other_page,
            "other's home": Path(pwd.getpwnam(other).pw_dir) / nb_path,
            "collected submission": submitted / other / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
            "course solutions": course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
        })
        assert got == dict.fromkeys(got, "EACCES"), (me, got)
        mine = try_read(me, {"own released feedback page": next(
            p for p in released if me in p.read_text())})
        assert mine == {"own released feedback page": "ok"}

    # --- roles at the Hub: the instructor may stop a student's server, a student may not
    hub.call("DELETE", f"/hub/api/users/{alice}/server", hub.tokens[bob], expect=(403, 404))
    hub.call("DELETE", f"/hub/api/users/{alice}/server", hub.tokens[instructor])
    # --- and people log in with their Unix password (PAM), only with the right one
    assert pam_login(hub.url, bob, klass["passwords"][bob]) == 302
    assert pam_login(hub.url, bob, "wrong-" + klass["passwords"][bob]) == 403
    assert time.monotonic() - t0 < DEADLINE_S
