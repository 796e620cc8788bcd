"""`nbkit report`: the class report from real `nbkit grade` output (CSV, JSON, shards), clear
errors for bad input, nbgrader's gradebook kept in step, and the page in a real browser."""

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nbkit.grading.grade import grade
from nbkit.grading.notebooks import (
    GradingError,
    graded_cells,
    read_notebook,
    release_path,
    solution_path,
    write_notebook,
    wrong_answer_notebook,
)
from nbkit.grading.output import unquote
from nbkit.grading.report import ReportError, read_results, report, summarize

REPO = Path(__file__).resolve().parents[1]
A = "01_scalar_backprop"
NBKIT = Path(sys.executable).parent / "nbkit"
HEADER = "student,assignment,score,max_score,status,t1,t2\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One real `nbkit grade` run: right, wrong, empty (released) and corrupt submissions."""
    tmp = tmp_path_factory.mktemp("graded")
    source = read_notebook(solution_path(REPO, A))
    subs = tmp / "subs"
    write_notebook(source, subs / "ada" / f"{A}.ipynb")
    write_notebook(wrong_answer_notebook(source), subs / "bob" / f"{A}.ipynb")
    write_notebook(wrong_answer_notebook(source), subs / "'=cy" / f"{A}.ipynb")  # CSV: ''=cy
    write_notebook(read_notebook(release_path(REPO, A)), subs / "dee" / f"{A}.ipynb")
    (subs / "eve").mkdir()
    (subs / "eve" / f"{A}.ipynb").write_text("{not a notebook")
    # names a spreadsheet would run, and folder bytes that are not UTF-8 (once fatal to the CSV)
    write_notebook(wrong_answer_notebook(source), subs / "=1+1" / f"{A}.ipynb")
    write_notebook(source, subs / os.fsdecode(b"caf\xe9") / f"{A}.ipynb")
    results = grade(REPO, A, [str(subs)], csv_path=str(tmp / "grades.csv"),
                    json_path=str(tmp / "grades.json"), feedback_dir=str(tmp / "feedback"),
                    jobs=2, log=lambda m: None)
    return {"dir": tmp, "csv": tmp / "grades.csv", "json": tmp / "grades.json",
            "results": {r["student"]: r for r in results}, "subs": subs,
            "folders": {"caf\ufffd": subs / os.fsdecode(b"caf\xe9")}}


def test_report_of_a_real_grading_run(graded, tmp_path):
    res = report([graded["csv"], graded["json"]], out_dir=tmp_path)
    results = graded["results"]
    n = len(results)
    assert n == 7 and res["n"] == n and res["statuses"] == {"ok": 6, "unreadable": 1}
    assert res["mean"] == pytest.approx(sum(r["score"] for r in results.values()) / n)
    tests = graded_cells(read_notebook(solution_path(REPO, A)))
    by_test = {t["test"]: t for t in res["tests"]}
    assert list(by_test) == [g for g, _, _ in tests]
    for gid, points, _ in tests:
        passed = [r for r in results.values() if r["cells"][gid]["passed"]]
        assert by_test[gid]["max_points"] == points
        assert by_test[gid]["pass_rate"] == pytest.approx(len(passed) / n)
        assert by_test[gid]["mean_points"] == pytest.approx(
            sum(r["cells"][gid]["points"] for r in results.values()) / n)
    # the most failed test carries its most common message (from the JSON)
    worst = res["most_failed"][0]
    assert worst["failed"] == max(t["failed"] for t in res["tests"]) > 0
    assert worst["message"] and worst["message_count"] >= 2
    assert [r.student for r in res["attention"]] == ["eve"]
    # LMS CSV: student,total for everyone
    lms = list(csv.reader(res["lms_csv"].open()))
    assert lms[0] == ["student", "total"]
    assert {unquote(s): float(t) for s, t in lms[1:]} == \
        {s: r["score"] for s, r in results.items()}
    assert "=1+1" in results and "'=cy" in results and "caf\ufffd" in results
    assert sorted(r.student for r in res["rows"]) == sorted(results)  # CSV, JSON: one name
    assert "'=1+1" in {s for s, _ in lms[1:]}  # the CSV and JSON rows were one student
    assert not any(s[:1] in "=+-@" for s, _ in lms[1:])
    page = res["html"].read_text()
    assert page.count('<img id="histogram"') == 1 and "data:image/png;base64," in page
    assert "unreadable" in page and worst["test"] in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_csv_alone_takes_the_points_from_the_course(graded, tmp_path):
    res = report([graded["csv"]], out_dir=tmp_path, root=REPO)
    points = {g: p for g, p, _ in graded_cells(read_notebook(solution_path(REPO, A)))}
    assert {t["test"]: t["max_points"] for t in res["tests"]} == points
    assert all(t["message"] is None for t in res["tests"])  # no messages without the JSON
    with_json = report([graded["csv"], graded["json"]], out_dir=tmp_path / "j")
    assert [(t["pass_rate"], t["mean_points"]) for t in res["tests"]] == \
        [(t["pass_rate"], t["mean_points"]) for t in with_json["tests"]]


