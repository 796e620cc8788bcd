"""nbkit.widgets: the compute functions' real behaviour, the figures, and the widget wiring."""

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from nbkit import optim
from nbkit.train import History
from nbkit.widgets import (
    compute_activation,
    compute_decision_boundary,
    compute_dropout_masks,
    compute_init_statistics,
    compute_trajectories,
    compute_vanishing_gradients,
    decision_boundary,
    decision_boundary_widget,
    early_stopping_epoch,
    gradients,
    init_variance_widget,
    optimizer_widget,
    plot_activations,
    plot_decision_boundary,
    plot_dropout,
    plot_histories,
    plot_init_statistics,
    plot_learning_curve,
    plot_trajectories,
    plot_vanishing_gradients,
    run_optimizer,
    show,
    steps_to_reach,
    train_snapshots,
    trajectories,
    vanishing_gradients_widget,
)
from nbkit.widgets.trajectories import SURFACES

# ---------------------------------------------------------------- vanishing gradients


def test_sigmoid_gradient_norms_decay_geometrically_with_depth():
    depth = 12
    g = compute_vanishing_gradients(depth=depth, width=64, init_scale=1.0,
                                    activations=("sigmoid",))["sigmoid"]["grad_norm"]
    assert g.shape == (depth,) and np.all(g > 0)
    ratios = g[:-1] / g[1:]  # layer l vs layer l+1 (closer to the loss)
    # sigma' <= 1/4: every layer further from the loss loses a constant-ish factor
    assert np.all(ratios < 0.5), ratios
    layer = np.arange(depth)
    slope, intercept = np.polyfit(layer, np.log(g), 1)
    assert slope > np.log(2)  # grows by > 2x per layer towards the output
    # a straight line on the log scale: geometric
    assert np.abs(np.log(g) - (slope * layer + intercept)).max() < 1.0


def test_relu_with_he_init_does_not_vanish():
    s = compute_vanishing_gradients(depth=20, width=64, init_scale=np.sqrt(2),
                                    activations=("relu", "sigmoid"))
    relu, sig = s["relu"]["grad_norm"], s["sigmoid"]["grad_norm"]
    assert relu.max() / relu.min() < 10
    assert sig[-1] / sig[0] > 1e6
    # ReLU's derivative is exactly 0 or 1 and some units are dead
    assert 0 <= s["relu"]["dead_fraction"].max() < 0.5
    assert np.all((s["relu"]["mean_fprime"] > 0.3) & (s["relu"]["mean_fprime"] < 0.7))
    assert np.all(s["sigmoid"]["mean_fprime"] <= 0.25)


def test_vanishing_gradients_rejects_bad_input():
    with pytest.raises(ValueError, match="activation"):
        compute_vanishing_gradients(activations=("swish",))
    with pytest.raises(ValueError, match="depth"):
        compute_vanishing_gradients(depth=0)
    with pytest.raises(ValueError, match="init_scale"):
        compute_vanishing_gradients(init_scale=-1.0)


# ---------------------------------------------------------------- init variance


def test_zero_init_gives_identical_units():
    s = compute_init_statistics("zeros", "sigmoid", depth=5, width=20, n=32)
    assert s["identical_units"].all()
    for h in s["activations"]:
        np.testing.assert_array_equal(h, np.full_like(h, 0.5))  # sigma(0) for every unit
    for dW in s["gradients"][:-1]:  # hidden units: identical incoming-weight gradients
        np.testing.assert_array_equal(dW, dW[:, :1].repeat(dW.shape[1], axis=1))
    assert np.all(s["act_std"] == 0)


@pytest.mark.parametrize("scheme", ["normal", "xavier_normal", "he_normal", "xavier", "he"])
def test_random_init_breaks_symmetry(scheme):
    s = compute_init_statistics(scheme, "tanh", std=0.1, depth=4, width=20, n=32)
    assert not s["identical_units"].any()


def test_small_init_shrinks_activations_and_xavier_keeps_them():
    small = compute_init_statistics("normal", "tanh", std=0.01, depth=6, width=100)
    xavier = compute_init_statistics("xavier", "tanh", depth=6, width=100)
    he = compute_init_statistics("he", "relu", depth=6, width=100)
    # std(h_l) ~ (sqrt(100) * 0.01)^l: a factor 10 lost per layer
    np.testing.assert_allclose(small["act_std"][1:] / small["act_std"][:-1], 0.1, rtol=0.2)
    assert xavier["act_std"].min() > 0.2
    assert 0.5 < he["act_std"].min() and he["act_std"].max() < 2.0
    np.testing.assert_allclose(xavier["weight_std"], np.sqrt(2 / 200), rtol=0.05)
    counts, edges = small["act_hist"]
    assert counts.shape == (6, len(edges) - 1)
    assert np.all(counts.sum(axis=1) == 256 * 100)


