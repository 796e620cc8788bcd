"""Scalar reverse-mode automatic differentiation, in the style of micrograd's ``engine.py``.

A :class:`Value` wraps one float. Every operation on Values builds a node of a computational
graph that remembers its operands (``_prev``) and the *local* derivatives
``d out / d child`` evaluated at the forward values. :meth:`Value.backward` then applies the
chain rule once, the same way for every operation (the adjoint ``v̄ = d output / d v``)::

    v̄_child += v̄_node * d node / d child          (visiting nodes in reverse topological order)

so each op below only has to state its forward value and its local derivatives, side by side::

    x1, x2 = Value(2.0, label="x1"), Value(5.0, label="x2")
    f = x1.log() + x1 * x2 - x2.sin()
    f.backward()
    f.data, x1.grad, x2.grad            # 11.652, 5.5, 1.716   (df/dx2 = x1 - cos x2)
    print(trace_table(f))               # primal + adjoint traces (Baydin et al. 2018, Tables 2-3)
    draw_graph(f)                       # matplotlib Figure of the graph (no pyplot)

The traces are those of Baydin, Pearlmutter, Radul and Siskind, "Automatic differentiation in
machine learning: a survey" (JMLR 2018). Last, a tiny :class:`Neuron` / :class:`Layer` /
:class:`MLP` built from Values, as in micrograd.
"""

import itertools
import math
import unicodedata

from nbkit import validate
from nbkit.rng import as_generator

__all__ = ["Value", "topological_order", "trace_table", "draw_graph", "Neuron", "Layer", "MLP"]

_ids = itertools.count()  # creation counter: a child is always created before its parents


def _lift(other, op):
    """Operand of a binary op: a Value as is, a plain number as a constant leaf Value."""
    if isinstance(other, Value):
        return other
    const = Value(validate.real(other, "the operand that is not a Value", f"Value {op}"))
    const._const = True
    return const


