"""A synthetic household panel of relocated families with known effects (易地搬迁模拟数据).

No household microdata of Baode County is public. This module generates a panel that looks
like the county's data — canonical columns of ``data/codebook/schema.yaml`` — whose true
effects of relocation are known, so that estimators can be checked against truth, users can
learn the tool, and performance work has data at provincial and national size.

>>> sim = simulate(seed=0)                 # Baode: 4 sites, 2,166 relocated households + comparison
>>> sim.data                                # household-year table, canonical columns
>>> sim.truth                               # true ATT per outcome, by event time / site / year
>>> write_simulation("out/baode.parquet", households=2_660_000, sites=35_000, years=(2018, 2024))

Data-generating model (details in docs/simulator.md)
-----------------------------------------------------
* Population. ``households`` relocated households spread over ``sites`` sites, plus
  ``comparison`` formerly-poor households that stay in origin villages of the same counties.
  Household composition is fixed over the panel (no births, deaths or splits); ages advance
  with the calendar. Relocated households move in batches (``relocation_year`` g, staggered
  adoption); comparison households have g = 0 (never treated).
* Potential outcomes. Every outcome is generated twice with common random numbers: Y(0)
  (not relocated) and Y(1) (relocated); the data show Y(D) with D = 1 for relocated
  households in years t >= g. The effect of relocation on outcome k at site s and event
  time e = t - g >= 0 is ``site_multiplier[s] * (level_k + slope_k * min(e, cap))`` on the
  scale named in :class:`Effects` (log income, probabilities, latent integration score).
* Truth. ``truth`` holds the finite-population ATT of each outcome: the mean of
  Y_it(1) - Y_it(0) over treated household-years (D_it = 1) of the simulated population
  (census, before survey sampling), overall, by event time, by site and by calendar year.
  For ``log_per_capita_net_income`` this is ATT(e) = E[log Y(1) - log Y(0) | D = 1, e],
  the estimand of an event study on log per-capita net income with never-treated controls.
  Income floors (social-assistance top-up to the monitoring line from 2020) and the 2021
  employment guarantee act inside the potential outcomes, so the realised ATT differs a
  little from the structural parameters; both are reported (``structural`` column).
* Pre-trend violation: ``Effects.pretrend`` adds ``pretrend * (t - g)`` to the untreated log
  income of relocated households in every year (a differential trend): the ATT is unchanged,
  parallel trends fail, and pre-period event-study coefficients are non-zero.
* Attrition: ``Effects.attrition`` is the annual hazard that a relocated household leaves
  the site after moving in; its rows stop after the exit year. ``attrition_selective`` makes
  the hazard higher for households with low income (selective attrition).

Randomness only through ``numpy.random.default_rng``: the static population from
``default_rng([seed, 0])`` and household block b (fixed size ``CHUNK_HOUSEHOLDS``) from
``default_rng([seed, b + 1])``, so the in-memory result and a file written in chunks are the
same data, and the same seed always gives the same bytes.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import yaml

from . import paths
from .errors import ParameterError

Mode = Literal["census", "survey"]
Level = Literal["household", "person"]
Format = Literal["parquet", "csv", "xlsx"]
Lang = Literal["en", "zh"]

CHUNK_HOUSEHOLDS = 50_000
REFERENCE_YEAR = 2022  # ages are drawn for this year and shifted with the calendar

# --- Baode defaults (seed article, Xinzhou Daily 2022-07-18) ---------------------------------
BAODE_HOUSEHOLDS = 2166  # 为2166户6583名居民提供基本医疗服务
BAODE_RESIDENTS = 6583
BAODE_UNITS = 2197  # 安置房2197套
BAODE_SITES = 4  # 集中安置点4个
BAODE_COUNTY = "保德县"
BAODE_REGION_CODE = "140931"  # administrative division code of Baode County (for synthetic ID numbers)
# Site shares of households (assumed; the article gives no split).
BAODE_SITE_SHARES = (0.52, 0.24, 0.14, 0.10)
# Effect multipliers of the 4 sites (assumed, to make site heterogeneity visible; mean ~1).
BAODE_SITE_MULTIPLIERS = (1.2, 1.0, 0.7, 0.9)

# Untreated mean per-capita net income of formerly poor households (yuan), calibrated so that
# the relocated mean in 2022 is about 13,000 (1.3万元左右) after the effect of relocation.
COUNTERFACTUAL_INCOME = {
    2014: 2600, 2015: 3100, 2016: 3700, 2017: 4600, 2018: 5700, 2019: 7000,
    2020: 8400, 2021: 10000, 2022: 11500, 2023: 12600, 2024: 13700,
}
# Provincial monitoring lines (yuan per person per year), [U] in DOMAIN.md: parameters.
MONITORING_LINE = {2020: 5000, 2021: 6000, 2022: 6300, 2023: 7000, 2024: 7500}

BATCH_YEARS = (2016, 2017, 2018, 2019)
BATCH_SHARES = (0.20, 0.35, 0.35, 0.10)

HOUSEHOLD_TYPES = ("一般脱贫户", "低保户", "特困供养户", "一般农户")
MONITORING_CATEGORIES = ("脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
WORK_PLACES = ("县内", "省内县外", "省外")
SEXES = ("男", "女")
RELATIONSHIPS = ("户主", "配偶", "子女", "父母")
HEALTH = ("健康", "长期慢性病", "患有大病", "残疾")
EDUCATION = ("学龄前", "文盲或半文盲", "小学", "初中", "高中", "大专及以上")
SCHOOL_STATUS = ("非在校生", "学龄前儿童", "义务教育在校生", "义务教育失学", "高中或中职在校生")
LABOUR_SKILL = ("普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力")


@dataclass(frozen=True)
class Effects:
    """True effects of relocation (the parameters of the data-generating model).

    Each effect is ``site_multiplier[s] * (level + slope * min(e, cap))`` at event time
    ``e = year - relocation_year >= 0`` on the scale stated; 0 before relocation and for
    comparison households. ``site_multipliers`` (one per site) default to draws of
    ``exp(site_sd * z - site_sd**2 / 2)``, mean 1 (4 sites, Baode: ``BAODE_SITE_MULTIPLIERS``;
    ``site_sd = 0`` for no heterogeneity).
    """

    income_log: float = 0.04  # log per-capita net income at e = 0
    income_log_slope: float = 0.015  # per year since relocation
    cap: int = 6  # years after which dynamic effects stop growing
    wage_share: float = 0.12  # wage share of net income (employed households)
    employment: float = 0.05  # P(employed | labour-capable), level
    employment_slope: float = 0.008
    stable: float = 0.08  # P(>= 6 months worked | employed)
    local: float = 0.20  # P(work in the county | employed)
    public_welfare: float = 0.03  # P(public-welfare job | employed locally)
    workshop: float = 0.11  # P(assistance-workshop job | employed locally), from workshop_from
    workshop_from: int = 2019
    training: float = 0.15  # P(trained this year | labour-capable)
    family_doctor: float = 0.10  # P(family-doctor contract)
    elder_care: float = 0.22  # P(elder in need uses care services), from elder_care_from
    elder_care_from: int = 2020
    schooling: float = 0.008  # P(child 6-15 in school): relocation removes most drop-out
    integration: float = -0.8  # latent integration score (1-4 scale) at e = 0
    integration_slope: float = 0.15
    community_activities: float = 2.0  # extra activities per year (Poisson mean)
    voted: float = -0.10  # P(voted in community election) at e = 0
    voted_slope: float = 0.03
    employment_guarantee_from: int | None = 2021  # relocated labour households: >= 1 in stable work
    site_sd: float = 0.2
    site_multipliers: tuple[float, ...] | None = None
    pretrend: float = 0.0  # differential trend of untreated log income of relocated households
    attrition: float = 0.0  # annual hazard of leaving the site after moving in
    attrition_selective: float = 0.0  # hazard x exp(-selective * z), z = standardised untreated log income

    def validate(self) -> None:
        for name, value in asdict(self).items():
            if name in ("site_multipliers", "employment_guarantee_from"):
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"effects.{name} must be a finite number, got {value!r}")
        if not 0 <= self.attrition < 1:
            raise ParameterError(f"effects.attrition must be in [0, 1), got {self.attrition}")
        if self.cap < 0:
            raise ParameterError(f"effects.cap must be >= 0, got {self.cap}")
        if self.site_sd < 0:
            raise ParameterError(f"effects.site_sd must be >= 0, got {self.site_sd}")


NULL_EFFECTS = Effects(
    income_log=0, income_log_slope=0, wage_share=0, employment=0, employment_slope=0, stable=0,
    local=0, public_welfare=0, workshop=0, training=0, family_doctor=0, elder_care=0, schooling=0,
    integration=0, integration_slope=0, community_activities=0, voted=0, voted_slope=0,
    employment_guarantee_from=None, site_sd=0,
)

# Outcomes with a tabulated truth: (name, description). Household-level unless stated.
TRUTH_OUTCOMES = {
    "log_per_capita_net_income": "log of per-capita net income (yuan)",
    "per_capita_net_income": "per-capita net income (yuan/person/year)",
    "wage_share": "wage income / net income",
    "employed_members": "members employed",
    "employment_rate": "employed / labour-capable members (labour households)",
    "any_stable_employed": "1 if >= 1 member worked >= 6 months (labour households)",
    "stably_employed_members": "members who worked >= 6 months",
    "local_employed_members": "members employed in the county",
    "public_welfare_job_members": "members in public-welfare jobs",
    "workshop_job_members": "members in assistance workshops",
    "trained_members": "members trained this year",
    "months_worked": "person-months worked by the household",
    "family_doctor_signed": "family-doctor contract signed (0/1)",
    "children_6_15_in_school": "children aged 6-15 in school",
    "elders_served": "elders using care services",
    "integration_index": "mean of the four integration items rescaled to 0-1",
    "community_activities": "community activities attended",
    "voted_in_election": "voted in community election (0/1)",
}
_RATIO_OUTCOMES = {"employment_rate", "any_stable_employed"}  # defined on labour households only


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    data: canonical household-year (or person-year) table; truth: tidy table of true effects
    (``outcome, by, event_time, site, year, att, n, structural``); params: every parameter
    used (JSON-serialisable); sites: one row per site (units, households, residents).
    """

    data: pd.DataFrame
    truth: pd.DataFrame
    params: dict
    sites: pd.DataFrame

    def truth_value(self, outcome: str, *, by: str = "overall", **where) -> float:
        """One number of the truth table, e.g. ``truth_value("log_per_capita_net_income", by="event_time", event_time=3)``."""
        t = self.truth[(self.truth["outcome"] == outcome) & (self.truth["by"] == by)]
        for k, v in where.items():
            t = t[t[k] == v]
        if len(t) != 1:
            raise ParameterError(f"no single truth row for {outcome!r} by {by!r} {where}")
        return float(t["att"].iloc[0])


