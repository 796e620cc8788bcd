"""Interactive pictures of training: ipywidgets + matplotlib.

Each picture has a pure ``compute_*`` function (arrays), a ``plot_*`` function returning a new
:class:`matplotlib.figure.Figure`, and a ``*_widget()`` wrapper returning a
:class:`FigureBox` (controls above an ``ipywidgets.Image``; it shows a static PNG where no
widget front end exists). ``show(fig)`` displays any Figure as a static PNG. One module per
picture; everything is importable from ``nbkit.widgets``.

=====================  ==========================  =============================================
module                 widget / plot               what it shows
=====================  ==========================  =============================================
gradients              vanishing_gradients_widget  ||dL/dW_l|| and ||dL/dz_l|| per layer
init_variance          init_variance_widget        activations/gradients per layer after init
trajectories           optimizer_widget            SGD, momentum, SGD 1/t = η/(1+t), Adagrad, Adam
activation_explorer    activation_widget           f and f' of activation functions
dropout                dropout_widget              units one dropout step removes; train vs test
decision_boundary      decision_boundary_widget    a small net's decision regions over training
learning_curves        plot_learning_curve         train vs validation, early-stopping marker
learning_curves        plot_histories              one metric per epoch for several runs
playground             playground_widget           train a small net on 2-D data live (play/pause)
graph                  draw_graph                  an autodiff graph (lecture 03), static
=====================  ==========================  =============================================

``_base`` holds the palette, figure -> PNG and :class:`FigureBox`; ``_mlp`` the deep probe net
of the first two pictures.
"""

from nbkit.train import early_stopping_epoch
from nbkit.widgets._base import OKABE_ITO, PALETTE, FigureBox, figure_to_png, show
from nbkit.widgets.activation_explorer import (
    activation_widget,
    compute_activation,
    plot_activations,
)
from nbkit.widgets.decision_boundary import (
    compute_decision_boundary,
    decision_boundary_widget,
    plot_decision_boundary,
    train_snapshots,
)
from nbkit.widgets.dropout import compute_dropout_masks, dropout_widget, plot_dropout
from nbkit.widgets.gradients import (
    compute_vanishing_gradients,
    plot_vanishing_gradients,
    vanishing_gradients_widget,
)
from nbkit.widgets.graph import draw_graph
from nbkit.widgets.init_variance import (
    compute_init_statistics,
    init_variance_widget,
    plot_init_statistics,
)
from nbkit.widgets.learning_curves import plot_histories, plot_learning_curve
from nbkit.widgets.playground import PlaygroundRun, playground_widget, plot_playground
from nbkit.widgets.trajectories import (
    SURFACES,
    compute_trajectories,
    optimizer_widget,
    plot_trajectories,
    run_optimizer,
    steps_to_reach,
)

__all__ = [
    "OKABE_ITO", "PALETTE", "FigureBox", "figure_to_png", "show",
    "compute_vanishing_gradients", "plot_vanishing_gradients", "vanishing_gradients_widget",
    "compute_init_statistics", "plot_init_statistics", "init_variance_widget",
    "SURFACES", "compute_trajectories", "run_optimizer", "steps_to_reach", "plot_trajectories",
    "optimizer_widget",
    "compute_activation", "plot_activations", "activation_widget",
    "early_stopping_epoch", "plot_learning_curve", "plot_histories",
    "compute_dropout_masks", "plot_dropout", "dropout_widget",
    "train_snapshots", "compute_decision_boundary", "plot_decision_boundary",
    "decision_boundary_widget",
    "PlaygroundRun", "plot_playground", "playground_widget", "draw_graph",
]
