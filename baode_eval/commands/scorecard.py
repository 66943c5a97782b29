"""``baode-eval scorecard PATH``: every indicator per site x year with CIs, targets and verdicts."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "scorecard",
        help="indicator scorecard (estimates, CIs, targets, verdicts) from canonical household data",
        description="Estimate every indicator of a goal framework per domain from a canonical CSV or "
        "Parquet file; survey design from the weight/stratum/psu/fpc columns when present (else census).",
    )
    p.add_argument("path", metavar="PATH", help="canonical household data (.csv or .parquet)")
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
    return p


def main(args) -> int:
    from ..scorecard import build, read_table

    data = read_table(args.path)
    by = [c.strip() for c in args.by.split(",") if c.strip()]
    card = build(data, args.framework, by=by, level=args.level, lang=args.lang, design=args.design)
    print(card.summary())
    if args.out:
        path = card.write(args.out)
        print(f"-> {path}")
    else:
        cols = [*by, "indicator", "estimate", "ci_low", "ci_high", "n", "target", "verdict"]
        print(card.tidy()[cols].to_string(index=False, max_rows=60))
    return 0
