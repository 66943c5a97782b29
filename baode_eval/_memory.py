"""Where the scorecard's big arrays get their memory: small or huge pages, fresh or kept.

On Linux numpy advises huge pages (``madvise(MADV_HUGEPAGE)``, 2 MB) for every array of 4 MB or
more. A huge page needs a free, aligned 2 MB block. On a virtual machine with free page
reporting such blocks are the memory the guest has handed back to the host, and touching them
again costs a trip to the host for every small page: 2-4 ms per MB on the machines this project
is benchmarked on. Small pages come first from the fragments the guest still holds: about
0.6 ms per MB, written front to back (``bench/bench_fresh_memory.py`` prints both).

So the arrays the scorecard keeps are made in small pages:

* phase 2 (:func:`baode_eval.scorecard.from_summary`) writes the tidy table (at national size
  6.6 M rows, about 400 MB) once, front to back, where huge pages save nothing: phase 2 of the
  national benchmark took 0.52-0.64 s instead of 0.94-1.14 s, alternating in one process;
* the compiled kernel's cell table (about 365 MB) is made in small pages and faulted in front
  to back by a helper thread while the cells are numbered (:class:`baode_eval.kernel.Prepared`):
  the national scorecard took 2.07-2.41 s against 2.15-3.56 s with huge pages, eight runs
  each, alternating. Faulted in by the kernel's own threads, in the order rows come, small
  pages had been slower than huge ones.

Both are made on memory of their own, kept once they die for the next scorecard's arrays
(:class:`Retained`): a page already in use costs a write, not a fault.

The numpy engine's phase 1, full of short-lived row-sized temporaries, keeps numpy's default
(it was not faster with small pages: 18.6-20.4 s in one benchmark run, against 15.4-16.4 s).

:func:`huge_pages` switches numpy's advice for a block of code and restores it after. It is
numpy's own, private, process-wide setting; when numpy has none it does nothing. It never
changes a result, only where the memory comes from.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import mmap
import os
import threading
import time
import warnings
import weakref

import numpy as np


_LOCK = threading.RLock()


def _switch():
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            fn = getattr(importlib.import_module(name), "_set_madvise_hugepage", None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    return None


_SET = _switch()


@contextlib.contextmanager
def huge_pages(enabled: bool):
    """Within the block, numpy advises huge pages for its large arrays if ``enabled``."""
    if _SET is None:
        yield
        return
    with _LOCK:
        previous = _SET(bool(enabled))
    try:
        yield
    finally:
        with _LOCK:
            _SET(previous)


def small_pages(fn):
    """Run ``fn`` with numpy's huge-page advice off (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with huge_pages(False):
            return fn(*args, **kwargs)

    return wrapper


