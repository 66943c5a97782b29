"""Services and integration (goal 可融入): the answer shares of the integration items, and which
indicators a report shows where.

Coverage rates, intervals and verdicts come from the indicator engine
(:func:`baode_eval.scorecard.build_available` on the framework's ``integrated`` goal, plus the
residence indicators of the ``stable`` goal); nothing here re-estimates them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import schema
from .i18n import check_lang

GOAL = "integrated"
# Living at the site is part of integration in practice; the framework files it under "stable".
RESIDENCE = ("actual_residence_rate", "return_rate")
# CMDS-style four-point items behind the integration index (data/codebook/schema.yaml).
ITEMS = ("integ_like_place", "integ_willing_fit_in", "integ_locals_accept", "integ_feel_local")
SCALE = (1, 2, 3, 4)


def likert_shares(data: pd.DataFrame, items: Sequence[str] = ITEMS, *, weights: str | None = None,
                  lang: str = "zh") -> pd.DataFrame:
    """Weighted share of households giving each answer (1-4) to each item: rows labelled with the
    item's codebook label in ``lang``, columns 1..4, each row summing to 1 over the households
    that answered. Items absent from ``data`` are left out."""
    check_lang(lang)
    fields = schema.field_map("household")
    w_all = (pd.to_numeric(data[weights], errors="coerce").to_numpy(np.float64, na_value=np.nan) if weights
             else np.ones(len(data)))
    rows, labels = [], []
    for item in items:
        if item not in data.columns:
            continue
        x = pd.to_numeric(data[item], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        ok = ~np.isnan(x) & ~np.isnan(w_all)
        total = w_all[ok].sum()
        rows.append([w_all[ok & (x == k)].sum() / total if total > 0 else np.nan for k in SCALE])
        f = fields.get(item)
        labels.append((f.zh if lang == "zh" else f.en.replace(" (1-4)", "")) if f else item)
    return pd.DataFrame(rows, index=pd.Index(labels, name="item"), columns=list(SCALE))
