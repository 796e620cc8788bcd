"""The OS sandbox of every grading kernel (nbkit.grading.sandbox): what a kernel sees and can do.

Each probe runs cells in sandboxed kernels exactly as `nbkit grade` starts them and reports what
it found through the message of an exception it raises (captured by the grader)."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from normal_user import UID, needs_root, run_as_normal_user

from nbkit.grading.execute import run_cells
from nbkit.grading.grade import GradingRun
from nbkit.grading.sandbox import Sandbox, tree_limit_kind, unavailable_reason

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = "01_scalar_backprop"
AS_ROOT = os.geteuid() == 0

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"no sandbox here: {unavailable_reason()}")


def report(expr: str) -> str:
    """Cell source that raises with ``json.dumps(expr)`` as its message."""
    return f"import json as _j\nraise RuntimeError('RESULT:' + _j.dumps({expr}))"


def result(cell) -> object:
    evalue = (cell.error or {}).get("evalue", "")
    assert evalue.startswith("RESULT:"), cell
    return json.loads(evalue[len("RESULT:"):])


def probe(cells, *, timeout=20, memory_mb=None, files=None):
    """Run ``cells`` in sandboxed kernels of a grading run of the example assignment."""
    run = GradingRun(REPO, EXAMPLE, timeout=timeout, memory_mb=memory_mb)
    try:
        folder = Path(tempfile.mkdtemp(dir=run.base))
        for name, data in (files or {}).items():
            (folder / name).write_bytes(data)
            (folder / name).chmod(0o644)
        folder.chmod(0o755)
        return asyncio.run(run_cells(cells, run.launch(folder), timeout=timeout)), run
    finally:
        run.close()


def test_kernel_sees_only_its_own_sandbox():
    secret_env = "NBKIT_TEST_GRADER_SECRET"
    os.environ[secret_env] = "hunter2"
    try:
        res, run = probe([report('''{
            "uid": __import__("os").getuid(), "gid": __import__("os").getgid(),
            "groups": __import__("os").getgroups(),
            "root": sorted(__import__("os").listdir("/")),
            "pids": sorted(int(p) for p in __import__("os").listdir("/proc") if p.isdigit()),
            "env": sorted(__import__("os").environ),
            "cwd": __import__("os").getcwd(), "files": sorted(__import__("os").listdir(".")),
            "solutions": __import__("os").path.exists(SOLUTIONS),
            "repo_readme": __import__("os").path.exists(README),
            "shared": __import__("os").path.exists(SHARED),
            "caps": [l for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm",
                                                                        "NoNewPrivs"))],
        }'''.replace("SOLUTIONS", repr(str(REPO / "solutions")))
            .replace("README", repr(str(REPO / "README.md")))
            .replace("SHARED", repr(str(REPO.parent / "shared"))))],
            files={"notes.txt": b"mine"})
    finally:
        del os.environ[secret_env]
    info = result(res.cells[0])
    assert info["uid"] != os.getuid() or not AS_ROOT
    assert info["uid"] != 0 and info["gid"] != 0 and info["groups"] in ([], [info["gid"]])
    assert not info["solutions"] and not info["repo_readme"] and not info["shared"]
    # the OS folders, plus the first folder of each path the grader binds (wherever the checkout,
    # its venv and the grader's private folder happen to live on this machine)
    bound = {Path(p).parts[1] for p in [*run.layout.ro.values(), str(run.base)]}
    assert set(info["root"]) <= {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32",
                                 "nbkit", "proc", "root", "sbin", "tmp", "usr"} | bound
    assert len(info["pids"]) <= 4  # the namespace's init, the kernel (and sh)
    assert secret_env not in info["env"] and "NBKIT_GRADING" in info["env"]
    assert info["cwd"] == "/home/student/work" and info["files"] == ["notes.txt"]
    assert "CapEff:\t0000000000000000\n" in info["caps"] and "NoNewPrivs:\t1\n" in info["caps"]


def test_no_network_no_writes_outside_home_no_user_namespaces():
    res, _ = probe([report('''(lambda os, socket, subprocess: {
        "net": [__import__("errno").errorcode.get(e, e)
                for e in [socket.socket().connect_ex(("1.1.1.1", 53))]],
        "ifaces": sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys/class/net")
                  else [],
        "write_usr": subprocess.run(["touch", "/usr/x"], capture_output=True).returncode,
        "write_venv": subprocess.run(["touch", __import__("sys").prefix + "/x"],
                                     capture_output=True).returncode,
        "write_ipythondir": subprocess.run(["touch", os.environ["IPYTHONDIR"] + "/x"],
                                           capture_output=True).returncode,
        "write_home": subprocess.run(["touch", os.environ["HOME"] + "/x"],
                                     capture_output=True).returncode,
        "userns": subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode,
    })(__import__("os"), __import__("socket"), __import__("subprocess"))''')])
    info = result(res.cells[0])
    assert info["net"][0] in ("ENETUNREACH", "EHOSTUNREACH", "ECONNREFUSED"), info
    assert info["write_usr"] != 0 and info["write_venv"] != 0 and info["write_ipythondir"] != 0
    assert info["write_home"] == 0
    assert info["userns"] != 0


def test_a_restart_is_a_new_sandbox_and_startup_files_are_ignored():
    """Class 1: a submission plants IPython startup files and config wherever it can write,
    then hangs so that the grader restarts the kernel: the new kernel runs none of it, as a
    new unprivileged uid, with a fresh home and working folder."""
    plant = '''
import os, pathlib
body = "import builtins; builtins.PLANTED = True\\n"
written = []
for d in [os.environ["IPYTHONDIR"] + "/profile_default/startup",
          os.path.expanduser("~/.ipython/profile_default/startup"),
          os.path.expanduser("~/.local/lib/python3.11/site-packages"), "/tmp", "."]:
    try:
        pathlib.Path(d).mkdir(parents=True, exist_ok=True)
        for name in ("00-evil.py", "ipython_config.py", "ipython_kernel_config.py",
                     "evil.pth", "sitecustomize.py", "usercustomize.py"):
            (pathlib.Path(d) / name).write_text(
                body if not name.endswith(".pth") else "import builtins; builtins.PLANTED=1\\n")
        written.append(d)
    except OSError:
        pass
open(os.path.expanduser("~/marker"), "w").write("x")
open("marker", "w").write("x")
FIRST_UID = os.getuid()
'''
    hang = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    after = report('''{"planted": hasattr(__import__("builtins"), "PLANTED"),
        "home_marker": __import__("os").path.exists(__import__("os").path.expanduser(
            "~/marker")), "work_marker": __import__("os").path.exists("marker"),
        "uid": __import__("os").getuid(), "first_uid_known": "FIRST_UID" in globals()}''')
    uid_before = report('__import__("os").getuid()')
    res, _ = probe([plant, uid_before, hang, after], timeout=4)
    assert res.restarts == 1 and res.cells[2].status == "timeout"
    info = result(res.cells[3])
    assert info == {"planted": False, "home_marker": False, "work_marker": False,
                    "uid": info["uid"], "first_uid_known": False}
    assert info["uid"] != 0 and (info["uid"] != result(res.cells[1]) or not AS_ROOT)


def test_process_tree_memory_and_process_count_are_bounded():
    """Class 8: three children of 400 MB each cannot all live under a 1 GB limit; a fork bomb
    stops at the process cap; a full tmpfs is the kernel's own problem."""
    children = '''
import os, time, numpy as np
pids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            a = np.ones(int(0.4e9) // 8); a[:] = 2.0; time.sleep(3)
        except MemoryError:
            os._exit(3)
        os._exit(0)
    pids.append(pid)
STATUS = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
'''
    forks = '''
import os, time
n = 0
for _ in range(2000):
    try:
        if os.fork() == 0:
            time.sleep(10); os._exit(0)
        n += 1
    except OSError:
        break
FORKS = n
'''
    disk = '''
try:
    with open("/tmp/big", "wb") as fh:
        for _ in range(2000):
            fh.write(b"x" * 1_000_000)
    DISK = "full 2 GB"
except OSError as e:
    DISK = e.errno
'''
    res, _ = probe([children, forks, disk, report("[STATUS, FORKS, DISK]")], memory_mb=1024,
                   timeout=60)
    status, forks_made, disk_errno = result(res.cells[3])
    assert any(s != 0 for s in status), status  # OOM-killed (-9) or MemoryError (3)
    assert forks_made < 1000
    assert disk_errno == 28  # ENOSPC
    if tree_limit_kind() != "rlimits":
        assert forks_made <= 256


