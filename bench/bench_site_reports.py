"""Benchmark: a report for every site of a simulated province — the warm-kernel factory
(`baode-eval report --by site`) against papermill run once per site, side by side in one run.

    python bench/bench_site_reports.py                      # 150,000 households, 1,000 sites
    python bench/bench_site_reports.py --households 20000 --sites 100 --peer-sites 4

The factory writes every site's executed notebook + HTML. The peer runs
`papermill.execute_notebook` on the same site notebook for ``--peer-sites`` sites, ``--jobs`` at
a time (a new kernel, a new data load and new estimates per site: what "papermill once per
site" costs); its time for all sites is extrapolated from the sites it ran, and stated as such.
Peak memory is the resident set of this process and all its children (kernels included).
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil


class PeakRSS:
    """Peak summed RSS of this process tree, sampled every 0.2 s."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=150_000)
    ap.add_argument("--sites", type=int, default=1_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--peer-sites", type=int, default=6, help="sites the papermill peer runs (extrapolated)")
    ap.add_argument("--work", default=None, help="folder for data and reports (default: a temporary one)")
    args = ap.parse_args(argv)

    from baode_eval import paths
    from baode_eval.batch import report_by_site

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-sites-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "province.parquet"
    if not data.is_file():
        t = time.perf_counter()
        from baode_eval import cli

        cli.main(["simulate", "--households", str(args.households), "--sites", str(args.sites), "--out", str(data)])
        print(f"simulated {args.households:,} households, {args.sites:,} sites in {time.perf_counter() - t:.0f} s")

    t = time.perf_counter()
    with PeakRSS() as mem:
        summary = report_by_site(work / "factory", data=data, jobs=args.jobs, log=lambda *a: None)
    factory_s = time.perf_counter() - t
    n = len(summary.runs)
    print(f"factory : {n:,} site reports ({len(summary.failed)} failed) in {factory_s:.1f} s "
          f"on {args.jobs} kernels = {factory_s / n:.3f} s per site; peak RSS {mem.peak / 2**30:.2f} GiB")

    if args.peer_sites <= 0:
        return 0
    import papermill as pm

    sites = [r.site for r in summary.runs][: args.peer_sites]
    out = work / "papermill"
    out.mkdir(exist_ok=True)

    def one(site):
        pm.execute_notebook(str(paths.site_notebook()), str(out / f"{site}.ipynb"),
                            parameters={"site": site, "data_path": str(data)}, progress_bar=False,
                            log_output=False, cwd=str(out))
        from baode_eval.factory import export_html
        import nbformat

        export_html(nbformat.read(out / f"{site}.ipynb", as_version=4), out / f"{site}.html", code=False)

    t = time.perf_counter()
    with PeakRSS() as mem_pm, ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, sites))
    peer_s = time.perf_counter() - t
    per_site = peer_s / len(sites)
    extrapolated = per_site * n
    print(f"papermill: {len(sites)} sites in {peer_s:.1f} s, {args.jobs} at a time = {per_site:.2f} s per site; "
          f"all {n:,} sites ≈ {extrapolated:.0f} s (extrapolated); peak RSS {mem_pm.peak / 2**30:.2f} GiB")
    print(f"ratio papermill / factory: {extrapolated / factory_s:.1f}x   "
          f"(target ≥ 10x; factory target < 300 s: {'met' if factory_s < 300 else 'NOT met'})")
    print(f"ru_maxrss of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
