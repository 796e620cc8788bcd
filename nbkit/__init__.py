"""nbkit: reference implementations for a course on how neural networks are trained.

Submodules (imported on first use, so ``import nbkit`` stays cheap)::

    nbkit.autodiff   scalar reverse-mode autodiff (Value), traces, graph drawing
    nbkit.layers     Parameter, Module, Linear, activations, Dropout, Sequential
    nbkit.losses     MSE, binary and softmax cross-entropy
    nbkit.init       weight initializers
    nbkit.optim      SGD (momentum, weight decay), Adagrad, Adam, schedules
    nbkit.gradcheck  finite differences, relative error, module checks
    nbkit.data       dataset loaders, toy sets, mini-batches, augmentation
    nbkit.train      fit / evaluate
    nbkit.widgets    interactive pictures (ipywidgets + matplotlib)
    nbkit.grading    release and grade exercises
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "autodiff", "layers", "losses", "init", "optim", "gradcheck",
    "data", "train", "widgets", "grading",
)
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nbkit' has no attribute {name!r}")