# ---------------------------------------------------------------- optimizer trajectories


def test_momentum_reaches_the_quadratic_minimum_faster_than_sgd():
    r = compute_trajectories("quadratic", lr=0.02, momentum=0.9, steps=500,
                             methods=("SGD", "momentum"))
    k_sgd = steps_to_reach(r["SGD"][0], (0, 0))
    k_mom = steps_to_reach(r["momentum"][0], (0, 0))
    assert k_sgd is not None and k_mom is not None
    assert k_mom < k_sgd / 2


def test_sgd_path_is_plain_gradient_descent():
    s = SURFACES["valley"]
    path, losses = run_optimizer("valley", "SGD", lr=0.001, steps=3, start=(-1.0, 1.0))
    theta = np.array([-1.0, 1.0])
    for k in range(1, 4):
        theta = theta - 0.001 * s.grad(*theta)
        np.testing.assert_allclose(path[k], theta)
    np.testing.assert_allclose(losses, s.f(path[:, 0], path[:, 1]))


def test_adagrad_step_matches_its_formula():
    s = SURFACES["quadratic"]
    lr, eps = 0.3, 1e-8
    path, _ = run_optimizer("quadratic", "Adagrad", lr=lr, steps=4, start=(1.5, -0.7))
    theta, G = np.array([1.5, -0.7]), np.zeros(2)
    for k in range(1, 5):
        g = s.grad(*theta)
        G += g**2
        theta = theta - lr * g / (np.sqrt(G) + eps)  # per coordinate
        np.testing.assert_allclose(path[k], theta, rtol=1e-12)
    # the very first step moves every coordinate by lr, whatever its gradient's scale
    np.testing.assert_allclose(np.abs(path[1] - path[0]), lr, rtol=1e-6)


def test_trajectories_use_nbkit_optim(monkeypatch):
    made = []
    real = optim.Adam

    class Spy(real):
        def __init__(self, *a, **k):
            made.append(self)
            super().__init__(*a, **k)

    monkeypatch.setattr(optim, "Adam", Spy)
    run_optimizer("saddle", "Adam", lr=0.1, steps=7, start=(1.0, 0.1))
    assert len(made) == 1 and made[0].t == 7


def test_one_over_t_decay_uses_the_schedule():
    s = SURFACES["quadratic"]
    path, _ = run_optimizer("quadratic", "SGD 1/t", lr=0.04, steps=3, start=(1.0, 0.5))
    theta = np.array([1.0, 0.5])
    for t in range(3):
        theta = theta - 0.04 / (1 + t) * s.grad(*theta)
        np.testing.assert_allclose(path[t + 1], theta)


def test_divergence_stops_the_path():
    path, losses = run_optimizer("quadratic", "SGD", lr=0.5, steps=400, start=(1.0, 1.0))
    assert len(path) < 401 and np.abs(path[-1]).max() >= trajectories.DIVERGED
    assert np.isfinite(path[:-1]).all()


def test_saddle_escape_and_bad_input():
    r = compute_trajectories("saddle", lr=0.1, steps=300, methods=("momentum",))
    assert abs(abs(r["momentum"][0][-1, 1]) - 1.0) < 1e-2  # left the saddle for a minimum
    with pytest.raises(ValueError, match="surface"):
        compute_trajectories("bowl")
    with pytest.raises(ValueError, match="momentum"):
        compute_trajectories(momentum=1.0)
    with pytest.raises(ValueError, match="lr"):
        compute_trajectories(lr=0)


# ---------------------------------------------------------------- smaller pictures


def test_activation_derivatives():
    z = np.linspace(-6, 6, 1001)
    f, d = compute_activation("sigmoid", z)
    assert d.max() == pytest.approx(0.25) and d[500] == pytest.approx(0.25)
    np.testing.assert_allclose(np.gradient(f, z), d, atol=1e-3)
    _, d = compute_activation("relu", z)
    assert set(np.unique(d)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="activation"):
        compute_activation("nope", z)


def test_early_stopping_epoch():
    val = [5, 4, 3, 3.5, 3.2, 3.1, 3.3, 2.0]
    assert early_stopping_epoch(val) == (7, 7)
    assert early_stopping_epoch(val, patience=3) == (2, 5)
    with pytest.raises(ValueError):
        early_stopping_epoch([])


def test_dropout_masks():
    masks = compute_dropout_masks((3, 40, 40, 2), p=0.5, seed=1)
    assert [m.shape for m in masks] == [(3,), (40,), (40,), (2,)]
    assert masks[0].all() and masks[-1].all()
    assert 0.25 < masks[1].mean() < 0.75
    again = compute_dropout_masks((3, 40, 40, 2), p=0.5, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again, strict=True))
    assert all(m.all() for m in compute_dropout_masks((3, 40, 2), p=0.0))


