"""Per-student feedback: ``<dir>/<student>/<assignment>.html``.

Lists every test cell with points, pass/fail and why. Visible tests show the error and its
traceback; cells containing hidden tests show only the error type and message (dropped if it
quotes a hidden line) and which recorded values differed -- never the hidden tests' source.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .notebooks import BEGIN_HIDDEN, END_HIDDEN, grade_id, is_test_cell

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _hidden_lines(source_nb) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cell in source_nb.cells:
        if not is_test_cell(cell):
            continue
        lines, inside = [], False
        for line in cell.source.split("\n"):
            if BEGIN_HIDDEN in line:
                inside = True
            elif END_HIDDEN in line:
                inside = False
            elif inside and len(line.strip()) >= 6:
                lines.append(line.strip())
        out[grade_id(cell)] = lines
    return out


def _num(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


def render_feedback(result: dict, source_nb) -> str:
    """HTML text of the feedback for one graded submission (``result`` from grading)."""
    hidden = _hidden_lines(source_nb)
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{e(result['assignment'])}: feedback for {e(result['student'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        ".pass{color:#070}.fail{color:#a00}pre{background:#f4f4f4;padding:.5em;"
        "overflow-x:auto}td,th{padding:.2em .6em;text-align:left}</style></head><body>",
        f"<h1>{e(result['assignment'])}</h1>",
        f"<p>Student: <b>{e(result['student'])}</b> &mdash; score "
        f"<b>{_num(result['score'])} / {_num(result['max_score'])}</b> &mdash; status "
        f"<b>{e(result['status'])}</b></p>",
    ]
    if result.get("message"):
        parts.append(f"<p>{e(str(result['message'])[:1000])}</p>")
    parts.append("<table><tr><th>test</th><th>points</th><th>result</th></tr>")
    for gid, c in result["cells"].items():
        cls = "pass" if c["passed"] else "fail"
        parts.append(f"<tr><td>{e(gid)}</td><td>{_num(c['points'])} / {_num(c['max_points'])}"
                     f"</td><td class='{cls}'>{'passed' if c['passed'] else 'failed'}</td></tr>")
    parts.append("</table>")
    for gid, c in result["cells"].items():
        if c["passed"]:
            continue
        parts.append(f"<h2 class='fail'>{e(gid)}: failed</h2>")
        secret = hidden.get(gid, [])
        if c.get("reason"):
            reason = c["reason"]
            if c.get("hidden") and reason.startswith("values differ"):
                reason = (reason + " (some of these are hidden tests: check your code on other "
                          "inputs than the visible tests use)")
            parts.append(f"<p>{e(reason)}</p>")
        err = c.get("error") or {}
        if err:
            msg = f"{err.get('ename', '')}: {err.get('evalue', '')}"
            if c.get("hidden"):
                if any(line in msg for line in secret):
                    msg = f"{err.get('ename', '')} (message withheld)"
                parts.append(f"<pre>{e(_ANSI.sub('', msg))}</pre>")
            else:
                tb = "\n".join(_ANSI.sub("", str(t)) for t in err.get("traceback") or [])
                parts.append(f"<pre>{e(tb or msg)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_feedback(result: dict, source_nb, directory: Path) -> Path:
    """Write ``directory/<student>/<assignment>.html``; returns its path."""
    path = Path(directory) / result["student"] / f"{result['assignment']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_feedback(result, source_nb), encoding="utf-8")
    return path
