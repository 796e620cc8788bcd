"""The grade files of ``nbkit grade``: one CSV row and one JSON object per submission.

CSV (``--csv``): ``student, assignment, score, max_score, status``, then one column per test
cell of the solution (its ``grade_id``, in notebook order) holding that cell's points. Numbers
are written without a trailing ``.0``; a student name that starts like a spreadsheet formula
(``= + - @``) gets a leading ``'``. ``status`` is one of
:data:`nbkit.grading.grade.STATUSES`.

JSON (``--json``): a list of the results of :func:`nbkit.grading.grade.grade`, sorted by
student, keys sorted. It holds kernel-reported error text (capped): for instructors, not
students. Both formats are documented in ``solutions/README.md`` and kept stable.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "status")


def _num(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


def _cell(text: str) -> str:
    """A student name as a CSV cell that no spreadsheet runs as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(results: list[dict], tests, path: str | Path) -> None:
    gids = [t[0] for t in tests]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*CSV_COLUMNS, *gids])
        for r in results:
            w.writerow([_cell(r["student"]), r["assignment"], _num(r["score"]),
                        _num(r["max_score"]), r["status"],
                        *(_num(r["cells"][g]["points"]) for g in gids)])


def write_json(results: list[dict], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n",
                          encoding="utf-8")
