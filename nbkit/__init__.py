"""nbkit: reference implementations for a course on how neural networks are trained.

Submodules, in the order of the syllabus (imported on first use, so ``import nbkit`` stays
cheap)::

    nbkit.autodiff     scalar reverse-mode autodiff (Value), traces, graph drawing
    nbkit.module       Parameter and Module: the interface of every layer
    nbkit.activations  the activation registry (f, f') and the activation modules
    nbkit.layers       Linear, Maxout, Dropout, Sequential, mlp (and everything above)
    nbkit.losses       MSE, binary and softmax cross-entropy
    nbkit.gradcheck    finite differences, relative error, module checks, Jacobians
    nbkit.init         weight initializers
    nbkit.optim        SGD (momentum, weight decay), Adagrad, Adam, schedules
    nbkit.data         datasets, toy sets, splits and mini-batches, preprocessing, augmentation
    nbkit.train        fit (early stopping) / evaluate / predict
    nbkit.widgets      interactive pictures (ipywidgets + matplotlib)
    nbkit.grading      release and grade exercises

Shared rules, each written once: :mod:`nbkit.rng` (randomness: the ``rng`` argument),
:mod:`nbkit.validate` (argument checks and their exception types), :mod:`nbkit.threads`
(the BLAS thread limit).
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "autodiff", "module", "activations", "layers", "losses", "gradcheck", "init", "optim",
    "data", "train", "widgets", "grading", "rng", "validate", "threads",
)
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nbkit' has no attribute {name!r}")
