"""``nbkit report``: what the grades say -- a class report from ``nbkit grade``'s CSV/JSON files.

    nbkit report RESULTS [RESULTS ...] [--out DIR] [--html FILE] [--lms-csv FILE] [--root DIR]
                 [--nbgrader-course DIR [--feedback DIR]]

``RESULTS`` are files written by ``nbkit grade --csv`` and/or ``--json`` for one assignment: one
file, several shards of one class (each student graded in exactly one of them), or a run's CSV
together with its JSON (the JSON adds each failed test's message and the submission's message).
It writes

* ``<assignment>_report.html`` -- one self-contained page (no request leaves it): totals
  (mean, median, range), the histogram of total scores (a PNG inside the page), per test the pass
  rate, the mean points and the most common failure message, the tests failed most often, and
  every submission whose status is not ``ok`` (timed out, errored, unreadable, graded
  unsandboxed);
* ``<assignment>_lms.csv`` -- ``student,total``, one row per student, for a learning management
  system's grade import;
* with ``--nbgrader-course DIR``: the scores in nbgrader's gradebook of that course and, with
  ``--feedback``, the feedback pages where ``nbgrader release_feedback`` takes them
  (:mod:`nbkit.grading.gradebook`).

Input formats (today's ``nbkit grade``):

* CSV: header ``student, assignment, score, max_score, status, <grade_id>...``; one row per
  submission; a test column holds the points that test scored (all or nothing per test).
* JSON: a list of result objects with keys ``student, assignment, score, max_score, status`` and
  optionally ``message`` and ``cells: {grade_id: {points, max_points, passed, reason, error}}``.

Statuses: ``ok``, ``timeout``, ``error``, ``unreadable``, ``unsandboxed`` (graded without the
OS sandbox). Bad input (an empty file, missing columns, a score that is not a number, an unknown
status, two shards grading the same student, several assignments) is a :class:`ReportError`
naming the file, the line and what was expected.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .notebooks import GradingError
from .output import CSV_COLUMNS as REQUIRED_COLUMNS
from .output import STATUSES, quote, unquote

TOP_FAILED = 5


class ReportError(GradingError):
    """Unusable input for ``nbkit report`` (the message says what was expected)."""


@dataclass
class Row:
    """One graded submission. ``tests``: ``{grade_id: points}``; ``details`` (JSON only):
    ``{grade_id: {"max_points", "passed", "message"}}``."""

    student: str
    assignment: str
    score: float
    max_score: float
    status: str
    tests: dict[str, float]
    origin: str
    message: str = ""
    details: dict[str, dict] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _number(value, where: str, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ReportError(f"{where}: {what} {value!r} is not a number") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise ReportError(f"{where}: {what} {value!r} is not a finite number")
    return x


def _status(value, where: str) -> str:
    if value not in STATUSES:
        raise ReportError(f"{where}: unknown status {value!r}; expected one of "
                          + ", ".join(STATUSES))
    return value


def _student(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"{where}: empty student name")
    return value


def read_csv(path: Path) -> list[Row]:
    """Rows of one ``nbkit grade --csv`` file."""
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise ReportError(f"{path} is empty: expected a header row "
                          f"({', '.join(REQUIRED_COLUMNS)}, then one column per test) and one "
                          "row per submission")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ReportError(f"{path}: missing column(s) {', '.join(missing)}; expected the header "
                          f"{', '.join(REQUIRED_COLUMNS)}, then one column per test (the CSV of "
                          "`nbkit grade --csv`)")
    dup = [c for c, n in Counter(header).items() if n > 1]
    if dup:
        raise ReportError(f"{path}: column(s) {', '.join(dup)} appear more than once")
    tests = [h for h in header if h not in REQUIRED_COLUMNS]
    rows = []
    for line_no, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        where = f"{path} line {line_no}"
        if len(values) != len(header):
            raise ReportError(f"{where}: {len(values)} fields, expected {len(header)} (as in "
                              "the header)")
        rec = dict(zip(header, values, strict=True))
        rows.append(Row(
            student=_student(unquote(rec["student"]), where), assignment=rec["assignment"],
            score=_number(rec["score"], where, "score"),
            max_score=_number(rec["max_score"], where, "max_score"),
            status=_status(rec["status"], where),
            tests={t: _number(rec[t], where, f"points of test {t!r}") for t in tests},
            origin=str(path)))
    if not rows:
        raise ReportError(f"{path} has a header but no rows: expected one row per submission")
    return rows


def _failure_message(cell: dict) -> str:
    """A failed test's message: the grader's reason, then the error's type and first line."""
    parts = [str(cell.get("reason") or "").strip()]
    err = cell.get("error") if isinstance(cell.get("error"), dict) else {}
    if err.get("ename"):
        evalue = str(err.get("evalue") or "").strip().splitlines()
        parts.append(f"{err['ename']}: {evalue[0] if evalue else ''}".strip().rstrip(":"))
    return " | ".join(p for p in parts if p)[:300] or "failed"


