"""Per-site profiles: what the site notebook (``notebooks/site_profile.ipynb``) and
``baode-eval report --by site`` share.

The scorecards behind a site profile are estimated once per kernel for *all* sites
(``by=("site", "relocated", "year")``: domain estimation, so survey intervals use the whole
sample's design, as they must) and cached; each site's report then only selects its rows. That is
what lets one warm kernel write hundreds of site reports without re-estimating anything.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import panel
from .errors import ParameterError

VERDICTS = ("met", "not met", "inconclusive")
# one headline indicator per goal, drawn as the site-against-county trend panels
TREND_INDICATORS = ("actual_residence_rate", "labour_households_employed", "per_capita_net_income",
                    "integration_index")

_CARDS: dict = {}
_CARDS_MAX = 2


_FACTS: dict = {}


def _facts(data: pd.DataFrame, key: str, compute):
    """``compute(data)`` cached for this very frame (a site report asks once per site; on a
    province panel a scan of the site column costs 0.2-0.4 s). Holding the frame keeps its id."""
    entry = _FACTS.get(id(data))
    if entry is None or entry[0] is not data:
        _FACTS.clear()
        entry = _FACTS[id(data)] = (data, {})
    if key not in entry[1]:
        entry[1][key] = compute(data)
    return entry[1][key]


def site_list(data: pd.DataFrame) -> list[str]:
    """The sites of ``data`` in sorted order (households without a site are not a site)."""
    if "site" not in data.columns:
        raise ParameterError("the data have no 'site' column, so there are no site reports to make")
    return list(_facts(data, "sites", lambda d: sorted(str(s) for s in d["site"].dropna().unique())))


def check_site(site: str, sites: list[str]) -> str:
    """``site`` itself, or the first site for ``""``; a ParameterError lists valid sites otherwise."""
    if not isinstance(site, str):
        raise ParameterError(f"parameter 'site' must be a site name (str), got {type(site).__name__} {site!r}")
    if not sites:
        raise ParameterError("parameter 'site': the data have no sites")
    if site == "":
        return sites[0]
    if site not in sites:
        shown = ", ".join(sites[:10]) + (f", … ({len(sites)} in all)" if len(sites) > 10 else "")
        raise ParameterError(f"parameter 'site': {site!r} is not a site in the data; sites: {shown}")
    return site


def check_year(year: int, data: pd.DataFrame) -> int:
    """``year`` itself, or the latest year for 0; a ParameterError lists the years otherwise."""
    years = _facts(data, "years", lambda d: sorted(int(y) for y in d["year"].dropna().unique()))
    if not years:
        raise ParameterError("parameter 'year': the data have no years")
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
        raise ParameterError(f"parameter 'year' must be an integer, got {type(year).__name__} {year!r}")
    if year == 0:
        return years[-1]
    if int(year) not in years:
        raise ParameterError(f"parameter 'year': {year} is not in the data; years: {years[0]}–{years[-1]}")
    return int(year)


def scorecards(data_path: str | Path | None = "", *, framework: str = "", level: float = 0.95,
               lang: str = "zh"):
    """``(by_site, county)`` scorecards of relocated households in the data at ``data_path``,
    cached per kernel.

    Estimated by ``("site", "relocated", "year")`` and ``("relocated", "year")`` over all
    households (domain estimation), then restricted to ``relocated == True`` rows.
    The cache key includes the file's size and modification time, so a changed file is re-read.
    """
    from . import scorecard

    path = panel.resolve(data_path)
    stat = path.stat() if path.is_file() else None
    key = (str(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None, framework or "",
           float(level), lang)
    if key not in _CARDS:
        data = panel.read_households(data_path).data
        fwk = framework or None
        by = ("site", "relocated", "year") if "relocated" in data.columns else ("site", "year")
        # estimated on all households (domain estimation), then kept for relocated households only
        by_site = relocated_only(scorecard.build(data, framework=fwk, by=by, level=level, lang=lang))
        county = relocated_only(scorecard.build(data, framework=fwk, by=by[1:], level=level, lang=lang))
        if len(_CARDS) >= _CARDS_MAX:
            _CARDS.pop(next(iter(_CARDS)))
        _CARDS[key] = (by_site, county)
    return _CARDS[key]


def relocated_only(card):
    """The rows of relocated households (all rows when the card has no ``relocated`` domain)."""
    return card.where(relocated=True) if "relocated" in card.by else card


def verdict_counts(tidy: pd.DataFrame, *, min_cell: int = 0) -> dict[str, int]:
    """Indicators per verdict in ``tidy`` (one site and year); small cells count as suppressed."""
    verdict = tidy["verdict"].astype(object)
    if min_cell:
        verdict = verdict.where(tidy["n"] >= min_cell, "suppressed")
    counts = {v: int((verdict == v).sum()) for v in VERDICTS}
    counts["suppressed"] = int((verdict == "suppressed").sum())
    counts["no target"] = int(len(tidy) - sum(counts.values()))
    return counts


def rank_key(counts: dict[str, int], name: str) -> tuple:
    """Sort key for the site index: most targets not met first, then most inconclusive, fewest met."""
    return (-counts.get("not met", 0), -counts.get("inconclusive", 0), counts.get("met", 0), name)


def without_domain_columns(card):
    """``card`` rendered without its domain columns (one site and year: they repeat on every row)."""
    from dataclasses import replace

    return replace(card, by=())


def trend_table(by_site, county, site: str, indicators=TREND_INDICATORS) -> pd.DataFrame:
    """Estimates by year of ``indicators`` for ``site`` and the county (relocated households)."""
    cols = ["year", "indicator", "label", "kind", "estimate", "ci_low", "ci_high", "n", "target"]
    mine = by_site.where(site=site).tidy()
    mine = mine.loc[mine["indicator"].isin(indicators), cols].assign(where="site")
    all_ = county.tidy()
    all_ = all_.loc[all_["indicator"].isin(indicators), cols].assign(where="county")
    out = pd.concat([mine, all_], ignore_index=True)
    out["indicator"] = out["indicator"].astype(str)
    out["kind"] = out["kind"].astype(str)
    return out.sort_values(["indicator", "where", "year"], kind="stable").reset_index(drop=True)



def _count_households(data: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"site": data["site"], "year": data["year"],
                          "relocated": (data["relocated"].astype("boolean").fillna(False)
                                        if "relocated" in data.columns else True)})
    return (frame.groupby(["site", "year"], observed=True)["relocated"]
            .agg(households="size", relocated="sum").reset_index())


def households_by_site_year(data: pd.DataFrame) -> pd.DataFrame:
    """Households (all, and relocated) per site and year, computed once per frame."""
    return _facts(data, "households", _count_households)
