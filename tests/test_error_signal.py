"""The vanishing-gradient probe reports the error signal ||dL/dz_l|| beside ||dL/dW_l||.

For a bias-free ReLU net, scaling every weight matrix by c scales h_{l-1} by c^(l-1) and
dL/dz_l by c^(L-l): the profile of ||dL/dW_l|| across layers does not depend on the init
scale, while the error signal shrinks by about 1/sqrt(2) per layer at the Xavier-like scale
s = 1 and keeps its size at He's s = sqrt(2). Lectures 00 and 06 teach exactly this.
"""

import numpy as np
import pytest

from nbkit.widgets import compute_vanishing_gradients
from nbkit.widgets.gradients import plot_vanishing_gradients


def _relu(scale, dtype=np.float64, seed=0):
    return compute_vanishing_gradients(depth=10, width=64, init_scale=scale,
                                       activations=("relu",), seed=seed, dtype=dtype)["relu"]


def test_error_signal_vanishes_with_xavier_and_not_with_he():
    xavier, he = _relu(1.0), _relu(np.sqrt(2))
    ratio_xavier = xavier["dz_norm"][0] / xavier["dz_norm"][-1]
    ratio_he = he["dz_norm"][0] / he["dz_norm"][-1]
    assert 0.02 < ratio_xavier < 0.08          # about (1/sqrt 2)^9 = 0.044
    assert 0.6 < ratio_he < 1.5                # about 1
    # the weight-gradient profile is the same for every scale (positive homogeneity)
    np.testing.assert_allclose(xavier["grad_norm"] / xavier["grad_norm"][-1],
                               he["grad_norm"] / he["grad_norm"][-1], rtol=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_error_signal_ratios_hold_for_other_probes(seed):
    xavier, he = _relu(1.0, seed=seed), _relu(np.sqrt(2), seed=seed)
    assert xavier["dz_norm"][0] / xavier["dz_norm"][-1] < 0.1
    assert he["dz_norm"][0] / he["dz_norm"][-1] > 0.5


def test_dz_norm_is_the_norm_of_the_delta_by_hand():
    """Recompute dL/dz_l with plain numpy for a 3-layer tanh probe (float64)."""
    from nbkit.widgets._mlp import probe_data
    from nbkit.widgets.gradients import standard_weights

    stats = compute_vanishing_gradients(depth=3, width=16, init_scale=1.3, n=8,
                                        activations=("tanh",), dtype=np.float64)["tanh"]
    X, G = (a.astype(np.float64) for a in probe_data(8, 16, 0))
    Ws = [1.3 * W.astype(np.float64) for W in standard_weights(16, 0)[:3]]
    hs, zs = [X], []
    for W in Ws:
        zs.append(hs[-1] @ W)
        hs.append(np.tanh(zs[-1]))
    grad, dz = G, [None] * 3
    for i in (2, 1, 0):
        dz[i] = grad * (1 - np.tanh(zs[i]) ** 2)
        grad = dz[i] @ Ws[i].T
    np.testing.assert_allclose(stats["dz_norm"], [np.linalg.norm(d) for d in dz], rtol=1e-12)
    weight_grads = [h.T @ d for h, d in zip(hs[:-1], dz, strict=True)]
    np.testing.assert_allclose(stats["grad_norm"], [np.linalg.norm(g) for g in weight_grads],
                               rtol=1e-12)


def test_float32_and_float64_agree_to_float32_precision():
    a, b = _relu(1.0, np.float32), _relu(1.0, np.float64)
    np.testing.assert_allclose(a["dz_norm"], b["dz_norm"], rtol=1e-4)


def test_dtype_is_checked():
    with pytest.raises(ValueError, match="dtype"):
        compute_vanishing_gradients(depth=2, width=16, dtype=np.int64)


def test_the_plot_shows_the_error_signal_panel():
    fig = plot_vanishing_gradients(compute_vanishing_gradients(depth=4, width=16))
    titles = [ax.get_title() for ax in fig.axes]
    assert any("Error signal" in t for t in titles)
    ax_d = next(ax for ax in fig.axes if "Error signal" in ax.get_title())
    assert len(ax_d.get_lines()) == 4                     # one line per activation
    assert "∂L/∂z" in ax_d.get_ylabel()
