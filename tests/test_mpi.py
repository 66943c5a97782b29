"""Alkire-Foster M0 against the worked example of Alkire & Foster (2011), and its SEs against
the survey module (M0 is a weighted mean, so its SE must equal survey.estimate's)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from baode_eval import mpi, survey
from baode_eval.errors import ParameterError
from synthetic import households

REF = yaml.safe_load((Path(__file__).parent / "reference" / "alkire_foster_2011.yaml").read_text(encoding="utf-8"))


def _example():
    a = REF["achievements"]
    y = pd.DataFrame(a["rows"], columns=a["columns"])
    g = (y < pd.Series(a["cutoffs"], index=a["columns"])).astype(int)
    return g


def test_worked_example_deprivation_matrix():
    g = _example()
    assert g.to_numpy().tolist() == REF["deprivation_matrix"]
    assert g.sum(axis=1).tolist() == REF["counts"]


@pytest.mark.parametrize("kdim", [1, 2, 4])
def test_worked_example(kdim):
    g = _example()
    out = mpi.alkire_foster(g, weights={c: 0.25 for c in g.columns}, k=kdim / 4).set_index("term")
    want = REF[f"k{kdim}"]
    for term in ("H", "A", "M0"):
        assert out.loc[term, "estimate"] == pytest.approx(want[term], abs=1e-12)
        assert out.loc[term, "std_error"] == 0  # census mode
    if kdim == 2:
        for dim, share in REF["k2_contributions"].items():
            assert out.loc[f"contribution:{dim}", "estimate"] == pytest.approx(share, abs=1e-12)


def test_goal_contributions_add_up_and_ses_match_survey():
    d = households(seed=3)
    g, w = mpi.household_deprivations(d)
    assert set(w) == {"stable", "employed", "prosperous", "integrated"}
    assert sum(sum(v.values()) for v in w.values()) == pytest.approx(1.0)
    frame = pd.concat([g.fillna(0), d[["site", "year", "weight", "stratum", "psu"]]], axis=1)
    out = mpi.alkire_foster(frame, weights=w, k=1 / 3, sample_weights="weight", strata="stratum", psu="psu",
                            by="year")
    y22 = out[out["year"] == 2022].set_index("term")
    goals = y22.loc[[f"contribution:{goal}" for goal in w], "estimate"].sum()
    assert goals == pytest.approx(1.0)
    flat = {i: v for inner in w.values() for i, v in inner.items()}
    c = frame[list(flat)].to_numpy() @ np.array(list(flat.values()))
    frame["m0_i"] = c * (c >= 1 / 3 - 1e-12)
    ref = survey.estimate(frame, "m0_i", weights="weight", strata="stratum", psu="psu", by="year")
    ref = ref[ref["year"] == 2022].iloc[0]
    assert y22.loc["M0", "estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    assert y22.loc["M0", "std_error"] == pytest.approx(ref["std_error"], rel=1e-10)
    assert y22.loc["M0", "std_error"] > 0


def test_weights_must_sum_to_one():
    with pytest.raises(ParameterError, match="sum to 1"):
        mpi.alkire_foster(_example(), weights={"income": 0.5, "schooling": 0.2}, k=0.5)
    with pytest.raises(ParameterError, match=r"k must be in \(0, 1\]"):
        mpi.alkire_foster(_example(), weights={c: 0.25 for c in _example().columns}, k=2)
