"""Every module's backward (input and parameter gradients) against finite differences, float64."""

import numpy as np
import pytest

from nbkit import gradcheck, init, layers

TOL = 1e-5  # float64, h = sqrt(eps) * max(|x|, 1): a correct backward gives ~1e-7


def make(name, d, rng):
    return {
        "linear": lambda: layers.Linear(d, 3, rng=rng),
        "sigmoid": layers.Sigmoid,
        "tanh": layers.Tanh,
        "relu": layers.ReLU,
        "leaky_relu": lambda: layers.LeakyReLU(0.1),
        "prelu_shared": lambda: layers.PReLU(1, alpha=0.3),
        "prelu_per_feature": lambda: layers.PReLU(d, alpha=0.2),
        "softplus": layers.Softplus,
        "maxout": lambda: layers.Maxout(d, 3, pieces=3, rng=rng),
        "dropout": lambda: layers.Dropout(0.4, rng=rng),
        "mlp": lambda: layers.Sequential(
            layers.Linear(d, 6, rng=rng), layers.Tanh(), layers.Dropout(0.2, rng=rng),
            layers.Linear(6, 4, rng=rng), layers.ReLU(), layers.Linear(4, 2, rng=rng)),
    }[name]()


def away_from_kinks(X, margin=1e-3):
    """Move entries off z = 0, where ReLU-like functions are not differentiable."""
    return np.where(np.abs(X) < margin, margin * 3, X)


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "leaky_relu",
                                  "prelu_shared", "prelu_per_feature", "softplus", "maxout",
                                  "dropout", "mlp"])
@pytest.mark.parametrize("seed,shape", [(0, (4, 5)), (1, (7, 3)), (2, (1, 6))])
def test_backward_matches_finite_differences(name, seed, shape):
    rng = np.random.default_rng(seed)
    module = make(name, shape[1], rng)
    X = away_from_kinks(rng.standard_normal(shape))
    errors = gradcheck.check_module(module, X, rng=seed, entries=8)
    assert set(errors) == {"input"} | {n for n, _ in module.named_parameters()}
    assert max(errors.values()) < TOL, errors


def test_check_module_catches_a_planted_bug():
    class BadTanh(layers.Tanh):
        def backward(self, grad_out):
            return grad_out * (1 - self._Y)  # forgot the square

    errors = gradcheck.check_module(BadTanh(), np.random.default_rng(0).standard_normal((3, 4)))
    assert errors["input"] > 1e-2


def test_linear_shapes_and_formula():
    rng = np.random.default_rng(0)
    lin = layers.Linear(4, 3, rng=rng)
    assert lin.W.value.shape == (4, 3) and lin.b.value.shape == (3,)
    assert lin.W.decay and not lin.b.decay
    X = rng.standard_normal((5, 4)).astype(np.float32)
    lin.b.value[:] = [1, 2, 3]
    Y = lin(X)
    np.testing.assert_allclose(Y, X @ lin.W.value + lin.b.value, rtol=1e-6)
    dY = rng.standard_normal((5, 3)).astype(np.float32)
    dX = lin.backward(dY)
    np.testing.assert_allclose(lin.W.grad, X.T @ dY, rtol=1e-5)
    np.testing.assert_allclose(lin.b.grad, dY.sum(0), rtol=1e-5)
    np.testing.assert_allclose(dX, dY @ lin.W.value.T, rtol=1e-5)
    assert Y.dtype == dX.dtype == lin.W.grad.dtype == np.float32


def test_dtype_follows_parameters():
    rng = np.random.default_rng(0)
    model = layers.mlp([3, 4, 2], rng=rng).to(np.float64)
    Y = model(rng.standard_normal((2, 3)))
    assert Y.dtype == np.float64
    model.backward(np.ones_like(Y))
    assert all(p.grad.dtype == np.float64 for p in model.parameters())


def test_reassigned_parameter_values_are_read_afresh():
    lin = layers.Linear(2, 2, rng=0)
    lin.W.value = np.eye(2)
    lin.b.value = np.zeros(2)
    X = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(lin(X), X)


def test_input_grad_false_skips_first_dx():
    rng = np.random.default_rng(0)
    model = layers.mlp([3, 4, 2], rng=rng)
    Y = model(rng.standard_normal((2, 3)).astype(np.float32))
    assert model.backward(np.ones_like(Y), input_grad=False) is None
    assert np.any(model[0].W.grad != 0)


