"""Benchmarks of nbkit (not part of the installed package).

``python -m benchmarks.train_speed`` (or ``make bench``) times one epoch of MNIST-sized training
in nbkit, in PyTorch (optional) and as the bare matrix products; ``--smoke`` is the short CI run.
"""
