"""Registry scale: ~30 M households x 8 years (~240 M rows) scored out-of-core (not run in tests).

    python bench/bench_registry.py generate --out /tmp/registry            # ~30 M households, Parquet
    python bench/bench_registry.py score --data /tmp/registry              # dask, duckdb, pandas side by side
    python bench/bench_registry.py generate --out /tmp/reg3 --households 3000000 --regions 2   # quick

`generate` writes the registry region by region with the simulator (`region=r`: independent
random streams, distinct household IDs, sites, counties and PSUs), one Parquet file per region
in one directory, so that no step holds more than one region in memory. Relocated households
only (`comparison=0`): the registry of the monitoring system is a census of them.

`score` runs `scorecard.build_from_parquet` (all indicators of the default framework by site x
year, census mode) once per engine, each in a fresh child process, and records wall time and
the peak resident memory of that process *and all its children* (Dask workers), sampled every
0.2 s, so the engines are measured side by side on the same files in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def _tree_rss(proc) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(cmd: list[str], log) -> dict:
    """Run ``cmd``; wall time and peak RSS of its process tree (sampled every 0.2 s)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(ps))
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out = []
    for line in proc.stdout:
        out.append(line)
        log(line.rstrip())
    rc = proc.wait()
    done.set()
    th.join()
    return {"returncode": rc, "wall_s": time.perf_counter() - t0, "peak_rss_gib": peak / 2**30, "output": "".join(out)}


def generate(args) -> int:
    from baode_eval.simulate import parse_years, write_simulation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per = [args.households // args.regions + (1 if r < args.households % args.regions else 0)
           for r in range(args.regions)]
    sites = [max(1, round(args.sites * n / args.households)) for n in per]
    t0 = time.perf_counter()
    rows = 0
    for r, (n, s) in enumerate(zip(per, sites)):
        path = out / f"region-{r:03d}.parquet"
        if path.exists() and not args.overwrite:
            print(f"region {r}: {path} exists, kept", flush=True)
            continue
        t = time.perf_counter()
        tmp = path.with_name(path.name + ".partial")  # not *.parquet: readers skip it until complete
        summary = write_simulation(tmp, format="parquet", households=n, sites=s, comparison=0,
                                   years=parse_years(args.years), seed=args.seed, region=r)
        tmp.replace(path)
        for side in (".truth.csv", ".params.json"):  # keep the truth/params beside, outside the dataset glob
            src = tmp.with_name(tmp.stem + side)
            if src.exists():
                src.replace(out / f"region-{r:03d}{side}")
        rows += summary["rows"]
        print(f"region {r}: {n:,} households, {s:,} sites, {summary['rows']:,} rows, "
              f"{time.perf_counter() - t:.0f} s", flush=True)
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    print(f"generated {rows:,} rows in {time.perf_counter() - t0:.0f} s; Parquet {size / 2**30:.2f} GiB in {out}")
    return 0


def score_one(args) -> int:
    """Child process: one engine, prints one JSON line with the phase timings."""
    from baode_eval import scorecard

    kw = {}
    if args.engine == "dask":
        kw["scheduler"] = args.scheduler
    if args.engine == "duckdb":
        import duckdb

        con = duckdb.connect(config={"memory_limit": args.duckdb_memory, "preserve_insertion_order": False})
        kw["connection"] = con
    t0 = time.perf_counter()
    card = scorecard.build_from_parquet(args.data, by=tuple(args.by.split(",")), engine=args.engine, lang="en", **kw)
    t1 = time.perf_counter()
    tidy = card.tidy()
    print(json.dumps({"engine": args.engine, "scorecard_s": t1 - t0, "rows_out": len(tidy),
                      "phase1_s": card.timings.get("phase1_s"), "phase2_s": card.timings.get("phase2_s"),
                      "verdicts": tidy["verdict"].value_counts().to_dict()}), flush=True)
    if args.save:
        tidy.to_parquet(args.save)
    return 0


