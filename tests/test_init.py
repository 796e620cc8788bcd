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
    with pytest.raises(TypeError, match="he_normal: rng must be a numpy.random.Generator"):
        init.he_normal((3, 2), "seed")
    with pytest.raises(ValueError, match=r"init \(a name, or a callable f\(shape, rng\)\) must "
                                         r"be one of \['he_normal', .*got 'bogus'"):
        layers.Linear(3, 2, init="bogus")
    with pytest.raises(ValueError, match="std must be a finite number >= 0"):
        init.normal(-1)
    with pytest.raises(TypeError, match="std must be a real number"):
        init.normal("0.1")


def test_one_randomness_rule():
    from nbkit import rng as nbrng

    g = np.random.default_rng(3)
    assert nbrng.as_generator(g) is g
    assert nbrng.as_generator(7).random() == np.random.default_rng(7).random()
    for bad in ("seed", 1.5, True):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            nbrng.as_generator(bad)
    # None is seed 0 at every call: no hidden stream, so the order of calls does not matter
    first = layers.Linear(4, 3).W.value
    layers.Dropout(0.5)(np.ones((5, 5), np.float32))  # draws from "its" stream ...
    np.testing.assert_array_equal(layers.Linear(4, 3).W.value, first)  # ... not from a shared one
    np.testing.assert_array_equal(layers.Linear(4, 3, rng=0).W.value, first)
    np.testing.assert_array_equal(init.he_normal((4, 3), None), init.he_normal((4, 3), 0))
    # one Generator shared by two layers gives two different draws
    g = np.random.default_rng(0)
    a, b = layers.Linear(4, 3, rng=g), layers.Linear(4, 3, rng=g)
    assert not np.array_equal(a.W.value, b.W.value)


def test_custom_initializer_without_dtype_keyword():
    lin = layers.Linear(3, 2, init=lambda shape, rng: rng.standard_normal(shape), rng=0)
    assert lin.W.value.shape == (3, 2) and lin.W.value.dtype == np.float32
    # a TypeError raised inside an initializer is the initializer's, not a missing keyword
    def broken(shape, rng, dtype=np.float32):
        raise TypeError("dtype of something else")

    with pytest.raises(TypeError, match="something else"):
        layers.Linear(3, 2, init=broken)
    # nbkit's own initializers draw in the layer's dtype directly
    W64 = layers.Linear(3, 2, rng=0, dtype=np.float64).W.value
    np.testing.assert_array_equal(W64, init.xavier_normal((3, 2), 0, dtype=np.float64))
    with pytest.raises(ValueError, match=r"returned shape \(2, 3\); expected \(3, 2\)"):
        layers.Linear(3, 2, init=lambda shape, rng: np.zeros(shape[::-1]))
