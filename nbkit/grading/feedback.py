"""Per-student feedback: ``<dir>/<student>/<assignment>.html``.

Lists every test cell with points, pass/fail and why. Visible tests show the error and its
traceback; cells containing hidden tests show which recorded values differed and the error type,
and the error *message* only if it is an ``AssertionError`` in the exact format of the checks of
:mod:`nbkit.grading.checks`, about a value whose name is a string literal of that cell, with only
numbers in it (and no hidden line); any other message (a submission can raise an exception whose
message encodes the hidden source it read from ``In``) is replaced by
``"(message hidden: this test has hidden parts)"``. Never the hidden tests' source.
"""

from __future__ import annotations

import builtins
import html
import re
from pathlib import Path

from .notebooks import BEGIN_HIDDEN, END_HIDDEN, grade_id, is_test_cell

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_N = r"[-+0-9.eE\s,\[\]()naif]*"  # numbers, arrays, tuples, nan, inf (np.array2string output)
_CHECK_MESSAGES = [re.compile(p, re.S) for p in (
    rf" has the wrong shape: expected {_N}, got {_N}",
    r" is None: did you forget a return statement\?",
    r" is not a rectangular array \(got a ragged sequence\)",
    rf" contains NaN or inf: got {_N}",
    rf" is wrong: expected {_N}, got {_N}",
    rf" is wrong at \d+ of \d+ entries; e\.g\. at index {_N}: expected {_N}, got {_N}"
    rf"\nexpected:\n{_N}\ngot:\n{_N}",
    rf" is too (small|large): expected at (least|most) {_N}, got {_N}",
    rf" does not match the numerical gradient( at index {_N})?: numerical {_N}, yours {_N}",
    rf" is too low: {_N} \(\d+ of \d+ correct\), expected at least {_N}",
    rf": the predictions have the wrong shape: expected {_N}, got {_N} "
    r"\(one predicted label per example\)",
    r": the predictions are None: did you forget a return\?",
)]
HIDDEN_MESSAGE = "(message hidden: this test has hidden parts)"


def is_check_message(ename: str, evalue: str, cell_source: str) -> bool:
    """``True`` iff ``ename: evalue`` looks exactly like a failed check of
    :mod:`nbkit.grading.checks` about a name that is a string literal of ``cell_source``."""
    if ename != "AssertionError" or not isinstance(evalue, str):
        return False
    for pat in _CHECK_MESSAGES:
        for k in range(1, min(len(evalue), 300)):
            name = evalue[:k]
            if (f'"{name}"' in cell_source or f"'{name}'" in cell_source) \
                    and pat.fullmatch(evalue[k:]):
                return True
    return False


def _safe_ename(ename: str) -> str:
    """A built-in exception's name, else ``"Exception"`` (a class name could carry a message)."""
    obj = getattr(builtins, ename, None) if ename.isidentifier() else None
    ok = isinstance(obj, type) and issubclass(obj, BaseException)
    return ename if ok else "Exception (of a non-built-in type)"


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
    sources = {grade_id(c): c.source for c in source_nb.cells if is_test_cell(c)}
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
            ename = str(err.get("ename", ""))[:100]
            evalue = _ANSI.sub("", str(err.get("evalue", "")))
            msg = f"{ename}: {evalue}"
            if c.get("hidden"):
                if not is_check_message(ename, evalue, sources.get(gid, "")) \
                        or any(line in msg for line in secret):
                    msg = f"{_safe_ename(ename)} {HIDDEN_MESSAGE}"
                parts.append(f"<pre>{e(msg)}</pre>")
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
