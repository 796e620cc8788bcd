"""Attacks on `nbkit grade` by a hostile student who has the repository's source: one or more
per attack class of issue 11 (and variants). Each submission is the plausible wrong answer of
the example assignment plus the attack, graded in ONE `nbkit grade` run, and must score no
more than the same wrong answer without it (4 of 6) and never pass the hidden test it cannot
pass honestly. Sandbox-level properties (uids, namespaces, limits, daemons) are in
test_grading_sandbox.py; accuracy attacks use a small held-out assignment built here."""

import base64
import csv
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_grading import EXAMPLE, REPO, hidden_lines, insert_after

from nbkit.grading import authoring as A
from nbkit.grading.notebooks import (
    read_notebook,
    solution_path,
    write_notebook,
    wrong_answer_notebook,
)
from nbkit.grading.sandbox import unavailable_reason

NBKIT = Path(sys.executable).parent / "nbkit"
HONEST_WRONG = 4  # the plausible wrong answer's score

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"no sandbox here: {unavailable_reason()}")

# --- class 2: values forged inside the kernel ---------------------------------------------
FORGE = {
    # rebind the checks so that they record the *expected* value the test passes them
    "rebind_checks": """
import nbkit.grading.checks as C
def _forge(name, actual, expected=None, *a, **k):
    C.record(name, expected() if callable(expected) else expected)
C.check_close = C.check_equal = _forge
check_close = _forge
_rec = C.record
def record(name, value, **k):
    _rec(name, 0.0 * __import__('numpy').asarray(value), rtol=1e9, atol=1e9)
C.record = record
""",
    # rewrite the locals of record() with a trace function (value := what the test expects)
    "settrace": """
import sys
def _tracer(frame, event, arg):
    if event == 'call' and frame.f_code.co_name == 'record':
        frame.f_locals['rtol'] = 1e9
        frame.f_locals['atol'] = 1e9
        frame.f_locals['compare'] = 'moments'
    return _tracer
sys.settrace(_tracer)
__import__('threading').settrace(_tracer)
""",
    # IPython hooks and input transformers that publish forged records for every test
    "hooks_and_transformers": """
from IPython.display import publish_display_data
M = 'application/vnd.nbkit.record+json'
def _fake(info=None):
    for n in ('hidden layer #0', 'hidden layer #1', 'dL/dw1', 'dL/db1'):
        publish_display_data({M: {'name': n, 'value': [0.0, 0.0], 'shape': [2], 'rtol': 1e9,
                                  'atol': 1e9, 'compare': 'moments', 'params': {}}})
ip = get_ipython()
ip.events.register('pre_run_cell', _fake)
ip.events.register('post_run_cell', lambda result: _fake())
def _skip_hidden(lines):
    src = ''.join(lines)
    return [src.split('### BEGIN HIDDEN TESTS')[0] + '\\n_fake()\\n']
ip.input_transformers_post.append(_skip_hidden)
""",
    # replace run_cell: every later cell (the tests) runs nothing and reports success
    "run_cell_override": """
ip = get_ipython()
async def _nothing(*a, **k):
    from IPython.core.interactiveshell import ExecutionResult, ExecutionInfo
    return ExecutionResult(ExecutionInfo('', False, False, False, None))
ip.run_cell_async = _nothing
ip.run_cell = lambda *a, **k: None
""",
    # swallow every exception and fake numpy's comparisons
    "swallow_and_numpy": """
import builtins, numpy as np, numpy.testing
np.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
class AssertionError(Exception):
    pass
builtins.AssertionError = AssertionError
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
""",
    # a record that tries to crash or fool the grader's decoding
    "malformed_records": """
from IPython.display import publish_display_data
M = 'application/vnd.nbkit.record+json'
deep = 0.0
for _ in range(20000):
    deep = [deep]
def _junk(info=None):
    for v, s in ((deep, []), ('nan', []), ([1.0] * 10, [10**9]), ({'a': 1}, [])):
        publish_display_data({M: {'name': 'hidden layer #0', 'value': v, 'shape': s}})
get_ipython().events.register('pre_run_cell', _junk)
""",
}

