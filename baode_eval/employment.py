"""Employment of relocated labour (goal 有就业): which framework indicators a report shows where,
and the in-county / outside-county split of employed members.

Estimates, intervals and verdicts come from the indicator engine
(:func:`baode_eval.scorecard.build_available` on the framework's ``employed`` goal); nothing here
re-estimates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .i18n import check_lang

GOAL = "employed"
# Headline indicators (targets) and the job-mix indicators, by id in the goal framework.
COVERAGE = ("labour_households_employed", "labour_employment_rate", "stable_employment_rate", "training_coverage")
JOB_MIX = ("local_employment_share", "public_welfare_job_share", "workshop_job_share")
LOCAL = "local_employment_share"
OUTSIDE = "outside_county_share"
_OUTSIDE_LABEL = {"zh": "县外务工占比", "en": "Employed members working outside the county"}


def with_outside_county(tidy: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """``tidy`` (scorecard rows) plus, for every domain with ``local_employment_share``, a row
    ``outside_county_share`` = 1 - local share (migrant work: employed members working outside the
    county), its interval mirrored, no target. The input is not modified."""
    check_lang(lang)
    local = tidy[tidy["indicator"].astype(str) == LOCAL]
    if local.empty:
        return tidy.copy()
    out = local.copy()
    for c in ("indicator", "label", "direction", "verdict", "target_status", "target_source"):
        if c in out.columns:
            out[c] = out[c].astype(object)
    out["indicator"] = OUTSIDE
    out["label"] = _OUTSIDE_LABEL[lang]
    out["estimate"] = 1.0 - local["estimate"].to_numpy(float)
    out["ci_low"] = 1.0 - local["ci_high"].to_numpy(float)
    out["ci_high"] = 1.0 - local["ci_low"].to_numpy(float)
    out["target"] = np.nan
    for c in ("direction", "verdict", "target_status", "target_source"):
        if c in out.columns:
            out[c] = None
    base = tidy.copy()
    for c in ("indicator", "label", "direction", "verdict", "target_status", "target_source"):
        if c in base.columns:
            base[c] = base[c].astype(object)
    return pd.concat([base, out], ignore_index=True)
