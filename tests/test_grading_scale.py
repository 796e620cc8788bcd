"""Grading a large class (issue 16): rows streamed to the CSV and JSON as submissions finish, a
run stopped by SIGINT/SIGTERM (or killed) resumed without regrading finished rows -- but
regrading a changed submission or a changed test --, and `--shard K/N` runs that cover every
submission exactly once and merge (`nbkit report`) into what one run gives. A tiny assignment
keeps every run short."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nbkit.grading import authoring as A
from nbkit.grading.grade import grade, shard_of
from nbkit.grading.notebooks import read_notebook, solution_path, write_notebook
from nbkit.grading.report import read_results, summarize
from nbkit.grading.sandbox import unavailable_reason
from nbkit.grading.submissions import collect

NBKIT = Path(sys.executable).parent / "nbkit"
TINY = "tiny"

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"no sandbox here: {unavailable_reason()}")


def tiny_course(root: Path, hidden: str = "check_close('double(-1.5)', double(-1.5), -3.0)"):
    """A course with one small assignment: 3 points, a wrong answer scores 1."""
    (root / "exercises").mkdir(parents=True, exist_ok=True)
    A.write_source(TINY, [
        A.markdown("# double", grade_id="intro"),
        A.setup("from nbkit.grading.checks import check_close", "setup"),
        A.solution("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                   "    ### END SOLUTION", "answer", wrong="def double(x):\n    return x + 2"),
        A.tests("check_close('double(2)', double(2.0), 4.0)", "test_visible", points=1),
        A.tests("double(0.5)", "test_hidden", points=2, hidden=hidden)], root=root)
    return root


def submission(course: Path, kind: str, extra: str | None = None):
    """The solution (``right``) or the wrong answer (``wrong``), plus a student cell."""
    nb = read_notebook(solution_path(course, TINY))
    for c in nb.cells:
        if c.metadata.get("nbkit", {}).get("wrong") and kind == "wrong":
            c.source = c.metadata["nbkit"]["wrong"]
        c.metadata.pop("nbkit", None)
    if extra:
        import nbformat

        nb.cells.insert(3, nbformat.v4.new_code_cell(extra))
    return nb


SCORES = {"right": 3.0, "wrong": 1.0}
SLOW = "import os, time\nif os.path.exists('slow.txt'):\n    time.sleep(60)"
CLASS = {"ann": "right", "bob": "wrong", "cy": "right", "dan": "wrong", "eve": "right",
         "fay": "wrong"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tiny_course(tmp_path_factory.mktemp("course"))
    subs = root.parent / "subs"
    for student, kind in CLASS.items():
        write_notebook(submission(root, kind), subs / student / f"{TINY}.ipynb")
    whole = root.parent / "whole"
    results = grade(root, TINY, [str(subs)], csv_path=str(whole / "g.csv"),
                    json_path=str(whole / "g.json"), jobs=2, log=lambda m: None)
    return {"root": root, "subs": subs, "whole": whole, "results": results}


def nbkit_grade(course, subs, out: Path, *extra, tmp=None):
    """Start `nbkit grade` on ``subs`` writing ``out``/g.csv and g.json (a Popen)."""
    env = dict(os.environ, **({"TMPDIR": str(tmp)} if tmp else {}))
    return subprocess.Popen(
        [str(NBKIT), "grade", TINY, str(subs), "--root", str(course["root"]), "--csv",
         str(out / "g.csv"), "--json", str(out / "g.json"), "--jobs", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_rows(path: Path, n: int, proc, limit=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and proc.poll() is None:
        if path.exists() and path.read_text().count('"student"') >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows in {path}: {proc.poll()} {proc.stderr.read()[-2000:]}")


def scores(path: Path) -> dict:
    return {r["student"]: float(r["score"]) for r in csv.DictReader(path.open())}


def test_one_run_grades_the_class(course):
    assert {r["student"]: r["score"] for r in course["results"]} == \
        {s: SCORES[k] for s, k in CLASS.items()}
    rows = json.loads((course["whole"] / "g.json").read_text())
    assert [r["student"] for r in rows] == sorted(CLASS)  # sorted once the run is over
    assert all(len(r["submission_sha256"]) == 64 and len(r["grading_sha256"]) == 64
               for r in rows)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_resumes_without_regrading(course, tmp_path, how):
    """Stop a run while a submission is being graded: the finished rows are in both files
    (sorted, the JSON valid), nothing of the run is left; --resume keeps them and grades the
    rest, and the result equals one uninterrupted run."""
    subs = tmp_path / "subs"
    order = ["a1", "a2", "a3", "a4"]  # graded in this order with one job
    kinds = {"a1": "right", "a2": "wrong", "a3": "right", "a4": "wrong"}
    for s in order:
        write_notebook(submission(course["root"], kinds[s], SLOW), subs / s / f"{TINY}.ipynb")
    (subs / "a3" / "slow.txt").write_text("sleep")
    # the grader's own TMPDIR, to see what it leaves; short: ZMQ ipc paths have ~107 bytes
    own_tmp = Path(tempfile.mkdtemp(prefix="nbkit-t-", dir="/tmp"))
    proc = nbkit_grade(course, subs, tmp_path, tmp=own_tmp)
    wait_for_rows(tmp_path / "g.json", 2, proc)
    time.sleep(0.5)  # a3 is sleeping in its sandbox now
    (subs / "a3" / "slow.txt").unlink()
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + how, err[-3000:]
    assert "rerun with --resume" in err
    first = json.loads((tmp_path / "g.json").read_text())
    assert [r["student"] for r in first] == ["a1", "a2"]
    assert scores(tmp_path / "g.csv") == {"a1": 3.0, "a2": 1.0}
    try:
        assert [p.name for p in own_tmp.iterdir()
                if p.name != "nbkit-sandbox-uids"] == []  # no run folder, no sandbox left
        assert list((own_tmp / "nbkit-sandbox-uids").glob("*")) == [] or os.geteuid()
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)
    # a2 is fixed before the rerun: its old row no longer holds
    write_notebook(submission(course["root"], "right"), subs / "a2" / f"{TINY}.ipynb")
    proc = nbkit_grade(course, subs, tmp_path, "--resume")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "a1: 3/3 ok (kept)" in err and "a2: 3/3 ok\n" in err and err.count("(kept)") == 1
    final = json.loads((tmp_path / "g.json").read_text())
    assert [r["student"] for r in final] == order
    assert final[0] == first[0]  # kept as it was, not regraded
    assert scores(tmp_path / "g.csv") == {"a1": 3.0, "a2": 3.0, "a3": 3.0, "a4": 1.0}


def test_a_killed_run_resumes_and_a_changed_test_regrades_everything(course, tmp_path):
    """SIGKILL leaves the JSON cut short, without its closing bracket: --resume still keeps
    every complete row. Changing the assignment's tests makes every row stale."""
    subs = tmp_path / "subs"
    for s, kind in (("k1", "right"), ("k2", "wrong"), ("k3", "right")):
        write_notebook(submission(course["root"], kind, SLOW), subs / s / f"{TINY}.ipynb")
    (subs / "k3" / "slow.txt").write_text("sleep")
    proc = nbkit_grade(course, subs, tmp_path)
    wait_for_rows(tmp_path / "g.json", 2, proc)
    time.sleep(0.3)
    (subs / "k3" / "slow.txt").unlink()
    proc.kill()
    proc.communicate(timeout=60)
    text = (tmp_path / "g.json").read_text()
    assert text.count('"student"') == 2 and not text.rstrip().endswith("]")
    with open(tmp_path / "g.json", "a") as fh:
        fh.write('{"student": "k3", "cells": {')  # as if killed in the middle of a row
    proc = nbkit_grade(course, subs, tmp_path, "--resume")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert err.count("(kept)") == 2 and "k3: 3/3 ok\n" in err
    assert scores(tmp_path / "g.csv") == {"k1": 3.0, "k2": 1.0, "k3": 3.0}
    # the hidden test changes (the course's source): nothing may be kept
    old_key = json.loads((tmp_path / "g.json").read_text())[0]["grading_sha256"]
    tiny_course(course["root"], hidden="check_close('double(-2.5)', double(-2.5), -5.0)")
    log = []
    try:
        rows = grade(course["root"], TINY, [str(subs)], json_path=str(tmp_path / "g.json"),
                     resume=True, jobs=2, log=log.append)
    finally:
        tiny_course(course["root"])
    assert not any("(kept)" in m for m in log)
    assert {r["student"]: r["score"] for r in rows} == {"k1": 3.0, "k2": 1.0, "k3": 3.0}
    assert {r["grading_sha256"] for r in rows} != {old_key}


