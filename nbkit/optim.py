"""Optimizers (SGD with momentum and weight decay, Adagrad, Adam) and learning-rate schedules.

Every optimizer shares ONE interface, written down once in :class:`Optimizer`::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for Xb, yb in batches:
        loss.forward(model(Xb), yb)
        model.backward(loss.backward())   # fills every p.grad
        opt.step()                        # updates every p.value IN PLACE

The learning rate ``lr`` is a positive float (constant) or a schedule ``t -> lr`` (see
:func:`inverse_sqrt_decay`, :func:`inverse_time_decay`, :func:`step_decay`,
:func:`exponential_decay`), where ``t`` is the number of steps already taken (0 for the first).
``t`` counts mini-batch steps, not epochs: to decay once per epoch use e.g.
``step_decay(lr0, every=steps_per_epoch, factor=0.5)``.
"""

import math

import numpy as np

from nbkit import validate


# ---------------------------------------------------------------------- learning-rate schedules
class Schedule:
    """A learning-rate schedule: a callable ``t -> lr`` (t = steps taken) with a readable repr."""

    def __init__(self, name, formula, **params):
        self.name, self._formula, self.params = name, formula, params

    def __call__(self, t):
        if t < 0:
            raise ValueError(f"{self!r}: step t must be >= 0, got {t}")
        return float(self._formula(t, **self.params))

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


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


SCHEDULES = {f.__name__: f for f in (inverse_sqrt_decay, inverse_time_decay, step_decay,
                                      exponential_decay)}


# ----------------------------------------------------------------------------------- optimizers
class Optimizer:
    """Base class: the interface every optimizer shares.

    ``Optimizer(params, lr, weight_decay=0)``: ``params`` an iterable of parameters (objects
    with ``.value``, ``.grad`` of the same shape, and ``.decay``: True if weight decay applies,
    e.g. :class:`nbkit.module.Parameter`; one listed twice is updated once), ``lr`` a float > 0
    or a schedule ``t -> lr``.

    ``step()`` updates every parameter in place on ``p.value``:

    1. ``lr = current_lr`` (the schedule evaluated at ``t``, the steps taken so far), ``t += 1``;
    2. the effective gradient ``g = p.grad + weight_decay * p.value`` if ``p.decay``, else
       ``g = p.grad`` (``p.grad`` itself is never modified);
    3. ``self._update(p, g, state, lr)``: the rule of the subclass, with ``state`` a dict private
       to that parameter for its buffers (velocity, squared-gradient sums, ...), made by
       ``self._buffer(state, name, p.value)``: allocated once (zeros), so that a step allocates
       no parameter-sized array.

    ``zero_grad()`` sets every ``p.grad`` to 0 (optional: backward passes overwrite ``.grad``).
    Subclasses implement ``_update`` and list their ``hyperparameters`` (for the repr).
    """

    hyperparameters = ("lr", "weight_decay")

    def __init__(self, params, lr, weight_decay=0.0):
        name = type(self).__name__
        if isinstance(params, np.ndarray) or not hasattr(params, "__iter__"):
            raise TypeError(f"{name}: params must be an iterable of Parameters "
                            f"(e.g. model.parameters()), got {type(params).__name__}")
        self.params = list({id(p): p for p in params}.values())  # a tied parameter: once
        for p in self.params:
            missing = [a for a in ("value", "grad", "decay") if not hasattr(p, a)]
            if missing:
                raise TypeError(f"{name}: expected Parameters with .value, .grad and .decay; "
                                f"got {type(p).__name__} without {', '.join(missing)}")
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
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
            if np.shape(p.grad) != np.shape(p.value):
                label = f" {p.name!r}" if getattr(p, "name", "") else ""
                raise ValueError(f"{type(self).__name__}: parameter{label} has value shape "
                                 f"{np.shape(p.value)} but grad shape {np.shape(p.grad)}")
            g = p.grad
            if p.decay and self.weight_decay > 0:  # g = grad + weight_decay * theta
                g = np.multiply(p.value, self.weight_decay,
                                out=self._buffer(state, "decayed_grad", p.value, keep=False))
                g += p.grad
            self._update(p, g, state, lr)

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0

    @staticmethod
    def _buffer(state, name, like, keep=True):
        """``state[name]``, shaped and typed like ``like``; zeros when first made, and again
        when the shape changes. When only the dtype changes (a model cast to float64), the
        contents are cast if ``keep`` (momentum survives), else the buffer is a scratch one."""
        buf = state.get(name)
        if buf is None or buf.shape != like.shape:
            buf = state[name] = np.zeros_like(like)
        elif buf.dtype != like.dtype:
            buf = state[name] = buf.astype(like.dtype) if keep else np.zeros_like(like)
        return buf

    def _update(self, p, g, state, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameters)
        return f"{type(self).__name__}({args})"


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
        step = np.multiply(g, lr, out=self._buffer(state, "step", p.value, keep=False))  # lr g
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
        # The equations above, in place through one scratch buffer: written plainly (every
        # operator a parameter-sized temporary) an epoch takes 1.17x (batch 100) to 1.35x
        # (batch 32) as long (benchmarks/update_rules.py).
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
