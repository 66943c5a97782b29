"""Result objects shared by the estimators: ``tidy()`` is the single source of a result."""
from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import stats

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]


def normal_table(terms, estimates, std_errors, *, level: float = 0.95, crit: float | None = None) -> pd.DataFrame:
    """Tidy rows with normal-based statistics and intervals (``crit`` overrides the quantile)."""
    est = np.asarray(estimates, dtype="float64")
    se = np.asarray(std_errors, dtype="float64")
    z = stats.norm.ppf(0.5 + level / 2) if crit is None else crit
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    return pd.DataFrame({
        "term": list(terms), "estimate": est, "std_error": se, "statistic": stat,
        "p_value": 2 * stats.norm.sf(np.abs(stat)), "ci_low": est - z * se, "ci_high": est + z * se,
    })


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "NA"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.{digits}f}"


def table_text(df: pd.DataFrame, digits: int = 4) -> str:
    """Deterministic plain-text table (no index, fixed decimals)."""
    shown = df.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = [fmt(v, digits) for v in shown[c]]
        else:
            shown[c] = shown[c].astype(str)
    return shown.to_string(index=False)


class ImpactResult:
    """Base: subclasses set ``_tidy`` (DataFrame), ``_glance`` (dict), ``title``, ``notes``."""

    title = "Impact estimate"
    _tidy: pd.DataFrame
    _glance: dict
    notes: list[str]
    level: float = 0.95

    def tidy(self) -> pd.DataFrame:
        """One row per estimate: ``term, estimate, std_error, statistic, p_value, ci_low, ci_high``…"""
        return self._tidy.copy()

    def glance(self) -> pd.DataFrame:
        """One row of model facts (observations, clusters, SE type, …)."""
        return pd.DataFrame([self._glance])

    @property
    def overall(self) -> MappingProxyType:
        """The headline estimate: a read-only mapping ``estimate, std_error, ci_low, ci_high``."""
        return MappingProxyType(dict(self._overall))

    def coef(self) -> pd.Series:
        t = self._tidy
        return pd.Series(t["estimate"].to_numpy(), index=t["term"].to_numpy(), name="estimate")

    def se(self) -> pd.Series:
        t = self._tidy
        return pd.Series(t["std_error"].to_numpy(), index=t["term"].to_numpy(), name="std_error")

    def summary(self) -> str:
        """Deterministic text: the table, the model facts and the SE convention."""
        lines = [self.title, "=" * len(self.title)]
        cols = [c for c in self._tidy.columns if c not in ("statistic",)]
        lines.append(table_text(self._tidy[cols]))
        lines.append("")
        facts = ", ".join(f"{k}: {fmt(v) if not isinstance(v, str) else v}" for k, v in self._glance.items())
        lines.append(facts)
        lines.extend(self.notes)
        lines.append(f"Intervals: {int(round(self.level * 100))}% (normal approximation).")
        return "\n".join(lines)

    def __repr__(self) -> str:  # deterministic, no addresses
        o = self._overall
        return f"<{type(self).__name__}: estimate={fmt(o['estimate'])}, std_error={fmt(o['std_error'])}>"

    def _repr_html_(self) -> str:
        return "<pre>" + self.summary().replace("&", "&amp;").replace("<", "&lt;") + "</pre>"

    def plot(self, *, ax=None):
        """Coefficient plot with intervals; returns ``(fig, ax)`` and writes no file."""
        from ..plots import _axes

        fig, ax = _axes(ax, (6, 0.6 + 0.45 * len(self._tidy)))
        t = self._tidy.iloc[::-1]
        y = np.arange(len(t))
        ax.errorbar(t["estimate"], y, xerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]],
                    fmt="o", color="#4C72B0", capsize=3)
        ax.axvline(0, color="#888888", lw=0.8)
        ax.set_yticks(y, t["term"].astype(str))
        ax.set_xlabel("估计值 estimate")
        ax.set_title(self.title, fontsize=10)
        return fig, ax


def overall_from_row(row: pd.Series) -> dict:
    return {k: float(row[k]) for k in ("estimate", "std_error", "ci_low", "ci_high")}
