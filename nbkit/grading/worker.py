"""Worker process of ``nbkit grade``: ``python -m nbkit.grading.worker`` (job on stdin).

One submission per process, so a kernel that kills its parent, or a grader crash on a strange
notebook, costs only that submission's row (the main process then records status ``error``).

Protocol: the main process writes ``{"key": HEX, "job": {...}}`` to the worker's stdin and closes
it (the job holds no reference records, and nothing of it is ever written to disk, the
environment or the command line). The worker prints one line ``{"result": BODY, "mac": HEX}`` on
its (original) stdout, ``mac = HMAC-SHA256(key, BODY)``; the main process ignores any result
whose MAC does not verify. The worker makes itself non-dumpable, so that (when the kernel runs as
the same user) ``/proc/<worker>/mem``, ``fd`` and ``environ`` are not readable by the kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _non_dumpable() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:  # noqa: BLE001 - best effort (not Linux)
        pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        print("usage: python -m nbkit.grading.worker  (the job comes on stdin)", file=sys.stderr)
        return 2
    _non_dumpable()
    msg = json.loads(sys.stdin.buffer.read())
    key, job = bytes.fromhex(msg["key"]), msg["job"]
    del msg
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed in this process goes to stderr
    from .grade import run_submission, sign

    result = run_submission(job["submission"], Path(job["root"]), job["assignment"],
                            timeout=job["timeout"], memory_mb=job["memory_mb"],
                            output_cap=job["output_cap"], sandbox_uid=job.get("sandbox_uid"))
    body = json.dumps(result, sort_keys=True)
    out.write(json.dumps({"result": body, "mac": sign(key, body.encode("utf-8"))}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