def read_json(path: Path) -> list[Row]:
    """Rows of one ``nbkit grade --json`` file (a list of result objects)."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ReportError(f"{path} is empty: expected the JSON list `nbkit grade --json` writes")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ReportError(f"{path}: expected a JSON list of results, got {type(data).__name__}")
    rows = []
    for i, rec in enumerate(data):
        where = f"{path} item {i}"
        if not isinstance(rec, dict):
            raise ReportError(f"{where}: expected an object, got {type(rec).__name__}")
        missing = [k for k in REQUIRED_COLUMNS if k not in rec]
        if missing:
            raise ReportError(f"{where}: missing key(s) {', '.join(missing)}")
        cells = rec.get("cells") or {}
        if not isinstance(cells, dict):
            raise ReportError(f"{where}: 'cells' must be an object {{grade_id: result}}")
        tests, details = {}, {}
        for gid, c in cells.items():
            if not isinstance(c, dict):
                raise ReportError(f"{where}: cell {gid!r} must be an object")
            tests[gid] = _number(c.get("points"), where, f"points of test {gid!r}")
            passed = bool(c.get("passed"))
            details[gid] = {"max_points": _number(c.get("max_points", tests[gid]), where,
                                                  f"max_points of test {gid!r}"),
                            "passed": passed,
                            "message": "" if passed else _failure_message(c)}
        rows.append(Row(
            student=_student(rec["student"], where), assignment=str(rec["assignment"]),
            score=_number(rec["score"], where, "score"),
            max_score=_number(rec["max_score"], where, "max_score"),
            status=_status(rec["status"], where), tests=tests, origin=str(path),
            message=str(rec.get("message") or "")[:1000], details=details))
    if not rows:
        raise ReportError(f"{path} holds no results: expected one object per submission")
    return rows


def read_results(paths) -> list[Row]:
    """Rows from every file (``.json`` or else CSV), merged: a student graded in two files is an
    error, except one run's CSV and JSON with the same score (the JSON's details are kept)."""
    rows: dict[tuple[str, str], Row] = {}
    if not paths:
        raise ReportError("no result files given: pass the CSV and/or JSON of `nbkit grade`")
    for p in map(Path, paths):
        if not p.is_file():
            raise ReportError(f"{p}: no such file (expected a CSV or JSON of `nbkit grade`)")
        for row in (read_json(p) if p.suffix.lower() == ".json" else read_csv(p)):
            key = (row.assignment, row.student)
            old = rows.get(key)
            if old is None:
                rows[key] = row
                continue
            pair = {Path(old.origin).suffix.lower() == ".json",
                    Path(row.origin).suffix.lower() == ".json"} == {True, False}
            same = (old.score, old.status, old.tests) == (row.score, row.status, row.tests)
            if not (pair and same):
                raise ReportError(f"student {row.student!r} of {row.assignment} is graded in "
                                  f"both {old.origin} and {row.origin}; each student must be "
                                  "in one shard (a CSV and the JSON of the same run may be "
                                  "given together)")
            json_row, csv_row = (row, old) if row.details else (old, row)
            json_row.tests = dict(csv_row.tests)  # the CSV's column order: the notebook's
            rows[key] = json_row
    assignments = sorted({a for a, _ in rows})
    if len(assignments) > 1:
        raise ReportError("the files hold several assignments (" + ", ".join(assignments)
                          + "); report one assignment at a time")
    return sorted(rows.values(), key=lambda r: r.student)


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def test_points(root: Path | None, assignment: str) -> dict[str, float]:
    """``{grade_id: points}`` from the course's solution, ``{}`` if it cannot be found."""
    from .notebooks import find_course_root, graded_cells, read_notebook, solution_path

    try:
        course = Path(root) if root else find_course_root()
        return {g: p for g, p, _ in graded_cells(read_notebook(solution_path(course, assignment)))}
    except (GradingError, OSError, ValueError):
        return {}


