"""Optimizers and schedules: every update rule against its formula written out by hand."""

import math
import tracemalloc

import numpy as np
import pytest

from nbkit import optim


class Param:
    """The minimal parameter interface the optimizers rely on (as nbkit.layers.Parameter)."""

    def __init__(self, value, decay=True, name=""):
        self.value = np.array(value, dtype=np.float64)
        self.grad = np.zeros_like(self.value)
        self.decay = decay
        self.name = name


GRADS = [np.array([1.0, -2.0]), np.array([0.5, 3.0]), np.array([-1.5, 0.25])]
THETA0 = np.array([0.3, -0.7])


def run(opt, p, grads):
    """Take one step per gradient; return the parameter after each step."""
    out = []
    for g in grads:
        p.grad[...] = g
        opt.step()
        out.append(p.value.copy())
    return out


# ------------------------------------------------------------------------------ update rules


def test_plain_sgd_three_steps():
    p = Param(THETA0)
    got = run(optim.SGD([p], lr=0.1), p, GRADS)
    theta = THETA0.copy()
    for g, after in zip(GRADS, got, strict=True):
        theta = theta - 0.1 * g
        np.testing.assert_allclose(after, theta, rtol=0, atol=1e-15)


def test_momentum_three_steps_by_hand():
    lr, m = 0.1, 0.9
    g1, g2, g3 = GRADS
    v1 = -lr * g1
    v2 = m * v1 - lr * g2
    v3 = m * v2 - lr * g3
    expected = [THETA0 + v1, THETA0 + v1 + v2, THETA0 + v1 + v2 + v3]
    p = Param(THETA0)
    got = run(optim.SGD([p], lr=lr, momentum=m), p, GRADS)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("m", [0.5, 0.9, 0.99])
def test_momentum_is_geometric_sum_of_past_gradients(m):
    lr, g = 0.05, np.array([2.0, -1.0])
    p = Param(np.zeros(2))
    thetas = [np.zeros(2)] + run(optim.SGD([p], lr=lr, momentum=m), p, [g] * 12)
    for k in range(1, 13):
        v_k = thetas[k] - thetas[k - 1]
        np.testing.assert_allclose(v_k, -lr * g * (1 - m**k) / (1 - m), rtol=1e-12)


def test_adagrad_per_coordinate_steps():
    lr, eps = 0.5, 1e-8
    p = Param(THETA0)
    got = run(optim.Adagrad([p], lr=lr, eps=eps), p, GRADS)
    for i in range(2):  # each coordinate on its own, with Python floats
        theta, G = THETA0[i], 0.0
        for g, after in zip(GRADS, got, strict=True):
            G += g[i] ** 2
            theta -= lr * g[i] / (math.sqrt(G) + eps)
            assert after[i] == pytest.approx(theta, rel=1e-14)
    # the first step moves every coordinate by about lr, whatever the gradient's size
    p = Param([0.0, 0.0, 0.0])
    run(optim.Adagrad([p], lr=lr), p, [np.array([1e-3, 1.0, 1e3])])
    np.testing.assert_allclose(p.value, -lr, rtol=1e-4)


def test_adam_matches_hand_computation():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p = Param(THETA0)
    got = run(optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps), p, GRADS)
    for i in range(2):
        theta, m, v = THETA0[i], 0.0, 0.0
        for t, (g, after) in enumerate(zip(GRADS, got, strict=True), start=1):
            m = b1 * m + (1 - b1) * g[i]
            v = b2 * v + (1 - b2) * g[i] ** 2
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            theta -= lr * m_hat / (math.sqrt(v_hat) + eps)
            assert after[i] == pytest.approx(theta, rel=1e-13)
    # bias correction: the first step is lr * sign(g), not (1 - b1) / sqrt(1 - b2) times that
    np.testing.assert_allclose(got[0] - THETA0, -lr * np.sign(GRADS[0]), rtol=1e-6)


@pytest.mark.parametrize("cls", list(optim.OPTIMIZERS.values()))
def test_weight_decay_only_on_decay_params(cls):
    lr, wd = 0.1, 0.5
    w, b = Param([1.0, -2.0], decay=True), Param([1.0, -2.0], decay=False)
    opt = cls([w, b], lr=lr, weight_decay=wd)
    opt.step()  # zero gradients: only weight decay can move anything
    np.testing.assert_array_equal(b.value, [1.0, -2.0])
    assert np.all(np.abs(w.value) < [1.0, 2.0])
    np.testing.assert_array_equal(w.grad, 0)  # the stored gradient is left alone


