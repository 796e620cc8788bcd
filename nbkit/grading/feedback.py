"""Per-student feedback: ``<dir>/<student>/<assignment>.html``.

One row per test cell: points and passed/failed, with the reason the grader wrote (see
:mod:`nbkit.grading.verdicts`). For cells with hidden tests that is all -- a fixed text, never
anything the kernel produced. For cells without hidden tests the kernel's error, if any, is shown
as ``ExceptionType: message`` cut to :data:`MAX_ERROR_CHARS` characters (the exception type only
if it is a built-in one), so at most that much student-controlled text per visible cell reaches
the page. Never the hidden tests' source.
"""

from __future__ import annotations

import builtins
import html
import re
from pathlib import Path

from .output import num

MAX_ERROR_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def visible_error(err: dict | None) -> str:
    """``"Type: message"`` of a visible cell's error, at most :data:`MAX_ERROR_CHARS` chars."""
    if not err:
        return ""
    ename = str(err.get("ename", ""))
    obj = getattr(builtins, ename, None) if ename.isidentifier() else None
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        ename = "Exception"
    text = f"{ename}: {_ANSI.sub('', str(err.get('evalue', '')))}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def render_feedback(result: dict) -> str:
    """HTML text of the feedback for one graded submission."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
        f"<title>{e(result['assignment'])}: feedback for {e(result['student'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        ".pass{color:#070}.fail{color:#a00}pre{background:#f4f4f4;padding:.5em;"
        "white-space:pre-wrap}td,th{padding:.2em .6em;text-align:left;vertical-align:top}"
        "</style></head><body>",
        f"<h1>{e(result['assignment'])}</h1>",
        f"<p>Student: <b>{e(result['student'])}</b> &mdash; score <b>{num(result['score'])} / "
        f"{num(result['max_score'])}</b> &mdash; status <b>{e(result['status'])}</b></p>",
    ]
    if result.get("status") == "unreadable":
        parts.append(f"<p>The notebook could not be read: {e(str(result['message'])[:300])}</p>")
    elif result.get("outcome") == "error":
        parts.append("<p>The kernel died or could not run: the cells after that point were "
                     "not graded.</p>")
    parts.append("<table><tr><th>test</th><th>points</th><th>result</th><th>why</th></tr>")
    for gid, c in result["cells"].items():
        cls, word = ("pass", "passed") if c["passed"] else ("fail", "failed")
        why = "" if c["passed"] else c.get("reason", "")
        parts.append(f"<tr><td>{e(gid)}</td><td>{num(c['points'])} / "
                     f"{num(c['max_points'])}</td><td class='{cls}'>{word}</td>"
                     f"<td>{e(why)}</td></tr>")
    parts.append("</table>")
    for gid, c in result["cells"].items():
        if not c["passed"] and not c.get("hidden") and c.get("error"):
            parts.append(f"<h2 class='fail'>{e(gid)}</h2><pre>{e(visible_error(c['error']))}"
                         "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_feedback(result: dict, directory: Path) -> Path:
    """Write ``directory/<student>/<assignment>.html``; returns its path."""
    path = Path(directory) / result["student"] / f"{result['assignment']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_feedback(result), encoding="utf-8")
    return path