def score(args) -> int:
    from baode_eval.scale import ParquetSource

    src = ParquetSource(args.data)
    size = sum(Path(f).stat().st_size for f in src.files)
    print(f"data: {len(src.files)} files, {src.num_rows():,} rows, Parquet {size / 2**30:.2f} GiB; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    saved = {}
    for spec in args.engines.split(","):
        engine, _, sched = spec.partition("@")  # dask@local: the engine on that scheduler
        cmd = [sys.executable, __file__, "_score-one", "--data", args.data, "--engine", engine, "--by", args.by,
               "--scheduler", sched or args.scheduler, "--duckdb-memory", args.duckdb_memory]
        if args.compare:
            saved[spec] = str(Path(args.compare) / f"tidy-{spec.replace('@', '-')}.parquet")
            cmd += ["--save", saved[spec]]
        print(f"== {engine}: {' '.join(cmd[2:])}", flush=True)
        res = run_measured(cmd, log=lambda line: print("   " + line, flush=True))
        info = {}
        for line in res["output"].splitlines():
            if line.startswith("{"):
                info = json.loads(line)
        results.append({**info, "engine": spec, "ok": res["returncode"] == 0, "wall_s": round(res["wall_s"], 1),
                        "peak_rss_gib": round(res["peak_rss_gib"], 2)})
        print(f"   -> exit {res['returncode']}, wall {res['wall_s']:.1f} s, peak RSS (process tree) "
              f"{res['peak_rss_gib']:.2f} GiB", flush=True)
    print(json.dumps(results, indent=1, default=str))
    if args.compare and len(saved) > 1:
        import numpy as np
        import pandas as pd

        frames = {e: pd.read_parquet(p) for e, p in saved.items() if Path(p).exists()}
        base_engine, base = next(iter(frames.items()))
        for e, f in frames.items():
            if e == base_engine:
                continue
            worst = 0.0
            for col in ("estimate", "std_error", "ci_low", "ci_high"):
                a, b = base[col].to_numpy(np.float64), f[col].to_numpy(np.float64)
                both = ~(np.isnan(a) & np.isnan(b))
                worst = max(worst, float(np.nanmax(np.abs(a[both] - b[both]) / np.maximum(np.abs(a[both]), 1e-300))))
            va = base["verdict"].astype(object).where(base["verdict"].notna(), "-").to_numpy()
            vb = f["verdict"].astype(object).where(f["verdict"].notna(), "-").to_numpy()
            print(f"{e} vs {base_engine}: max relative difference {worst:.2e}, "
                  f"verdicts that differ: {int((va != vb).sum())} of {len(va):,}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write the registry (one Parquet file per region)")
    g.add_argument("--out", required=True)
    g.add_argument("--households", type=int, default=30_000_000)
    g.add_argument("--regions", type=int, default=12)
    g.add_argument("--sites", type=int, default=30_000, help="sites in all (spread over regions)")
    g.add_argument("--years", default="2017-2024")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--overwrite", action="store_true")
    s = sub.add_parser("score", help="score the registry with each engine in turn")
    s.add_argument("--data", required=True)
    s.add_argument("--engines", default="pandas,dask,dask@local,duckdb",
                   help="comma-separated; dask@SCHEDULER runs Dask on that scheduler (local = a LocalCluster)")
    s.add_argument("--by", default="site,year")
    s.add_argument("--scheduler", default="threads", help="dask scheduler: threads, processes, local or tcp://...")
    s.add_argument("--duckdb-memory", default="8GB", help="DuckDB memory_limit")
    s.add_argument("--compare", default=None, metavar="DIR", help="save each tidy table in DIR and compare them")
    o = sub.add_parser("_score-one")
    o.add_argument("--data", required=True)
    o.add_argument("--engine", required=True)
    o.add_argument("--by", default="site,year")
    o.add_argument("--scheduler", default="threads")
    o.add_argument("--duckdb-memory", default="8GB")
    o.add_argument("--save", default=None)
    args = p.parse_args(argv)
    return {"generate": generate, "score": score, "_score-one": score_one}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
