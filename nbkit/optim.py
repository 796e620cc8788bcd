"""Optimizers (SGD with momentum and weight decay, Adagrad, Adam) and learning-rate schedules.

Every optimizer shares ONE interface, written down once in :class:`Optimizer`::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for Xb, yb in batches:
        loss.forward(model(Xb), yb)
        model.backward(loss.backward())   # fills every p.grad
        opt.step()                        # updates every p.value IN PLACE
        opt.zero_grad()                   # optional: modules overwrite .grad anyway

A parameter is any object with attributes ``.value`` (ndarray), ``.grad`` (ndarray, same shape)
and ``.decay`` (bool: weight decay applies, True for weights, False for biases) -- e.g.
:class:`nbkit.layers.Parameter`.

The learning rate ``lr`` is a positive float or a schedule ``t -> lr`` (see :func:`constant`,
:func:`inverse_sqrt_decay`, :func:`inverse_time_decay`, :func:`step_decay`,
:func:`exponential_decay`), where ``t`` is the number of steps already taken (0 for the first).
``t`` counts mini-batch steps, not epochs: to decay once per epoch use e.g.
``step_decay(lr0, every=steps_per_epoch, factor=0.5)``.
"""

import math

import numpy as np

from nbkit import validate

# --------------------------------------------------------------------------------------------
# learning-rate schedules
# --------------------------------------------------------------------------------------------


class Schedule:
    """A learning-rate schedule: a callable ``t -> lr`` (t = steps taken) with a readable repr."""

    def __init__(self, name, formula, **params):
        self.name, self._formula, self.params = name, formula, params

    def __call__(self, t):
        if t < 0:
            raise ValueError(f"{self!r}: step t must be >= 0, got {t}")
        return float(self._formula(t, **self.params))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def constant(lr):
    """eta_t = lr for every step t."""
    validate.positive(lr, "lr", "constant")
    return Schedule("constant", lambda t, lr: lr, lr=lr)


def inverse_sqrt_decay(lr0):
    """eta_t = lr0 / sqrt(t + 1)."""
    validate.positive(lr0, "lr0", "inverse_sqrt_decay")
    return Schedule("inverse_sqrt_decay", lambda t, lr0: lr0 / math.sqrt(t + 1), lr0=lr0)


def inverse_time_decay(lr0, rate=1.0):
    """eta_t = lr0 / (1 + rate * t)  (the 1/t schedule of Robbins and Monro)."""
    validate.positive(lr0, "lr0", "inverse_time_decay")
    validate.positive(rate, "rate", "inverse_time_decay")
    return Schedule("inverse_time_decay", lambda t, lr0, rate: lr0 / (1 + rate * t), lr0=lr0,
                    rate=rate)


def step_decay(lr0, every, factor):
    """eta_t = lr0 * factor ** floor(t / every)  (multiply by `factor` every `every` steps)."""
    validate.positive(lr0, "lr0", "step_decay")
    validate.integer(every, "every", "step_decay", low=1)
    validate.number(factor, "factor", "step_decay", 0, 1, low_open=True)
    return Schedule("step_decay", lambda t, lr0, every, factor: lr0 * factor ** (t // every),
                    lr0=lr0, every=every, factor=factor)


def exponential_decay(lr0, gamma):
    """eta_t = lr0 * gamma ** t."""
    validate.positive(lr0, "lr0", "exponential_decay")
    validate.number(gamma, "gamma", "exponential_decay", 0, 1, low_open=True)
    return Schedule("exponential_decay", lambda t, lr0, gamma: lr0 * gamma**t, lr0=lr0, gamma=gamma)


SCHEDULES = {f.__name__: f for f in (constant, inverse_sqrt_decay, inverse_time_decay,
                                      step_decay, exponential_decay)}


# --------------------------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------------------------


class Optimizer:
    """Base class: the interface every optimizer shares.

    ``Optimizer(params, lr)``

    - ``params``: iterable of parameters (objects with ``.value``, ``.grad``, ``.decay``).
    - ``lr``: float > 0, or a schedule callable ``t -> lr``.
    - ``step()``: one update of every parameter, in place on ``p.value``:
        1. ``lr = current_lr`` (the schedule evaluated at ``t``), then ``t += 1``;
        2. the effective gradient ``g = p.grad + weight_decay * p.value`` if ``p.decay`` and
           ``weight_decay > 0``, else ``g = p.grad`` (``p.grad`` itself is never modified);
        3. ``self._update(p, g, state, lr)``, the rule of the subclass, which must change
           ``p.value`` in place. ``state`` is a dict private to that parameter holding its
           buffers (velocity, squared-gradient sums, ...).
    - ``zero_grad()``: sets every ``p.grad`` to 0.
    - ``t``: number of steps taken so far; ``current_lr``: the lr the next step will use.

    Subclasses implement ``_update`` and list their ``hyperparameters`` (for the repr).
    Buffers come from ``self._buffer(state, name, like)``: allocated once, re-created when the
    dtype or shape of ``p.value`` changes (e.g. after casting a model to float64), so that a
    step allocates no parameter-sized arrays.
    """

    hyperparameters = ("lr", "weight_decay")

    def __init__(self, params, lr, weight_decay=0.0):
        name = type(self).__name__
        self.params = _as_param_list(params, name)
        if not callable(lr):
            validate.positive(lr, "lr", name)
        self.lr = lr
        self.weight_decay = validate.number(weight_decay, "weight_decay", name, low=0)
        self.state = [{} for _ in self.params]
        self.t = 0

    @property
    def current_lr(self):
        """The learning rate of the next step: ``lr(t)`` for a schedule, else ``lr``."""
        lr = self.lr(self.t) if callable(self.lr) else self.lr
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"{type(self).__name__}: schedule {self.lr!r} gave lr={lr!r} at "
                             f"t={self.t}; expected a finite number >= 0")
        return lr

    def step(self):
        lr = self.current_lr
        self.t += 1
        for p, state in zip(self.params, self.state, strict=True):
            self._check(p)
            self._update(p, self._effective_grad(p, state), state, lr)

    def zero_grad(self):
        for p in self.params:
            if isinstance(p.grad, np.ndarray) and p.grad.shape == np.shape(p.value):
                p.grad.fill(0)
            else:
                p.grad = np.zeros_like(p.value)

    def _effective_grad(self, p, state):
        """g = grad + weight_decay * theta (decay=True params only), in a scratch buffer."""
        if not (p.decay and self.weight_decay > 0):
            return p.grad
        g = self._buffer(state, "decayed_grad", p.value, keep=False)
        np.multiply(p.value, self.weight_decay, out=g)
        g += p.grad
        return g

    @staticmethod
    def _buffer(state, name, like, keep=True):
        """state[name], shaped and typed like `like`; zeros when first made.

        If only the dtype changed, the old contents are cast (keep=True) so momentum survives
        a cast of the model; if the shape changed, the buffer starts again from zeros.
        """
        buf = state.get(name)
        if buf is None or buf.shape != like.shape:
            buf = state[name] = np.zeros_like(like)
        elif buf.dtype != like.dtype:
            buf = state[name] = buf.astype(like.dtype) if keep else np.zeros_like(like)
        return buf

    def _check(self, p):
        if np.shape(p.grad) != np.shape(p.value):
            label = f" {p.name!r}" if getattr(p, "name", "") else ""
            raise ValueError(f"{type(self).__name__}: parameter{label} has value shape "
                             f"{np.shape(p.value)} but grad shape {np.shape(p.grad)}; "
                             "expected equal shapes")

    def _update(self, p, g, state, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameters)
        return f"{type(self).__name__}({args})"


