"""Impact evaluation: DiD, TWFE with diagnostics, event studies, staggered DiD, weighting."""
from .staggered import AggregateResult, StaggeredDiDResult, staggered_did

__all__ = ["staggered_did", "StaggeredDiDResult", "AggregateResult"]
