"""Impact evaluation of relocation and follow-up support (docs/impact.md).

Estimators (each returns a result object with ``tidy()``, ``glance()``, ``summary()``,
``plot(*, ax=None)`` and ``.overall``):

- ``did`` — 2x2 difference-in-differences;
- ``twfe`` — two-way fixed effects, with a warning, Goodman-Bacon decomposition and
  de Chaisemartin–D'Haultfœuille weights when timing is staggered;
- ``event_study`` — leads and lags around relocation (reference e = -1), joint pre-trend test;
- ``staggered_did`` — Callaway–Sant'Anna ATT(g,t), ``.aggregate("simple"|"dynamic"|"group"|"calendar")``;
- ``propensity_score``, ``balance_table``, ``dr_did`` — overlap, balance, doubly robust / IPW DiD;
- ``heterogeneity``, ``income_restoration``, ``attrition``.

Fixed effects are absorbed by an own weighted within-transformation (numpy), not pyfixest: one
or two fixed-effect dimensions is all these estimators need, it keeps the core dependencies
small, and bench/bench_impact.py shows it agrees with pyfixest and linearmodels (same
coefficient and CR1 standard error) at comparable speed. Callaway–Sant'Anna is implemented
here because no Python package was confirmed to reproduce R ``did``; ours matches the
published ``mpdta`` output (tests/test_impact_reference.py).
"""
from .outcomes import (AttritionResult, HeterogeneityResult, IncomeRestorationResult, attrition, heterogeneity,
                       income_restoration)
from .regression import (EventStudyResult, RegressionResult, StaggeredTimingWarning, TwfeResult,
                         bacon_decomposition, did, event_study, twfe)
from .staggered import AggregateResult, PanelPreparationWarning, StaggeredDiDResult, staggered_did
from .weighting import PropensityScoreResult, TwoPeriodResult, balance_table, dr_did, propensity_score

__all__ = [
    "did", "twfe", "event_study", "staggered_did", "bacon_decomposition",
    "propensity_score", "balance_table", "dr_did",
    "heterogeneity", "income_restoration", "attrition",
    "RegressionResult", "TwfeResult", "EventStudyResult", "StaggeredDiDResult", "AggregateResult",
    "PropensityScoreResult", "TwoPeriodResult", "HeterogeneityResult", "IncomeRestorationResult",
    "AttritionResult", "StaggeredTimingWarning", "PanelPreparationWarning",
]
