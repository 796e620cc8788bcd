"""`nbkit grade`: full marks for solutions, 0 for released exercises, partial credit for plausible
wrong answers (every assignment in solutions/); on the example assignment one `nbkit grade`
call over many submissions: names, robustness (timeouts, dying kernels, corrupt files, output
floods), fairness to honest work (nbformat v3, stripped metadata), the CSV/JSON/feedback formats.
Attacks are in test_grading_attacks.py, the sandbox itself in test_grading_sandbox.py."""

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nbkit.grading import checks
from nbkit.grading.grade import grade
from nbkit.grading.notebooks import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    grade_id,
    graded_cells,
    list_assignments,
    parse_submission,
    read_notebook,
    release_path,
    restore_cells,
    solution_path,
    write_notebook,
    wrong_answer_notebook,
)
from nbkit.grading.output import STATUSES
from nbkit.grading.submissions import collect
from nbkit.grading.verdicts import HIDDEN_CELL_FAILED, compare_records

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = list_assignments(REPO)
EXAMPLE = "01_scalar_backprop"
NBKIT = Path(sys.executable).parent / "nbkit"


def insert_after(nb, gid, source):
    """Copy of ``nb`` with a student code cell ``source`` after the cell ``gid``."""
    nb = copy.deepcopy(nb)
    i = next(k for k, c in enumerate(nb.cells) if grade_id(c) == gid)
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = f"student-{i}"
    nb.cells.insert(i + 1, cell)
    return nb


def hidden_lines(nb) -> list[str]:
    out = []
    for c in nb.cells:
        inside = False
        for line in c.source.split("\n"):
            inside = (inside or BEGIN_HIDDEN in line) and END_HIDDEN not in line
            if inside and BEGIN_HIDDEN not in line and len(line.strip()) > 8:
                out.append(line.strip())
    return out


# --------------------------------------------------------------------------------------------
# every assignment: solution = full marks, released = 0, plausible wrong answer in between
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_full_released_zero_wrong_between(assignment, tmp_path):
    source = read_notebook(solution_path(REPO, assignment))
    wrong = wrong_answer_notebook(source)
    assert wrong is not None, (f"{assignment}: give at least one solution cell a plausible "
                               "wrong answer (authoring.solution(..., wrong=...))")
    subs = tmp_path / "subs"
    write_notebook(source, subs / "solution" / f"{assignment}.ipynb")
    write_notebook(read_notebook(release_path(REPO, assignment)),
                   subs / "released" / f"{assignment}.ipynb")
    write_notebook(wrong, subs / "wrong" / f"{assignment}.ipynb")
    results = {r["student"]: r for r in grade(REPO, assignment, [str(subs)], jobs=2,
                                              log=lambda m: None)}
    max_score = sum(t[1] for t in graded_cells(source))
    assert max_score > 0
    sol, released, bad = results["solution"], results["released"], results["wrong"]
    assert sol["status"] == "ok" and sol["score"] == sol["max_score"] == max_score, sol
    assert released["status"] == "ok" and released["score"] == 0
    assert bad["status"] == "ok" and 0 < bad["score"] < max_score


# --------------------------------------------------------------------------------------------
# the example assignment: one grading run over many submissions
# --------------------------------------------------------------------------------------------
def strip_metadata(nb):
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        c.metadata = {}
    return nb


