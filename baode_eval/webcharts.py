"""Light charts for reports made in bulk (one per site): inline SVG and HTML, no matplotlib.

Why: a matplotlib figure costs 0.3–0.5 s to lay out and rasterise on this project's 2-core
machines (measured: the four-panel trend figure 0.31–0.36 s to PNG even without constrained
layout, plus 0.47–0.50 s for the verdict grid), which alone would take a 1,000-site batch past
its 5-minute budget. These functions write the same pictures as text in about a millisecond;
text stays text (searchable, sharp at any zoom), and Chinese renders with the report's font
(the HTML export links the bundled Noto Sans CJK subset). County-level notebooks keep
matplotlib (:mod:`baode_eval.plots`).

Every function returns markup as ``str`` and escapes all text it is given. Show it with
``IPython.display.HTML`` (inline in the page), not ``SVG``: nbconvert turns an SVG output into an
``<img>``, and an image cannot use the page's web font.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

FONT = 'system-ui,"Noto Sans CJK SC","Microsoft YaHei","PingFang SC","Baode CJK",sans-serif'
SITE_COLOUR = "#C44E52"
COUNTY_COLOUR = "#777777"
TARGET_COLOUR = "#2e7d32"
VERDICT_STYLE = {  # background, symbol
    "met": ("#2e7d32", "✓"),
    "not met": ("#c62828", "✗"),
    "inconclusive": ("#f9a825", "?"),
    "suppressed": ("#bdbdbd", "·"),
}
_VERDICT_WORDS = {
    "met": ("达标", "met"), "not met": ("未达标", "not met"), "inconclusive": ("不确定", "inconclusive"),
    "suppressed": ("样本过少不公布", "suppressed"), None: ("无目标", "no target"),
}


def nice_ticks(lo: float, hi: float, n: int = 4) -> np.ndarray:
    """About ``n`` round tick values covering [lo, hi] (steps 1, 2, 2.5 or 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.array([0.0])
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    return np.round(np.arange(start, stop + step / 2, step), 10)


def _fmt(v: float, percent: bool, step: float) -> str:
    if percent:
        digits = 0 if step * 100 >= 1 else 1
        return f"{v * 100:.{digits}f}%"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    digits = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    return f"{v:.{digits}f}"


def trend_panels(trend: pd.DataFrame, *, site_label: str, county_label: str, target_label: str = "target",
                 ncols: int = 2, panel_width: int = 440, panel_height: int = 180) -> str:
    """Small multiples as one inline SVG: per indicator, the site's estimate by year with its
    interval (band), the county's (dashed) and the target (dotted step line).

    ``trend``: :func:`baode_eval.sites.trend_table` output (``where`` is "site" or "county";
    ``kind == "proportion"`` draws percentages).
    """
    e = html.escape
    indicators = list(dict.fromkeys(trend["indicator"]))
    n = max(1, len(indicators))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    legend_h = 22
    width, height = ncols * panel_width, nrows * panel_height + legend_h
    left, right, top, bottom = 52, 14, 24, 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-family=\'{FONT}\' font-size="11" role="img">']
    # legend
    lx = 8
    for label, colour, dash, dot in ((site_label, SITE_COLOUR, "", True), (county_label, COUNTY_COLOUR, "5 3", True),
                                     (target_label, TARGET_COLOUR, "2 3", False)):
        parts.append(f'<line x1="{lx}" y1="11" x2="{lx + 22}" y2="11" stroke="{colour}" stroke-width="2"'
                     + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        if dot:
            parts.append(f'<circle cx="{lx + 11}" cy="11" r="2.6" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 27}" y="15">{e(str(label))}</text>')
        lx += 40 + 7 * len(str(label)) + (7 * sum(1 for c in str(label) if ord(c) > 0x2E80))
    for k, ind in enumerate(indicators):
        part = trend.loc[trend["indicator"] == ind]
        ox = (k % ncols) * panel_width
        oy = legend_h + (k // ncols) * panel_height
        pw, ph = panel_width - left - right, panel_height - top - bottom
        percent = "kind" in part.columns and str(part["kind"].iloc[0]) == "proportion"
        years = np.sort(part["year"].astype(int).unique())
        values = pd.concat([part[c] for c in ("estimate", "ci_low", "ci_high", "target")]).astype("float64")
        values = values[np.isfinite(values)]
        lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        pad = (hi - lo) * 0.06 or (abs(hi) * 0.05 or 0.5)
        ticks = nice_ticks(lo - pad, hi + pad)
        y0, y1 = float(ticks[0]), float(ticks[-1])
        x0, x1 = float(years[0]), float(years[-1]) if len(years) > 1 else float(years[0]) + 1

        def X(x, _x0=x0, _x1=x1, _ox=ox, _pw=pw):
            return _ox + left + (np.asarray(x, dtype=float) - _x0) / (_x1 - _x0) * _pw

        def Y(y, _y0=y0, _y1=y1, _oy=oy, _ph=ph):
            return _oy + top + (1 - (np.asarray(y, dtype=float) - _y0) / (_y1 - _y0)) * _ph

        step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        parts.append(f'<g><title>{e(str(part["label"].iloc[0]))}</title>')
        parts.append(f'<text x="{ox + left}" y="{oy + 15}" font-size="12" font-weight="600">'
                     f'{e(str(part["label"].iloc[0]))}</text>')
        for t in ticks:
            yy = float(Y(t))
            parts.append(f'<line x1="{ox + left}" x2="{ox + left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
            parts.append(f'<text x="{ox + left - 5}" y="{yy + 3.5:.1f}" text-anchor="end" fill="#555" font-size="10">'
                         f"{e(_fmt(float(t), percent, step))}</text>")
        every = 1 if len(years) <= 9 else 2
        for yr in years[::every]:
            xx = float(X(yr))
            parts.append(f'<text x="{xx:.1f}" y="{oy + top + ph + 15}" text-anchor="middle" fill="#555" '
                         f'font-size="10">{yr}</text>')
        target = part.loc[part["where"] == "county", ["year", "target"]].dropna().sort_values("year")
        if len(target):  # a step line: targets (monitoring lines) may change by year
            tx, ty = X(target["year"]), Y(target["target"])
            pts = []
            for i in range(len(tx)):
                xa = tx[i] - (tx[i] - tx[i - 1]) / 2 if i else tx[i]
                xb = tx[i] + (tx[i + 1] - tx[i]) / 2 if i + 1 < len(tx) else tx[i]
                pts += [f"{xa:.1f},{ty[i]:.1f}", f"{xb:.1f},{ty[i]:.1f}"]
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{TARGET_COLOUR}" '
                         f'stroke-width="1.5" stroke-dasharray="2 3"/>')
        for where, colour, dash in (("county", COUNTY_COLOUR, "5 3"), ("site", SITE_COLOUR, "")):
            rows = part.loc[part["where"] == where].sort_values("year")
            rows = rows.loc[np.isfinite(rows["estimate"].astype("float64"))]
            if rows.empty:
                continue
            xs, ys = X(rows["year"]), Y(rows["estimate"])
            if where == "site":
                lo_, hi_ = Y(rows["ci_low"]), Y(rows["ci_high"])
                ok = np.isfinite(lo_) & np.isfinite(hi_)
                if ok.any() and np.any(np.abs(hi_[ok] - lo_[ok]) > 0.5):
                    band = [f"{a:.1f},{b:.1f}" for a, b in zip(xs[ok], hi_[ok])]
                    band += [f"{a:.1f},{b:.1f}" for a, b in zip(xs[ok][::-1], lo_[ok][::-1])]
                    parts.append(f'<polygon points="{" ".join(band)}" fill="{colour}" fill-opacity="0.15"/>')
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"'
                         + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            parts.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.6" fill="{colour}"/>' for a, b in zip(xs, ys))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def verdict_heatmap(tidy: pd.DataFrame, *, column: str = "year", lang: str = "zh", min_cell: int = 0) -> str:
    """An HTML table: indicators (rows, by goal) × ``column`` values, each cell coloured by verdict
    with a symbol (✓ met, ✗ not met, ? inconclusive, · suppressed; blank: no target), so it reads
    without colour too. ``tidy``: a scorecard's ``tidy()`` for one site (or domain)."""
    e = html.escape
    i = 0 if lang == "zh" else 1
    t = tidy.copy()
    t["verdict"] = t["verdict"].astype(object)
    if min_cell:
        t.loc[t["n"] < min_cell, "verdict"] = "suppressed"
    cols = sorted(t[column].dropna().unique())
    t["indicator"] = t["indicator"].astype(str)
    labels = t.drop_duplicates("indicator")[["indicator", "label", "goal_label"]]
    cell = dict(zip(zip(t["indicator"], t[column]), t["verdict"]))
    head = "".join(f'<th style="padding:2px 4px;font-weight:normal">{e(str(c))}</th>' for c in cols)
    rows = []
    for r in labels.itertuples(index=False):
        tds = []
        for c in cols:
            v = cell.get((r.indicator, c))
            v = v if isinstance(v, str) and v in VERDICT_STYLE else None
            bg, sym = VERDICT_STYLE.get(v, ("#f2f2f2", ""))
            word = _VERDICT_WORDS[v][i]
            tds.append(f'<td title="{e(str(c))}: {e(word)}" style="background:{bg};color:#fff;text-align:center;'
                       f'width:2.2em;border:1px solid #fff">{sym}</td>')
        rows.append(f'<tr><td style="white-space:nowrap;padding-right:.6em;text-align:left">{e(str(r.goal_label))} · '
                    f'{e(str(r.label))}</td>{"".join(tds)}</tr>')
    legend = " ".join(f'<span style="background:{bg};color:#fff;padding:0 .4em;border-radius:.2em">{sym} '
                      f"{e(_VERDICT_WORDS[k][i])}</span>" for k, (bg, sym) in VERDICT_STYLE.items())
    legend += f' <span style="background:#f2f2f2;padding:0 .4em;border-radius:.2em">{e(_VERDICT_WORDS[None][i])}</span>'
    return (f'<div style="font-size:12px"><p>{legend}</p><table class="baode-verdicts" '
            f'style="border-collapse:collapse"><thead><tr><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
