"""Exercises and an autograder students cannot fool (``nbkit release``, ``nbkit grade``).

Submodules::

    nbkit.grading.checks     helpers for test cells: check_shape, check_close, check_equal,
                             check_range, check_gradient, check_accuracy, record (kernel side)
    nbkit.grading.authoring  build nbgrader source notebooks from short scripts
    nbkit.grading.release    solutions/<a>/<a>.ipynb -> exercises/<a>/<a>.ipynb (nbgrader
                             preprocessors, exact ``raises-exception`` tags)
    nbkit.grading.grade      restore tests, run in a fresh limited kernel, compare records with
                             the solution's outside the kernel, CSV / feedback
    nbkit.grading.execute    cell-by-cell execution with timeouts, memory limit, output caps
    nbkit.grading.notebooks  nbgrader metadata, deterministic I/O, test-cell restoration

Layout (nbgrader compatible, see ``nbgrader_config.py``): sources in ``solutions/<a>/<a>.ipynb``,
released student versions in ``exercises/<a>/<a>.ipynb``.

Submodules are imported on first use so that ``from nbkit.grading.checks import ...`` inside a
student's kernel stays cheap.
"""

import importlib

_SUBMODULES = ("checks", "authoring", "release", "grade", "execute", "notebooks", "feedback")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nbkit.grading' has no attribute {name!r}")
