"""numerical_gradient, relative_error, Jacobians both ways."""

import numpy as np
import pytest

from nbkit import gradcheck, layers


def test_numerical_gradient_of_known_function_and_restores_x():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    g = gradcheck.numerical_gradient(lambda: np.sum(x**3) + np.sin(x[0, 1]), x)
    expected = 3 * before**2
    expected[0, 1] += np.cos(before[0, 1])
    assert gradcheck.relative_error(g, expected) < 1e-7
    np.testing.assert_array_equal(x, before)


def test_entries_and_step():
    x = np.array([10.0, 1.0, 0.0])
    np.testing.assert_allclose(gradcheck.default_step(x), np.sqrt(np.finfo(float).eps)
                               * np.array([10, 1, 1]))
    g = gradcheck.numerical_gradient(lambda: np.sum(x**2), x, entries=[(1,), (2,)])
    np.testing.assert_allclose(g, [2.0, 0.0], atol=1e-6)


def test_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def f():
        if x[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        gradcheck.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_refuses_integer_arrays():
    with pytest.raises(TypeError, match="integer arrays cannot be perturbed"):
        gradcheck.numerical_gradient(lambda: 0.0, np.arange(3))


def test_relative_error():
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.0]) == 0
    assert gradcheck.relative_error([1.0], [3.0]) == pytest.approx(0.5)
    assert gradcheck.relative_error([0.0], [0.0]) == 0
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.relative_error([1.0], [1.0, 2.0])


def test_float32_is_too_noisy_to_check():
    """The reason checks run in float64: the same check in float32 gives large errors."""
    rng = np.random.default_rng(0)
    x32 = rng.standard_normal(20).astype(np.float32)
    g = gradcheck.numerical_gradient(lambda: np.sum(np.tanh(x32)), x32)
    assert gradcheck.relative_error(g, 1 - np.tanh(x32.astype(float))**2) > 1e-4  # 100x float64's
    x64 = x32.astype(np.float64)
    g = gradcheck.numerical_gradient(lambda: np.sum(np.tanh(x64)), x64)
    assert gradcheck.relative_error(g, 1 - np.tanh(x64)**2) < 1e-6


def test_jacobian_columnwise_equals_rowwise():
    rng = np.random.default_rng(3)
    model = layers.mlp([3, 4, 2], activation="tanh", rng=rng).to(np.float64)
    X = rng.standard_normal((2, 3))
    J_fd = gradcheck.jacobian_fd(model, X)
    J_bp = gradcheck.jacobian_bprop(model, X)
    assert J_fd.shape == J_bp.shape == (4, 6)
    assert gradcheck.relative_error(J_fd, J_bp) < 1e-5
    # rows of different examples do not interact
    assert np.all(J_bp[:2, 3:] == 0) and np.all(J_bp[2:, :3] == 0)


def test_check_module_restores_dtypes():
    lin = layers.Linear(3, 2, rng=0)
    gradcheck.check_module(lin, np.ones((2, 3)))
    assert lin.W.value.dtype == np.float32 and lin.W.grad.dtype == np.float32


def test_float32_uses_a_float32_sized_step_and_the_applied_step():
    x = np.full(3, 3.0, np.float32)
    g = gradcheck.numerical_gradient(lambda: float((x.astype(float) ** 2).sum()), x)
    np.testing.assert_allclose(g, 6.0, rtol=1e-3)  # not silently 0
    with pytest.raises(ValueError, match="does not change entry"):
        gradcheck.numerical_gradient(lambda: float(x.sum()), x, h=1e-12)


def test_check_module_all_entries():
    lin = layers.Linear(3, 2, rng=0)
    errors = gradcheck.check_module(lin, np.ones((2, 3)), entries=None)
    assert set(errors) == {"input", "W", "b"} and max(errors.values()) < 1e-5


def test_one_perturbation_loop_serves_gradient_and_jacobian():
    """jacobian_fd runs the loop of numerical_gradient: same step, same rounding guard."""
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    before = x.copy()
    J = gradcheck.jacobian_fd(lambda v: np.sin(v).sum(axis=1), x)
    assert J.shape == (2, 4)
    for i in range(2):
        def row_sum(i=i):
            return float(np.sin(x[i]).sum())

        np.testing.assert_array_equal(J[i], gradcheck.numerical_gradient(row_sum, x).ravel())
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="does not change entry"):
        gradcheck.jacobian_fd(lambda v: v, np.array([1e20]), h=1.0)