def test_shards_merge_to_the_whole(graded, tmp_path):
    lines = graded["csv"].read_text().splitlines(keepends=True)
    (tmp_path / "s1.csv").write_text(lines[0] + "".join(lines[1:3]))
    (tmp_path / "s2.csv").write_text(lines[0] + "".join(lines[3:]))
    whole = summarize(read_results([graded["csv"]]))
    merged = summarize(read_results([tmp_path / "s1.csv", tmp_path / "s2.csv"]))
    for key in ("n", "mean", "median", "statuses", "tests"):
        assert merged[key] == whole[key]
    (tmp_path / "s3.csv").write_text(lines[0] + lines[1])
    with pytest.raises(ReportError, match=r"graded in both .*s1\.csv and .*s3\.csv"):
        read_results([tmp_path / "s1.csv", tmp_path / "s3.csv"])


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ("", r"is empty: expected a header row"),
    ("\n\n", r"is empty"),
    ("student,score,status\nann,1,ok\n", r"missing column\(s\) assignment, max_score"),
    (HEADER, r"has a header but no rows"),
    (HEADER + "ann,A,x,2,ok,1,1\n", r"line 2: score 'x' is not a number"),
    (HEADER + "ann,A,1,2,ok,1\n", r"line 2: 6 fields, expected 7"),
    (HEADER + "ann,A,1,2,finished,1,0\n", r"line 2: unknown status 'finished'; expected one of"),
    (HEADER + ",A,1,2,ok,1,0\n", r"line 2: empty student name"),
    (HEADER + "ann,A,1,2,ok,nan,0\n", r"not a finite number"),
    (HEADER + "ann,A,1,2,ok,1,0\nbo,B,1,2,ok,1,0\n", r"several assignments \(A, B\)"),
    (HEADER + "ann,A,1,2,ok,1,0\nann,A,1,2,ok,1,0\n", r"graded in both"),
    ("student,assignment,score,max_score,status,t1,t1\n", r"t1 appear more than once"),
])
def test_bad_csv_gives_a_clear_error(tmp_path, text, message):
    with pytest.raises(ReportError, match=message):
        read_results([_write(tmp_path, "grades.csv", text)])


@pytest.mark.parametrize("text, message", [
    ("", r"is empty"),
    ("{", r"is not valid JSON"),
    ('{"student": "a"}', r"expected a JSON list of results, got dict"),
    ("[]", r"holds no results"),
    ('[{"student": "a", "assignment": "A"}]', r"item 0: missing key\(s\) score, max_score"),
    ('[{"student": "a", "assignment": "A", "score": 1, "max_score": 2, "status": "ok", '
     '"cells": {"t": {"points": "two"}}}]', r"points of test 't' 'two' is not a number"),
])
def test_bad_json_gives_a_clear_error(tmp_path, text, message):
    with pytest.raises(ReportError, match=message):
        read_results([_write(tmp_path, "grades.json", text)])


def test_missing_file_and_no_files(tmp_path):
    with pytest.raises(ReportError, match=r"nope\.csv: no such file"):
        read_results([tmp_path / "nope.csv"])
    with pytest.raises(ReportError, match="no result files"):
        read_results([])


