"""National-size generation: time and peak memory of `write_simulation` (not run in tests).

    python bench/bench_simulate.py                       # 2.66 M relocated households, 35,000 sites, 2018-2024
    python bench/bench_simulate.py --households 200000   # smaller

Peak memory is the process's maximum resident set size (ru_maxrss), which includes the
interpreter and imported libraries.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--households", type=int, default=2_660_000)
    p.add_argument("--sites", type=int, default=35_000)
    p.add_argument("--years", default="2018-2024")
    p.add_argument("--comparison", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="blocks generated concurrently (default: CPUs, <= 4)")
    p.add_argument("--out", default=None, help="Parquet file (default: a temporary file, removed afterwards)")
    args = p.parse_args(argv)

    from baode_eval.simulate import parse_years, write_simulation

    load = os.getloadavg()[0]  # other work on the machine inflates the wall time
    tmp = None
    out = args.out
    if out is None:
        tmp = tempfile.TemporaryDirectory()
        out = str(Path(tmp.name) / "national.parquet")
    t0 = time.perf_counter()
    c0 = time.process_time()
    summary = write_simulation(out, households=args.households, sites=args.sites, years=parse_years(args.years),
                               comparison=args.comparison, seed=0, threads=args.threads)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux
    size = Path(out).stat().st_size / 1e6
    print(f"households={args.households:,} sites={args.sites:,} years={args.years} rows={summary['rows']:,}")
    print(f"time {elapsed:.1f} s (CPU {cpu:.1f} s, load average before {load:.1f})   peak RSS {peak:,.0f} MB   "
          f"parquet {size:,.0f} MB")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
