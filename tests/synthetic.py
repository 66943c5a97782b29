"""Small synthetic household panels with canonical column names (tests only; the real
simulator is issue 4). Deterministic through numpy's default_rng(seed)."""
import numpy as np
import pandas as pd


def households(n_sites=4, per_site=200, years=(2021, 2022, 2023), seed=0, survey=True):
    rng = np.random.default_rng(seed)
    n = n_sites * per_site
    site = np.repeat([f"S{i + 1}" for i in range(n_sites)], per_site)
    size = rng.integers(1, 7, n)
    labour = np.minimum(size, rng.integers(0, 4, n))
    rows = []
    for t, year in enumerate(years):
        employed = rng.binomial(labour, 0.9)
        stably = rng.binomial(employed, 0.8)
        kids = rng.binomial(np.maximum(size - 2, 0), 0.5)
        moved = rng.random(n) < 0.99
        wage = rng.gamma(4, 6000, n) * (employed > 0) * (1.08 ** t)
        transfer = rng.gamma(2, 800, n)
        business = rng.gamma(1.5, 1500, n)
        cost = business * 0.3
        net = wage + business - cost + transfer
        monitored = rng.random(n) < 0.02
        rows.append(pd.DataFrame({
            "household_id": [f"H{i:05d}" for i in range(n)],
            "year": year,
            "site": site,
            "household_size": size,
            "labour_members": labour,
            "employed_members": employed,
            "stably_employed_members": stably,
            "local_employed_members": rng.binomial(employed, 0.6),
            "public_welfare_job_members": rng.binomial(employed, 0.1),
            "workshop_job_members": rng.binomial(employed, 0.1),
            "trained_members": rng.binomial(labour, 0.3),
            "wage_income": wage, "business_income": business, "business_cost": cost,
            "property_income": 0.0, "transfer_income": transfer, "net_income": net,
            "per_capita_net_income": net / size,
            "medical_insured_members": size, "medical_should_enrol_members": size,
            "serious_illness_insured_members": rng.binomial(size, 0.95),
            "family_doctor_signed": rng.random(n) < 0.9,
            "inpatient_eligible_cost": rng.gamma(1, 3000, n) * (rng.random(n) < 0.2),
            "children_6_15": kids, "children_6_15_in_school": kids,
            "elders_in_need": rng.binomial(1, 0.2, n), "elders_served": 0,
            "moved_in": moved,
            "months_at_site": np.where(moved, rng.integers(3, 13, n), 0),
            "returned_to_origin": moved & (rng.random(n) < 0.01),
            "old_house_due": True, "old_house_demolished": rng.random(n) < 0.95,
            "property_certificate": rng.random(n) < 0.97,
            "integ_like_place": rng.integers(1, 5, n), "integ_willing_fit_in": rng.integers(2, 5, n),
            "integ_locals_accept": rng.integers(1, 5, n), "integ_feel_local": rng.integers(1, 5, n),
            "community_activities": rng.poisson(3, n), "voted_in_election": rng.random(n) < 0.7,
            "monitoring_category": np.where(monitored, "脱贫不稳定户", None),
            "risk_cleared": np.where(monitored, rng.random(n) < 0.6, None),
        }))
        rows[-1]["inpatient_reimbursed"] = rows[-1]["inpatient_eligible_cost"] * 0.9
        rows[-1]["elders_served"] = rng.binomial(rows[-1]["elders_in_need"], 0.5)
    d = pd.concat(rows, ignore_index=True)
    if survey:
        # two villages (PSUs) per stratum = site; the same PSUs every year (a panel)
        d["stratum"] = d["site"]
        d["psu"] = d["site"] + "-" + (d["household_id"].str[-1].astype(int) % 4).astype(str)
        d["weight"] = 5.0
    return d
