"""``baode-eval scorecard PATH``: every indicator per site x year with CIs, targets and verdicts."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "scorecard",
        help="indicator scorecard (estimates, CIs, targets, verdicts) from canonical household data",
        description="Estimate every indicator of a goal framework per domain from a canonical CSV file or "
        "Parquet data (a file, a directory of files, hive-partitioned or not, or a glob; read lazily); survey "
        "design from the weight/stratum/psu/fpc columns when present (else census).",
    )
    p.add_argument("path", metavar="PATH",
                   help="canonical household data: .csv, or Parquet file / directory / glob (quote the glob)")
    p.add_argument("--by", default="site,year", metavar="COLS",
                   help="comma-separated domain columns (default: site,year; '' for one overall domain)")
    p.add_argument("--framework", metavar="FILE", default=None,
                   help="framework YAML or bundled name (default: baode_four_goals)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="output .csv, .xlsx, .json or .html (default: print a summary and the table)")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="label language (default zh)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--design", choices=["auto", "census", "survey"], default="auto",
                   help="auto: survey design if a weight column has values, else census")
    p.add_argument("--engine", choices=["pandas", "numba", "dask", "duckdb", "numpy"], default="pandas",
                   help="where phase 1 (sums over rows) runs: pandas (this process, Parquet streamed in blocks; "
                   "numpy is the same), numba (the same, the framework compiled into one loop on all cores; "
                   "needs the fast extra), dask (Parquet partitions on a Dask scheduler), duckdb (one GROUP BY); "
                   "default pandas")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="with --engine dask: a running cluster's scheduler (tcp://host:8786), or threads (default), "
                   "processes, local (a LocalCluster on this machine)")
    p.add_argument("--scheduler-timeout", type=float, default=None, metavar="SECONDS",
                   help="seconds to wait for --scheduler (default 10)")
    return p


def main(args) -> int:
    from pathlib import Path

    from ..errors import ParameterError
    from ..scorecard import build, build_from_parquet, read_table

    by = [c.strip() for c in args.by.split(",") if c.strip()]
    if args.scheduler is not None and args.engine != "dask":
        raise ParameterError(f"--scheduler is for --engine dask, not --engine {args.engine}")
    options = dict(by=by, level=args.level, lang=args.lang, design=args.design, engine=args.engine,
                   scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout)
    if Path(args.path).suffix.lower() in (".csv", ".txt"):
        card = build(read_table(args.path), args.framework, **options)
    else:
        card = build_from_parquet(args.path, args.framework, **options)
    print(card.summary())
    if args.out:
        path = card.write(args.out)
        print(f"-> {path}")
    else:
        cols = [*by, "indicator", "estimate", "ci_low", "ci_high", "n", "target", "verdict"]
        print(card.tidy()[cols].to_string(index=False, max_rows=60))
    return 0