def test_nothing_outlives_the_kernel(tmp_path):
    """Class 6: a double-forked daemon that waits for the grader to finish dies with the
    sandbox (pid namespace + cgroup); no process of the sandbox's uid is left."""
    target = tmp_path / "grades.csv"
    target.write_text("honest\n")
    daemon = f'''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(2)
        for p in ({str(target)!r}, "/proc/1/root" + {str(target)!r}):
            try:
                open(p, "w").write("forged\\n")
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
'''
    res, _ = probe([daemon, report('__import__("os").getuid()')])
    uid = result(res.cells[1])
    time.sleep(3)
    assert target.read_text() == "honest\n"
    if AS_ROOT:
        assert uid not in _live_uids()


def _live_uids() -> set[int]:
    """Real uids of the host's processes that are not zombies."""
    uids = set()
    for p in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{p}/status").read_text() if p.isdigit() else ""
        except OSError:
            continue
        if status and "State:\tZ" not in status:
            uids.add(int(status.split("Uid:")[1].split()[0]))
    return uids


def test_kill_everything_kills_only_the_kernel():
    res, _ = probe(["import os, signal\nos.kill(-1, signal.SIGKILL)", "x = 1"])
    assert res.kernel_died or res.cells[0].status in ("error", "ok")
    assert os.getpid() > 0  # we are alive (the grader's process tree was out of reach)


