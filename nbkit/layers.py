"""Layers with an explicit forward (fprop) and backward (bprop): the modular view of backprop.

Conventions (batch first):

- ``forward(X)`` takes ``X`` of shape ``(N, D_in)`` and returns ``Y`` of shape ``(N, D_out)``;
  it caches what the backward pass needs.
- ``backward(dY)`` takes ``dL/dY`` (shape of ``Y``), stores ``dL/dθ`` in every parameter's
  ``.grad`` and returns ``dL/dX`` (shape of ``X``).
- Modules compute in the dtype of their inputs and parameters: float32 by default (fast),
  float64 after ``module.to(np.float64)`` (for gradient checks).

Example::

    >>> model = Sequential(Linear(784, 200, rng=rng), Tanh(), Linear(200, 10, rng=rng))
    >>> Y = model(X)                     # (N, 10) logits
    >>> dX = model.backward(dY)          # fills model[0].W.grad, ...
"""

from dataclasses import dataclass

import numpy as np

from nbkit import init as initializers
from nbkit.rng import as_generator

# --------------------------------------------------------------------------------------------
# Parameters and the Module interface
# --------------------------------------------------------------------------------------------


class Parameter:
    """A trainable array: ``.value``, its gradient ``.grad`` (same shape), and ``.decay``.

    ``decay`` says whether weight decay applies (True for weights, False for biases).
    ``value`` and ``grad`` are plain attributes: reassigning them (e.g. casting to float64) is
    fine, since modules read them afresh on every call. Backward passes write into ``grad`` in
    place (no allocation per step), so keep ``p.grad.copy()`` if you need an old gradient.
    """

    def __init__(self, value, decay=True, name=""):
        self.value = np.asarray(value)
        self.grad = np.zeros_like(self.value)
        self.decay = bool(decay)
        self.name = name

    @property
    def shape(self):
        return self.value.shape

    @property
    def size(self):
        return self.value.size

    def __repr__(self):
        return (f"Parameter({self.name or '?'}, shape={self.value.shape}, "
                f"dtype={self.value.dtype}, decay={self.decay})")


class Module:
    """Base class: ``forward``, ``backward``, ``parameters``, ``train``/``eval``."""

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
            p.value = p.value.astype(dtype, copy=False)
            p.grad = p.grad.astype(dtype, copy=False)
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    # ---- shared input checks ---------------------------------------------------------------
    def _check_input(self, X, features=None):
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            got = f"shape {X.shape}" if isinstance(X, np.ndarray) else type(X).__name__
            want = f"(N, {features})" if features else "(N, D)"
            raise ValueError(f"{self!r}: expected a 2-D array of shape {want}, got {got}")
        if features is not None and X.shape[1] != features:
            raise ValueError(f"{self!r}: expected input of shape (N, {features}), got {X.shape}")
        if X.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a float array, got dtype {X.dtype}")

    def _check_grad(self, grad_out, expected_shape):
        if expected_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        if np.shape(grad_out) != expected_shape:
            raise ValueError(f"{self!r}: backward expected grad_out of shape {expected_shape}"
                             f" (the shape of the last output), got {np.shape(grad_out)}")


# --------------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------------


def _initial_weights(init, shape, rng, dtype, owner):
    """``init(shape, rng)`` cast to ``dtype``; nbkit's initializers also take ``dtype=``."""
    try:
        W = init(shape, rng, dtype=dtype)
    except TypeError as err:
        if "dtype" not in str(err):
            raise
        W = init(shape, rng)
    W = np.asarray(W).astype(dtype, copy=False)
    if W.shape != shape:
        raise ValueError(f"{type(owner).__name__}: initializer {getattr(init, '__name__', init)}"
                         f" returned shape {W.shape}; expected {shape}")
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
        W = _initial_weights(self.init, (self.in_features, self.out_features), rng, dtype, self)
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


