"""``baode-eval report --by site``: one executed, parameterised report per site, in parallel."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="one report per site (executed notebook + HTML), in parallel, with an index sorted by verdicts",
        description="Run the site notebook once per site on warm kernels and write DIR/index.html (sites sorted "
        "by verdicts), DIR/results.json and DIR/sites/. Exit status 1 if any site failed (the others still "
        "run), 2 for bad input.",
    )
    p.add_argument("--by", required=True, choices=["site"], help="what to make one report per (site)")
    p.add_argument("--data", metavar="PATH", help="household data file (default: the bundled Baode data)")
    p.add_argument("--out", metavar="DIR", default="reports/by-site", help="output folder (default: reports/by-site)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel kernels (default: the number of CPU cores)")
    p.add_argument("--params", metavar="FILE", help="YAML/JSON file of site-notebook parameters (year, level, ...)")
    p.add_argument("--lang", choices=["zh", "en"], help="report language (default zh)")
    p.add_argument("--sites", metavar="NAMES", help="comma-separated subset of sites (default: every site)")
    p.add_argument("--notebook", metavar="FILE", help="a different site notebook (must declare a 'site' parameter)")
    p.add_argument("--timeout", type=int, default=300, help="seconds allowed per notebook cell (default 300)")
    p.add_argument("--code", action="store_true", help="also write each report's HTML with code")
    p.add_argument("--no-excel", action="store_true", help="do not write each site's Excel scorecard")
    return p


def main(args) -> int:
    from ..batch import report_by_site
    from ..runner import load_params_file

    sites = [s.strip() for s in args.sites.split(",") if s.strip()] if args.sites else None
    summary = report_by_site(args.out, data=args.data, params=load_params_file(args.params), lang=args.lang,
                             jobs=args.jobs, sites=sites, notebook=args.notebook, timeout=args.timeout,
                             code_html=args.code, excel=not args.no_excel)
    failed = summary.failed
    print(f"{len(summary.runs) - len(failed)} of {len(summary.runs)} site reports ok in {summary.seconds:.0f} s "
          f"-> {summary.out_dir / 'index.html'}")
    if failed:
        print(f"failed: {', '.join(r.site for r in failed[:20])}{' …' if len(failed) > 20 else ''}")
    return summary.exit_code
