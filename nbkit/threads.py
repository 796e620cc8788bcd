"""Limit the BLAS thread pool (OpenBLAS/MKL) of this process, with ``threadpoolctl``.

Why one thread: (1) how a float32 product's partial sums are split over threads changes their
last bits between runs (a printed loss, an error count near a tie); one thread reproduces them.
(2) The course machines have few cores and the notebook tests run 2 workers (``pytest -n 2``):
a multi-threaded BLAS in each oversubscribes the cores, and the small matrices used here only
pay the threads' overhead. The benchmarks use :func:`blas_thread_limit` with other counts.
"""

from threadpoolctl import threadpool_limits

from nbkit import validate

__all__ = ["blas_thread_limit", "single_blas_thread"]

# the limiter installed by single_blas_thread(); kept referenced so it stays in force
_ACTIVE_LIMIT = None


def blas_thread_limit(n=1):
    """Limit BLAS to ``n`` threads now; returns the limiter, a context manager that restores
    the previous limits on exit."""
    n = validate.integer(n, "n (threads)", "blas_thread_limit", low=1)
    return threadpool_limits(limits=n, user_api="blas")


def single_blas_thread():
    """Run BLAS on one thread from now on (for the rest of the process / kernel).

    Call it once in a notebook's setup cell. Returns the ``threadpoolctl`` limiter, which is
    also kept in a module-level reference so the limit stays active.
    """
    global _ACTIVE_LIMIT
    _ACTIVE_LIMIT = blas_thread_limit(1)
    return _ACTIVE_LIMIT