# ============================================================================ schema helpers
@lru_cache(maxsize=None)
def schema_fields(table: str = "household") -> tuple[dict, ...]:
    """Fields of a canonical table in ``data/codebook/schema.yaml`` (in order)."""
    path = paths.data_dir() / paths.CODEBOOK_DIR / "schema.yaml"
    with open(path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    return tuple(schema["tables"][table]["fields"])


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {list(allowed)}, got {value!r}")


def parse_years(text: str) -> tuple[int, int]:
    """``"2014-2024"`` -> ``(2014, 2024)``, with a clear error otherwise."""
    try:
        a, b = (int(x) for x in str(text).split("-"))
    except ValueError:
        raise ParameterError(f"years must look like 2014-2024, got {text!r}") from None
    return a, b


# ============================================================================ static population
@dataclass
class _Population:
    n_rel: int
    n_hh: int
    years: np.ndarray
    seed: int
    effects: Effects
    site_names: np.ndarray
    county_names: np.ndarray
    township_names: np.ndarray
    village_names: np.ndarray
    stratum_names: np.ndarray
    site_multiplier: np.ndarray
    site_units: np.ndarray
    hh: dict  # household arrays (length n_hh)
    person_offsets: np.ndarray  # persons of household i: offsets[i]:offsets[i+1]
    person: dict  # static person arrays
    psu_names: np.ndarray
    region: int | None = None
    params: dict = field(default_factory=dict)
    arrow_cache: dict = field(default_factory=dict)


def _split_total(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers >= 0 summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    raw = shares / shares.sum() * total
    out = np.floor(raw).astype(np.int64)
    rest = total - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def _rank_within(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """0-based rank of ``key`` (uniform in [0, 1)) within each integer ``group`` (vectorised)."""
    value = group + key  # one float sort instead of a lexsort
    order = np.argsort(value)  # introsort: faster than the stable sort, and the same order without ties
    ordered = value[order]
    if len(value) and (ordered[1:] == ordered[:-1]).any():
        order = np.argsort(value, kind="stable")
    g = group[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(g)]))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(g)) - first
    return rank


def _rng(seed: int, key: int, region: int | None) -> np.random.Generator:
    """The random stream ``key`` (0 = population, b + 1 = household block b) of ``seed``;
    a region draws from its own child streams (spawn key), so regions are independent and
    ``region=None`` keeps the streams (and the bytes) of a single-population simulation."""
    if region is None:
        return np.random.default_rng([seed, key])
    return np.random.default_rng(np.random.SeedSequence([seed, key], spawn_key=(region,)))


def _region_prefix(region: int | None) -> str:
    """Label prefix of a region's names and household IDs (empty without regions)."""
    return "" if region is None else f"区域{region + 1:03d}-"


