"""Red-team attacks on `nbkit grade` not covered by test_grading_attacks.py/_sandbox.py.

Most attacks are graded in ONE `nbkit grade` run of the example assignment: each hostile
submission is the plausible wrong answer plus the attack and must score no more than that wrong
answer (4 of 6), and the honest classmates graded alongside must keep their full marks. Attacks
on the grader itself (crashing the whole run, filling its memory, forging its log lines) are judged
on the run: it completes with a correct row for everyone."""

import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from normal_user import needs_root, run_as_normal_user
from test_grading import EXAMPLE, REPO, insert_after
from test_grading_sandbox import probe, report, result

from nbkit.grading import notebooks
from nbkit.grading.execute import run_cells
from nbkit.grading.grade import GradingRun
from nbkit.grading.notebooks import (
    parse_submission,
    read_notebook,
    restore_cells,
    solution_path,
    write_notebook,
    wrong_answer_notebook,
)
from nbkit.grading.sandbox import unavailable_reason

HONEST_WRONG = 4
MAX_CELLS = getattr(notebooks, "MAX_CELLS", 2000)
HUGE_MB = 250  # one output message of this size from the kernel
# The grader's own peak memory (VmHWM): ~110 MB when ZMQ drops the message unread, 862 MB
# (~3.4 x HUGE_MB) before the fix, when it was received and decoded.
GRADER_RSS_MB = 2 * HUGE_MB + 150

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"no sandbox here: {unavailable_reason()}")

RECORD = "application/vnd.nbkit.record+json"
NAMES = ("forward #0", "forward #1", "output layer #0", "output layer #1", "hidden layer #0",
         "hidden layer #1")

MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>\x1b]52;c;ZWNobyBwd24K\x07"
ATTACKS = {
    # BaseException subclasses from cells, from __del__ during a test, from an excepthook
    "base_exceptions": ["raise SystemExit(0)", "raise KeyboardInterrupt",
                        "class Win(BaseException):\n    pass\nraise Win('6/6')",
                        "import sys\nsys.excepthook = lambda *a: None\n"
                        "get_ipython().showtraceback = lambda *a, **k: None\n"
                        "class Bomb:\n    def __del__(self):\n        raise SystemExit\n"
                        "_b = [Bomb() for _ in range(100)]\n"
                        "import atexit, os\natexit.register(os._exit, 0)"],
    # a fake checks module in sys.modules, numpy replaced, fake pass markers printed
    "sys_modules": ["""
import sys, types, builtins
fake = types.ModuleType('nbkit.grading.checks')
fake.__dict__.update(sys.modules['nbkit.grading.checks'].__dict__)
def _rec(name, value, **k):
    sys.modules['nbkit.grading.checks'].__dict__['_real_record'](name, value, rtol=1e9, atol=1e9)
fake._real_record = fake.record
fake.record = fake.check_close = _rec
sys.modules['nbkit.grading.checks'] = fake
record = check_close = _rec
import numpy
class _NP(types.ModuleType):
    def __getattr__(self, a):
        return getattr(numpy, a)
np = _NP('numpy')
np.asarray = lambda *a, **k: numpy.zeros(2)
sys.modules['numpy'] = np
_print = builtins.print
builtins.print = lambda *a, **k: _print('all tests passed  score: 6/6  PASSED', **k)
print('ok')"""],
    # a thread that publishes records (a forged tolerance) into whatever cell runs, and
    # protocol messages sent straight on the kernel's sockets for predicted msg ids
    "thread_and_protocol": [f"""
import threading, time
from IPython.display import publish_display_data
M, NAMES = {RECORD!r}, {NAMES!r}
def _rec(n):
    return {{'name': n, 'value': [0.0, 0.0], 'shape': [2], 'rtol': 1e9, 'atol': 1e9,
            'compare': 'moments', 'dtype': 'float32'}}
def _spam():
    while True:
        for n in NAMES:
            publish_display_data({{M: _rec(n)}})
        time.sleep(0.05)
threading.Thread(target=_spam, daemon=True).start()
k = get_ipython().kernel
parent = k.get_parent()
head, _, count = parent['header']['msg_id'].rpartition('_')
for j in range(1, 40):
    fake = {{'header': {{**parent['header'], 'msg_id': f'{{head}}_{{int(count) + j}}'}}}}
    try:
        for n in NAMES:
            k.session.send(k.iopub_socket, 'display_data', {{'data': {{M: _rec(n)}},
                           'metadata': {{}}}}, parent=fake)
        k.session.send(k.iopub_socket, 'status', {{'execution_state': 'idle'}}, parent=fake)
    except Exception as exc:
        print(exc)"""],
    # finite differences through nbkit's own gradient checker instead of backprop
    "delegate_gradcheck": ["""
from nbkit.gradcheck import numerical_gradient
def backward(x, y, w1, b1, w2, b2):
    p = np.array([w1, b1, w2, b2], dtype=float)
    L = lambda: 0.5 * (forward(x, *p)[3] - y) ** 2
    return tuple(numerical_gradient(L, p))"""],
    # markup and terminal escapes in errors raised from every test cell (feedback, report)
    "markup": [f"""
def record(*a, **k):
    raise ValueError({MARKUP!r})
check_close = check_shape = record"""],
    # the hidden reference's source sought through importlib, inspect, pip metadata, files
    "reference_hunt": ["""
import importlib.util, inspect, pathlib, sys, importlib.metadata as md
found = []
spec = importlib.util.find_spec('nbkit.autodiff')
roots = {pathlib.Path(spec.origin).parent.parent, pathlib.Path(sys.prefix),
         pathlib.Path(sys.base_prefix)}
try:
    for f in md.files('nbkit') or []:
        roots.add(pathlib.Path(f.locate()).parent)
except Exception:
    pass
for root in roots:
    for p in list(root.rglob('*autodiff*'))[:200]:
        try:
            text = p.read_bytes()
        except OSError:
            continue
        if b'def backward' in text and b'_backward' in text:
            found.append(str(p))
try:
    import nbkit.autodiff as A
    found.append(inspect.getsource(A.Value))
except Exception:
    pass
if found:
    src = open(found[0]).read() if found[0].endswith('.py') else ''
    exec(compile(src, 'ref', 'exec'), globals())
    def backward(x, y, w1, b1, w2, b2):
        v = [Value(t) for t in (w1, b1, w2, b2)]
        a2 = ((v[0] * x + v[1]).sigmoid() * v[2] + v[3]).sigmoid()
        (0.5 * (a2 - y) ** 2).backward()
        return tuple(t.grad for t in v)"""],
}


