"""An OS sandbox for one grading kernel, made with bubblewrap (``bwrap``).

Every kernel gets its own pid, network, ipc, uts, mount and (where the kernel allows it) user
and cgroup namespaces, and sees only::

    /usr, /bin, /lib*            read-only (the OS)
    <python>, <venv>             read-only (the interpreter and its packages)
    <nbkit package>              read-only, a staged copy (see nbkit.grading.references)
    <declared data files>        read-only (``NBKIT_DATA`` files an assignment declares)
    /nbkit/submission            read-only: the files the kernel starts with
    /nbkit/heldout               read-only: held-out images, without labels
    /nbkit/ipython               read-only and empty: IPYTHONDIR (no startup files or config)
    <run folder>                 host side: the kernel's ZMQ ipc sockets; writable until they
                                 are bound (as root; see :meth:`Sandbox.seal`)
    /home/student, /tmp          private tmpfs; the working folder is a fresh copy of
                                 /nbkit/submission in /home/student/work

No network (talk is over ZMQ's ipc transport in the run folder), no other submission, no
solution, no grader file or process. Privileges are dropped before the interpreter starts:

* grading as root, ``bwrap`` runs privileged (it can bind the interpreter even when it lives
  below ``/root``) and hands over to ``setpriv``, which becomes a fresh unprivileged uid drawn at
  random for this sandbox (no capabilities, no supplementary groups, no_new_privs); a second,
  unprivileged ``bwrap`` then adds a user namespace in which no further namespaces can be made;
* grading as a normal user, one unprivileged ``bwrap`` does all of this with a user namespace
  (the kernel keeps the grader's uid, but sees nothing of the grader).

Limits: the whole process tree is bounded in memory and processes by a cgroup when one can be
made (v2, or v1 ``memory`` + ``pids``, below the grader's own cgroup), and always by rlimits
(address space and CPU time per process, no core dumps; a process cap as a normal user without
a cgroup). The tree dies with its pid namespace when ``bwrap`` dies (``--die-with-parent``), and
:meth:`Sandbox.close` kills whatever is left in the cgroup. A restart is a new :class:`Sandbox`.
"""

from __future__ import annotations

import functools
import os
import pwd
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HOME = "/home/student"
WORK = f"{HOME}/work"
SUBMISSION = "/nbkit/submission"
HELDOUT = "/nbkit/heldout"
IPYTHONDIR = "/nbkit/ipython"
UID_RANGE = (1 << 20, (1 << 31) - (1 << 20))
_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
_ETC = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf")
#: host folders every sandbox sees (with the interpreter's); nothing secret may live there
OS_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says what is missing."""


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. ``memory_mb``: the whole process tree (cgroup) and each process
    (address space); ``processes``: tasks (threads count); ``cpu_seconds``: per process;
    ``tmpfs_mb``: size of each private tmpfs (home, /tmp)."""

    memory_mb: int = 2048
    processes: int = 256
    cpu_seconds: int | None = None
    tmpfs_mb: int = 512


@dataclass
class Layout:
    """What a sandbox shows: ``ro`` maps host paths to sandbox paths (read-only),
    ``env`` is the kernel's whole environment (nothing else is inherited)."""

    ro: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------------
def _uids_in_use() -> set[int]:
    used = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("Uid:"):
                            used.update(int(u) for u in line.split()[1:])
                            break
            except OSError:
                continue
    return used


def _claim_uid() -> tuple[int, Path]:
    """A random uid no process and no user has, claimed by an atomic ``mkdir`` (root only)."""
    registry = Path(tempfile.gettempdir()) / "nbkit-sandbox-uids"
    try:
        registry.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(registry)
    if not (os.path.isdir(registry) and not os.path.islink(registry) and st.st_uid == 0):
        raise SandboxUnavailable(f"{registry} is not a folder owned by root")
    used = _uids_in_use()
    for _ in range(100):
        uid = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0]
        if uid in used:
            continue
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        marker = registry / str(uid)
        try:
            marker.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return uid, marker
    raise SandboxUnavailable("could not find a free uid for the sandbox")