def summarize(rows: list[Row], max_points: dict[str, float] | None = None) -> dict:
    """Class statistics. ``max_points``: each test's points when the files do not say (CSV)."""
    max_points = dict(max_points or {})
    tests = [t for t in max_points if any(t in r.tests for r in rows)]  # the notebook's order
    for r in rows:
        tests += [t for t in r.tests if t not in tests]
    per_test = []
    for t in tests:
        graded = [r for r in rows if t in r.tests]
        top = next((r.details[t]["max_points"] for r in graded if t in r.details),
                   max_points.get(t))
        passed = [r for r in graded if (r.details[t]["passed"] if t in r.details
                                        else r.tests[t] > 0)]
        messages = Counter(r.details[t]["message"] for r in graded
                           if t in r.details and not r.details[t]["passed"])
        common = messages.most_common(1)
        per_test.append({
            "test": t, "max_points": top, "n": len(graded), "passed": len(passed),
            "failed": len(graded) - len(passed),
            "pass_rate": len(passed) / len(graded) if graded else 0.0,
            "mean_points": statistics.fmean(r.tests[t] for r in graded) if graded else 0.0,
            "message": common[0][0] if common else None,
            "message_count": common[0][1] if common else 0})
    scores = [r.score for r in rows]
    return {
        "assignment": rows[0].assignment, "n": len(rows),
        "max_score": max(r.max_score for r in rows),
        "mean": statistics.fmean(scores), "median": statistics.median(scores),
        "min": min(scores), "max": max(scores),
        "statuses": dict(Counter(r.status for r in rows)),
        "tests": per_test,
        "most_failed": sorted((t for t in per_test if t["failed"]),
                              key=lambda t: (-t["failed"], t["test"]))[:TOP_FAILED],
        "attention": [r for r in rows if r.status != "ok"],
    }


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def histogram_png(rows: list[Row], summary: dict) -> bytes:
    """PNG of the distribution of total scores (a matplotlib ``Figure``; no pyplot state)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.array([r.score for r in rows], dtype=float)
    top = float(summary["max_score"]) or max(1.0, float(scores.max()))
    if top <= 30 and float(top).is_integer():
        edges = np.arange(-0.5, top + 1.0, 1.0)
    else:
        edges = np.linspace(0.0, top, 21)
    fig = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    counts, _, _ = ax.hist(scores, bins=edges, color="#4878a8", edgecolor="white")
    ax.axvline(summary["mean"], color="#c44e52", linestyle="--",
               label=f"mean {summary['mean']:.2f}")
    ax.axvline(summary["median"], color="#55a868", linestyle=":",
               label=f"median {summary['median']:g}")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 1.3 * max(counts.max(), 1) + 0.3)  # headroom for the legend
    ax.set_xlabel(f"total score (points out of {_num(top)})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{summary['assignment']}: distribution of total scores "
                 f"(n = {summary['n']})")
    ax.legend(loc="upper center", ncol=2, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200)
    return buf.getvalue()


def _num(x) -> str:
    if x is None:
        return "\N{EM DASH}"
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.3g}"


_CSS = ("body{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .7em;"
        "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}th{background:#f4f4f4}"
        "td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}img{max-width:100%;height:auto}"
        ".bar{display:inline-block;height:.7em;background:#4878a8;vertical-align:middle}"
        ".warn{color:#a00}code{background:#f4f4f4;padding:0 .2em}")


def render_html(rows: list[Row], summary: dict, png: bytes) -> str:
    """The class report as one self-contained HTML page (the histogram inline as a data URI)."""
    e = html.escape
    a = summary["assignment"]
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary["statuses"].items()))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(a)}: class report</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(a)}: class report</h1>",
           f"<p>{summary['n']} submission(s) ({e(statuses)}). Total score: mean "
           f"<b>{summary['mean']:.2f}</b>, median <b>{_num(summary['median'])}</b>, range "
           f"{_num(summary['min'])}&ndash;{_num(summary['max'])} of "
           f"{_num(summary['max_score'])} points.</p>",
           "<h2>Distribution of total scores</h2>",
           f'<img id="histogram" width="640" height="360" alt="Histogram of the total scores of '
           f'{e(a)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">',
           "<h2>Tests</h2>",
           '<table id="tests"><tr><th>test</th><th>points</th><th>pass rate</th>'
           "<th>mean points</th><th>failed</th><th>most common failure</th></tr>"]
    for t in summary["tests"]:
        pct = 100 * t["pass_rate"]
        msg = (f"{e(t['message'])} <small>({t['message_count']}&times;)</small>"
               if t["message"] else "")
        out.append(f"<tr><td><code>{e(t['test'])}</code></td>"
                   f"<td class=n>{_num(t['max_points'])}</td>"
                   f'<td class=n>{pct:.0f}&nbsp;% <span class="bar" style="width:{pct / 25:.2f}em">'
                   f"</span></td><td class=n>{t['mean_points']:.2f}</td>"
                   f"<td class=n>{t['failed']}</td><td>{msg}</td></tr>")
    out.append("</table><h2>Most often failed</h2>")
    if summary["most_failed"]:
        out.append('<ol id="most-failed">')
        for t in summary["most_failed"]:
            msg = f": most often <q>{e(t['message'])}</q>" if t["message"] else ""
            out.append(f"<li><code>{e(t['test'])}</code> failed by {t['failed']} of "
                       f"{t['n']}{msg}</li>")
        out.append("</ol>")
    else:
        out.append("<p>Every test was passed by every submission.</p>")
    out.append("<h2>Submissions that need a look</h2>")
    if summary["attention"]:
        out.append('<table id="attention"><tr><th>student</th><th>status</th><th>score</th>'
                   "<th>message</th></tr>")
        for r in summary["attention"]:
            out.append(f"<tr><td>{e(r.student)}</td><td class=warn>{e(r.status)}</td>"
                       f"<td class=n>{_num(r.score)} / {_num(r.max_score)}</td>"
                       f"<td>{e(r.message[:300])}</td></tr>")
        out.append("</table><p><small>timeout: a cell ran out of time (later cells were still "
                   "graded); error: the kernel or worker died; unreadable: not a notebook; "
                   "unsandboxed: graded without the OS sandbox.</small></p>")
    else:
        out.append("<p>None: every submission was graded with status <code>ok</code>.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_lms_csv(rows: list[Row], path: Path) -> None:
    """``student,total``: one row per student, for a learning management system's import."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "total"])
        for r in rows:
            w.writerow([quote(r.student), _num(r.score)])


