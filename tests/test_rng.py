"""The one rule of nbkit.rng, obeyed by the functions that once took ``seed=``: ``rng`` is their
only randomness argument; an int s means ``np.random.default_rng(s)`` and None means seed 0."""

import numpy as np
import pytest

from nbkit import data, gradcheck, layers, losses, optim, train

_X = np.random.default_rng(1).standard_normal((4, 3))


def _fit(**kwargs):
    X, y = data.make_xor(n=40)
    model = layers.mlp([2, 4, 2], "tanh", rng=0)
    history = train.fit(model, losses.SoftmaxCrossEntropyLoss(),
                        optim.SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=8,
                        progress=False, **kwargs)
    return history.as_dict(), [p.value for p in model.parameters()]


CALLS = {
    "fit": _fit,
    "validation_split": lambda **kw: data.validation_split(np.arange(20.0)[:, None],
                                                           np.arange(20), 5, **kw),
    "load_digits": lambda **kw: data.load_digits("test", **kw),
    "make_spirals": lambda **kw: data.make_spirals(n=30, **kw),
    "make_circles": lambda **kw: data.make_circles(n=30, **kw),
    "make_xor": lambda **kw: data.make_xor(n=30, **kw),
    "check_module": lambda **kw: gradcheck.check_module(layers.Linear(3, 2, rng=0), _X, **kw),
}


@pytest.mark.parametrize("name", CALLS)
def test_rng_is_the_one_randomness_argument(name):
    call = CALLS[name]
    result = call(rng=7)
    np.testing.assert_equal(result, call(rng=np.random.default_rng(7)))  # int s = default_rng(s)
    np.testing.assert_equal(call(), call(rng=0))  # None is seed 0
    with pytest.raises(AssertionError):
        np.testing.assert_equal(result, call(rng=8))  # the argument does drive the draws
    with pytest.raises(TypeError, match="unexpected keyword argument 'seed'"):
        call(seed=7)  # the older spelling is gone


def test_public_digits_split_is_unchanged():
    # the split the lectures, exercise 11 and the grader's held-out sets start from
    X, y = data.load_digits("test", rng=0)
    assert X.shape == (450, 64)
    assert y[:12].tolist() == [2, 2, 3, 0, 8, 8, 4, 7, 0, 8, 3, 4]
