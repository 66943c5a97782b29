"""Impact evaluation: DiD, TWFE with staggered-timing diagnostics, event studies,
Callaway–Sant'Anna staggered DiD, propensity-score weighting and doubly robust DiD,
heterogeneity, income restoration and attrition. See docs/impact.md.
"""
from .regression import (EventStudyResult, RegressionResult, StaggeredTimingWarning, TwfeResult,
                         bacon_decomposition, did, event_study, twfe)
from .staggered import AggregateResult, PanelPreparationWarning, StaggeredDiDResult, staggered_did

__all__ = [
    "did", "twfe", "event_study", "staggered_did", "bacon_decomposition",
    "RegressionResult", "TwfeResult", "EventStudyResult", "StaggeredDiDResult", "AggregateResult",
    "StaggeredTimingWarning", "PanelPreparationWarning",
]