@pytest.mark.parametrize("X,match", [
    (np.zeros((2, 5), np.float32), r"Linear\(4, 3.*expected input of shape \(N, 4\), got \(2, 5\)"),
    (np.zeros(4, np.float32), r"expected a 2-D array of shape \(N, 4\)"),
    (np.zeros((2, 4), np.int64), r"expected a float array"),
])
def test_linear_bad_input_names_layer_and_shapes(X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        layers.Linear(4, 3, rng=0)(X)


def test_backward_shape_errors():
    lin = layers.Linear(4, 3, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        lin.backward(np.zeros((2, 3)))
    lin(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3\).*got \(3, 2\)"):
        lin.backward(np.zeros((3, 2), np.float32))


def test_dropout_train_eval_and_scaling():
    d = layers.Dropout(0.25, rng=np.random.default_rng(0))
    X = np.ones((2000, 50), np.float32)
    Y = d(X)
    kept = Y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(Y[kept], 1 / 0.75)
    assert abs(Y.mean() - 1) < 0.02  # inverted dropout keeps the expectation
    assert not np.array_equal(d(X) != 0, kept)  # a new mask every forward
    d.eval()
    assert d(X) is X
    with pytest.raises(ValueError, match="drop probability"):
        layers.Dropout(1.0)


def test_dropout_is_seeded():
    X = np.ones((3, 4), np.float32)
    a = layers.Dropout(0.5, rng=np.random.default_rng(7))(X)
    b = layers.Dropout(0.5, rng=np.random.default_rng(7))(X)
    np.testing.assert_array_equal(a, b)


def test_maxout_with_a_zero_piece_is_relu():
    m = layers.Maxout(3, 2, pieces=2, rng=0)
    W = np.zeros((3, 4), np.float32)
    W[:, 0::2] = np.random.default_rng(1).standard_normal((3, 2))
    m.W.value, m.b.value = W, np.zeros(4, np.float32)
    X = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(m(X), np.maximum(X @ W[:, 0::2], 0), rtol=1e-6)


def test_activation_registry_pairs():
    z = np.linspace(-4, 4, 101)
    for name, act in layers.ACTIVATIONS.items():
        num = (act.f(z + 1e-6) - act.f(z - 1e-6)) / 2e-6
        mask = np.abs(z) > 1e-3
        np.testing.assert_allclose(act.derivative(z)[mask], num[mask], rtol=1e-5, atol=1e-7,
                                   err_msg=name)
    assert layers.ACTIVATIONS["sigmoid"].derivative(z).max() <= 0.25


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layers.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(y, [0, 0.5, 1])


def test_repr_shows_architecture():
    model = layers.Sequential(layers.Linear(784, 200, init=init.he_normal, rng=0), layers.ReLU(),
                              layers.Dropout(0.5), layers.Linear(200, 10, rng=0))
    text = repr(model)
    assert "(0): Linear(784, 200, init=he_normal)  # 157,000 parameters" in text
    assert "(1): ReLU()" in text and "Dropout(p=0.5)" in text
    assert "159,010 parameters in total" in text


def test_train_eval_propagates():
    model = layers.Sequential(layers.Linear(2, 2, rng=0), layers.Dropout(0.5))
    model.eval()
    assert not model[1].training
    model.train()
    assert model[1].training


def test_maxout_bad_input_names_maxout():
    with pytest.raises(ValueError, match=r"Maxout\(4, 3, pieces=2\).*\(N, 4\)"):
        layers.Maxout(4, 3, 2, rng=0)(np.ones((2, 5), np.float32))


def test_mlp_takes_every_activation_name():
    from nbkit import activations

    for name in [*activations.ACTIVATIONS, "prelu"]:
        model = layers.mlp([3, 4, 2], activation=name, rng=0)
        assert model[1].name == name and len(model) == 3
    assert repr(layers.mlp([3, 4, 2], "tanh", rng=0)[1]) == "Tanh()"
    assert repr(layers.mlp([3, 4, 2], "linear", rng=0)[1]) == "Activation('linear')"
    assert isinstance(layers.mlp([3, 4, 2], "prelu", rng=0)[1], layers.PReLU)
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; expected one of .*PReLU"):
        layers.mlp([3, 4, 2], activation="swish")


def test_one_activation_registry_behind_every_view():
    from nbkit import activations
    from nbkit.widgets import _base

    assert layers.ACTIVATIONS is activations.ACTIVATIONS and layers.Tanh is activations.Tanh
    assert _base.activation_label("leaky_relu") == "Leaky ReLU"
    colors = [_base.activation_color(name) for name in activations.ACTIVATIONS]
    assert len(set(colors)) == len(colors)  # one colour per activation, the same in every widget
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(activations.ACTIVATIONS["tanh"].derivative(z), 1 - np.tanh(z) ** 2)
    assert layers.LeakyReLU(0.2)(np.array([[-1.0]]))[0, 0] == pytest.approx(-0.2)


def test_maxout_parameters_are_its_linear_layer():
    m = layers.Maxout(3, 2, pieces=3, rng=0)
    assert m.named_parameters() == [("W", m.linear.W), ("b", m.linear.b)]
    assert m.num_parameters() == 3 * 6 + 6
    with pytest.raises(TypeError, match="pieces must be an integer"):
        layers.Maxout(3, 2, pieces=2.0)


def test_skipping_the_input_gradient_is_one_mechanism():
    """module.backward asks modules that accept input_grad to skip dL/dX and runs the others
    as they are; Sequential passes the request on to its first module the same way."""
    from nbkit.module import backward

    class NoInputGrad(layers.Tanh):
        def backward(self, grad_out):  # a student's module without the argument
            self.calls = getattr(self, "calls", 0) + 1
            return super().backward(grad_out)

    X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    first = NoInputGrad()
    model = layers.Sequential(first, layers.Linear(3, 2, rng=0))
    Y = model(X)
    assert model.backward(np.ones_like(Y), input_grad=False) is None and first.calls == 1
    assert np.any(model[1].W.grad != 0)
    lin = layers.Linear(3, 2, rng=0)
    lin(X)
    assert backward(lin, np.ones((4, 2), np.float32), input_grad=False) is None
    assert backward(lin, np.ones((4, 2), np.float32)).shape == (4, 3)
    assert layers.Sequential().backward(X) is X
