"""nbkit.autodiff: Value gradients against finite differences, traces, graph drawing, tiny MLP."""

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from nbkit.autodiff import MLP, Value, draw_graph, topological_order, trace_table


def fd(f, x, h=1e-3):
    """Fourth-order central difference of a scalar function f: float -> float (float64)."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


def rel_err(a, b):
    return abs(a - b) / max(abs(a) + abs(b), 1e-8)


def baydin():
    x1, x2 = Value(2.0, label="x1"), Value(5.0, label="x2")
    f = x1.log() + x1 * x2 - x2.sin()
    return x1, x2, f


# ------------------------------------------------------------------ the classic example
def test_baydin_example_values_and_grads():
    x1, x2, f = baydin()
    f.backward()
    assert f"{f.data:.3f}" == "11.652"
    assert math.isclose(f.data, math.log(2) + 10 - math.sin(5), rel_tol=1e-15)
    assert math.isclose(x1.grad, 5.5, rel_tol=1e-15)  # 1/x1 + x2
    assert math.isclose(x2.grad, 2 - math.cos(5), rel_tol=1e-15)  # x1 - cos x2
    assert f"{x2.grad:.3f}" == "1.716"
    assert repr(f) == "Value(data=11.652, grad=1.000)"
    assert repr(x1) == "Value(data=2.000, grad=5.500, label='x1')"


def rows(text, section):
    """The rows (name, op, expression, value) of one section of a trace_table text."""
    block = text.split("\n\n")[section].splitlines()[2:]
    out = []
    for line in block:
        left, value = line.rsplit(" = ", 1)
        name, op, expr = left.split(maxsplit=2)
        out.append((name, op, expr.rstrip(), float(value)))
    return out


def test_baydin_trace_table():
    x1, x2, f = baydin()
    text = trace_table(f)
    primal, adjoint = rows(text, 0), rows(text, 1)
    # the primal trace in Baydin's order: inputs, then ln, ×, sin, +, -, then y
    assert [r[0] for r in primal] == ["v_{-1}", "v0", "v1", "v2", "v3", "v4", "v5", "y"]
    assert [r[3] for r in primal] == [2.0, 5.0, 0.693, 10.0, -0.959, 10.693, 11.652, 11.652]
    assert primal[0][2] == "x1" and primal[-1][2] == "v5"
    assert primal[2][2] == "ln v_{-1} = ln 2.000"
    assert primal[5][2] == "v1 + v2 = 0.693 + 10.000"
    # the adjoint trace, in the order reverse mode runs, ends with the input adjoints
    assert adjoint[0] == ("v̄5", "=", "ȳ = 1", 1.0)
    assert adjoint[-2:] == [("x̄1", "=", "v̄_{-1}", 5.5), ("x̄2", "=", "v̄0", 1.716)]
    assert [r[1] for r in adjoint].count("+=") == 2  # x1 and x2 are each used twice
    assert ("v̄0", "=", "v̄3 × ∂v3/∂v0 = v̄3 × cos v0 = -1.000 × 0.284", -0.284) in adjoint
    assert x1.grad == 0.0 and f.grad == 0.0  # computed from the local derivatives, not .grad
    assert trace_table(f) == text  # deterministic
    assert "0x" not in text  # no addresses


def test_trace_explicit_inputs_and_constants():
    a, b = Value(3.0), Value(-1.5)
    y = 2 * a - b**2 / 4
    primal = rows(trace_table(y, inputs=[b, a]), 0)
    assert primal[0][:3] == ("v_{-1}", "=", "x1") and primal[0][3] == -1.5  # b first, as asked
    assert primal[1][0] == "v0" and primal[1][3] == 3.0
    assert [r[0] for r in primal[2:-1]] == ["v1", "v2", "v3", "v4"]  # 2 and 4 are constants
    assert primal[2][2].startswith("2 × v0")
    assert primal[-1][3] == float(f"{y.data:.3f}")
    # an input left out is written as a constant (by label), not numbered
    c = Value(1.0, label="c")
    assert rows(trace_table(c * a, inputs=[a]), 0)[-2][2] == "c × v0 = 1.000 × 3.000"
    with pytest.raises(ValueError, match="not a leaf"):
        trace_table(y, inputs=[2 * a])
    with pytest.raises(ValueError, match="twice"):
        trace_table(y, inputs=[a, a])
    with pytest.raises(TypeError, match="expected Values"):
        trace_table(y, inputs=[3.0])


# ------------------------------------------------------------------ every op against FD
UNARY = {
    "neg": (lambda v: -v, lambda x: -x, (-3, 3)),
    "exp": (lambda v: v.exp(), math.exp, (-3, 3)),
    "log": (lambda v: v.log(), math.log, (0.2, 5)),
    "sin": (lambda v: v.sin(), math.sin, (-3, 3)),
    "cos": (lambda v: v.cos(), math.cos, (-3, 3)),
    "tanh": (lambda v: v.tanh(), math.tanh, (-3, 3)),
    "sigmoid": (lambda v: v.sigmoid(), lambda x: 1 / (1 + math.exp(-x)), (-4, 4)),
    "relu": (lambda v: v.relu(), lambda x: max(x, 0.0), (-3, 3)),
    "pow2": (lambda v: v**2, lambda x: x**2, (-3, 3)),
    "pow3": (lambda v: v**3, lambda x: x**3, (-3, 3)),
    "pow-1": (lambda v: v**-1, lambda x: x**-1, (0.3, 3)),
    "pow0.5": (lambda v: v**0.5, math.sqrt, (0.3, 3)),
    "pow1.5": (lambda v: v**1.5, lambda x: x**1.5, (0.3, 3)),
    "radd": (lambda v: 2 + v, lambda x: 2 + x, (-3, 3)),
    "rsub": (lambda v: 2 - v, lambda x: 2 - x, (-3, 3)),
    "rmul": (lambda v: 2.5 * v, lambda x: 2.5 * x, (-3, 3)),
    "rdiv": (lambda v: 2 / v, lambda x: 2 / x, (0.3, 3)),
}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_grad_matches_fd(name, seed):
    op, ref, (lo, hi) = UNARY[name]
    x = float(np.random.default_rng(seed).uniform(lo, hi))
    if name == "relu" and abs(x) < 0.01:
        x += 0.1
    v = Value(x)
    y = op(v)
    y.backward()
    assert math.isclose(y.data, ref(x), rel_tol=1e-14, abs_tol=1e-300)
    assert rel_err(v.grad, fd(ref, x)) < 1e-7


BINARY = {
    "+": (lambda a, b: a + b, (-3, 3), (-3, 3)),
    "-": (lambda a, b: a - b, (-3, 3), (-3, 3)),
    "*": (lambda a, b: a * b, (-3, 3), (-3, 3)),
    "/": (lambda a, b: a / b, (-3, 3), (0.3, 3)),
}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_grads_match_fd(name, seed):
    op, ra, rb = BINARY[name]
    rng = np.random.default_rng(100 + seed)
    x, y = float(rng.uniform(*ra)), float(rng.uniform(*rb))
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    assert out.data == op(x, y)
    assert rel_err(a.grad, fd(lambda t: op(t, y), x)) < 1e-7
    assert rel_err(b.grad, fd(lambda t: op(x, t), y)) < 1e-7


def composite(a, b, c, exp=math.exp, log=math.log, sin=math.sin, tanh=math.tanh):
    return exp(a * b) / (1 + c * c) - log(1 + b * b) * sin(c) + tanh(a - c) * a


def composite_v(a, b, c):
    return (
        (a * b).exp() / (1 + c * c) - (1 + b * b).log() * c.sin() + (a - c).tanh() * a
    )


small = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(small, small, small)
def test_composite_function_grads_match_fd_property(x, y, z):
    a, b, c = Value(x), Value(y), Value(z)
    out = composite_v(a, b, c)
    out.backward()
    assert math.isclose(out.data, composite(x, y, z), rel_tol=1e-13, abs_tol=1e-13)
    for v, g in [
        (a, fd(lambda t: composite(t, y, z), x)),
        (b, fd(lambda t: composite(x, t, z), y)),
        (c, fd(lambda t: composite(x, y, t), z)),
    ]:
        assert abs(v.grad - g) <= 1e-7 * max(abs(v.grad) + abs(g), 1e-3)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(small, st.floats(0.2, 3.0))
def test_division_and_power_property(x, y):
    a, b = Value(x), Value(y)
    out = (a / b) ** 3 + b**0.5 * a
    out.backward()

    def f(s, t):
        return (s / t) ** 3 + t**0.5 * s

    assert abs(a.grad - fd(lambda s: f(s, y), x)) <= 1e-7 * max(abs(a.grad), 1e-2)
    assert rel_err(b.grad, fd(lambda t: f(x, t), y)) < 1e-7


# ------------------------------------------------------------------ graph mechanics
def test_node_reuse_sums_paths():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0
    c = Value(3.0)
    d = c * c
    d.backward()
    assert c.grad == 6.0
    e = Value(1.5)
    f = e * e.exp() + e.sin() * e  # e reused four times
    f.backward()
    assert math.isclose(e.grad, math.exp(1.5) * 2.5 + math.cos(1.5) * 1.5 + math.sin(1.5))
    assert [r[1] for r in rows(trace_table(b), 1)] == ["=", "=", "+=", "="]


def test_backward_is_idempotent():
    x1, x2, f = baydin()
    f.backward()
    first = [v.grad for v in topological_order(f)]
    f.backward()
    assert [v.grad for v in topological_order(f)] == first
    # also after a backward through a different output sharing the leaves
    g = x1 * x1
    g.backward()
    assert x1.grad == 4.0
    f.backward()
    assert [v.grad for v in topological_order(f)] == first


def test_deep_chain_no_recursion_error():
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert len(topological_order(y)) == 1 + 4 * 5000  # each step: 2 constants and 2 ops
    assert math.isclose(x.grad, 1.0001**5000, rel_tol=1e-9)
    z = Value(0.1)
    w = z
    for _ in range(10_000):
        w = w.tanh()
    w.backward()
    assert 0 < z.grad < 1
    assert len(rows(trace_table(w), 0)) == 10_002  # the input, 10 000 ops, y


def test_topological_order_children_first():
    x1, x2, f = baydin()
    order = topological_order(f)
    assert order[-1] is f and len(order) == 7 and len(set(order)) == 7
    index = {v: i for i, v in enumerate(order)}
    assert all(index[c] < index[v] for v in order for c in v._prev)


def test_reflected_ops_and_unary_minus():
    v = Value(4.0)
    assert (2 + v).data == 6.0 and (2 - v).data == -2.0
    assert (2 * v).data == 8.0 and (2 / v).data == 0.5
    assert (v + 2).data == 6.0 and (v - 2).data == 2.0 and (v / 2).data == 2.0
    assert (-v).data == -4.0
    y = 2 / v - 3 * v + (1 - v)
    y.backward()
    assert math.isclose(v.grad, -2 / 16 - 3 - 1)
    y = np.float64(2.0) * v + np.int64(3)  # numpy scalars are numbers too
    assert float(y.data) == 11.0
    assert (-v).op == "neg" and (2 - v).op == "-" and (2 - v)._prev[1] is v


def test_errors_for_bad_input():
    v = Value(2.0)
    with pytest.raises(TypeError, match="exponent must be a plain number"):
        v ** Value(2.0)
    with pytest.raises(TypeError, match="exponent must be a plain number"):
        2 ** v
    with pytest.raises(TypeError, match="real number"):
        v + "1"
    with pytest.raises(TypeError, match="real number"):
        "1" * v
    with pytest.raises(TypeError, match="real number"):
        v * [1.0]
    with pytest.raises(TypeError, match="real number"):
        v + np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="real number"):
        Value("3")
    with pytest.raises(TypeError, match="real number"):
        Value(True)
    with pytest.raises(TypeError, match="real number"):
        Value(1 + 2j)
    with pytest.raises(ValueError, match="domain of ln is a > 0"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="domain of ln is a > 0"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="integer exponent"):
        Value(-2.0) ** 0.5
    with pytest.raises(ZeroDivisionError, match="denominator"):
        v / 0
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(TypeError, match="expected a Value"):
        trace_table(3.0)
    assert (Value(-2.0) ** 3).data == -8.0  # integer exponents of negatives are fine


# ------------------------------------------------------------------ drawing
def test_draw_graph_figure():
    x1, x2, f = baydin()
    f.label = "f"
    f.backward()
    fig = draw_graph(f)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title()
    assert "11.652" in ax.get_title()
    assert len(ax.texts) == len(topological_order(f)) == 7
    assert ax.get_xticks().size == 0 and ax.get_yticks().size == 0
    texts = [t.get_text() for t in ax.texts]
    assert any("grad 5.500" in t and "x1" in t for t in texts)
    assert any("= ln v₋₁" in t for t in texts)  # readable trace names, not v_{-1}
    fig.savefig(io.BytesIO(), format="png", dpi=40)  # renders


def test_draw_graph_into_given_axes_with_constants():
    v = Value(1.0)
    y = (2 * v + v.exp()).relu()
    fig0 = Figure()
    ax = fig0.add_subplot()
    assert draw_graph(y, ax=ax) is fig0
    assert len(ax.texts) == len(topological_order(y)) == 6  # v, 2, 2v, exp, +, relu
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(y, max_nodes=3)


# ------------------------------------------------------------------ tiny MLP
def mlp_numpy(model, x):
    h = np.asarray(x, dtype=np.float64)
    for i, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons]).T  # (n_in, n_out)
        b = np.array([n.b.data for n in layer.neurons])
        h = h @ W + b
        if i < len(model.layers) - 1:
            h = np.tanh(h)
    return h


def test_mlp_matches_numpy_forward():
    rng = np.random.default_rng(0)
    model = MLP(20, [8, 5, 3], rng=np.random.default_rng(1))
    for p in model.parameters():  # non-zero biases too
        p.data += 0.1 * rng.standard_normal()
    x = rng.standard_normal(20)
    out = model(list(x))
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(o, Value) for o in out)
    np.testing.assert_allclose([o.data for o in out], mlp_numpy(model, x), rtol=1e-12)
    assert len(model.parameters()) == 20 * 8 + 8 + 8 * 5 + 5 + 5 * 3 + 3
    same = [MLP(20, [8, 5, 3], rng=np.random.default_rng(1)).parameters() for _ in range(2)]
    assert [p.data for p in same[0]] == [p.data for p in same[1]]  # seeded
    with pytest.raises(ValueError, match="expected 20 inputs"):
        model([1.0, 2.0])


def test_mlp_grads_match_fd():
    rng = np.random.default_rng(3)
    model = MLP(6, [5, 2], rng=np.random.default_rng(4))
    x = rng.standard_normal(6)
    target = np.array([0.3, -0.7])

    def loss_of(m):
        out = m(list(x))
        return sum((o - t) ** 2 for o, t in zip(out, target, strict=True))

    loss = loss_of(model)
    loss.backward()
    params = model.parameters()
    for idx in [0, 7, 29, len(params) - 1, len(params) - 3]:
        p = params[idx]
        x0 = p.data

        def f(t, p=p):
            p.data = t
            return loss_of(model).data

        g = fd(f, x0)
        p.data = x0
        assert rel_err(p.grad, g) < 1e-7, idx
    assert not all(p.grad == 0 for p in params)


def test_mlp_784_16_10_one_example_is_quick():
    model = MLP(784, [16, 10], rng=np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(0, 1, 784)
    out = model(x)
    loss = sum(o * o for o in out)
    loss.backward()
    W1 = model.layers[0].neurons[0].w
    assert len(out) == 10 and any(w.grad != 0 for w in W1)
    np.testing.assert_allclose([o.data for o in out], mlp_numpy(model, x), rtol=1e-12)