def _as_param_list(params, owner):
    if isinstance(params, np.ndarray) or not hasattr(params, "__iter__"):
        raise TypeError(f"{owner}: params must be an iterable of Parameters "
                        f"(e.g. model.parameters()), got {type(params).__name__}")
    unique = list({id(p): p for p in params}.values())  # a shared parameter: updated once
    for p in unique:
        missing = [a for a in ("value", "grad", "decay") if not hasattr(p, a)]
        if missing:
            raise TypeError(f"{owner}: expected Parameters with .value, .grad and .decay; "
                            f"got {type(p).__name__} without {', '.join(missing)}")
    if not unique:
        raise ValueError(f"{owner}: got an empty parameter list")
    return unique


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum and weight decay.

    v <- momentum * v - lr * g;   theta <- theta + v      (g includes weight decay)

    With momentum = 0 this is plain SGD, theta <- theta - lr * g. With constant g, after k steps
    v_k = -lr * g * (1 - momentum**k) / (1 - momentum): momentum averages past gradients.
    """

    hyperparameters = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = validate.number(momentum, "momentum", "SGD", 0, 1, high_open=True)

    def _update(self, p, g, state, lr):
        step = self._buffer(state, "step", p.value, keep=False)
        np.multiply(g, lr, out=step)
        if self.momentum == 0:
            p.value -= step
            return
        v = self._buffer(state, "velocity", p.value)
        v *= self.momentum
        v -= step
        p.value += v



class Adagrad(Optimizer):
    """Adagrad: a per-coordinate learning rate shrinking with the gradients seen so far.

    G <- G + g**2;   theta <- theta - lr * g / (sqrt(G) + eps)
    """

    hyperparameters = ("lr", "eps", "weight_decay")

    def __init__(self, params, lr, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.eps = validate.positive(eps, "eps", "Adagrad")

    def _update(self, p, g, state, lr):
        G = self._buffer(state, "sum_sq_grad", p.value)
        tmp = self._buffer(state, "step", p.value, keep=False)
        np.square(g, out=tmp)
        G += tmp
        np.sqrt(G, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p.value -= tmp



class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on g and on g**2, with bias correction.

    m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g**2          (t = 1, 2, ... steps taken)
    m_hat = m / (1 - b1**t);  v_hat = v / (1 - b2**t)
    theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = tuple(validate.number(b, n, "Adam", 0, 1, high_open=True)
                           for n, b in zip(("beta1", "beta2"), betas, strict=True))
        self.eps = validate.positive(eps, "eps", "Adam")

    def _update(self, p, g, state, lr):
        # The equations above, computed in place through one scratch buffer: written plainly
        # (m[...] = b1 * m + (1 - b1) * g, ...) every operator makes a parameter-sized
        # temporary, and an epoch takes 1.17x (batch 100) to 1.35x (batch 32) as long
        # (benchmarks/update_rules.py).
        b1, b2 = self.betas
        m = self._buffer(state, "m", p.value)
        v = self._buffer(state, "v", p.value)
        tmp = self._buffer(state, "step", p.value, keep=False)
        m *= b1  # m <- b1 m + (1 - b1) g
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp
        v *= b2  # v <- b2 v + (1 - b2) g**2
        np.square(g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        np.divide(v, 1 - b2**self.t, out=tmp)  # v_hat
        np.sqrt(tmp, out=tmp)
        tmp += self.eps  # sqrt(v_hat) + eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - b1**self.t)  # lr * m_hat / (sqrt(v_hat) + eps)
        p.value -= tmp


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}
