"""Run a notebook's code cells in a fresh kernel, one by one, never raising for cell errors.

:func:`run_cells` talks the Jupyter protocol itself (``jupyter_client``), so it keeps only what
grading needs from each cell: its status (``ok``, ``error``, ``timeout``, ``not_run`` after the
kernel died, ``skipped`` for markdown/raw/empty cells), its error (exception type, message,
traceback; capped) and the records of :mod:`nbkit.grading.checks` it published (at most
:data:`MAX_RECORDS` per cell, :data:`MAX_RECORD_BYTES` for the whole notebook). Messages are
taken only from the reply to the grader's own request for that cell. Other outputs are not kept;
a cell whose output exceeds :data:`MAX_OUTPUT_BYTES` or :data:`MAX_MESSAGES` messages is stopped
like a cell that hangs, and no single message larger than :data:`MAX_OUTPUT_BYTES` is ever
received (ZMQ drops it before the grader holds it in memory).

A cell that exceeds ``timeout`` seconds is interrupted (an ``interrupt_request`` message); if it
still does not finish, the kernel is killed and a **new** kernel is started for the next cells:
with a :class:`Launch` that makes sandboxes, a new sandbox (new uid, folders and cgroup).

Kernels talk over ZMQ's ipc transport in a private run folder (so a kernel without a network
namespace works, and no port on the host is opened).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from .checks import RECORD_MIMETYPE
from .sandbox import Limits, Sandbox, set_rlimits

DEFAULT_TIMEOUT = 60
STARTUP_TIMEOUT = 120
INTERRUPT_GRACE = 10
MAX_RECORDS = 1000
MAX_RECORD_BYTES = 32_000_000
MAX_OUTPUT_BYTES = 64_000_000
MAX_MESSAGES = 200_000
KERNEL_ARGV = [sys.executable, "-s", "-P", "-m", "ipykernel_launcher", "-f",
               "{connection_file}", "--HistoryManager.enabled=False"]


@dataclass
class CellRun:
    """What happened to one cell: ``status`` in ok/error/timeout/not_run/skipped."""

    index: int
    status: str = "skipped"
    error: dict | None = None  # {"ename", "evalue", "traceback": [str]}
    records: list = field(default_factory=list)  # record payloads (dicts) in emission order


@dataclass
class NotebookRun:
    cells: list[CellRun]
    kernel_died: bool = False
    timed_out: bool = False
    restarts: int = 0
    message: str = ""
    record_bytes: int = 0  # records kept so far, all cells together (<= MAX_RECORD_BYTES)


@dataclass
class Launch:
    """How to start a kernel. ``sandbox``: makes a new :class:`Sandbox` for every start (then
    ``env`` and ``cwd`` are ignored: the sandbox sets both); else the kernel runs directly in
    ``cwd`` with ``env`` and, if given, the rlimits of ``limits``."""

    env: dict = field(default_factory=dict)
    cwd: str | None = None
    sandbox: Callable[[], Sandbox] | None = None
    limits: Limits | None = None


def kernel_env(extra: dict | None = None) -> dict:
    """Environment of a kernel that is not sandboxed: the caller's, single-threaded BLAS,
    headless matplotlib, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBKIT_GRADING")}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.update(extra or {})
    return env


class _Manager(AsyncKernelManager):
    """Kernel manager whose kernel command runs inside ``self.sandbox`` (if set)."""

    sandbox: Sandbox | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.sandbox.command(cmd) if self.sandbox is not None else cmd

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.sandbox is not None:  # readable by the sandbox's uid, writable by nobody else
            os.chmod(self.connection_file, 0o644)


