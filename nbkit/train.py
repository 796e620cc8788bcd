"""Mini-batch training loop (`fit`), evaluation (`evaluate`) and prediction (`predict`).

One epoch of :func:`fit` is the loop every lecture writes out by hand::

    for Xb, yb in data.minibatches(X, y, batch_size, rng=rng):
        out = model(Xb)                      # forward
        batch_loss = loss.forward(out, yb)
        model.backward(loss.backward())      # backward: fills every p.grad
        optimizer.step()                     # update

plus bookkeeping (:class:`History`), validation, early stopping (:class:`EarlyStopping`), a
guard against NaN/inf losses and a progress bar. fit backpropagates with
``nbkit.module.backward(model, dY, input_grad=False)``: dL/dX of the data is never needed, and
for the first Linear layer that product costs as much as its forward.

Accuracy is counted (:func:`count_correct`) when the targets are class labels: integer/bool
labels, or float targets whose values are all 0 or 1 (otherwise it is NaN in History and None
in `evaluate`). A 1-column output is a probability (class 1 when > 0.5), or a logit with
``BCEWithLogitsLoss`` (class 1 when > 0: the same decision, sigmoid(z) > 0.5 <=> z > 0).
"""

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm.auto import tqdm

from nbkit import data, validate
from nbkit.losses import BCEWithLogitsLoss
from nbkit.module import backward
from nbkit.rng import as_generator


