"""Loss functions: ``forward(output, target) -> float`` (mean over the batch) and
``backward() -> dL/d output`` (already divided by the batch size N).

- ``MSELoss()``: L = 1/N Σ_n ½ ||y_n - t_n||² (the ½ convention); dL/dy = (y - t) / N.
- ``MSELoss(half=False)``: L = 1/N Σ_n ||y_n - t_n||²; dL/dy = 2 (y - t) / N.
- ``BCELoss()``: L = -1/N Σ [t log p + (1 - t) log(1 - p)]; dL/dp = (p - t) / (p (1 - p) N).
- ``BCEWithLogitsLoss()``: L = 1/N Σ log(1 + e^z) - t z; dL/dz = (σ(z) - t) / N.
- ``SoftmaxCrossEntropyLoss()``: L = 1/N Σ_n -log softmax(z_n)[t_n];
  dL/dz = (softmax(z) - onehot(t)) / N.
"""

import numpy as np

from nbkit.activations import sigmoid


def softmax(Z):
    """Row-wise softmax of logits ``Z`` (N, K), stable: exp(z - max z) / Σ exp(z - max z)."""
    E = Z - Z.max(axis=1, keepdims=True)
    np.exp(E, out=E)
    E /= E.sum(axis=1, keepdims=True)
    return E


class Loss:
    """Base class: checks inputs and remembers what ``backward`` needs."""

    def __call__(self, output, target):
        return self.forward(output, target)

    def _need_forward(self):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        return self._cache

    def _float_pair(self, output, target):
        name = type(self).__name__
        output = np.asarray(output)
        if output.dtype.kind != "f" or output.ndim not in (1, 2):
            raise ValueError(f"{name}: expected a float output of shape (N,) or (N, K), got "
                             f"dtype {output.dtype} shape {output.shape}")
        target = np.asarray(target)
        if target.shape != output.shape:
            if target.size == output.size and output.ndim == 2 and output.shape[1] == 1:
                target = target.reshape(output.shape)
            else:
                raise ValueError(f"{name}: target shape {target.shape} does not match output "
                                 f"shape {output.shape}")
        return output, target.astype(output.dtype, copy=False)

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Mean squared error. ``half=True`` (default) uses L = 1/N Σ ½||y - t||², whose gradient
    is simply (y - t)/N; ``half=False`` drops the ½ (gradient 2 (y - t)/N)."""

    def __init__(self, half=True):
        self.half = bool(half)
        self._cache = None

    def forward(self, output, target):
        y, t = self._float_pair(output, target)
        diff = y - t
        self._cache = (diff, len(y))
        c = 0.5 if self.half else 1.0
        return float(c * np.vdot(diff, diff) / len(y))

    def backward(self):
        diff, n = self._need_forward()
        return diff * ((1.0 if self.half else 2.0) / n)

    def __repr__(self):
        return f"MSELoss(half={self.half})"


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p ∈ (0, 1), clipped to [eps, 1 - eps]:
    L = -1/N Σ [t log p + (1 - t) log(1 - p)] (the minus sign covers both terms)."""

    def __init__(self, eps=1e-7):
        self.eps = eps
        self._cache = None

    def forward(self, output, target):
        p, t = self._float_pair(output, target)
        _check_binary(t, type(self).__name__)
        p = np.clip(p, self.eps, 1 - self.eps)
        self._cache = (p, t)
        return float(-np.sum(t * np.log(p) + (1 - t) * np.log1p(-p)) / len(p))

    def backward(self):
        p, t = self._need_forward()
        return (p - t) / (p * (1 - p) * len(p))


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z: L = 1/N Σ log(1 + e^z) - t z (stable; never log(0))."""

    def __init__(self):
        self._cache = None

    def forward(self, output, target):
        z, t = self._float_pair(output, target)
        _check_binary(t, type(self).__name__)
        self._cache = (z, t)
        return float(np.sum(np.logaddexp(0, z) - t * z) / len(z))

    def backward(self):
        z, t = self._need_forward()
        g = sigmoid(z)
        g -= t
        g /= len(z)
        return g


class SoftmaxCrossEntropyLoss(Loss):
    """Softmax followed by cross-entropy, on logits ``Z`` (N, K) and integer labels ``t`` (N,).

    L = 1/N Σ_n [log Σ_k e^{z_nk} - z_{n t_n}]  (log-sum-exp with the max subtracted);
    dL/dZ = (softmax(Z) - onehot(t)) / N: y_k - 1 on the true class, y_k elsewhere.
    One-hot (or soft) targets of shape (N, K) are accepted too.
    """

    def __init__(self):
        self._cache = None

    def forward(self, output, target):
        Z = np.asarray(output)
        if Z.ndim != 2 or Z.dtype.kind != "f":
            raise ValueError(f"SoftmaxCrossEntropyLoss: expected float logits of shape (N, K), "
                             f"got dtype {Z.dtype} shape {Z.shape}")
        t = _labels(target, Z.shape)
        n = len(t)
        # Work on the transposed logits (K, N): NumPy reduces over the K classes much faster
        # along axis 0 of a (K, N) array than along the short rows of (N, K).
        E = Z.T.copy()
        E -= E.max(axis=0)  # shifted logits z_nk - max_k z_nk <= 0 (stability)
        if t.ndim == 1:
            z_true = E[t, np.arange(n)]  # shifted logit of the true class  (N,)
        else:
            z_true = np.einsum("kn,nk->n", E, t)  # Σ_k t_nk z_nk for one-hot / soft targets
        np.exp(E, out=E)
        s = E.sum(axis=0)  # Σ_k e^{z_nk - max z}  (N,)
        lse = np.log(s)
        # L_n = (Σ_k t_nk) lse_n - Σ_k t_nk z_nk, where Σ_k t_nk = 1 for labels
        per_example = lse - z_true  # rows of t sum to 1 (checked), so Σ_k t_nk lse_n = lse_n
        E /= s  # softmax probabilities (K, N), kept for backward
        self._cache = (E, t)
        return float(per_example.sum() / n)

    def backward(self):
        P, t = self._need_forward()
        n = len(t)
        g = P.T * (1.0 / n)  # (softmax - onehot) / N without a one-hot array; (N, K)
        if t.ndim == 1:
            g[np.arange(n), t] -= 1.0 / n
        else:
            g -= t * (1.0 / n)
        return g


def _labels(target, shape):
    t = np.asarray(target)
    n, k = shape
    if t.shape == shape:
        t = t.astype(np.float64 if t.dtype.kind != "f" else t.dtype, copy=False)
        if n and (t.min() < 0 or not np.allclose(t.sum(axis=1), 1, atol=1e-4)):
            raise ValueError("SoftmaxCrossEntropyLoss: one-hot / soft targets of shape "
                             f"{shape} must be non-negative rows that sum to 1")
        return t
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"SoftmaxCrossEntropyLoss: expected integer labels of shape ({n},) "
                         f"(or one-hot targets of shape {shape}), got shape {t.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"SoftmaxCrossEntropyLoss: expected integer class labels, got dtype "
                        f"{t.dtype} (convert with y.astype(np.int64))")
    if n and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"SoftmaxCrossEntropyLoss: labels must lie in [0, {k - 1}] for {k} "
                         f"logits, got range [{t.min()}, {t.max()}]")
    return t


def _check_binary(t, name):
    if t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"{name}: targets must lie in [0, 1], got range [{t.min()}, {t.max()}]")

