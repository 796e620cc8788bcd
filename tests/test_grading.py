"""`nbkit grade`: full marks for solutions, 0 for released exercises, partial credit for plausible
wrong answers (every assignment in solutions/), and, on the example assignment, robustness
(timeouts, dying kernels, corrupt files, output floods) and cheats that must not pay off.

The many submissions of the example are graded by ONE `nbkit grade` call (parallel workers)."""

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbkit.grading import checks
from nbkit.grading.grade import compare_records, grade, student_name
from nbkit.grading.notebooks import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    grade_id,
    graded_cells,
    list_assignments,
    read_notebook,
    release_path,
    restore_cells,
    solution_path,
    write_notebook,
    wrong_answer_notebook,
)

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = list_assignments(REPO)
EXAMPLE = "01_scalar_backprop"
NBKIT = Path(sys.executable).parent / "nbkit"


# --------------------------------------------------------------------------------------------
# every assignment: solution = full marks, released = 0, plausible wrong answer in between
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("nbkit-ref-cache")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_full_released_zero_wrong_between(assignment, tmp_path, cache_dir):
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
                                              timeout=120, cache_dir=cache_dir,
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
def _insert_after(nb, gid, source):
    nb = copy.deepcopy(nb)
    i = next(k for k, c in enumerate(nb.cells) if grade_id(c) == gid)
    cell = copy.deepcopy(nb.cells[i])
    cell.update(cell_type="code", source=source, metadata={}, outputs=[], execution_count=None,
                id=f"student-{i}")
    nb.cells.insert(i + 1, cell)
    return nb


