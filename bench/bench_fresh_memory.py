"""How much memory a process touches for the first time costs on this machine, side by side
with memory it freed a moment before (not run in tests).

    python bench/bench_fresh_memory.py            # 440 MB, the size of the national cell table
    python bench/bench_fresh_memory.py --mb 100 --pause 5

On virtual machines whose kernel reports freed pages back to the host (``dmesg``: "Free page
reporting enabled"), pages the process has not used recently are faulted in again from the
host, which shows up as system time. The scorecard benchmark's first run per process pays
this for its ~1 GB of results; DuckDB's small result does not.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def touch(nbytes: int) -> tuple[float, float, np.ndarray]:
    before, t0 = os.times(), time.perf_counter()
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


if __name__ == "__main__":
    main()