def test_sgd_weight_decay_formula():
    lr, wd = 0.1, 0.01
    w, b = Param(THETA0, decay=True), Param(THETA0, decay=False)
    opt = optim.SGD([w, b], lr=lr, weight_decay=wd)
    theta_w, theta_b = THETA0.copy(), THETA0.copy()
    for g in GRADS:
        w.grad[...] = b.grad[...] = g
        opt.step()
        theta_w = theta_w - lr * (g + wd * theta_w)
        theta_b = theta_b - lr * g
        np.testing.assert_allclose(w.value, theta_w, rtol=1e-14)
        np.testing.assert_allclose(b.value, theta_b, rtol=1e-14)


# ------------------------------------------------------------------------------ schedules


def test_schedule_values_and_repr():
    cases = [
        (
            optim.inverse_sqrt_decay(1.0),
            [1, 1 / math.sqrt(2), 1 / math.sqrt(3), 0.5],
            "inverse_sqrt_decay(lr0=1.0)",
        ),
        (
            optim.inverse_time_decay(1.0, rate=0.5),
            [1, 1 / 1.5, 0.5, 1 / 2.5],
            "inverse_time_decay(lr0=1.0, rate=0.5)",
        ),
        (
            optim.step_decay(0.8, every=2, factor=0.5),
            [0.8, 0.8, 0.4, 0.4],
            "step_decay(lr0=0.8, every=2, factor=0.5)",
        ),
        (
            optim.exponential_decay(2.0, gamma=0.5),
            [2.0, 1.0, 0.5, 0.25],
            "exponential_decay(lr0=2.0, gamma=0.5)",
        ),
    ]
    for schedule, values, text in cases:
        assert [schedule(t) for t in range(4)] == pytest.approx(values, rel=1e-15)
        assert repr(schedule) == text
    assert set(optim.SCHEDULES) == {s.name for s, _, _ in cases}


def test_optimizer_uses_schedule_at_each_step():
    p = Param([0.0])
    opt = optim.SGD([p], lr=optim.step_decay(1.0, every=2, factor=0.1))
    assert opt.t == 0 and opt.current_lr == 1.0
    moves = []
    for _ in range(5):
        p.grad[...] = -1.0  # unit gradient: each step moves theta by exactly lr(t)
        before = p.value[0]
        opt.step()
        moves.append(p.value[0] - before)
    assert moves == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01], rel=1e-12)
    assert opt.t == 5 and opt.current_lr == pytest.approx(0.01)


def test_one_over_t_decay_makes_sgd_the_running_mean():
    """SGD on f_t(theta) = (theta - x_t)^2 / 2 with eta_t = 1/(t+1) computes the mean of x_t."""
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(200, 3))
    p = Param(np.full(3, 100.0))  # the start is forgotten after the first step
    opt = optim.SGD([p], lr=optim.inverse_time_decay(1.0))
    for t, x_t in enumerate(x, start=1):
        p.grad[...] = p.value - x_t
        opt.step()
        np.testing.assert_allclose(p.value, x[:t].mean(axis=0), rtol=1e-12)
    # a constant lr keeps jumping around instead of settling on the mean
    q = Param(np.zeros(3))
    opt = optim.SGD([q], lr=0.5)
    for x_t in x:
        q.grad[...] = q.value - x_t
        opt.step()
    assert np.abs(q.value - x.mean(0)).max() > 5 * np.abs(p.value - x.mean(0)).max()


# ------------------------------------------------------------------------------ behaviour


def steps_to_minimum(opt, p, A, tol=1e-3, max_steps=5000):
    for k in range(1, max_steps + 1):
        p.grad[...] = A * p.value  # gradient of theta^T diag(A) theta / 2
        opt.step()
        if np.linalg.norm(p.value) < tol:
            return k
    return max_steps + 1


def test_momentum_beats_sgd_on_ill_conditioned_quadratic():
    A = np.array([1.0, 100.0])  # condition number 100
    lr = 0.015  # below 2/100, the largest stable lr of plain SGD
    sgd_steps = steps_to_minimum(optim.SGD([p := Param([1.0, 1.0])], lr=lr), p, A)
    mom_steps = steps_to_minimum(optim.SGD([q := Param([1.0, 1.0])], lr=lr, momentum=0.9), q, A)
    assert sgd_steps <= 5000 and mom_steps < sgd_steps / 3


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_optimizer_minimises_a_quadratic(name):
    p = Param([3.0, -2.0, 1.0])
    lr = {"sgd": 0.1, "adagrad": 1.0, "adam": 0.1}[name]
    opt = optim.OPTIMIZERS[name]([p], lr=lr)
    for _ in range(500):
        p.grad[...] = p.value
        opt.step()
    assert np.linalg.norm(p.value) < 0.05


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
        lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=1e-4),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=1e-4),
    ],
)
def test_updates_in_place_without_allocating(make):
    p = Param(np.ones((500, 500)))  # 2 MB
    b = Param(np.ones(500), decay=False)
    value, bias = p.value, b.value
    p.grad[...] = 0.5
    b.grad[...] = 0.5
    opt = make([p, b])
    opt.step()  # the first step creates the state buffers
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.value is value and b.value is bias
    assert np.shares_memory(p.value, value)
    assert not np.allclose(value, 1.0)  # the update did land in that very array
    assert peak < 100_000, f"step() allocated {peak} bytes"