# --------------------------------------------------------------------------------------------
# Elementwise activations: one registry of (f, f') pairs, one module class using it
# --------------------------------------------------------------------------------------------


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), stable for any z: with e = e^{-|z|} <= 1,
    σ(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0 (no overflow, full precision
    in both tails)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    y = np.where(z >= 0, 1, e)
    y /= 1 + e
    return y


def _sigmoid_prime(z, y):
    return y * (1 - y)  # σ' = σ (1 - σ) <= 1/4


def _tanh_prime(z, y):
    d = y * y
    np.subtract(1, d, out=d)  # tanh' = 1 - tanh^2
    return d


def _relu(z):
    return np.maximum(z, 0)


def _relu_prime(z, y):
    return (z > 0).astype(z.dtype)


def _softplus(z):
    return np.logaddexp(0, z)  # log(1 + e^z), a smooth ReLU


def _softplus_prime(z, y):
    return sigmoid(z)


def _leaky(alpha):
    return (lambda z: np.where(z > 0, z, alpha * z),
            lambda z, y: np.where(z > 0, 1, alpha).astype(z.dtype))


@dataclass(frozen=True)
class ActivationFn:
    """An activation ``f`` and its derivative ``fprime(z, y)`` given ``z`` and ``y = f(z)``."""

    f: object
    fprime: object


ACTIVATIONS = {
    "sigmoid": ActivationFn(sigmoid, _sigmoid_prime),
    "tanh": ActivationFn(np.tanh, _tanh_prime),
    "relu": ActivationFn(_relu, _relu_prime),
    "leaky_relu": ActivationFn(*_leaky(0.01)),
    "softplus": ActivationFn(_softplus, _softplus_prime),
    "linear": ActivationFn(lambda z: z.copy(), lambda z, y: np.ones_like(z)),
}

#: name -> (f(z), f'(z)) on arrays, for plots in widgets and lectures.
def _derivative(a):
    def fprime(z):
        z = np.asarray(z)
        return a.fprime(z, a.f(z))

    return fprime


activation_functions = {name: (a.f, _derivative(a)) for name, a in ACTIVATIONS.items()}


class Activation(Module):
    """Elementwise ``Y = f(X)``; backward ``dX = dY ⊙ f'(X)`` from the cached X and Y."""

    name = None

    def __init__(self, name=None):
        self.name = name or self.name
        if self.name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.name!r}; expected one of"
                             f" {sorted(ACTIVATIONS)}")
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
    """z for z > 0, αz otherwise; derivative 1 or α."""

    def __init__(self, alpha=0.01):
        self.alpha = float(alpha)
        self.name = "leaky_relu"
        self.fn = ActivationFn(*_leaky(self.alpha))
        self._Z = self._Y = None

    def extra_repr(self):
        return f"alpha={self.alpha:g}"


class PReLU(Module):
    """Parametric ReLU: ``y = max(0, z) + α min(0, z)`` with learned slope α.

    ``α`` has shape ``(num_features,)`` (one slope per feature, or one shared when
    ``num_features == 1``). Backward: ``dz = dy ⊙ (1 if z > 0 else α)``,
    ``dα = Σ_n dy ⊙ min(0, z)`` (summed over features too when shared). No weight decay on α.
    """

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
        neg = np.minimum(Z, 0)
        neg *= grad_out
        da = neg.sum(axis=0)
        self.alpha.grad = np.atleast_1d(da.sum() if self.num_features == 1 else da)
        return np.where(Z > 0, grad_out, self.alpha.value * grad_out)

    def extra_repr(self):
        return f"num_features={self.num_features}"


class Maxout(Module):
    """Maxout: ``y_j = max_k (X W + b)[j, k]`` over ``pieces`` linear pieces per output unit.

    ``W`` (in_features, out_features * pieces), ``b`` (out_features * pieces,). With two pieces
    and one of them fixed at zero, a maxout unit is a ReLU. Backward routes ``dY`` to the
    winning piece only.
    """

    def __init__(self, in_features, out_features, pieces=2, init=initializers.xavier_normal,
                 rng=None, dtype=np.float32):
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.pieces, self.out_features = int(pieces), int(out_features)
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

    def named_parameters(self):
        return [("W", self.W), ("b", self.b)]

    def extra_repr(self):
        return f"{self.linear.in_features}, {self.out_features}, pieces={self.pieces}"


# --------------------------------------------------------------------------------------------
# Dropout and Sequential
# --------------------------------------------------------------------------------------------


class Dropout(Module):
    """Inverted dropout with drop probability ``p``.

    Training: ``m_i ~ Bernoulli(1 - p)`` resampled at every forward, ``Y = X ⊙ m / (1 - p)``
    (so the expected activation is unchanged and test time needs no rescaling).
    Eval: ``Y = X``. Backward: ``dX = dY ⊙ m / (1 - p)``. ``frozen = True`` reuses the last
    mask (used by gradient checks).
    """

    def __init__(self, p=0.5, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the drop probability and must be in [0, 1), got {p}")
        self.p = float(p)
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
            modules = tuple(modules[0])
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
        """Backprop through all modules; the first Linear skips dX if ``input_grad`` is False."""
        for i in range(len(self.modules) - 1, -1, -1):
            m = self.modules[i]
            if i == 0 and not input_grad and isinstance(m, (Linear, Sequential)):
                return m.backward(grad_out, input_grad=False)
            grad_out = m.backward(grad_out)
        return grad_out

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


ACTIVATION_MODULES = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU,
                      "softplus": Softplus, "prelu": PReLU}


def mlp(sizes, activation="tanh", init=initializers.xavier_normal, rng=None, dtype=np.float32):
    """``Sequential`` of Linear layers with ``sizes = [D_in, h_1, ..., D_out]`` and an
    activation (a name in ACTIVATIONS) between them, none after the last."""
    rng = as_generator(rng)
    modules = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        modules.append(Linear(n_in, n_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            modules.append(ACTIVATION_MODULES[activation]())
    return Sequential(*modules)
