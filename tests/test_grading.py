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
                                              timeout=120, log=lambda m: None)}
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
    # hole 1: forge the worker's result (any file/pipe it might use) and kill the worker
    "cheat_forge_result": "import glob, json, os, signal, tempfile\n"
                          "_cells = {g: {'points': 100.0, 'max_points': 100.0, 'passed': True,\n"
                          "              'status': 'ok', 'reason': '', 'error': None,\n"
                          "              'records': []}\n"
                          "          for g in ('test_forward', 'test_backward_output',\n"
                          "                    'test_backward_hidden', 'bogus')}\n"
                          "_res = json.dumps({'status': 'ok', 'message': '', 'score': 700.0,\n"
                          "                   'cells': _cells})\n"
                          "for _d in {tempfile.gettempdir(), '/tmp'}:\n"
                          "    for _f in glob.glob(_d + '/nbkit-*/result.json') + \\\n"
                          "            [p[:-8] + 'result.json'\n"
                          "             for p in glob.glob(_d + '/nbkit-*/job.json')]:\n"
                          "        try:\n"
                          "            open(_f, 'w').write(_res)\n"
                          "        except OSError:\n"
                          "            pass\n"
                          "for _fd in (1, 2):\n"
                          "    try:\n"
                          "        open(f'/proc/{os.getppid()}/fd/{_fd}', 'w').write(\n"
                          "            json.dumps({'result': _res, 'mac': '0' * 64}) + '\\n')\n"
                          "    except OSError:\n"
                          "        pass\n"
                          "try:\n"
                          "    os.kill(os.getppid(), signal.SIGKILL)\n"
                          "except OSError:\n"
                          "    pass",
    # hole 2: look for the reference records on disk (job files, /proc of the worker) and
    # re-emit them, with this run's nonce, in place of every test cell
    "cheat_read_job": "import glob, json, os, tempfile\n"
                      "from IPython.display import publish_display_data\n"
                      "_found = {}\n"
                      "def _scan(text):\n"
                      "    try:\n"
                      "        d = json.loads(text)\n"
                      "    except Exception:\n"
                      "        return\n"
                      "    d = d.get('job', d) if isinstance(d, dict) else {}\n"
                      "    if isinstance(d, dict) and isinstance(d.get('refs'), dict):\n"
                      "        _found.update(d['refs'])\n"
                      "_paths = [f'/proc/{os.getppid()}/{x}'\n"
                      "          for x in ('fd/0', 'environ', 'cmdline')]\n"
                      "for _d in {tempfile.gettempdir(), '/tmp'}:\n"
                      "    _paths += glob.glob(_d + '/nbkit-*/*.json')\n"
                      "for _p in _paths:\n"
                      "    try:\n"
                      "        _scan(open(_p, errors='replace').read())\n"
                      "    except OSError:\n"
                      "        pass\n"
                      "def _emit(gid):\n"
                      "    for r in _found.get(gid, []):\n"
                      "        r = dict(r, nonce=os.environ.get('NBKIT_GRADE_NONCE'))\n"
                      "        publish_display_data({'application/vnd.nbkit.record+json': r})\n"
                      "def _xform(lines):\n"
                      "    src = ''.join(lines)\n"
                      "    for g in ('test_backward_hidden', 'test_backward_output'):\n"
                      "        if _found and g.split('_')[-1] in src:\n"
                      "            return [f'_emit({g!r})\\n']\n"
                      "    return lines\n"
                      "get_ipython().input_transformers_post.append(_xform)",
    # hole 3: poison any reference cache the grader might keep on disk
    "cheat_poison_cache": "import glob, json, os\n"
                          "_P = os.environ.get('POISON_DIR', '/nonexistent')\n"
                          "for _f in glob.glob(_P + '/*'):\n"
                          "    try:\n"
                          "        _refs = json.load(open(_f))\n"
                          "        for _recs in _refs.values():\n"
                          "            for _r in _recs:\n"
                          "                _r.update(compare='bounds', lower=None, upper=None)\n"
                          "        json.dump(_refs, open(_f, 'w'))\n"
                          "    except Exception:\n"
                          "        pass\n"
                          f"open(_P + '/{EXAMPLE}-x.json', 'w').write('{{}}')",
}

# hole 5: an exception whose message carries the source of the (hidden) test cell
LEAK = ("import base64\n_bw = backward\n"
        "def backward(*args, **kw):\n"
        "    src = get_ipython().user_ns['In'][-1]\n"
        "    if 'dL/dw1' in src:\n"
        "        raise ValueError('LEAK' + base64.b64encode(src.encode()).decode())\n"
        "    return _bw(*args, **kw)")