def as_v3(nb) -> str:
    return nbformat.writes(nbformat.convert(strip_metadata(nb), 3), version=3)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Grade all example submissions with one `nbkit grade` call; returns a dict of outputs."""
    tmp = tmp_path_factory.mktemp("grade-example")
    source = read_notebook(solution_path(REPO, EXAMPLE))
    released = read_notebook(release_path(REPO, EXAMPLE))
    wrong = wrong_answer_notebook(source)
    subs = tmp / "subs"
    name = f"{EXAMPLE}.ipynb"

    def put(student, nb):
        write_notebook(nb, subs / student / name)

    put("solution", source)
    put("released", released)
    put("wrong", wrong)
    edited = copy.deepcopy(wrong)
    for c in edited.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = "print('all tests passed')"
    put("edited_tests", edited)
    deleted = copy.deepcopy(wrong)
    deleted.cells = [c for c in deleted.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    put("deleted_tests", deleted)
    put("loop", insert_after(wrong, "backward", "while True:\n    pass"))
    put("dies", insert_after(wrong, "test_forward", "import os\nos._exit(1)"))
    put("flood", insert_after(wrong, "backward", "import sys\nfor _ in range(100):\n"
                                                  "    sys.stdout.write('x' * 1_000_000)"))
    put("chatty", insert_after(source, "backward", "for i in range(20000):\n    print(i)"))
    put("warnings", insert_after(source, "setup",
                                 "import warnings\n_sig = sigmoid\n"
                                 "def sigmoid(z):\n"
                                 "    np.seterr(all='warn')\n"
                                 "    np.float64(1.0) / np.float64(0.0)\n"
                                 "    warnings.warn('a harmless warning', RuntimeWarning)\n"
                                 "    return _sig(z)"))
    put("stripped", strip_metadata(source))
    (subs / "v3").mkdir()
    (subs / "v3" / name).write_text(as_v3(source))
    (subs / "corrupt").mkdir()
    (subs / "corrupt" / name).write_text('{"cells": [')
    (subs / "binary").mkdir()
    (subs / "binary" / name).write_bytes(bytes(range(256)) * 10)
    write_notebook(source, subs / "dave.ipynb")  # file stem names the student
    write_notebook(source, subs / "erin" / EXAMPLE / name)  # nbgrader's submitted layout
    write_notebook(wrong, subs / "frank" / name)  # nested duplicate: distinct rows
    write_notebook(source, subs / "frank" / "old" / name)
    proc = subprocess.run(
        [str(NBKIT), "grade", EXAMPLE, "subs", "--csv", "grades.csv", "--json", "grades.json",
         "--feedback", "feedback", "--timeout", "5", "--jobs", "2", "--root", str(REPO)],
        cwd=tmp, capture_output=True, text=True, timeout=600)
    with open(tmp / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    results = {r["student"]: r for r in json.loads((tmp / "grades.json").read_text())}
    return {"proc": proc, "rows": rows, "results": results, "tmp": tmp, "source": source,
            "n_files": len(list(subs.rglob("*.ipynb"))), "wrong": wrong}


def _score(example, student):
    return example["results"][student]["score"]


def test_exit_code_and_one_row_per_submission(example):
    assert example["proc"].returncode == 0, example["proc"].stderr[-3000:]
    rows = example["rows"]
    assert rows[0] == ["student", "assignment", "score", "max_score", "status",
                       "test_forward", "test_backward_output", "test_backward_hidden"]
    assert len(rows) - 1 == example["n_files"]
    by = {r[0]: r for r in rows[1:]}
    assert by["solution"][1:] == [EXAMPLE, "6", "6", "ok", "2", "2", "2"]
    assert by["wrong"][2:] == ["4", "6", "ok", "2", "2", "0"]
    assert by["released"][2:] == ["0", "6", "ok", "0", "0", "0"]
    assert all(r[4] in STATUSES for r in rows[1:])


def test_json_rows_have_the_documented_keys(example):
    keys = {"student", "assignment", "submission", "status", "outcome", "sandboxed", "score",
            "max_score", "message", "warnings", "seconds", "cells", "submission_sha256",
            "grading_sha256"}
    cell_keys = {"points", "max_points", "passed", "status", "reason", "hidden", "error"}
    for r in example["results"].values():
        assert set(r) == keys and r["sandboxed"] is True and r["status"] == r["outcome"]
        assert all(set(c) == cell_keys for c in r["cells"].values())


def test_student_names_from_the_path_as_given(example):
    res = example["results"]
    assert res["dave"]["score"] == 6 and res["erin"]["score"] == 6
    assert {res["frank"]["score"], res["frank#2"]["score"]} == {4, 6}
    assert "also named 'frank'" in example["proc"].stderr


def test_student_name_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for rel in ("x/alice/A.ipynb", "submitted/carl/A/A.ipynb", "A.ipynb", "subs/bob.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    names = {str(s.path): s.student for s in collect(
        ["x/alice/A.ipynb", "submitted/carl/A/A.ipynb", "A.ipynb", "subs"], "A", warn=print)}
    assert names == {"x/alice/A.ipynb": "alice", "submitted/carl/A/A.ipynb": "carl",
                     "A.ipynb": "A", "subs/bob.ipynb": "bob"}


def test_edited_or_deleted_tests_are_restored(example):
    assert _score(example, "edited_tests") == _score(example, "wrong") == 4
    assert _score(example, "deleted_tests") == 4
    cells = example["results"]["deleted_tests"]["cells"]
    assert cells["test_forward"]["passed"] and not cells["test_backward_hidden"]["passed"]


def test_infinite_loop_times_out_and_later_cells_are_graded(example):
    r = example["results"]["loop"]
    assert r["status"] == "timeout"
    assert r["score"] == 4  # interrupted: the test cells after the loop still ran and passed


def test_corrupt_files_are_unreadable_rows(example):
    for student in ("corrupt", "binary"):
        r = example["results"][student]
        assert r["status"] == "unreadable" and r["score"] == 0 and r["message"]


def test_dying_kernel_is_an_error_row(example):
    r = example["results"]["dies"]
    assert r["status"] == "error" and "died" in r["message"]
    assert r["cells"]["test_forward"]["points"] == 2  # ran before the kernel died
    assert r["cells"]["test_backward_output"]["points"] == 0  # never ran


def test_output_flood_is_stopped_and_honest_output_is_not(example):
    r = example["results"]["flood"]
    assert r["score"] <= _score(example, "wrong")
    assert _score(example, "chatty") == 6
    assert (example["tmp"] / "feedback" / "flood" / f"{EXAMPLE}.html").stat().st_size < 20_000


def test_numpy_warnings_cost_nothing(example):
    assert _score(example, "warnings") == 6


def test_nbformat_v3_and_stripped_metadata_get_full_marks(example):
    for student in ("v3", "stripped"):
        r = example["results"][student]
        assert r["status"] == "ok" and r["score"] == 6, r
        assert any("by its text" in w or "by its position" in w for w in r["warnings"])


def test_feedback_never_shows_hidden_tests(example):
    hidden = hidden_lines(example["source"])
    assert hidden
    files = list((example["tmp"] / "feedback").rglob("*.html"))
    assert len(files) == example["n_files"]
    for f in files:
        text = f.read_text()
        assert "HIDDEN" not in text and not any(h in text for h in hidden), f
    wrong = (example["tmp"] / "feedback" / "wrong" / f"{EXAMPLE}.html").read_text()
    assert "test_backward_hidden" in wrong and HIDDEN_CELL_FAILED in wrong
    assert "4 / 6" in wrong


# --------------------------------------------------------------------------------------------
# honest variants of another assignment: loops, einsum, float32, stripped metadata
# --------------------------------------------------------------------------------------------
LINEAR_INIT = """
class Linear:
    def __init__(self, n_in, n_out, rng, dtype=np.float64):
        std = np.sqrt(2.0 / (n_in + n_out))
        self.W = (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
        self.b = np.zeros(n_out, dtype=dtype)

    def update(self, lr):
        self.W = self.W - lr * self.dW
        self.b = self.b - lr * self.db
"""
HONEST_03 = {
    "loops": {"linear": LINEAR_INIT + '''
    def fprop(self, X):
        self.X = X
        Y = np.zeros((X.shape[0], self.W.shape[1]))
        for n in range(X.shape[0]):
            for m in range(self.W.shape[1]):
                Y[n, m] = sum(X[n, d] * self.W[d, m] for d in range(X.shape[1])) + self.b[m]
        return Y

    def bprop(self, dY):
        X = self.X
        dX, self.dW = np.zeros(X.shape), np.zeros(self.W.shape)
        for n in range(X.shape[0]):
            dX[n] = self.W @ dY[n]
            self.dW += np.outer(X[n], dY[n])
        self.db = np.sum(dY, axis=0)
        return dX'''},
    "einsum": {"linear": LINEAR_INIT + '''
    def fprop(self, X):
        self.X = X
        return np.einsum("nd,dm->nm", X, self.W) + self.b

    def bprop(self, dY):
        self.dW, self.db = np.einsum("nd,nm->dm", self.X, dY), dY.sum(0)
        return np.einsum("nm,dm->nd", dY, self.W)''', "loss": '''
class MSELoss:
    def fprop(self, Y, T):
        self.R = Y - T
        return float(np.einsum("nm,nm->", self.R, self.R)) / (2 * len(Y))

    def bprop(self):
        return self.R / len(self.R)'''},
}


HONEST_04 = {
    "float32": {"softmax": '''
def softmax(Z):
    Z = np.asarray(Z, dtype=np.float32)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)'''},
    "loops": {"onehot": '''
def one_hot(y, K):
    Y = np.zeros((len(y), K))
    for n, k in enumerate(y):
        Y[n, k] = 1.0
    return Y''', "loss": '''
class SoftmaxCrossEntropy:
    def fprop(self, Z, y):
        self.Z, self.y = Z, y
        total = 0.0
        for n in range(len(y)):
            m = Z[n].max()
            total += m + np.log(np.exp(Z[n] - m).sum()) - Z[n, y[n]]
        return float(total / len(y))

    def bprop(self):
        P = softmax(self.Z).copy()
        for n in range(len(self.y)):
            P[n, self.y[n]] -= 1.0
        return P / len(self.y)'''},
}


@pytest.mark.parametrize("a, variants", [("03_linear_layer", HONEST_03),
                                         ("04_softmax_cross_entropy", HONEST_04)])
def test_honest_variants_get_full_marks(a, variants, tmp_path):
    source = read_notebook(solution_path(REPO, a))
    subs = tmp_path / "subs"
    for student, cells in variants.items():
        nb = copy.deepcopy(source)
        for c in nb.cells:
            if grade_id(c) in cells:
                c.source = cells[grade_id(c)].strip()
        write_notebook(nb, subs / student / f"{a}.ipynb")
    write_notebook(strip_metadata(source), subs / "stripped" / f"{a}.ipynb")
    results = grade(REPO, a, [str(subs)], jobs=2, log=lambda m: None)
    assert len(results) == len(variants) + 1
    for r in results:
        assert r["status"] == "ok" and r["score"] == r["max_score"] > 0, (r["student"], {
            g: c["reason"] for g, c in r["cells"].items() if not c["passed"]})


# --------------------------------------------------------------------------------------------
# kernel-free unit tests
# --------------------------------------------------------------------------------------------
def test_check_messages_and_record_is_silent_outside_grading(monkeypatch):
    monkeypatch.delenv(checks.GRADING_ENV, raising=False)
    with pytest.raises(AssertionError, match=r"dW has the wrong shape: expected \(784, 10\), "
                                             r"got \(10, 784\)"):
        checks.check_shape("dW", np.zeros((10, 784)), (784, 10))
    with pytest.raises(AssertionError, match="dW has the wrong shape"):
        checks.check_close("dW", np.zeros((10, 784)), np.zeros((784, 10)))
    with pytest.raises(AssertionError, match=r"b is wrong at 1 of 3 entries; e.g. at index \(2,\)"):
        checks.check_close("b", [1.0, 2.0, 3.5], lambda: [1.0, 2.0, 3.0])
    with pytest.raises(AssertionError, match="did you forget a return"):
        checks.check_close("z", None, 1.0)
    with pytest.raises(AssertionError, match="too small"):
        checks.check_range("accuracy", 0.5, lower=0.9)
    with pytest.raises(AssertionError, match="numerical gradient"):
        checks.check_gradient("dx", lambda x: float(np.sum(x ** 2)), np.ones(3), np.ones(3))
    checks.check_gradient("dx", lambda x: float(np.sum(x ** 2)), np.ones(3), 2 * np.ones(3))
    with pytest.raises(AssertionError, match="standard deviation"):
        checks.check_moments("W", np.random.default_rng(0).normal(0, 2, 5000), 0.0, 1.0)
    checks.check_moments("W", np.random.default_rng(0).normal(0, 1, 5000), 0.0, 1.0)
    checks.check_close("ok", np.float32(0.1), 0.1, rtol=1e-6, atol=1e-7)
    checks.record("anything", [1.0, 2.0])  # not grading: a no-op


def test_checks_never_raise_while_grading(monkeypatch):
    monkeypatch.setenv(checks.GRADING_ENV, "1")
    published = []
    monkeypatch.setattr("IPython.display.publish_display_data", published.append)
    checks.check_close("b", [1.0, 2.0, 3.5], [1.0, 2.0, 3.0])
    checks.check_close("lazy", 1.0, lambda: 1 / 0)  # a hidden reference is never called
    checks.check_range("acc", 0.1, lower=0.9)  # feedback only: no record
    checks.check_accuracy("acc", [0, 1], [1, 1], 0.9)
    names = [p[checks.RECORD_MIMETYPE]["name"] for p in published]
    assert names == ["b", "lazy"]


def test_encode_decode_roundtrip_with_non_finite():
    arr = np.array([[1.5, np.nan], [np.inf, -np.inf]])
    enc = checks.encode_value(arr)
    assert json.loads(json.dumps(enc, allow_nan=False)) == enc
    np.testing.assert_array_equal(checks.decode_value(enc, (2, 2)), arr)


def rec(name, value, **kw):
    arr = np.asarray(value, dtype=float)
    return {"name": name, "value": checks.encode_value(arr), "shape": list(arr.shape),
            "rtol": 1e-6, "atol": 1e-9, "compare": "close", **kw}


def test_compare_records_uses_the_solutions_comparison():
    ref = [rec("g", [1.0, 2.0])]
    assert compare_records([rec("g", [1.0, 2.0 + 1e-9])], ref) == []
    assert compare_records([rec("g", [1.0, 2.1], rtol=1e9, atol=1e9)], ref)  # loosened: no
    assert compare_records([rec("g", [[1.0, 2.0]])], ref)  # shape
    assert compare_records([rec("g", [1.0, 2.0]), rec("g", [1.0, 2.0])], ref)  # count
    assert compare_records([rec("g", [1.0, 2.0]), rec("h", 1.0)], ref)  # extra
    assert compare_records([], ref)
    assert compare_records([{"name": "g", "value": "junk", "shape": [2]}], ref)
    deep = {"name": "g", "value": 1.0, "shape": []}
    for _ in range(5000):
        deep["value"] = [deep["value"]]
    assert compare_records([deep], ref)  # a record built to crash the grader only fails


def test_float32_answers_get_float32_tolerance_but_not_more():
    exp = np.array([1.0, 1e-3, -2.0])
    ref = [rec("y", exp)]
    f32 = exp.astype(np.float32).astype(float)
    assert compare_records([rec("y", f32 + [0, 2e-7, 0], dtype="float32")], ref) == []
    assert compare_records([rec("y", f32 + [0, 2e-7, 0], dtype="float64")], ref)
    assert compare_records([rec("y", exp * 1.001, dtype="float32")], ref)
    exact = [rec("k", [3.0], rtol=0.0, atol=0.0)]
    assert compare_records([rec("k", [3.0 + 1e-6], dtype="float32")], exact)


def test_moments_and_heldout_are_decided_in_the_grader():
    rng = np.random.default_rng(0)
    ref = [rec("W", rng.normal(0, 0.1, (200, 50)), compare="moments",
               params={"rtol_std": 0.03, "atol_mean": 0.02})]
    assert compare_records([rec("W", rng.normal(0, 0.1, (200, 50)))], ref) == []
    assert compare_records([rec("W", rng.normal(0, 0.2, (200, 50)))], ref)
    assert compare_records([rec("W", rng.normal(0, 0.1, (50, 200)))], ref)
    labels = {"set": np.array([0, 1, 2, 3])}
    held = [rec("acc", [0, 0, 0, 0], compare="heldout",
                params={"heldout": "set", "at_least": 0.75})]
    assert compare_records([rec("acc", [0, 1, 2, 0])], held, labels) == []
    assert compare_records([rec("acc", [0, 1, 0, 0])], held, labels)
    assert compare_records([rec("acc", [0, 1, 2])], held, labels)


def test_restore_cells_replaces_and_reinserts_tests_in_order():
    source = read_notebook(solution_path(REPO, EXAMPLE))
    sub = read_notebook(release_path(REPO, EXAMPLE))
    sub.cells = [c for c in sub.cells if grade_id(c) != "test_forward"]
    for c in sub.cells:
        if grade_id(c) == "test_backward_hidden":
            c.source = "pass"
    warnings = []
    restored = restore_cells(sub, source, warnings)
    ids = [grade_id(c) for c in restored.cells]
    assert ids == [grade_id(c) for c in source.cells]
    by_id = {grade_id(c): c for c in restored.cells}
    assert by_id["test_backward_hidden"].source == next(
        c.source for c in source.cells if grade_id(c) == "test_backward_hidden")
    assert BEGIN_HIDDEN in by_id["test_forward"].source
    assert "raise NotImplementedError" in by_id["forward"].source  # student code kept
    assert warnings == ["test cell 'test_forward' was missing: restored from the source"]


def test_stripped_metadata_is_matched_by_text_and_position():
    source = read_notebook(solution_path(REPO, EXAMPLE))
    sub = strip_metadata(read_notebook(release_path(REPO, EXAMPLE)))
    extra = nbformat.v4.new_code_cell("x = 1")  # an extra student cell: no positions
    sub.cells.insert(3, extra)
    warnings = []
    restored = restore_cells(sub, source, warnings)
    ids = [grade_id(c) for c in restored.cells]
    protected = [grade_id(c) for c in source.cells if grade_id(c) and c.metadata["nbgrader"].get(
        "locked")]
    assert [i for i in ids if i in protected] == protected  # each once, in order
    assert ids.index("test_forward") > 3  # never before the student's code
    assert all("by its text" in w for w in warnings)


def test_parse_submission_converts_v3_and_rejects_the_rest():
    nb = parse_submission(as_v3(read_notebook(solution_path(REPO, EXAMPLE))).encode())
    assert nb.nbformat == 4 and any("def forward" in c.source for c in nb.cells)
    for bad in (b"[]", b'{"nbformat": 5, "cells": []}', b'{"cells": []}', b"\xff\xfe"):
        with pytest.raises(ValueError):
            parse_submission(bad)


def test_no_sandbox_marks_every_row_unsandboxed(tmp_path):
    subs = tmp_path / "subs"
    write_notebook(read_notebook(solution_path(REPO, EXAMPLE)), subs / "a" / f"{EXAMPLE}.ipynb")
    (subs / "b").mkdir()
    (subs / "b" / f"{EXAMPLE}.ipynb").write_text("junk")
    proc = subprocess.run([str(NBKIT), "grade", EXAMPLE, str(subs), "--no-sandbox", "--csv",
                           str(tmp_path / "g.csv"), "--root", str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "WITHOUT a sandbox" in proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert rows["a"]["status"] == rows["b"]["status"] == "unsandboxed"
    assert rows["a"]["score"] == "6" and rows["b"]["score"] == "0"


def test_refuses_without_a_sandbox(tmp_path):
    """With no bwrap on PATH `nbkit grade` exits 2 saying what is missing."""
    sub = tmp_path / "a.ipynb"
    write_notebook(read_notebook(solution_path(REPO, EXAMPLE)), sub)
    env = dict(os.environ, PATH=str(tmp_path))  # no bwrap here
    proc = subprocess.run([str(NBKIT), "grade", EXAMPLE, str(sub), "--root", str(REPO)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "bwrap" in proc.stderr and "--no-sandbox" in proc.stderr


def test_feedback_caps_kernel_text_and_escapes_it(tmp_path):
    from nbkit.grading.feedback import MAX_ERROR_CHARS, render_feedback
    from nbkit.grading.output import write_csv

    payload = "<script>alert(1)</script>" + "S" * 5000
    cells = {
        "visible": {"points": 0.0, "max_points": 1.0, "passed": False, "status": "error",
                    "reason": "raised ValueError", "hidden": False,
                    "error": {"ename": "ValueError", "evalue": payload, "traceback": [payload]}},
        "hidden": {"points": 0.0, "max_points": 1.0, "passed": False, "status": "error",
                   "reason": "raised an exception", "hidden": True,
                   "error": {"ename": "Evil" + payload, "evalue": payload, "traceback": []}},
    }
    result = {"student": "=HYPERLINK(\"x\")<b>", "assignment": "a", "score": 0.0,
              "max_score": 2.0, "status": "ok", "outcome": "ok", "message": "", "cells": cells}
    html_text = render_feedback(result)
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert "=HYPERLINK(&quot;x&quot;)&lt;b&gt;" in html_text
    assert 0 < html_text.count("S") <= MAX_ERROR_CHARS  # one capped copy of the message
    assert "Evil" not in html_text
    write_csv([result], [("visible", 1.0, False), ("hidden", 1.0, True)], tmp_path / "g.csv")
    (row,) = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["student"].startswith("'=")



@pytest.mark.parametrize("name", ["=x", "+1", "-", "@a", "\tx", "'", "'=x", "''", "'bob", "bob",
                                  "bo'b", "x=", "", " =x", "\n=x", "\u00a0@x", " ' =x", " bob"])
def test_a_quoted_name_reads_back_as_itself(name):
    from nbkit.grading.output import quote, unquote

    cell = quote(name)
    assert unquote(cell) == name
    for start in (cell[:1], cell.lstrip()[:1]):  # no spreadsheet formula, not after spaces either
        assert start not in ("=", "+", "-", "@", "\t", "\r"), cell
    quoted = name[:1] in ("\t", "\r") or name.lstrip()[:1] in ("=", "+", "-", "@", "'")
    assert cell == ("'" + name if quoted else name)


def test_student_names_are_safe_path_components(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "subs").mkdir()
    for f in ("...ipynb", "..ipynb"):
        (tmp_path / "subs" / f).write_text("{}")
    names = sorted(s.student for s in collect(["subs"], "A", warn=print))
    assert all(n not in ("", ".", "..") and "/" not in n for n in names), names
