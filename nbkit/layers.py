"""Layers with an explicit forward (fprop) and backward (bprop): the modular view of backprop.

The interface (``Parameter``, ``Module``, the shape conventions) is written down once in
:mod:`nbkit.module`, the activation functions and their modules in :mod:`nbkit.activations`;
both are importable from here too, since this is where the lectures import every module from.

Example::

    >>> model = Sequential(Linear(784, 200, rng=rng), Tanh(), Linear(200, 10, rng=rng))
    >>> Y = model(X)                     # (N, 10) logits
    >>> dX = model.backward(dY)          # fills model[0].W.grad, ...
"""

import inspect

import numpy as np

from nbkit import init as initializers
from nbkit import validate
from nbkit.activations import (
    ACTIVATIONS,
    Activation,
    ActivationFn,
    LeakyReLU,
    PReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    activation_module,
    sigmoid,
)
from nbkit.module import Module, Parameter, backward
from nbkit.rng import as_generator

__all__ = [
    "Parameter", "Module", "backward", "Linear", "Maxout", "Dropout", "Sequential", "mlp",
    "ACTIVATIONS", "ActivationFn", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
    "Softplus", "PReLU", "sigmoid", "activation_module",
]

def _initial_weights(init, shape, rng, dtype):
    """``init(shape, rng)`` as ``dtype``; an initializer with a ``dtype`` keyword (all of
    nbkit's) is asked to draw in that dtype."""
    takes_dtype = "dtype" in inspect.signature(init).parameters
    W = np.asarray(init(shape, rng, dtype=dtype) if takes_dtype else init(shape, rng), dtype)
    if W.shape != shape:
        raise ValueError(f"initializer {getattr(init, '__name__', init)} returned shape "
                         f"{W.shape}; expected {shape}")
    return W


class Linear(Module):
    """Affine map ``Y = X W + b``.

    Shapes: ``X`` (N, in_features), ``W`` (in_features, out_features), ``b`` (out_features,),
    ``Y`` (N, out_features). Backward, with ``dY = dL/dY``::

        dW = X^T dY      db = sum_n dY[n]      dX = dY W^T

    ``X`` and ``W`` should share a dtype (float32 by default): a float64 ``X`` with float32
    weights is computed in float64 (slower); cast ``X`` or call ``model.to(np.float64)``.
    """

    def __init__(self, in_features, out_features, init=initializers.xavier_normal, rng=None,
                 dtype=np.float32):
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.init = initializers.get(init)
        rng = as_generator(rng)
        W = _initial_weights(self.init, (self.in_features, self.out_features), rng, dtype)
        self.W = Parameter(W, decay=True, name="W")
        self.b = Parameter(np.zeros(self.out_features, dtype=dtype), decay=False, name="b")
        self._X = None

    def forward(self, X):
        self._check_input(X, self.in_features)
        self._X = X
        Y = X @ self.W.value
        Y += self.b.value
        return Y

    def backward(self, grad_out, input_grad=True):
        """Fill ``W.grad``, ``b.grad``; return ``dX`` (or None when ``input_grad`` is False)."""
        X = self._X
        self._check_grad(grad_out, None if X is None else (X.shape[0], self.out_features))
        W, b = self.W, self.b
        if W.grad.shape == W.value.shape and W.grad.dtype == np.result_type(X, grad_out):
            np.matmul(X.T, grad_out, out=W.grad)
            np.sum(grad_out, axis=0, out=b.grad)
        else:
            W.grad = X.T @ grad_out
            b.grad = grad_out.sum(axis=0)
        return grad_out @ W.value.T if input_grad else None

    def extra_repr(self):
        name = getattr(self.init, "__name__", "custom")
        return f"{self.in_features}, {self.out_features}, init={name}"