class Kernel:
    """A started kernel: manager, client and (maybe) its sandbox and run folder."""

    def __init__(self, km: _Manager, run_dir: Path, own_dir: bool):
        self.km, self.run_dir, self._own_dir = km, run_dir, own_dir
        self.kc = None

    @classmethod
    async def start(cls, launch: Launch) -> Kernel:
        sandbox = launch.sandbox() if launch.sandbox is not None else None
        run_dir = sandbox.run_dir if sandbox else Path(tempfile.mkdtemp(prefix="nbkit-run-"))
        km = _Manager(transport="ipc", ip=str(run_dir / "k"),
                      connection_file=str(run_dir / "kernel.json"))
        km._kernel_spec = KernelSpec(argv=KERNEL_ARGV, language="python",
                                     display_name="nbkit grading kernel",
                                     interrupt_mode="message")
        km.sandbox = sandbox
        if sandbox is not None:
            kwargs = {"env": {"PATH": "/usr/bin:/bin"}, "cwd": str(run_dir),
                      "preexec_fn": sandbox.preexec}
        else:
            limits = launch.limits
            kwargs = {"env": launch.env, "cwd": launch.cwd or str(run_dir)}
            if limits is not None:
                kwargs["preexec_fn"] = lambda: set_rlimits(limits)
        kernel = cls(km, run_dir, own_dir=sandbox is None)
        try:
            await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, **kwargs)
            kernel.kc = km.client()
            # sockets made from now on refuse oversized messages (before they are in memory)
            kernel.kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_OUTPUT_BYTES)
            kernel.kc.start_channels()
            await kernel.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
            if sandbox is not None:
                sandbox.seal()
        except BaseException:
            await kernel.close()
            raise
        return kernel

    async def close(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        except Exception:  # noqa: BLE001 - closing must not fail
            pass
        try:
            if self.km.has_kernel:
                await self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001
            pass
        finally:
            if self.km.sandbox is not None:
                self.km.sandbox.close()
            if self._own_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)


def _error(ename: str, evalue: str, traceback=()) -> dict:
    tb = [str(t)[:2000] for t in list(traceback)[-30:]]
    return {"ename": str(ename)[:200], "evalue": str(evalue)[:4000], "traceback": tb}


def _size(data) -> int:
    if isinstance(data, str):
        return len(data)
    if isinstance(data, dict):
        return sum(_size(k) + _size(v) for k, v in data.items())
    if isinstance(data, list):
        return sum(_size(v) for v in data)
    return 8


class _Collector:
    """Keeps the records and the error of one cell from its iopub messages; ``notebook``
    carries the record budget shared by all cells of the run."""

    def __init__(self, run: CellRun, notebook: NotebookRun):
        self.run, self.notebook, self.output_bytes, self.messages = run, notebook, 0, 0
        self.idle = False

    def __call__(self, msg: dict) -> None:
        kind, content = msg["header"]["msg_type"], msg.get("content") or {}
        size = _size(content)
        self.output_bytes += size
        self.messages += 1
        if kind == "status":
            self.idle = content.get("execution_state") == "idle"
        elif kind in ("display_data", "execute_result", "update_display_data"):
            payload = (content.get("data") or {}).get(RECORD_MIMETYPE)
            if isinstance(payload, dict) and len(self.run.records) < MAX_RECORDS \
                    and self.notebook.record_bytes + size <= MAX_RECORD_BYTES:
                self.notebook.record_bytes += size
                self.run.records.append(payload)
        elif kind == "error" and self.run.error is None:
            self.run.error = _error(content.get("ename", ""), content.get("evalue", ""),
                                    content.get("traceback") or [])


async def _await_reply(kernel: Kernel, msg_id: str, deadline: float,
                       collect: _Collector) -> str | dict:
    """The reply content for ``msg_id`` once the kernel is idle, or ``"timeout"``, ``"dead"``,
    ``"flood"``."""
    poller = zmq.asyncio.Poller()
    iopub, shell = kernel.kc.iopub_channel.socket, kernel.kc.shell_channel.socket
    poller.register(iopub, zmq.POLLIN)
    poller.register(shell, zmq.POLLIN)
    reply = None
    while reply is None or not collect.idle:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        events = dict(await poller.poll(int(1000 * min(left, 1.0))))
        if not events:
            if not await kernel.km.is_alive():
                return "dead"
            continue
        if iopub in events:
            msg = await kernel.kc.iopub_channel.get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") == msg_id:
                collect(msg)
                if collect.output_bytes > MAX_OUTPUT_BYTES or collect.messages > MAX_MESSAGES:
                    return "flood"
        if shell in events:
            msg = await kernel.kc.shell_channel.get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg.get("content") or {}
    return reply