def test_run_folder_symlinks_do_not_reach_the_host(tmp_path):
    """The kernel owns its run folder (ZMQ sockets): links it plants there are never
    followed by the grader, also not when a restart makes a new sandbox."""
    canary = tmp_path / "canary.txt"
    canary.write_text("intact")
    plant = f'''
import json, os
from ipykernel.connect import get_connection_file
conn = json.load(open(get_connection_file()))
run = os.path.dirname(conn["ip"])
for name in os.listdir(run):
    try:
        os.remove(os.path.join(run, name)) if name == "kernel.json" else None
    except OSError:
        pass
os.symlink({str(canary)!r}, os.path.join(run, "kernel.json"))
'''
    hang = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    res, _ = probe([plant, hang, "x = 1"], timeout=4)
    assert res.restarts == 1 and res.cells[2].status == "ok"
    assert canary.read_text() == "intact"


def test_every_sandbox_gets_its_own_identity():
    """Class 7: uids are drawn per sandbox and claimed, so two graders never share one."""
    run = GradingRun(REPO, EXAMPLE)
    try:
        folder = Path(tempfile.mkdtemp(dir=run.base))
        boxes = [Sandbox(run.base, run.layout, run.limits, submission=folder) for _ in range(20)]
        uids = {b.uid for b in boxes}
        cgroups = {tuple(b.cgroup.dirs) if b.cgroup else id(b) for b in boxes}
        for b in boxes:
            b.close()
    finally:
        run.close()
    if AS_ROOT:
        assert len(uids) == 20 and 0 not in uids and os.getuid() not in uids
    assert len(cgroups) == 20


def test_two_concurrent_graders_both_grade_correctly(tmp_path):
    """Class 7: two `nbkit grade` runs at once, each with a submission that kills every
    process it can reach: both runs finish and grade every honest submission correctly."""
    from nbkit.grading.notebooks import read_notebook, solution_path, write_notebook

    procs = []
    for a in (EXAMPLE, "02_activations"):
        nb = read_notebook(solution_path(REPO, a))
        subs = tmp_path / a
        for k in range(2):
            write_notebook(nb, subs / f"honest{k}" / f"{a}.ipynb")
        killer = read_notebook(solution_path(REPO, a))
        import nbformat

        killer.cells.insert(2, nbformat.v4.new_code_cell(
            "import os, signal, subprocess\n"
            "subprocess.run(['pkill', '-9', '-f', 'nbkit'])\n"
            "subprocess.run(['kill', '-9', '-1'])\nos.kill(-1, signal.SIGKILL)"))
        write_notebook(killer, subs / "killer" / f"{a}.ipynb")
        procs.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "nbkit"), "grade", a, str(subs), "--csv",
             str(tmp_path / f"{a}.csv"), "--jobs", "2", "--root", str(REPO)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    import csv

    for a, p in zip((EXAMPLE, "02_activations"), procs, strict=True):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        rows = {r["student"]: r for r in csv.DictReader((tmp_path / f"{a}.csv").open())}
        for k in range(2):
            r = rows[f"honest{k}"]
            assert r["status"] == "ok" and r["score"] == r["max_score"], (a, r)


