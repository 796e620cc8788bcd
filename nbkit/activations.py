"""Activation functions: one registry of (f, f') pairs and the modules that use it.

:data:`ACTIVATIONS` maps a name to an :class:`ActivationFn`: the function ``f(z)``, its
derivative written as ``fprime(z, y)`` with ``y = f(z)`` already computed (σ' = y (1 - y),
tanh' = 1 - y², so backward reuses the forward's output), and a label for plots. Everything
that names an activation -- the modules below, ``layers.mlp(activation=...)``, the widgets --
looks it up here.

The modules (batch first, ``X`` of shape (N, D)): :class:`Activation` computes ``Y = f(X)``
and ``dX = dY ⊙ f'(X)``; :class:`Sigmoid`, :class:`Tanh`, :class:`ReLU`, :class:`LeakyReLU` and
:class:`Softplus` are that module for one name; :class:`PReLU` learns its negative slope.
"""

from dataclasses import dataclass

import numpy as np

from nbkit.module import Module, Parameter


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), stable for any z: with e = e^{-|z|} <= 1, σ(z) = 1 / (1 + e)
    for z >= 0 and e / (1 + e) for z < 0 (no overflow, full precision in both tails)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    y = np.where(z >= 0, 1, e)
    y /= 1 + e
    return y


def _tanh_prime(z, y):
    d = y * y
    np.subtract(1, d, out=d)  # tanh' = 1 - tanh^2
    return d


def _leaky(alpha):
    return (lambda z: np.where(z > 0, z, alpha * z),
            lambda z, y: np.where(z > 0, 1, alpha).astype(z.dtype))


@dataclass(frozen=True)
class ActivationFn:
    """An activation ``f``, its derivative ``fprime(z, y)`` given ``z`` and ``y = f(z)``, and a
    ``label`` for legends."""

    f: object
    fprime: object
    label: str

    def derivative(self, z):
        """f'(z) on an array z."""
        return self.fprime(np.asarray(z), self.f(np.asarray(z)))


# name: f(z), f'(z, y) with y = f(z), label
ACTIVATIONS = {
    "sigmoid": ActivationFn(sigmoid, lambda z, y: y * (1 - y), "sigmoid"),  # σ' = σ(1 - σ) <= 1/4
    "tanh": ActivationFn(np.tanh, _tanh_prime, "tanh"),
    "relu": ActivationFn(lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(z.dtype), "ReLU"),
    "leaky_relu": ActivationFn(*_leaky(0.01), "Leaky ReLU"),
    # softplus log(1 + e^z), a smooth ReLU, has the sigmoid as its derivative
    "softplus": ActivationFn(lambda z: np.logaddexp(0, z), lambda z, y: sigmoid(z), "softplus"),
    "linear": ActivationFn(lambda z: z.copy(), lambda z, y: np.ones_like(z), "linear"),
}


class Activation(Module):
    """Elementwise ``Y = f(X)``; backward ``dX = dY ⊙ f'(X)`` from the cached X and Y."""

    name = None

    def __init__(self, name=None):
        self.name = name or self.name
        if self.name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.name!r}; expected one of "
                             f"{sorted(ACTIVATIONS)} (or a PReLU module)")
        self.fn = ACTIVATIONS[self.name]
        self._Z = self._Y = None

    def forward(self, X):
        self._check_input(X)
        self._Z, self._Y = X, self.fn.f(X)
        return self._Y

    def backward(self, grad_out):
        self._check_grad(grad_out, None if self._Z is None else self._Z.shape)
        d = self.fn.fprime(self._Z, self._Y)
        if d.dtype == np.result_type(d, grad_out):
            d *= grad_out
            return d
        return d * grad_out

    def extra_repr(self):
        return "" if type(self) is not Activation else repr(self.name)


class Sigmoid(Activation):
    """σ(z) = 1/(1+e^{-z}); σ'(z) = σ(z)(1-σ(z)) ≤ 1/4."""

    name = "sigmoid"


class Tanh(Activation):
    """tanh(z); tanh'(z) = 1 - tanh(z)^2 ≤ 1."""

    name = "tanh"


class ReLU(Activation):
    """max(0, z); derivative 1 for z > 0 and 0 otherwise (0 at the kink)."""

    name = "relu"


class Softplus(Activation):
    """log(1 + e^z); derivative σ(z)."""

    name = "softplus"


class LeakyReLU(Activation):
    """z for z > 0, αz otherwise; derivative 1 or α (the registry's "leaky_relu" has α = 0.01)."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = float(alpha)
        self.fn = ActivationFn(*_leaky(self.alpha), self.fn.label)

    def extra_repr(self):
        return f"alpha={self.alpha:g}"


class PReLU(Module):
    """Parametric ReLU: ``y = max(0, z) + α min(0, z)`` with learned slope α.

    ``α`` has shape ``(num_features,)`` (one slope per feature, or one shared when
    ``num_features == 1``). Backward: ``dz = dy ⊙ (1 if z > 0 else α)``,
    ``dα = Σ_n dy ⊙ min(0, z)`` (summed over features too when shared). No weight decay on α.
    """

    name = "prelu"

    def __init__(self, num_features=1, alpha=0.25, dtype=np.float32):
        self.num_features = int(num_features)
        self.alpha = Parameter(np.full(self.num_features, alpha, dtype=dtype), decay=False,
                               name="alpha")
        self._Z = None

    def forward(self, X):
        self._check_input(X, None if self.num_features == 1 else self.num_features)
        self._Z = X
        return np.where(X > 0, X, self.alpha.value * X)

    def backward(self, grad_out):
        Z = self._Z
        self._check_grad(grad_out, None if Z is None else Z.shape)
        da = (np.minimum(Z, 0) * grad_out).sum(axis=0)
        self.alpha.grad = np.atleast_1d(da.sum() if self.num_features == 1 else da)
        return np.where(Z > 0, grad_out, self.alpha.value * grad_out)

    def extra_repr(self):
        return f"num_features={self.num_features}"


def activation_module(name):
    """A new activation module by name: "tanh" -> ``Tanh()``, "prelu" -> ``PReLU()``, and
    ``Activation(name)`` for a registry name without a class of its own ("linear")."""
    for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, Softplus, PReLU):
        if cls.name == name:
            return cls()
    return Activation(name)