# --- class 7: delegating to nbkit's own implementation -------------------------------------
DELEGATE = """
from nbkit.autodiff import Value
def backward(x, y, w1, b1, w2, b2):
    v = [Value(t) for t in (w1, b1, w2, b2)]
    a2 = ((v[0] * x + v[1]).sigmoid() * v[2] + v[3]).sigmoid()
    (0.5 * (a2 - y) ** 2).backward()
    return tuple(t.grad for t in v)
"""

# --- class 4: hidden tests leak through feedback -------------------------------------------
LEAK = """
import base64
_seen = []
def _grab(lines):
    src = ''.join(lines)
    _seen.append(src)
    if 'BEGIN HIDDEN' in src:
        raise ValueError('LEAK' + base64.b64encode(src.encode()).decode())
    if 'check_close' in src and len(_seen) > 4:
        raise ValueError('LEAK' + base64.b64encode(''.join(_seen).encode()).decode())
    return lines
get_ipython().input_transformers_cleanup.append(_grab)
"""

# --- class 1 at the score level: startup files + a forced restart --------------------------
STARTUP_RESTART = """
import os, pathlib
evil = ("import nbkit.grading.checks as C\\n"
        "C.record = lambda *a, **k: None\\n")
for d in [os.environ.get('IPYTHONDIR', '') + '/profile_default/startup',
          os.path.expanduser('~/.ipython/profile_default/startup'), '.']:
    try:
        pathlib.Path(d).mkdir(parents=True, exist_ok=True)
        (pathlib.Path(d) / '00-evil.py').write_text(evil)
        (pathlib.Path(d) / 'ipython_config.py').write_text(evil)
    except OSError:
        pass
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""


def _classmates(subs: Path) -> str:
    """Class 5: read a classmate's notebook (path known from the command line) and run its
    solution cells; look for the grader in /proc."""
    return f"""
import glob, json, os
found = []
for pattern in ({str(subs)!r} + '/*/*.ipynb', {str(REPO)!r} + '/solutions/*/*.ipynb',
                '/proc/*/cwd/*/*/*.ipynb', '/proc/*/root' + {str(subs)!r} + '/*/*.ipynb'):
    found += glob.glob(pattern)
