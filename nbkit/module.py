"""``Parameter`` and ``Module``: the interface every layer of nbkit implements.

Conventions (batch first):

- ``forward(X)`` takes ``X`` of shape ``(N, D_in)`` and returns ``Y`` of shape ``(N, D_out)``;
  it caches what the backward pass needs.
- ``backward(dY)`` takes ``dL/dY`` (shape of ``Y``), stores ``dL/dθ`` in every parameter's
  ``.grad`` and returns ``dL/dX`` (shape of ``X``). Modules that can skip ``dL/dX`` (it is never
  needed for the data) accept ``backward(dY, input_grad=False)`` and then return None; call
  :func:`backward` to pass that request on to any module, whether it accepts it or not.
- Modules compute in the dtype of their inputs and parameters: float32 by default (fast),
  float64 after ``module.to(np.float64)`` (for gradient checks).
"""

import functools
import inspect

import numpy as np


class Parameter:
    """A trainable array: ``.value``, its gradient ``.grad`` (same shape), and ``.decay``.

    ``decay`` says whether weight decay applies (True for weights, False for biases).
    ``value`` and ``grad`` are plain attributes that modules read afresh on every call, so
    reassigning them (e.g. casting to float64) is fine. A backward pass stores the new gradient
    in ``grad`` -- ``Linear`` writes into the existing array when its shape and dtype fit, other
    modules assign a new one -- so keep ``p.grad.copy()`` if you need the old gradient.
    """

    def __init__(self, value, decay=True, name=""):
        self.value = np.asarray(value)
        self.grad = np.zeros_like(self.value)
        self.decay = bool(decay)
        self.name = name

    shape = property(lambda self: self.value.shape)
    size = property(lambda self: self.value.size)

    def __repr__(self):
        return (f"Parameter({self.name or '?'}, shape={self.value.shape}, "
                f"dtype={self.value.dtype}, decay={self.decay})")


class Module:
    """Base class: ``forward``, ``backward``, ``parameters``, ``train``/``eval``.

    ``named_parameters`` finds every :class:`Parameter` attribute of the module, then those of
    its ``children()`` (a container such as ``Sequential`` returns its modules there).
    """

    training = True

    def forward(self, X):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def __call__(self, X):
        return self.forward(X)

    def children(self):
        return []

    def named_parameters(self):
        """``[(name, Parameter), ...]`` for this module and its children, in order."""
        own = [(name, p) for name, p in vars(self).items() if isinstance(p, Parameter)]
        for i, child in enumerate(self.children()):
            own += [(f"{i}.{name}", p) for name, p in child.named_parameters()]
        return own

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    def train(self, mode=True):
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, dtype):
        """Cast every parameter (value and grad) to ``dtype``; returns self."""
        for p in self.parameters():
            p.value, p.grad = p.value.astype(dtype, copy=False), p.grad.astype(dtype, copy=False)
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    # ---- the input checks every module shares ----------------------------------------------
    def _check_input(self, X, features=None):
        """X must be a float ndarray of shape (N, features) (any width if features is None)."""
        want = f"(N, {features or 'D'})"
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{self!r}: expected a 2-D numpy array of shape {want}, got "
                            f"{type(X).__name__}")
        if X.ndim != 2:
            raise ValueError(f"{self!r}: expected a 2-D array of shape {want}, got shape "
                             f"{X.shape}")
        if features is not None and X.shape[1] != features:
            raise ValueError(f"{self!r}: expected input of shape {want}, got {X.shape}")
        if X.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a float array, got dtype {X.dtype}")

    def _check_grad(self, grad_out, expected_shape):
        """grad_out must have the shape of the last output (None: forward was never called)."""
        if expected_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        if np.shape(grad_out) != expected_shape:
            raise ValueError(f"{self!r}: backward expected grad_out of shape {expected_shape}"
                             f" (the shape of the last output), got {np.shape(grad_out)}")


@functools.lru_cache(maxsize=256)
def _takes_input_grad(cls):
    return "input_grad" in inspect.signature(cls.backward).parameters


def backward(module, grad_out, input_grad=True):
    """``module.backward(grad_out)``, asking it to skip ``dL/dX`` when ``input_grad`` is False.

    Modules whose ``backward`` has an ``input_grad`` argument (``Linear``, ``Sequential``)
    skip the product ``dY W^T`` and return None; any other module (also a student's model
    without that argument) computes ``dL/dX`` as usual, and None is returned all the same.
    """
    if input_grad:
        return module.backward(grad_out)
    if _takes_input_grad(type(module)):
        return module.backward(grad_out, input_grad=False)
    module.backward(grad_out)
    return None