def test_decision_boundary_improves_while_training():
    X, y, snaps = train_snapshots("spirals", hidden=16, lr=0.01, max_steps=300, seed=0)
    accs = [s[3] for s in snaps]
    assert accs[-1] > 0.9 > accs[0]
    model, *_ = decision_boundary._model_at("spirals", 16, 0.01, 300, 0, max_steps=300)
    xx, yy, probs = compute_decision_boundary(model, (-1, 1), (-1, 1), n=20)
    assert xx.shape == yy.shape == (20, 20) and probs.shape == (20, 20, 3)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)


# ---------------------------------------------------------------- figures


def _figures():
    stats_ig = compute_init_statistics("zeros", "sigmoid", depth=4, width=16)
    model, X, y, _ = decision_boundary._model_at("xor", 8, 0.01, 50, 0, max_steps=50)
    hist = History(train_loss=[1.0, 0.6, 0.5], val_loss=[1.1, 0.8, 0.9], best_epoch=1)
    return {
        "vanishing": plot_vanishing_gradients(compute_vanishing_gradients(depth=4, width=16)),
        "init": plot_init_statistics(stats_ig, "zeros", "sigmoid"),
        "trajectories": plot_trajectories(compute_trajectories("valley", steps=20), "valley"),
        "activations": plot_activations(("tanh", "leaky_relu")),
        "learning_curve": plot_learning_curve(hist),
        "dropout": plot_dropout((3, 5, 2), compute_dropout_masks((3, 5, 2)), 0.5),
        "boundary": plot_decision_boundary(model, X, y),
    }


def test_plots_return_labelled_figures_without_pyplot():
    plt.close("all")
    figs = _figures()
    assert plt.get_fignums() == []  # never registered with pyplot
    for name, fig in figs.items():
        assert isinstance(fig, Figure), name
        plot_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert plot_axes, name
        for ax in plot_axes:
            assert ax.get_title(), name
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
        png, _ = show(fig)._repr_mimebundle_()
        assert png["text/plain"].startswith("<figure")


def test_init_plot_flags_the_symmetry():
    fig = plot_init_statistics(compute_init_statistics("zeros", "tanh", depth=4, width=16))
    assert any("IDENTICAL" in ax.get_title() for ax in fig.axes)
    fig = plot_init_statistics(compute_init_statistics("he", "tanh", depth=4, width=16))
    assert not any("IDENTICAL" in ax.get_title() for ax in fig.axes)


def test_learning_curve_from_arrays_marks_early_stopping():
    fig = plot_learning_curve(train=[3, 2, 1, 0.5], val=[3, 2, 2.5, 2.8], patience=2)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "early stopping (best epoch 2)" in labels  # val minimum at index 1 = epoch 2
    with pytest.raises(ValueError):
        plot_learning_curve()


# ---------------------------------------------------------------- widgets


def test_vanishing_widget_redraws_without_redrawing_random_weights():
    w = vanishing_gradients_widget(depth=6, width=32)
    before, misses = w.image.value, gradients.standard_weights.cache_info().misses
    assert before[:8] == b"\x89PNG\r\n\x1a\n" and w.draw_count == 1
    slider = w.controls["init_scale"]
    slider.value = 2.0  # as the front end would: the observer runs and redraws
    assert w.draw_count == 2 and w.image.value != before
    w.controls["depth"].value = 8
    assert gradients.standard_weights.cache_info().misses == misses  # cached, not recomputed
    assert w.last_draw_seconds > 0


def test_optimizer_widget_caches_the_contours_and_resets_start():
    w = optimizer_widget()
    misses = trajectories.loss_grid.cache_info().misses
    before = w.image.value
    w.controls["lr"].value = 0.01
    assert w.image.value != before
    assert trajectories.loss_grid.cache_info().misses == misses
    n = w.draw_count
    w.controls["surface"].value = "valley"
    assert w.draw_count == n + 1  # one redraw, start moved without extra redraws
    assert (w.controls["x0"].value, w.controls["y0"].value) == SURFACES["valley"].start


def test_init_widget_disables_std_unless_normal():
    w = init_variance_widget()
    assert not w.controls["std"].disabled
    before = w.image.value
    w.controls["std"].value = 1.0
    assert w.image.value != before
    w.controls["scheme"].value = "he_normal"
    assert w.controls["std"].disabled
    assert init_variance_widget(scheme="xavier").controls["scheme"].value == "xavier_normal"


def test_boundary_widget_step_slider_uses_cached_training():
    w = decision_boundary_widget(hidden=8)
    misses = decision_boundary.train_snapshots.cache_info().misses
    before = w.image.value
    w.controls["step"].value = 0
    assert w.image.value != before
    assert decision_boundary.train_snapshots.cache_info().misses == misses


