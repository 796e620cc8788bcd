"""Execute a notebook in a fresh, resource-limited kernel, cell by cell, never raising.

:func:`run_notebook` is used both by ``nbkit release`` (to find the cells of an exercise that raise)
and by ``nbkit grade`` (to run solutions and submissions). It returns one :class:`CellRun` per cell:
``status`` is ``"ok"``, ``"error"``, ``"timeout"``, ``"not_run"`` (kernel died earlier) or
``"skipped"`` (markdown/raw/empty), and the ``records`` (see :mod:`nbkit.grading.checks`) the
cell emitted, captured when each output message arrives (later ``clear_output`` or display
updates cannot alter them).

Safety: the kernel is launched by :mod:`nbkit.grading.kernel` with ``RLIMIT_AS`` (``memory_mb``);
each cell has a timeout after which the kernel is interrupted (and restarted if the interrupt does
not stop it); outputs are capped per cell (``output_cap`` characters, at most ``max_records``
records of at most 1 MB each), so neither an endless print loop nor a 100 MB string reaches the
saved notebook. With ``sandbox_uid`` (grader running as root) the kernel runs its cells as that
unprivileged uid (see :mod:`nbkit.grading.kernel`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from .checks import RECORD_MIMETYPE

KERNEL_NAME = "nbkit-grader"
TIMEOUT_ENAME = "CellTimeoutError"
DEFAULT_TIMEOUT = 60
DEFAULT_MEMORY_MB = 2048
DEFAULT_OUTPUT_CAP = 200_000
MAX_RECORDS_PER_CELL = 1000
MAX_RECORD_CHARS = 1_000_000
MAX_TRACEBACK_LINES = 60


@dataclass
class CellRun:
    """What happened to one cell: ``status`` in ok/error/timeout/not_run/skipped."""

    index: int
    status: str = "skipped"
    error: dict | None = None  # {"ename", "evalue", "traceback": [str]}
    records: list = field(default_factory=list)  # record payloads (dicts) in emission order


@dataclass
class NotebookRun:
    nb: nbformat.NotebookNode
    cells: list[CellRun]
    kernel_died: bool = False
    timed_out: bool = False
    message: str = ""


def _write_kernelspec(root: Path, memory_mb: int | None, stream_cap: int,
                      sandbox_uid: int | None = None) -> Path:
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "nbkit.grading.kernel"]
    if memory_mb:
        argv += ["--memory-mb", str(int(memory_mb))]
    if stream_cap:
        argv += ["--stream-cap", str(int(stream_cap))]
    if sandbox_uid is not None:
        argv += ["--sandbox-uid", str(int(sandbox_uid)), "--HistoryManager.hist_file=:memory:"]
    argv += ["-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "nbkit grader (Python)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root / "kernels"


def _size(data) -> int:
    if isinstance(data, str):
        return len(data)
    if isinstance(data, list):
        return sum(_size(d) for d in data)
    if isinstance(data, dict):
        return sum(_size(v) for v in data.values())
    return 8


class GradingClient(NotebookClient):
    """``NotebookClient`` that captures records and caps outputs as they arrive."""

    def __init__(self, *args, output_cap: int = DEFAULT_OUTPUT_CAP, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_cap = output_cap
        self.cell_records: dict[int, list] = {}
        self._cell_chars: dict[int, int] = {}
        self._truncated: set[int] = set()

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        content = msg.get("content", {})
        if msg_type in ("display_data", "execute_result"):
            data = content.get("data") or {}
            if RECORD_MIMETYPE in data:
                recs = self.cell_records.setdefault(cell_index, [])
                payload = data[RECORD_MIMETYPE]
                if isinstance(payload, dict) and len(recs) < MAX_RECORDS_PER_CELL \
                        and _size(payload) <= MAX_RECORD_CHARS:
                    recs.append(payload)
                return None  # records are never stored in the notebook
        if msg_type == "error":
            tb = list(content.get("traceback") or [])
            if len(tb) > MAX_TRACEBACK_LINES:
                tb = tb[:5] + ["..."] + tb[-(MAX_TRACEBACK_LINES - 6):]
            content["traceback"] = [str(t)[:5000] for t in tb]
            content["evalue"] = str(content.get("evalue", ""))[:5000]
            return super().output(outs, msg, display_id, cell_index)
        used = self._cell_chars.get(cell_index, 0)
        room = self.output_cap - used
        size = _size(content.get("text", "")) if msg_type == "stream" \
            else _size(content.get("data", {}))
        if size <= room:
            self._cell_chars[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        if msg_type == "stream" and room > 0:
            content["text"] = str(content.get("text", ""))[:room]
            self._cell_chars[cell_index] = self.output_cap
            super().output(outs, msg, display_id, cell_index)
        if cell_index not in self._truncated:
            self._truncated.add(cell_index)
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[nbkit: output of this cell truncated at {self.output_cap} characters]\n",
            ))
        return None


def kernel_env(extra: dict | None = None) -> dict:
    """Environment for a grading kernel: single-threaded BLAS, headless matplotlib, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBKIT_GRADE_")}
    env.update({
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    env.update(extra or {})
    return env


async def _responsive(kc, seconds: float) -> bool:
    try:
        reply = await kc.execute_interactive("pass", store_history=False, timeout=seconds,
                                             output_hook=lambda msg: None)
    except Exception:
        return False
    return reply is not None


async def _run(nb, cells: list[CellRun], *, timeout, memory_mb, output_cap, env, cwd,
               result: NotebookRun, sandbox_uid: int | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="nbkit-kspec-") as spec_root:
        ksm = KernelSpecManager(kernel_dirs=[str(_write_kernelspec(
            Path(spec_root), memory_mb, output_cap * 5, sandbox_uid))])
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        client = GradingClient(
            nb, km=km, kernel_name=KERNEL_NAME, timeout=timeout, allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=120, iopub_timeout=5,
            error_on_timeout={"ename": TIMEOUT_ENAME,
                              "evalue": f"cell execution exceeded {timeout} s",
                              "traceback": [f"{TIMEOUT_ENAME}: cell execution exceeded "
                                            f"{timeout} s"]},
            record_timing=False, output_cap=output_cap, skip_cells_with_tag="nbkit-never-skip",
        )
        replies: dict[int, dict] = {}

        def on_executed(cell, cell_index, execute_reply):
            replies[cell_index] = execute_reply

        client.on_cell_executed = on_executed
        async with client.async_setup_kernel(env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL):
            for i, cell in enumerate(nb.cells):
                run = cells[i]
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if result.kernel_died:
                    run.status = "not_run"
                    continue
                try:
                    await client.async_execute_cell(cell, i)
                except (DeadKernelError, asyncio.CancelledError) as exc:
                    result.kernel_died = True
                    result.message = f"kernel died while running cell {i}: {exc}"
                    run.status = "error"
                    run.error = {"ename": "DeadKernelError", "evalue": "the kernel died",
                                 "traceback": []}
                    run.records = client.cell_records.get(i, [])
                    continue
                except CellTimeoutError as exc:  # only if interrupting is impossible
                    run.status = "timeout"
                    run.error = {"ename": TIMEOUT_ENAME, "evalue": str(exc)[:500],
                                 "traceback": []}
                    result.timed_out = True
                    continue
                except Exception as exc:  # noqa: BLE001 - a broken cell must not stop grading
                    run.status = "error"
                    run.error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000],
                                 "traceback": []}
                    continue
                run.records = client.cell_records.get(i, [])
                content = (replies.get(i) or {}).get("content", {})
                if content.get("status") == "error":
                    run.error = {"ename": content.get("ename", ""),
                                 "evalue": str(content.get("evalue", ""))[:5000],
                                 "traceback": [str(t)[:5000] for t in
                                               (content.get("traceback") or [])[-40:]]}
                    run.status = "timeout" if content.get("ename") == TIMEOUT_ENAME else "error"
                elif not content and cell.outputs and any(
                        o.get("output_type") == "error" for o in cell.outputs):
                    run.status = "error"
                else:
                    run.status = "ok"
                if run.status == "timeout":
                    result.timed_out = True
                    if not await _responsive(client.kc, 10):
                        # the interrupt did not stop the cell: start over with a fresh kernel
                        await km.restart_kernel(now=True)
                        await client.kc.wait_for_ready(timeout=120)


