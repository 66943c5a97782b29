"""``baode-eval simulate``: a synthetic household panel with known effects (see docs/simulator.md)."""
from __future__ import annotations

import argparse

from ..errors import ParameterError


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {value}")
        return value

    return parse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate",
        help="write a synthetic household panel with known effects (and its truth beside it)",
        description="Simulate relocated and comparison households (default: Baode County, 4 sites, "
        "2,166 relocated households, 2014-2024). Writes PATH, PATH-stem.truth.csv and PATH-stem.params.json.",
    )
    p.add_argument("--out", metavar="PATH", required=True, help="output file (.parquet, .csv or .xlsx)")
    p.add_argument("--households", type=_positive_int("--households"), help="relocated households (default 2166)")
    p.add_argument("--comparison", type=_positive_int("--comparison"),
                   help="comparison (not relocated) households (default: half of --households)")
    p.add_argument("--sites", type=_positive_int("--sites"), help="resettlement sites (default 4)")
    p.add_argument("--seed", type=_positive_int("--seed"), default=0, help="random seed (default 0)")
    p.add_argument("--years", default="2014-2024", metavar="A-B", help="first-last year (default 2014-2024)")
    p.add_argument("--format", choices=["parquet", "csv", "xlsx"], help="default: from the suffix of --out")
    p.add_argument("--lang", choices=["en", "zh"], default="en",
                   help="en: canonical column names (default); zh: realistic export (Chinese headers, 是/否, GBK csv)")
    p.add_argument("--mode", choices=["census", "survey"], default="census", help="census (default) or survey sample")
    p.add_argument("--level", choices=["household", "person"], default="household", help="row unit (default household)")
    p.add_argument("--region", type=_positive_int("--region"), default=None, metavar="R",
                   help="one region (0, 1, ...) of a registry simulated in pieces: independent random streams, "
                   "names and household IDs prefixed 区域{R+1:03d}- (default: none)")
    p.add_argument("--personal", action="store_true",
                   help="add synthetic names, ID numbers and phones (for reader tests; never commit the output)")
    return p


def main(args) -> int:
    from ..simulate import parse_years, write_simulation

    fmt = args.format
    if fmt is None:
        suffix = args.out.rsplit(".", 1)[-1].lower() if "." in args.out else ""
        if suffix not in ("parquet", "csv", "xlsx"):
            raise ParameterError(f"cannot tell the format from {args.out!r}: give --format parquet|csv|xlsx")
        fmt = suffix
    summary = write_simulation(
        args.out, format=fmt, lang=args.lang, personal=args.personal, households=args.households,
        comparison=args.comparison, sites=args.sites, seed=args.seed, years=parse_years(args.years),
        mode=args.mode, level=args.level, region=args.region,
    )
    print(f"{summary['rows']:,} rows -> {summary['path']} (truth: {summary['truth']})")
    return 0
