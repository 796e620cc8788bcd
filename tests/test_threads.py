"""nbkit.threads: the BLAS thread limit really applies (and stays applied)."""

import pytest

from nbkit import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads():
    info = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    if not info:
        pytest.skip("numpy reports no BLAS thread pool")
    return {p["num_threads"] for p in info}


def test_single_blas_thread_limits_blas_and_stays_active():
    before = threadpoolctl.threadpool_info()
    try:
        limiter = threads.single_blas_thread()
        assert threads._ACTIVE_LIMIT is limiter  # kept referenced: stays in force
        assert _blas_threads() == {1}
        with threads.blas_thread_limit(1):  # the widgets' temporary limit
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    finally:
        threadpoolctl.threadpool_limits(
            limits={p["prefix"]: p["num_threads"] for p in before}
        )
        threads._ACTIVE_LIMIT = None


def test_blas_thread_limit_rejects_bad_counts():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="must be an integer >= 1, got"):
            threads.blas_thread_limit(bad)
    for bad in (1.5, True, "1"):
        with pytest.raises(TypeError, match="must be an integer"):
            threads.blas_thread_limit(bad)