class Value:
    """One scalar node of a computational graph.

    ``data`` (float): the forward value; ``grad`` (float): d output / d self after
    ``output.backward()``; ``label`` (str): for printing; ``op`` (str): the operation that made
    this node ("" for a leaf); ``_prev``: the operand Values in argument order, and
    ``_local[k]`` = d self / d _prev[k] at the forward values. Leaves: ``Value(data, label)``.
    """

    __slots__ = ("data", "grad", "label", "op", "_prev", "_local", "_param", "_const", "_id")

    def __init__(self, data, label="", _children=(), _op="", _local_grads=()):
        self.data = data if type(data) is float else validate.real(data, "data", "Value")
        self.grad = 0.0
        self.label, self.op = label, _op
        self._prev, self._local = tuple(_children), tuple(_local_grads)
        self._param = None  # the exponent p of a ** node (for the traces)
        self._const = False  # True for a plain number lifted into the graph (the 2 in 2 * v)
        self._id = next(_ids)

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data:.3f}, grad={self.grad:.3f}{label})"

    # ---------------------------------------------------------------- binary operators
    def __add__(self, other):
        """v = a + b;   dv/da = 1,  dv/db = 1."""
        other = _lift(other, "+")
        return Value(self.data + other.data, "", (self, other), "+", (1.0, 1.0))

    def __sub__(self, other):
        """v = a - b;   dv/da = 1,  dv/db = -1."""
        other = _lift(other, "-")
        return Value(self.data - other.data, "", (self, other), "-", (1.0, -1.0))

    def __mul__(self, other):
        """v = a * b;   dv/da = b,  dv/db = a."""
        other = _lift(other, "*")
        return Value(self.data * other.data, "", (self, other), "*", (other.data, self.data))

    def __truediv__(self, other):
        """v = a / b;   dv/da = 1 / b,  dv/db = -a / b^2."""
        other = _lift(other, "/")
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError("Value /: the denominator is 0")
        return Value(a / b, "", (self, other), "/", (1.0 / b, -a / (b * b)))

    def __pow__(self, p):
        """v = a^p for a plain number p;   dv/da = p a^(p-1)  (+inf for 0 < p < 1 at a = 0).

        a^p must be real: a < 0 needs an integer p, and a = 0 needs p >= 0.
        """
        if isinstance(p, Value):
            raise TypeError("Value ** Value is not supported: the exponent must be a plain "
                            "number; for a variable exponent write (b * a.log()).exp()")
        a, p = self.data, validate.real(p, "the exponent", "Value **")
        if a < 0 and not p.is_integer():
            raise ValueError(f"Value **: a negative base ({a}) needs an integer exponent, got {p}")
        if a == 0 and p < 0:
            raise ZeroDivisionError(f"Value **: 0 to the negative power {p}")
        local = p * a ** (p - 1) if a != 0 or p >= 1 else (0.0 if p == 0 else math.inf)
        out = Value(a**p, "", (self,), "**", (local,))
        out._param = p
        return out

    def __rpow__(self, base):
        raise TypeError("number ** Value is not supported: the exponent must be a plain number; "
                        "for a variable exponent write (v * math.log(base)).exp()")

    # reflected operators: 2 + v, 2 - v, 2 * v, 2 / v (the number becomes a constant leaf)
    def __radd__(self, other):
        return _lift(other, "+") + self

    def __rsub__(self, other):
        return _lift(other, "-") - self

    def __rmul__(self, other):
        return _lift(other, "*") * self

    def __rtruediv__(self, other):
        return _lift(other, "/") / self

    # ---------------------------------------------------------------- unary operations
    def __neg__(self):
        """v = -a;   dv/da = -1."""
        return Value(-self.data, "", (self,), "neg", (-1.0,))

    def exp(self):
        """v = exp(a);   dv/da = exp(a) = v."""
        v = math.exp(self.data)
        return Value(v, "", (self,), "exp", (v,))

    def log(self):
        """v = ln(a), domain a > 0;   dv/da = 1 / a."""
        a = self.data
        if not a > 0:
            raise ValueError(f"Value.log: the domain of ln is a > 0, got a = {a}")
        return Value(math.log(a), "", (self,), "log", (1.0 / a,))

    def sin(self):
        """v = sin(a);   dv/da = cos(a)."""
        return Value(math.sin(self.data), "", (self,), "sin", (math.cos(self.data),))

    def cos(self):
        """v = cos(a);   dv/da = -sin(a)."""
        return Value(math.cos(self.data), "", (self,), "cos", (-math.sin(self.data),))

    def tanh(self):
        """v = tanh(a);   dv/da = 1 - tanh(a)^2 = 1 - v^2."""
        v = math.tanh(self.data)
        return Value(v, "", (self,), "tanh", (1.0 - v * v,))

    def sigmoid(self):
        """v = 1 / (1 + exp(-a));   dv/da = v (1 - v).  With e = exp(-|a|) (no overflow),
        v = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0."""
        e = math.exp(-abs(self.data))
        v = (1.0 if self.data >= 0 else e) / (1.0 + e)
        return Value(v, "", (self,), "sigmoid", (v * (1.0 - v),))

    def relu(self):
        """v = max(a, 0);   dv/da = 1 if a > 0 else 0 (0 at the kink a = 0)."""
        a = self.data
        return Value(a if a > 0 else 0.0, "", (self,), "relu", (1.0 if a > 0 else 0.0,))

    # ---------------------------------------------------------------- reverse mode
    def backward(self):
        """Set ``v.grad = d self / d v`` for every node v of the graph below ``self``.

        All grads in the graph are first reset to 0, so calling backward() twice gives the
        same grads (it does not accumulate across calls). Within one graph the chain rule sums
        over all paths: ``v̄_child += v̄_node * local``, so b = a + a gives a.grad = 2.
        Iterative (no recursion), so graphs of any depth work.
        """
        order = topological_order(self)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            for child, local in zip(v._prev, v._local, strict=True):
                child.grad += local * v.grad


def topological_order(output):
    """All nodes of the graph of ``output``, each after its children (iterative DFS post-order).

    Returns a list of Values: leaves first, ``output`` last; every node once.
    """
    if not isinstance(output, Value):
        raise TypeError(f"expected a Value, got {type(output).__name__}")
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node._prev) if child not in seen)
    return order


# ==================================================================================== traces
# How the traces write each op: forward expression, and d out / d child_k for each child.
# {0}, {1}: child names; {out}: this node's name; {p}: the exponent of **; {pm1}: p - 1.
_NOTATION = {
    "+": ("{0} + {1}", ("1", "1")),
    "-": ("{0} - {1}", ("1", "(-1)")),
    "*": ("{0} × {1}", ("{1}", "{0}")),
    "/": ("{0} / {1}", ("1/{1}", "-{0}/{1}^2")),
    "**": ("{0}^{p}", ("{p}·{0}^{pm1}",)),
    "neg": ("-{0}", ("(-1)",)),
    "exp": ("exp {0}", ("{out}",)),
    "log": ("ln {0}", ("1/{0}",)),
    "sin": ("sin {0}", ("cos {0}",)),
    "cos": ("cos {0}", ("-sin {0}",)),
    "tanh": ("tanh {0}", ("(1 - {out}^2)",)),
    "sigmoid": ("σ({0})", ("{out}(1 - {out})",)),
    "relu": ("relu {0}", ("1[{0} > 0]",)),
}


