"""Benchmark: TWFE (household + year fixed effects, SEs clustered by household) and a TWFE event
study on a large simulated panel — baode_eval.impact vs linearmodels and pyfixest.

Each run happens in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own;
data generation is inside every run and timed separately. Peers are optional (``pip install
pyfixest linearmodels``); missing ones are reported as such.

    python bench/bench_impact.py                        # 150,000 households x 10 years
    python bench/bench_impact.py --households 2660000 --years 7   # national size (~19 M rows)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

RUNNER = textwrap.dedent(r'''
import json, resource, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
tool, task, n, T = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
rng = np.random.default_rng(1)
g = rng.choice(np.array([0, 3, 4, 5, 6]), size=n, p=[0.4, 0.15, 0.15, 0.15, 0.15])
t = np.tile(np.arange(1, T + 1), n)
gg = np.repeat(g, T)
d = ((gg > 0) & (t >= gg)).astype(np.float64)
y = np.repeat(rng.normal(size=n), T) + 0.1 * t + (0.5 + 0.1 * np.maximum(t - gg, 0)) * d + rng.normal(size=n * T)
df = pd.DataFrame({"hh": np.repeat(np.arange(n), T), "year": t, "g": gg, "d": d, "y": y})
if task == "event":
    rel = np.where(gg > 0, np.clip(t - gg, -3, 3), -99)
    names = []
    for e in range(-3, 4):
        if e != -1:
            c = f"e{e}".replace("-", "m")
            df[c] = (rel == e).astype(np.float64)
            names.append(c)
t_data = time.perf_counter() - t0
t1 = time.perf_counter()
if tool == "baode_eval":
    from baode_eval import impact
    if task == "twfe":
        r = impact.twfe(df, yname="y", dname="d", idname="hh", tname="year")
        est, se = r.overall["estimate"], r.overall["std_error"]
    else:
        r = impact.event_study(df, yname="y", idname="hh", tname="year", gname="g", method="twfe", leads=3, lags=3)
        row = r.tidy().set_index("term").loc["event_time=0"]
        est, se = row["estimate"], row["std_error"]
elif tool == "pyfixest":
    import pyfixest as pf
    rhs = "d" if task == "twfe" else " + ".join(names)
    f = pf.feols(f"y ~ {rhs} | hh + year", data=df, vcov={"CRV1": "hh"})
    key = "d" if task == "twfe" else "e0"
    est, se = float(f.coef()[key]), float(f.se()[key])
elif tool == "linearmodels":
    from linearmodels.panel import PanelOLS
    p = df.set_index(["hh", "year"])
    cols = ["d"] if task == "twfe" else names
    m = PanelOLS(p["y"], p[cols], entity_effects=True, time_effects=True)
    f = m.fit(cov_type="clustered", cluster_entity=True)
    key = "d" if task == "twfe" else "e0"
    est, se = float(f.params[key]), float(f.std_errors[key])
t_fit = time.perf_counter() - t1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tool": tool, "task": task, "rows": n * T, "data_s": t_data, "fit_s": t_fit,
                  "peak_mb": peak, "estimate": est, "std_error": se}))
''')


def run(tool, task, n, years):
    proc = subprocess.run([sys.executable, "-c", RUNNER, tool, task, str(n), str(years)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"tool": tool, "task": task, "error": last[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=150_000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--tools", default="baode_eval,pyfixest,linearmodels")
    args = ap.parse_args(argv)
    print(f"panel: {args.households:,} households x {args.years} years = {args.households * args.years:,} rows; "
          "household + year fixed effects; SEs clustered by household")
    print(f"{'task':6} {'tool':13} {'fit s':>8} {'peak MB':>9} {'estimate':>12} {'std.error':>12}")
    results = []
    for task in ("twfe", "event"):
        for tool in args.tools.split(","):
            r = run(tool, task, args.households, args.years)
            results.append(r)
            if "error" in r:
                print(f"{task:6} {tool:13} unavailable: {r['error']}")
            else:
                print(f"{task:6} {tool:13} {r['fit_s']:8.2f} {r['peak_mb']:9.0f} {r['estimate']:12.6f} {r['std_error']:12.6f}")
        base = next((r for r in results if r.get("tool") == "baode_eval" and r["task"] == task and "error" not in r), None)
        for r in results:
            if r["task"] == task and "error" not in r and base and r["tool"] != "baode_eval":
                print(f"       {r['tool']}/baode_eval: time x{r['fit_s'] / base['fit_s']:.2f}, "
                      f"memory x{r['peak_mb'] / base['peak_mb']:.2f}, "
                      f"|d estimate| {abs(r['estimate'] - base['estimate']):.1e}, |d se| {abs(r['std_error'] - base['std_error']):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
