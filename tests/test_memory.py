"""baode_eval._memory.Retained: memory of big arrays kept for the next ones, never handed out
while something can still read it, cleared when asked, given back after ``linger`` seconds."""
import gc
import threading
import time

import numpy as np
import pytest

from baode_eval._memory import Faults, Retained


def _pool(**kw):
    kw.setdefault("linger", 60.0)
    kw.setdefault("minimum", 1 << 16)
    return Retained(**kw)


def test_memory_is_kept_only_when_every_view_is_gone():
    pool = _pool()
    a, dirty = pool.zeros((4, 10_000), np.float64)
    assert not dirty and a.shape == (4, 10_000) and not a.any()
    a[:] = 5.0
    view = a[2, 10:20]
    del a
    gc.collect()
    assert pool.kept_bytes == 0  # a view still reads the memory
    b, dirty = pool.zeros((4, 10_000), np.float64)
    assert not dirty and not b.any() and pool.reuses == 0  # new memory, not the viewed one
    assert (view == 5.0).all()
    del view
    gc.collect()
    assert pool.kept_bytes >= 4 * 10_000 * 8
    c, dirty = pool.zeros((4, 10_000), np.float64)
    assert dirty and pool.reuses == 1 and pool.kept_bytes == 0
    assert (c == 5.0).all()  # the same memory, still holding the old values: hence ``dirty``
    c[1, 3] = -1.0
    assert (b == 0).all()  # arrays on different memory


def test_a_block_goes_to_arrays_of_its_size_up_to_half_of_it():
    pool = _pool()
    a = pool.empty(1 << 17, np.float64)  # 1 MiB, whole pages
    del a
    gc.collect()
    big = pool.empty((1 << 17) + 1, np.float64)  # larger than the block: new memory
    assert pool.reuses == 0
    small = pool.empty((1 << 15) - 1, np.float64)  # under half the block: new memory
    assert pool.reuses == 0
    fits = pool.empty(3 << 15, np.int64)  # three quarters of it: takes it
    assert pool.reuses == 1 and fits.dtype == np.int64 and fits.shape == (3 << 15,)
    del big, small, fits


def test_small_arrays_and_linger_zero_are_plain_numpy():
    pool = _pool(minimum=1 << 20)
    a, dirty = pool.zeros(10, np.int32)
    assert not dirty and a.flags.owndata  # numpy's own memory
    off = _pool(linger=0.0)
    b, dirty = off.zeros((1000, 1000), np.float64)
    assert not dirty and b.flags.owndata
    del b
    gc.collect()
    assert off.kept_bytes == 0


def test_kept_memory_is_given_back_after_linger_seconds_or_on_release():
    pool = _pool(linger=1.0)
    a = pool.empty(200_000, np.float64)
    del a
    gc.collect()
    assert pool.kept_bytes > 0
    deadline = time.monotonic() + 10
    while pool.kept_bytes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.kept_bytes == 0  # swept by the timer
    b = _pool().empty(200_000, np.float64)
    other = _pool()
    c = other.empty(200_000, np.float64)
    del b, c
    gc.collect()
    assert other.kept_bytes > 0 and other.release() > 0 and other.kept_bytes == 0


def test_faults_clear_every_value_of_dirty_arrays_and_only_touch_fresh_ones():
    dirty_a, fresh = np.full((3, 70_001), 7.0), np.ones(50_000, np.int32)
    faults = Faults([dirty_a, fresh], piece=64 << 10, dirty=[True, False])
    workers = [threading.Thread(target=faults.work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not dirty_a.any()
    want = np.ones(50_000, np.int32)
    want[::1024] = 0
    np.testing.assert_array_equal(fresh, want)


def test_arrays_die_in_any_thread():
    pool = _pool()
    made = [pool.empty(20_000, np.float64) for _ in range(8)]

    def drop(i):
        made[i] = None

    threads = [threading.Thread(target=drop, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert pool.kept_bytes >= 8 * 20_000 * 8
    again = [pool.empty(20_000, np.float64) for _ in range(8)]
    assert pool.reuses == 8 and pool.kept_bytes == 0
    del again


@pytest.mark.parametrize("raw, want", [("3", 3.0), ("0", 0.0), ("-1", 0.0)])
def test_linger_from_the_environment(raw, want, monkeypatch):
    from baode_eval import _memory

    monkeypatch.setenv("BAODE_EVAL_RETAIN_SECONDS", raw)
    assert _memory._linger() == want


def test_a_bad_linger_in_the_environment_is_named(monkeypatch):
    from baode_eval import _memory

    monkeypatch.setenv("BAODE_EVAL_RETAIN_SECONDS", "ten")
    with pytest.warns(UserWarning, match="BAODE_EVAL_RETAIN_SECONDS.*'ten'"):
        assert _memory._linger() == 10.0


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")
def test_a_forked_child_keeps_nothing_of_the_parent():
    """A child process (e.g. a forked worker) starts with an empty pool and no timer: the
    parent's kept blocks are never handed out in it."""
    import os

    from baode_eval._memory import RETAINED

    a = RETAINED.empty(RETAINED.minimum // 8 + 1, np.float64)
    del a
    gc.collect()
    assert RETAINED.kept_bytes > 0
    pid = os.fork()
    if pid == 0:  # the child: report by exit code only
        ok = RETAINED.kept_bytes == 0 and RETAINED._timer is None
        before = RETAINED.reuses
        b = RETAINED.empty(RETAINED.minimum // 8 + 1, np.float64)
        ok = ok and RETAINED.reuses == before and b.base is not None  # new memory of its own
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert RETAINED.kept_bytes > 0  # the parent's pool is untouched
    RETAINED.release()
