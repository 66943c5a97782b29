"""Figures for reports. Each function is keyword-only after its data, takes ``ax=None`` and
returns ``(fig, ax)``; none writes files. Chinese labels use the bundled CJK font.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .fonts import use_cjk_font
from .i18n import GOALS

GOAL_COLOURS = {
    "stable": "#4C72B0", "employed": "#DD8452", "prosperous": "#55A868",
    "integrated": "#8172B3", "governance": "#937860",
}


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    use_cjk_font()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def income_comparison(comparison: pd.DataFrame, *, baode_value: float, ax=None, figsize=(8, 4.2)):
    """Horizontal bars: Baode's published per-capita income beside reference series of the same year.

    Bars are labelled in both Chinese and English; net-income comparators are solid, other
    concepts (disposable income, monitoring line) hatched, because they are not like for like.
    """
    from .datasets import load_reference

    fig, ax = _axes(ax, figsize)
    ref = load_reference()
    labels = ["保德 脱贫群众人均收入\nBaode, formerly poor (published)"]
    values = [baode_value]
    hatches = [""]
    colours = ["#C44E52"]
    for row in comparison.itertuples():
        if row.value is None or pd.isna(row.value):
            continue
        meta = ref.loc[ref["series"] == row.series].iloc[0]
        flag = "  [未核实 unverified]" if meta["status"] == "unverified" else ""
        labels.append(f"{meta['label_zh']}{flag}\n{meta['label_en']}")
        values.append(row.value)
        hatches.append("" if row.same_concept else "//")
        colours.append("#4C72B0" if row.same_concept else "#B0B0B0")
    y = range(len(values))[::-1]
    bars = ax.barh(list(y), values, color=colours, edgecolor="#333333", linewidth=0.6)
    for bar, h in zip(bars, hatches):
        bar.set_hatch(h)
    ax.set_yticks(list(y), labels, fontsize=8)
    for yy, v in zip(y, values):
        ax.text(v, yy, f" {v:,.0f}", va="center", fontsize=8)
    year = int(comparison["year"].iloc[0])
    ax.set_xlabel("元/人/年  yuan per person per year")
    ax.set_title(f"人均收入对照 Per-capita income compared, {year}\n(斜线: 口径不同 hatched: different concept)", fontsize=10)
    ax.set_xlim(0, max(values) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def figures_per_goal(counts: pd.Series, *, ax=None, figsize=(6, 3)):
    """Bar chart of how many published figures speak to each goal, labels '稳得住\\nStable'."""
    fig, ax = _axes(ax, figsize)
    labels = [f"{GOALS[g]['zh']}\n{GOALS[g]['en']}" for g in counts.index]
    ax.bar(labels, counts.to_numpy(), color=[GOAL_COLOURS[g] for g in counts.index])
    for i, v in enumerate(counts.to_numpy()):
        ax.text(i, v, str(int(v)), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("公布数字个数  figures published")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def households_by_year(counts: pd.DataFrame, *, ax=None, figsize=(8, 3.4)):
    """Lines of households per year, one per site (rows of ``counts``, years as columns)."""
    fig, ax = _axes(ax, figsize)
    years = [int(c) for c in counts.columns]
    for label, row in counts.iterrows():
        ax.plot(years, row.to_numpy(dtype=float), marker="o", markersize=3, label=str(label))
    ax.set_xlabel("年度  year")
    ax.set_ylabel("户数  households")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, ncols=min(len(counts), 5), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def verdict_grid(tidy: pd.DataFrame, *, column: str = "site", ax=None, figsize=None):
    """Traffic-light grid: indicators (rows, grouped by goal) × ``column`` values, coloured by verdict.

    ``tidy`` is a scorecard's ``tidy()`` restricted to one year. Cells without a target are grey.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from .scorecard import VERDICT_COLOURS

    codes = {"met": 0, "not met": 1, "inconclusive": 2}
    labels = tidy.drop_duplicates("indicator")[["indicator", "label", "goal_label"]]
    cols = sorted(tidy[column].dropna().unique())
    grid = (tidy.assign(code=tidy["verdict"].map(codes).astype("float64"))
            .pivot_table(index="indicator", columns=column, values="code", aggfunc="first", dropna=False)
            .reindex(index=labels["indicator"], columns=cols))
    n_rows = len(grid)
    fig, ax = _axes(ax, figsize or (1.2 + 0.9 * len(cols) + 3.2, 0.6 + 0.28 * n_rows))
    cmap = ListedColormap([VERDICT_COLOURS["met"], VERDICT_COLOURS["not met"], VERDICT_COLOURS["inconclusive"]]).with_extremes(
        bad="#e6e6e6")
    ax.imshow(np.ma.masked_invalid(grid.to_numpy(dtype=float)), cmap=cmap, vmin=0, vmax=2, aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
    ax.set_yticks(range(n_rows), [f"{g} · {lab}" for g, lab in zip(labels["goal_label"], labels["label"])], fontsize=7)
    ax.tick_params(length=0)
    legend = [Patch(color=VERDICT_COLOURS[k], label=f"{zh} {k}") for k, zh in
              (("met", "达标"), ("not met", "未达标"), ("inconclusive", "不确定"))]
    legend.append(Patch(color="#e6e6e6", label="无目标 no target"))
    ax.legend(handles=legend, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False)
    return fig, ax


# ---------------------------------------------------------------------------------------------
# topic reports (05 income, 06 employment, 07 services): labels in the report's language

_T = {
    "year": ("年度", "Year"),
    "yuan": ("元/人/年", "yuan per person per year"),
    "income_title": ("搬迁户人均纯收入", "Per-capita net income of relocated households"),
    "line": ("监测线/贫困线", "monitoring / poverty line"),
    "different_concept": ("口径不同", "different concept"),
    "growth": ("比上年增长", "growth over previous year"),
    "growth_title": ("人均纯收入增速与全国农村居民人均可支配收入增速",
                     "Growth of per-capita net income against national rural disposable income"),
    "relocated": ("搬迁户(纯收入)", "relocated (net income)"),
    "reference_growth": ("全国农村(可支配收入)", "national rural (disposable income)"),
    "box_title": ("人均纯收入分布(箱: P25–P75, 须: P10–P90, ◆ 均值)",
                  "Distribution of per-capita net income (box P25–P75, whiskers P10–P90, ◆ mean)"),
    "below_title": ("低于当年收入线的户占比", "Households below the year's income line"),
    "share_households": ("户占比", "share of households"),
    "restored_title": ("实际收入恢复到搬迁前水平的户占比", "Households whose real income is back at its pre-move level"),
    "median_ratio": ("中位比值", "median ratio"),
    "target": ("目标", "target"),
    "estimate": ("估计值", "estimate"),
    "met": ("达标", "met"), "not met": ("未达标", "not met"), "inconclusive": ("不确定", "inconclusive"),
    "no target": ("无目标", "no target"),
    "likert_title": ("社会融入量表(1 = 完全不同意, 4 = 完全同意)", "Integration items (1 = strongly disagree, 4 = strongly agree)"),
}


def _tr(key: str, lang: str) -> str:
    return _T[key][0 if lang == "zh" else 1]


def _percent_axis(axis, decimals: int | None = 0) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))

