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
    """Base class: ``loss(output, target)`` is ``loss.forward(output, target)``; forward keeps
    in ``_cache`` what ``backward`` needs."""

    _cache = None

    def __call__(self, output, target):
        return self.forward(output, target)

    def _need_forward(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        return self._cache

    def _float_pair(self, output, target):
        """output: float (N,) or (N, K); target: the same shape (or (N,) for output (N, 1))."""
        name, output, target = type(self).__name__, np.asarray(output), np.asarray(target)
        if output.dtype.kind != "f" or output.ndim not in (1, 2):
            raise ValueError(f"{name}: expected a float output of shape (N,) or (N, K), got "
                             f"dtype {output.dtype} shape {output.shape}")
        if target.shape != output.shape and output.shape[1:] == (1,) and target.size == len(output):
            target = target.reshape(output.shape)  # targets (N,) for outputs (N, 1)
        if target.shape != output.shape:
            raise ValueError(f"{name}: target shape {target.shape} does not match output "
                             f"shape {output.shape}")
        return output, target.astype(output.dtype, copy=False)

    def _binary(self, output, target):
        output, t = self._float_pair(output, target)
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError(f"{type(self).__name__}: targets must lie in [0, 1], got range "
                             f"[{t.min()}, {t.max()}]")
        return output, t

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Mean squared error. ``half=True`` (default) uses L = 1/N Σ ½||y - t||², whose gradient
    is simply (y - t)/N; ``half=False`` drops the ½ (gradient 2 (y - t)/N)."""

    def __init__(self, half=True):
        self.half = bool(half)

    def forward(self, output, target):
        y, t = self._float_pair(output, target)
        diff = y - t
        self._cache = diff
        return float((0.5 if self.half else 1.0) * np.vdot(diff, diff) / len(y))

    def backward(self):
        diff = self._need_forward()
        return diff * ((1.0 if self.half else 2.0) / len(diff))

    def __repr__(self):
        return f"MSELoss(half={self.half})"


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p ∈ (0, 1), clipped to [eps, 1 - eps]:
    L = -1/N Σ [t log p + (1 - t) log(1 - p)] (the minus sign covers both terms)."""

    def __init__(self, eps=1e-7):
        self.eps = eps

    def forward(self, output, target):
        p, t = self._binary(output, target)
        p = np.clip(p, self.eps, 1 - self.eps)
        self._cache = (p, t)
        return float(-np.sum(t * np.log(p) + (1 - t) * np.log1p(-p)) / len(p))

    def backward(self):
        p, t = self._need_forward()
        return (p - t) / (p * (1 - p) * len(p))


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z: L = 1/N Σ log(1 + e^z) - t z (stable; never log(0))."""

    def forward(self, output, target):
        z, t = self._binary(output, target)
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

    def forward(self, output, target):
        Z = np.asarray(output)
        if Z.ndim != 2 or Z.dtype.kind != "f":
            raise ValueError(f"SoftmaxCrossEntropyLoss: expected float logits of shape (N, K), "
                             f"got dtype {Z.dtype} shape {Z.shape}")
        t = _labels(target, Z.shape)
        n = len(t)
        # On the transposed logits (K, N): NumPy reduces over the K classes much faster along
        # axis 0 of a (K, N) array than along the short rows of (N, K) (benchmarks/PROFILE.md).
        E = Z.T.copy()
        E -= E.max(axis=0)  # shifted logits z_nk - max_k z_nk <= 0 (stability)
        # Σ_k t_nk z_nk: the shifted logit of the true class (labels), or its mean under t
        z_true = E[t, np.arange(n)] if t.ndim == 1 else np.einsum("kn,nk->n", E, t)
        np.exp(E, out=E)
        s = E.sum(axis=0)  # Σ_k e^{z_nk - max z}  (N,)
        E /= s  # softmax probabilities (K, N), kept for backward
        self._cache = (E, t)
        return float((np.log(s) - z_true).sum() / n)  # rows of t sum to 1 (checked)

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
    """Integer labels (N,) in [0, K), or one-hot / soft targets (N, K) whose rows sum to 1."""
    t, (n, k) = np.asarray(target), shape
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