def run_notebook(nb: nbformat.NotebookNode, *, timeout: float = DEFAULT_TIMEOUT,
                 memory_mb: int | None = DEFAULT_MEMORY_MB,
                 output_cap: int = DEFAULT_OUTPUT_CAP, env_extra: dict | None = None,
                 cwd: str | os.PathLike | None = None,
                 sandbox_uid: int | None = None) -> NotebookRun:
    """Execute ``nb`` (modified in place: outputs) in a fresh kernel; never raises for cell errors.

    ``timeout``: seconds per cell. ``memory_mb``: address-space limit of the kernel.
    ``env_extra``: extra environment variables for the kernel. ``cwd``: kernel working directory
    (a fresh temporary directory when ``None``). ``sandbox_uid``: the kernel drops to this uid
    (and gid) once it is set up, before any cell runs (the caller must be root; ``cwd`` should be
    owned by that uid).
    """
    cells = [CellRun(index=i) for i in range(len(nb.cells))]
    result = NotebookRun(nb=nb, cells=cells)
    env = kernel_env(env_extra)
    with tempfile.TemporaryDirectory(prefix="nbkit-run-") as tmp:
        work = str(cwd) if cwd is not None else tmp
        try:
            asyncio.run(_run(nb, cells, timeout=timeout, memory_mb=memory_mb,
                             output_cap=output_cap, env=env, cwd=work, result=result,
                             sandbox_uid=sandbox_uid))
        except Exception as exc:  # noqa: BLE001 - e.g. kernel failed to start
            result.kernel_died = True
            result.message = result.message or f"{type(exc).__name__}: {exc}"
            for c, run in zip(nb.cells, cells, strict=True):
                if c.cell_type == "code" and c.source.strip() and run.status == "skipped":
                    run.status = "not_run"
    return result