_SITE_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]


def income_levels(levels: pd.DataFrame, *, reference: pd.DataFrame | None = None, lines: pd.DataFrame | None = None,
                  lang: str = "zh", ax=None, figsize=(8, 4.4)):
    """Per-capita net income by year: one line per ``domain`` of ``levels`` (columns ``domain, year,
    estimate`` and optionally ``ci_low, ci_high``; the first domain drawn thick), reference series
    (``series, year, value, concept, label_zh, label_en``; disposable-income series dashed and
    marked "different concept"), and the income line of each year (``lines``: ``year, line``)."""
    fig, ax = _axes(ax, figsize)
    for i, (name, part) in enumerate(levels.groupby("domain", sort=False)):
        part = part.sort_values("year")
        line, = ax.plot(part["year"], part["estimate"], marker="o", markersize=3 if i else 4,
                        linewidth=2.4 if i == 0 else 1.0, alpha=1.0 if i == 0 else 0.75, label=str(name),
                        color="#C44E52" if i == 0 else _SITE_COLOURS[(i - 1) % len(_SITE_COLOURS)],
                        zorder=3 if i == 0 else 2)
        if {"ci_low", "ci_high"} <= set(part.columns) and (part["ci_high"] - part["ci_low"]).abs().max() > 0:
            ax.fill_between(part["year"], part["ci_low"], part["ci_high"], color=line.get_color(), alpha=0.15,
                            linewidth=0)
    if reference is not None and len(reference):
        for series, part in reference.groupby("series", sort=False):
            part = part.sort_values("year")
            other = part["concept"].iloc[0] != "net_income"
            label = str(part[f"label_{lang}"].iloc[0]) + (f" ({_tr('different_concept', lang)})" if other else "")
            ax.plot(part["year"], part["value"], linestyle="--" if other else ":", marker="s", markersize=3,
                    color="#8C8C8C" if other else "#4C72B0", linewidth=1.2, label=label)
    if lines is not None and lines["line"].notna().any():
        known = lines.dropna(subset=["line"]).sort_values("year")
        ax.hlines(known["line"], known["year"] - 0.45, known["year"] + 0.45, color="#333333", linewidth=1.6,
                  label=_tr("line", lang))
    ax.set_xlabel(_tr("year", lang))
    ax.set_ylabel(_tr("yuan", lang))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(_tr("income_title", lang), fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def income_growth(growth: pd.DataFrame, *, lang: str = "zh", ax=None, figsize=(8, 3.6)):
    """Bars per year: growth of relocated households' per-capita net income (``growth``) beside the
    reference growth (``reference_growth``; national rural disposable income, a different concept)."""
    fig, ax = _axes(ax, figsize)
    g = growth.dropna(subset=["growth"]).sort_values("year")
    x = np.arange(len(g))
    ax.bar(x - 0.2, g["growth"], width=0.4, color="#C44E52", label=_tr("relocated", lang))
    ax.bar(x + 0.2, g["reference_growth"], width=0.4, color="#B0B0B0", hatch="//", edgecolor="#666666",
           linewidth=0.5, label=_tr("reference_growth", lang))
    ax.axhline(0, color="#333333", linewidth=0.6)
    ax.set_xticks(x, [str(int(y)) for y in g["year"]], fontsize=8)
    _percent_axis(ax.yaxis)
    ax.set_ylabel(_tr("growth", lang))
    ax.set_title(_tr("growth_title", lang), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def income_boxes(dist: pd.DataFrame, *, column: str = "site", line: float | None = None, lang: str = "zh", ax=None,
                 figsize=(8, 3.6)):
    """Box plots drawn from weighted quantiles (``income.distribution``: ``p10, p25, p50, p75, p90,
    mean`` per ``column`` value): box P25-P75, whiskers P10-P90, no outliers drawn; the income
    line of the year as a horizontal line."""
    fig, ax = _axes(ax, figsize)
    stats = [{"label": str(r[column]), "med": r["p50"], "q1": r["p25"], "q3": r["p75"], "whislo": r["p10"],
              "whishi": r["p90"], "mean": r["mean"], "fliers": []} for _, r in dist.iterrows()]
    ax.bxp(stats, showmeans=True, showfliers=False, patch_artist=True,
           boxprops={"facecolor": "#DCE6F2", "edgecolor": "#4C72B0"},
           medianprops={"color": "#C44E52", "linewidth": 1.5},
           meanprops={"marker": "D", "markerfacecolor": "#333333", "markeredgecolor": "#333333", "markersize": 4})
    if line is not None and np.isfinite(line):
        ax.axhline(line, color="#333333", linestyle="--", linewidth=1.0, label=f"{_tr('line', lang)} {line:,.0f}")
        ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_ylabel(_tr("yuan", lang))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_title(_tr("box_title", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def below_line_share(table: pd.DataFrame, *, lang: str = "zh", ax=None, figsize=(8, 3.2)):
    """Bars by year of the share of households below the year's line (``year, line, estimate`` and
    optionally ``ci_low, ci_high``), each labelled with the line applied."""
    fig, ax = _axes(ax, figsize)
    t = table.sort_values("year")
    x = np.arange(len(t))
    est = t["estimate"].to_numpy(float)
    ax.bar(x, est, color="#DD8452")
    if {"ci_low", "ci_high"} <= set(t.columns):
        err = np.clip(np.vstack([est - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - est]), 0, None)
        if np.nanmax(err) > 0:
            ax.errorbar(x, est, yerr=err, fmt="none", ecolor="#333333", capsize=3, linewidth=0.8)
    top = max(float(np.nanmax(t["ci_high"] if "ci_high" in t else est)) if len(t) else 0.0, 0.01)
    upper = t["ci_high"].to_numpy(float) if "ci_high" in t else est
    for xi, e, hi, ln in zip(x, est, upper, t["line"]):
        ax.text(xi, np.nanmax([e, hi]) + top * 0.03, f"{e:.1%}\n({ln:,.0f})", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [str(int(y)) for y in t["year"]], fontsize=8)
    ax.set_ylim(0, top * 1.35)
    _percent_axis(ax.yaxis, decimals=None)
    ax.set_ylabel(_tr("share_households", lang))
    ax.set_title(_tr("below_title", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def restoration_shares(tidy: pd.DataFrame, *, group: str = "site", lang: str = "zh", ax=None, figsize=(7, 3)):
    """Horizontal bars: share of households restored (``term == "share_restored"``) per ``group``
    value of an income-restoration ``tidy()``, with intervals, and the median ratio as text."""
    fig, ax = _axes(ax, figsize)
    share = tidy[tidy["term"] == "share_restored"].reset_index(drop=True)
    med = tidy[tidy["term"] == "median_ratio"].set_index(group)["estimate"]
    y = np.arange(len(share))[::-1]
    est = share["estimate"].to_numpy(float)
    colours = ["#C44E52" if g == "all" else "#55A868" for g in share[group]]
    ax.barh(y, est, color=colours)
    err = np.vstack([est - share["ci_low"].to_numpy(float), share["ci_high"].to_numpy(float) - est])
    if np.nanmax(np.abs(err)) > 0:
        ax.errorbar(est, y, xerr=np.clip(err, 0, None), fmt="none", ecolor="#333333", capsize=3, linewidth=0.8)
    for yi, e, g in zip(y, est, share[group]):
        ax.text(min(e, 1.0) + 0.01, yi, f"{e:.1%}  ({_tr('median_ratio', lang)} {med.get(g, np.nan):.2f})",
                va="center", fontsize=7)
    ax.set_yticks(y, [("全县" if lang == "zh" else "all") if g == "all" else str(g) for g in share[group]], fontsize=8)
    ax.set_xlim(0, 1.4)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.axvline(1.0, color="#999999", linewidth=0.6)
    _percent_axis(ax.xaxis)
    ax.set_title(_tr("restored_title", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def verdict_bars(tidy: pd.DataFrame, *, lang: str = "zh", ax=None, figsize=None):
    """Traffic-light bars: one bar per indicator (rows of a scorecard ``tidy()`` for one domain,
    percent indicators), coloured by verdict, with the target as a black tick and the interval as
    whiskers. Grey: no numeric target."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .scorecard import VERDICT_COLOURS

    t = tidy.reset_index(drop=True)
    fig, ax = _axes(ax, figsize or (8, 0.8 + 0.36 * len(t)))
    y = np.arange(len(t))[::-1]
    est = t["estimate"].to_numpy(float)
    colours = [VERDICT_COLOURS.get(v, "#C8C8C8") if isinstance(v, str) else "#C8C8C8" for v in t["verdict"]]
    ax.barh(y, np.nan_to_num(est), color=colours, edgecolor="#555555", linewidth=0.4)
    lo, hi = t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float)
    err = np.vstack([est - lo, hi - est])
    if np.nanmax(np.abs(np.nan_to_num(err))) > 0:
        ax.errorbar(est, y, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="none", ecolor="#333333", capsize=2,
                    linewidth=0.7)
    tgt = t["target"].to_numpy(float)
    ok = ~np.isnan(tgt)
    ax.scatter(tgt[ok], y[ok], marker="|", s=260, color="black", linewidths=2, zorder=4)
    for yi, e, tg in zip(y, est, tgt):
        x_text = np.nanmax([0.0 if np.isnan(e) else e, -1.0 if np.isnan(tg) else tg]) + 0.012
        ax.text(x_text, yi, "–" if np.isnan(e) else f"{e:.1%}", va="center", fontsize=7)
    ax.set_yticks(y, [str(s) for s in t["label"]], fontsize=8)
    ax.set_xlim(0, 1.12)
    _percent_axis(ax.xaxis)
    handles = [Patch(color=VERDICT_COLOURS[k], label=_tr(k, lang)) for k in ("met", "not met", "inconclusive")]
    handles += [Patch(color="#C8C8C8", label=_tr("no target", lang)),
                Line2D([], [], marker="|", color="black", linestyle="none", markersize=10, label=_tr("target", lang))]
    ax.legend(handles=handles, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def indicator_trend(tidy: pd.DataFrame, *, percent: bool = True, lang: str = "zh", ax=None, figsize=(8, 3.6)):
    """Lines over years, one per indicator (a scorecard ``tidy()`` for one domain across years,
    columns ``indicator, label, year, estimate, target``), numeric targets as dashed lines of the
    same colour."""
    fig, ax = _axes(ax, figsize)
    for ind, part in tidy.groupby("indicator", sort=False, observed=True):
        part = part.sort_values("year")
        if part["estimate"].notna().sum() == 0:
            continue
        line, = ax.plot(part["year"], part["estimate"], marker="o", markersize=3, label=str(part["label"].iloc[0]))
        tgt = part["target"].dropna()
        if len(tgt) and tgt.nunique() == 1:
            ax.axhline(float(tgt.iloc[0]), color=line.get_color(), linestyle="--", linewidth=0.8, alpha=0.8)
    if percent:
        _percent_axis(ax.yaxis)
    ax.set_xlabel(_tr("year", lang))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def grouped_shares(tidy: pd.DataFrame, *, column: str = "site", lang: str = "zh", ax=None, figsize=None):
    """Grouped horizontal bars: indicators (colours) by ``column`` value (rows), from a scorecard
    ``tidy()`` of percent indicators for one year."""
    labels = list(dict.fromkeys(tidy["label"].astype(str)))
    groups = sorted(str(g) for g in tidy[column].dropna().unique())
    fig, ax = _axes(ax, figsize or (8, 0.9 + 0.25 * len(labels) * len(groups)))
    h = 0.8 / max(len(labels), 1)
    base = np.arange(len(groups))[::-1]
    for k, lab in enumerate(labels):
        part = tidy[tidy["label"].astype(str) == lab].assign(_g=lambda d: d[column].astype(str)).set_index("_g")
        vals = part["estimate"].reindex(groups).to_numpy(float)
        pos = base + 0.4 - h * (k + 0.5)
        ax.barh(pos, np.nan_to_num(vals), height=h * 0.9, label=lab)
        for p, v in zip(pos, vals):
            if not np.isnan(v):
                ax.text(v + 0.005, p, f"{v:.0%}", va="center", fontsize=6)
    ax.set_yticks(base, groups, fontsize=8)
    top = float(np.nanmax(tidy["estimate"].to_numpy(float))) if tidy["estimate"].notna().any() else 1.0
    ax.set_xlim(0, min(1.1, top * 1.15 + 0.05))
    _percent_axis(ax.xaxis)
    ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(len(labels), 3))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def likert_items(shares: pd.DataFrame, *, lang: str = "zh", ax=None, figsize=(8, 2.8)):
    """Stacked horizontal bars of answer shares (columns ``1``-``4``) per item (index: item labels),
    disagreement in reds and agreement in greens."""
    fig, ax = _axes(ax, figsize)
    colours = ["#d73027", "#fc8d59", "#91cf60", "#1a9850"]
    y = np.arange(len(shares))[::-1]
    left = np.zeros(len(shares))
    for k, c in zip(shares.columns, colours):
        vals = shares[k].to_numpy(float)
        ax.barh(y, vals, left=left, color=c, label=str(k))
        for yi, l, v in zip(y, left, vals):
            if v >= 0.06:
                ax.text(l + v / 2, yi, f"{v:.0%}", ha="center", va="center", fontsize=7)
        left += vals
    ax.set_yticks(y, [str(i) for i in shares.index], fontsize=8)
    ax.set_xlim(0, 1)
    _percent_axis(ax.xaxis)
    ax.set_title(_tr("likert_title", lang), fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, -0.45), ncols=4)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax
