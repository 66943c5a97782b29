"""Whether numpy asks the kernel to back the scorecard's big arrays with transparent huge pages.

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
import threading


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
    zero."""

    def __init__(self, arrays, piece: int = 4 << 20):
        self._pieces = []
        for a in arrays:
            flat = a.reshape(-1)  # the arrays are contiguous: a view
            step = max(4096 // a.itemsize, 1)
            per = max(piece // a.itemsize // step * step, step)
            self._pieces += [(flat, lo, min(lo + per, len(flat)), step) for lo in range(0, len(flat), per)]
        self._next = itertools.count()  # next() of a count is atomic under the GIL

    def work(self) -> None:
        """Fault in pieces until none is left (another thread may still be on its last one)."""
        for i in self._next:
            if i >= len(self._pieces):
                return
            flat, lo, hi, step = self._pieces[i]
            flat[lo:hi:step] = 0