def test_shards_cover_every_submission_once_and_merge_to_one_run(course, tmp_path):
    shards = []
    for k in (1, 2):
        out = tmp_path / f"shard{k}"
        grade(course["root"], TINY, [str(course["subs"])], csv_path=str(out / "g.csv"),
              json_path=str(out / "g.json"), shard=(k, 2), jobs=2, log=lambda m: None)
        shards.append(out)
    names = [set(scores(s / "g.csv")) for s in shards]
    assert names[0] | names[1] == set(CLASS) and not names[0] & names[1]
    whole = summarize(read_results([course["whole"] / "g.csv", course["whole"] / "g.json"]))
    merged = summarize(read_results([p for s in shards for p in (s / "g.csv", s / "g.json")]))
    for key in ("n", "mean", "median", "min", "max", "statuses", "tests"):
        assert merged[key] == whole[key], key


def test_shard_of_is_stable_and_a_late_submission_moves_nobody(tmp_path):
    folder = tmp_path / "subs"
    for i in range(40):
        (folder / f"student{i:02d}").mkdir(parents=True)
        (folder / f"student{i:02d}" / "A.ipynb").write_text("{}")
    before = {s.student: shard_of(s.student, 3) for s in collect([str(folder)], "A")}
    (folder / "late").mkdir()
    (folder / "late" / "A.ipynb").write_text("{}")
    after = {s.student: shard_of(s.student, 3) for s in collect([str(folder)], "A")}
    assert {k: after[k] for k in before} == before
    assert set(before.values()) == {1, 2, 3}


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1/0", "a/b", "2", "-1/2"])
def test_bad_shard_is_a_usage_error(spec, capsys):
    from nbkit.grading.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["grade", TINY, "x", "--shard", spec])
    assert exc.value.code == 2 and "K/N" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["symlink", "others_may_write", "in_submissions", "fifo"])