def _fmt(x):
    """Three decimals, no '-0.000'."""
    s = f"{x:.3f}"
    return "0.000" if s == "-0.000" else s


def _paren(s):
    return f"({s})" if s.startswith("-") else s


def _bar(name):
    return name[0] + "\u0304" + name[1:]  # combining macron: v̄


def _width(s):
    return sum(1 for c in s if not unicodedata.combining(c))


def _num(x):
    return f"{x:g}"


class _Graph:
    """The nodes of ``output``'s graph in trace order, with their trace names.

    Trace order: sorted by (depth, creation), depth = longest path from a leaf; this is a
    topological order listing the independent ops of one depth in program order (Baydin's).
    Inputs are named v_{-(n-1)} ... v0 in ``inputs`` order, op nodes v1, v2, ...; leaves
    that are not inputs (lifted numbers, or Values left out of ``inputs``) are constants,
    written by label or number.
    """

    def __init__(self, output, inputs=None):
        order = topological_order(output)
        depth = {}
        for v in order:
            depth[v] = 1 + max(depth[c] for c in v._prev) if v._prev else 0
        order.sort(key=lambda v: (depth[v], v._id))
        if inputs is None:
            inputs = [v for v in order if not v._prev and not v._const]
        inputs = list(inputs)
        for v in inputs:
            if not isinstance(v, Value):
                raise TypeError(f"inputs: expected Values, got {type(v).__name__}")
            if v._prev:
                raise ValueError(f"inputs: {v!r} is not a leaf (it was made by {v.op!r})")
        if len(set(inputs)) != len(inputs):
            raise ValueError("inputs: a Value is listed twice")
        self.output, self.order, self.depth, self.inputs = output, order, depth, inputs
        n = len(inputs)
        # v_i as in Baydin et al.: v_{-1}, v0, v1, ... (braces only for negative indices)
        self.names = {v: f"v_{{{k - n + 1}}}" if k < n - 1 else "v0" for k, v in enumerate(inputs)}
        self.input_names = {v: v.label or f"x{k + 1}" for k, v in enumerate(inputs)}
        ops = (v for v in order if v._prev)
        self.names.update((v, f"v{i}") for i, v in enumerate(ops, start=1))
        for v in order:
            self.names.setdefault(v, v.label or _num(v.data))

    def is_variable(self, v):
        """True for inputs and op nodes (the ones with a v_i name and an adjoint)."""
        return bool(v._prev) or v in self.input_names

    def expression(self, v, numeric=False):
        """The forward expression of op node v, with names or with numbers."""
        args = [_paren(_fmt(c.data) if numeric else self.names[c]) for c in v._prev]
        return _NOTATION[v.op][0].format(*args, p=_num(v._param) if v._param is not None else "")

    def partial(self, v, k):
        """The symbolic local derivative d v / d child_k."""
        args, p = [_paren(self.names[c]) for c in v._prev], v._param
        if v.op == "**" and p in (1.0, 2.0):  # 1, 2·a rather than 1·a^0, 2·a^1
            return "1" if p == 1.0 else f"2·{args[0]}"
        return _NOTATION[v.op][1][k].format(*args, out=self.names[v],
                                            p=_num(p) if p is not None else "",
                                            pm1=_num(p - 1) if p is not None else "")


