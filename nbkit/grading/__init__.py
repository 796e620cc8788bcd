"""Exercises and an autograder that runs every submission in an OS sandbox.

Submodules, one job each::

    nbkit.grading.checks       kernel side: checks and records for test cells
    nbkit.grading.heldout      held-out image sets scored by the grader (kernel side too)
    nbkit.grading.references   nbkit names hidden from an assignment's sandbox; the stub
    nbkit.grading.authoring    build nbgrader source notebooks from short scripts
    nbkit.grading.release      solutions/<a>/<a>.ipynb -> exercises/<a>/<a>.ipynb
    nbkit.grading.notebooks    nbgrader metadata, notebook I/O, restoring test cells
    nbkit.grading.submissions  finding and safely reading submissions, naming students
    nbkit.grading.sandbox      the bubblewrap sandbox of one kernel, its limits and identity
    nbkit.grading.execute      running cells in a (sandboxed) kernel with timeouts
    nbkit.grading.verdicts     deciding test cells from records, in the grader
    nbkit.grading.grade        ``nbkit grade``: one run over many submissions
    nbkit.grading.output       the CSV and JSON grade files
    nbkit.grading.feedback     per-student HTML feedback
    nbkit.grading.cli          the ``nbkit`` command

Layout (nbgrader compatible, see ``nbgrader_config.py``): sources in ``solutions/<a>/<a>.ipynb``,
released student versions in ``exercises/<a>/<a>.ipynb``. Submodules are imported on first use,
so ``from nbkit.grading.checks import ...`` inside a student's kernel stays cheap.
"""

import importlib

_SUBMODULES = ("checks", "heldout", "references", "authoring", "release", "notebooks",
               "submissions", "sandbox", "execute", "verdicts", "grade", "output", "feedback",
               "cli")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nbkit.grading' has no attribute {name!r}")
