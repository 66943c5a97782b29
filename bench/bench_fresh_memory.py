"""How much memory a process touches for the first time costs on this machine, side by side
with memory it freed a moment before (not run in tests).

    python bench/bench_fresh_memory.py            # 440 MB, about the size of the national cell table
    python bench/bench_fresh_memory.py --mb 100 --pause 5

On virtual machines whose kernel reports freed pages back to the host (``dmesg``: "Free page
reporting enabled"), pages the process has not used recently are faulted in again from the
host, which shows up as system time. The scorecard benchmark's first run per process pays
this for its ~1 GB of results; DuckDB's small result does not.

The second line of each round compares fresh memory with numpy's huge-page advice on (its
default for arrays of 4 MB or more) and off (``baode_eval._memory.huge_pages``): a huge page
needs a free 2 MB block, which is just what the kernel reports to the host, while small pages
come first from fragments the guest still holds.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def touch(nbytes: int, huge: bool = True) -> tuple[float, float, np.ndarray]:
    from baode_eval._memory import huge_pages

    before, t0 = os.times(), time.perf_counter()
    with huge_pages(huge):
        a = np.empty(nbytes // 8)
    a.fill(0.0)
    return time.perf_counter() - t0, os.times().system - before.system, a


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=440)
    ap.add_argument("--pause", type=float, default=3.0, help="seconds to wait before the fresh allocation")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    nbytes = args.mb * 2**20
    for i in range(args.repeat):
        time.sleep(args.pause)  # let freed pages be reported back to the host, if the kernel does
        fresh, fresh_sys, a = touch(nbytes)
        del a
        reused, reused_sys, a = touch(nbytes)  # the pages just freed
        del a
        ratio = fresh / reused if reused else float("inf")
        print(f"[{i + 1}] {args.mb} MB after a {args.pause:g} s pause: {fresh:.3f} s (sys {fresh_sys:.2f} s); "
              f"right after freeing the same size: {reused:.3f} s (sys {reused_sys:.2f} s); ratio {ratio:.1f}")
        times = {}
        for huge in ((True, False) if i % 2 == 0 else (False, True)):  # alternate which goes first
            time.sleep(args.pause)
            t, t_sys, a = touch(nbytes, huge)
            del a
            times[huge] = (t, t_sys)
        (th, sh), (ts, ss) = times[True], times[False]
        print(f"    fresh after a pause, huge-page advice on: {th:.3f} s (sys {sh:.2f} s); off: {ts:.3f} s "
              f"(sys {ss:.2f} s); ratio {th / ts if ts else float('inf'):.1f}")


if __name__ == "__main__":
    main()