def _scrambled(wrong):
    """Duplicated, re-ordered and re-labelled cells: a copy of a test cell with a bogus body
    before the code it tests, test cells moved to the end with 100 points each, a student cell
    that claims to be a locked test worth 100 points, the solution cells marked locked."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(wrong)))
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    for c in tests:
        c.metadata["nbgrader"]["points"] = 100
    nb.cells = [c for c in nb.cells if c not in tests]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution"):
            c.metadata["nbgrader"]["locked"] = True
    fake = nbformat.v4.new_code_cell("print('hidden layer gradients: all visible tests passed')")
    fake.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "grade_id": "test_backward_hidden", "points": 100}
    bonus = nbformat.v4.new_code_cell("x = 1")
    bonus.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "bonus",
                                  "points": 100}
    nb.cells.insert(1, fake)
    nb.cells += [bonus, *tests, *[nbformat.from_dict(json.loads(json.dumps(t))) for t in tests]]
    return nb


FORGED_LOG = "  ghost: 6/6 ok"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("redteam")
    source = read_notebook(solution_path(REPO, EXAMPLE))
    wrong = wrong_answer_notebook(source)
    subs, name = tmp / "subs", f"{EXAMPLE}.ipynb"
    for student, cells in ATTACKS.items():
        nb = insert_after(wrong, "backward", cells[0])
        at = next(i for i, c in enumerate(nb.cells) if c.get("id", "").startswith("student-"))
        for k, code in enumerate(cells[1:]):
            cell = nbformat.v4.new_code_cell(code)
            cell["id"] = f"attack-{k}"
            nb.cells.insert(at + 1 + k, cell)
        write_notebook(nb, subs / student / name)
    write_notebook(_scrambled(wrong), subs / "scrambled" / name)
    write_notebook(wrong, subs / "wrong" / name)
    write_notebook(source, subs / "zz_honest" / name)
    write_notebook(source, subs / "Zoë-😀-ünïcødé" / name)
    write_notebook(source, subs / ("long" * 60) / name)
    # crashing the whole run: a JSON nesting too deep for the parser, too many cells
    (subs / "deep_json").mkdir()
    (subs / "deep_json" / name).write_bytes(b'{"nbformat": 4, "cells": ' + b"[" * 100_000
                                            + b"]" * 100_000 + b"}")
    many = json.loads(nbformat.writes(source))
    many["cells"] = many["cells"] + [many["cells"][3]] * (MAX_CELLS + 10)
    (subs / "many_cells").mkdir()
    (subs / "many_cells" / name).write_text(json.dumps(many))
    # a folder name with terminal escapes and a newline that forges a log line
    write_notebook(wrong, subs / "mallory" / name)
    write_notebook(wrong, subs / "mallory" / f"x\x1b[2K\x1b[1A\n{FORGED_LOG}\n\x1b]0;t\x07" / name)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "nbkit.grading.cli", "grade", EXAMPLE, "subs", "--json",
         "grades.json", "--csv", "grades.csv", "--feedback", "feedback", "--timeout", "8",
         "--jobs", "2", "--root", str(REPO)], cwd=tmp, capture_output=True, text=True, timeout=900)
    results = {}
    if (tmp / "grades.json").exists():
        results = {r["student"]: r for r in json.loads((tmp / "grades.json").read_text())}
    return {"proc": proc, "results": results, "tmp": tmp, "seconds": time.monotonic() - t0}


def _gains_nothing(hostile, student):
    r = hostile["results"][student]
    assert r["max_score"] == 6, r
    assert r["score"] <= HONEST_WRONG, (student, r["score"], r["cells"])
    assert not r["cells"]["test_backward_hidden"]["passed"], student


def test_one_hostile_submission_cannot_stop_the_run(hostile):
    """A notebook nested too deep for the JSON parser or with thousands of cells once crashed
    or stalled `nbkit grade` for the whole class: now unreadable rows, everyone else graded."""
    proc = hostile["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = hostile["results"]
    for student in ("deep_json", "many_cells"):
        assert rows[student]["status"] == "unreadable" and rows[student]["score"] == 0
    assert "cells" in rows["many_cells"]["message"]
    for student in ("zz_honest", "Zoë-😀-ünïcødé", "long" * 60):
        assert rows[student]["status"] == "ok" and rows[student]["score"] == 6, rows[student]
    assert rows["wrong"]["score"] == HONEST_WRONG


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_gains_nothing(hostile, attack):
    _gains_nothing(hostile, attack)


def test_delegating_to_the_gradient_checker_is_refused(hostile):
    """nbkit.gradcheck differentiates any forward pass: not available in a backprop exercise."""
    r = hostile["results"]["delegate_gradcheck"]
    assert "nbkit.gradcheck" in r["cells"]["test_backward_hidden"]["reason"], r["cells"]


def test_markup_in_errors_reaches_no_page_unescaped(hostile, tmp_path):
    """Kernel-made error text, raised from every test cell: escaped in the feedback and in the
    instructor's class report (`nbkit report`), never a live tag or a terminal escape."""
    _gains_nothing(hostile, "markup")
    proc = subprocess.run([sys.executable, "-m", "nbkit.grading.cli", "report",
                           str(hostile["tmp"] / "grades.json"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pages = [*tmp_path.rglob("*.html"), *(hostile["tmp"] / "feedback").rglob("*.html")]
    assert len(pages) > 10
    for page in pages:
        text = page.read_text()
        assert "<script>" not in text and "<img src=x" not in text and "\x1b" not in text, page
    assert "\x1b" not in proc.stdout + proc.stderr


def test_duplicated_reordered_relabelled_cells_gain_nothing(hostile):
    _gains_nothing(hostile, "scrambled")
    r = hostile["results"]["scrambled"]
    assert set(r["cells"]) == {"test_forward", "test_backward_output", "test_backward_hidden"}
    with open(hostile["tmp"] / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert "bonus" not in header


def test_file_names_cannot_forge_or_hide_log_lines(hostile):
    err = hostile["proc"].stderr
    assert "\x1b" not in err and "\x07" not in err
    assert FORGED_LOG not in err.splitlines()
    rows = hostile["results"]
    assert rows["mallory"]["score"] == HONEST_WRONG and rows["mallory#2"]["score"] == HONEST_WRONG


# --------------------------------------------------------------------------------------------
# single-sandbox probes
# --------------------------------------------------------------------------------------------
def test_records_are_bounded_per_notebook_not_per_cell(monkeypatch):
    """Records kept for verdicts are held in the grader's memory: a submission with many cells
    each publishing a cell's worth of records must not multiply that budget."""
    from nbkit.grading import execute

    monkeypatch.setattr(execute, "MAX_RECORD_BYTES", 400_000)
    cell = ("from nbkit.grading.checks import record\nimport numpy as np\n"
            "for k in range(3):\n    record(f'r{k}', np.zeros(10_000))")
    res, _ = probe([cell] * 6)
    kept = sum(execute._size(r) for c in res.cells for r in c.records)
    assert 0 < kept <= 400_000, kept


HUGE = f"""
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
from test_grading_sandbox import probe
res, _ = probe(["from IPython.display import publish_display_data\\n"
                "publish_display_data({{'text/plain': 'x' * {HUGE_MB * 2**20}}})", "x = 1"],
               timeout=15)
assert res.cells[1].status == "ok", res
# VmHWM, not ru_maxrss: Linux carries a parent's peak RSS over fork and exec into the child's
# ru_maxrss, so that would report the pytest worker that started this script.
print(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")))
"""


def test_a_huge_output_message_never_reaches_the_graders_memory():
    """One message of a few hundred MB (the kernel's memory allows it) once cost the grader
    three times that; ZMQ now drops it unread (the cell times out, the kernel is replaced)."""
    proc = subprocess.run([sys.executable, "-c", HUGE], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rss_mb = int(proc.stdout.split()[-1]) / 1024
    assert rss_mb < GRADER_RSS_MB, f"the grader peaked at {rss_mb:.0f} MB"


def test_nothing_outside_the_sandbox_is_reachable():
    """Loopback and abstract sockets of the host, the host's init, inherited file descriptors,
    the hidden reference's text anywhere on the sandbox's file system."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    ab = socket.socket(socket.AF_UNIX)
    ab.bind("\0nbkit-redteam-probe")
    ab.listen()
    import inspect

    import nbkit.autodiff

    # the longest line of the reference's backward pass (the staged stub keeps only the
    # module docstring)
    marker = max((ln.strip() for ln in inspect.getsource(nbkit.autodiff.Value.backward)
                  .splitlines()), key=len)
    assert len(marker) > 20 and marker not in (nbkit.autodiff.__doc__ or "")
    cell = report('''(lambda os, socket, subprocess: {
      "lo": socket.socket().connect_ex(("127.0.0.1", PORT)),
      "abstract": socket.socket(socket.AF_UNIX).connect_ex("\\0nbkit-redteam-probe"),
      "init_env": os.access("/proc/1/environ", os.R_OK) and len(open("/proc/1/environ").read()),
      "fds": sorted({os.readlink("/proc/self/fd/" + f).split(":")[0]
                     for f in os.listdir("/proc/self/fd") if os.path.exists("/proc/self/fd/" + f)}),
      "hits": subprocess.run(["grep", "-rlF", "--exclude-dir=proc", "--exclude-dir=dev",
                              "--exclude-dir=usr", MARKER, "/"],
                             capture_output=True, text=True).stdout.split(),
    })(__import__("os"), __import__("socket"), __import__("subprocess"))'''
                  .replace("PORT", str(srv.getsockname()[1])).replace("MARKER", repr(marker)))
    run = GradingRun(REPO, "06_autodiff_ops", timeout=120)
    try:
        folder = Path(tempfile.mkdtemp(dir=run.base))
        folder.chmod(0o755)
        res = asyncio.run(run_cells([cell], run.launch(folder), timeout=120))
    finally:
        run.close()
        srv.close()
        ab.close()
    info = result(res.cells[0])
    assert info["lo"] != 0 and info["abstract"] != 0 and not info["init_env"], info
    assert set(info["fds"]) <= {"/dev/null", "pipe", "socket", "anon_inode"}, info["fds"]
    assert info["hits"] == [], info["hits"]


def test_restoring_thousands_of_duplicated_cells_stays_fast():
    """Restoration is linear in the cells of a submission (a cap on cells bounds it)."""
    source = read_notebook(solution_path(REPO, EXAMPLE))
    nb = json.loads(nbformat.writes(source))
    nb["cells"] = [dict(nb["cells"][4], source="", id=f"c{i}") for i in range(MAX_CELLS)]
    data = json.dumps(nb).encode()
    t0 = time.monotonic()
    restore_cells(parse_submission(data), source, [])
    assert time.monotonic() - t0 < 20
    with pytest.raises(ValueError, match="cells"):
        nb["cells"] += [dict(c, id=c["id"] + "x") for c in nb["cells"]]
        parse_submission(json.dumps(nb).encode())


# --------------------------------------------------------------------------------------------
# student names
# --------------------------------------------------------------------------------------------
def test_an_extra_notebook_cannot_take_a_classmates_name(tmp_path):
    from nbkit.grading.submissions import collect

    source = read_notebook(solution_path(REPO, EXAMPLE))
    write_notebook(source, tmp_path / "subs" / "alice" / f"{EXAMPLE}.ipynb")
    write_notebook(source, tmp_path / "subs" / "alice" / "copy" / f"{EXAMPLE}.ipynb")
    names = {s.student for s in collect([str(tmp_path / "subs")], EXAMPLE, warn=lambda m: None)}
    assert "alice" in names and len(names) == 2, names
    assert all(n == "alice" or "#" in n for n in names), names  # never a possible user name



def test_a_notebook_planted_in_ones_own_folder_cannot_take_a_classmates_row(tmp_path):
    """Files passed by a recursive glob: Alice plants ``alice/A/bob/A/A.ipynb``. Named by its
    folders alone it would be Bob's row, and Bob's real notebook ``bob#2``."""
    from nbkit.grading.submissions import collect

    source = read_notebook(solution_path(REPO, EXAMPLE))
    subs = tmp_path / "submitted"
    for rel in ("alice", "alice/A/bob", "bob"):
        write_notebook(source, subs / rel / "A" / "A.ipynb")
    files = sorted(str(f) for f in subs.glob("**/A.ipynb"))
    warnings = []
    names = {str(s.path.relative_to(subs)): s.student
             for s in collect(files, "A", warn=warnings.append)}
    assert names == {"alice/A/A.ipynb": "alice", "alice/A/bob/A/A.ipynb": "alice#2",
                     "bob/A/A.ipynb": "bob"}, names
    assert warnings and all("alice/A/bob" in w for w in warnings), warnings


def test_the_least_nested_submission_keeps_the_plain_name(tmp_path):
    """Walk order puts ``alice/00copy/`` before ``alice/``; the numbered row is the nested copy,
    and a real folder ``alice#2`` keeps its own name."""
    from nbkit.grading.submissions import collect

    source = read_notebook(solution_path(REPO, EXAMPLE))
    for rel in ("alice/00copy", "alice", "alice#2"):
        write_notebook(source, tmp_path / "subs" / rel / f"{EXAMPLE}.ipynb")
    names = {str(s.path.relative_to(tmp_path / "subs")): s.student
             for s in collect([str(tmp_path / "subs")], EXAMPLE, warn=lambda m: None)}
    assert names == {f"alice/{EXAMPLE}.ipynb": "alice", f"alice#2/{EXAMPLE}.ipynb": "alice#2",
                     f"alice/00copy/{EXAMPLE}.ipynb": "alice#3"}, names

def _names(root: Path, files) -> dict[str, str]:
    from nbkit.grading.submissions import collect

    return {str(s.path.relative_to(root)): s.student
            for s in collect([str(f) for f in files], "A", warn=lambda m: None)}


def test_a_folder_named_like_the_notebook_is_a_row_not_a_class(tmp_path):
    """``submitted/*/A/A.ipynb`` also matches Alice's *folder* ``alice/A/A.ipynb/``: searched,
    its subfolders would be rows named as she likes (a classmate who did not submit, a
    formula); it is one unreadable row of Alice's."""
    subs = tmp_path / "submitted"
    (subs / "bob/A").mkdir(parents=True)
    (subs / "bob/A/A.ipynb").write_text("{}")
    for planted in ("carol", "bob", "=HYPERLINK(1)"):
        (subs / "alice/A/A.ipynb" / planted).mkdir(parents=True)
        (subs / "alice/A/A.ipynb" / planted / "A.ipynb").write_text("{}")
    from nbkit.grading.submissions import collect

    subs_found = collect([str(f) for f in sorted(subs.glob("*/A/A.ipynb"))], "A",
                         warn=lambda m: None)
    assert sorted(s.student for s in subs_found) == ["alice", "bob"]
    alice = next(s for s in subs_found if s.student == "alice")
    with pytest.raises(ValueError, match="a folder, not a regular file"):
        alice.read()


def test_nesting_inside_ones_own_folder_never_names_a_classmate(tmp_path):
    """A recursive glob: Bob's notebook sits one folder deeper (``bob/A/``) than the two Alice
    plants (``alice/alice/``, ``alice/bob/``), and Carol, who did not submit, is named by a
    notebook in ``alice/A/carol/``; every one of Alice's is Alice's."""
    subs = tmp_path / "subs"
    for rel in ("bob/A", "alice/alice", "alice/bob", "alice/A/carol"):
        (subs / rel).mkdir(parents=True)
        (subs / rel / "A.ipynb").write_text("{}")
    names = _names(subs, sorted(subs.glob("**/*.ipynb")))
    assert names["bob/A/A.ipynb"] == "bob", names
    assert sorted(v for k, v in names.items() if k.startswith("alice/")) == [
        "alice", "alice#2", "alice#3"], names
    # one student's notebook given alone is named after its student folder
    assert _names(subs, [subs / "bob/A/A.ipynb"]) == {"bob/A/A.ipynb": "bob"}


def test_names_fit_a_csv_cell_and_a_folder_name(tmp_path):
    """Non-UTF-8 bytes become U+FFFD (3 bytes each): a 100-byte folder name would be a
    300-byte feedback folder, which no file system takes (the class run stopped there).
    Control characters and blank names would break the CSV or ``nbkit report``."""
    from nbkit.grading.feedback import write_feedback
    from nbkit.grading.submissions import MAX_NAME_BYTES, collect

    subs = os.fsencode(tmp_path / "subs")
    for name in (b"\xff" * 100, b"a" * 254, b"x\ny", b"tab\there", b" ", b"\xc2\xa0"):
        os.makedirs(subs + b"/" + name)
        open(subs + b"/" + name + b"/A.ipynb", "w").close()
    found = collect([os.fsdecode(subs)], "A", warn=lambda m: None)
    names = sorted(s.student for s in found)
    assert all(len(n.encode()) <= MAX_NAME_BYTES + 2 for n in names), names
    assert f"{MAX_NAME_BYTES} bytes" in (REPO / "solutions/README.md").read_text()
    assert all(n.isprintable() and n.strip() for n in names), names
    assert "x\ufffdy" in names and "\ufffd" * (MAX_NAME_BYTES // 3) in names
    assert len(set(names)) == len(names) == 6
    for sub in found:  # each name is one folder of the feedback
        page = write_feedback({"student": sub.student, "assignment": "A", "score": 0,
                               "max_score": 1, "status": "ok", "cells": {}, "message": "",
                               "warnings": []}, tmp_path / "fb")
        assert page.parent.parent == tmp_path / "fb"


def test_a_flood_of_notebooks_from_one_student_is_not_all_graded(tmp_path):
    """Every ``*.ipynb`` in a student's folder is a row; 40 of them, each stalling to its wall
    limit, would hold the class's run for hours (20 000 would fill the CSV). Past
    MAX_PER_STUDENT they are not graded, and one refused row stands for them."""
    from nbkit.grading.submissions import MAX_PER_STUDENT, collect

    for k in range(40):
        (tmp_path / "subs/alice" / f"{k:02d}").mkdir(parents=True)
        (tmp_path / "subs/alice" / f"{k:02d}" / "A.ipynb").write_text("{}")
    (tmp_path / "subs/alice/A.ipynb").write_text("{}")
    warnings = []
    found = collect([str(tmp_path / "subs")], "A", warn=warnings.append)
    graded = [s for s in found if not s.refused]
    assert len(found) == MAX_PER_STUDENT + 1 and len(graded) == MAX_PER_STUDENT  # 41 given
    assert next(s for s in graded if s.student == "alice").path.parent.name == "alice"
    assert len(warnings) == (MAX_PER_STUDENT - 1) + 1  # each numbered row, then the refused
    refused = next(s for s in found if s.refused)
    with pytest.raises(ValueError, match=f"{41 - MAX_PER_STUDENT} more notebook"):
        refused.read()
    assert f"past {MAX_PER_STUDENT} notebooks" in (REPO / "solutions/README.md").read_text()


def test_a_folder_tree_too_deep_to_recurse_is_not_searched(tmp_path):
    """1 100 nested folders (2 kB of path) made ``os.walk`` raise RecursionError: no one in
    the class was graded."""
    from nbkit.grading.submissions import MAX_DEPTH, collect

    (tmp_path / "subs/bob").mkdir(parents=True)
    (tmp_path / "subs/bob/A.ipynb").write_text("{}")
    fd = os.open(tmp_path / "subs", os.O_RDONLY)
    os.mkdir("alice", dir_fd=fd)
    for _ in range(1100):
        nxt = os.open("alice" if _ == 0 else "d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
        os.mkdir("d", dir_fd=fd)
        open(os.open("A.ipynb", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w").close()
    os.close(fd)
    try:
        warnings = []
        found = collect([str(tmp_path / "subs")], "A", warn=warnings.append)
    finally:
        _remove_chain(tmp_path / "subs/alice")
    assert sorted(s.student for s in found if not s.refused)[-1] == "bob"
    assert any(f"more than {MAX_DEPTH} folders deep" in w for w in warnings)
    assert all(len(s.path.relative_to(tmp_path).parts) <= MAX_DEPTH + 3 for s in found)


def _remove_chain(top: Path) -> None:
    """Remove ``top/d/d/...`` (each level holding ``A.ipynb``) bottom-up, without recursion:
    shutil.rmtree, and so pytest's clean-up of tmp_path, recurse once per level."""
    fds = [os.open(top, os.O_RDONLY)]
    while True:
        try:
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
        except FileNotFoundError:
            break
    for i in range(len(fds) - 1, -1, -1):
        for name in os.listdir(fds[i]):
            if name != "d":
                os.unlink(name, dir_fd=fds[i])
        if i:
            os.rmdir("d", dir_fd=fds[i - 1])
        os.close(fds[i])
    os.rmdir(top)


def test_odd_arguments_get_a_row_or_a_warning_never_a_crash(tmp_path, monkeypatch):
    """``nope/..`` names no folder (an IndexError once); a file from another folder beside a
    class's files is named relative to the folder holding both, and a warning says so."""
    from nbkit.grading.submissions import collect

    monkeypatch.chdir(tmp_path)
    for rel in ("submitted/ann/A", "submitted/bob/A", "late"):
        (tmp_path / rel).mkdir(parents=True)
    for rel in ("submitted/ann/A/A.ipynb", "submitted/bob/A/A.ipynb", "late/ivan.ipynb"):
        (tmp_path / rel).write_text("{}")
    (odd,) = collect(["nope/.."], "A", warn=lambda m: None)
    assert odd.student == "student-1"
    with pytest.raises(ValueError):
        odd.read()
    warnings = []
    names = [s.student for s in collect(["submitted/ann/A/A.ipynb", "submitted/bob/A/A.ipynb",
                                          "late/ivan.ipynb"], "A", warn=warnings.append)]
    assert names[2] == "late" and any("grade one class folder per run" in w for w in warnings)
    assert [s.student for s in collect(["submitted/ann/A/A.ipynb", "submitted/bob/A/A.ipynb"],
                                       "A", warn=print)] == ["ann", "bob"]


NON_ROOT_FILL = r'''
kernel = ("import os, socket, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(%r)\ns.listen()\n"
          "time.sleep(2)\nfor k in range(4):\n    try:\n"
          "        open(os.path.join(%r, f'fill{k}'), 'wb').write(b'x' * 20_000_000)\n"
          "    except OSError:\n        pass\nc, _ = s.accept()\nc.send(b'ok')\n"
          % (str(box.run_dir / "k-1"), str(box.run_dir)))
proc = subprocess.Popen(box.command(["/usr/bin/python3", "-c", kernel]), preexec_fn=box.preexec)
time.sleep(1)  # the "kernel" has bound its socket: the grader seals, as after wait_for_ready
box.seal()
time.sleep(2)
c = socket.socket(socket.AF_UNIX)
c.connect(str(box.run_dir / "k-1"))  # the grader still reaches the kernel's socket
print(c.recv(2).decode(), proc.wait(timeout=60))
print(sum(p.stat().st_size for p in box.dir.rglob("*") if p.is_file()))
box.close()
'''


@needs_root
def test_a_normal_users_kernel_cannot_write_to_the_hosts_disk():
    """Grading as a normal user the kernel has the grader's uid, so its run folder (ZMQ
    sockets) cannot be handed to another owner: once sealed it is gone from the sandbox."""
    reply, written = run_as_normal_user(NON_ROOT_FILL, REPO)[-2:]
    assert reply == "ok 0"
    assert int(written) < 1000, written  # passwd and group only, none of the 80 MB
