"""Lecture 12 without PyTorch (an optional extra): it still runs from top to bottom, says how to
install torch where a PyTorch part would be, and keeps its nbkit-only part (non-convexity). With
torch, strict nbval (make test-notebooks) runs it like every lecture."""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LECTURE = REPO / "lectures" / "12_pytorch_nonconvexity.ipynb"
INSTALL = "pip install -e '.[torch]'"


def test_committed_lecture_ran_with_torch_and_asserts_the_gradients():
    cells = json.loads(LECTURE.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                   for o in c["outputs"] if o["output_type"] == "stream")
    assert "PyTorch 2.13.0 is installed" in text and INSTALL not in text
    assert "autograd equals lecture 1's hand-derived gradients to 1e-12: True" in text
    assert text.count("error below 1e-10: True") == 4  # dW1, db1, dW2, db2


@pytest.mark.slow
def test_without_torch_the_lecture_says_how_to_install_it(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    blocker = tmp_path / "torch"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    nb = nbformat.read(LECTURE, as_version=4)
    env = {"PYTHONPATH": str(tmp_path)}
    old = os.environ.copy()
    os.environ.update(env)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=300).execute(cwd=str(LECTURE.parent))
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
               for c in nb.cells if c.cell_type == "code"]
    assert sum(INSTALL in out for out in outputs) >= 8  # setup and every PyTorch part
    assert "the loss is not convex: True" in "".join(outputs)
