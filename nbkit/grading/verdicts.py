"""Verdicts, decided in the grader from the records a kernel handed over.

A test cell of the solution passes iff it ran without error in the submission and its records
match the records the same cell made when the solution ran: the same names, each as many times,
and every value within the *solution's* comparison:

* ``close``: same shape and ``|got - expected| <= atol + rtol |expected|`` elementwise (the
  solution's ``rtol``/``atol``; NaN matches NaN). When the student's value was computed in
  float32 (its record says so) and the comparison is not exact, ``atol`` grows by
  ``FLOAT32_ULPS`` float32 epsilons times the largest ``|expected|``: honest float32 arithmetic
  earns the marks, while such slack is far too small to let a wrong formula through;
* ``moments``: same shape, standard deviation within ``rtol_std`` of the solution's samples',
  mean within ``atol_mean`` of those standard deviations of the solution's mean;
* ``heldout``: one predicted label per held-out image; the accuracy against the grader's
  labels must reach the ``at_least`` of the solution's record.

Points are the solution's; nothing a kernel reports can exceed them. Reasons are written by the
grader: for cells with hidden tests a fixed text, for other cells the names of the solution's
records that differ. A :class:`~nbkit.grading.references.HiddenReference` error is reported as
the use of that (known) hidden name.
"""

from __future__ import annotations

import builtins

import numpy as np

from .checks import decode_value

FLOAT32_ULPS = 64
HIDDEN_CELL_FAILED = ("a hidden test gave other values than the solution: check your code on "
                      "other inputs than the visible tests use")


def _decode(rec: dict) -> np.ndarray:
    shape = rec.get("shape")
    if not isinstance(shape, list) or len(shape) > 32 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 10**8 for s in shape):
        raise ValueError("malformed shape")
    return decode_value(rec.get("value"), shape)


def value_problem(got_rec: dict, ref: dict, labels: dict) -> str | None:
    """``None`` if the student's record satisfies the solution's record ``ref``, else what is
    wrong (grader's words). ``labels``: ``{held-out set: labels}`` of this run."""
    try:
        got = _decode(got_rec)
        exp = _decode(ref)
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError):
        return "not a number or array of numbers"
    kind, params = ref.get("compare", "close"), ref.get("params") or {}
    if kind == "heldout":
        truth = labels.get(params.get("heldout"))
        if truth is None:
            return "no held-out labels (grader error)"
        if got.shape != truth.shape:
            return f"wrong shape {got.shape}, expected {truth.shape}"
        acc = float(np.mean(got == truth))
        need = float(params.get("at_least", 1.0))
        return None if acc >= need else f"accuracy {acc:.4f} is below the required {need:g}"
    if got.shape != exp.shape:
        return f"wrong shape {got.shape}, expected {exp.shape}"
    if kind == "moments":
        if not np.all(np.isfinite(got)) or got.size < 2:
            return "not finite samples"
        ref_std = float(exp.std()) or 1.0
        if not abs(float(got.std()) / ref_std - 1.0) <= float(params.get("rtol_std", 0.03)):
            return "wrong standard deviation"
        if not abs(float(got.mean()) - float(exp.mean())) <= \
                float(params.get("atol_mean", 0.02)) * ref_std:
            return "wrong mean"
        return None
    rtol, atol = float(ref.get("rtol", 1e-6)), float(ref.get("atol", 1e-9))
    if got_rec.get("dtype") in ("float32", "float16") and (rtol or atol) and exp.size:
        scale = float(np.max(np.abs(exp[np.isfinite(exp)]), initial=0.0))
        atol += FLOAT32_ULPS * float(np.finfo(np.float32).eps) * scale
    if not np.allclose(got, exp, rtol=rtol, atol=atol, equal_nan=True):
        return "wrong value"
    return None


def compare_records(got: list, reference: list[dict], labels: dict | None = None) -> list[str]:
    """What differs between a cell's records ``got`` and the solution's (empty: they match).
    Names are the solution's; names a submission made up are never echoed."""
    labels = labels or {}
    by_name: dict[str, list[dict]] = {}
    for r in got:
        if isinstance(r, dict) and isinstance(r.get("name"), str):
            by_name.setdefault(r["name"], []).append(r)
    expected: dict[str, list[dict]] = {}
    for r in reference:
        expected.setdefault(r["name"], []).append(r)
    problems = []
    for name, refs in expected.items():
        mine = by_name.get(name, [])
        if len(mine) != len(refs):
            problems.append(f"{name}: recorded {len(mine)} time(s), expected {len(refs)}")
            continue
        for g, r in zip(mine, refs, strict=True):
            try:
                why = value_problem(g, r, labels)
            except Exception:  # noqa: BLE001 - a record no comparison expects
                why = "malformed record"
            if why:
                problems.append(f"{name}: {why}")
    extra = sum(len(v) for k, v in by_name.items() if k not in expected)
    if extra:
        problems.append(f"{extra} unexpected record(s)")
    return problems


def _builtin(ename: str) -> str:
    obj = getattr(builtins, ename, None) if isinstance(ename, str) and ename.isidentifier() \
        else None
    return ename if isinstance(obj, type) and issubclass(obj, BaseException) else "an exception"


def _error_reason(err: dict, hidden_names: dict[str, str]) -> str:
    ename, evalue = str(err.get("ename", "")), str(err.get("evalue", ""))
    if ename == "HiddenReference":
        for name in sorted(hidden_names, key=len, reverse=True):
            if evalue.startswith(name + " "):
                return (f"uses {name}, which this exercise asks you to write: it is not "
                        "available while grading")
    if ename == "CellTimeoutError":
        return "timed out"
    if ename == "OutputLimitError":
        return "printed too much output (the kernel was stopped)"
    if ename == "DeadKernelError":
        return "the kernel died"
    return f"raised {_builtin(ename)}"


def cell_verdicts(cells: dict, tests, refs: dict[str, list[dict]], *, labels=None,
                  hidden_names: dict[str, str] | None = None, why_missing: str = "not run"):
    """``{grade_id: verdict}`` for every ``(grade_id, points, has_hidden)`` in ``tests``.

    ``cells``: ``{grade_id: CellRun}`` of the submission's run (missing: not run, for
    ``why_missing``). A verdict is ``{"points", "max_points", "passed", "status", "reason",
    "hidden", "error"}`` (``error``: the kernel's error, for the JSON only).
    """
    out = {}
    for gid, pts, hidden in tests:
        v = {"points": 0.0, "max_points": float(pts), "passed": False, "status": "not_run",
             "reason": why_missing, "hidden": bool(hidden), "error": None}
        out[gid] = v
        run = cells.get(gid)
        if run is None:
            continue
        v["status"], v["error"] = run.status, run.error
        if run.status == "not_run":
            v["reason"] = "not run (the kernel died before)"
        elif run.status != "ok":
            v["reason"] = _error_reason(run.error or {}, hidden_names or {})
        else:
            problems = compare_records(run.records, refs.get(gid, []), labels)
            if not problems:
                v.update(passed=True, points=float(pts), reason="")
            elif hidden:
                v["reason"] = HIDDEN_CELL_FAILED
            else:
                v["reason"] = "values differ from the solution's: " + "; ".join(problems[:8])
    return out