def test_widget_display_bundle_is_deterministic():
    w = vanishing_gradients_widget(depth=3, width=16)
    bundle, metadata = w._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/png",
                           "application/vnd.jupyter.widget-view+json"}
    assert not re.search(r"0x[0-9a-f]+|model_id", bundle["text/plain"])
    again, _ = vanishing_gradients_widget(depth=3, width=16)._repr_mimebundle_()
    assert bundle["text/plain"] == again["text/plain"]
    json.dumps(bundle)  # serialisable as a notebook output


# ---------------------------------------------------------------- plot_histories


def test_plot_histories_one_line_per_run_from_epoch_1():
    plt.close("all")
    h1 = History(train_loss=[2.0, 1.0, 0.5], val_loss=[2.1, 1.2, 0.9], epochs_run=3)
    h2 = History(train_loss=[2.3, 2.2, 2.1, 2.0, 1.9], epochs_run=5)
    fig = plot_histories({"a": h1, "b": h2, "raw": np.array([1.0, 0.1])}, logy=True,
                         title="runs")
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3
    for line, expected in zip(lines, ([2.0, 1.0, 0.5], [2.3, 2.2, 2.1, 2.0, 1.9], [1.0, 0.1]),
                              strict=True):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(expected) + 1))
        np.testing.assert_allclose(line.get_ydata(), expected)
    assert len({(line.get_color(), str(line.get_linestyle())) for line in lines}) == 3
    assert ax.get_xlabel() == "epoch (from 1)" and ax.get_ylabel() == "mean training loss"
    assert ax.get_title() == "runs" and ax.get_yscale() == "log"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "raw"]


def test_plot_histories_other_metric_and_labels():
    h = History(train_loss=[1.0, 0.5], val_acc=[0.5, 0.75], epochs_run=2)
    fig = plot_histories({"run": h}, metric="val_acc", ax_labels=("epoch", "acc"))
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.5, 0.75])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "acc")
    assert ax.get_title() == "validation accuracy per epoch" and ax.get_yscale() == "linear"


def test_plot_histories_rejects_bad_input():
    h = History(train_loss=[1.0, 0.5], epochs_run=2)
    with pytest.raises(ValueError, match="train_acc.*train_loss.*val_acc.*val_loss"):
        plot_histories({"run": h}, metric="loss")
    with pytest.raises(ValueError, match="val_loss"):
        plot_histories({"run": h}, metric="val_loss")  # not recorded: empty curve
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_histories({})
    with pytest.raises(ValueError, match="1-D"):
        plot_histories({"run": np.ones((2, 3))})


def test_init_schemes_are_nbkit_init_names():
    from nbkit import init
    from nbkit.widgets.init_variance import SCHEMES, initializer

    assert set(SCHEMES) - {"normal"} <= set(init.INITIALIZERS)
    assert initializer("xavier_normal") is init.xavier_normal
    assert initializer("xavier") is init.xavier_normal and initializer("he") is init.he_normal
    assert initializer("normal", std=0.3).__name__ == "normal(0.3)"
    with pytest.raises(ValueError, match="scheme must be one of"):
        initializer("glorot")
    w = init_variance_widget()
    assert [v for _, v in w.controls["scheme"].options] == list(SCHEMES)


def test_trajectory_point_is_an_nbkit_parameter():
    from nbkit.layers import Parameter

    p = trajectories.point((1.0, -2.0))
    assert isinstance(p, Parameter) and not p.decay and p.value.dtype == np.float64
    with pytest.raises(TypeError):
        optimizer_widget(seed=0)  # the unused argument is gone


def test_snapshots_are_the_parameters_of_the_named_step():
    """train_snapshots runs fit one full-batch step per epoch: snapshot k = the parameters
    after k steps, with the loss and accuracy of exactly those parameters."""
    from nbkit import layers, losses, optim, train

    X, y, snaps = train_snapshots("xor", hidden=8, lr=0.01, max_steps=50, seed=0)
    assert [s[0] for s in snaps] == [0, 25, 50]
    model = layers.mlp([2, 8, 8, 2], activation="tanh", rng=0)
    loss = losses.SoftmaxCrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=0.01)
    for step in range(51):
        if step in (0, 25, 50):
            _, params, value, acc = snaps[step // 25]
            for p, v in zip(model.parameters(), params, strict=True):
                np.testing.assert_array_equal(p.value, v)
            assert train.evaluate(model, X, y, loss) == {
                "loss": value, "accuracy": acc, "errors": round(len(y) * (1 - acc))}
        loss(model(X), y)
        model.backward(loss.backward())
        opt.step()