def trace_table(output, inputs=None):
    """Plain-text forward primal and reverse adjoint traces (Baydin et al. 2018, Tables 2-3).

    For f = ln x1 + x1 x2 - sin x2 at (2, 5) it lists v_{-1} = x1 = 2.000, ..., v5 = 11.652,
    y = v5, then v̄5 = ȳ = 1, ..., x̄1 = v̄_{-1} = 5.500, x̄2 = v̄0 = 1.716. Values to 3 decimals.
    The primal trace lists the inputs, then one row per op in evaluation order; the adjoint
    trace one row per chain-rule contribution ``v̄_child (= or +=) v̄_node × ∂v_node/∂v_child``
    in the order reverse mode executes them, computed from the stored local derivatives
    (``.grad`` is not touched). ``inputs``: the leaf Values to number as inputs (default: all
    leaves that are not plain numbers, in creation order).
    """
    g = _Graph(output, inputs)
    primal = [(g.names[v], "=", g.input_names[v], v.data) for v in g.inputs]
    primal += [(g.names[v], "=", f"{g.expression(v)} = {g.expression(v, numeric=True)}", v.data)
               for v in g.order if v._prev]
    primal.append(("y", "=", g.names[output], output.data))
    adj, adjoint = {output: 1.0}, [(_bar(g.names[output]), "=", "ȳ = 1", 1.0)]
    for v in reversed(g.order):
        vbar, vname = _bar(g.names[v]), g.names[v]
        for k, (child, local) in enumerate(zip(v._prev, v._local, strict=True)):
            if not g.is_variable(child):
                continue  # constants have no adjoint
            op = "+=" if child in adj else "="
            adj[child] = adj.get(child, 0.0) + adj[v] * local
            expr = (f"{vbar} × ∂{vname}/∂{g.names[child]} = {vbar} × {g.partial(v, k)}"
                    f" = {_fmt(adj[v])} × {_paren(_fmt(local))}")
            adjoint.append((_bar(g.names[child]), op, expr, adj[child]))
    adjoint += [(_bar(g.input_names[v]), "=", _bar(g.names[v]), adj.get(v, 0.0))
                for v in g.inputs]
    lines = []
    for title, rows in (("Forward primal trace", primal), ("Reverse adjoint trace", adjoint)):
        widths = [max(_width(r[i]) for r in rows) for i in range(3)]
        wv = max(len(_fmt(r[3])) for r in rows)
        lines += ["", title, "-" * len(title)] if lines else [title, "-" * len(title)]
        for *cols, value in rows:
            left = " ".join(c + " " * (w - _width(c)) for c, w in zip(cols, widths, strict=True))
            lines.append(f"{left} = {_fmt(value):>{wv}}".rstrip())
    return "\n".join(lines)


# ================================================================================ drawing
def draw_graph(output, ax=None, *, inputs=None, max_nodes=200):
    """Draw the computational graph of ``output`` with matplotlib; return the Figure.

    The drawing lives with the other pictures: see :func:`nbkit.widgets.graph.draw_graph`
    (imported here when first called, so ``nbkit.autodiff`` needs no matplotlib).
    """
    from nbkit.widgets.graph import draw_graph as draw

    return draw(output, ax, inputs=inputs, max_nodes=max_nodes)


# ============================================================================ tiny MLP
class Neuron:
    """y = phi(sum_i w_i x_i + b) on Values; phi = tanh if ``nonlin`` else identity.

    Weights w_i ~ N(0, 1/n_in) drawn from ``rng``; bias b = 0. Input: n_in floats or Values.
    """

    def __init__(self, n_in, nonlin=True, rng=None):
        w = as_generator(rng).normal(0.0, 1.0 / math.sqrt(n_in), n_in)
        self.w = [Value(float(wi), "w") for wi in w]
        self.b = Value(0.0, "b")
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.tanh() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


class Layer:
    """n_out Neurons sharing the same input: x (n_in values) -> list of n_out Values."""

    def __init__(self, n_in, n_out, nonlin=True, rng=None):
        rng = as_generator(rng)
        self.n_in = n_in
        self.neurons = [Neuron(n_in, nonlin, rng) for _ in range(n_out)]

    def __call__(self, x):
        return [n(x) for n in self.neurons]

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """Multilayer perceptron on Values: tanh hidden layers, linear output layer.

    ``MLP(784, [16, 10], rng=np.random.default_rng(0))`` maps 784 floats to a list of 10
    Values: h = tanh(W1^T x + b1), y = W2^T h + b2 (W_l of shape (n_in, n_out)).
    """

    def __init__(self, n_in, n_outs, rng=None):
        rng, sizes = as_generator(rng), [n_in, *n_outs]
        self.n_in = n_in
        self.layers = [Layer(sizes[i], sizes[i + 1], i < len(n_outs) - 1, rng)
                       for i in range(len(n_outs))]

    def __call__(self, x):
        x = list(x)
        if len(x) != self.n_in:
            raise ValueError(f"MLP: expected {self.n_in} inputs, got {len(x)}")
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self):
        """Set every parameter's grad to 0 (``backward`` resets the graph's grads anyway)."""
        for p in self.parameters():
            p.grad = 0.0

    def __repr__(self):
        sizes = [self.n_in] + [len(layer.neurons) for layer in self.layers]
        return f"MLP({'-'.join(map(str, sizes))}, {len(self.parameters())} parameters)"
