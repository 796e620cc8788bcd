"""Speed of ``nbkit grade``: what the sandbox costs, one submission, a folder of 20.

Usage::

    python -m benchmarks.grading_speed                # ~1-2 minutes on 2 cores
    python -m benchmarks.grading_speed --repeats 3 --submissions 20 --json out.json

What is timed (as root a sandbox drops to a fresh uid; see ``nbkit.grading.sandbox``):

1. ``kernel start``: start a kernel, run ``pass``, shut it down -- in a bubblewrap sandbox and,
   as the baseline measured in the same run, without one (interleaved, median of
   ``--repeats``); the difference is the sandbox's start-up cost per kernel, the quotient its
   relative cost.
2. ``one submission``: grading one submission of ``03_linear_layer`` end to end (reading, the
   solution's reference run, the submission's run, verdicts, CSV), once in this process and
   once as the ``nbkit grade`` command (interpreter and imports included).
3. ``20 submissions``: a folder of ``--submissions`` submissions of ``03_linear_layer``
   (solutions and plausible wrong answers alternating) with ``--jobs`` jobs.

The figures are printed as a table and written as JSON (default
``benchmarks/results/grading.json``). Provisional figures measured on a shared machine say so;
the README's come from a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "03_linear_layer"


def _kernel_start(sandboxed: bool) -> float:
    from nbkit.grading.execute import run_cells
    from nbkit.grading.grade import GradingRun

    run = GradingRun(ROOT, ASSIGNMENT, sandboxed=sandboxed)
    try:
        folder = Path(tempfile.mkdtemp(dir=run.base))
        folder.chmod(0o755)
        t0 = time.perf_counter()
        result = asyncio.run(run_cells(["pass"], run.launch(folder), timeout=60))
        took = time.perf_counter() - t0
        assert result.cells[0].status == "ok", result
        return took
    finally:
        run.close()


def _grade(n: int, jobs: int) -> float:
    from benchmarks.grading_scale import write_class
    from nbkit.grading.grade import grade

    with tempfile.TemporaryDirectory() as tmp:
        write_class(Path(tmp) / "subs", n, ASSIGNMENT)
        t0 = time.perf_counter()
        results = grade(ROOT, ASSIGNMENT, [str(Path(tmp) / "subs")], jobs=jobs,
                        csv_path=str(Path(tmp) / "g.csv"), log=lambda m: None)
        took = time.perf_counter() - t0
    assert len(results) == n and all(r["status"] == "ok" for r in results)
    return took


def _grade_cli() -> float:
    """``nbkit grade`` of one submission as a command (interpreter start-up included)."""
    import subprocess
    import sys

    from nbkit.grading.notebooks import read_notebook, solution_path, write_notebook

    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "alice" / f"{ASSIGNMENT}.ipynb"
        write_notebook(read_notebook(solution_path(ROOT, ASSIGNMENT)), sub)
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "nbkit"), "grade", ASSIGNMENT,
                        str(sub), "--csv", str(Path(tmp) / "g.csv"), "--root", str(ROOT)],
                       check=True, capture_output=True)
        return time.perf_counter() - t0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="kernel starts per mode")
    p.add_argument("--submissions", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "grading.json"))
    args = p.parse_args(argv)
    from benchmarks.grading_scale import machine, need_sandbox
    from nbkit.grading.sandbox import tree_limit_kind

    need_sandbox()
    _kernel_start(True)  # warm the page cache for both modes
    starts = {True: [], False: []}
    for _ in range(args.repeats):
        for sandboxed in (False, True):
            starts[sandboxed].append(_kernel_start(sandboxed))
    plain, boxed = statistics.median(starts[False]), statistics.median(starts[True])
    one = _grade(1, 1)
    one_cli = _grade_cli()
    many = _grade(args.submissions, args.jobs)
    out = {
        "machine": {**machine(), "tree_limit": tree_limit_kind()},
        "kernel_start_s": {"sandboxed": boxed, "plain": plain, "cost_s": boxed - plain,
                           "ratio": boxed / plain, "runs": {"sandboxed": starts[True],
                                                             "plain": starts[False]}},
        "one_submission_s": one, "one_submission_command_s": one_cli,
        "many": {"submissions": args.submissions, "jobs": args.jobs, "seconds": many,
                 "per_submission_s": many / args.submissions},
    }
    print(f"machine: {out['machine']}")
    print(f"{'what':44s} {'seconds':>9s}")
    print(f"{'kernel start + pass + shutdown, no sandbox':44s} {plain:9.3f}")
    print(f"{'kernel start + pass + shutdown, sandboxed':44s} {boxed:9.3f}"
          f"   (+{boxed - plain:.3f} s, x{boxed / plain:.2f})")
    print(f"{'grade(), 1 submission (' + ASSIGNMENT + ')':44s} {one:9.2f}")
    print(f"{'the nbkit grade command, 1 submission':44s} {one_cli:9.2f}")
    print(f"{f'nbkit grade, {args.submissions} submissions, {args.jobs} jobs':44s} {many:9.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