CHEATS = {
    "cheat_allclose": "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                      "np.isclose = lambda *a, **k: True\nnp.any = lambda *a, **k: False",
    "cheat_testing": "import numpy, numpy.testing\n"
                     "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                     "numpy.testing.assert_array_almost_equal = lambda *a, **k: None",
    "cheat_checks": "import nbkit.grading.checks as C\n"
                    "C.check_close = lambda *a, **k: None\nC.check_shape = lambda *a, **k: None\n"
                    "C.record = lambda *a, **k: None\n"
                    "check_close, check_shape, record = C.check_close, C.check_shape, C.record",
    "cheat_assertion": "import builtins\nclass AssertionError(Exception):\n    pass\n"
                       "builtins.AssertionError = AssertionError\n"
                       "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "cheat_forge": "from IPython.display import publish_display_data\n"
                   "def _fake(info):\n"
                   "    for n in ('dL/dw1', 'dL/db1'):\n"
                   "        publish_display_data({'application/vnd.nbkit.record+json':\n"
                   "            {'name': n, 'value': 0.0, 'shape': [], 'rtol': 1e9, 'atol': 1e9,\n"
                   "             'nonce': 'guess'}})\n"
                   "get_ipython().events.register('pre_run_cell', _fake)\n"
                   "import nbkit.grading.checks as C\nC.check_close = lambda *a, **k: None\n"
                   "check_close = C.check_close",
}


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
    put("loop", _insert_after(wrong, "backward", "while True:\n    pass"))
    put("dies", _insert_after(wrong, "test_forward", "import os\nos._exit(1)"))
    put("flood", _insert_after(wrong, "backward",
                               "for _ in range(100):\n    print('x' * 1_000_000)"))
    put("warnings", _insert_after(source, "setup",
                                  "import warnings\n_sig = sigmoid\n"
                                  "def sigmoid(z):\n"
                                  "    np.seterr(all='warn')\n"
                                  "    np.float64(1.0) / np.float64(0.0)\n"
                                  "    warnings.warn('a harmless warning', RuntimeWarning)\n"
                                  "    return _sig(z)"))
    for cheat, code in CHEATS.items():
        put(cheat, _insert_after(wrong, "backward", code))
    (subs / "corrupt").mkdir(parents=True)
    (subs / "corrupt" / name).write_text('{"cells": [')
    (subs / "binary").mkdir()
    (subs / "binary" / name).write_bytes(bytes(range(256)) * 10)
    write_notebook(source, subs / "dave.ipynb")  # file stem names the student
    write_notebook(source, subs / "erin" / EXAMPLE / name)  # nbgrader's submitted layout
    env = {**os.environ, "NBKIT_GRADE_CACHE": str(tmp / "cache")}
    proc = subprocess.run(
        [str(NBKIT), "grade", EXAMPLE, "subs", "--csv", "grades.csv", "--json", "grades.json",
         "--feedback", "feedback", "--timeout", "5", "--jobs", "2", "--root", str(REPO)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    with open(tmp / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    results = {r["student"]: r for r in json.loads((tmp / "grades.json").read_text())}
    return {"proc": proc, "rows": rows, "results": results, "tmp": tmp, "source": source,
            "n_files": len(list(subs.rglob("*.ipynb")))}


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


def test_student_names_from_folders(example):
    res = example["results"]
    assert res["dave"]["score"] == 6 and res["erin"]["score"] == 6
    assert student_name(Path("x/alice/A.ipynb"), "A") == "alice"
    assert student_name(Path("subs/bob.ipynb"), "A", Path("subs").resolve()) == "bob"
    assert student_name(Path("submitted/carl/A/A.ipynb"), "A") == "carl"
    assert student_name(Path("A.ipynb"), "A") == "A"  # in the cwd: stem


def test_edited_or_deleted_tests_are_restored(example):
    assert _score(example, "edited_tests") == _score(example, "wrong") == 4
    assert _score(example, "deleted_tests") == 4
    cells = example["results"]["deleted_tests"]["cells"]
    assert cells["test_forward"]["passed"] and not cells["test_backward_hidden"]["passed"]


def test_infinite_loop_times_out_and_later_cells_are_graded(example):
    r = example["results"]["loop"]
    assert r["status"] == "timeout"
    assert r["score"] == 4  # the test cells after the loop still ran and passed


def test_corrupt_files_are_unreadable_rows(example):
    for student in ("corrupt", "binary"):
        r = example["results"][student]
        assert r["status"] == "unreadable" and r["score"] == 0 and r["message"]


def test_dying_kernel_is_an_error_row(example):
    r = example["results"]["dies"]
    assert r["status"] == "error" and "died" in r["message"]
    assert r["cells"]["test_forward"]["points"] == 2  # ran before the kernel died
    assert r["cells"]["test_backward_output"]["points"] == 0  # never ran


def test_output_flood_is_capped(example):
    r = example["results"]["flood"]
    assert r["status"] == "ok" and r["score"] == 4
    assert r["grader_maxrss_mb"] < 500
    assert (example["tmp"] / "feedback" / "flood" / f"{EXAMPLE}.html").stat().st_size < 100_000


def test_numpy_warnings_cost_nothing(example):
    assert _score(example, "warnings") == 6


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_cheats_score_no_more_than_the_honest_wrong_answer(example, cheat):
    assert _score(example, cheat) <= _score(example, "wrong")
    assert not example["results"][cheat]["cells"]["test_backward_hidden"]["passed"]


def test_feedback_never_shows_hidden_tests(example):
    source = example["source"]
    hidden = []
    for c in source.cells:
        inside = False
        for line in c.source.split("\n"):
            inside = (inside or BEGIN_HIDDEN in line) and END_HIDDEN not in line
            if inside and BEGIN_HIDDEN not in line and len(line.strip()) > 8:
                hidden.append(line.strip())
    assert hidden
    files = list((example["tmp"] / "feedback").rglob("*.html"))
    assert len(files) == example["n_files"]
    for f in files:
        text = f.read_text()
        assert "HIDDEN" not in text and not any(h in text for h in hidden), f
    wrong = (example["tmp"] / "feedback" / "wrong" / f"{EXAMPLE}.html").read_text()
    assert "test_backward_hidden: failed" in wrong and "dL/dw1 is wrong" in wrong
    assert "4 / 6" in wrong


# --------------------------------------------------------------------------------------------
# kernel-free unit tests
# --------------------------------------------------------------------------------------------
def test_check_messages_and_record_is_silent_outside_grading(monkeypatch):
    monkeypatch.delenv(checks.NONCE_ENV, raising=False)
    with pytest.raises(AssertionError, match=r"dW has the wrong shape: expected \(784, 10\), "
                                             r"got \(10, 784\)"):
        checks.check_shape("dW", np.zeros((10, 784)), (784, 10))
    with pytest.raises(AssertionError, match="dW has the wrong shape"):
        checks.check_close("dW", np.zeros((10, 784)), np.zeros((784, 10)))
    with pytest.raises(AssertionError, match=r"b is wrong at 1 of 3 entries; e.g. at index \(2,\)"):
        checks.check_close("b", [1.0, 2.0, 3.5], [1.0, 2.0, 3.0])
    with pytest.raises(AssertionError, match="did you forget a return"):
        checks.check_close("z", None, 1.0)
    with pytest.raises(AssertionError, match="too small"):
        checks.check_range("accuracy", 0.5, lower=0.9)
    with pytest.raises(AssertionError, match="numerical gradient"):
        checks.check_gradient("dx", lambda x: float(np.sum(x ** 2)), np.ones(3), np.ones(3))
    checks.check_gradient("dx", lambda x: float(np.sum(x ** 2)), np.ones(3), 2 * np.ones(3))
    checks.check_close("ok", np.float32(0.1), 0.1, rtol=1e-6, atol=1e-7)
    checks.record("anything", [1.0, 2.0])  # no kernel, no nonce: a no-op


def test_encode_decode_roundtrip_with_non_finite():
    arr = np.array([[1.5, np.nan], [np.inf, -np.inf]])
    enc = checks.encode_value(arr)
    assert json.loads(json.dumps(enc, allow_nan=False)) == enc
    np.testing.assert_array_equal(checks.decode_value(enc, (2, 2)), arr)


def test_compare_records_uses_the_solutions_tolerance_and_counts():
    def rec(name, value, **kw):
        arr = np.asarray(value, dtype=float)
        return {"name": name, "value": checks.encode_value(arr), "shape": list(arr.shape),
                "rtol": 1e-6, "atol": 1e-9, "compare": "close", **kw}

    ref = [rec("g", [1.0, 2.0])]
    assert compare_records([rec("g", [1.0, 2.0 + 1e-9])], ref) == []
    assert compare_records([rec("g", [1.0, 2.1], rtol=1e9, atol=1e9)], ref)  # loosened: no
    assert compare_records([rec("g", [[1.0, 2.0]])], ref)  # shape
    assert compare_records([rec("g", [1.0, 2.0]), rec("g", [1.0, 2.0])], ref)  # count
    assert compare_records([rec("g", [1.0, 2.0]), rec("h", 1.0)], ref)  # extra
    assert compare_records([], ref)
    bounds = [rec("acc", 0.95, compare="bounds", lower=0.9, upper=None)]
    assert compare_records([rec("acc", 0.91)], bounds) == []
    assert compare_records([rec("acc", 0.5, compare="bounds", lower=0.0)], bounds)
    assert compare_records([{"name": "g", "value": "junk", "shape": [2]}], ref)


def test_restore_cells_replaces_and_reinserts_tests_in_order():
    source = read_notebook(solution_path(REPO, EXAMPLE))
    sub = read_notebook(release_path(REPO, EXAMPLE))
    sub.cells = [c for c in sub.cells if grade_id(c) != "test_forward"]
    for c in sub.cells:
        if grade_id(c) == "test_backward_hidden":
            c.source = "pass"
    restored = restore_cells(sub, source)
    ids = [grade_id(c) for c in restored.cells]
    assert ids == [grade_id(c) for c in source.cells]
    by_id = {grade_id(c): c for c in restored.cells}
    assert by_id["test_backward_hidden"].source == next(
        c.source for c in source.cells if grade_id(c) == "test_backward_hidden")
    assert BEGIN_HIDDEN in by_id["test_forward"].source
    assert "raise NotImplementedError" in by_id["forward"].source  # student code kept
