"""The ``nbkit`` command line: ``nbkit release``, ``nbkit grade`` and ``nbkit report``.

    nbkit release [ASSIGNMENT ...] [--check] [--root DIR] [--timeout S]
    nbkit grade ASSIGNMENT SUBMISSION_OR_FOLDER ... [--csv FILE] [--json FILE]
                [--feedback DIR] [--resume] [--shard K/N] [--jobs N] [--timeout S]
                [--wall S] [--memory-mb M] [--no-sandbox] [--root DIR]
    nbkit report RESULTS ... [--out DIR] [--nbgrader-course DIR [--feedback DIR]]

Exit codes: 0 success (every submission has a row), 1 ``release --check`` found differences,
2 usage or authoring error, or no sandbox can be made (the message says what is missing),
128 + the signal when SIGINT or SIGTERM stopped ``nbkit grade`` (finished rows are written:
rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, e.g. 1/4; got {text!r}")
    return int(k), int(n)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbkit", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="generate exercises/ from solutions/ (nbgrader style)")
    r.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    r.add_argument("--check", action="store_true",
                   help="do not write; exit 1 listing differences if exercises/ is out of date")
    r.add_argument("--root", help="course folder holding solutions/ (default: found from cwd)")
    r.add_argument("--timeout", type=float, default=120, help="per-cell timeout in seconds")

    g = sub.add_parser("grade", help="grade submissions of one assignment, each in a sandbox")
    g.add_argument("assignment", help="assignment name (the notebook's file stem)")
    g.add_argument("submissions", nargs="+", help="submitted .ipynb files or folders of them")
    g.add_argument("--csv", dest="csv_path", help="write one row per submission here")
    g.add_argument("--json", dest="json_path", help="write detailed results as JSON")
    g.add_argument("--feedback", dest="feedback_dir",
                   help="write DIR/<student>/<assignment>.html per submission")
    g.add_argument("--jobs", type=int, default=None, help="parallel submissions (default: cores)")
    g.add_argument("--timeout", type=float, default=None,
                   help="seconds per cell (default: the assignment's, else 60)")
    g.add_argument("--wall", type=float, default=None,
                   help="seconds per notebook (default: the assignment's, else per-cell "
                        "timeout x (code cells + 2))")
    g.add_argument("--memory-mb", type=int, default=None,
                   help="memory of each kernel's process tree (default: the assignment's, "
                        "else 2048)")
    g.add_argument("--resume", action="store_true",
                   help="keep the rows of the --json file whose submission and assignment are "
                        "unchanged; grade the rest")
    g.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                   help="grade only shard K of N (submissions split by a hash of the student's "
                        "name; merge the shards' files with `nbkit report`)")
    g.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="grade without an OS sandbox (UNSAFE; rows are marked 'unsandboxed')")
    g.add_argument("--root", help="course folder holding solutions/ (default: found from cwd)")

    from nbkit.grading import report

    report.add_arguments(sub.add_parser("report", help="class report from grade CSV/JSON files"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from nbkit.grading.notebooks import GradingError, find_course_root

    try:
        if args.command == "report":
            from nbkit.grading.report import run

            return run(args)
        root = Path(args.root).resolve() if args.root else find_course_root()
        if args.command == "release":
            from nbkit.grading.release import release

            return release(root, args.assignments or None, check=args.check,
                           timeout=args.timeout)
        from nbkit.grading.grade import Interrupted, grade

        caught = []

        def stop(signum, frame):  # before the grading loop takes over: clean up like Ctrl-C
            caught.append(signum)
            raise KeyboardInterrupt

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, stop)
        try:
            grade(root, args.assignment, args.submissions, csv_path=args.csv_path,
                  json_path=args.json_path, feedback_dir=args.feedback_dir, jobs=args.jobs,
                  timeout=args.timeout, wall=args.wall, memory_mb=args.memory_mb,
                  sandbox=args.sandbox, resume=args.resume, shard=args.shard, keep=False)
        except Interrupted as exc:
            print(f"nbkit: {exc}", file=sys.stderr)
            return 128 + exc.signum
        except KeyboardInterrupt:
            print("nbkit: interrupted; rerun with --resume", file=sys.stderr)
            return 128 + (caught[0] if caught else signal.SIGINT)
        return 0
    except GradingError as exc:
        print(f"nbkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
