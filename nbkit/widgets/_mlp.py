"""A deep probe MLP built from :mod:`nbkit.layers` modules (no layer math of its own).

The net has ``L = len(weights)`` layers ``z_l = h_{l-1} W_l`` (biases 0), ``h_l = f(z_l)``,
``h_0 = X``; its loss is a fixed random linear read-out of the top layer,

    L = sum_{n,j} G[n, j] * h_L[n, j],      G ~ N(0, 1) / N,

so ``dL/dh_L = G``. Backpropagation then shows how that error signal ``dL/dz_l`` shrinks or
grows on its way down to layer 1, and what the weight gradients ``dL/dW_l = h_{l-1}^T dL/dz_l``
become; the widgets plot both. They are not the same story: for ReLU (no biases) scaling every
``W_l`` by ``c`` scales ``h_{l-1}`` by ``c^(l-1)`` and ``dL/dz_l`` by ``c^(L-l)``, so the profile
of ``||dL/dW_l||`` across layers does not depend on the init scale, while ``||dL/dz_l||``
shrinks towards the input unless the scale is He's (std ``sqrt(2 / n_in)``).
"""

from functools import lru_cache

import numpy as np

from nbkit import layers
from nbkit.activations import activation_module

# the activations the probe pictures compare (names of nbkit.activations.ACTIVATIONS)
ACT_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")


@lru_cache(maxsize=16)
def probe_data(n, width, seed):
    """Cached input ``X`` (n, width) ~ N(0, 1) and read-out ``G`` (n, width) ~ N(0, 1) / n."""
    rng = np.random.default_rng([seed, 1])
    X = rng.standard_normal((n, width)).astype(np.float32)
    G = (rng.standard_normal((n, width)) / n).astype(np.float32)
    X.flags.writeable = G.flags.writeable = False
    return X, G


def run_probe(weights, activation, X, G):
    """Forward and backward through the probe net.

    Parameters: ``weights`` list of L arrays (width, width); ``activation`` a name;
    ``X`` (N, width); ``G`` (N, width) = dL/dh_L.

    Returns a dict of lists, one entry per layer l = 1..L (input side first):
    ``z`` (N, width) pre-activations, ``h`` (N, width) activations, ``dW`` (width, width) =
    dL/dW_l = h_{l-1}^T dL/dz_l, ``dz`` (N, width) = dL/dz_l.
    """
    stack = []
    for W in weights:
        lin = layers.Linear(W.shape[0], W.shape[1], init="zeros", dtype=W.dtype)
        lin.W.value = W
        stack.append((lin, activation_module(activation)))
    h, zs, hs = X, [], []
    for lin, act in stack:
        z = lin(h)
        h = act(z)
        zs.append(z)
        hs.append(h)
    grad, dWs, dzs = G, [None] * len(stack), [None] * len(stack)
    for i in range(len(stack) - 1, -1, -1):
        lin, act = stack[i]
        dz = act.backward(grad)
        grad = lin.backward(dz, input_grad=i > 0)
        dWs[i], dzs[i] = lin.W.grad, dz
    return {"z": zs, "h": hs, "dW": dWs, "dz": dzs}
