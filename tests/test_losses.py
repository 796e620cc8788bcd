"""Losses: values against direct formulas and gradients against finite differences (float64)."""

import numpy as np
import pytest

from nbkit import gradcheck, losses

TOL = 1e-5  # float64 central differences with h = sqrt(eps) max(|x|, 1)


def fd_check(loss, output, target):
    loss.forward(output, target)
    analytic = loss.backward()
    numeric = gradcheck.numerical_gradient(lambda: loss.forward(output, target), output)
    return gradcheck.relative_error(analytic, numeric)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(5, 3), (1, 4), (8, 1)])
def test_gradients(seed, shape):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal(shape) * 2
    T = rng.standard_normal(shape)
    B = rng.integers(0, 2, shape).astype(np.float64)
    P = rng.uniform(0.05, 0.95, shape)
    assert fd_check(losses.MSELoss(), Z, T) < TOL
    assert fd_check(losses.MSELoss(half=False), Z, T) < TOL
    assert fd_check(losses.BCELoss(), P, B) < TOL
    assert fd_check(losses.BCEWithLogitsLoss(), Z, B) < TOL
    labels = rng.integers(0, shape[1], shape[0])
    assert fd_check(losses.SoftmaxCrossEntropyLoss(), Z, labels) < TOL


def test_values_match_formulas():
    y = np.array([[1.0, 2.0], [0.0, -1.0]])
    t = np.array([[0.0, 2.0], [1.0, 1.0]])
    assert losses.MSELoss()(y, t) == pytest.approx((1 + 0 + 1 + 4) / 2 / 2)
    assert losses.MSELoss(half=False)(y, t) == pytest.approx((1 + 0 + 1 + 4) / 2)
    Z = np.array([[2.0, 1.0, 0.1]])
    p = np.exp(Z) / np.exp(Z).sum()
    ce = losses.SoftmaxCrossEntropyLoss()
    assert ce(Z, np.array([0])) == pytest.approx(-np.log(p[0, 0]))
    np.testing.assert_allclose(ce.backward(), p - [[1, 0, 0]])  # delta = y - onehot
    np.testing.assert_allclose(losses.softmax(Z), p)


def test_logits_and_probabilities_agree():
    z = np.array([[-3.0], [0.5], [4.0]])
    t = np.array([[0.0], [1.0], [1.0]])
    p = 1 / (1 + np.exp(-z))
    assert losses.BCELoss()(p, t) == pytest.approx(losses.BCEWithLogitsLoss()(z, t))


def test_numerical_stability():
    Z = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    ce = losses.SoftmaxCrossEntropyLoss()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert ce(Z, np.array([1])) == pytest.approx(2000.0)
        assert np.isfinite(ce.backward()).all()
        assert np.isfinite(losses.BCEWithLogitsLoss()(np.array([[800.0]]), np.array([[0.0]])))
    assert np.isfinite(losses.BCELoss()(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]])))


def test_float32_stays_float32():
    Z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ce = losses.SoftmaxCrossEntropyLoss()
    ce(Z, np.array([0, 1, 2, 0]))
    assert ce.backward().dtype == np.float32


def test_one_hot_targets_equal_integer_labels():
    Z = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    a, b = losses.SoftmaxCrossEntropyLoss(), losses.SoftmaxCrossEntropyLoss()
    assert a(Z, y) == pytest.approx(b(Z, np.eye(3)[y]))
    np.testing.assert_allclose(a.backward(), b.backward())


def test_bad_labels_are_explained():
    ce = losses.SoftmaxCrossEntropyLoss()
    Z = np.zeros((3, 4))
    with pytest.raises(TypeError, match="integer class labels"):
        ce(Z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        ce(Z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        ce(Z, np.array([0, 1]))
    with pytest.raises(ValueError, match="does not match"):
        losses.MSELoss()(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        losses.BCELoss()(np.full((2, 1), 0.5), np.array([[2.0], [0.0]]))
    with pytest.raises(RuntimeError, match="before forward"):
        losses.MSELoss().backward()


def test_binary_targets_of_shape_n_are_accepted():
    z = np.zeros((3, 1))
    assert losses.BCEWithLogitsLoss()(z, np.array([0, 1, 1])) == pytest.approx(np.log(2))


def test_soft_targets_must_be_distributions_and_integer_one_hot_is_accepted():
    ce = losses.SoftmaxCrossEntropyLoss()
    Z = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match="sum to 1"):
        ce(Z, np.random.default_rng(1).uniform(0, 1, (4, 3)))
    y = np.array([0, 1, 2, 1])
    assert ce(Z, np.eye(3, dtype=int)[y]) == pytest.approx(losses.SoftmaxCrossEntropyLoss()(Z, y))
    soft = np.full((4, 3), 1 / 3)
    assert fd_check(losses.SoftmaxCrossEntropyLoss(), Z, soft) < TOL


def test_sigmoid_tails_keep_precision():
    from nbkit.layers import sigmoid

    z = np.array([-30.0, -20.0, 20.0])
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12)
    assert sigmoid(np.array([-20.0], np.float32))[0] > 0
