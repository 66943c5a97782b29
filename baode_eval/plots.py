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

