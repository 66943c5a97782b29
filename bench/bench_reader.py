"""Reader speed: the row-by-row reader (frozen as ``_io_reference``) against the column-wise one.

    python bench/bench_reader.py                          # bundled panel + a simulated province
    python bench/bench_reader.py --households 20000       # a smaller province
    python bench/bench_reader.py --old-rows all           # old reader on the whole province too (~6 GB per M rows)

In one run, for each file: the old reader, the new reader and, for scale, plain pandas
(``pd.read_parquet`` / ``pd.read_csv``, which only parse: no codebook, no rules, no privacy).

* the bundled synthetic Baode panel (Parquet, 35,739 rows): old and new on the whole file;
* a province simulated like ``baode-eval simulate --households 150000 --sites 1000
  --comparison 0 --years 2016-2024`` (150,000 households x 9 years = 1.35 M rows), as Parquet
  and as CSV (``--format csv``): the new reader on the whole file; old and new on its first
  ``--old-rows`` rows (default 200,000 — the old reader needs about 6 GB and 2-3 minutes per
  million rows), where the ratio is taken.

Times are the best of ``--repeat`` runs (wall clock; the machine may be shared, so the CPU
time of the same run and the load average are printed too). Peak RSS is the process's.
The simulated files are written to ``--workdir`` (default: a temporary folder) and reused
if they exist there.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def best_of(fn, repeat: int):
    """(wall seconds, CPU seconds) of the fastest of ``repeat`` runs, and its result."""
    best = None
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        if best is None or wall < best[0]:
            best = (wall, cpu)
        del result
    return best


def head_csv(src: Path, dst: Path, rows: int) -> None:
    """The header and the first ``rows`` records of a CSV without quoted line breaks (the simulator's)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for i, line in enumerate(fin):
            if i > rows:
                break
            fout.write(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--households", type=int, default=150_000)
    p.add_argument("--sites", type=int, default=1_000)
    p.add_argument("--years", default="2016-2024")
    p.add_argument("--comparison", type=int, default=0)
    p.add_argument("--old-rows", default="200000", help="rows of the province the old reader reads, or 'all'")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default=None)
    p.add_argument("--skip-csv", action="store_true")
    args = p.parse_args(argv)

    import pandas as pd

    import baode_eval
    from baode_eval import paths
    from baode_eval._io_reference import _read_reference
    from baode_eval.simulate import parse_years, write_simulation

    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    work = Path(tmp.name if tmp else args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    stem = f"province_{args.households}_{args.sites}_{args.years}_{args.comparison}"
    files = {"parquet": work / f"{stem}.parquet", "csv": work / f"{stem}.csv"}
    for fmt, path in files.items():
        if fmt == "csv" and args.skip_csv:
            continue
        if not path.exists():
            print(f"simulating {path.name} ...", flush=True)
            write_simulation(path, format=fmt, households=args.households, sites=args.sites,
                             years=parse_years(args.years), comparison=args.comparison, seed=0)

    baode_eval.read(paths.synthetic_households())   # load the codebook once, outside the timings
    rows = []   # (file, rows, plain pandas, old, new)

    def line(name, n, peer, old, new):
        ratio = f"{old[0] / new[0]:6.1f}x" if old else "      -"
        cell = lambda t: f"{t[0]:8.2f} ({t[1]:6.2f})" if t else f"{'-':>8}{'':9}"   # noqa: E731
        print(f"{name:<34}{n:>11,}  {cell(peer)}  {cell(old)}  {cell(new)}  {ratio}", flush=True)
        rows.append((name, n, peer, old, new))

    print(f"load average {os.getloadavg()[0]:.1f}; seconds, best of {args.repeat} (CPU seconds of that run)")
    print(f"{'file':<34}{'rows':>11}  {'plain pandas':>17}  {'old reader':>17}  {'new reader':>17}  {'old/new':>7}")

    bundled = paths.synthetic_households()
    n = len(pd.read_parquet(bundled))
    line("bundled panel (Parquet)", n, best_of(lambda: pd.read_parquet(bundled), args.repeat),
         best_of(lambda: _read_reference(bundled), args.repeat), best_of(lambda: baode_eval.read(bundled), args.repeat))

    old_rows = None if args.old_rows == "all" else int(args.old_rows)
    for fmt, path in files.items():
        if fmt == "csv" and args.skip_csv:
            continue
        plain = (lambda p=path: pd.read_parquet(p)) if fmt == "parquet" else (lambda p=path: pd.read_csv(p))
        n = len(pd.read_parquet(path)) if fmt == "parquet" else sum(1 for _ in open(path, "rb")) - 1
        if old_rows is not None and old_rows < n:
            part = work / f"{stem}.head{old_rows}.{fmt}"
            if fmt == "parquet":
                pd.read_parquet(path).iloc[:old_rows].to_parquet(part)
            else:
                head_csv(path, part, old_rows)
            line(f"province, first rows ({fmt})", old_rows, best_of(lambda p=part: pd.read_parquet(p) if fmt == "parquet"
                                                                      else pd.read_csv(p), args.repeat),
                 best_of(lambda p=part: _read_reference(p), 1), best_of(lambda p=part: baode_eval.read(p), args.repeat))
            line(f"province ({fmt})", n, best_of(plain, args.repeat), None,
                 best_of(lambda p=path: baode_eval.read(p), args.repeat))
        else:
            line(f"province ({fmt})", n, best_of(plain, args.repeat), best_of(lambda p=path: _read_reference(p), 1),
                 best_of(lambda p=path: baode_eval.read(p), args.repeat))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB; the old reader is timed once on the province (minutes)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
