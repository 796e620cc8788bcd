"""fit / evaluate / predict: learning, determinism, early stopping, NaN guard, error counts."""


import numpy as np
import pytest

from nbkit import init, layers, losses, optim, train


def xor_data(n, seed):
    """Points in [-1, 1]^2 at least 0.1 from the axes, class 1 where x0 * x1 > 0."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 1, size=(n, 2)) * rng.choice([-1, 1], size=(n, 2))
    X = X.astype(np.float32)
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def mlp(seed, hidden=16, n_in=2, n_out=2):
    rng = np.random.default_rng(seed)
    return layers.Sequential(
        layers.Linear(n_in, hidden, rng=rng), layers.Tanh(), layers.Linear(hidden, n_out, rng=rng)
    )


class Spy:
    """Wraps a model with only the documented interface; records the mode of every forward."""

    def __init__(self, model):
        self.model, self.modes, self.training = model, [], True

    def __call__(self, X):
        self.modes.append(self.training)
        return self.model(X)

    def backward(self, grad):
        return self.model.backward(grad)

    def parameters(self):
        return self.model.parameters()

    def train(self):
        self.training = True
        self.model.train()

    def eval(self):
        self.training = False
        self.model.eval()


def fit_xor(epochs=60, **kwargs):
    X, y = xor_data(400, seed=1)
    model = mlp(seed=3)
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    history = train.fit(
        model,
        losses.SoftmaxCrossEntropyLoss(),
        opt,
        X,
        y,
        epochs=epochs,
        batch_size=20,
        progress=False,
        **kwargs,
    )
    return model, history


def test_fit_learns_xor():
    model, history = fit_xor()
    Xte, yte = xor_data(1000, seed=2)
    result = train.evaluate(model, Xte, yte, losses.SoftmaxCrossEntropyLoss())
    assert result["accuracy"] > 0.95
    assert history.train_acc[-1] > 0.95 and history.train_acc[0] < 0.9
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]
    assert history.epochs_run == 60 and len(history.train_loss) == 60
    assert history.val_loss == [] and history.best_epoch is None and not history.stopped_early


def test_fit_is_deterministic_given_the_seed():
    m1, h1 = fit_xor(rng=5, epochs=5)
    m2, h2 = fit_xor(rng=np.random.default_rng(5), epochs=5)
    _, h3 = fit_xor(rng=6, epochs=5)
    assert h1.as_dict() == h2.as_dict()
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    assert h3.train_loss != h1.train_loss  # the seed does drive the shuffling
    # None is seed 0
    assert fit_xor(epochs=2)[1].as_dict() == fit_xor(rng=0, epochs=2)[1].as_dict()


def test_train_loss_is_mean_of_batch_losses_and_hot_loop_is_lean():
    class RecordingLoss(losses.SoftmaxCrossEntropyLoss):
        def forward(self, output, target):
            value = super().forward(output, target)
            self.values.append(value)
            return value

    X, y = xor_data(95, seed=1)  # 95 = 4 batches of 20 and one of 15
    Xv, yv = xor_data(30, seed=2)
    model, loss = Spy(mlp(seed=0)), RecordingLoss()
    loss.values = []
    history = train.fit(
        model,
        loss,
        optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        batch_size=20,
        X_val=Xv,
        y_val=yv,
        progress=False,
    )
    # per epoch: 5 training forwards in train mode, then 1 validation forward in eval mode
    assert model.modes == [True] * 5 + [False] + [True] * 5 + [False]
    assert model.training  # the mode from before fit is restored
    assert history.train_loss[0] == pytest.approx(np.mean(loss.values[:5]), rel=1e-12)
    assert history.train_loss[1] == pytest.approx(np.mean(loss.values[6:11]), rel=1e-12)
    assert history.val_loss[1] == pytest.approx(loss.values[11], rel=1e-12)


def test_early_stopping_restores_best_weights():
    X, y = xor_data(300, seed=1)
    Xv, yv = X[:100], 1 - y[:100]  # flipped labels: the better the fit, the worse val loss
    model = mlp(seed=0)
    loss = losses.SoftmaxCrossEntropyLoss()
    history = train.fit(
        model,
        loss,
        optim.SGD(model.parameters(), lr=0.3, momentum=0.9),
        X,
        y,
        epochs=50,
        batch_size=20,
        X_val=Xv,
        y_val=yv,
        patience=3,
        progress=False,
    )
    assert history.stopped_early
    assert history.epochs_run == history.best_epoch + 3 + 1 < 50
    assert history.val_loss[history.best_epoch] == min(history.val_loss)
    assert history.val_loss[-1] > history.val_loss[history.best_epoch]
    after = train.evaluate(model, Xv, yv, loss)
    assert after["loss"] == pytest.approx(history.val_loss[history.best_epoch], rel=1e-6)
    assert after["accuracy"] == pytest.approx(history.val_acc[history.best_epoch])


def test_best_weights_restored_at_the_end_when_patience_given():
    X, y = xor_data(300, seed=1)
    Xv, yv = X[:100], 1 - y[:100]
    loss = losses.SoftmaxCrossEntropyLoss()
    results = {}
    for patience in (None, 100):
        model = mlp(seed=0)
        history = train.fit(
            model,
            loss,
            optim.SGD(model.parameters(), lr=0.3, momentum=0.9),
            X,
            y,
            epochs=6,
            batch_size=20,
            X_val=Xv,
            y_val=yv,
            patience=patience,
            progress=False,
        )
        assert not history.stopped_early and history.epochs_run == 6
        results[patience] = (history, train.evaluate(model, Xv, yv, loss)["loss"])
    history, final = results[None]
    assert final == pytest.approx(history.val_loss[-1], rel=1e-6)  # no patience: last weights
    history, final = results[100]
    assert history.best_epoch < 5
    assert final == pytest.approx(history.val_loss[history.best_epoch], rel=1e-6)


def test_callback_sees_each_epoch_and_can_stop():
    seen = []

    def callback(epoch, history, model):
        seen.append((epoch, history.epochs_run, len(model.parameters())))
        return epoch == 2

    _, history = fit_xor(epochs=10, callbacks=[callback])
    assert seen == [(0, 1, 4), (1, 2, 4), (2, 3, 4)]
    assert history.stopped_early and history.epochs_run == 3


def test_nan_loss_raises_with_advice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5)).astype(np.float32) * 10
    Y = rng.normal(size=(64, 3)).astype(np.float32)
    model = mlp(seed=0, n_in=5, n_out=3)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, step \d+.*lower learning rate"):
        with np.errstate(all="ignore"):
            train.fit(
                model,
                losses.MSELoss(),
                optim.SGD(model.parameters(), lr=1e3),
                X,
                Y,
                epochs=20,
                batch_size=8,
                progress=False,
            )
    X[5, 2] = np.nan  # a NaN in the data is caught on the very first batch that holds it
    model = mlp(seed=0, n_in=5, n_out=3)
    with pytest.raises(FloatingPointError, match="epoch 1, step 1 "):
        train.fit(
            model,
            losses.MSELoss(),
            optim.SGD(model.parameters(), lr=0.1),
            X,
            Y,
            epochs=1,
            batch_size=64,
            progress=False,
        )


def identity_model(k):
    lin = layers.Linear(k, k, init=init.zeros)
    lin.W.value[...] = np.eye(k)
    return layers.Sequential(lin)


def test_evaluate_counts_errors_in_batches():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(103, 4)).astype(np.float32)  # the model outputs X itself
    y = X.argmax(axis=1)
    wrong = rng.choice(103, size=17, replace=False)
    y[wrong] = (y[wrong] + 1) % 4
    loss = losses.SoftmaxCrossEntropyLoss()
    result = train.evaluate(identity_model(4), X, y, loss, batch_size=10)
    assert result["errors"] == 17
    assert result["accuracy"] == pytest.approx(86 / 103)
    assert result["loss"] == pytest.approx(loss.forward(X, y), rel=1e-5)  # exact mean over N
    onehot = np.eye(4, dtype=np.float32)[y]  # one-hot targets give the same count
    assert train.evaluate(identity_model(4), X, onehot)["errors"] == 17
    assert train.evaluate(identity_model(4), X, y)["loss"] is None


def test_accuracy_of_one_column_outputs():
    out = np.array([[0.2], [0.7], [-0.3], [0.4]], dtype=np.float32)
    t = np.array([1, 1, 0, 1])
    assert train.count_correct(out, t) == 2  # probabilities: > 0.5 means class 1
    assert train.count_correct(out, t.astype(np.float32), threshold=0.0) == 4  # logits
    model = identity_model(1)
    assert train.evaluate(model, out, t)["errors"] == 2
    r = train.evaluate(model, out, t.astype(np.float32)[:, None], losses.BCEWithLogitsLoss())
    assert r["errors"] == 0  # BCEWithLogitsLoss: outputs are logits, threshold 0
    regression = train.evaluate(model, out, out + 0.1, losses.MSELoss())
    assert regression["accuracy"] is None and regression["errors"] is None


def test_predict_in_eval_mode_and_batched():
    rng = np.random.default_rng(0)
    model = layers.Sequential(layers.Linear(3, 5, rng=rng), layers.Dropout(0.5, rng=rng))
    X = rng.normal(size=(25, 3)).astype(np.float32)
    out = train.predict(model, X, batch_size=7)
    assert out.shape == (25, 5) and model.training  # mode restored
    model.eval()
    np.testing.assert_allclose(out, model(X), rtol=1e-6)  # dropout was off


def test_history_repr_and_dict():
    h = train.History(train_loss=[0.5, 0.25], train_acc=[0.5, 0.75], best_epoch=None)
    h.epochs_run = 2
    assert repr(h) == (
        "History(epochs_run=2, best_epoch=None, stopped_early=False, "
        "train_loss=[0.5, 0.25], train_acc=[0.5, 0.75])"
    )
    assert h.as_dict()["train_loss"] == [0.5, 0.25]
    long = train.History(train_loss=list(np.arange(10) / 3))
    assert "train_loss=[0, 0.3333, 0.6667, ..., 2.333, 2.667, 3]" in repr(long)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"batch_size": 2.5}, TypeError, "fit: batch_size must be an integer, got 2.5"),
        ({"patience": 0, "X_val": np.zeros((2, 2), np.float32), "y_val": np.zeros(2, np.int64)},
         ValueError, "patience must be an integer >= 1"),
        ({"patience": 3}, ValueError, "needs validation data"),
        ({"X_val": np.zeros((2, 2), np.float32)}, ValueError, "both X_val and y_val"),
        ({"y": np.zeros(9, np.int64)}, ValueError, r"same number of rows.*\(10, 2\) and \(9,\)"),
        ({"X": [[0.0, 1.0]]}, TypeError, "numpy arrays"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, message):
    model = mlp(seed=0)
    args = {
        "X": np.zeros((10, 2), np.float32),
        "y": np.zeros(10, np.int64),
        "epochs": 1,
        "batch_size": 5,
        "progress": False,
    }
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(error, match=message):
        train.fit(
            model,
            losses.SoftmaxCrossEntropyLoss(),
            optim.SGD(model.parameters(), 0.1),
            X,
            y,
            **args,
        )


def test_early_stopping_rule_is_the_one_fit_uses():
    curve = [5, 4, 3, 3.5, 3.2, 3.1, 3.3, 2.0]
    assert train.early_stopping_epoch(curve) == (7, 7)
    assert train.early_stopping_epoch(curve, patience=3) == (2, 5)
    assert train.early_stopping_epoch([1.0, 1.0, 1.0], patience=2) == (0, 2)  # ties: no gain
    rule = train.EarlyStopping(patience=2)
    assert [rule.update(v) for v in (3, 2, 2.5)] == [True, True, False]
    assert (rule.best_epoch, rule.best_loss, rule.should_stop) == (1, 2, False)
    rule.update(2.1)
    assert rule.should_stop
    with pytest.raises(ValueError):
        train.early_stopping_epoch([])
    with pytest.raises(TypeError, match="patience must be an integer"):
        train.EarlyStopping(patience=1.5)
    # fit stops where early_stopping_epoch says for its own validation curve
    X, y = xor_data(300, seed=1)
    Xv, yv = X[:100], 1 - y[:100]  # flipped labels: the better the fit, the worse val loss
    model = mlp(seed=0)
    history = train.fit(model, losses.SoftmaxCrossEntropyLoss(),
                        optim.SGD(model.parameters(), lr=0.3, momentum=0.9), X, y, epochs=50,
                        batch_size=20, X_val=Xv, y_val=yv, patience=3, progress=False)
    best, stop = train.early_stopping_epoch(history.val_loss, patience=3)
    assert (history.best_epoch, history.epochs_run - 1) == (best, stop)
