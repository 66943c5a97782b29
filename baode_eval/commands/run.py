"""``baode-eval run``: all report notebooks on the given data -> DIR/index.html and friends."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run every report notebook and write HTML, executed notebooks, results.json and index.html",
        description="Execute the report notebooks headless (papermill) and write the report folder. "
        "Exit status 1 if any notebook failed (the others still run), 2 for bad input.",
    )
    p.add_argument("--data", metavar="PATH", help="household data file (default: the bundled Baode data)")
    p.add_argument("--params", metavar="FILE", help="YAML/JSON file of notebook parameters")
    p.add_argument("--lang", choices=["zh", "en"], help="report language (default: each notebook's own, zh)")
    p.add_argument("--out", metavar="DIR", default="reports", help="output folder (default: reports/)")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per notebook cell (default 900)")
    return p


def main(args) -> int:
    from ..runner import load_params_file, run

    summary = run(
        args.out, data=args.data, params=load_params_file(args.params), lang=args.lang, timeout=args.timeout
    )
    failed = [r.name for r in summary.runs if r.status != "ok"]
    print(f"{len(summary.runs) - len(failed)} of {len(summary.runs)} notebooks ok -> {summary.out_dir / 'index.html'}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return summary.exit_code