for path in found:
    try:
        nb = json.load(open(path))
        for c in nb['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and 'def backward' in src:
                exec(src, globals())
    except Exception:
        pass
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            open(f'/proc/{{pid}}/mem', 'rb').read(1)
        except OSError:
            pass
"""


def _daemon(csv_path: Path) -> str:
    """Class 6: a daemon that outlives the kernel and rewrites the grade file afterwards."""
    row = f"forged,{EXAMPLE},6,6,ok,2,2,2"
    return f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(60):
            time.sleep(0.5)
            for p in ({str(csv_path)!r}, '/proc/1/root' + {str(csv_path)!r}):
                try:
                    open(p, 'a').write({row!r} + '\\n')
                except OSError:
                    pass
        os._exit(0)
    os._exit(0)
"""


KILLER = """
import os, signal, subprocess
subprocess.run(['pkill', '-9', '-f', 'nbkit'], capture_output=True)
for pid in [os.getppid()] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    source = read_notebook(solution_path(REPO, EXAMPLE))
    wrong = wrong_answer_notebook(source)
    subs = tmp / "subs"
    name = f"{EXAMPLE}.ipynb"
    attacks = {**FORGE, "delegate": DELEGATE, "leak": LEAK, "startup_restart": STARTUP_RESTART,
               "classmates": _classmates(subs), "daemon": _daemon(tmp / "grades.csv"),
               "killer": KILLER}
    for student, code in attacks.items():
        write_notebook(insert_after(wrong, "backward", code), subs / student / name)
    write_notebook(wrong, subs / "wrong" / name)
    write_notebook(source, subs / "zz_classmate" / name)  # an honest classmate, full marks
    proc = subprocess.run(
        [str(NBKIT), "grade", EXAMPLE, "subs", "--csv", "grades.csv", "--json", "grades.json",
         "--feedback", "feedback", "--timeout", "5", "--jobs", "2", "--root", str(REPO)],
        cwd=tmp, capture_output=True, text=True, timeout=900)
    csv_right_after = (tmp / "grades.csv").read_text()
    time.sleep(4)  # the daemon would strike now
    results = {r["student"]: r for r in json.loads((tmp / "grades.json").read_text())}
    return {"proc": proc, "results": results, "tmp": tmp, "csv_after": csv_right_after,
            "attacks": attacks, "source": source}


def _gains_nothing(attacked, student):
    r = attacked["results"][student]
    assert r["score"] <= HONEST_WRONG, (student, r["score"], r["cells"])
    assert not r["cells"]["test_backward_hidden"]["passed"], student


def test_the_run_completes_with_a_row_for_everyone(attacked):
    assert attacked["proc"].returncode == 0, attacked["proc"].stderr[-3000:]
    assert set(attacked["results"]) == set(attacked["attacks"]) | {"wrong", "zz_classmate"}
    assert attacked["results"]["wrong"]["score"] == HONEST_WRONG
    assert attacked["results"]["zz_classmate"]["score"] == 6


@pytest.mark.parametrize("attack", sorted(FORGE))
def test_values_forged_inside_the_kernel_gain_nothing(attacked, attack):
    _gains_nothing(attacked, attack)


def test_startup_files_and_a_forced_restart_gain_nothing(attacked):
    _gains_nothing(attacked, "startup_restart")
    r = attacked["results"]["startup_restart"]
    assert r["status"] == "timeout"


def test_delegating_to_a_hidden_reference_scores_zero_and_says_why(attacked):
    r = attacked["results"]["delegate"]
    _gains_nothing(attacked, "delegate")
    for gid in ("test_backward_output", "test_backward_hidden"):
        assert r["cells"][gid]["points"] == 0
        assert "nbkit.autodiff.Value" in r["cells"][gid]["reason"]
    html = (attacked["tmp"] / "feedback" / "delegate" / f"{EXAMPLE}.html").read_text()
    assert "uses nbkit.autodiff.Value, which this exercise asks you to write" in html


def test_hidden_tests_do_not_leak_through_feedback(attacked):
    _gains_nothing(attacked, "leak")
    hidden = hidden_lines(attacked["source"])
    for f in (attacked["tmp"] / "feedback").rglob("*.html"):
        text = f.read_text()
        assert "HIDDEN" not in text and not any(h in text for h in hidden), f
        for chunk in text.split("LEAK")[1:]:  # smuggled text: at most ~200 characters
            payload = chunk.split("<")[0].split("…")[0]
            assert len(payload) <= 200
            try:
                decoded = base64.b64decode(payload + "=" * (-len(payload) % 4)).decode(
                    errors="ignore")
            except ValueError:
                decoded = ""
            assert not any(h in decoded for h in hidden)


def test_classmates_work_is_out_of_reach(attacked):
    _gains_nothing(attacked, "classmates")


def test_a_daemon_cannot_rewrite_the_grades(attacked):
    _gains_nothing(attacked, "daemon")
    assert (attacked["tmp"] / "grades.csv").read_text() == attacked["csv_after"]
    assert "forged" not in attacked["csv_after"]


def test_killing_everything_in_reach_costs_only_the_killer(attacked):
    _gains_nothing(attacked, "killer")
    assert attacked["results"]["zz_classmate"]["score"] == 6


# --------------------------------------------------------------------------------------------
# class 3: symlinks and odd files
# --------------------------------------------------------------------------------------------
def test_odd_files_get_unreadable_rows_at_once(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    name = f"{EXAMPLE}.ipynb"
    sol = solution_path(REPO, EXAMPLE)
    for student in ("symlink", "fifo", "socket", "folder", "huge", "through_link", "device"):
        (subs / student).mkdir()
    (subs / "symlink" / name).symlink_to(sol)  # a link to the solution itself
    os.mkfifo(subs / "fifo" / name)  # would block a naive reader forever
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(subs / "socket")  # a relative path: AF_UNIX paths are short
    try:
        sock.bind(name)
    finally:
        os.chdir(cwd)
    (subs / "folder" / name).mkdir()
    with open(subs / "huge" / name, "wb") as fh:
        fh.truncate(60_000_000)
    (tmp_path / "elsewhere").mkdir()
    write_notebook(read_notebook(sol), tmp_path / "elsewhere" / name)
    (subs / "linked_folder").symlink_to(tmp_path / "elsewhere")  # never followed
    if os.geteuid() == 0:
        os.mknod(subs / "device" / name, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        (subs / "device" / name).symlink_to("/dev/null")
    (subs / "through_link" / "x").symlink_to(tmp_path / "elsewhere")
    given = [str(subs), str(subs / "through_link" / "x" / name)]
    t0 = time.monotonic()
    proc = subprocess.run([str(NBKIT), "grade", EXAMPLE, *given, "--json",
                           str(tmp_path / "g.json"), "--root", str(REPO)],
                          capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t0
    sock.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["student"]: r for r in json.loads((tmp_path / "g.json").read_text())}
    assert set(rows) == {"symlink", "fifo", "socket", "folder", "huge", "device", "x"}, rows
    for r in rows.values():
        assert r["status"] == "unreadable" and r["score"] == 0 and r["seconds"] == 0, r
    assert "symlink" in rows["symlink"]["message"] and "FIFO" in rows["fifo"]["message"]
    assert "not a plain folder" in rows["x"]["message"]
    assert "linked_folder" in proc.stderr  # warned about, not followed
    assert took < 120  # the reference run plus seconds, never a wall limit per odd file


# --------------------------------------------------------------------------------------------
# class 2/3 on accuracy: a small held-out assignment
# --------------------------------------------------------------------------------------------
CENTROIDS = """
def fit_centroids(X, y):
    return np.stack([X[y == k].mean(axis=0) for k in range(10)])


def predict(C, X):
    return np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
"""

ACCURACY_ATTACKS = {
    # predictions = the public test labels (as nbkit loads them inside the sandbox)
    "labels": "def predict(C, X):\n    return data.load_digits('test', rng=0)[1][:len(X)]",
    # a lookup table over the public test split, exact and after rounding
    "lookup": """
_Xt, _yt = data.load_digits('test', rng=0)
_table = {tuple(np.round(x * 16)): l for x, l in zip(_Xt, _yt)}
def predict(C, X):
    return np.array([_table.get(tuple(np.round(x * 16)), 0) for x in X])""",
    # nearest neighbour over the public test split (what the secret noise alone cannot stop)
    "nearest_public": """
_Xt, _yt = data.load_digits('test', rng=0)
def predict(C, X):
    return _yt[np.argmin(((X[:, None, :] - _Xt[None]) ** 2).sum(-1), axis=1)]""",
    # rebind the check so it records what the untrained model cannot know
    "rebind_check": """
import nbkit.grading.checks as C
def _forge(name, predictions, heldout, at_least):
    C.record(name, np.zeros(len(predictions)), compare='heldout',
             params={'heldout': heldout, 'at_least': 0.0})
C.check_heldout_accuracy = check_heldout_accuracy = _forge
def predict(C, X):
    return np.zeros(len(X), dtype=int)""",
}


@pytest.fixture(scope="module")
def accuracy_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "exercises").mkdir()
    cells = [
        A.markdown("# accuracy", grade_id="intro"),
        A.setup("import numpy as np\nfrom nbkit import data\n"
                "from nbkit.grading.checks import check_heldout_accuracy, heldout_images\n"
                "X_train, y_train = data.load_digits('train', rng=0)", "setup"),
        A.solution("### BEGIN SOLUTION\n" + CENTROIDS.strip() + "\n### END SOLUTION", "model",
                   wrong="def fit_centroids(X, y):\n    return np.zeros((10, 64))\n\n\n"
                         "def predict(C, X):\n    return np.zeros(len(X), dtype=int)"),
        A.tests("C = fit_centroids(X_train, y_train)\n"
                "pred = predict(C, heldout_images('digits-test'))",
                "test_accuracy", points=2,
                hidden="check_heldout_accuracy('accuracy', pred, 'digits-test', at_least=0.85)"),
    ]
    A.write_source("acc", cells, root=root, grading={"heldout": ["digits-test"]})
    return root


def test_accuracy_is_judged_on_images_the_kernel_cannot_label(accuracy_course, tmp_path):
    source = read_notebook(solution_path(accuracy_course, "acc"))
    wrong = wrong_answer_notebook(source)
    subs = tmp_path / "subs"
    write_notebook(source, subs / "honest" / "acc.ipynb")
    write_notebook(wrong, subs / "untrained" / "acc.ipynb")
    for student, code in ACCURACY_ATTACKS.items():
        write_notebook(insert_after(wrong, "model", code), subs / student / "acc.ipynb")
    proc = subprocess.run([str(NBKIT), "grade", "acc", str(subs), "--csv", str(tmp_path / "g.csv"),
                           "--root", str(accuracy_course), "--jobs", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert rows["honest"]["score"] == "2" and rows["untrained"]["score"] == "0"
    for student in ACCURACY_ATTACKS:
        assert rows[student]["score"] == "0", (student, rows[student])


MASK_PROBE = """
import asyncio, json, sys, tempfile
from pathlib import Path
import sklearn
assert sklearn.__file__.startswith(ALIAS), (sys.prefix, sklearn.__file__)
from nbkit.grading.execute import run_cells
from nbkit.grading.grade import GradingRun
cell = ("from nbkit.data import load_digits\\nfrom nbkit.grading.checks import record\\n"
        "record('rows', [int((load_digits(s, rng=0)[0] > 0).any(axis=1).sum())\\n"
        "                for s in ('train', 'test')])")
run = GradingRun(Path(ROOT), "acc")
try:
    folder = Path(tempfile.mkdtemp(dir=run.base))
    folder.chmod(0o755)
    res = asyncio.run(run_cells([cell], run.launch(folder)))
finally:
    run.close()
print(json.dumps([r["value"] for r in res.cells[0].records] or res.cells[0].error))
"""


def test_a_venv_behind_a_symlinked_folder_still_hides_the_public_test_split(accuracy_course,
                                                                           tmp_path):
    """The sandbox binds the Python environment at the path the grader runs it from; the
    digits mask must lie over that path too, not only over the one symlinks resolve to (else
    the public test split is readable and a nearest-neighbour search over it scores)."""
    prefix = Path(sys.prefix)
    if not Path(sys.executable).is_relative_to(prefix):
        pytest.skip(f"the interpreter {sys.executable} is not inside sys.prefix {prefix}")
    alias = tmp_path / "alias"
    alias.symlink_to(prefix.parent)
    python = alias / Path(sys.executable).relative_to(prefix.parent)
    script = MASK_PROBE.replace("ALIAS", repr(str(alias))).replace("ROOT",
                                                                   repr(str(accuracy_course)))
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.splitlines()[-1])
    assert rows == [[1347.0, 0.0]], rows  # train rows intact, all 450 test rows blank


@pytest.mark.skipif("NBKIT_DATA" not in os.environ, reason="needs the local MNIST copy")
def test_only_declared_data_files_are_readable(tmp_path):
    """A sandbox sees the data files its assignment declares, not the rest of $NBKIT_DATA (the
    MNIST test split of a held-out capstone)."""
    root = tmp_path / "course"
    (root / "exercises").mkdir(parents=True)
    probe = ("import os\nd = os.path.join(os.environ['NBKIT_DATA'], 'mnist')\n"
             "record('files', [os.path.exists(os.path.join(d, f)) for f in\n"
             "    ('train-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte.gz',\n"
             "     't10k-images-idx3-ubyte.gz')])\n"
             "record('labels', os.path.getsize(os.path.join(d, 'train-labels-idx1-ubyte.gz')))")
    A.write_source("data_probe", [
        A.setup("from nbkit import data\nfrom nbkit.grading.checks import record", "setup"),
        A.solution("x = 1", "answer", wrong="x = 2"),
        A.tests(probe, "test_probe", points=1)],
        root=root, grading={"data": ["mnist/train-labels-idx1-ubyte.gz"]})
    nb = read_notebook(solution_path(root, "data_probe"))
    import nbkit.grading.execute as E
    from nbkit.grading.grade import GradingRun

    run = GradingRun(root, "data_probe")
    try:
        import asyncio

        folder = tmp_path / "files"
        folder.mkdir()
        folder.chmod(0o755)
        sources = [c.source if c.cell_type == "code" else None for c in nb.cells]
        res = asyncio.run(E.run_cells(sources, run.launch(folder)))
    finally:
        run.close()
    (cell,) = [c for c in res.cells if c.records]
    by = {r["name"]: r["value"] for r in cell.records}
    assert by["files"] == [1.0, 0.0, 0.0] and by["labels"] > 1000
