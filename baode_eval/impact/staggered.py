"""Callaway & Sant'Anna (2021) group-time average treatment effects for staggered adoption.

Callaway, B. and Sant'Anna, P. H. C. (2021), "Difference-in-Differences with multiple time
periods", Journal of Econometrics 225(2), 200–230. Implemented here (panel data) to reproduce
R ``did`` (``att_gt`` then ``aggte``): the same comparison groups, base periods, aggregation
weights (including the influence-function term for estimated weights, ``wif``), Wald pre-test
and multiplier bootstrap (Mammen weights, IQR-based standard errors, sup-t uniform bands).
Checked against the published ``mpdta`` output in tests/test_impact_reference.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, ParameterError
from ._drdid import att_dr_panel, att_unconditional
from ._options import (few_clusters_note, first_treatment, se_note_if, Aggregation, BasePeriod, BootstrapWeights, ControlGroup,
                       check_choice, check_columns, check_level, numeric, unit_weights)
from ._results import ImpactResult, fmt, normal_table, overall_from_row, table_text


class PanelPreparationWarning(UserWarning):
    """Units were dropped or recoded while preparing the panel (the message says which)."""


def _wide_panel(data, *, yname, idname, tname, gname, weights, cluster, covariates, anticipation=0):
    """Balanced wide panel: Y (units x periods), G, w, cluster labels, X (first-period covariates)."""
    check_columns(data, [yname, idname, tname, gname, weights, cluster, *covariates])
    frame = pd.DataFrame({
        "id": data[idname].to_numpy(), "t": numeric(data, tname), "y": numeric(data, yname),
        "g": first_treatment(data, gname), "w": unit_weights(data, weights),
    })
    if cluster is not None:
        frame["cl"] = data[cluster].to_numpy()
    for j, c in enumerate(covariates):
        frame[f"x{j}"] = numeric(data, c)
    if frame.duplicated(["id", "t"]).any():
        raise DataError(f"({idname}, {tname}) does not identify rows: there are duplicates")
    by_unit = frame.groupby("id", sort=True)
    for col, name in [("g", gname), ("w", weights), ("cl", cluster)]:
        if col in frame and (by_unit[col].nunique() > 1).any():
            raise DataError(f"column {name!r} must be constant within each {idname}")
    periods = np.sort(frame["t"].unique())
    counts = by_unit["t"].nunique()
    dropped = int((counts < len(periods)).sum())
    if dropped:
        warnings.warn(f"{dropped} unit(s) not observed in all {len(periods)} periods were dropped "
                      "(balanced panel required, as R did with panel = TRUE)", PanelPreparationWarning,
                      stacklevel=3)
        keep = counts.index[counts == len(periods)]
        frame = frame[frame["id"].isin(keep)]
    y = frame.pivot(index="id", columns="t", values="y").sort_index()
    first = frame.sort_values(["id", "t"]).groupby("id", sort=True).first()
    ids = y.index.to_numpy()
    g = first["g"].to_numpy()
    late = (g > periods[-1]).sum()
    if late:
        warnings.warn(f"{int(late)} unit(s) first treated after the last period are treated as never "
                      "treated", PanelPreparationWarning, stacklevel=3)
        g = np.where(g > periods[-1], 0.0, g)
    always = (g > 0) & (g <= periods[0] + anticipation)
    if always.any():
        warnings.warn(f"{int(always.sum())} unit(s) treated (or anticipating treatment) in the first period were "
                      "dropped (no untreated period to compare)", PanelPreparationWarning, stacklevel=3)
        keep = ~always
        y, g, ids, first = y.iloc[keep], g[keep], ids[keep], first.iloc[keep]
    x = None
    if covariates:
        x = np.column_stack([np.ones(len(g)), first[[f"x{j}" for j in range(len(covariates))]].to_numpy()])
    cl = first["cl"].to_numpy() if cluster is not None else None
    return y.to_numpy(dtype="float64"), periods, g, first["w"].to_numpy(), cl, x, ids


def _se_from_if(inf: np.ndarray, cluster_codes: np.ndarray | None) -> np.ndarray:
    """Analytic SEs of estimates whose influence functions are the columns of ``inf``."""
    n = inf.shape[0]
    if cluster_codes is None:
        return np.sqrt((inf**2).sum(axis=0)) / n
    g = int(cluster_codes.max()) + 1
    sums = np.stack([np.bincount(cluster_codes, weights=inf[:, j], minlength=g) for j in range(inf.shape[1])], axis=1)
    return np.sqrt(g / (g - 1) * (sums**2).sum(axis=0)) / n


def _multiplier_bootstrap(inf, cluster_codes, *, n_boot, kind, rng, level):
    """R did's ``mboot``: bootstrap draws of sqrt(n) * mean(v * IF); IQR SE; sup-t critical value."""
    n = inf.shape[0]
    if cluster_codes is not None:
        g = int(cluster_codes.max()) + 1
        size = np.bincount(cluster_codes, minlength=g)
        units = np.stack([np.bincount(cluster_codes, weights=inf[:, j], minlength=g) for j in range(inf.shape[1])], axis=1) / size[:, None]
        scale_n = g
    else:
        units, scale_n = inf, n
    draws = np.empty((n_boot, inf.shape[1]))
    chunk = max(1, int(2e7 // max(units.shape[0], 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        if kind == "mammen":
            s5 = np.sqrt(5.0)
            p = (s5 + 1) / (2 * s5)
            v = np.where(rng.random((b, units.shape[0])) < p, -(s5 - 1) / 2, (s5 + 1) / 2)
        else:
            v = np.where(rng.random((b, units.shape[0])) < 0.5, -1.0, 1.0)
        draws[start:start + b] = np.sqrt(scale_n) * (v @ units) / units.shape[0]
    q75, q25 = np.quantile(draws, 0.75, axis=0, method="inverted_cdf"), np.quantile(draws, 0.25, axis=0, method="inverted_cdf")
    sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    se = sigma / np.sqrt(scale_n)
    ok = sigma > np.sqrt(np.finfo(float).eps) * 10
    tmax = np.abs(draws[:, ok] / sigma[ok]).max(axis=1) if ok.any() else np.array([np.nan])
    crit = float(np.quantile(tmax, level, method="inverted_cdf"))
    se = np.where(ok, se, np.nan)
    return se, crit


class StaggeredDiDResult(ImpactResult):
    """Group-time ATT(g,t) with influence functions; ``aggregate()`` for summaries."""

    title = "Callaway–Sant'Anna group-time ATT(g,t)"

    def __init__(self, cells: pd.DataFrame, inf: np.ndarray, *, unit_g, unit_w, cluster_codes, periods,
                 groups, pg, level, control_group, base_period, method, n_units, n_clusters, cluster_label,
                 anticipation=0,
                 bootstrap, bootstrap_weights, seed, pretest, yname):
        self._cells = cells
        self._inf = inf
        self._unit_g, self._unit_w, self._cluster_codes = unit_g, unit_w, cluster_codes
        self.periods, self.groups, self._pg = periods, groups, pg
        self.level, self.control_group, self.base_period, self.method = level, control_group, base_period, method
        self._bootstrap = bootstrap
        self._bootstrap_weights, self._seed = bootstrap_weights, seed
        self.pretest = pretest
        self.yname = yname
        se = cells["std_error"].to_numpy()
        crit = cells.attrs.get("crit")
        tab = normal_table([f"ATT({int(g)},{int(t)})" for g, t in zip(cells["group"], cells["time"])],
                           cells["estimate"], se, level=level, crit=crit)
        tab.insert(1, "group", cells["group"].astype("int64").to_numpy())
        tab.insert(2, "time", cells["time"].astype("int64").to_numpy())
        tab["n_treated"] = cells["n_treated"].to_numpy()
        tab["n_control"] = cells["n_control"].to_numpy()
        self._tidy = tab
        se_kind = (f"multiplier bootstrap ({bootstrap} draws, {bootstrap_weights} weights, seed {seed})"
                   if bootstrap else "analytic (influence function)")
        self._glance = {
            "estimator": "callaway_santanna", "method": method, "control_group": control_group,
            "base_period": base_period, "anticipation": anticipation, "n_units": n_units, "n_clusters": n_clusters,
            "n_periods": len(periods), "n_groups": len(groups), "se": se_kind,
            "pretest_statistic": pretest["statistic"], "pretest_df": pretest["df"], "pretest_p_value": pretest["p_value"],
        }
        self.notes = [cluster_label, *few_clusters_note(n_clusters),
                      "Uniform (sup-t) bands from the bootstrap." if crit is not None else "Pointwise intervals."]
        self._overall = overall_from_row(self.aggregate("simple").tidy().iloc[0])

    def tidy(self) -> pd.DataFrame:
        """One row per (group, time): ``term, group, time, estimate, std_error, …, ci_low, ci_high``."""
        return self._tidy.copy()

    # ---- aggregation (R did::aggte) ---------------------------------------------------------
    def _wif(self, pg_cells: np.ndarray, groups_of_keep: np.ndarray) -> np.ndarray:
        """Influence of estimating the aggregation weights P(G=g) (R did ``wif``)."""
        w = self._unit_w
        ind = (self._unit_g[:, None] == groups_of_keep[None, :]) * w[:, None] - pg_cells[None, :]
        total = pg_cells.sum()
        if1 = ind / total
        if2 = ind.sum(axis=1)[:, None] * (pg_cells / total**2)[None, :]
        return if1 - if2

    def _combine(self, keep, weights, use_wif, att, inf, groups_of_keep=None, pg_cells=None):
        est = float(np.sum(att[keep] * weights))
        influence = inf[:, keep] @ weights
        if use_wif:
            influence = influence + self._wif(pg_cells, groups_of_keep) @ att[keep]
        return est, influence

    def aggregate(self, type: Aggregation = "group", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None) -> "AggregateResult":
        """Aggregate ATT(g,t) like R ``aggte(type=…)``: "simple", "dynamic", "group" or "calendar".

        ``min_e``/``max_e`` restrict event times (dynamic) or post-treatment length (others);
        ``balance_e`` (dynamic only) keeps the batches observed at least that many years after
        relocation, so that the composition does not change along the event-time axis.
        """
        check_choice("type", type, Aggregation)
        c = self._cells
        att = c["estimate"].to_numpy()
        grp, tim = c["group"].to_numpy(), c["time"].to_numpy()
        pg_cells = self._pg[np.searchsorted(self.groups, grp)]
        inf = self._inf
        valid = np.isfinite(att) & np.isfinite(c["std_error"].to_numpy()) | (c["reference"].to_numpy())
        rows, infs = [], []
        if type == "simple":
            keep = np.flatnonzero((grp <= tim) & (tim <= grp + max_e) & valid)
            est, f = self._combine(keep, pg_cells[keep] / pg_cells[keep].sum(), True, att, inf, grp[keep], pg_cells[keep])
            overall, ovinf = est, f
            label = None
        elif type == "dynamic":
            e_all = tim - grp
            if balance_e is not None:
                # R did: keep groups observed >= balance_e periods after treatment, and event
                # times in [balance_e - (last - first period), balance_e]
                ok_groups = self.groups[self.periods.max() - self.groups >= balance_e]
                span = self.periods.max() - self.periods.min()
                inwin = np.isin(grp, ok_groups) & (e_all <= balance_e) & (e_all >= balance_e - span)
            else:
                inwin = np.ones(len(att), bool)
            inwin &= (e_all >= min_e) & (e_all <= max_e) & valid
            label = "event_time"
            for e in np.unique(e_all[inwin]):
                keep = np.flatnonzero(inwin & (e_all == e))
                est, f = self._combine(keep, pg_cells[keep] / pg_cells[keep].sum(), True, att, inf, grp[keep], pg_cells[keep])
                rows.append((int(e), est))
                infs.append(f)
            post = [i for i, (e, _) in enumerate(rows) if e >= 0]
            overall = float(np.mean([rows[i][1] for i in post]))
            ovinf = np.mean([infs[i] for i in post], axis=0)
        elif type == "group":
            label = "group"
            for gval in self.groups:
                keep = np.flatnonzero((grp == gval) & (gval <= tim) & (tim <= gval + max_e) & valid)
                if keep.size == 0:
                    continue
                est, f = self._combine(keep, np.full(keep.size, 1 / keep.size), False, att, inf)
                rows.append((int(gval), est))
                infs.append(f)
            gvals = np.array([r[0] for r in rows], dtype="float64")
            ests = np.array([r[1] for r in rows])
            pgs = self._pg[np.searchsorted(self.groups, gvals)]
            m = np.column_stack(infs)
            wts = pgs / pgs.sum()
            overall = float(ests @ wts)
            ovinf = m @ wts + self._wif(pgs, gvals) @ ests
        else:  # calendar
            label = "time"
            for tval in self.periods[self.periods >= self.groups.min()]:
                keep = np.flatnonzero((tim == tval) & (grp <= tim) & (tim <= grp + max_e) & valid)
                if keep.size == 0:
                    continue
                est, f = self._combine(keep, pg_cells[keep] / pg_cells[keep].sum(), True, att, inf, grp[keep], pg_cells[keep])
                rows.append((int(tval), est))
                infs.append(f)
            overall = float(np.mean([r[1] for r in rows]))
            ovinf = np.mean(infs, axis=0)
        all_inf = np.column_stack([ovinf] + infs)
        if self._bootstrap:
            rng = np.random.default_rng(self._seed)
            se, crit = _multiplier_bootstrap(all_inf, self._cluster_codes, n_boot=self._bootstrap,
                                             kind=self._bootstrap_weights, rng=rng, level=self.level)
        else:
            se, crit = _se_from_if(all_inf, self._cluster_codes), None
        return AggregateResult(type, label, overall, se[0], rows, se[1:], crit, self, all_inf)

    def plot(self, *, ax=None):
        """ATT(g,t) by calendar time, one colour per group (pre-periods hollow); returns (fig, ax)."""
        from ..plots import _axes

        fig, ax = _axes(ax, (7, 4))
        t = self._tidy
        for i, gval in enumerate(self.groups):
            sub = t[t["group"] == gval]
            x = sub["time"].to_numpy() + (i - (len(self.groups) - 1) / 2) * 0.08
            pre = sub["time"].to_numpy() < gval
            colour = f"C{i % 10}"
            ax.errorbar(x, sub["estimate"], yerr=[sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]],
                        fmt="none", ecolor=colour, capsize=2, lw=1)
            ax.plot(x[~pre], sub["estimate"].to_numpy()[~pre], "o", color=colour, label=f"g={int(gval)}")
            ax.plot(x[pre], sub["estimate"].to_numpy()[pre], "o", mfc="white", color=colour)
        ax.axhline(0, color="#888888", lw=0.8)
        ax.set_xlabel("年份 time")
        ax.set_ylabel(f"ATT(g,t): {self.yname}")
        ax.set_title("分批搬迁的组-时平均效应 Group-time ATT (hollow: before treatment)", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        return fig, ax

    def summary(self) -> str:
        agg = self.aggregate("simple")
        p = self.pretest
        head = [self.title, "=" * len(self.title),
                f"Outcome: {self.yname}; comparison: {self.control_group}; base period: {self.base_period}; "
                f"anticipation: {self._glance['anticipation']}; estimation: {self.method}",
                table_text(self._tidy[["group", "time", "estimate", "std_error", "ci_low", "ci_high", "n_treated", "n_control"]]),
                "",
                f"Simple aggregation (overall ATT): {fmt(agg.overall['estimate'])} (SE {fmt(agg.overall['std_error'])}), "
                f"[{fmt(agg.overall['ci_low'])}, {fmt(agg.overall['ci_high'])}]",
                f"Pre-trend Wald test (all pre-treatment ATT(g,t) = 0): chi2 = {fmt(p['statistic'])}, "
                f"df = {p['df']}, p = {fmt(p['p_value'])}",
                f"Units: {self._glance['n_units']:,d}; clusters: {self._glance['n_clusters']:,d}; SE: {self._glance['se']}."]
        return "\n".join(head + self.notes + [f"Intervals: {int(round(self.level * 100))}%."])


class AggregateResult(ImpactResult):
    """An aggregation of ATT(g,t): ``tidy()`` one row per event time / group / period."""

    def __init__(self, type, label, overall, overall_se, rows, ses, crit, parent, inf):
        self.type, self.level = type, parent.level
        self._parent = parent
        self._inf = inf
        z = stats.norm.ppf(0.5 + self.level / 2)
        ov = normal_table(["overall"], [overall], [overall_se], level=self.level)
        self._overall = overall_from_row(ov.iloc[0])
        self.title = f"Callaway–Sant'Anna aggregation: {type}"
        if rows:
            tab = normal_table([f"{label}={r[0]}" for r in rows], [r[1] for r in rows], ses, level=self.level, crit=crit)
            tab.insert(1, label, pd.array([r[0] for r in rows], dtype="Int64"))
            if crit is not None:
                pw = normal_table(tab["term"], tab["estimate"], tab["std_error"], level=self.level)
                tab["ci_low_pointwise"], tab["ci_high_pointwise"] = pw["ci_low"], pw["ci_high"]
            ov.insert(1, label, pd.array([pd.NA], dtype="Int64"))
            self._tidy = pd.concat([ov, tab], ignore_index=True)
        else:
            self._tidy = ov
        self.crit = crit if crit is not None else z
        self._glance = {"aggregation": type, "estimate": overall, "std_error": overall_se, **{
            k: parent._glance[k] for k in ("control_group", "base_period", "n_units", "n_clusters", "se")}}
        self.notes = parent.notes[:1] + few_clusters_note(parent._glance["n_clusters"]) + ([
            "Overall for dynamic: mean of post-treatment event-time effects (e >= 0)." if type == "dynamic" else
            "Overall for group: groups weighted by their size." if type == "group" else
            "Overall for calendar: mean over periods." if type == "calendar" else
            "Simple: post-treatment ATT(g,t) weighted by group size."]) + (
            ["Rows use a uniform (sup-t) bootstrap band; overall uses a pointwise interval."] if crit is not None else [])

    def plot(self, *, ax=None):
        if self.type != "dynamic":
            return super().plot(ax=ax)
        return _event_plot(self._tidy.iloc[1:], ax=ax, title="事件研究 Event study (Callaway–Sant'Anna)")


def _event_plot(tab: pd.DataFrame, *, ax=None, title: str, reference: int | None = None):
    from ..plots import _axes

    fig, ax = _axes(ax, (7, 4))
    e = tab["event_time"].astype(float).to_numpy()
    est = tab["estimate"].to_numpy()
    pre = e < 0
    ax.errorbar(e, est, yerr=[est - tab["ci_low"].to_numpy(), tab["ci_high"].to_numpy() - est], fmt="none",
                ecolor="#555555", capsize=3, lw=1)
    ax.plot(e[pre], est[pre], "o", color="#4C72B0", label="搬迁前 before relocation")
    ax.plot(e[~pre], est[~pre], "o", color="#C44E52", label="搬迁后 after relocation")
    if reference is not None:
        ax.plot([reference], [0.0], "s", mfc="white", color="#333333", label=f"参照期 reference ({reference})")
    ax.axhline(0, color="#888888", lw=0.8)
    ax.axvline(-0.5, color="#888888", lw=0.8, ls="--")
    ax.set_xlabel("距搬迁年数 years since relocation (e = t − g)")
    ax.set_ylabel("效应 effect")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig, ax


def staggered_did(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                  control_group: ControlGroup = "nevertreated", weights: str | None = None,
                  cluster: str | None = None, covariates: list[str] | None = None,
                  base_period: BasePeriod = "varying", anticipation: int = 0, bootstrap: int | None = None,
                  bootstrap_weights: BootstrapWeights = "mammen", seed: int | None = None,
                  level: float = 0.95) -> StaggeredDiDResult:
    """Callaway–Sant'Anna ATT(g,t) for staggered adoption (panel data; R ``did::att_gt``).

    ``gname``: first period treated, ``0`` for never treated. ``control_group``: "nevertreated"
    or "notyettreated" (units with ``gname > max(t, base period)`` or 0). ``covariates``:
    time-invariant (first-period values are used) and enter through the doubly robust estimator
    of Sant'Anna & Zhao (2020); without them each ATT(g,t) is a difference of mean changes.
    ``weights`` and ``cluster`` must be constant within a unit. ``bootstrap``: number of
    multiplier-bootstrap draws (``seed`` for reproducibility); then SEs come from the bootstrap
    and intervals of the ATT(g,t) and of aggregated rows are uniform (sup-t) bands.
    ``anticipation``: number of periods before relocation in which households may already react
    (announcement, preparation); the base period becomes g - 1 - anticipation (as R did).
    """
    check_choice("control_group", control_group, ControlGroup)
    check_choice("base_period", base_period, BasePeriod)
    check_choice("bootstrap_weights", bootstrap_weights, BootstrapWeights)
    level = check_level(level)
    if bootstrap is not None and (not isinstance(bootstrap, (int, np.integer)) or bootstrap < 50):
        raise ParameterError(f"bootstrap={bootstrap!r} must be None or an integer number of draws >= 50")
    if not isinstance(anticipation, (int, np.integer)) or anticipation < 0:
        raise ParameterError(f"anticipation={anticipation!r} must be a non-negative integer number of periods")
    covariates = list(covariates or [])
    y, periods, g, w, cl, x, ids = _wide_panel(data, yname=yname, idname=idname, tname=tname, gname=gname,
                                               weights=weights, cluster=cluster, covariates=covariates,
                                               anticipation=int(anticipation))
    n = len(g)
    w = w / w.mean()
    groups = np.sort(np.unique(g[g > 0]))
    if groups.size == 0:
        raise DataError(f"no treated units: column {gname!r} has no first-treatment period inside the panel")
    if control_group == "nevertreated" and not (g == 0).any():
        raise DataError("control_group='nevertreated' but no unit is never treated (gname == 0); "
                        "use control_group='notyettreated'")
    pg = np.array([np.mean(w * (g == gv)) for gv in groups])
    cluster_codes = pd.factorize(cl, sort=True)[0] if cl is not None else None
    n_clusters = int(cluster_codes.max()) + 1 if cluster_codes is not None else n
    rows, infs = [], []
    for gv in groups:
        pre_index = np.flatnonzero(periods + anticipation < gv)[-1]   # last period before (anticipated) treatment
        treat = g == gv
        t_range = range(len(periods)) if base_period == "universal" else range(1, len(periods))
        for ti in t_range:
            t = periods[ti]
            if base_period == "varying":
                bi = ti - 1 if t < gv else pre_index
            else:
                bi = pre_index
            if base_period == "universal" and ti == bi:
                rows.append((gv, t, 0.0, np.nan, int(treat.sum()), 0, True))
                infs.append(np.zeros(n))
                continue
            if control_group == "nevertreated":
                ctrl = g == 0
            else:
                ctrl = (g == 0) | ((g > periods[max(ti, bi)] + anticipation) & (g != gv))
            if not ctrl.any():
                continue
            sub = treat | ctrl
            dy = y[sub, ti] - y[sub, bi]
            d = treat[sub].astype("float64")
            if x is None:
                att, inf_sub = att_unconditional(dy, d, w[sub])
            else:
                att, inf_sub = att_dr_panel(dy, d, x[sub], w[sub])
            inf = np.zeros(n)
            inf[sub] = inf_sub * (n / sub.sum())
            rows.append((gv, t, att, np.nan, int(treat.sum()), int(ctrl.sum()), False))
            infs.append(inf)
    cells = pd.DataFrame(rows, columns=["group", "time", "estimate", "std_error", "n_treated", "n_control", "reference"])
    inf = np.column_stack(infs)
    if bootstrap:
        se, crit = _multiplier_bootstrap(inf, cluster_codes, n_boot=int(bootstrap), kind=bootstrap_weights,
                                         rng=np.random.default_rng(seed), level=level)
        cells.attrs["crit"] = crit
    else:
        se = _se_from_if(inf, cluster_codes)
    se = np.where(cells["reference"].to_numpy(), np.nan, se)
    cells["std_error"] = se
    # Wald pre-test on pre-treatment cells (R did: V = IF'IF / n, W = n a' V^-1 a)
    pre = (cells["time"].to_numpy() < cells["group"].to_numpy()) & ~cells["reference"].to_numpy()
    if pre.any():
        a = cells["estimate"].to_numpy()[pre]
        ip = inf[:, pre]
        if cluster_codes is not None:
            gcount = n_clusters
            sums = np.stack([np.bincount(cluster_codes, weights=ip[:, j], minlength=gcount) for j in range(ip.shape[1])], axis=1)
            v = gcount / (gcount - 1) * sums.T @ sums / n**2
        else:
            v = ip.T @ ip / n**2
        stat = float(a @ np.linalg.pinv(v) @ a)
        df = int(np.linalg.matrix_rank(v))
        pretest = {"statistic": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df))}
    else:
        pretest = {"statistic": float("nan"), "df": 0, "p_value": float("nan")}
    return StaggeredDiDResult(
        cells, inf, unit_g=g, unit_w=w, cluster_codes=cluster_codes, periods=periods, groups=groups, pg=pg,
        level=level, control_group=control_group, base_period=base_period, anticipation=int(anticipation),
        method="doubly robust (Sant'Anna-Zhao)" if covariates else "unconditional (difference of mean changes)",
        n_units=n, n_clusters=n_clusters, cluster_label=se_note_if(cluster, idname),
        bootstrap=int(bootstrap) if bootstrap else None, bootstrap_weights=bootstrap_weights, seed=seed,
        pretest=pretest, yname=yname)