def report(paths, *, out_dir=".", html_path=None, lms_path=None, root=None) -> dict:
    """Read ``paths``, write the HTML page and the LMS CSV; returns the summary (plus
    ``html``/``lms_csv`` paths and the ``rows``)."""
    rows = read_results(paths)
    summary = summarize(rows, test_points(root, rows[0].assignment))
    out = Path(out_dir)
    html_file = Path(html_path) if html_path else out / f"{summary['assignment']}_report.html"
    lms_file = Path(lms_path) if lms_path else out / f"{summary['assignment']}_lms.csv"
    for f in (html_file, lms_file):
        f.parent.mkdir(parents=True, exist_ok=True)
    html_file.write_text(render_html(rows, summary, histogram_png(rows, summary)),
                         encoding="utf-8")
    write_lms_csv(rows, lms_file)
    return {**summary, "html": html_file, "lms_csv": lms_file, "rows": rows}


# --------------------------------------------------------------------------------------------
# command line (registered in nbkit.grading.cli)
# --------------------------------------------------------------------------------------------
def add_arguments(p) -> None:
    """Arguments of ``nbkit report`` on the (sub)parser ``p``."""
    p.add_argument("results", nargs="+",
                   help="CSV and/or JSON files of `nbkit grade` for one assignment (shards are "
                        "merged)")
    p.add_argument("--out", default=".",
                   help="folder for <assignment>_report.html and <assignment>_lms.csv")
    p.add_argument("--html", dest="html_path", help="write the HTML report here instead")
    p.add_argument("--lms-csv", dest="lms_path", help="write the student,total CSV here instead")
    p.add_argument("--root", help="course folder holding solutions/ (for each test's points "
                                  "when only CSVs are given; default: found from cwd)")
    p.add_argument("--nbgrader-course",
                   help="also store the scores in this nbgrader course's gradebook")
    p.add_argument("--feedback", dest="feedback_dir",
                   help="with --nbgrader-course: the --feedback folder of `nbkit grade`, laid "
                        "out for `nbgrader release_feedback`")


def run(args, log=print) -> int:
    """Run ``nbkit report`` for parsed ``args``; returns the exit code."""
    res = report(args.results, out_dir=args.out, html_path=args.html_path,
                 lms_path=args.lms_path, root=args.root)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(res["statuses"].items()))
    log(f"{res['assignment']}: {res['n']} submission(s) ({statuses}); mean "
        f"{res['mean']:.2f}, median {_num(res['median'])} of {_num(res['max_score'])}")
    for t in res["most_failed"]:
        log(f"  most failed: {t['test']} ({t['failed']} of {t['n']})")
    log(f"wrote {res['html']} and {res['lms_csv']}")
    if args.feedback_dir and not args.nbgrader_course:
        raise ReportError("--feedback needs --nbgrader-course (the course to lay it out in)")
    if args.nbgrader_course:
        from .gradebook import sync_nbgrader

        done = sync_nbgrader(args.nbgrader_course, res["rows"], feedback_dir=args.feedback_dir)
        log(f"nbgrader gradebook: {done['submissions']} submission(s) updated"
            + (f", {done['feedback']} feedback page(s) ready for `nbgrader release_feedback`"
               if args.feedback_dir else ""))
        for student, why in done["skipped"]:
            log(f"warning: {student!r} not stored in the gradebook: {why}")
    return 0