def _build_population(households, sites, comparison, residents, units, years, seed, mode, effects,
                      psu_fraction, households_per_psu, region=None) -> _Population:
    rng = _rng(seed, 0, region)
    prefix = _region_prefix(region)
    baode = sites == BAODE_SITES and households == BAODE_HOUSEHOLDS
    n_rel, n_cmp = households, comparison
    n_hh = n_rel + n_cmp

    # sites, counties, townships, villages -----------------------------------------------
    if sites == BAODE_SITES:
        site_hh = _split_total(n_rel, np.array(BAODE_SITE_SHARES))
    else:
        site_hh = _split_total(n_rel, rng.lognormal(0.0, 0.6, sites))
    width = max(2, len(str(sites)))
    site_names = np.array([f"{prefix}安置点{i + 1:0{width}d}" for i in range(sites)])
    one_county = sites <= 8  # Baode-like: a single county
    n_county = 1 if one_county else max(1, sites // 25)
    county_names = np.array([prefix + BAODE_COUNTY] if one_county else [f"{prefix}县{i + 1:04d}" for i in range(n_county)])
    site_county = np.sort(rng.integers(0, n_county, sites)) if n_county > 1 else np.zeros(sites, np.int64)
    towns_per_county = 12
    township_names = np.array([f"{county_names[c]}乡镇{t + 1:02d}" if not one_county else f"{prefix}乡镇{t + 1:02d}"
                               for c in range(n_county) for t in range(towns_per_county)])
    villages_per_town = max(3, int(math.ceil(n_hh / n_county / towns_per_county / 25)))
    n_villages = n_county * towns_per_county * villages_per_town
    if n_villages <= 100_000:
        village_names = np.array([f"{township_names[v // villages_per_town]}村{v % villages_per_town + 1:03d}"
                                  for v in range(n_villages)])
    else:  # national scale: build names with numpy string ops
        v = np.arange(n_villages)
        village_names = np.char.add(np.char.add(township_names[v // villages_per_town], "村"),
                                    np.char.zfill((v % villages_per_town + 1).astype(str), 3))

    relocated = np.r_[np.ones(n_rel, bool), np.zeros(n_cmp, bool)]
    site = np.full(n_hh, -1, np.int64)
    site[:n_rel] = np.repeat(np.arange(sites), site_hh)
    county = np.empty(n_hh, np.int64)
    county[:n_rel] = site_county[site[:n_rel]]
    county[n_rel:] = rng.integers(0, n_county, n_cmp) if n_county > 1 else 0
    township = county * towns_per_county + rng.integers(0, towns_per_county, n_hh)
    village = township * villages_per_town + rng.integers(0, villages_per_town, n_hh)
    natural_village = rng.integers(1, 4, n_hh)

    if units is None:
        units = BAODE_UNITS if baode else n_rel + int(round(n_rel * (BAODE_UNITS - BAODE_HOUSEHOLDS) / BAODE_HOUSEHOLDS))
    if units < n_rel:
        raise ParameterError(f"units ({units}) must be >= relocated households ({n_rel})")
    site_units = site_hh + _split_total(units - n_rel, np.maximum(site_hh, 1).astype(float))

    # relocation batches (staggered adoption) -------------------------------------------
    g = np.zeros(n_hh, np.int64)
    g[:n_rel] = np.array(BATCH_YEARS)[rng.choice(len(BATCH_YEARS), n_rel, p=BATCH_SHARES)]
    move_month = rng.integers(1, 13, n_hh)

    # household type, registered poor ----------------------------------------------------
    htype = rng.choice(3, n_hh, p=[0.70, 0.25, 0.05])
    registered_poor = np.ones(n_hh, bool)
    synchronised = np.zeros(n_hh, bool)

    # composition: elderly households (size 1-2) and families (2-8) ----------------------
    elderly = rng.random(n_hh) < 0.52
    size = np.where(elderly, 1 + (rng.random(n_hh) < 0.6),
                    2 + rng.choice(6, n_hh, p=[0.03, 0.15, 0.30, 0.27, 0.15, 0.10]))
    target = residents if residents is not None else (BAODE_RESIDENTS if baode else None)
    if target is not None:  # hit the relocated residents total exactly (families adjust by one)
        diff = int(target - size[:n_rel].sum())
        fam = np.flatnonzero(~elderly[:n_rel] & (size[:n_rel] > (2 if diff < 0 else 0)) & (size[:n_rel] < 8))
        if abs(diff) > len(fam):
            raise ParameterError(f"residents={target} is not reachable for {n_rel} households")
        pick = rng.choice(fam, abs(diff), replace=False)
        size[pick] += int(np.sign(diff))
    n_person = int(size.sum())
    offsets = np.r_[0, np.cumsum(size)]
    p_hh = np.repeat(np.arange(n_hh), size)
    slot = np.arange(n_person) - offsets[p_hh]

    f32 = np.float32
    head_age = np.where(elderly, rng.integers(62, 86, n_hh), rng.integers(28, 59, n_hh)).astype(np.int16)
    ha = head_age[p_hh]
    u = rng.random(n_person, dtype=f32)
    is_parent = (slot >= 2) & (u < 0.2) & ~elderly[p_hh]
    i8 = np.int8  # int8 codes from the start (same values, an eighth of the memory traffic)
    rel = np.where(slot == 0, i8(0), np.where(slot == 1, i8(1), np.where(is_parent, i8(3), i8(2))))
    k = rng.integers(0, 14, n_person, dtype=np.int16)  # one draw serves spouse, parent and child ages
    age = np.where(rel == 0, ha,
          np.where(rel == 1, ha + k % 8 - 4,
          np.where(rel == 3, ha + 24 + k % 8, ha - 22 - k)))
    age = np.clip(age, 0, 99).astype(np.int16)  # age in REFERENCE_YEAR
    male_head = rng.random(n_hh) < 0.85
    sex = np.where(rel == 0, ~male_head[p_hh], np.where(rel == 1, male_head[p_hh], rng.random(n_person, dtype=f32) < 0.5))
    sex = sex.astype(np.int8)  # 0 男, 1 女
    p_bad = np.clip(f32(0.03) + f32(0.006) * np.maximum(age - 45, 0).astype(f32), 0, f32(0.5))
    uh = rng.random(n_person, dtype=f32)
    health = np.where(uh < p_bad * f32(0.6), i8(2), np.where(uh < p_bad, i8(3), np.where(uh < p_bad + f32(0.15), i8(1), i8(0))))
    health = np.where(age < 16, np.where(uh < 0.01, i8(3), i8(0)), health)
    needs_care = (age >= 65) & ((health >= 2) | (rng.random(n_person, dtype=f32) < 0.22))
    upper_school = rng.random(n_person, dtype=f32) < 0.6  # attends upper-secondary school at 16-18
    ue = rng.random(n_person, dtype=f32)
    edu_adult = np.where(age >= 60, i8(1) + (ue >= 0.35) + (ue >= 0.80),
                         i8(2) + (ue >= 0.20) + (ue >= 0.75) + (ue >= 0.93))
    skilled = rng.random(n_person, dtype=f32) < 0.18
    person_u = rng.normal(0.0, 0.6, n_person).astype(f32)  # persistent employability (logit scale)

    # income: household effect -------------------------------------------------------------
    alpha = rng.normal(0.0, 0.25, n_hh)
    integ_h = rng.normal(0.0, 0.35, n_hh)
    demolish_lag = rng.choice(4, n_hh, p=[0.55, 0.30, 0.12, 0.03])
    cert_lag = 1 + rng.choice(4, n_hh, p=[0.40, 0.35, 0.20, 0.05])
    return_u = rng.random(n_hh)
    exit_u = rng.random(n_hh)

    # site heterogeneity ----------------------------------------------------------------------
    if effects.site_multipliers is not None:
        mult = np.asarray(effects.site_multipliers, float)
        if mult.shape != (sites,):
            raise ParameterError(f"effects.site_multipliers needs {sites} values, got {mult.size}")
    else:
        mult = np.exp(effects.site_sd * rng.standard_normal(sites) - effects.site_sd ** 2 / 2)
        if sites == BAODE_SITES and effects.site_sd > 0:  # Baode: fixed, visible heterogeneity
            mult = np.array(BAODE_SITE_MULTIPLIERS, float)

    # survey design: strata = site (relocated) or county (comparison); PSU = building or village
    hh_per_building = 30
    pos = _rank_within(np.where(relocated, site, -1), rng.random(n_hh))
    building = pos // hh_per_building
    stratum = np.where(relocated, site, sites + county)
    stratum_names = np.r_[site_names, np.char.add("对照组-", county_names)]
    # PSU code: relocated (site, building) pairs first, then villages of comparison households
    n_build = np.bincount(site[:n_rel], minlength=sites)
    n_build = (n_build + hh_per_building - 1) // hh_per_building
    build_off = np.r_[0, np.cumsum(n_build)]
    psu = np.where(relocated, build_off[np.maximum(site, 0)] + building, build_off[-1] + village)
    psu_names_rel = [f"{site_names[s]}-{b + 1:03d}栋" for s in range(sites) for b in range(n_build[s])]
    psu_names = np.r_[np.array(psu_names_rel, dtype=village_names.dtype if n_villages > 100_000 else object),
                      village_names]
    weight = np.full(n_hh, np.nan)
    fpc = np.full(n_hh, np.nan)
    selected = np.ones(n_hh, bool)
    # PSUs that exist (have households) per stratum
    # a PSU lies in one stratum (a building in a site, a village in a county): scatter, not np.unique
    psu_ids = np.flatnonzero(np.bincount(psu))
    stratum_of_psu = np.empty(psu_ids[-1] + 1 if len(psu_ids) else 0, np.int64)
    stratum_of_psu[psu] = stratum
    psu_stratum = stratum_of_psu[psu_ids]
    n_psu_h = np.bincount(psu_stratum, minlength=len(stratum_names))
    if mode == "survey":
        # stage 1: SRS of PSUs in each stratum; stage 2: SRS of households in each selected PSU
        psu_rank = _rank_within(psu_stratum, rng.random(len(psu_ids)))
        m_h = np.minimum(n_psu_h, np.maximum(2, np.round(psu_fraction * n_psu_h))).astype(np.int64)
        psu_sel = psu_rank < m_h[psu_stratum]
        psu_index = np.searchsorted(psu_ids, psu)
        size_psu = np.bincount(psu_index, minlength=len(psu_ids))
        hh_rank = _rank_within(psu_index, rng.random(n_hh))
        k_i = np.minimum(size_psu, households_per_psu)
        selected = psu_sel[psu_index] & (hh_rank < k_i[psu_index])
        weight = (n_psu_h[stratum] / m_h[stratum]) * (size_psu[psu_index] / k_i[psu_index])
        fpc = n_psu_h[stratum].astype(float)

    hh = dict(
        relocated=relocated, site=site, county=county, township=township, village=village,
        natural_village=natural_village, g=g, move_month=move_month, htype=htype,
        registered_poor=registered_poor, synchronised=synchronised, size=size, alpha=alpha,
        integ_h=integ_h, demolish_lag=demolish_lag, cert_lag=cert_lag, return_u=return_u, exit_u=exit_u,
        stratum=stratum, psu=psu, weight=weight, fpc=fpc, selected=selected,
    )
    person = dict(rel=rel.astype(np.int8), age=age.astype(np.int16), sex=sex, health=health,
                  needs_care=needs_care, upper_school=upper_school, edu_adult=edu_adult.astype(np.int8),
                  skilled=skilled, person_u=person_u, slot=slot.astype(np.int16))
    return _Population(
        n_rel=n_rel, n_hh=n_hh, years=np.arange(years[0], years[1] + 1), seed=seed, effects=effects,
        site_names=site_names, county_names=county_names, township_names=township_names,
        village_names=village_names, stratum_names=stratum_names, site_multiplier=mult,
        site_units=site_units, hh=hh, person_offsets=offsets, person=person, psu_names=psu_names, region=region,
    )


# ============================================================================ yearly outcomes
def _counterfactual_income(years: np.ndarray) -> np.ndarray:
    """Untreated mean per-capita net income by year; extrapolated at 8% a year outside 2014-2024."""
    out = np.empty(len(years))
    for i, y in enumerate(years):
        if y in COUNTERFACTUAL_INCOME:
            out[i] = COUNTERFACTUAL_INCOME[y]
        elif y < 2014:
            out[i] = COUNTERFACTUAL_INCOME[2014] / 1.08 ** (2014 - y)
        else:
            out[i] = COUNTERFACTUAL_INCOME[2024] * 1.08 ** (y - 2024)
    return out


def _line(years: np.ndarray) -> np.ndarray:
    """Monitoring line by year; NaN before monitoring began (2020)."""
    last = max(MONITORING_LINE)
    return np.array([MONITORING_LINE.get(int(y), MONITORING_LINE[last] * 1.05 ** (y - last)) if y >= 2020 else np.nan
                     for y in years])


def _dyn(level: float, slope: float, e: np.ndarray, cap: int, mult: np.ndarray) -> np.ndarray:
    return mult * (level + slope * np.minimum(np.maximum(e, 0), cap))


def _runs(values, starts: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the contiguous runs beginning at ``starts`` (the last run ends at
    the end): differences of a cumulative sum, faster than ``np.add.reduceat`` or ``bincount``."""
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.view(np.int8)
    cs = np.empty(len(values) + 1, np.int32)  # sums of person-year counts and months fit in int32
    cs[0] = 0
    np.cumsum(values, dtype=np.int32, out=cs[1:])
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = len(values)
    return (cs[ends] - cs[starts]).astype(np.int64)


def _run_sums(arrays, starts: np.ndarray) -> list[np.ndarray]:
    """:func:`_runs` of several arrays of small non-negative integers (or booleans) at once.

    The arrays are packed side by side in bit fields of uint32 words, wide enough for the sum
    over the longest run, and each word gets one cumulative sum: differences of cumulative sums
    are exact in wrap-around arithmetic as long as each run's sum fits in its field, so the
    results equal :func:`_runs` of each array, with a third of the passes over the data.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0]) if arrays else 0
    if not n or not len(starts):
        return [_runs(a, starts) for a in arrays]
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    longest = int((ends - starts).max())
    words: list[list] = [[]]
    used = 0
    for i, a in enumerate(arrays):
        top = 1 if a.dtype == bool else int(a.max())
        if a.dtype != bool and int(a.min()) < 0:
            raise ValueError("_run_sums needs non-negative values")
        bits = max(1, (top * longest).bit_length())
        if bits > 16:
            raise ValueError("_run_sums: field too wide")
        if used + bits > 32:
            words.append([])
            used = 0
        words[-1].append((i, used, bits))
        used += bits
    out: list = [None] * len(arrays)
    for word in words:
        packed = np.zeros(n, np.uint32)
        for i, shift, _ in word:
            a = arrays[i]
            a = a.view(np.uint8) if a.dtype.itemsize == 1 else a.astype(np.uint32)  # values >= 0 (checked)
            packed |= np.left_shift(a, shift, dtype=np.uint32)
        cs = np.empty(n + 1, np.uint32)
        cs[0] = 0
        np.cumsum(packed, dtype=np.uint32, out=cs[1:])
        total = cs[ends] - cs[starts]
        for i, shift, bits in word:
            out[i] = ((total >> np.uint32(shift)) & np.uint32((1 << bits) - 1)).astype(np.int64)
    return out


def _chunk(pop: _Population, lo: int, hi: int, level: Level, truth_acc: dict) -> dict:
    """Columns (numpy arrays, codes for categories, NaN/-1 for missing) of households lo:hi."""
    eff = pop.effects
    rng = _rng(pop.seed, lo // CHUNK_HOUSEHOLDS + 1, pop.region)
    years = pop.years
    T = len(years)
    H = hi - lo
    N = H * T
    hh = {k: v[lo:hi] for k, v in pop.hh.items()}
    rep = lambda a: np.repeat(a, T)  # noqa: E731  household array -> household-year
    year = np.tile(years, H)
    yi = np.tile(np.arange(T), H)
    g = rep(hh["g"])
    relocated = rep(hh["relocated"])
    D = relocated & (year >= g)
    e = np.where(relocated, year - g, -999)
    site = rep(hh["site"])
    mult = np.where(relocated, pop.site_multiplier[np.maximum(site, 0)], 0.0)
    cap = eff.cap

    # persons --------------------------------------------------------------------------------
    p0, p1 = pop.person_offsets[lo], pop.person_offsets[hi]
    per = {k: v[p0:p1] for k, v in pop.person.items()}
    # person-years ordered (household, year, person): the rows of household-year r are
    # starts[r]:starts[r + 1], so household sums are np.add.reduceat over contiguous runs
    hy_size = rep(hh["size"])
    starts = np.r_[0, np.cumsum(hy_size)[:-1]]
    NP = int(hy_size.sum())
    key = np.repeat(np.arange(N), hy_size)  # household-year row of each person-year
    # household-year arrays -> person-years by np.repeat (sequential), not by gathering at key
    prep = lambda a: np.repeat(a, hy_size)  # noqa: E731
    # person index: its position minus the start of its run plus the household's first person
    pidx = np.arange(NP) - prep(starts - rep(pop.person_offsets[lo:hi] - p0))
    pyear = prep(year.astype(np.int16))
    age = np.maximum(per["age"][pidx] + (pyear - REFERENCE_YEAR).astype(np.int16), 0).astype(np.int16)
    pD = prep(D)
    pmult = prep(mult.astype(np.float32))
    pe = prep(e.astype(np.int16))  # event time (or -999) fits int16; _dyn computes in float64 either way
    health = per["health"][pidx]
    bad_health = health >= 2
    child = (age >= 6) & (age <= 15)
    in_upper = (age >= 16) & (age <= 18) & per["upper_school"][pidx]
    labour = (age >= 16) & (age <= 64) & ~bad_health & ~in_upper
    elder_need = per["needs_care"][pidx] & (age >= 65)
    f32 = np.float32

    # schooling (children 6-15)
    u = rng.random(NP, dtype=f32)
    drop0 = 0.01
    in_school0 = child & (u >= drop0)
    # Y(1) is only needed where somebody is treated; blocks of comparison households skip it
    anyD = bool(D.any())
    in_school1 = child & (u >= np.maximum(drop0 - pmult * eff.schooling, 0)) if anyD else in_school0
    in_school = np.where(pD, in_school1, in_school0)

    # employment: potential outcomes with common random numbers
    trend = (0.70 + 0.012 * (pyear - 2014)).astype(np.float32)
    base = np.clip(trend + 0.15 * np.tanh(per["person_u"][pidx]), 0.05, 0.97).astype(f32)
    u_emp = rng.random(NP, dtype=f32)
    emp0 = labour & (u_emp < base)
    emp1 = labour & (u_emp < np.clip(base + _dyn(eff.employment, eff.employment_slope, pe, cap, pmult), 0, 0.995)) \
        if anyD else emp0
    u_st = rng.random(NP, dtype=f32)
    u_m = rng.random(NP, dtype=f32)
    stable0 = u_st < 0.75
    stable1 = u_st < np.clip(0.75 + pmult * eff.stable, 0, 1)
    m_st = (6 + u_m * 7).astype(np.int8)
    m_un = (1 + u_m * 5).astype(np.int8)
    months0 = np.where(emp0, np.where(stable0, m_st, m_un), np.int8(0))
    months1 = np.where(emp1, np.where(stable1, m_st, m_un), np.int8(0)) if anyD else months0
    u_pl = rng.random(NP, dtype=f32)
    loc0 = np.full(NP, 0.35, f32)
    loc1 = np.clip(0.35 + pmult * eff.local, 0, 1)

    def place(p):
        i8 = np.int8
        return np.where(u_pl < p, i8(0), np.where(u_pl < p + (1 - p) * 0.45, i8(1), i8(2)))

    place0 = place(loc0)
    place1 = place(loc1) if anyD else place0
    u_pw = rng.random(NP, dtype=f32)
    pw0 = emp0 & (place0 == 0) & (u_pw < 0.04)
    pw1 = emp1 & (place1 == 0) & (u_pw < np.clip(0.04 + pmult * eff.public_welfare, 0, 1)) if anyD else pw0
    ws1 = emp1 & (place1 == 0) & ~pw1 & (pyear >= eff.workshop_from) & (u_pw > 1 - pmult * eff.workshop)
    ws0 = np.zeros(NP, bool)
    u_tr = rng.random(NP, dtype=f32)
    tr0 = labour & (u_tr < 0.12)
    tr1 = labour & (u_tr < np.clip(0.12 + pmult * eff.training, 0, 1)) if anyD else tr0

    # 2021 guarantee: every relocated labour household has >= 1 member in stable work (a
    # public-welfare job in the county for the first labour member when nobody works >= 6 months)
    labour_members = _runs(labour, starts)
    if eff.employment_guarantee_from is not None and anyD:
        lab_hh = labour_members > 0
        stable_hh = _runs(months1 >= 6, starts) > 0
        need = lab_hh & ~stable_hh & D & (year >= eff.employment_guarantee_from)
        cand = np.flatnonzero(labour & need[key])
        if cand.size:
            _, first = np.unique(key[cand], return_index=True)
            idx = cand[first]
            emp1[idx] = True
            months1[idx] = 12
            place1[idx] = 0
            pw1[idx] = True
            ws1[idx] = False

    emp = np.where(pD, emp1, emp0)
    months = np.where(pD, months1, months0)
    place_ = np.where(pD, place1, place0)
    pw = np.where(pD, pw1, pw0)
    ws = np.where(pD, ws1, ws0)
    tr = np.where(pD, tr1, tr0)

    # insurance: enrolment of registered poor reaches 100% by 2017 (policy, not relocation)
    u_ins = rng.random(NP, dtype=f32)
    p_ins = np.where(pyear >= 2017, f32(1.0), np.where(pyear == 2016, f32(0.98), f32(0.95)))
    insured = u_ins < p_ins

    # elder care
    u_el = rng.random(NP, dtype=f32)
    served0 = elder_need & (u_el < 0.05)
    served1 = elder_need & (u_el < 0.05 + np.where(pyear >= eff.elder_care_from, pmult * eff.elder_care, 0)) \
        if anyD else served0

    # household aggregates (sums over each household-year's persons), all in one packed pass
    def outcomes(emp, months, place, pw, ws, tr, in_school, served):
        return dict(employed_members=emp, stably_employed_members=months >= 6,
                    local_employed_members=emp & (place == 0), public_welfare_job_members=pw,
                    workshop_job_members=ws, trained_members=tr, months_worked=months,
                    children_6_15_in_school=in_school, elders_served=served)

    person0 = outcomes(emp0, months0, place0, pw0, ws0, tr0, in_school0, served0)
    person1 = outcomes(emp1, months1, place1, pw1, ws1, tr1, in_school1, served1) if anyD else {}
    sums = _run_sums([*person0.values(), *person1.values(), child, elder_need, insured], starts)
    agg0 = dict(zip(person0, sums))
    agg1 = dict(zip(person1, sums[len(person0):])) if anyD else agg0
    children_n, elders_need_n, insured_n = sums[-3:]
    size = rep(hh["size"])

    # income ----------------------------------------------------------------------------------
    m_t = _counterfactual_income(years)[yi]
    s_e = 0.15
    log0 = (np.log(m_t) - (0.25 ** 2 + s_e ** 2) / 2 + rep(hh["alpha"]) + s_e * rng.standard_normal(N)
            + np.where(relocated, eff.pretrend * (year - g), 0.0))
    tau = np.where(relocated & (e >= 0), _dyn(eff.income_log, eff.income_log_slope, e, cap, mult), 0.0)
    log1 = log0 + tau
    line = _line(years)[yi]
    u_top = rng.random(N)
    floor = np.where(np.isnan(line), 0.0, line * (1.02 + 0.10 * u_top))
    y0, y1 = np.exp(log0), np.exp(log1)
    pc0 = np.maximum(y0, np.where(y0 < line, floor, 0.0))
    pc1 = np.maximum(y1, np.where(y1 < line, floor, 0.0))
    topup0 = (pc0 - y0) * size
    topup1 = (pc1 - y1) * size
    w_noise = 0.08 * rng.standard_normal(N)
    r = rng.random((N, 3))
    # shares (0.45, 0.05, 0.50) * (0.5 + r) of the rest, normalised by their sum added left to
    # right (as numpy's row sum does); only the first two shares are used
    share_b, share_p, share_t = 0.45 * (0.5 + r[:, 0]), 0.05 * (0.5 + r[:, 1]), 0.50 * (0.5 + r[:, 2])
    share_sum = share_b + share_p + share_t
    share_b /= share_sum
    share_p /= share_sum

    def components(pc, topup, employed, treated_share):
        total = pc * size - topup
        w = np.where(employed > 0, np.clip(0.76 + treated_share + w_noise, 0.05, 0.95), 0.0)
        wage = np.round(total * w)
        rest = total - wage
        bnet = rest * share_b
        gross = np.round(bnet / 0.65)
        cost = np.round(gross * 0.35)
        prop = np.round(rest * share_p)
        transfer = np.round(total + topup - wage - (gross - cost) - prop)
        transfer = np.maximum(transfer, 0.0)
        net = wage + gross - cost + prop + transfer
        return wage, gross, cost, prop, transfer, net

    share1 = np.where(D, mult * eff.wage_share, 0.0)
    c0 = components(pc0, topup0, agg0["employed_members"], 0.0)
    c1 = components(pc1, topup1, agg1["employed_members"], share1)
    wage, gross, cost, prop, transfer, net = (np.where(D, b, a) for a, b in zip(c0, c1))
    pcni = np.round(net / size, 2)

    # attrition (relocated households leave the site; rows stop after the exit year)
    keep = np.ones(N, bool)
    u_exit = rng.random(N)  # drawn always, so switching attrition on changes nothing else
    if eff.attrition > 0:
        z = (log0 - np.log(m_t)) / math.sqrt(0.25 ** 2 + s_e ** 2)
        hz = np.clip(eff.attrition * np.exp(-eff.attrition_selective * z), 0, 0.99)
        leave = D & (year > g) & (u_exit < hz)
        first_leave = np.where(leave, year, 99999).reshape(H, T).min(axis=1)
        keep = ~(relocated & (year > rep(first_leave)))

    # stable goal: residence, return, old house, certificate
    ret_hz = 0.004
    return_year = g + 1 + np.floor(np.log(rep(hh["return_u"])) / np.log(1 - ret_hz)).astype(np.int64)
    returned = D & (year >= return_year)
    u_ms = rng.random(N)
    part = (u_ms * 1000 % 6).astype(np.int64)
    months_full = np.where(u_ms < 0.90, 12, np.where(u_ms < 0.98, 6 + part, part))
    months_at_site = np.where(~relocated, -1,
                     np.where(~D, 0,
                     np.where(year == g, 13 - rep(hh["move_month"]),
                     np.where(returned, (u_ms * 3).astype(np.int64), months_full))))
    old_due = D
    demolished = np.where(D, year >= g + rep(hh["demolish_lag"]), False)
    certificate = np.where(D, year >= g + rep(hh["cert_lag"]), False)

    # integrated: family doctor, integration items, activities, voting
    u_fd = rng.random(N)
    p_fd0 = np.where(year >= 2017, 0.86, 0.30)
    fd0 = u_fd < p_fd0
    fd1 = u_fd < np.clip(p_fd0 + np.where(year >= 2017, mult * eff.family_doctor, 0), 0, 1)
    fd = np.where(D, fd1, fd0)
    L0 = (3.2 + rep(hh["integ_h"]) + 0.3 * rng.standard_normal(N)).astype(f32)
    L1 = L0 + np.where(D, _dyn(eff.integration, eff.integration_slope, e, cap, mult), 0.0).astype(f32)
    item_noise = f32(0.45) * rng.standard_normal((N, 4), dtype=f32)
    offs = np.array([0.25, 0.35, -0.15, -0.45], dtype=f32)

    def items(L):
        x = L[:, None] + offs
        x += item_noise
        np.rint(x, out=x)
        np.clip(x, 1, 4, out=x)
        return x.astype(np.int8)

    def index(it):  # mean of the four items rescaled to 0-1 (item sums <= 16 fit int8)
        return ((it[:, 0] + it[:, 1] + it[:, 2] + it[:, 3]) / 4 - 1) / 3

    it0, it1 = items(L0), items(L1)
    it = np.where(D[:, None], it1, it0)
    index0 = index(it0)
    index1 = index(it1)
    act0 = rng.poisson(3.0, N)
    act1 = act0 + rng.poisson(np.where(D, np.maximum(mult * eff.community_activities, 0), 0.0))
    act = np.where(D, act1, act0)
    u_v = rng.random(N)
    pv0 = 0.75
    v0 = u_v < pv0
    v1 = u_v < np.clip(pv0 + np.where(D, _dyn(eff.voted, eff.voted_slope, e, cap, mult), 0.0), 0, 1)
    voted = np.where(D, v1, v0)

    # inpatient costs and reimbursement
    hosp = rng.random(N) < 0.10 + 0.05 * np.minimum(elders_need_n, 2)
    cost_in = np.where(hosp, np.round(rng.lognormal(np.log(12000) - 0.32, 0.8, N)), 0.0)
    htype = rep(hh["htype"])
    u_r = rng.random(N)
    rate = np.where(htype == 2, 1.0, np.where(htype == 1, 0.82 + 0.08 * u_r, np.where(htype == 0, 0.90 + 0.05 * u_r,
                                                                                      0.70 + 0.10 * u_r)))
    rate = np.where(year >= 2017, rate, 0.60 + 0.15 * u_r)
    reimbursed = np.round(cost_in * rate)

    # monitoring (from 2020): entry when income is near the line or after a shock; clearance
    mon_cat = np.full(N, -1, np.int64)
    mon_start = np.full(N, -1, np.int64)
    cleared = np.zeros(N, bool)
    cleared_date = np.full(N, -1, np.int64)
    if T:
        u_in = rng.random(N).reshape(H, T)
        u_sh = rng.random(N).reshape(H, T)
        u_cl = rng.random(N).reshape(H, T)
        u_mo = rng.integers(1, 13, (H, T, 2))
        pc_m = pcni.reshape(H, T)
        cat = np.full(H, -1)
        start = np.full(H, -1)
        cl = np.zeros(H, bool)
        cl_date = np.full(H, -1)
        for t, y in enumerate(years):  # loop over years only (vectorised over households)
            if y >= 2020:
                ln = _line(np.array([y]))[0]
                new_shock = (cat < 0) & (u_sh[:, t] < 0.003)
                new_low = (cat < 0) & ~new_shock & (pc_m[:, t] < 1.3 * ln) & (u_in[:, t] < 0.05)
                cat = np.where(new_shock, 2, np.where(new_low, 0, cat))
                start = np.where(new_shock | new_low, y * 100 + u_mo[:, t, 0], start)
                clear_now = (cat >= 0) & ~cl & (start // 100 < y) & (pc_m[:, t] >= 1.3 * ln) & (u_cl[:, t] < 0.6)
                cl = cl | clear_now
                cl_date = np.where(clear_now, y * 100 + u_mo[:, t, 1], cl_date)
            mon_cat.reshape(H, T)[:, t] = cat
            mon_start.reshape(H, T)[:, t] = start
            cleared.reshape(H, T)[:, t] = cl
            cleared_date.reshape(H, T)[:, t] = cl_date

    # truth accumulators (treated household-years only) ------------------------------------
    tmask = D & keep
    if tmask.any():
        # differences over all rows; untreated rows go to an extra "dump" bin (no copies)
        sub = np.asarray
        lab = sub(labour_members) > 0
        nlab = np.maximum(sub(labour_members), 1)
        nan = np.nan
        diffs = dict(
            log_per_capita_net_income=np.log(sub(pc1)) - np.log(sub(pc0)),
            per_capita_net_income=sub(pc1) - sub(pc0),
            wage_share=sub(c1[0]) / sub(c1[5]) - sub(c0[0]) / sub(c0[5]),
            employed_members=None, employment_rate=np.where(
                lab, (sub(agg1["employed_members"]) - sub(agg0["employed_members"])) / nlab, nan),
            any_stable_employed=np.where(lab, (sub(agg1["stably_employed_members"]) > 0).astype(float)
                                         - (sub(agg0["stably_employed_members"]) > 0), nan),
            integration_index=sub(index1) - sub(index0),
            community_activities=sub(act1) - sub(act0),
            voted_in_election=sub(v1).astype(float) - sub(v0),
            family_doctor_signed=sub(fd1).astype(float) - sub(fd0),
        )
        for k in agg1:
            diffs[k] = sub(agg1[k]).astype(float) - sub(agg0[k])
        tau_t = sub(tau)
        # accumulators by (relocation year, year) cell -- event time, year and overall are
        # sums of cells -- and by site; arrays of fixed length indexed by code
        n_cells = 100 * 200
        n_sites = len(pop.site_names)
        groupings = (("cell", np.where(tmask, (g - 2000) * 200 + (year - 2000), n_cells), n_cells + 1),
                     ("site", np.where(tmask, site, n_sites), n_sites + 1))
        counts = {by: np.bincount(codes, minlength=length).astype(float) for by, codes, length in groupings}
        lab_counts = {by: np.bincount(codes, weights=lab, minlength=length) for by, codes, length in groupings}
        for name in TRUTH_OUTCOMES:
            d = diffs[name]
            ratio = name in _RATIO_OUTCOMES
            if ratio:
                d = np.where(lab, d, 0.0)
            for by, codes, length in groupings:
                acc = truth_acc.get((name, by))
                if acc is None:
                    acc = truth_acc[(name, by)] = np.zeros((3, length - 1))
                acc[0] += np.bincount(codes, weights=d, minlength=length)[:-1]
                if name == "log_per_capita_net_income":
                    acc[1] += np.bincount(codes, weights=tau_t, minlength=length)[:-1]
                acc[2] += (lab_counts[by] if ratio else counts[by])[:-1]

    # household-year columns ---------------------------------------------------------------
    hh_index = rep(np.arange(lo, hi))
    cols = dict(
        _hh=hh_index, year=year, _county=rep(hh["county"]), _township=rep(hh["township"]),
        _village=rep(hh["village"]), _natural_village=rep(hh["natural_village"]), _site=site,
        relocated=relocated, synchronised=rep(hh["synchronised"]), relocation_year=g,
        registered_poor=rep(hh["registered_poor"]), household_type=htype, household_size=size,
        labour_members=labour_members,
        **{k: np.where(D, agg1[k], agg0[k]) for k in ("employed_members", "stably_employed_members",
                                                        "local_employed_members", "public_welfare_job_members",
                                                        "workshop_job_members", "trained_members")},
        months_worked=np.where(D, agg1["months_worked"], agg0["months_worked"]).astype(float),
        wage_income=wage, business_income=gross, business_cost=cost, property_income=prop,
        transfer_income=transfer, net_income=net, per_capita_net_income=pcni,
        medical_insured_members=insured_n, medical_should_enrol_members=size,
        serious_illness_insured_members=insured_n, family_doctor_signed=fd,
        inpatient_eligible_cost=cost_in, inpatient_reimbursed=reimbursed,
        children_6_15=children_n, children_6_15_in_school=np.where(D, agg1["children_6_15_in_school"],
                                                                   agg0["children_6_15_in_school"]),
        elders_in_need=elders_need_n, elders_served=np.where(D, agg1["elders_served"], agg0["elders_served"]),
        months_at_site=months_at_site, _returned=np.where(D, returned, False), _D=D,
        old_house_due=old_due, old_house_demolished=demolished, property_certificate=certificate,
        integ_like_place=it[:, 0], integ_willing_fit_in=it[:, 1], integ_locals_accept=it[:, 2],
        integ_feel_local=it[:, 3], community_activities=act, voted_in_election=voted,
        monitoring_category=mon_cat, monitoring_start=mon_start, risk_cleared=cleared,
        risk_cleared_date=cleared_date, _stratum=rep(hh["stratum"]), _psu=rep(hh["psu"]),
        weight=rep(hh["weight"]), fpc=rep(hh["fpc"]), _selected=rep(hh["selected"]),
    )
    out = {"household": cols, "keep": keep & cols["_selected"]}
    if level == "person":
        pkeep = out["keep"][key]
        out["person"] = dict(
            _hh=hh_index[key], _slot=per["slot"][pidx], year=pyear,
            relationship=per["rel"][pidx], sex=per["sex"][pidx], age=age,
            education=np.where(age < 6, 0, np.where(age <= 15, np.minimum(2 + (age >= 12), 3),
                                                    per["edu_adult"][pidx])),
            school_status=np.where(age < 6, 1, np.where(child, np.where(in_school, 2, 3),
                                                        np.where(in_upper, 4, 0))),
            health=health,
            labour_skill=np.where(labour, np.where(per["skilled"][pidx], 1, 0),
                                  np.where(age < 16, 4, np.where((age >= 65) | bad_health, 3, 2))),
            labour_capable=labour, months_worked=months.astype(float),
            work_place=np.where(emp, place_, -1), public_welfare_job=pw,
            serious_illness_insured=insured, medical_insured=insured,
            employed=emp, workshop_job=ws, trained=tr, needs_care=elder_need,
        )
        out["person_keep"] = pkeep
    return out


# ============================================================================ assembling tables
def _dict_cache(pop: _Population) -> dict:
    """Arrow string dictionaries of the population's names (built once per population)."""
    cache = pop.arrow_cache
    if not cache:
        nv = pop.village_names
        cache["county"] = pa.array(pop.county_names.tolist(), pa.string())
        cache["township"] = pa.array(pop.township_names.tolist(), pa.string())
        cache["village"] = pa.array(nv.tolist(), pa.string())
        # "<village>自然村1".."3", joined in Arrow (500,000 names at national size)
        cache["natural_village"] = pa.compute.binary_join_element_wise(
            cache["village"].take(np.repeat(np.arange(len(nv)), 3)),
            pa.array(["自然村1", "自然村2", "自然村3"]).take(np.tile(np.arange(3), len(nv))), "")
        cache["site"] = pa.array(pop.site_names.tolist(), pa.string())
        cache["stratum"] = pa.array(pop.stratum_names.tolist(), pa.string())
        cache["psu"] = pa.array(pop.psu_names.tolist(), pa.string())
        cache["batch_offset"] = 1990
        cache["batch"] = pa.array([f"{1990 + i}年批次" for i in range(120)], pa.string())
        for name, labels in (("relationship", RELATIONSHIPS), ("education", EDUCATION),
                             ("school_status", SCHOOL_STATUS), ("health", HEALTH), ("labour_skill", LABOUR_SKILL)):
            cache[name] = pa.array(list(labels), pa.string())
    return cache


def _pool() -> pa.MemoryPool:
    """Arrow memory pool of the simulator's blocks: the system allocator. Blocks allocate and
    free hundreds of MB each; Arrow's default (mimalloc) hands such memory back to the OS and
    faults it in again for the next block, which cost ~10% more CPU (system time) writing
    400,000 households on 2 threads. The data are the same whichever pool."""
    return pa.system_memory_pool()


def _decode(codes: np.ndarray, dictionary: pa.Array, mask: np.ndarray | None = None) -> pa.Array:
    """Strings dictionary[codes] built in Arrow (C++), null where ``mask``."""
    codes = np.asarray(codes)
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32) if mask is not None else codes.astype(np.int32),
                   mask=mask, memory_pool=_pool())
    return pa.compute.take(dictionary, idx, memory_pool=_pool())


def _cat(codes, labels) -> pa.Array:
    codes = np.asarray(codes)
    mask = codes < 0
    return pa.DictionaryArray.from_arrays(
        pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask, memory_pool=_pool()),
        pa.array(list(labels), pa.string()))


def _period(values: np.ndarray) -> pa.Array:
    """YYYYMM integers -> strings (null where < 0)."""
    values = np.asarray(values, dtype=np.int64)
    return pa.compute.cast(pa.array(values, mask=values < 0, memory_pool=_pool()), pa.string(),
                           memory_pool=_pool())


def _arrow_table(pop: _Population, cols: dict, keep: np.ndarray, table: Level, mode: Mode) -> pa.Table:
    """Canonical arrow table (schema order, schema types) from chunk columns."""
    if keep.all():
        c = cols
    else:
        take = np.flatnonzero(keep)
        c = {k: v[take] for k, v in cols.items()}
    n = len(c["year"])
    dic = _dict_cache(pop)
    hh_codes = c["_hh"]
    lo = int(hh_codes.min()) if n else 0
    hi = int(hh_codes.max()) + 1 if n else 0
    # household IDs: region prefix + "H" + the index zero-padded to 8 digits, built in Arrow
    pool = _pool()
    index = pa.compute.cast(pa.array(np.arange(lo, hi), memory_pool=pool), pa.string(), memory_pool=pool)
    ids = pa.compute.binary_join_element_wise(_region_prefix(pop.region) + "H",
                                              pa.compute.utf8_lpad(index, 8, "0", memory_pool=pool), "",
                                              memory_pool=pool)
    hh_ids = _decode(hh_codes - lo, ids)
    arrays: dict[str, pa.Array] = {}
    i64 = lambda a, mask=None: pa.array(np.asarray(a, dtype=np.int64), mask=mask, memory_pool=pool)  # noqa: E731
    f64 = lambda a, mask=None: pa.array(np.asarray(a, dtype=np.float64), mask=mask, memory_pool=pool)  # noqa: E731
    bl = lambda a, mask=None: pa.array(np.asarray(a, dtype=bool), mask=mask, memory_pool=pool)  # noqa: E731

    if table == "household":
        rel = c["relocated"]
        D = c["_D"]
        arrays["household_id"] = hh_ids
        arrays["year"] = i64(c["year"])
        arrays["county"] = _decode(c["_county"], dic["county"])
        arrays["township"] = _decode(c["_township"], dic["township"])
        arrays["origin_village"] = _decode(c["_village"], dic["village"])
        arrays["natural_village"] = _decode(c["_village"] * 3 + c["_natural_village"] - 1, dic["natural_village"])
        arrays["site"] = _decode(np.maximum(c["_site"], 0), dic["site"], mask=~rel)
        for b in ("relocated", "synchronised", "registered_poor", "family_doctor_signed", "voted_in_election"):
            arrays[b] = bl(c[b])
        # empty (not 0) for households that did not relocate: the schema's range is 2001-2025;
        # estimators that want gname = 0 for never treated use .fillna(0)
        arrays["relocation_year"] = i64(c["relocation_year"], ~rel)
        arrays["relocation_batch"] = _decode(np.clip(c["relocation_year"] - dic["batch_offset"], 0, 119), dic["batch"],
                                             mask=~rel)
        arrays["household_type"] = _cat(c["household_type"], HOUSEHOLD_TYPES)
        for k in ("household_size", "labour_members", "employed_members", "stably_employed_members",
                  "local_employed_members", "public_welfare_job_members", "workshop_job_members",
                  "trained_members", "medical_insured_members", "medical_should_enrol_members",
                  "serious_illness_insured_members", "children_6_15", "children_6_15_in_school",
                  "elders_in_need", "elders_served", "integ_like_place", "integ_willing_fit_in",
                  "integ_locals_accept", "integ_feel_local", "community_activities"):
            arrays[k] = i64(c[k])
        for k in ("months_worked", "wage_income", "business_income", "business_cost", "property_income",
                  "transfer_income", "net_income", "per_capita_net_income", "inpatient_eligible_cost",
                  "inpatient_reimbursed"):
            arrays[k] = f64(c[k])
        arrays["months_at_site"] = i64(c["months_at_site"], c["months_at_site"] < 0)
        arrays["returned_to_origin"] = bl(c["_returned"], ~D)
        # moved in to the site by this year (from the relocation year on); empty for comparison households
        arrays["moved_in"] = bl(D, ~rel)
        arrays["old_house_due"] = bl(c["old_house_due"])
        arrays["old_house_demolished"] = bl(c["old_house_demolished"], ~D)
        arrays["property_certificate"] = bl(c["property_certificate"], ~D)
        mon = c["monitoring_category"] >= 0
        arrays["monitoring_category"] = _cat(c["monitoring_category"], MONITORING_CATEGORIES)
        arrays["risk_cleared"] = bl(c["risk_cleared"], ~mon)
        arrays["monitoring_start"] = _period(c["monitoring_start"])
        arrays["risk_cleared_date"] = _period(c["risk_cleared_date"])
        survey = mode == "survey"
        arrays["weight"] = f64(c["weight"], None if survey else np.ones(n, bool))
        arrays["stratum"] = _decode(c["_stratum"], dic["stratum"])
        arrays["psu"] = _decode(c["_psu"], dic["psu"])
        arrays["fpc"] = f64(c["fpc"], None if survey else np.ones(n, bool))
        fields = [f["name"] for f in schema_fields("household") if not f.get("personal")]
    else:
        arrays["household_id"] = hh_ids
        slot = _period(np.asarray(c["_slot"], np.int64) + 101)  # "101".. -> person suffix "01"..
        suffix = pa.compute.utf8_slice_codeunits(slot, 1, memory_pool=pool)
        arrays["person_id"] = pa.compute.binary_join_element_wise(hh_ids, suffix, "", memory_pool=pool)
        arrays["year"] = i64(c["year"])
        arrays["relationship"] = _decode(c["relationship"], dic["relationship"])
        arrays["sex"] = _cat(c["sex"], SEXES)
        arrays["age"] = i64(c["age"])
        for k in ("education", "school_status", "health", "labour_skill"):
            arrays[k] = _decode(c[k], dic[k])
        arrays["months_worked"] = f64(c["months_worked"])
        arrays["work_place"] = _cat(c["work_place"], WORK_PLACES)
        for b in ("labour_capable", "public_welfare_job", "serious_illness_insured", "medical_insured",
                  "employed", "workshop_job", "trained", "needs_care"):
            arrays[b] = bl(c[b])
        fields = [f["name"] for f in schema_fields("person") if not f.get("personal")]
    missing = [f for f in fields if f not in arrays]
    if missing:  # pragma: no cover - a schema field this simulator does not produce
        raise ParameterError(f"simulator does not produce schema fields {missing}")
    return pa.table({f: arrays[f] for f in fields})


def _truth_frame(pop: _Population, acc: dict) -> pd.DataFrame:
    """Tidy truth table from the accumulators: one vectorised part per (outcome, by), in the
    order outcome, then overall / event_time / site / year, each by ascending code (site names
    are zero-padded, so code order is name order); 630,000 rows at national size."""
    by_order = {"overall": 0, "event_time": 1, "site": 2, "year": 3}
    parts = []
    for (name, by0), arr0 in acc.items():
        if by0 == "cell":  # (g, year) cells -> event time, year, overall
            cells = np.flatnonzero(arr0[2] > 0)
            g, yr = cells // 200 + 2000, cells % 200 + 2000
            split = (("event_time", yr - g), ("year", yr - 2000), ("overall", np.zeros(len(cells), np.int64)))
            tables = [(by, np.stack([np.bincount(c, weights=arr0[k, cells], minlength=200) for k in range(3)]))
                      for by, c in split]
        else:
            tables = [(by0, arr0)]
        for by, arr in tables:
            code = np.flatnonzero(arr[2] > 0)
            n = np.round(arr[2, code]).astype(np.int64)
            parts.append(((list(TRUTH_OUTCOMES).index(name), by_order[by]), name, by, code, arr[0, code] / n,
                          n, arr[1, code] / n if name == "log_per_capita_net_income" else np.full(len(code), np.nan)))
    columns = ["outcome", "by", "event_time", "site", "year", "att", "n", "structural"]
    if not parts or not sum(len(p[3]) for p in parts):
        return pd.DataFrame([], columns=columns)
    parts.sort(key=lambda p: p[0])
    code = np.concatenate([p[3] for p in parts])
    by = np.concatenate([np.full(len(p[3]), p[2], dtype=object) for p in parts])
    missing = np.full(len(code), np.nan)
    site = np.full(len(code), None, dtype=object)
    is_site = by == "site"
    site[is_site] = pop.site_names[code[is_site]].tolist()
    df = pd.DataFrame({
        "outcome": np.concatenate([np.full(len(p[3]), p[1], dtype=object) for p in parts]),
        "by": by,
        "event_time": np.where(by == "event_time", code, missing),
        "site": pd.Series(site, dtype="str"),
        "year": np.where(by == "year", code + 2000, missing),
        "att": np.concatenate([p[4] for p in parts]),
        "n": np.concatenate([p[5] for p in parts]),
        "structural": np.concatenate([p[6] for p in parts]),
    })
    df["event_time"] = df["event_time"].astype("Int64")
    df["year"] = df["year"].astype("Int64")
    df["site"] = df["site"].astype(object)
    return df


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(),
               pa.large_string(): pd.StringDtype()}
    df = table.to_pandas(types_mapper=mapping.get)
    return df


