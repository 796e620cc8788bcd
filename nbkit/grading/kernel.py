"""Kernel launcher for the grader: resource limits, an output cap, then a normal IPython kernel.

Run as ``python -m nbkit.grading.kernel [--memory-mb N] [--stream-cap CHARS] -f CONNECTION_FILE``
(the grader writes a kernelspec with this command line). ``--memory-mb`` sets ``RLIMIT_AS`` so a
memory blow-up raises ``MemoryError`` in (or kills) only this kernel; core dumps are disabled;
``--stream-cap`` caps the characters each of stdout/stderr forwards to the notebook (the grader
caps outputs again on its side, this just keeps a 100 MB print from crossing the socket).

``--sandbox-uid UID`` (the launcher must run as root): once the kernel is initialised (connection
file read, sockets bound) and before it runs any cell, drop to uid and gid ``UID`` with no
supplementary groups and at most 512 processes. The interpreter's own files may live in a
directory that uid cannot traverse (e.g. a pyenv Python under ``/root``): directories of the
interpreter are opened before dropping and ``sys.path`` / packages' ``__path__`` entries below
them are redirected through ``/proc/self/fd/N``, so later ``import``s of the standard library
still work (this grants nothing beyond reading those already world-readable files).
"""

from __future__ import annotations

import os
import sys

STREAM_CAP_ENV = "NBKIT_KERNEL_STREAM_CAP"

try:  # ipykernel is always present where the grader runs; stay importable without it
    from ipykernel.iostream import OutStream
except ImportError:  # pragma: no cover
    OutStream = object  # type: ignore[assignment,misc]


class CappedOutStream(OutStream):  # type: ignore[misc,valid-type]
    """ipykernel ``OutStream`` that forwards at most ``NBKIT_KERNEL_STREAM_CAP`` characters."""

    _nbkit_written = 0
    _nbkit_truncated = False

    def write(self, string):  # noqa: D401 - same contract as OutStream.write
        if not isinstance(string, str):
            return super().write(string)
        cap = int(os.environ.get(STREAM_CAP_ENV, "0") or 0)
        if cap <= 0:
            return super().write(string)
        room = cap - self._nbkit_written
        if room > 0:
            part = string[:room]
            self._nbkit_written += len(part)
            super().write(part)
        if len(string) > max(room, 0) and not self._nbkit_truncated:
            self._nbkit_truncated = True
            super().write(f"\n[nbkit: output truncated after {cap} characters]\n")
        return len(string)


def _set_limits(memory_mb: int | None) -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if memory_mb:
        limit = int(memory_mb) * 1024 * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _remap_paths(old: str, new: str) -> None:
    def fix(p):
        return new + p[len(old):] if isinstance(p, str) and (p == old or p.startswith(old + "/")) \
            else p

    sys.path[:] = [fix(p) for p in sys.path]
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__path__", None)
        if isinstance(path, list):
            path[:] = [fix(p) for p in path]
    sys.path_importer_cache.clear()


def drop_privileges(uid: int) -> None:
    """Become ``uid``/``uid`` (no supplementary groups, RLIMIT_NPROC 512); needs root."""
    import resource

    import nbkit  # its folder may sit in a checkout under a directory uid cannot traverse

    prefixes = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix,
                                                      sys.prefix, os.path.dirname(nbkit.__file__))})
    fds = {}
    for p in prefixes:
        try:
            fds[p] = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            pass
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))
    except (ValueError, OSError):
        pass
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("nbkit kernel: could not drop privileges")
    for p, fd in fds.items():
        if os.access(p, os.R_OK | os.X_OK):
            os.close(fd)
            continue
        _remap_paths(p, f"/proc/self/fd/{fd}")
        for q in (os.path.abspath(x) for x in (sys.base_prefix, sys.prefix)):
            if q != p and os.path.realpath(q) == p:
                _remap_paths(q, f"/proc/self/fd/{fd}")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    memory_mb = None
    sandbox_uid = None
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--memory-mb":
            memory_mb = int(args[i + 1])
            i += 2
            continue
        if a.startswith("--memory-mb="):
            memory_mb = int(a.split("=", 1)[1])
        elif a == "--stream-cap":
            os.environ[STREAM_CAP_ENV] = str(int(args[i + 1]))
            i += 2
            continue
        elif a == "--sandbox-uid":
            sandbox_uid = int(args[i + 1])
            i += 2
            continue
        elif a.startswith("--stream-cap="):
            os.environ[STREAM_CAP_ENV] = str(int(a.split("=", 1)[1]))
        else:
            rest.append(a)
        i += 1
    _set_limits(memory_mb)
    if sys.path and (sys.path[0] in ("", os.getcwd())):
        del sys.path[0]
    outstream = "--IPKernelApp.outstream_class=nbkit.grading.kernel.CappedOutStream"
    sys.argv = [sys.argv[0], *rest, outstream]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    if sandbox_uid is not None:
        drop_privileges(sandbox_uid)
    app.start()


if __name__ == "__main__":
    main()
