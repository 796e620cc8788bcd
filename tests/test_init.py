"""Initializers: shapes, dtypes, the variances they promise, determinism."""

import numpy as np
import pytest

from nbkit import init, layers

SHAPE = (400, 300)


@pytest.mark.parametrize("fn,var", [
    (init.xavier_normal, 2 / 700), (init.xavier_uniform, 2 / 700),
    (init.he_normal, 2 / 400), (init.he_uniform, 2 / 400),
    (init.normal(0.01), 1e-4), (init.uniform(0.1), 0.01 / 3),
])
def test_variance(fn, var):
    W = fn(SHAPE, np.random.default_rng(0))
    assert W.shape == SHAPE and W.dtype == np.float32
    assert W.var() == pytest.approx(var, rel=0.03)
    assert abs(W.mean()) < 0.05 * np.sqrt(var)


def test_zeros_and_determinism():
    assert not init.zeros(SHAPE, None).any()
    a = init.he_normal((3, 4), np.random.default_rng(5))
    b = init.he_normal((3, 4), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert init.he_normal((3, 4), np.random.default_rng(5), dtype=np.float64).dtype == np.float64


def test_linear_takes_any_initializer_by_value_or_name():
    assert not layers.Linear(3, 2, init=init.zeros).W.value.any()
    assert repr(layers.Linear(3, 2, init="he_normal", rng=0)) == "Linear(3, 2, init=he_normal)"
    assert "normal(0.01)" in repr(layers.Linear(3, 2, init=init.normal(0.01), rng=0))


def test_errors():
    with pytest.raises(ValueError, match=r"shape \(n_in, n_out\)"):
        init.he_normal((3,), np.random.default_rng(0))
    with pytest.raises(ValueError, match="pass a numpy.random.Generator"):
        init.he_normal((3, 2), None)
    with pytest.raises(ValueError, match="unknown initializer 'bogus'"):
        layers.Linear(3, 2, init="bogus")
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal(-1)


def test_as_generator_rule():
    from nbkit import rng as nbrng

    g = np.random.default_rng(3)
    assert nbrng.as_generator(g) is g
    assert nbrng.as_generator(7).random() == np.random.default_rng(7).random()
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        nbrng.as_generator("seed")
    # without a seed: one shared default stream, reproducible after nbkit.rng.seed()
    nbrng.seed(0)
    a, b = layers.Linear(4, 3), layers.Linear(4, 3)
    assert not np.array_equal(a.W.value, b.W.value)  # two layers, two different draws
    nbrng.seed(0)
    np.testing.assert_array_equal(layers.Linear(4, 3).W.value, a.W.value)
    nbrng.seed(0)
    assert nbrng.as_generator(None).random() == np.random.default_rng(0).random()


def test_custom_initializer_without_dtype_keyword():
    lin = layers.Linear(3, 2, init=lambda shape, rng: rng.standard_normal(shape), rng=0)
    assert lin.W.value.shape == (3, 2) and lin.W.value.dtype == np.float32
    with pytest.raises(ValueError, match=r"returned shape \(2, 3\); expected \(3, 2\)"):
        layers.Linear(3, 2, init=lambda shape, rng: np.zeros(shape[::-1]))