NON_ROOT = r'''
probe = """
import json, os, socket, time
if os.fork() == 0:
    os.setsid()
    time.sleep(30)
    os._exit(0)
print(json.dumps({"uid": os.getuid(), "pids": len([p for p in os.listdir('/proc') if p.isdigit()]),
                  "repo": os.path.exists(%r), "net": socket.socket().connect_ex(("1.1.1.1", 53)),
                  "root": sorted(os.listdir("/"))}))
""" % sys.argv[1]
out = subprocess.run(box.command(["/usr/bin/python3", "-c", probe]), capture_output=True,
                     text=True, preexec_fn=box.preexec, timeout=60)
info = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
        else {"err": out.stderr})
info["cgroup"] = box.cgroup is not None
box.close()
time.sleep(1)
def alive(p):  # a zombie (already dead, not yet reaped by the host's init) does not count
    try:
        return "State:\tZ" not in open(f"/proc/{p}/status").read()
    except OSError:
        return False
info["left"] = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid())
                and alive(p) and os.stat(f"/proc/{p}").st_uid == os.getuid()]
print(json.dumps(info))
'''


@needs_root
def test_a_normal_user_gets_the_same_isolation():
    """Grading as a normal user: one unprivileged bwrap with a user namespace. The kernel keeps
    the user's uid but sees none of the user's files or processes, has no network, and nothing
    it starts survives it (no cgroup: rlimits and a process cap)."""
    info = json.loads(run_as_normal_user(NON_ROOT, REPO)[-1])
    assert "err" not in info, info
    assert info["uid"] == UID and info["pids"] <= 4 and not info["repo"]
    assert info["net"] != 0 and not info["cgroup"] and info["left"] == []
    assert REPO.parts[1] not in info["root"] and "root" not in info["root"]


@pytest.mark.skipif(not AS_ROOT, reason="the run folder is handed to root only when grading "
                                        "as root")
def test_the_kernel_cannot_fill_the_hosts_disk():
    """The run folder (ZMQ sockets) is the only host folder a kernel could write: once the
    sockets are bound it belongs to root; files anywhere are capped at the tmpfs size."""
    fill = report('''(lambda os: [
        (lambda d: [os.access(d, os.W_OK), sorted(os.listdir(d))])(os.path.dirname(
            __import__("json").load(open(__import__("ipykernel.connect", fromlist=["x"])
                                         .get_connection_file()))["ip"]))])(__import__("os"))''')
    res, _ = probe([fill])
    (writable, names), = result(res.cells[0])
    assert writable is False and "kernel.json" in names


@pytest.mark.skipif(not AS_ROOT, reason="the kernel only runs as another uid when grading as root")
def test_a_private_checkout_still_grades(tmp_path):
    """A course whose nbkit lives below a folder the sandbox's uid cannot enter (e.g. /root)
    grades: bwrap binds it as root and the kernel finds it on PYTHONPATH inside."""
    import csv
    import shutil

    from nbkit.grading.notebooks import read_notebook, solution_path, write_notebook

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    root = private / "course"
    shutil.copytree(REPO / "nbkit", root / "nbkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions" / EXAMPLE, root / "solutions" / EXAMPLE)
    write_notebook(read_notebook(solution_path(REPO, EXAMPLE)),
                   tmp_path / "subs" / "alice" / f"{EXAMPLE}.ipynb")
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            "repr(f).lower()]; root = sys.argv.pop(1); sys.path.insert(0, root); import nbkit; "
            "assert nbkit.__file__.startswith(root), nbkit.__file__; "
            "from nbkit.grading.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, str(root), "grade", EXAMPLE,
                           str(tmp_path / "subs"), "--root", str(root), "--csv",
                           str(tmp_path / "g.csv")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert (row["student"], row["score"], row["max_score"]) == ("alice", "6", "6"), row


def test_a_message_flood_stops_the_cell(monkeypatch):
    """Many tiny outputs cost the grader per message: past the cap the kernel is replaced."""
    from nbkit.grading import execute

    monkeypatch.setattr(execute, "MAX_MESSAGES", 500)
    flood = ("from IPython.display import publish_display_data\n"
             "for i in range(5000):\n    publish_display_data({'text/plain': str(i)})")
    res, _ = probe([flood, "x = 1"])
    assert res.cells[0].status == "error" and res.cells[0].error["ename"] == "OutputLimitError"
    assert res.restarts == 1 and res.cells[1].status == "ok"