def test_hand_made_statuses_including_unsandboxed(tmp_path):
    p = _write(tmp_path, "g.csv", HEADER + "ann,A,2,2,ok,1,1\nbo,A,1,2,unsandboxed,1,0\n"
                                           "cy,A,0,2,timeout,0,0\ndi,A,0,2,error,0,0\n")
    res = report([p], out_dir=tmp_path, root=tmp_path)  # no course here: points unknown
    assert res["statuses"] == {"ok": 1, "unsandboxed": 1, "timeout": 1, "error": 1}
    assert [r.student for r in res["attention"]] == ["bo", "cy", "di"]
    assert [t["max_points"] for t in res["tests"]] == [None, None]
    assert [t["pass_rate"] for t in res["tests"]] == [0.5, 0.25]
    assert [t["test"] for t in res["most_failed"]] == ["t2", "t1"]
    assert res["median"] == 0.5 and res["mean"] == 0.75
    page = res["html"].read_text()
    for s in ("unsandboxed", "timeout", "error"):
        assert f"<td class=warn>{s}</td>" in page


def test_student_names_are_escaped(tmp_path):
    p = _write(tmp_path, "g.csv", HEADER + '<script>alert(1)</script>,A,1,2,error,1,0\n')
    page = report([p], out_dir=tmp_path, root=tmp_path)["html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_histogram_is_a_labelled_picture(graded, tmp_path):
    import io

    import matplotlib.image

    from nbkit.grading.report import histogram_png

    rows = read_results([graded["json"]])
    png = histogram_png(rows, summarize(rows))
    img = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (720, 1280)
    assert img[..., :3].std() > 0.05  # not a blank picture


def test_cli_writes_the_report_and_fails_clearly(graded, tmp_path):
    ok = subprocess.run([str(NBKIT), "report", str(graded["csv"]), str(graded["json"]),
                         "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert f"{len(graded['results'])} submission(s)" in ok.stdout
    assert (tmp_path / f"{A}_report.html").is_file() and (tmp_path / f"{A}_lms.csv").is_file()
    bad = subprocess.run([str(NBKIT), "report", str(_write(tmp_path, "e.csv", ""))],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("nbkit: error: ") and "is empty" in bad.stderr


# --------------------------------------------------------------------------------------------
# nbgrader's gradebook
# --------------------------------------------------------------------------------------------
@pytest.mark.timeout(300)  # a FIFO read by the sync would block for ever
def test_gradebook_and_feedback_kept_in_step(graded, tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from nbkit.grading.gradebook import course_directory, sync_nbgrader

    course = tmp_path / "course"
    for sub in ("solutions", "exercises"):
        shutil.copytree(REPO / sub / A, course / sub / A)
    shutil.copy(REPO / "nbgrader_config.py", course)
    rows = read_results([graded["csv"]])
    with pytest.raises(GradingError, match=r"not in the gradebook .*: run `nbgrader generate_"):
        sync_nbgrader(course, rows)
    cd = course_directory(course)
    api = NbGraderAPI(cd, parent=None)
    assert api.generate_assignment(A)["success"]
    for r in rows:  # nbgrader's layout after `nbgrader collect`
        sub = Path(cd.format_path(cd.submitted_directory, r.student, A))
        sub.mkdir(parents=True)
        folder = graded["folders"].get(r.student, graded["subs"] / r.student)
        shutil.copy(folder / f"{A}.ipynb", sub)
        (sub / "timestamp.txt").write_text("2026-01-02 03:04:05.000000 UTC")
        (sub / "submission_secret.txt").write_text(f"secret-{r.student}")
    bob = next(r for r in rows if r.student == "bob")
    rows.append(replace(bob, student="bob#2"))  # a second notebook of Bob's: no nbgrader student
    # what students can leave in their own folders (each once crashed, hung or leaked the sync)
    submitted = {r.student: Path(cd.format_path(cd.submitted_directory, r.student, A))
                 for r in rows}
    os.mkfifo(submitted["bob"] / "pipe")  # copytree: shutil.Error
    (submitted["dee"] / "timestamp.txt").write_text("junk")  # nbgrader's: AttributeError
    (submitted["ada"] / "timestamp.txt").unlink()
    os.mkfifo(submitted["ada"] / "timestamp.txt")  # open() blocks for ever
    (submitted["eve"] / "submission_secret.txt").unlink()
    (submitted["eve"] / "submission_secret.txt").symlink_to(submitted["bob"] /
                                                            "submission_secret.txt")
    (submitted["caf\ufffd"] / "submission_secret.txt").write_text("secret-dee")  # Dee's too
    done = sync_nbgrader(course, rows, feedback_dir=graded["dir"] / "feedback")
    # nbgrader export writes names unquoted: "=1+1" would be a formula there
    kept = [r for r in rows if r.student not in ("'=cy", "=1+1", "bob#2")]
    n = len(kept)
    assert len(rows) == 8 and n == 5
    assert done["submissions"] == n and done["feedback"] == n - 2
    assert [(s, why.split(" ")[0]) for s, why in done["skipped"]] == [
        ("'=cy", "nbgrader"), ("=1+1", "nbgrader"), ("caf\ufffd", "its"), ("dee", "its"),
        ("bob#2", "no")]
    feedback = {s: Path(cd.format_path(cd.feedback_directory, s, A)) for s in submitted}
    assert not (feedback["eve"] / "submission_secret.txt").exists()  # never Bob's secret
    assert not (feedback["ada"] / "timestamp.txt").exists()
    assert sorted(os.listdir(cd.format_path(cd.autograded_directory, "bob", A))) == [f"{A}.ipynb"]
    with Gradebook(cd.db_url, cd.course_id) as gb:
        stored = {s.student.id: s.score for s in gb.find_assignment(A).submissions}
        stamps = {s.student.id: s.timestamp for s in gb.find_assignment(A).submissions}
    assert stored == {r.student: r.score for r in kept}
    assert stamps["dee"] is None and stamps["ada"] is None and stamps["bob"].year == 2026
    for student in ("ada", "dee"):  # nbgrader's own listing would fail or hang on these
        (submitted[student] / "timestamp.txt").unlink()
    listed = {s["student"]: s for s in api.get_submissions(A)}
    assert all(listed[r.student]["autograded"] and listed[r.student]["score"] == r.score
               for r in kept)
    fb = Path(cd.format_path(cd.feedback_directory, "bob", A))
    assert (fb / f"{A}.html").read_text() == (graded["dir"] / "feedback" / "bob" /
                                               f"{A}.html").read_text()
    assert (fb / "submission_secret.txt").read_text() == "secret-bob"
    assert {oct(p.stat().st_mode & 0o777) for p in fb.iterdir()} == {"0o600"}
    # a second run (a regrade) updates, it does not duplicate
    assert sync_nbgrader(course, rows)["submissions"] == n


# --------------------------------------------------------------------------------------------
# the page in a real browser
# --------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_report_opens_in_chromium_with_its_picture(graded, tmp_path):
    from browser import CHROMIUM, CHROMIUM_FLAGS, TIMEOUT_MS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api")

    page_file = report([graded["csv"], graded["json"]], out_dir=tmp_path)["html"]
    requests = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_FLAGS)
        try:
            for scale in (1, 2):
                page = browser.new_page(viewport={"width": 1366, "height": 768},
                                        device_scale_factor=scale)
                page.on("request", lambda r: requests.append(r.url))
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(page_file.as_uri())
                img = page.locator("img#histogram")
                img.wait_for()
                size = img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight,"
                                    " i.getBoundingClientRect().width]")
                assert size == [True, 1280, 720, 640], size
                assert page.locator("#tests tr").count() == 1 + len(graded_cells(
                    read_notebook(solution_path(REPO, A))))
                assert page.locator("#attention").get_by_text("eve").count() == 1
                page.screenshot(path=str(tmp_path / f"report@{scale}x.png"), full_page=True)
                shutil.copy(tmp_path / f"report@{scale}x.png", f"/tmp/report@{scale}x.png")
                page.close()
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert json.loads(json.dumps(requests))  # the page did load something