class Faults:
    """The pages of fresh arrays, to be faulted in piece by piece (``piece`` bytes, front to
    back) by every thread that calls :meth:`work`, until none is left.

    Faulting in is the operating system's work (zeroing a page and mapping it), and two threads
    do it nearly twice as fast as one on the 2-vCPU machines of the benchmark (365 MB: 0.10-0.11 s
    against 0.17-0.21 s, ``flat[::512] = 0``, which releases the GIL). A helper starts as soon
    as the arrays are made; the thread that needs them joins when it has nothing else to do, then
    waits for the helper's last piece. Only pages are touched, never a value: the arrays stay
    zero. Arrays marked ``dirty`` (memory kept from arrays that died, :class:`Retained`) are
    cleared to zero instead, every value (writes, not faults: 365 MB in 0.02 s with two threads,
    0.03 s with one, medians of 6)."""

    def __init__(self, arrays, piece: int = 4 << 20, *, dirty=None):
        self._pieces = []
        for a, clear in zip(arrays, dirty or [False] * len(arrays)):
            flat = a.reshape(-1)  # the arrays are contiguous: a view
            # a page each, or every value of memory that held other arrays (see Retained)
            step = 1 if clear else max(4096 // a.itemsize, 1)
            per = max(piece // a.itemsize // step * step, step)
            self._pieces += [(flat, lo, min(lo + per, len(flat)), step) for lo in range(0, len(flat), per)]
        self._next = itertools.count()  # next() of a count is atomic under the GIL

    def work(self) -> None:
        """Fault in (or clear: ``dirty``) pieces until none is left (another thread may still be
        on its last one)."""
        for i in self._next:
            if i >= len(self._pieces):
                return
            flat, lo, hi, step = self._pieces[i]
            flat[lo:hi:step] = 0


class Retained:
    """Big arrays whose memory is kept, once they die, for the next arrays of a similar size,
    and given back to the operating system after ``linger`` seconds unused.

    A fresh page costs more than writing it: the scorecard's big arrays (at national size the
    365 MB cell table and the 325 MB tidy table) take about 0.45 s of system CPU in page faults a run
    on the benchmark's virtual machines. Allocators such as jemalloc, which DuckDB uses on 64-bit
    Linux (DuckDB's documentation, "jemalloc"), keep freed pages for a while for this reason
    (jemalloc's default dirty decay is 10 s); numpy's, for arrays this big, gives them back at once. Arrays of ``minimum`` bytes or more are made here on memory of their own (an
    anonymous ``mmap``); when the array and every view of it are gone, the memory waits in this
    pool (it stays resident) until an array that needs at most its size, and at least half of
    it, takes it, or until ``linger`` seconds pass. Memory is never handed out while anything can still read it:
    a view keeps its array, and the array its memory, alive. ``linger`` 0 keeps nothing
    (``BAODE_EVAL_RETAIN_SECONDS``, default 10). It never changes a result: :meth:`zeros` says
    when the memory must still be cleared.

    National scorecard, 8 runs each alternating in one process: median 1.49 s against 1.64 s,
    system CPU 0.06 s against 0.53 s a run."""

    def __init__(self, linger: float = 10.0, minimum: int = 16 << 20):
        self.linger, self.minimum = float(linger), int(minimum)
        # re-entrant: an array can die (and give its memory back) wherever the garbage collector
        # runs, also inside these methods
        self._lock = threading.RLock()
        self._free: list = []  # [(bytes, mmap, time given back)]
        self._timer = None
        self.reuses = 0  # blocks handed out again (read by tests and the benchmark)

    def empty(self, shape, dtype) -> np.ndarray:
        """An array whose values are whatever the memory held."""
        return self._array(shape, dtype, zero=False)[0]

    def zeros(self, shape, dtype) -> tuple[np.ndarray, bool]:
        """``(array, dirty)``: a zeroed array, or (``dirty`` true) one on kept memory that still
        holds old values, for the caller to clear (e.g. with :class:`Faults`, in threads)."""
        return self._array(shape, dtype, zero=True)

    def _array(self, shape, dtype, zero: bool):
        dtype = np.dtype(dtype)
        shape = tuple(int(k) for k in np.atleast_1d(shape))
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count * dtype.itemsize
        if self.linger <= 0 or nbytes < self.minimum:
            return (np.zeros if zero else np.empty)(shape, dtype), False
        block, kept = self._take(nbytes)
        root = np.frombuffer(block, dtype, count=count)  # views of it have it as their base
        fin = weakref.finalize(root, self._give, block)
        fin.atexit = False
        return root.reshape(shape), kept

    def _take(self, nbytes: int):
        with self._lock:
            self._sweep_locked(time.monotonic())
            fits = [i for i, (size, _, _) in enumerate(self._free) if nbytes <= size <= 2 * nbytes]
            if fits:
                i = min(fits, key=lambda j: self._free[j][0])
                self.reuses += 1
                return self._free.pop(i)[1], True
        page = mmap.PAGESIZE
        return mmap.mmap(-1, max(-(-nbytes // page) * page, page)), False  # zero pages, not yet touched

    def _give(self, block) -> None:
        with self._lock:
            self._free.append((len(block), block, time.monotonic()))
            if self._timer is None:
                self._arm_locked()

    def _arm_locked(self) -> None:
        timer = threading.Timer(self.linger, self._sweep)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _sweep(self) -> None:
        with self._lock:
            self._timer = None
            self._sweep_locked(time.monotonic())
            if self._free:
                self._arm_locked()

    def _sweep_locked(self, now: float, everything: bool = False) -> None:
        keep = []
        for item in self._free:
            if everything or now - item[2] >= self.linger:
                try:
                    item[1].close()  # munmap
                    continue
                except BufferError:  # the last array is still being deallocated: next time
                    pass
            keep.append(item)
        self._free = keep

    def release(self) -> int:
        """Give every kept block back now; returns how many bytes were kept."""
        with self._lock:
            kept = sum(size for size, _, _ in self._free)
            self._sweep_locked(time.monotonic(), everything=True)
            return kept

    def _after_fork(self) -> None:
        # a child process starts with no timer thread and a fresh lock; the kept blocks are the
        # parent's, copied on write: dropped (never handed out twice)
        self._lock = threading.RLock()
        self._timer = None
        self._free = []

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return sum(size for size, _, _ in self._free)


def _linger() -> float:
    raw = os.environ.get("BAODE_EVAL_RETAIN_SECONDS", "10")
    try:
        value = float(raw)
    except ValueError:
        warnings.warn(f"BAODE_EVAL_RETAIN_SECONDS must be a number of seconds, got {raw!r}: using 10",
                      stacklevel=2)
        value = 10.0
    return max(value, 0.0) if value == value else 10.0


RETAINED = Retained(_linger())
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=RETAINED._after_fork)