# --------------------------------------------------------------------------------------------
# cgroups
# --------------------------------------------------------------------------------------------
def _cgroup_mounts() -> dict[str, str]:
    """``{"unified" | controller: mount point}`` from /proc/self/mountinfo."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fstype, _source, *opts = right.split()
        mount_point = left.split()[4]
        if fstype == "cgroup2":
            out.setdefault("unified", mount_point)
        elif fstype == "cgroup" and opts:
            for opt in opts[0].split(","):
                if opt in ("memory", "pids"):
                    out.setdefault(opt, mount_point)
    return out


def _own_cgroups() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            out["unified"] = path
        for c in controllers.split(","):
            if c in ("memory", "pids"):
                out[c] = path
    return out


class Cgroup:
    """A cgroup bounding one sandbox's process tree (v2, else v1 memory + pids)."""

    def __init__(self, dirs: list[Path], version: int):
        self.dirs, self.version = dirs, version

    @classmethod
    def create(cls, name: str, limits: Limits) -> Cgroup | None:
        """A new child of the grader's own cgroup(s), or ``None`` if none can be made here."""
        mounts, own = _cgroup_mounts(), _own_cgroups()
        memory = str(limits.memory_mb * 1024 * 1024)
        if "unified" in mounts and "unified" in own:
            parent = Path(mounts["unified"] + own["unified"])
            try:
                enabled = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                enabled = []
            if {"memory", "pids"} <= set(enabled):
                group = cls._mkdir(parent / name)
                if group and cls._write(group, {"memory.max": memory, "memory.swap.max": "0",
                                                "pids.max": str(limits.processes)}):
                    return cls([group], 2)
                cls([group], 2).close() if group else None
        if "memory" in mounts and "pids" in mounts:
            made = []
            for ctl, files in (("memory", {"memory.limit_in_bytes": memory}),
                               ("pids", {"pids.max": str(limits.processes)})):
                group = cls._mkdir(Path(mounts[ctl] + own.get(ctl, "/")) / name)
                if group is None or not cls._write(group, files):
                    cls(made + ([group] if group else []), 1).close()
                    return None
                made.append(group)
            swap = made[0] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                cls._write(made[0], {swap.name: memory})
            return cls(made, 1)
        return None

    @staticmethod
    def _mkdir(path: Path) -> Path | None:
        try:
            path.mkdir()
            return path
        except OSError:
            return None

    @staticmethod
    def _write(group: Path, files: dict[str, str]) -> bool:
        try:
            for name, value in files.items():
                (group / name).write_text(value)
            return True
        except OSError:
            return False

    def join_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return out

    def close(self) -> None:
        """Kill every process left in the cgroup, then remove it."""
        if self.version == 2 and self.dirs:
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# the sandbox
# --------------------------------------------------------------------------------------------
def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _os_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in OS_PATHS[1:]:
        p = Path(name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for f in _ETC:
        args += ["--ro-bind-try", f, f]
    return args


class Sandbox:
    """Host-side state of one sandbox (folders, uid, cgroup) and its ``bwrap`` command line.

    ``base``: a private (mode 700) folder of the grader; ``submission``: host folder whose files
    the kernel starts with (copied into its private working folder); ``heldout``: host folder of
    held-out images or ``None``.
    """

    def __init__(self, base: Path, layout: Layout, limits: Limits, *, submission: Path,
                 heldout: Path | None = None):
        self.limits, self.layout = limits, layout
        self.root_mode = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="sb-", dir=base))
        self.run_dir = self.dir / "run"
        self.run_dir.mkdir(mode=0o700)
        self.submission, self.heldout = submission, heldout
        self.uid, self._marker = _claim_uid() if self.root_mode else (os.getuid(), None)
        if self.root_mode:
            os.chown(self.run_dir, self.uid, self.uid)
        self.cgroup = Cgroup.create(f"nbkit-{self.dir.name}-{secrets.token_hex(4)}", limits)
        self.etc = self.dir / "etc"
        self.etc.mkdir()
        (self.etc / "passwd").write_text(f"student:x:{self.uid}:{self.uid}:student:{HOME}:"
                                         "/usr/sbin/nologin\n")
        (self.etc / "group").write_text(f"student:x:{self.uid}:\n")
        self.empty = self.dir / "empty"
        (self.empty / "profile_default").mkdir(parents=True)

    def command(self, argv: list[str]) -> list[str]:
        """The ``bwrap`` command line that runs ``argv`` (absolute paths) in this sandbox."""
        tmpfs = str(self.limits.tmpfs_mb * 1024 * 1024)
        inner = ["/bin/sh", "-c", f'cp -R {SUBMISSION}/. {WORK}/ && cd {WORK} && exec "$@"',
                 "nbkit-kernel", *argv]
        ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent", "--new-session",
              "--hostname", "nbkit-sandbox"]
        mounts = [(str(src), dest) for src, dest in self.layout.ro.items()]
        mounts += [(str(self.submission), SUBMISSION), (str(self.empty), IPYTHONDIR)]
        if self.heldout is not None:
            mounts.append((str(self.heldout), HELDOUT))
        binds = [*ns, "--perms", "1777", "--size", tmpfs, "--tmpfs", "/tmp"]
        dirs: set[str] = {"/tmp"}
        for dest in ["/etc/x", "/home/x", *(d for _, d in mounts), str(self.run_dir)]:
            for parent in _parents(dest):
                if parent not in dirs and parent != "/usr":
                    dirs.add(parent)
                    binds += ["--perms", "0755", "--dir", parent]
        binds += _os_binds()
        for src, dest in mounts:
            binds += ["--ro-bind", src, dest]
        binds += ["--ro-bind", str(self.etc / "passwd"), "/etc/passwd",
                  "--ro-bind", str(self.etc / "group"), "/etc/group"]
        binds += ["--bind", str(self.run_dir), str(self.run_dir),
                  "--proc", "/proc", "--dev", "/dev",
                  "--perms", "1777", "--size", tmpfs, "--tmpfs", HOME,
                  "--perms", "1777", "--dir", WORK,
                  "--remount-ro", "/", "--chdir", HOME, "--clearenv"]
        for key, value in sorted(self.layout.env.items()):
            binds += ["--setenv", key, value]
        binds += ["--setenv", "HOME", HOME, "--setenv", "IPYTHONDIR", IPYTHONDIR,
                  "--setenv", "USER", "student", "--setenv", "LOGNAME", "student",
                  "--setenv", "TMPDIR", "/tmp"]
        bwrap, setpriv = shutil.which("bwrap") or "bwrap", shutil.which("setpriv") or "setpriv"
        if not self.root_mode:
            return [bwrap, "--unshare-user", "--disable-userns", *binds, "--", *inner]
        caps = [a for c in _CAPS for a in ("--cap-add", c)]
        drop = [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        userns = [bwrap, "--unshare-user", "--disable-userns", "--die-with-parent", "--bind", "/",
                  "/", "--"]
        return [bwrap, *binds, *caps, "--", *drop, *userns, *inner]

    def seal(self) -> None:
        """Once the kernel has bound its sockets, take the run folder (the only host folder it
        could write) away from it, so it can no longer create, replace or grow anything there:
        as root, hand the folder to root; as a normal user (the kernel has our uid), move its
        entries to a new folder, remove the old one (which also detaches the sandbox's bind of
        it) and leave a symlink to the new one for the grader's own paths."""
        if self.root_mode:
            os.chown(self.run_dir, 0, 0)
            os.chmod(self.run_dir, 0o755)
            return
        sealed = self.dir / "run-sealed"
        sealed.mkdir(mode=0o700)
        for name in os.listdir(self.run_dir):
            os.rename(self.run_dir / name, sealed / name)
        os.rmdir(self.run_dir)
        os.symlink(sealed.name, self.run_dir)

    def preexec(self) -> None:
        """Runs in the forked child before ``bwrap`` starts: join the cgroup, set rlimits."""
        for procs in self.cgroup.join_files() if self.cgroup else []:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
        set_rlimits(self.limits, cap_processes=not self.root_mode and self.cgroup is None)

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._marker is not None:
            try:
                self._marker.rmdir()
            except OSError:
                pass


def set_rlimits(limits: Limits, cap_processes: bool = False) -> None:
    """Address space and CPU time per process, file size at most a tmpfs, no core dumps; with
    ``cap_processes`` also at most ``limits.processes`` more processes of this uid than it runs
    now."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = limits.tmpfs_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    if limits.cpu_seconds:
        cpu = int(limits.cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if cap_processes:
        n = len(os.listdir(f"/proc/{os.getpid()}/task")) + limits.processes
        n += sum(1 for p in os.listdir("/proc") if p.isdigit() and _owned(p))
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def _owned(pid: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# can a sandbox be made here?
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """``None`` if sandboxes work here, else what is missing (for ``nbkit grade``'s refusal)."""
    if not sys.platform.startswith("linux"):
        return "sandboxed grading needs Linux (bubblewrap)"
    missing = [t for t in ("bwrap", "setpriv") if shutil.which(t) is None
               and (t == "bwrap" or os.geteuid() == 0)]
    if missing:
        return (f"{' and '.join(missing)} not found: install bubblewrap "
                "(`apt-get install bubblewrap`; setpriv is in util-linux)")
    base = Path(tempfile.mkdtemp(prefix="nbkit-probe-"))
    sandbox = None
    try:
        (base / "sub").mkdir()
        sandbox = Sandbox(base, Layout(), Limits(memory_mb=256, processes=64),
                          submission=base / "sub")
        proc = subprocess.run(sandbox.command(["/bin/true"]), capture_output=True, text=True,
                              timeout=30, preexec_fn=sandbox.preexec, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            why = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            return (f"bubblewrap cannot make a sandbox here ({why[0]}); unprivileged user "
                    "namespaces must be enabled (sysctl kernel.unprivileged_userns_clone=1, "
                    "user.max_user_namespaces > 0)")
    except (OSError, SandboxUnavailable, subprocess.SubprocessError) as exc:
        return f"bubblewrap cannot make a sandbox here: {exc}"
    finally:
        if sandbox is not None:
            sandbox.close()
        shutil.rmtree(base, ignore_errors=True)
    return None


def tree_limit_kind() -> str:
    """How process trees are bounded here: ``"cgroup v2"``, ``"cgroup v1"`` or ``"rlimits"``."""
    group = Cgroup.create(f"nbkit-probe-{secrets.token_hex(4)}", Limits(memory_mb=64))
    if group is None:
        return "rlimits"
    group.close()
    return f"cgroup v{group.version}"
