"""Regenerate the bundled synthetic Baode panel: data/synthetic/ (see its README).

    python tools/make_synthetic.py

Equivalent to ``baode-eval simulate --out data/synthetic/baode_households.parquet --seed 0``
with the truth and parameter files renamed to baode_truth.csv and baode_params.json.
tests/test_simulate.py checks that the committed files equal a fresh regeneration.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from baode_eval import paths
from baode_eval.simulate import params_path, truth_path, write_simulation

SEED = 0


def main() -> int:
    out = paths.synthetic_households()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_simulation(out, format="parquet", lang="en", seed=SEED)
    os.replace(truth_path(out), paths.synthetic_truth())
    os.replace(params_path(out), out.parent / "baode_params.json")
    for p in sorted(Path(out.parent).glob("baode_*")):
        print(f"{p.stat().st_size:>10,}  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