@dataclass(repr=False)
class History:
    """What :func:`fit` records, one entry per epoch (lists indexed by epoch, from 0).

    ``train_loss`` / ``train_acc``: the mean batch loss and the fraction of training examples
    classified correctly, measured on the fly while the weights change (free, but not those of
    the final weights on the training set: call :func:`evaluate` for that). ``val_loss`` /
    ``val_acc``: exact, by :func:`evaluate` after each epoch (empty without validation data).
    ``best_epoch``: index of the lowest validation loss (None without validation data);
    ``stopped_early``: early stopping (or a callback) ended training before ``epochs``;
    ``epochs_run``: the number of epochs completed.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    epochs_run: int = 0

    def as_dict(self):
        """A plain dict (lists copied), e.g. for ``json.dump`` or a pandas DataFrame."""
        return asdict(self)

    def __repr__(self):
        def short(values):  # the first and last three of a long curve
            text = [f"{v:.4g}" for v in values]
            return "[" + ", ".join(text[:3] + ["..."] + text[-3:] if len(text) > 6 else text) + "]"

        curves = "".join(f", {name}={short(getattr(self, name))}"
                         for name in ("train_loss", "train_acc", "val_loss", "val_acc")
                         if getattr(self, name))
        return (f"History(epochs_run={self.epochs_run}, best_epoch={self.best_epoch}, "
                f"stopped_early={self.stopped_early}{curves})")


class EarlyStopping:
    """The patience rule: stop once the validation loss has not improved (strictly decreased)
    for ``patience`` epochs in a row (``patience=None``: never stop, only track the best).

    Call :meth:`update` with each epoch's validation loss, epoch after epoch (counted from 0);
    it returns True when that epoch is the best so far; ``should_stop`` says when to stop.
    """

    def __init__(self, patience=None):
        if patience is not None:
            validate.integer(patience, "patience", "EarlyStopping", low=1)
        self.patience, self.waited, self.epochs = patience, 0, 0
        self.best_epoch, self.best_loss = None, math.inf

    def update(self, val_loss):
        improved = val_loss < self.best_loss
        if improved:
            self.best_epoch, self.best_loss, self.waited = self.epochs, val_loss, 0
        else:
            self.waited += 1
        self.epochs += 1
        return improved

    @property
    def should_stop(self):
        return self.patience is not None and self.waited >= self.patience


def early_stopping_epoch(val_loss, patience=None):
    """``(best_epoch, stop_epoch)`` of :class:`EarlyStopping` run over a validation-loss curve.

    ``best_epoch`` = argmin of val_loss among the epochs run; with ``patience`` p, training
    stops after the first epoch e with no improvement in the last p epochs (``stop_epoch = e``);
    without patience (or if that never happens) ``stop_epoch`` is the last epoch. Epochs are
    counted from 0.
    """
    v = np.asarray(val_loss, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"early_stopping_epoch: expected a non-empty 1-D curve, got shape "
                         f"{v.shape}")
    rule = EarlyStopping(patience)
    for epoch, loss in enumerate(v):
        rule.update(loss)
        if rule.should_stop or epoch == len(v) - 1:
            return rule.best_epoch, epoch


def fit(model, loss, optimizer, X, y, *, epochs, batch_size, X_val=None, y_val=None,
        patience=None, rng=None, progress=True, shuffle=True, callbacks=None):
    """Train `model` by mini-batch gradient descent; return a :class:`History`.

    Each epoch visits every training example once, in mini-batches from
    ``nbkit.data.minibatches(X, y, batch_size, rng)``, shuffled by one Generator made from
    ``rng`` (:mod:`nbkit.rng`): the same ``rng`` and initial model give identical results. The
    model trains in train mode, validates in eval mode, and gets its own mode back at the end.

    With ``X_val, y_val`` the validation loss and accuracy are recorded after every epoch; with
    ``patience=p`` as well, training stops once the validation loss has not improved (strictly
    decreased) for ``p`` epochs in a row (:class:`EarlyStopping`), and the parameters of the
    best epoch (``History.best_epoch``) are copied back into the model, also when all
    ``epochs`` ran. ``callbacks``: callables ``callback(epoch, history, model)`` called after
    every epoch (from 0); one that returns True stops training (``stopped_early``).

    Raises ``FloatingPointError`` as soon as a batch loss is NaN or infinite (a diverging run),
    naming the epoch and step: usually the learning rate is too high.
    """
    _check_xy("fit", X, y)
    validate.integer(epochs, "epochs", "fit", low=1)
    validate.integer(batch_size, "batch_size", "fit", low=1)
    if (X_val is None) != (y_val is None):
        raise ValueError("fit: give both X_val and y_val, or neither")
    if X_val is not None:
        _check_xy("fit", X_val, y_val, "X_val", "y_val")
    if patience is not None:
        validate.integer(patience, "patience", "fit", low=1)
        if X_val is None:
            raise ValueError("fit: early stopping (patience) needs validation data X_val, y_val")
    rng, count = as_generator(rng), _accuracy_counter(y, loss)
    history, best_params = History(), None
    stopping = EarlyStopping(patience) if patience is not None else None
    with _mode(model, training=True), tqdm(range(epochs), desc="fit", unit="epoch",
                                           disable=not progress) as bar:
        for epoch in bar:
            model.train()  # (a callback may have changed the mode)
            loss_sum, correct, steps = 0.0, 0, 0
            for Xb, yb in data.minibatches(X, y, batch_size, rng=rng, shuffle=shuffle):
                out = model(Xb)
                batch_loss = float(loss.forward(out, yb))
                if not math.isfinite(batch_loss):
                    _diverged(batch_loss, epoch, steps, optimizer)
                backward(model, loss.backward(), input_grad=False)
                optimizer.step()
                loss_sum, steps = loss_sum + batch_loss, steps + 1
                correct += count(out, yb) if count else 0
            history.train_loss.append(loss_sum / steps)
            history.train_acc.append(correct / len(X) if count else math.nan)
            post = {"loss": f"{history.train_loss[-1]:.4f}"}
            if X_val is not None:
                result = evaluate(model, X_val, y_val, loss)
                history.val_loss.append(result["loss"])
                history.val_acc.append(math.nan if result["accuracy"] is None
                                       else result["accuracy"])
                if stopping is not None and stopping.update(result["loss"]):
                    best_params = [p.value.copy() for p in model.parameters()]
                history.best_epoch = int(np.argmin(history.val_loss))  # the first minimum
                post["val_loss"] = f"{result['loss']:.4f}"
            history.epochs_run = epoch + 1
            bar.set_postfix(post, refresh=False)
            stop_requested = any([bool(cb(epoch, history, model)) for cb in callbacks or ()])
            if stop_requested or (stopping is not None and stopping.should_stop):
                history.stopped_early = history.epochs_run < epochs
                break
    if best_params is not None:  # the best epoch's weights, in place (the optimizer keeps them)
        for p, value in zip(model.parameters(), best_params, strict=True):
            p.value[...] = value
    return history


def _diverged(batch_loss, epoch, step, optimizer):
    lr = getattr(optimizer, "current_lr", getattr(optimizer, "lr", "?"))
    raise FloatingPointError(
        f"fit: the training loss became {batch_loss} at epoch {epoch + 1}, step {step + 1} "
        f"(learning rate {lr}). Training diverged: try a lower learning rate (e.g. 10x smaller), "
        f"or check the inputs for NaN/inf and their scale.")


def _check_xy(owner, X, y, xname="X", yname="y"):
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(f"{owner}: {xname} and {yname} must be numpy arrays, "
                        f"got {type(X).__name__} and {type(y).__name__}")
    validate.same_length(X, y, owner, (xname, yname))
    if len(X) == 0:
        raise ValueError(f"{owner}: {xname} is empty")


def evaluate(model, X, y, loss=None, batch_size=10000):
    """Loss, accuracy and error count of `model` on (X, y), in eval mode, in batches.

    Returns ``{"loss": float or None (no loss given), "accuracy": float, "errors": int}``;
    accuracy and errors are None when the targets are not class labels (see the module
    docstring for the accuracy rules). The loss is the exact mean over all N examples
    (each batch's mean loss weighted by its size). The model's train/eval mode is restored.
    """
    _check_xy("evaluate", X, y)
    count, n = _accuracy_counter(y, loss), len(X)
    loss_sum, correct = 0.0, 0
    with _mode(model, training=False):
        for start in range(0, n, batch_size):
            Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            out = model(Xb)
            if loss is not None:
                loss_sum += float(loss.forward(out, yb)) * len(Xb)
            if count:
                correct += count(out, yb)
    return {"loss": loss_sum / n if loss is not None else None,
            "accuracy": correct / n if count else None, "errors": n - correct if count else None}


def predict(model, X, batch_size=10000):
    """Model outputs for X (N, ...) computed in eval mode, in batches; a new array."""
    if not isinstance(X, np.ndarray):
        raise TypeError(f"predict: X must be a numpy array, got {type(X).__name__}")
    if X.ndim < 1 or len(X) == 0:
        raise ValueError(f"predict: X must be a non-empty array (N, ...), got shape {X.shape}")
    with _mode(model, training=False):
        return np.concatenate([model(X[s : s + batch_size]) for s in range(0, len(X), batch_size)])


@contextmanager
def _mode(model, training):
    """The model in train (or eval) mode for the block, its own mode again afterwards."""
    was_training = getattr(model, "training", True)
    model.train() if training else model.eval()
    try:
        yield
    finally:
        model.train() if was_training else model.eval()


def _accuracy_counter(y, loss):
    """A function (output, target) -> number correct, or None if y are not class labels."""
    if y.dtype.kind not in "biu" and not (y.dtype.kind == "f" and np.all((y == 0) | (y == 1))):
        return None
    threshold = 0.0 if isinstance(loss, BCEWithLogitsLoss) else 0.5  # logits: sigmoid(z) > 0.5
    return lambda output, target: count_correct(output, target, threshold)


def count_correct(output, target, threshold=0.5):
    """Number of rows of `output` whose predicted class equals `target`'s.

    output (N, K>1): class = argmax; target integer labels (N,) or one-hot (N, K).
    output (N, 1) or (N,): class = output > threshold; target 0/1 of shape (N,) or (N, 1).
    """
    out, tgt = output.reshape(len(output), -1), target.reshape(len(target), -1)
    if out.shape[1] == 1:
        predicted, true = out[:, 0] > threshold, tgt[:, 0] > 0.5
    elif tgt.shape[1] == 1:
        predicted, true = out.argmax(axis=1), tgt[:, 0]
    else:
        predicted, true = out.argmax(axis=1), tgt.argmax(axis=1)
    return int(np.count_nonzero(predicted == true))
