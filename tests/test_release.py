"""`nbkit release`: exercises/ is exactly what the solutions generate, leaks nothing, and the
`raises-exception` tags mark exactly the cells that raise. Parametrized over every assignment in
solutions/, so new exercises are covered automatically."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbkit.grading import release as rel
from nbkit.grading.cli import main as cli_main
from nbkit.grading.execute import run_notebook
from nbkit.grading.notebooks import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    list_assignments,
    read_notebook,
    release_path,
    solution_path,
)

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = list_assignments(REPO)
VENV_BIN = Path(sys.executable).parent


def test_there_are_assignments():
    assert "01_scalar_backprop" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_check_is_clean(assignment, capsys):
    """Regenerating (in memory, one kernel run) gives exactly the committed exercise."""
    assert cli_main(["release", "--check", "--root", str(REPO), assignment]) == 0
    assert "up to date" in capsys.readouterr().out


def _regions(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    inside, secret, public = False, [], []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif line.strip():
            (secret if inside else public).append(line.strip())
    return secret, public


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_leaks_no_solution_or_hidden_tests(assignment):
    src = read_notebook(solution_path(REPO, assignment))
    text = release_path(REPO, assignment).read_text()
    ex = json.loads(text)
    ex_lines = {ln.strip() for c in ex["cells"] for ln in "".join(c["source"]).split("\n")}
    for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN, '"wrong"'):
        assert marker not in text
    public = {ln for c in src.cells
              for pair in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN))
              for ln in _regions(c.source, *pair)[1]}
    for cell in src.cells:
        for pair in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN)):
            secret, _ = _regions(cell.source, *pair)
            leaked = [ln for ln in secret if ln in ex_lines and ln not in public]
            assert not leaked, f"{assignment}: released exercise contains {leaked}"
    n_solution = sum(1 for c in src.cells if c.metadata.get("nbgrader", {}).get("solution"))
    assert text.count("raise NotImplementedError()") >= n_solution
    for c in ex["cells"]:  # deterministic: no outputs, counts or timing metadata
        assert c.get("outputs", []) == [] and c.get("execution_count") is None
        assert "execution" not in c["metadata"] and "nbkit" not in c["metadata"]
    assert text.endswith("}\n")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_raises_exception_tags_are_exact(assignment):
    """Executing the committed exercise as-is: exactly the tagged cells raise."""
    nb = read_notebook(release_path(REPO, assignment))
    run = run_notebook(nb, timeout=120)
    assert not run.kernel_died and not run.timed_out
    raised = {c.index for c in run.cells if c.status == "error"}
    tagged = {i for i, c in enumerate(nb.cells)
              if rel.RAISES_TAG in c.metadata.get("tags", [])}
    assert raised == tagged
    assert tagged, "an exercise whose cells all run before students write code tests nothing"


def test_check_reports_differences_and_release_fixes_them(tmp_path, monkeypatch, capsys):
    """--check exits 1 and lists what differs; release rewrites. (Kernel-free: the execution
    that finds raising cells is replaced by a stub.)"""
    a = ASSIGNMENTS[0]
    shutil.copytree(REPO / "solutions" / a, tmp_path / "solutions" / a)
    shutil.copytree(REPO / "exercises" / a, tmp_path / "exercises" / a)
    committed = read_notebook(release_path(REPO, a))
    tagged = [i for i, c in enumerate(committed.cells)
              if rel.RAISES_TAG in c.metadata.get("tags", [])]
    monkeypatch.setattr(rel, "raising_cells", lambda nb, timeout=120: list(tagged))
    assert rel.release(tmp_path, [a], check=True) == 0
    path = release_path(tmp_path, a)
    path.write_text(path.read_text().replace("YOUR CODE HERE", "YOUR CODE THERE", 1))
    (path.parent / "stale.txt").write_text("old")
    capsys.readouterr()
    assert cli_main(["release", "--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "out of date" in out and "YOUR CODE THERE" in out and "stale.txt" in out
    assert cli_main(["release", "--root", str(tmp_path)]) == 0
    assert path.read_bytes() == release_path(REPO, a).read_bytes()
    assert not (path.parent / "stale.txt").exists()
    assert rel.release(tmp_path, [a], check=True) == 0


def test_release_unknown_assignment_is_a_clear_error(capsys):
    assert cli_main(["release", "--check", "--root", str(REPO), "no_such_exercise"]) == 2
    err = capsys.readouterr().err
    assert "unknown assignment 'no_such_exercise'" in err and "01_scalar_backprop" in err


def test_nbgrader_generate_autograde_export(tmp_path):
    """The repo is an nbgrader course: generate_assignment writes the same exercise as
    `nbkit release`, autograde + export score a submission like nbkit does (honest answers)."""
    a = "01_scalar_backprop"
    for name in ("solutions", "nbgrader_config.py"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def nbgrader(*args):
        proc = subprocess.run([str(VENV_BIN / "nbgrader"), *args,
                               f"--CourseDirectory.root={tmp_path}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    nbgrader("generate_assignment", a, "--force", "--create")
    generated = tmp_path / "exercises" / a / f"{a}.ipynb"
    assert generated.read_bytes() == release_path(REPO, a).read_bytes()
    # a submission: the solution notebook with the plausible wrong answer (4 of 6 points)
    from nbkit.grading.notebooks import write_notebook, wrong_answer_notebook

    wrong = wrong_answer_notebook(read_notebook(solution_path(REPO, a)))
    write_notebook(wrong, tmp_path / "grading" / "submitted" / "alice" / a / f"{a}.ipynb")
    nbgrader("autograde", a)
    assert (tmp_path / "grading" / "autograded" / "alice" / a / f"{a}.ipynb").is_file()
    nbgrader("export")
    rows = (tmp_path / "grades.csv").read_text().strip().splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    rec = dict(zip(header, row, strict=True))
    assert rec["student_id"] == "alice" and rec["assignment"] == a
    assert float(rec["score"]) == 4.0 and float(rec["max_score"]) == 6.0