class Maxout(Module):
    """Maxout: ``y_j = max_k (X W + b)[j, k]`` over ``pieces`` linear pieces per output unit.

    ``W`` (in_features, out_features * pieces), ``b`` (out_features * pieces,). With two pieces
    and one of them fixed at zero, a maxout unit is a ReLU. Backward routes ``dY`` to the
    winning piece only.
    """

    def __init__(self, in_features, out_features, pieces=2, init=initializers.xavier_normal,
                 rng=None, dtype=np.float32):
        self.pieces = validate.integer(pieces, "pieces", "Maxout", low=1)
        self.out_features = int(out_features)
        self.linear = Linear(in_features, out_features * pieces, init=init, rng=rng, dtype=dtype)
        self.W, self.b = self.linear.W, self.linear.b
        self._win = None

    def forward(self, X):
        self._check_input(X, self.linear.in_features)
        Z = self.linear(X).reshape(len(X), self.out_features, self.pieces)
        self._win = Z.argmax(axis=2)[..., None]
        return np.take_along_axis(Z, self._win, axis=2)[..., 0]

    def backward(self, grad_out):
        win = self._win
        self._check_grad(grad_out, None if win is None else win.shape[:2])
        dZ = np.zeros(win.shape[:2] + (self.pieces,), dtype=grad_out.dtype)
        np.put_along_axis(dZ, win, grad_out[..., None], axis=2)
        return self.linear.backward(dZ.reshape(len(dZ), -1))

    def extra_repr(self):
        return f"{self.linear.in_features}, {self.out_features}, pieces={self.pieces}"


class Dropout(Module):
    """Inverted dropout with drop probability ``p``.

    Training: ``m_i ~ Bernoulli(1 - p)`` resampled at every forward, ``Y = X ⊙ m / (1 - p)``
    (so the expected activation is unchanged and test time needs no rescaling).
    Eval: ``Y = X``. Backward: ``dX = dY ⊙ m / (1 - p)``. ``frozen = True`` reuses the last
    mask (used by gradient checks).
    """

    def __init__(self, p=0.5, rng=None):
        self.p = validate.number(p, "p (the drop probability)", "Dropout", 0, 1, high_open=True)
        self.rng = as_generator(rng)
        self.mask = None
        self.frozen = False
        self._shape = None

    def forward(self, X):
        self._check_input(X)
        if not self.training or self.p == 0:
            self.mask, self._shape = None, X.shape
            return X
        if not (self.frozen and self.mask is not None and self.mask.shape == X.shape):
            keep = self.rng.random(X.shape, dtype=np.float32) >= self.p
            self.mask = keep.astype(X.dtype)
            self.mask *= 1.0 / (1.0 - self.p)
        self._shape = X.shape
        return X * self.mask

    def backward(self, grad_out):
        self._check_grad(grad_out, self._shape)
        return grad_out if self.mask is None else grad_out * self.mask

    def extra_repr(self):
        return f"p={self.p:g}"


class Sequential(Module):
    """Modules applied in order; backward calls their backward in reverse order."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = modules[0]  # Sequential([a, b]) as well as Sequential(a, b)
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: expected Module instances, got {type(m).__name__}")
        self.modules = list(modules)

    def children(self):
        return self.modules

    def forward(self, X):
        for m in self.modules:
            X = m(X)
        return X

    def backward(self, grad_out, input_grad=True):
        """Backprop through all modules, the last first. With ``input_grad=False`` the first
        module is asked to skip dL/dX (see :func:`nbkit.module.backward`); returns None then."""
        if not self.modules:
            return grad_out if input_grad else None
        for m in reversed(self.modules[1:]):
            grad_out = m.backward(grad_out)
        return backward(self.modules[0], grad_out, input_grad)

    def __getitem__(self, i):
        return self.modules[i]

    def __len__(self):
        return len(self.modules)

    def __iter__(self):
        return iter(self.modules)

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for i, m in enumerate(self.modules):
            n = m.num_parameters()
            lines.append(f"  ({i}): {m!r}" + (f"  # {n:,} parameters" if n else ""))
        lines.append(f")  # {self.num_parameters():,} parameters in total")
        return "\n".join(lines)


def mlp(sizes, activation="tanh", init=initializers.xavier_normal, rng=None, dtype=np.float32):
    """``Sequential`` of Linear layers with ``sizes = [D_in, h_1, ..., D_out]`` and an
    activation between them, none after the last: ``activation`` is a name in ACTIVATIONS
    or "prelu" (see :func:`nbkit.activations.activation_module`). One Generator (from ``rng``)
    draws the weights of every layer, so the layers differ."""
    rng = as_generator(rng)
    modules = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        modules.append(Linear(n_in, n_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            modules.append(activation_module(activation))
    return Sequential(*modules)