def test_state_follows_dtype_and_shape_changes():
    p = Param([1.0, 2.0])
    p.value = p.value.astype(np.float32)
    p.grad = np.ones(2, np.float32)
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    opt.step()
    assert p.value.dtype == np.float32
    p.value, p.grad = p.value.astype(np.float64), p.grad.astype(np.float64)
    opt.step()  # momentum survives the cast: v = 0.5 * (-0.1) - 0.1
    assert p.value.dtype == np.float64
    np.testing.assert_allclose(p.value, [1.0 - 0.1 - 0.15, 2.0 - 0.1 - 0.15], rtol=1e-6)
    assert opt.state[0]["velocity"].dtype == np.float64
    p.value, p.grad = np.zeros(3), np.ones(3)
    opt.step()  # new shape: the velocity starts again from zero
    np.testing.assert_allclose(p.value, -0.1)


def test_zero_grad_and_shared_parameters():
    p = Param([1.0, 2.0])
    opt = optim.SGD([p, p], lr=1.0)  # a tied parameter listed twice is updated once
    p.grad[...] = 1.0
    opt.step()
    np.testing.assert_array_equal(p.value, [0.0, 1.0])
    grad = p.grad
    opt.zero_grad()
    assert p.grad is grad and not p.grad.any()


def test_reprs():
    p = [Param([1.0])]
    assert repr(optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4)) == (
        "SGD(lr=0.1, momentum=0.9, weight_decay=0.0001)"
    )
    assert repr(optim.Adagrad(p, lr=0.5)) == "Adagrad(lr=0.5, eps=1e-08, weight_decay=0.0)"
    assert repr(optim.Adam(p)) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
    assert repr(optim.SGD(p, lr=optim.inverse_sqrt_decay(0.1))) == (
        "SGD(lr=inverse_sqrt_decay(lr0=0.1), momentum=0.0, weight_decay=0.0)"
    )


def test_works_with_nbkit_parameters():
    layers = pytest.importorskip("nbkit.layers")
    w = layers.Parameter(np.ones((2, 3), np.float32))
    b = layers.Parameter(np.ones(3, np.float32), decay=False)
    w.grad[...] = 1.0
    optim.SGD([w, b], lr=0.5, weight_decay=1.0).step()
    np.testing.assert_allclose(w.value, 0.0)
    np.testing.assert_allclose(b.value, 1.0)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: optim.SGD(p, lr=0), ValueError, "lr must be a finite number > 0"),
        (lambda p: optim.SGD(p, lr=-0.1), ValueError, "lr"),
        (lambda p: optim.SGD(p, lr=float("nan")), ValueError, "lr"),
        (lambda p: optim.SGD(p, lr="0.1"), TypeError, "lr must be a real number"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.1), ValueError, "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-3), ValueError, "weight_decay"),
        (lambda p: optim.Adagrad(p, lr=0.1, eps=0), ValueError, "eps"),
        (lambda p: optim.Adam(p, betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, "beta2"),
        (lambda p: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda p: optim.SGD(np.ones(3), lr=0.1), TypeError, "iterable of Parameters"),
        (lambda p: optim.SGD([np.ones(3)], lr=0.1), TypeError, "without value, grad, decay"),
        (lambda p: optim.step_decay(0.1, every=0, factor=0.5), ValueError, "every"),
        (lambda p: optim.step_decay(0.1, every=2, factor=1.5), ValueError, "factor"),
        (lambda p: optim.exponential_decay(0.1, gamma=0), ValueError, "gamma"),
        (lambda p: optim.inverse_sqrt_decay(-1), ValueError, "lr0"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make([Param([1.0])])


def test_bad_gradient_shape_and_schedule_output():
    p = Param([1.0, 2.0], name="W")
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"'W' has value shape \(2,\) but grad shape \(3,\)"):
        optim.SGD([p], lr=0.1).step()
    q = Param([1.0])
    opt = optim.SGD([q], lr=lambda t: -1.0)
    with pytest.raises(ValueError, match="gave lr=-1.0 at t=0"):
        opt.step()