def test_resume_refuses_rows_it_cannot_trust(course, tmp_path, how):
    """--resume believes only a JSON the grader wrote: a regular file of its own user, writable
    by nobody else, outside the submissions, reached without a symlink. Else it refuses before
    grading, and leaves the CSV alone."""
    from nbkit.grading.notebooks import GradingError

    good = course["whole"] / "g.json"
    path = tmp_path / "g.json"
    if how == "symlink":
        path.symlink_to(good)
    elif how == "others_may_write":
        path.write_bytes(good.read_bytes())
        path.chmod(0o666)
    elif how == "fifo":
        os.mkfifo(path)
    else:
        path = course["subs"] / "ann" / "g.json"
    csv_path = tmp_path / "g.csv"
    csv_path.write_text("before\n")
    try:
        with pytest.raises(GradingError, match="not trusting the rows"):
            grade(course["root"], TINY, [str(course["subs"])], json_path=str(path),
                  csv_path=str(csv_path), resume=True, log=lambda m: None)
    finally:
        if how == "in_submissions":
            path.unlink(missing_ok=True)
    assert csv_path.read_text() == "before\n"


def test_resume_regrades_a_row_whose_numbers_do_not_add_up(course, tmp_path):
    """A kept row must be consistent: points within each test's maximum summing to the score."""
    rows = json.loads((course["whole"] / "g.json").read_text())
    bob = next(r for r in rows if r["student"] == "bob")
    bob["score"] = bob["max_score"]  # the cells still say 1 point
    (tmp_path / "g.json").write_text(  # one row a line, as the grader writes them
        "[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in rows) + "\n]\n")
    log = []
    got = grade(course["root"], TINY, [str(course["subs"])], json_path=str(tmp_path / "g.json"),
                resume=True, log=log.append)
    assert {r["student"]: r["score"] for r in got} == {s: SCORES[k] for s, k in CLASS.items()}
    kept = [m for m in log if "(kept)" in m]
    assert len(kept) == len(CLASS) - 1 and not any("bob" in m for m in kept)


def test_the_class_benchmark_runs(tmp_path):
    """benchmarks/grading_scale.py grades both classes (every row ok) and reports the ratios."""
    out = tmp_path / "scale.json"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.grading_scale", "--submissions",
                           "2", "--baseline", "1", "--assignment", "01_scalar_backprop",
                           "--json", str(out)], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert (got["baseline"]["submissions"], got["class"]["submissions"]) == (1, 2)
    for key in ("per_submission_s", "grader_peak_mb", "kernel_peak_mb"):
        assert got["ratio"][key] == pytest.approx(got["class"][key] / got["baseline"][key])
    assert 20 < got["class"]["grader_peak_mb"] < 2000
    assert got["marginal_per_submission_s"] == pytest.approx(  # noisy at 2 vs 1: no sign asked
        got["class"]["grade_s"] - got["baseline"]["grade_s"])


def test_a_temporary_folder_too_deep_for_ipc_sockets_is_refused(course, tmp_path, monkeypatch):
    """ZMQ ipc socket paths have at most 107 bytes: a long TMPDIR gets a clear error at once,
    not a kernel that cannot start."""
    import tempfile

    from nbkit.grading.grade import GradingRun
    from nbkit.grading.notebooks import GradingError

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with pytest.raises(GradingError, match="TMPDIR"):
        GradingRun(course["root"], TINY)
    assert list(deep.iterdir()) == []  # its folder is removed again
