"""Grading a large class: time and peak memory of ``nbkit grade`` over 200 submissions.

Usage::

    python -m benchmarks.grading_scale                          # ~5 minutes on 2 cores
    python -m benchmarks.grading_scale --submissions 200 --baseline 20 --jobs 2 --json out.json

Both runs grade a folder of submissions of one assignment (``--assignment``, default
``03_linear_layer``: solutions and plausible wrong answers alternating) with the ``nbkit grade``
command, each in a fresh interpreter, ``--jobs`` sandboxes at a time:

* the **baseline**, ``--baseline`` submissions (the class size of ``benchmarks.grading_speed``),
* the **class**, ``--submissions`` submissions,

both measured in this run. Reported per run: time, time per submission (the solution's one
reference run included), the grader's peak resident memory (its own process image, ``VmHWM``;
``ru_maxrss`` would start from the size of the process that launched it) and the largest
child's ``ru_maxrss`` (a kernel's, or the grader's size when it forked that kernel if larger);
then the marginal time of a submission (the difference of the two runs over the difference of
their sizes) and the ratios class/baseline -- about 1 for the grader's memory when rows stream
to the files and nothing grows with the class, at most 1 for time per submission. The figures
are printed and written as JSON (default ``benchmarks/results/grading_scale.json``); on a
shared machine they are provisional.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_class(folder: Path, n: int, assignment: str) -> None:
    """``n`` per-student submissions of ``assignment`` in ``folder``: the solution and its
    wrong answer alternating."""
    from nbkit.grading.notebooks import (
        read_notebook,
        solution_path,
        write_notebook,
        wrong_answer_notebook,
    )

    source = read_notebook(solution_path(ROOT, assignment))
    wrong = wrong_answer_notebook(source)
    for k in range(n):
        write_notebook(source if k % 2 == 0 else wrong,
                       folder / f"s{k:03d}" / f"{assignment}.ipynb")


def need_sandbox() -> None:
    """Single-threaded BLAS in the benchmark's kernels; stop unless a sandbox can be made."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from nbkit.grading.sandbox import unavailable_reason

    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"no sandbox here: {reason}")


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)), "load_1min": os.getloadavg()[0],
            "root": os.geteuid() == 0}


def _child(argv: list[str]) -> None:
    """Run ``nbkit grade argv`` in this process; print its peak memory as JSON on stdout."""
    import resource

    from nbkit.grading.cli import main

    t0 = time.perf_counter()
    rc = main(["grade", *argv])
    took = time.perf_counter() - t0
    kib = 1024
    with open("/proc/self/status") as fh:
        hwm_kib = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
    print(json.dumps({"rc": rc, "seconds": took, "grader_peak_mb": hwm_kib / kib,
                      "kernel_peak_mb":
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib}))


def measure(n: int, jobs: int, assignment: str) -> dict:
    """Grade a class of ``n`` in a fresh interpreter; check every row; time and memory."""
    import csv

    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "grades.csv"
        write_class(subs, n, assignment)
        cmd = [sys.executable, "-m", "benchmarks.grading_scale", "--child", assignment,
               str(subs), "--csv", str(out), "--json", str(out.with_suffix(".json")),
               "--jobs", str(jobs), "--root", str(ROOT)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"nbkit grade failed ({proc.returncode}): {proc.stderr[-3000:]}")
        rows = list(csv.DictReader(out.open()))
    statuses = {r["status"] for r in rows}
    if len(rows) != n or len({r["student"] for r in rows}) != n or statuses != {"ok"}:
        raise SystemExit(f"expected {n} rows with status ok, got {len(rows)} ({statuses})")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"submissions": n, "jobs": jobs, "seconds": wall, "grade_s": got["seconds"],
            "per_submission_s": got["seconds"] / n, "grader_peak_mb": got["grader_peak_mb"],
            "kernel_peak_mb": got["kernel_peak_mb"]}


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--submissions", type=int, default=200)
    p.add_argument("--baseline", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--assignment", default="03_linear_layer")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "grading_scale.json"))
    args = p.parse_args(argv)
    need_sandbox()
    base = measure(args.baseline, args.jobs, args.assignment)
    big = measure(args.submissions, args.jobs, args.assignment)
    out = {"machine": machine(),
           "assignment": args.assignment, "baseline": base, "class": big,
           "marginal_per_submission_s": (big["grade_s"] - base["grade_s"])
           / max(1, big["submissions"] - base["submissions"]),
           "ratio": {k: big[k] / base[k]
                     for k in ("per_submission_s", "grader_peak_mb", "kernel_peak_mb")}}
    print(f"machine: {out['machine']}  assignment: {args.assignment}  jobs: {args.jobs}")
    print(f"{'submissions':>11s} {'seconds':>8s} {'s/sub':>6s} {'grader MB':>9s} "
          f"{'kernel MB':>9s}")
    for r in (base, big):
        print(f"{r['submissions']:11d} {r['grade_s']:8.1f} {r['per_submission_s']:6.2f} "
              f"{r['grader_peak_mb']:9.0f} {r['kernel_peak_mb']:9.0f}")
    ratio = out["ratio"]
    print(f"{'ratio':>11s} {'':8s} {ratio['per_submission_s']:6.2f} "
          f"{ratio['grader_peak_mb']:9.2f} {ratio['kernel_peak_mb']:9.2f}")
    print(f"marginal time of one submission: {out['marginal_per_submission_s']:.2f} s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