async def _run_cell(kernel: Kernel, source: str, run: CellRun, timeout: float,
                    notebook: NotebookRun) -> str:
    """Execute one cell; sets ``run``; returns ``"ok"``, ``"restart"`` (kill the kernel and
    start a new one) or ``"dead"``."""
    collect = _Collector(run, notebook)
    msg_id = kernel.kc.execute(source, store_history=False, allow_stdin=False,
                               stop_on_error=False)
    reply = await _await_reply(kernel, msg_id, time.monotonic() + timeout, collect)
    if reply == "timeout":
        run.status = "timeout"
        run.error = _error("CellTimeoutError", f"cell execution exceeded {timeout:g} s")
        await kernel.km.interrupt_kernel()
        after = await _await_reply(kernel, msg_id, time.monotonic() + INTERRUPT_GRACE, collect)
        return "ok" if isinstance(after, dict) else ("dead" if after == "dead" else "restart")
    if reply == "flood":
        run.status = "error"
        run.error = _error("OutputLimitError",
                           f"the cell printed more than {MAX_OUTPUT_BYTES} bytes")
        return "restart"
    if reply == "dead":
        run.status = "error"
        run.error = run.error or _error("DeadKernelError", "the kernel died")
        return "dead"
    if reply.get("status") == "ok":
        run.status = "ok"
    else:
        run.status = "error"
        run.error = run.error or _error(reply.get("ename", "Error"), reply.get("evalue", ""),
                                        reply.get("traceback") or [])
    return "ok"


async def run_cells(sources: list[str | None], launch: Launch, *,
                    timeout: float = DEFAULT_TIMEOUT, wall: float | None = None) -> NotebookRun:
    """Run every non-empty source (``None``: not a code cell) in order in a fresh kernel.

    ``timeout``: seconds per cell; ``wall``: seconds for the whole run (cells left when it is
    over are ``not_run``). A kernel that dies leaves the later cells ``not_run``.
    """
    t0 = time.monotonic()
    result = NotebookRun(cells=[CellRun(index=i) for i in range(len(sources))])
    todo = [i for i, s in enumerate(sources) if s is not None and s.strip()]
    for i in todo:
        result.cells[i].status = "not_run"
    kernel = None
    try:
        kernel = await Kernel.start(launch)
        for i in todo:
            run = result.cells[i]
            left = timeout if wall is None else min(timeout, wall - (time.monotonic() - t0))
            if left <= 0:
                result.message = f"the notebook exceeded its {wall:g} s limit"
                result.timed_out = True
                break
            outcome = await _run_cell(kernel, sources[i], run, left, result)
            result.timed_out |= run.status == "timeout"
            if outcome == "dead":
                result.kernel_died = True
                result.message = f"the kernel died while running cell {i}"
                break
            if outcome == "restart":
                await kernel.close()
                kernel = None
                result.restarts += 1
                kernel = await Kernel.start(launch)
    except Exception as exc:  # noqa: BLE001 - e.g. a kernel that does not start
        result.kernel_died = True
        result.message = result.message or f"{type(exc).__name__}: {exc}"[:1000]
    finally:
        if kernel is not None:
            await kernel.close()
    return result


def run_notebook(nb, *, timeout: float = DEFAULT_TIMEOUT) -> NotebookRun:
    """Run the code cells of ``nb`` (not modified) in a plain, unsandboxed kernel in a
    temporary folder (trusted notebooks: ``nbkit release`` and tests); see :func:`run_cells`."""
    sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
    with tempfile.TemporaryDirectory(prefix="nbkit-cwd-") as tmp:
        return asyncio.run(run_cells(sources, Launch(env=kernel_env(), cwd=tmp), timeout=timeout))