# hole 4 (only when grading as root): kill the worker and every grader process, write the repo
KILLER = ("import os, signal\n"
          "for _pid in [os.getppid()] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
          "    try:\n"
          "        _cmd = open(f'/proc/{_pid}/cmdline', 'rb').read()\n"
          "        if _pid == os.getppid() or b'nbkit' in _cmd:\n"
          "            if _pid != os.getpid():\n"
          "                os.kill(_pid, signal.SIGKILL)\n"
          "    except OSError:\n"
          "        pass\n"
          "for _f in ('README.md', 'pwned_by_a_submission.txt'):\n"
          f"    _p = {str(REPO)!r} + '/' + _f\n"
          "    try:\n"
          "        open(_p, 'a').write('pwned')\n"
          "    except OSError:\n"
          "        pass")
AS_ROOT = os.geteuid() == 0


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
    put("leak", _insert_after(wrong, "backward", LEAK))
    if AS_ROOT:
        put("killer", _insert_after(wrong, "backward", KILLER))
    (subs / "corrupt").mkdir(parents=True)
    (subs / "corrupt" / name).write_text('{"cells": [')
    (subs / "binary").mkdir()
    (subs / "binary" / name).write_bytes(bytes(range(256)) * 10)
    write_notebook(source, subs / "dave.ipynb")  # file stem names the student
    write_notebook(source, subs / "erin" / EXAMPLE / name)  # nbgrader's submitted layout
    poison = tmp / "cache"  # where a cache could live: writable for everybody, poisoned below
    poison.mkdir()
    poison.chmod(0o777)
    env = {**os.environ, "NBKIT_GRADE_CACHE": str(poison), "POISON_DIR": str(poison)}
    proc = subprocess.run(
        [str(NBKIT), "grade", EXAMPLE, "subs", "--csv", "grades.csv", "--json", "grades.json",
         "--feedback", "feedback", "--timeout", "5", "--jobs", "2", "--root", str(REPO)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    with open(tmp / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    results = {r["student"]: r for r in json.loads((tmp / "grades.json").read_text())}
    return {"proc": proc, "rows": rows, "results": results, "tmp": tmp, "source": source,
            "n_files": len(list(subs.rglob("*.ipynb"))), "poison": poison,
            "wrong": wrong}


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


# --------------------------------------------------------------------------------------------
# the grader's own defences (red-team holes 1-5)
# --------------------------------------------------------------------------------------------
def test_forged_result_is_ignored_and_points_are_capped(example):
    r = example["results"]["cheat_forge_result"]
    assert set(r["cells"]) == {"test_forward", "test_backward_output", "test_backward_hidden"}
    assert all(c["points"] <= c["max_points"] for c in r["cells"].values())
    assert r["max_score"] == 6 and r["score"] <= _score(example, "wrong")
    if r["status"] == "error":  # the worker was killed (possible when not root): nothing scores
        assert r["score"] == 0


class _FakeWorker:
    """Stands in for the worker process: records its stdin, answers a forged result."""

    def __init__(self, out: bytes, returncode: int):
        self.out, self.returncode, self.pid, self.stdin = out, returncode, 0, None

    def communicate(self, stdin=None, timeout=None):
        self.stdin = stdin
        return self.out, b""


def test_worker_results_must_be_authenticated(monkeypatch):
    from nbkit.grading import grade as G

    forged = json.dumps({"status": "ok", "message": "",
                         "cells": {"test_forward": {"status": "ok", "records": []}}})
    seen = []

    def fake(out, rc):
        def popen(*args, **kw):
            seen.append(_FakeWorker(out, rc))
            return seen[-1]
        return popen

    for out, rc in [(json.dumps({"result": forged, "mac": "0" * 64}).encode(), 0),
                    (forged.encode(), 0),
                    (json.dumps({"result": forged, "mac": G.sign(b"k" * 32, forged.encode())})
                     .encode(), 0),
                    (b"", -9)]:
        monkeypatch.setattr(G.subprocess, "Popen", fake(out, rc))
        res = G._run_worker({"submission": "x", "refs_would_go_here": False}, 10)
        assert res["status"] == "error" and res["cells"] == {}, res
    assert "signal 9" in res["message"]
    # the job goes over stdin with a fresh key each time; never the reference records
    keys = {json.loads(w.stdin)["key"] for w in seen}
    assert len(keys) == len(seen) and all(len(bytes.fromhex(k)) == 32 for k in keys)
    # verdicts: only the solution's grade_ids, at most their points, records re-checked
    ref = [{"name": "a", "value": 1.0, "shape": [], "rtol": 0, "atol": 0}]
    run = {"status": "ok", "cells": {
        "t1": {"status": "ok", "records": [{"name": "a", "value": 1.0, "shape": []}],
               "points": 99, "passed": True},
        "t2": {"status": "ok", "records": [], "points": 99, "passed": True},
        "bogus": {"status": "ok", "records": [], "points": 99}}}
    cells = G.cell_verdicts(run, [("t1", 2.0, False), ("t2", 3.0, True)], {"t1": ref, "t2": ref})
    assert set(cells) == {"t1", "t2"}
    assert cells["t1"]["points"] == 2.0 and cells["t2"]["points"] == 0.0


def test_job_data_is_not_on_disk(example):
    r = example["results"]["cheat_read_job"]
    assert r["score"] <= _score(example, "wrong")
    assert not r["cells"]["test_backward_hidden"]["passed"]


def test_no_reference_cache_to_poison(example, tmp_path, monkeypatch):
    poison = example["poison"]
    # the grader wrote nothing there (at most the cheat's own file, if the kernel could reach it)
    assert {p.name for p in poison.iterdir()} <= {f"{EXAMPLE}-x.json"}
    for name in (f"{EXAMPLE}-x.json", f"{EXAMPLE}-0123.json"):  # every record made lenient
        refs = {g: [{"name": n, "value": 0.0, "shape": [], "compare": "bounds"}
                    for n in ("dL/dw1", "dL/db1")] for g in ("test_backward_hidden",)}
        (poison / name).write_text(json.dumps(refs))
    monkeypatch.setenv("NBKIT_GRADE_CACHE", str(poison))
    write_notebook(example["wrong"], tmp_path / "wrong" / f"{EXAMPLE}.ipynb")
    (r,) = grade(REPO, EXAMPLE, [str(tmp_path / "wrong")], jobs=1, timeout=30,
                 log=lambda m: None)
    assert r["score"] == 4 and not r["cells"]["test_backward_hidden"]["passed"]


@pytest.mark.skipif(not AS_ROOT, reason="the kernel only runs unprivileged when grading as root;"
                                        " otherwise it can kill the grader (grade in a container)")
def test_kernel_cannot_kill_the_grader_or_write_the_repo(example):
    assert example["proc"].returncode == 0, example["proc"].stderr[-3000:]
    assert len(example["rows"]) - 1 == example["n_files"]
    r = example["results"]["killer"]
    assert r["status"] == "ok" and r["score"] == _score(example, "wrong") == 4
    assert _score(example, "solution") == 6
    assert b"pwned" not in (REPO / "README.md").read_bytes()  # (others may edit it meanwhile)
    assert not (REPO / "pwned_by_a_submission.txt").exists()


def test_feedback_hides_messages_of_hidden_tests(example):
    r = example["results"]["leak"]
    assert r["cells"]["test_backward_hidden"]["error"]["evalue"].startswith("LEAK")
    html_text = (example["tmp"] / "feedback" / "leak" / f"{EXAMPLE}.html").read_text()
    assert "LEAK" not in html_text
    assert "ValueError (message hidden: this test has hidden parts)" in html_text


def test_is_check_message():
    from nbkit.grading.feedback import is_check_message

    src = 'check_close("dL/dw1", g, 1.0)\ncheck_shape("out", o, (2,))'
    assert is_check_message("AssertionError", "dL/dw1 is wrong: expected 1.0, got -0.5", src)
    assert is_check_message("AssertionError",
                            "out has the wrong shape: expected (2,), got (3, 1)", src)
    assert not is_check_message("ValueError", "dL/dw1 is wrong: expected 1.0, got -0.5", src)
    assert not is_check_message("AssertionError", "dL/dw1 is wrong: expected 1.0, got secret",
                                src)
    assert not is_check_message("AssertionError", "zz is wrong: expected 1.0, got 2.0", src)
    assert not is_check_message("AssertionError", "Y2hlY2tfY2xvc2U=", src)


@pytest.mark.skipif(not AS_ROOT, reason="the kernel only drops to another uid when grading as root")
def test_unprivileged_kernel_imports_nbkit_from_a_private_checkout(tmp_path):
    """A checkout under a directory the kernel's uid cannot enter (e.g. /root/...) still grades:
    the kernel reaches nbkit through a directory handle opened before dropping privileges."""
    import shutil

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    root = private / "course"
    shutil.copytree(REPO / "nbkit", root / "nbkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions" / EXAMPLE, root / "solutions" / EXAMPLE)
    (root / "exercises").mkdir()
    sub = tmp_path / "subs" / "alice"
    sub.mkdir(parents=True)
    shutil.copy(root / "solutions" / EXAMPLE / f"{EXAMPLE}.ipynb", sub)
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run(
        [sys.executable, "-m", "nbkit.cli", "grade", EXAMPLE, str(sub.parent), "--root",
         str(root), "--csv", str(tmp_path / "g.csv"), "--jobs", "1"],
        env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert (row["student"], row["score"], row["max_score"]) == ("alice", "6", "6"), row
