"""Reference delegation (nbkit.grading.references): the declared hidden names exist, a staged
nbkit still imports with them stubbed out, every hidden name raises HiddenReference there, and
a submission that delegates to one scores 0 on the tests that need it, with feedback saying
why."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbkit.grading import references as R
from nbkit.grading.grade import grade
from nbkit.grading.notebooks import (
    grade_id,
    list_assignments,
    read_notebook,
    solution_path,
    write_notebook,
)
from nbkit.grading.sandbox import unavailable_reason

REPO = Path(__file__).resolve().parents[1]
CONFIG = R.load_config(REPO / "solutions" / R.CONFIG_NAME)

IMPORT_STAGED = """
import importlib, json, pkgutil, sys
sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
import nbkit
assert nbkit.__file__.startswith(sys.argv[1]), nbkit.__file__
from nbkit.grading.references import HiddenReference
out = {"modules": [], "hidden_ok": [], "hidden_bad": []}
for info in pkgutil.walk_packages(nbkit.__path__, "nbkit."):
    importlib.import_module(info.name)
    out["modules"].append(info.name)
for dotted in json.loads(sys.argv[2]):
    mod, _, name = dotted.rpartition(".")
    obj = getattr(importlib.import_module(mod), name)
    try:
        obj()
    except HiddenReference:
        out["hidden_ok"].append(dotted)
    except Exception:
        out["hidden_bad"].append(dotted)
    else:
        out["hidden_bad"].append(dotted)
print(json.dumps(out))
"""


def test_every_assignment_is_declared():
    assert set(CONFIG) == set(list_assignments(REPO))


@pytest.mark.parametrize("assignment", sorted(CONFIG))
def test_hidden_names_exist_and_the_staged_nbkit_hides_them(assignment, tmp_path):
    entries = CONFIG[assignment]
    resolved = R.resolve(entries)  # raises for an entry that matches nothing in today's nbkit
    staged = R.stage(tmp_path, assignment, entries)
    names = sorted(f"{m}.{n}" for m, ns in resolved.items() for n in ns if n != R.WHOLE_MODULE)
    proc = subprocess.run([sys.executable, "-c", IMPORT_STAGED, str(staged.parent),
                           json.dumps(names)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "nbkit.layers" in out["modules"] and "nbkit.grading.checks" in out["modules"]
    assert "nbkit.grading.grade" not in out["modules"]  # only the kernel side is staged
    assert out["hidden_bad"] == [] and sorted(out["hidden_ok"]) == names
    for module, hidden in resolved.items():  # the original source is not in the copy
        path = staged.joinpath(*module.split(".")[1:])
        text = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
        for name in hidden - {R.WHOLE_MODULE}:
            assert f"def {name}(" not in text and f"class {name}(" not in text


def test_a_missing_name_is_an_error():
    with pytest.raises(ValueError, match="no name"):
        R.resolve(["nbkit.layers.NoSuchLayer"])
    with pytest.raises(ValueError, match="no module"):
        R.resolve(["nbkit.no_such_module.x"])


DELEGATIONS = {
    "02_activations": ("sigmoid", """
from nbkit.layers import Sigmoid as NbkitSigmoid
class Sigmoid:
    def fprop(self, Z):
        self.layer = NbkitSigmoid()
        return self.layer.forward(Z)
    def bprop(self, dA):
        return self.layer.backward(dA)
    def update(self, lr):
        pass""", "test_sigmoid_forward", "nbkit.layers.Sigmoid"),
    "03_linear_layer": ("linear", """
from nbkit.layers import Linear as NbkitLinear
class Linear:
    def __init__(self, n_in, n_out, rng, dtype=np.float64):
        self.layer = NbkitLinear(n_in, n_out, rng=rng, dtype=dtype)
        self.W, self.b = self.layer.W.value, self.layer.b.value
    def fprop(self, X):
        self.layer.W.value, self.layer.b.value = self.W, self.b
        return self.layer.forward(X)
    def bprop(self, dY):
        dX = self.layer.backward(dY)
        self.dW, self.db = self.layer.W.grad, self.layer.b.grad
        return dX
    def update(self, lr):
        self.W, self.b = self.W - lr * self.dW, self.b - lr * self.db""", "test_forward",
                        "nbkit.layers.Linear"),
    "07_gradient_checking": ("numerical_gradient", """
import nbkit.gradcheck
def numerical_gradient(f, x):
    return nbkit.gradcheck.numerical_gradient(f, x)""", "test_numerical_gradient",
                             "nbkit.gradcheck.numerical_gradient"),
}


@pytest.mark.skipif(unavailable_reason() is not None, reason="no sandbox here")
@pytest.mark.parametrize("assignment", sorted(DELEGATIONS))
def test_delegating_submissions_score_zero_there_and_are_told_why(assignment, tmp_path):
    cell, code, test, name = DELEGATIONS[assignment]
    nb = read_notebook(solution_path(REPO, assignment))
    for c in nb.cells:
        if grade_id(c) == cell:
            c.source = code.strip()
    write_notebook(nb, tmp_path / "subs" / "delegator" / f"{assignment}.ipynb")
    (r,) = grade(REPO, assignment, [str(tmp_path / "subs")], jobs=1, log=lambda m: None)
    verdict = r["cells"][test]
    assert verdict["points"] == 0 and name in verdict["reason"], verdict
    assert 0 < r["score"] < r["max_score"]  # the rest of the work still counts