# ============================================================================ public API
def _resolve(households, sites, comparison, years, seed, mode, level, effects, residents, region=None) -> dict:
    _check_choice("mode", mode, get_args(Mode))
    _check_choice("level", level, get_args(Level))
    households = BAODE_HOUSEHOLDS if households is None else households
    sites = BAODE_SITES if sites is None else sites
    for name, v, lo_ in (("households", households, 1), ("sites", sites, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo_:
            raise ParameterError(f"{name} must be an integer >= {lo_}, got {v!r}")
    if sites > households:
        raise ParameterError(f"sites ({sites}) cannot exceed households ({households})")
    comparison = int(round(0.5 * households)) if comparison is None else comparison
    if isinstance(comparison, bool) or not isinstance(comparison, (int, np.integer)) or comparison < 0:
        raise ParameterError(f"comparison must be an integer >= 0, got {comparison!r}")
    if isinstance(years, str):
        years = parse_years(years)
    try:
        y0, y1 = (int(y) for y in years)
    except (TypeError, ValueError):
        raise ParameterError(f"years must be a pair (first, last), got {years!r}") from None
    if not (2000 <= y0 <= y1 <= 2100):
        raise ParameterError(f"years must satisfy 2000 <= first <= last <= 2100, got {y0}-{y1}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be an integer >= 0, got {seed!r}")
    effects = Effects() if effects is None else effects
    if not isinstance(effects, Effects):
        raise ParameterError("effects must be a baode_eval.simulate.Effects instance")
    effects.validate()
    if residents is not None and (not isinstance(residents, (int, np.integer)) or residents < households):
        raise ParameterError(f"residents must be an integer >= households, got {residents!r}")
    if region is not None and (isinstance(region, bool) or not isinstance(region, (int, np.integer))
                               or not 0 <= region < 1000):
        raise ParameterError(f"region must be an integer from 0 to 999 (or None), got {region!r}")
    return dict(households=int(households), sites=int(sites), comparison=int(comparison), years=(y0, y1),
                seed=int(seed), mode=mode, level=level, effects=effects, residents=residents,
                region=None if region is None else int(region))


def _iterate(households=None, sites=None, years=(2014, 2024), seed=0, mode: Mode = "census",
             effects: Effects | None = None, level: Level = "household", comparison=None, units=None,
             residents=None, psu_fraction=0.5, households_per_psu=12, threads=1, region=None):
    """Generator of arrow tables (one per household block) + the population and truth accumulator."""
    r = _resolve(households, sites, comparison, years, seed, mode, level, effects, residents, region)
    if not 0 < psu_fraction <= 1:
        raise ParameterError(f"psu_fraction must be in (0, 1], got {psu_fraction}")
    if households_per_psu < 1:
        raise ParameterError(f"households_per_psu must be >= 1, got {households_per_psu}")
    pop = _build_population(r["households"], r["sites"], r["comparison"], r["residents"], units, r["years"],
                            r["seed"], r["mode"], r["effects"], psu_fraction, households_per_psu, r["region"])
    params = dict(
        households=r["households"], sites=r["sites"], comparison=r["comparison"], years=list(r["years"]),
        seed=r["seed"], mode=r["mode"], level=r["level"], units=int(pop.site_units.sum()),
        residents=int(pop.hh["size"][: pop.n_rel].sum()), psu_fraction=psu_fraction,
        households_per_psu=households_per_psu, chunk_households=CHUNK_HOUSEHOLDS,
        effects={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(r["effects"]).items()},
        site_multipliers=[float(x) for x in pop.site_multiplier] if r["sites"] <= 1000 else "not listed (> 1000 sites)",
        counterfactual_income=COUNTERFACTUAL_INCOME, monitoring_line=MONITORING_LINE,
        batch_years=list(BATCH_YEARS), batch_shares=list(BATCH_SHARES), reference_year=REFERENCE_YEAR,
    )
    if r["region"] is not None:  # only then, so that files without regions keep their bytes
        params["region"] = r["region"]
    pop.params = params
    acc: dict = {}

    starts = list(range(0, pop.n_hh, CHUNK_HOUSEHOLDS))

    def gen() -> Iterator[pa.Table]:
        # Each block has its own accumulator, merged in block order: the truth is the same
        # floating-point sum whatever the number of threads.
        _dict_cache(pop)  # built once, before any thread reads it

        def work(lo):
            part: dict = {}
            return _block(pop, lo, r["level"], r["mode"], part), part

        def merge(part):
            for k, arr in part.items():
                if k in acc:
                    acc[k] += arr
                else:
                    acc[k] = arr

        if threads <= 1 or len(starts) <= 1:
            for lo in starts:
                table, part = work(lo)
                merge(part)
                yield table
            return
        from concurrent.futures import ThreadPoolExecutor

        # numpy and arrow release the GIL in their kernels, so blocks overlap on several cores;
        # at most threads + 1 blocks in flight bounds memory
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending = [pool.submit(work, lo) for lo in starts[: threads + 1]]
            nxt = threads + 1
            while pending:
                table, part = pending.pop(0).result()
                if nxt < len(starts):
                    pending.append(pool.submit(work, starts[nxt]))
                    nxt += 1
                merge(part)
                yield table

    return pop, acc, gen()


def _block(pop: _Population, lo: int, level: Level, mode: Mode, acc: dict) -> pa.Table:
    hi = min(lo + CHUNK_HOUSEHOLDS, pop.n_hh)
    out = _chunk(pop, lo, hi, level, acc)
    if level == "household":
        return _arrow_table(pop, out["household"], out["keep"], "household", mode)
    return _arrow_table(pop, out["person"], out["person_keep"], "person", mode)


def _site_table(pop: _Population) -> pd.DataFrame:
    site = pop.hh["site"][: pop.n_rel]
    size = pop.hh["size"][: pop.n_rel]
    return pd.DataFrame({
        "site": pop.site_names,
        "units": pop.site_units,
        "households": np.bincount(site, minlength=len(pop.site_names)),
        "residents": np.bincount(site, weights=size, minlength=len(pop.site_names)).astype(np.int64),
        "effect_multiplier": pop.site_multiplier,
    })


def simulate(households: int | None = None, sites: int | None = None, years=(2014, 2024), seed: int = 0,
             mode: Mode = "census", effects: Effects | None = None, level: Level = "household", *,
             comparison: int | None = None, units: int | None = None, residents: int | None = None,
             psu_fraction: float = 0.5, households_per_psu: int = 12, region: int | None = None) -> SimulationResult:
    """Simulate a household (or person) panel of relocated and comparison households.

    Parameters
    ----------
    households : relocated households (default 2,166, Baode); ``comparison`` formerly-poor
        households that were not relocated are added (default half as many).
    sites : resettlement sites (default 4, Baode); households spread over them.
    years : (first, last) calendar years, or ``"2014-2024"``.
    seed : the only source of randomness; same seed -> identical data.
    mode : ``"census"`` (every household; ``weight``/``fpc`` empty) or ``"survey"``
        (stratified two-stage sample: strata = sites, and one comparison stratum per county;
        PSUs = buildings of ~30 households at sites and origin villages for comparison;
        ``psu_fraction`` of PSUs per stratum (at least 2), then ``households_per_psu``
        households per PSU; ``weight`` = inverse inclusion probability, ``fpc`` = PSUs in the
        stratum). The same households are followed in every year.
    effects : :class:`Effects` (default: the calibrated Baode effects; ``NULL_EFFECTS`` for none).
    level : ``"household"`` (household-year rows) or ``"person"`` (person-year rows).
    units : housing units (default 2,197 for Baode: 31 more than households).
    residents : relocated residents (default 6,583 for Baode, hit exactly).
    region : ``None`` (default) or 0, 1, 2 ...: one region of a registry too large to simulate
        at once. Region r draws independent random streams (child streams of ``seed``) and
        prefixes every name and household ID with ``区域{r+1:03d}-``, so that regions written
        to separate files form one dataset with distinct households, sites, counties and PSUs.

    Returns
    -------
    SimulationResult with ``data``, ``truth`` (finite-population ATT of each outcome over the
    census, see the module docstring), ``params`` and ``sites``.
    """
    pop, acc, gen = _iterate(households, sites, years, seed, mode, effects, level, comparison, units,
                             residents, psu_fraction, households_per_psu, region=region)
    tables = list(gen)
    data = _to_pandas(pa.concat_tables(tables)) if tables else pd.DataFrame()
    return SimulationResult(data=data, truth=_truth_frame(pop, acc), params=pop.params, sites=_site_table(pop))


# ============================================================================ export
def to_export(data: pd.DataFrame, *, table: Level = "household", lang: Lang = "zh") -> pd.DataFrame:
    """A realistic export of canonical data: ``zh`` headers from the codebook and 是/否 booleans.

    ``lang="en"`` returns the canonical frame unchanged (a copy). The caller's frame is never modified.
    """
    _check_choice("lang", lang, get_args(Lang))
    out = data.copy()
    if lang == "en":
        return out
    fields = {f["name"]: f for f in schema_fields(table)}
    for name, f in fields.items():
        if name in out and f["type"] == "bool":
            col = out[name].astype("boolean")
            out[name] = pd.Series(np.where(col.isna(), None, np.where(col.fillna(False), "是", "否")),
                                  index=out.index, dtype=object)
    return out.rename(columns={n: fields[n]["zh"] for n in out.columns if n in fields})


def add_personal_fields(data: pd.DataFrame, *, seed: int, table: Level = "household",
                        region_code: str = BAODE_REGION_CODE) -> pd.DataFrame:
    """Add synthetic names, 18-digit ID numbers (valid GB 11643 check digit) and phone numbers.

    For reader and privacy tests only: generated at run time, never committed. One identity per
    household (``head_name``…) or per person (``name``…); stable across years.
    """
    out = data.copy()
    key = out["person_id"] if table == "person" else out["household_id"]
    uniq, inv = np.unique(key.astype(str).to_numpy(), return_inverse=True)
    rng = np.random.default_rng([seed, 999_999])
    n = len(uniq)
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"))
    given = np.array(list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕鹏辉斌宇浩凯健俊帆"))
    names = np.char.add(surnames[rng.integers(0, len(surnames), n)], given[rng.integers(0, len(given), n)])
    two = rng.random(n) < 0.6
    names = np.where(two, np.char.add(names, given[rng.integers(0, len(given), n)]), names)
    age = out["age"].to_numpy() if "age" in out else np.full(len(out), 45)
    birth_year = np.zeros(n, np.int64)
    birth_year[inv] = (out["year"].to_numpy(dtype=np.int64) - np.asarray(age, dtype=np.int64))
    birth_year = np.clip(birth_year, 1920, 2024)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    # Sequence numbers unique among people born on the same day (as real ID numbers are):
    # a random offset per birth date plus the rank within that date, modulo 1000.
    date_key = birth_year * 10_000 + month * 100 + day
    rank = pd.Series(date_key).groupby(date_key).cumcount().to_numpy()
    seq = (rng.integers(0, 1000, n) + rank) % 1000
    offset = pd.Series(seq).groupby(date_key).transform("first").to_numpy()
    seq = (offset + rank) % 1000
    body = np.char.add(np.char.add(np.char.add(region_code, birth_year.astype(str)),
                                   np.char.add(np.char.zfill(month.astype(str), 2), np.char.zfill(day.astype(str), 2))),
                       np.char.zfill(seq.astype(str), 3))
    digits = (np.ascontiguousarray(body, dtype="<U17").view(np.uint32).reshape(n, 17) - 48).astype(np.int64)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"))[(digits @ weights) % 11] if n else np.array([], str)
    ids = np.char.add(body, check)
    phones = np.char.add(np.char.add("1", rng.choice(list("3456789"), n)),
                         np.char.zfill(((rng.integers(0, 10 ** 9) + np.arange(n) * 7_919) % 10 ** 9).astype(str), 9))
    prefix = "" if table == "person" else "head_"
    out[f"{prefix}name"] = pd.array(names[inv], dtype="string")
    out["id_number"] = pd.array(ids[inv], dtype="string")
    out["phone"] = pd.array(phones[inv], dtype="string")
    return out


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 (ISO 7064 MOD 11-2) check digit of an ID number's first 17 digits."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def load_simulated(path: str | Path | None = None) -> pd.DataFrame:
    """Read a simulated Parquet file (default: the bundled Baode panel) with the canonical dtypes.

    Canonical files only (``lang="en"``); exports in Chinese go through ``baode_eval.read``.
    """
    import pyarrow.parquet as pq

    path = Path(path) if path is not None else paths.synthetic_households()
    if not path.is_file():
        from .errors import DataError

        raise DataError("file not found", path=path)
    return _to_pandas(pq.read_table(path))


def truth_path(path: str | Path) -> Path:
    """Where the truth of a data file is written: ``PATH`` stem + ``.truth.csv``."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.csv")


def params_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".params.json")


def write_truth(truth: pd.DataFrame, path: str | Path) -> None:
    """The truth as CSV: the bytes of ``truth.to_csv(path, index=False, lineterminator="\\n",
    float_format="%.10g")``, written by joining formatted columns (to_csv's per-value
    formatting took seconds for the 630,000 rows of a national truth)."""
    columns, text_cells = [], [str(c) for c in truth.columns]
    for name in truth.columns:
        col = truth[name]
        fmt = "%.10g".__mod__ if col.dtype.kind == "f" else str
        cells = ["" if v is None else fmt(v) for v in col.to_numpy(dtype=object, na_value=None).tolist()]
        if col.dtype.kind not in "iufb":
            text_cells += cells
        columns.append(cells)
    text = "".join(text_cells)
    if any(ch in text for ch in ',"\r\n'):  # a cell to be quoted: leave the CSV dialect to pandas
        truth.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", float_format="%.10g")
        return
    lines = [",".join(str(c) for c in truth.columns)] + [",".join(row) for row in zip(*columns)]
    body = "\n".join(lines) + "\n"
    if hasattr(path, "write"):
        path.write(body)
        return
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(body)


XLSX_MAX_ROWS = 1_048_575

# Amounts in yuan: nearly every value distinct, so dictionary encoding hashes them only to give
# up at the dictionary page limit; BYTE_STREAM_SPLIT + snappy writes them in about a third of the
# time at about the same size. Row IDs are unique per row (person) or per 7-11 rows
# (household): plain encoding is faster and no larger.
_SPLIT_COLUMNS = ("wage_income", "business_income", "business_cost", "property_income", "transfer_income",
                  "net_income", "per_capita_net_income")
_PLAIN_COLUMNS = {"household": ("household_id", "inpatient_eligible_cost", "inpatient_reimbursed"),
                  "person": ("person_id",)}


def _parquet_encodings(schema: pa.Schema, level: Level) -> dict:
    """Column encodings of a canonical simulated file (ParquetWriter keywords): the data are the
    same whatever the encoding; other schemas (exports with Chinese headers) get the defaults."""
    split = [c for c in _SPLIT_COLUMNS if c in schema.names and schema.field(c).type == pa.float64()]
    plain = [c for c in _PLAIN_COLUMNS[level] if c in schema.names]
    if not split and not plain:
        return {}
    return dict(use_dictionary=[c for c in schema.names if c not in split and c not in plain],
                column_encoding={c: "BYTE_STREAM_SPLIT" for c in split} or None)


def write_simulation(out: str | Path, *, format: Format | None = None, lang: Lang = "en", personal: bool = False,
                     threads: int | None = None, **kwargs) -> dict:
    """Simulate and write the data to ``out`` (Parquet written in chunks), the truth beside it
    (``<stem>.truth.csv``) and the parameters (``<stem>.params.json``). Returns a small summary.

    ``format`` defaults to the suffix of ``out``. ``lang="zh"`` writes a realistic export
    (Chinese headers, 是/否; CSV in GBK); ``lang="en"`` the canonical schema (CSV in UTF-8).
    ``personal=True`` adds synthetic names, ID numbers and phones (never commit such files).
    ``threads``: blocks generated concurrently (default: the number of CPUs, at most 4); the
    data are identical whatever the number. Other keyword arguments go to :func:`simulate`.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    fmt = format or out.suffix.lstrip(".").lower()
    _check_choice("format", fmt, get_args(Format))
    _check_choice("lang", lang, get_args(Lang))
    level = kwargs.get("level", "household")
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(f"threads must be an integer >= 1, got {threads!r}")
    pop, acc, gen = _iterate(threads=threads, **kwargs)
    if not out.parent.is_dir():
        raise ParameterError(f"output folder does not exist: {out.parent}")
    rows = 0
    seed = pop.seed

    def frame(table: pa.Table) -> pd.DataFrame:
        df = _to_pandas(table)
        if personal:
            df = add_personal_fields(df, seed=seed, table=level)
        return to_export(df, table=level, lang=lang)

    if fmt == "parquet":
        from concurrent.futures import ThreadPoolExecutor

        writer = None
        pending = None
        # Arrow releases the GIL while writing: write block b while block b + 1 is generated.
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                for table in gen:
                    if personal or lang == "zh":
                        table = pa.Table.from_pandas(frame(table), preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(out, table.schema, compression="snappy", memory_pool=_pool(),
                                                  **_parquet_encodings(table.schema, level))
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(writer.write_table, table)
                    rows += table.num_rows
                if pending is not None:
                    pending.result()
            finally:
                if writer is not None:
                    writer.close()
    elif fmt == "csv":
        encoding = "gbk" if lang == "zh" else "utf-8"
        with open(out, "w", encoding=encoding, newline="") as fh:
            first = True
            for table in gen:
                df = frame(table)
                df.to_csv(fh, index=False, header=first, lineterminator="\r\n" if lang == "zh" else "\n")
                first = False
                rows += len(df)
    else:
        n_rows = pop.n_hh * len(pop.years) * (3 if level == "person" else 1)
        if n_rows > XLSX_MAX_ROWS:
            raise ParameterError(f"xlsx holds at most {XLSX_MAX_ROWS:,} rows; about {n_rows:,} requested: use parquet or csv")
        df = pd.concat([frame(t) for t in gen], ignore_index=True)
        df.to_excel(out, index=False, sheet_name="household" if level == "household" else "person")
        rows = len(df)
    truth = _truth_frame(pop, acc)
    write_truth(truth, truth_path(out))
    with open(params_path(out), "w", encoding="utf-8") as fh:
        json.dump(pop.params, fh, ensure_ascii=False, indent=1, sort_keys=True)
        fh.write("\n")
    return dict(path=str(out), rows=rows, truth=str(truth_path(out)), params=str(params_path(out)))


__all__ = [
    "Effects", "NULL_EFFECTS", "SimulationResult", "simulate", "write_simulation", "to_export",
    "add_personal_fields", "id_check_digit", "truth_path", "parse_years", "TRUTH_OUTCOMES", "load_simulated",
]
