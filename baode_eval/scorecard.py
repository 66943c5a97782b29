"""Scorecards: every indicator of a goal framework, per domain (site x year by default), with
design-based intervals, a verdict against its target, changes since last year and since the
baseline, and income growth against a reference series.

>>> card = build(data, by=("site", "year"), level=0.95, lang="zh")     # doctest: +SKIP
>>> card.tidy()           # one row per indicator x domain
>>> card.changes()        # differences with SEs (since previous year / baseline), growth vs reference
>>> card.to_html()        # traffic-light table (all text escaped)
>>> card.to_excel("scorecard.xlsx")   # a sheet per goal, bilingual headers, small cells suppressed

Verdict rule (docs/indicators.md): for a target ``>= T`` the indicator is **met** when the
one-sided lower confidence bound at the report's level is at least T, **not met** when the
one-sided upper bound is below T, and **inconclusive** otherwise (``<= T`` mirrors this). A
one-sided bound at level 0.95 is an end of the two-sided 90 % interval (logit/Wilson for
proportions, as in :mod:`baode_eval.survey`). ``rising``/``falling`` targets use the same rule
on the change since the previous year. Census data (no weights) compares the exact value directly.
"""
from __future__ import annotations

import functools
import html as _html
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import framework as fw
from . import survey
from ._memory import RETAINED, small_pages
from .errors import DataError, ParameterError
from .i18n import check_lang
from .options import DESIGN_MODES, ENGINES, check_level, check_option

CANONICAL_DESIGN = {"weights": "weight", "strata": "stratum", "psu": "psu", "fpc": "fpc"}
MIN_CELL = 10  # cells with fewer sampled units are suppressed in the officials' workbook

HEADERS = {
    "goal": ("目标", "Goal"), "indicator": ("指标", "Indicator"), "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Std. error"), "ci_low": ("置信下限", "CI low"), "ci_high": ("置信上限", "CI high"),
    "n": ("样本数", "n"), "target": ("目标值", "Target"), "direction": ("方向", "Direction"),
    "verdict": ("结论", "Verdict"), "target_status": ("目标来源状态", "Target status"),
    "site": ("安置点", "Site"), "year": ("年度", "Year"), "county": ("县", "County"),
}
VERDICT_LABELS = {
    "met": ("达标", "met"), "not met": ("未达标", "not met"), "inconclusive": ("待定", "inconclusive"),
    "suppressed": ("样本过少", "suppressed"), None: ("", ""),
}
VERDICT_COLOURS = {"met": "#1a9850", "not met": "#d73027", "inconclusive": "#fee08b"}


def read_table(path) -> pd.DataFrame:
    """Read canonical household data (CSV or Parquet).

    The one place that reads input files for the scorecard: switch to ``baode_eval.read`` (the
    full reader with encodings, header aliases and validation) when it lands.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path, encoding="utf-8-sig", dtype={"household_id": str, "site": str, "psu": str,
                                                              "stratum": str})
    raise DataError(f"unsupported file type {suffix!r}; use .csv or .parquet", path=path)


def resolve_design(data: pd.DataFrame, mode: str = "auto", *, weights=None, strata=None, psu=None, fpc=None,
                   lonely_psu="adjust", superpopulation=False, columns=None, has_values=None) -> survey.Design:
    """The survey design: explicit columns, or the canonical ``weight/stratum/psu/fpc`` when present.

    ``mode="census"`` ignores weights (exact rates); ``"survey"`` requires weights; ``"auto"``
    uses a ``weight`` column if the data has one with values, else census. For data that are
    not in memory pass ``data=None`` with ``columns`` (names) and ``has_values(column) -> bool``.
    """
    check_option("design", mode, DESIGN_MODES)
    if data is not None:
        columns = data.columns
        has_values = lambda c: _has_values(data[c])  # noqa: E731
    cols = {"weights": weights, "strata": strata, "psu": psu, "fpc": fpc}
    if mode != "census" and weights is None:
        for key, canon in CANONICAL_DESIGN.items():
            if cols[key] is None and canon in columns and has_values(canon):
                cols[key] = canon
    if mode == "census" or cols["weights"] is None:
        # census: strata and PSUs matter only for a superpopulation view; without it, keeping
        # them would only multiply the phase-1 cells (one per PSU: 8 M instead of 240,000 on a
        # registry) for exact rates that do not use them
        cols["weights"] = None
        if not superpopulation:
            cols = {k: None for k in cols}
    if mode == "survey" and cols["weights"] is None:
        raise ParameterError("design='survey' needs weights (a `weight` column or weights=<column>)")
    return survey.Design(cols["weights"], cols["strata"], cols["psu"], cols["fpc"], lonely_psu, superpopulation)


def _has_values(col: pd.Series) -> bool:
    """Whether a column holds any value: at once for integer and boolean columns (they hold no
    missing values) and when the first value is there, else looked at in slices."""
    if not len(col):
        return False
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub":
        return True
    if isinstance(col.dtype, np.dtype) and col.dtype.kind == "f":
        a = col.to_numpy()
        step = 1 << 16
        return a[0] == a[0] or any(not np.isnan(a[i:i + step]).all() for i in range(0, len(a), step))
    return bool(col.notna().any())


# --------------------------------------------------------------------------------------------
# verdicts


def one_sided_bounds(est, se, n, *, kind, level, df, census, jit=False):
    """One-sided (lower, upper) confidence bounds at ``level``: the ends of the 2*level-1 interval."""
    return survey.interval(est, se, n, kind=kind, level=2 * level - 1, df=df, census=census, jit=jit)


def verdicts(est, lower, upper, target, direction) -> np.ndarray:
    """``met`` / ``not met`` / ``inconclusive`` per row (None where there is no target or no data)."""
    codes = verdict_codes(est, lower, upper, target, direction)
    labels = np.array([*_VERDICT_CODES, None], dtype=object)
    return labels[np.where(codes < 0, 3, codes)]


# --------------------------------------------------------------------------------------------
# the scorecard


@dataclass
class Scorecard:
    """Result of :func:`build`. ``tidy()`` is the single source; the renderers read it."""

    table: pd.DataFrame
    change_table: pd.DataFrame | None
    framework: fw.Framework
    by: tuple
    level: float
    lang: str
    census: bool
    design: survey.Design
    _make_changes: object = None
    timings: dict = field(default_factory=dict)  # seconds per phase (engine, phase1_s, phase2_s)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def changes(self) -> pd.DataFrame:
        """Changes since the previous year and since the baseline, with SEs (shared PSUs give the
        covariance), and growth against the reference series. Computed on first call."""
        if self.change_table is None:
            self.change_table = self._make_changes() if self._make_changes else pd.DataFrame()
        return self.change_table.copy()

    def glance(self) -> dict:
        return {"framework": self.framework.id, "indicators": len(self.framework.indicators),
                "domains": int(self.table[list(self.by)].drop_duplicates().shape[0]) if self.by else 1,
                "level": self.level, "census": self.census,
                "design": {k: v for k, v in vars(self.design).items()}}

    def summary(self) -> str:
        counts = self.table["verdict"].value_counts().to_dict()
        mode = "census (exact rates)" if self.census else "survey (Taylor linearisation)"
        return (f"Scorecard {self.framework.id}: {len(self.framework.indicators)} indicators x "
                f"{self.glance()['domains']} domains, {mode}, level {self.level:g}; verdicts "
                + ", ".join(f"{k}: {counts.get(k, 0)}" for k in ("met", "not met", "inconclusive")))

    def where(self, **equals) -> "Scorecard":
        """The scorecard restricted to rows whose columns equal the given values, e.g.
        ``sc.where(year=2024)``: the estimates stay those of the full design (no re-estimation
        on a subset); only the rows shown change."""
        from dataclasses import replace

        unknown = [k for k in equals if k not in self.table.columns]
        if unknown:
            raise ParameterError(f"where(): unknown column(s) {unknown}; columns are {list(self.table.columns)}")
        mask = np.ones(len(self.table), dtype=bool)
        for k, v in equals.items():
            mask &= (self.table[k] == v).to_numpy(dtype=bool)
        return replace(self, table=self.table.loc[mask].reset_index(drop=True), change_table=None, _make_changes=None)

    # ---- renderers
    def display_table(self, *, min_cell: int = 0) -> pd.DataFrame:
        """Rounded, labelled table for people; cells with ``n < min_cell`` suppressed."""
        t = self.table.copy()
        small = t["n"] < min_cell if min_cell else pd.Series(False, index=t.index)
        cols = ["estimate", "std_error", "ci_low", "ci_high"]
        t[cols] = t[cols].astype("float64")
        t.loc[small, cols] = np.nan
        t["verdict"] = t["verdict"].astype(object)
        t.loc[small, "verdict"] = "suppressed"
        return t

    def to_html(self, *, min_cell: int = 0) -> str:
        """An HTML table with traffic-light verdicts; every text escaped."""
        t = self.display_table(min_cell=min_cell)
        lang = self.lang
        i = 0 if lang == "zh" else 1
        heads = [*self.by, "goal", "indicator", "estimate", "ci_low", "ci_high", "n", "target", "verdict"]
        esc = _html.escape
        rows = []
        for _, r in t.iterrows():
            fmt = self.framework.indicator(r["indicator"]).format
            cells = [esc(str(r[c])) for c in self.by]
            cells += [esc(str(r["goal_label"])), esc(str(r["label"]))]
            cells += [esc(_fmt(r[c], fmt)) for c in ("estimate", "ci_low", "ci_high")]
            cells += [esc(str(int(r["n"]))), esc(_target_text(r, fmt))]
            v = r["verdict"]
            colour = VERDICT_COLOURS.get(v, "#eeeeee")
            label = VERDICT_LABELS.get(v if v in VERDICT_LABELS else None, ("", ""))[i]
            cells.append(f'<span class="verdict" style="background:{colour};padding:0 .4em;border-radius:.3em">'
                         f"{esc(label)}</span>")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{esc(HEADERS.get(h, (h, h))[i])}</th>" for h in heads)
        note = ("说明：置信区间为泰勒线性化设计区间；结论按单侧检验判定。" if lang == "zh" else
                "Note: design-based (Taylor linearisation) intervals; verdicts from a one-sided test.")
        if self.census:
            note = "说明：普查数据，数值为精确值。" if lang == "zh" else "Note: census data; values are exact."
        return (f'<table class="baode-scorecard"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
                f"</tbody></table>\n<p>{esc(note)}</p>")

    def to_excel(self, path, *, min_cell: int = MIN_CELL) -> Path:
        """Officials' workbook: a sheet per goal, bilingual headers, formatted, small cells suppressed."""
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill
        from openpyxl.utils import get_column_letter

        t = self.display_table(min_cell=min_cell)
        wb = Workbook()
        wb.remove(wb.active)
        keys = [*self.by, "indicator", "estimate", "std_error", "ci_low", "ci_high", "n", "target", "verdict",
                "target_status"]
        for goal in self.framework.goals:
            part = t[t["goal"] == goal.id]
            ws = wb.create_sheet(title=f"{goal.zh} {goal.en}"[:31])
            ws.append([f"{HEADERS.get(k, (k, k))[0]} {HEADERS.get(k, (k, k))[1]}" for k in keys])
            for cell in ws[1]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            for _, r in part.iterrows():
                ind = self.framework.indicator(r["indicator"])
                vals = [_plain(r[c]) for c in self.by] + [f"{ind.zh} {ind.en}"]
                vals += [_plain(r[c]) for c in ("estimate", "std_error", "ci_low", "ci_high")]
                vals += [int(r["n"]), _target_text(r, ind.format)]
                v = r["verdict"]
                vals += [" ".join(VERDICT_LABELS.get(v if v in VERDICT_LABELS else None, ("", ""))).strip(),
                         _plain(r["target_status"])]
                ws.append(vals)
                row = ws.max_row
                numfmt = "0.0%" if ind.format == "percent" else "#,##0"
                if ind.format == "number":
                    numfmt = "0.00"
                for j in range(len(self.by) + 2, len(self.by) + 6):
                    ws.cell(row=row, column=j).number_format = numfmt
                if v in VERDICT_COLOURS:
                    ws.cell(row=row, column=len(keys) - 1).fill = PatternFill("solid", fgColor=VERDICT_COLOURS[v][1:])
            ws.freeze_panes = "A2"
            for j, k in enumerate(keys, start=1):
                ws.column_dimensions[get_column_letter(j)].width = 36 if k == "indicator" else 14
        notes = wb.create_sheet(title="说明 Notes")
        notes.append(["说明 Notes"])
        notes.append([f"框架 Framework: {self.framework.zh} / {self.framework.en}"])
        notes.append([f"置信水平 Level: {self.level:g}"])
        notes.append([f"样本数少于 {min_cell} 的单元格不显示 / cells with fewer than {min_cell} units suppressed"])
        notes.append(["结论：单侧检验 / verdicts: one-sided test against the target (census: direct comparison)"])
        path = Path(path)
        wb.save(path)
        return path

    def write(self, path) -> Path:
        """Write the tidy table by extension: .csv, .json or .xlsx."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            self.table.to_csv(path, index=False, encoding="utf-8")
        elif suffix == ".json":
            records = json.loads(self.table.to_json(orient="records", force_ascii=False))
            path.write_text(json.dumps({"glance": self.glance(), "rows": records}, ensure_ascii=False, indent=1),
                            encoding="utf-8")
        elif suffix == ".xlsx":
            self.to_excel(path)
        elif suffix in (".html", ".htm"):
            path.write_text(self.to_html(min_cell=MIN_CELL), encoding="utf-8")
        else:
            raise ParameterError(f"output must end in .csv, .json, .xlsx or .html, got {path.name!r}")
        return path


def _plain(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v if isinstance(v, (int, float, str)) else str(v)


def _fmt(v, fmt) -> str:
    if v is None or pd.isna(v):
        return "–"
    if fmt == "percent":
        return f"{100 * v:.1f}%"
    if fmt == "yuan":
        return f"{v:,.0f}"
    return f"{v:.2f}"


def _target_text(r, fmt) -> str:
    d = r["direction"]
    if d is None or (isinstance(d, float) and np.isnan(d)):
        return ""
    if d in ("rising", "falling"):
        return {"rising": "↑", "falling": "↓"}[d]
    return f"{'≥' if d == '>=' else '≤'} {_fmt(r['target'], fmt)}"


def _is_dask_frame(data) -> bool:
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "map_partitions")


def _engine(engine, default="pandas") -> str:
    """The engine name, ``numpy`` (the name before Dask) being an alias of ``pandas``."""
    engine = default if engine is None else engine
    check_option("engine", engine, ENGINES)
    return "pandas" if engine == "numpy" else engine


def build(
    data,
    framework=None,
    *,
    by: Sequence[str] | str | None = ("site", "year"),
    level: float = 0.95,
    lang: str = "zh",
    design: str = "auto",
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    fpc: str | None = None,
    lonely_psu: str = "adjust",
    superpopulation: bool = False,
    baseline_year: int | None = None,
    reference=None,
    year_column: str = "year",
    chunk_rows: int | None = 1_000_000,
    engine: str | None = None,
    scheduler=None,
    scheduler_timeout: float | None = None,
) -> Scorecard:
    """Every indicator of ``framework`` per ``by`` domain, with intervals, targets and verdicts.

    ``data``: a pandas DataFrame; a Dask DataFrame (phase 1 then runs on Dask); or a path to a
    Parquet file, directory or glob (read lazily, see :func:`build_from_parquet`) or a CSV file.
    ``framework``: a bundled name, a YAML path or a loaded :class:`~baode_eval.framework.Framework`
    (default: Baode's four goals). ``reference``: reference series table (default: the bundled
    one) for income growth comparisons. ``chunk_rows``: rows evaluated at a time in phase 1
    (bounds memory on national data). ``engine``: where phase 1 runs -- ``"pandas"`` (the
    numpy kernel in this process; ``"numpy"`` is the same), ``"numba"`` (the framework compiled
    into one loop over rows, on all cores; needs the ``fast`` extra, see :mod:`baode_eval.kernel`), ``"dask"`` (partitions on a Dask
    ``scheduler``, see :func:`baode_eval.scale.dask_compute`) or ``"duckdb"`` (one ``GROUP BY``;
    optional dependency); the default is ``"dask"`` for a Dask DataFrame, else ``"pandas"``.
    The same sums, the same results to floating-point rounding. Everything else as
    :func:`baode_eval.survey.estimate`.
    """
    if isinstance(data, (str, os.PathLike)):
        suffix = Path(data).suffix.lower()
        if suffix in (".csv", ".txt") and Path(data).is_file():
            data = read_table(data)
        else:
            return build_from_parquet(
                data, framework, by=by, level=level, lang=lang, design=design, weights=weights, strata=strata,
                psu=psu, fpc=fpc, lonely_psu=lonely_psu, superpopulation=superpopulation,
                baseline_year=baseline_year, reference=reference, year_column=year_column, chunk_rows=chunk_rows,
                engine=engine, scheduler=scheduler, scheduler_timeout=scheduler_timeout)
    dask_frame = _is_dask_frame(data)
    if not isinstance(data, pd.DataFrame) and not dask_frame:
        raise ParameterError(f"data must be a pandas or Dask DataFrame or a path, got {type(data).__name__}")
    engine = _engine(engine, "dask" if dask_frame else "pandas")
    if dask_frame and engine != "dask":
        raise ParameterError(f"a Dask DataFrame runs with engine='dask', not {engine!r} (or .compute() it first)")
    lang = check_lang(lang)
    level = check_level(level)
    fwk = framework if isinstance(framework, fw.Framework) else fw.load(framework)
    by = (by,) if isinstance(by, str) else tuple(by or ())
    missing = [c for c in by if c not in data.columns]
    if missing:
        raise ParameterError(f"by columns not in the data: {missing}")
    if dask_frame:
        des = resolve_design(None, design, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu,
                             superpopulation=superpopulation, columns=list(data.columns),
                             has_values=lambda c: bool(data[c].notnull().any().compute()))
    else:
        des = resolve_design(data, design, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu,
                             superpopulation=superpopulation)
    t0 = time.perf_counter()
    if engine in ("duckdb", "dask"):
        missing = [c for c in fwk.columns() if c not in data.columns]
        if missing:
            raise DataError(f"columns needed by the framework {fwk.id!r} are not in the data: {missing}")
    if engine == "duckdb":
        summary = survey.sufficient_statistics_sql(data, fw.sql_values(fwk, year_column=year_column), design=des,
                                                   by=by)
    elif engine == "dask":
        from . import scale

        if not dask_frame:
            data = scale.from_pandas_dask(data, scale.needed_columns(fwk, des, by, year_column, data.columns),
                                          chunk_rows=chunk_rows)
        dtypes = {c: data[c].dtype for c in by}
        sums = scale.sums_dask(data, fwk, des, by, year_column=year_column, chunk_rows=chunk_rows,
                               scheduler=scheduler, scheduler_timeout=_timeout(scheduler_timeout))
        summary = survey.summary_from_partial_sums(sums, names=[i.id for i in fwk.indicators], design=des, by=by,
                                                   dtypes=dtypes)
    elif engine == "numba":
        from .kernel import Compiled

        summary = survey.sufficient_statistics(data, Compiled(fwk, year_column=year_column), design=des, by=by)
    else:
        summary = survey.sufficient_statistics(
            data, lambda block: fw.row_values(block, fwk, year_column=year_column), design=des, by=by,
            chunk_rows=chunk_rows)
    t1 = time.perf_counter()
    card = from_summary(summary, fwk, level=level, lang=lang, baseline_year=baseline_year, reference=reference,
                        year_column=year_column)
    card.timings.update(engine=engine, phase1_s=t1 - t0, phase2_s=time.perf_counter() - t1)
    return card


def _timeout(value) -> float:
    from .scale import SCHEDULER_TIMEOUT

    if value is None:
        return SCHEDULER_TIMEOUT
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"scheduler_timeout must be a number of seconds, got {value!r}") from None
    if not value > 0:
        raise ParameterError(f"scheduler_timeout must be > 0 seconds, got {value!r}")
    return value


def build_from_parquet(
    path,
    framework=None,
    *,
    by: Sequence[str] | str | None = ("site", "year"),
    level: float = 0.95,
    lang: str = "zh",
    design: str = "auto",
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    fpc: str | None = None,
    lonely_psu: str = "adjust",
    superpopulation: bool = False,
    baseline_year: int | None = None,
    reference=None,
    year_column: str = "year",
    chunk_rows: int | None = 1_000_000,
    engine: str | None = "pandas",
    scheduler=None,
    scheduler_timeout: float | None = None,
    connection=None,
) -> Scorecard:
    """:func:`build` on a Parquet file, a directory of Parquet files (hive-partitioned or not)
    or a glob, read lazily: only the columns the framework, the domains and the design need,
    never all rows at once.

    ``engine``: ``"pandas"`` streams record batches through the numpy kernel in this process
    (``"numba"``: through the compiled kernel);
    ``"dask"`` maps the kernel over the partitions of ``dask.dataframe.read_parquet`` on
    ``scheduler`` (``None``/``"threads"``, ``"processes"``, ``"local"`` for a LocalCluster,
    ``"tcp://host:8786"`` for a running cluster, or a ``distributed.Client``); ``"duckdb"`` runs
    one ``GROUP BY`` over the files (``connection``: a DuckDB connection to use, e.g. with a
    ``memory_limit``). Phase 2 runs here, on the summed cells. Every file must hold every
    needed column (the error names the file and the columns); the domain columns come back
    with integer types as ``int64`` and text as pandas' own text dtype, whatever the files'
    pandas metadata says. ``card.timings`` has the seconds of each phase.
    """
    from . import scale

    engine = _engine(engine)
    lang = check_lang(lang)
    level = check_level(level)
    fwk = framework if isinstance(framework, fw.Framework) else fw.load(framework)
    by = (by,) if isinstance(by, str) else tuple(by or ())
    t0 = time.perf_counter()
    source = scale.ParquetSource(path)
    source.check_columns(by, what="the domains (by)")
    des = resolve_design(None, design, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu,
                         superpopulation=superpopulation, columns=source.columns, has_values=source.has_values)
    source.check_columns(des.columns(), what="the survey design")
    source.check_columns(fwk.columns(), what=f"the framework {fwk.id!r}")
    dtypes = source.dtypes(by)
    names = [i.id for i in fwk.indicators]
    if engine == "duckdb":
        summary = scale.sums_duckdb(source, fwk, des, by, year_column=year_column, connection=connection)
        summary.extra["dtypes"] = dtypes
    else:
        if engine == "dask":
            ddf = scale.read_parquet_dask(source, scale.needed_columns(fwk, des, by, year_column, source.columns))
            sums = scale.sums_dask(ddf, fwk, des, by, year_column=year_column, chunk_rows=chunk_rows,
                                   scheduler=scheduler, scheduler_timeout=_timeout(scheduler_timeout))
        else:
            sums = scale.sums_streaming(source, fwk, des, by, year_column=year_column, chunk_rows=chunk_rows,
                                        compiled=engine == "numba")
        summary = survey.summary_from_partial_sums(sums, names=names, design=des, by=by, dtypes=dtypes)
        summary.extra["jit"] = engine == "numba"  # phase 2's compiled loops too
    t1 = time.perf_counter()
    card = from_summary(summary, fwk, level=level, lang=lang, baseline_year=baseline_year, reference=reference,
                        year_column=year_column)
    card.timings.update(engine=engine, phase1_s=t1 - t0, phase2_s=time.perf_counter() - t1)
    return card



def build_available(data: pd.DataFrame, framework=None, *, goals=None, indicators=None, **options):
    """:func:`build` on the indicators of ``goals`` / ``indicators`` (ids; default all) that ``data``
    can support. Returns ``(card, missing)``: ``missing`` maps each indicator left out to the
    columns it lacks (absent or empty), and ``card`` is None when no indicator is left."""
    fwk = framework if isinstance(framework, fw.Framework) else fw.load(framework)
    sub = fwk.select(goals=goals, indicators=indicators)
    missing = sub.missing_columns(data)
    usable = [i.id for i in sub.indicators if i.id not in missing]
    if not usable:
        return None, missing
    return build(data, sub.select(indicators=usable), **options), missing

_VERDICT_CODES = ("met", "not met", "inconclusive")


@small_pages
def from_summary(summary: survey.Summary, fwk: fw.Framework, *, level=0.95, lang="zh", baseline_year=None,
                 reference=None, year_column="year") -> Scorecard:
    """Phase 2 of a scorecard on phase-1 sums (from pandas, DuckDB, Dask ... alike).

    Works on arrays per indicator and assembles the tidy table once: its cost grows with
    domains x indicators, never with rows.
    """
    by = summary.by
    kinds = {ind.id: ind.kind for ind in fwk.indicators}
    for ind in fwk.indicators:
        check_option("kind", ind.kind, survey.KINDS)
    level = check_level(level)
    census = not summary.design.needs_variance
    dom, coded = survey._domain_ids(summary)
    domains = survey.restore_dtypes(coded.copy(), summary)
    m = len(domains)
    K = len(fwk.indicators)

    def labels() -> dict:
        """The tidy table's columns that do not depend on the estimates."""
        small = np.int8 if K < 127 else np.int32  # category codes in the dtype pandas keeps: no conversion
        ind_codes = np.repeat(np.arange(K, dtype=small), m)
        goal_ids = [g.id for g in fwk.goals]
        goal_of = np.repeat(np.array([goal_ids.index(i.goal) for i in fwk.indicators], small), m)
        cols = {}
        if by:
            for c in by:
                col = domains[c]
                cols[c] = (pd.Categorical.from_codes(np.tile(col.cat.codes.to_numpy(), K), dtype=col.dtype,
                                                     validate=False)
                           if isinstance(col.dtype, pd.CategoricalDtype) else np.tile(col.to_numpy(), K))

        def cat(codes, labels):  # codes made here, within range: no validation pass over 27 x domains
            return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object), validate=False)

        def per_indicator(values):
            labels = list(dict.fromkeys(v for v in values if v is not None))
            codes = np.array([labels.index(v) if v is not None else -1 for v in values], small)
            return cat(np.repeat(codes, m), labels)

        cols["goal"] = cat(goal_of, goal_ids)
        cols["goal_label"] = cat(goal_of, [g.label(lang) for g in fwk.goals])
        cols["indicator"] = cat(ind_codes, [i.id for i in fwk.indicators])
        cols["label"] = cat(ind_codes, [i.label(lang) for i in fwk.indicators])
        cols["kind"] = per_indicator([i.kind for i in fwk.indicators])
        cols["unit"] = per_indicator([i.unit for i in fwk.indicators])
        cols["direction"] = per_indicator([i.target.direction if i.target else None for i in fwk.indicators])
        cols["target_status"] = per_indicator([i.target.status if i.target else None for i in fwk.indicators])
        cols["target_source"] = per_indicator([i.target.source if i.target else None for i in fwk.indicators])
        return cols

    # made beside everything else below (at national size 50 ms, while one core would be idle)
    made = _beside(labels) if K * m >= survey.PARALLEL_MIN else None
    ref = _reference_growth(reference) if year_column in by else {}
    rising = any(i.target is not None and i.target.direction in ("rising", "falling") for i in fwk.indicators)

    def make_trend():
        trend = _Trend(summary, year_column, baseline_year)
        if trend.ok and rising:
            trend.pairing(summary, "previous_year")  # shared by the threads below: made once
        return trend

    if made is not None:  # the groupings every indicator reads first, then the trends beside them
        survey.shared_groupings(summary, dom)
        trend_job = _beside(make_trend)
    else:
        trend_job = _Done(make_trend())
    year_codes = None
    if by and year_column in domains.columns:  # the same domains for every indicator: once
        codes = coded[year_column].cat.codes.to_numpy()
        if len(codes) and codes.min() >= 0:  # the years as codes into their sorted categories
            uniq = survey.restore_dtypes(pd.DataFrame({year_column: pd.Categorical.from_codes(
                np.arange(len(coded[year_column].cat.categories)), dtype=coded[year_column].dtype)}), summary)
            year_codes = uniq[year_column].to_numpy(), codes
        else:
            year_codes = np.unique(domains[year_column].to_numpy(), return_inverse=True)

    # the tidy table's columns, made once; each indicator fills its slice (in threads with the
    # compiled engine): no per-indicator pieces to concatenate (6.6 M rows at national size)
    # (on memory kept from earlier tables when there is some: see _memory.Retained)
    res = {k: RETAINED.empty(K * m, np.float64) for k in ("estimate", "std_error", "ci_low", "ci_high", "target")}
    res["n"] = RETAINED.empty(K * m, np.int64)
    res["verdict"] = RETAINED.empty(K * m, np.int8)

    fused = survey.fused(summary)  # the compiled engine: estimates and verdicts in one pass

    def one(k):
        ind = fwk.indicators[k]
        sl = slice(k * m, (k + 1) * m)
        t = ind.target
        trend_verdict = t is not None and t.direction in ("rising", "falling")
        level_verdict = t is not None and t.direction in (">=", "<=")
        verdict, target = res["verdict"][sl], res["target"][sl]
        target[:] = np.nan
        if level_verdict:
            if year_codes is not None:
                uniq, inv = year_codes
                vals = np.array([np.nan if (v := t.value_for(y, fwk.parameters)) is None else v for y in uniq])
                np.take(vals, inv, out=target)
            else:
                v = t.value_for(None, fwk.parameters)
                target[:] = np.nan if v is None else v
        if fused:
            lin = survey.finalise_into(summary, ind.id, ind.kind, dom, {key: a[sl] for key, a in res.items()},
                                       level=level, target=target, direction=t.direction if level_verdict else None,
                                       keep=trend_verdict)
        else:
            arrays, lin = survey.finalise_one(summary, ind.id, ind.kind, dom, domains, level=level,
                                              keep_z=trend_verdict)
            for key, values in arrays.items():
                res[key][sl] = values
            verdict[:] = -1
            if level_verdict:
                lo, hi = one_sided_bounds(arrays["estimate"], arrays["std_error"], arrays["n"], kind=ind.kind,
                                          level=level, df=summary.df, census=census,
                                          jit=bool(summary.extra.get("jit")))
                verdict[:] = verdict_codes(arrays["estimate"], lo, hi, target, t.direction)
        if trend_verdict:
            ch = trend_job.result().changes(summary, ind, lin, level=level, census=census, ref=ref,
                                            comparisons=("previous_year",))
            if "previous_year" in ch:
                prev = ch["previous_year"]
                v = prev["_verdict"].astype(np.int8)
                if t.direction == "falling":
                    v = np.where(v == 0, 1, np.where(v == 1, 0, v)).astype(np.int8)
                verdict[prev["_dom"]] = v

    for _ in survey.map_ratios(summary, one, range(K), dom):
        pass
    lab = made.result() if made is not None else labels()
    trend = trend_job.result()  # (its errors, bad years, are raised here if no indicator asked)
    out = {c: lab[c] for c in by or ()}
    for c in ("goal", "goal_label", "indicator", "label", "kind", "unit"):
        out[c] = lab[c]
    for k in ("estimate", "std_error", "ci_low", "ci_high", "n", "target"):
        out[k] = res[k]
    out["direction"] = lab["direction"]
    out["verdict"] = pd.Categorical.from_codes(res["verdict"], categories=list(_VERDICT_CODES), validate=False)
    out["target_status"] = lab["target_status"]
    out["target_source"] = lab["target_source"]
    table = pd.DataFrame(out, copy=False)

    def make_changes():
        if not trend.ok:
            return pd.DataFrame()
        parts = []
        for name, _, lin in survey.finalise_parts(summary, kinds, level=level):
            ch = trend.changes(summary, fwk.indicator(name), lin, level=level, census=census, ref=ref)
            parts.extend((name, comp, arrays) for comp, arrays in ch.items())
        return trend.assemble(parts)

    return Scorecard(table, None, fwk, by, level, lang, census, summary.design, make_changes)


class _Done:
    """A value already made, read like a future."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _beside(fn):
    """``fn()`` started in a thread of its own: a future, whose ``result()`` waits for it."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its task


def verdict_codes(est, lower, upper, target, direction) -> np.ndarray:
    """Verdicts as codes into ("met", "not met", "inconclusive"); -1 = no target or no data."""
    est, lower, upper, target = (np.asarray(a, np.float64) for a in (est, lower, upper, target))
    tol = 1e-12
    if direction == ">=":
        met, notmet = lower >= target - tol, upper < target - tol
    elif direction == "<=":
        met, notmet = upper <= target + tol, lower > target + tol
    else:
        raise ParameterError(f"direction must be '>=' or '<=' here, got {direction!r}")
    code = np.where(met, 0, np.where(notmet, 1, 2)).astype(np.int8)
    return np.where(np.isnan(est) | np.isnan(target), -1, code).astype(np.int8)


# --------------------------------------------------------------------------------------------
# changes since last year / baseline, and growth against a reference series


class _Trend:
    """Which domain is each domain's previous year and baseline (vectorised lookups), and the
    PSU pairing of every comparison, computed once and reused for every indicator."""

    def __init__(self, summary, year_column, baseline_year):
        by = list(summary.by)
        self.ok = year_column in by
        if not self.ok:
            return
        dom, domains = survey._domain_ids(summary)
        self.dom, self.domains = dom, survey.restore_dtypes(domains.copy(), summary)
        other = [c for c in by if c != year_column]
        yc = domains[year_column].cat
        try:
            years = yc.categories.to_numpy()[yc.codes.to_numpy()].astype(np.int64)
        except (TypeError, ValueError):
            raise DataError(f"the {year_column!r} column must hold whole years") from None
        self.years = years
        if other:
            ocodes = [domains[c].cat.codes.to_numpy(np.int64) for c in other]
            okey, _ = survey._group_ids(ocodes, [len(domains[c].cat.categories) for c in other], len(domains))
        else:
            okey = np.zeros(len(domains), np.int64)
        y0, ny = int(years.min()), int(years.max() - years.min() + 1)
        table = np.full((int(okey.max()) + 1 if len(okey) else 1, ny + 1), -1, np.int64)
        table[okey, years - y0] = np.arange(len(domains))

        def find(target_years):
            idx = target_years - y0
            inside = (idx >= 0) & (idx < ny)
            out = np.full(len(domains), -1, np.int64)
            out[inside] = table[okey[inside], idx[inside]]
            return out

        self.prev = find(years - 1)
        base = y0 if baseline_year is None else int(baseline_year)
        self.base = np.where(years != base, find(np.full(len(domains), base)), -1)
        self._pairings = {}
        self._lock = threading.Lock()

    def pairing(self, summary, comparison) -> "_Pairing":
        """The PSU pairing of a comparison, made once (indicators may ask from several threads)."""
        with self._lock:
            hit = self._pairings.get(comparison)
            if hit is None:
                idx = self.prev if comparison == "previous_year" else self.base
                a = np.flatnonzero(idx >= 0)
                hit = self._pairings[comparison] = _Pairing(summary, self.dom, a, idx[a])
            return hit

    def changes(self, summary, ind, lin, *, level, census, ref, comparisons=("previous_year", "baseline")) -> dict:
        """``{comparison: {column: array}}`` for one indicator (assembled later in one go)."""
        if not self.ok:
            return {}
        out = {}
        for comparison, idx in (("previous_year", self.prev), ("baseline", self.base)):
            if comparison not in comparisons:
                continue
            pairing = self.pairing(summary, comparison)
            a, b = pairing.a, pairing.b
            if not len(a):
                continue
            diff = lin.est[a] - lin.est[b]
            se = np.sqrt(pairing.variance(summary, lin, np.ones(len(a)), np.ones(len(a)), census))
            inf = np.full(len(a), np.inf)
            lo, hi = survey.interval(diff, se, inf, kind="mean", level=level, df=summary.df, census=census)
            l1, h1 = survey.interval(diff, se, inf, kind="mean", level=2 * level - 1, df=summary.df, census=census)
            vt = verdict_codes(diff, l1, h1, np.zeros(len(a)), ">=")
            if census:  # equal is not rising; "equal" up to rounding, so that the verdict does not
                # depend on the order in which an engine added the rows (relative 1e-12)
                scale = np.maximum(np.abs(lin.est[a]), np.abs(lin.est[b]))
                vt[np.abs(diff) <= 1e-12 * np.where(scale > 0, scale, 1.0)] = 1
            part = {"_dom": a, "from_year": self.years[b], "estimate": diff, "std_error": se, "ci_low": lo,
                    "ci_high": hi, "_verdict": vt}
            nan = np.full(len(a), np.nan)
            part.update(growth=nan, growth_se=nan, reference_growth=nan, growth_gap=nan, _ref=-1)
            if ind.compare_growth_with and comparison == "previous_year":
                with np.errstate(divide="ignore", invalid="ignore"):
                    rb = lin.est[b]
                    growth = lin.est[a] / rb - 1
                    gvar = pairing.variance(summary, lin, 1 / rb, lin.est[a] / rb**2, census)
                rg = ref.get(ind.compare_growth_with, {})
                uniq, inv = np.unique(self.years[a], return_inverse=True)
                refg = np.array([rg.get(int(y), np.nan) for y in uniq])[inv]
                part.update(growth=growth, growth_se=np.sqrt(gvar), reference_growth=refg, growth_gap=growth - refg,
                            _ref=ind.compare_growth_with)
            out[comparison] = part
        return out

    def assemble(self, parts: list) -> pd.DataFrame:
        """One tidy change table from ``(indicator, comparison, arrays)`` parts."""
        if not parts:
            return pd.DataFrame()
        dom = np.concatenate([p["_dom"] for _, _, p in parts])
        out = {}
        for c in self.domains.columns:
            col = self.domains[c]
            out[c] = (pd.Categorical.from_codes(col.cat.codes.to_numpy()[dom], categories=col.cat.categories)
                      if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()[dom])
        sizes = [len(p["_dom"]) for _, _, p in parts]
        inds = list(dict.fromkeys(i for i, _, _ in parts))
        out["indicator"] = pd.Categorical.from_codes(np.repeat([inds.index(i) for i, _, _ in parts], sizes),
                                                     categories=pd.Index(inds, dtype=object))
        comps = ["previous_year", "baseline"]
        out["comparison"] = pd.Categorical.from_codes(np.repeat([comps.index(c) for _, c, _ in parts], sizes),
                                                      categories=pd.Index(comps, dtype=object))
        for k in ("from_year", "estimate", "std_error", "ci_low", "ci_high"):
            out[k] = np.concatenate([p[k] for _, _, p in parts])
        out["verdict_trend"] = pd.Categorical.from_codes(np.concatenate([p["_verdict"] for _, _, p in parts]),
                                                         categories=list(_VERDICT_CODES))
        for k in ("growth", "growth_se", "reference_growth", "growth_gap"):
            out[k] = np.concatenate([p[k] for _, _, p in parts])
        refs = [None] + list(dict.fromkeys(p["_ref"] for _, _, p in parts if p["_ref"] != -1))
        out["reference_series"] = pd.Categorical.from_codes(
            np.repeat([refs.index(p["_ref"]) - 1 if p["_ref"] != -1 else -1 for _, _, p in parts], sizes),
            categories=pd.Index(refs[1:], dtype=object))
        return pd.DataFrame(out, copy=False)


class _Pairing:
    """PSU-level pairing of domain pairs (a, b): which cells add, which subtract, and their
    (pair, stratum, PSU) groups. The same for every indicator, so it is computed once. With the
    compiled engine's sorted cells, the pairs are merged on (stratum, PSU) in one Numba loop
    per indicator instead (:func:`baode_eval._jit.contrast_variance`)."""

    def __init__(self, summary, dom, a, b):
        self.a, self.b = a, b
        self.merge = False
        if not summary.design.needs_variance or summary.rows_are_psus:
            return  # no PSU-level values (census, or rows as PSUs: pairs taken as independent)
        cells = summary.cells
        h = cells["_stratum"].to_numpy(np.int64)
        psu = cells["_psu"].to_numpy(np.int64)
        strata = summary.strata
        if summary.extra.get("jit") and summary.extra.get("sorted"):
            self.merge = True
            in_order, self.start, self.stop = survey._run_bounds(summary, dom)[:3]  # each domain's cells
            pair_of = np.full(len(self.start), -1, np.int64)  # pairs in the order of their cells
            pair_of[a] = np.arange(len(a))
            self.order = pair_of[in_order]
            self.order = self.order[self.order >= 0]
            self.h, self.psu = h, psu
            codes = strata["_stratum"].to_numpy(np.int64)
            size = int(codes.max()) + 1 if len(codes) else 1
            self.n_by_code, self.f_by_code = np.zeros(size), np.zeros(size)
            self.n_by_code[codes] = strata["n_psu"].to_numpy(np.float64)
            self.f_by_code[codes] = strata["f"].to_numpy(np.float64)
            return
        D = int(dom.max()) + 1 if len(dom) else 0
        pos_a = np.full(D, -1, np.int64)
        pos_a[a] = np.arange(len(a))
        ia = np.flatnonzero(pos_a[dom] >= 0)
        ka = pos_a[dom[ia]]
        order = np.argsort(b, kind="stable")  # a domain may be the comparator of several pairs
        cnt = np.bincount(b, minlength=D)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        ib0 = np.flatnonzero(cnt[dom] > 0)
        reps = cnt[dom[ib0]]
        ib = np.repeat(ib0, reps)
        offs = np.arange(len(ib)) - np.repeat(np.cumsum(reps) - reps, reps)
        kb = order[start[dom[ib]] + offs]
        pos = np.concatenate([ka, kb])
        hh = np.concatenate([h[ia], h[ib]])
        pp = np.concatenate([psu[ia], psu[ib]])
        P = int(psu.max()) + 2 if len(psu) else 1
        H = int(h.max()) + 1 if len(h) else 1
        g, _ = pd.factorize((pos * H + hh) * P + pp + 1, sort=False)
        G = int(g.max()) + 1 if len(g) else 0
        first = np.zeros(G, np.int64)
        first[g[::-1]] = np.arange(len(g))[::-1]
        gs, _ = pd.factorize(pos[first] * H + hh[first], sort=False)
        S = int(gs.max()) + 1 if len(gs) else 0
        fs = np.zeros(S, np.int64)
        fs[gs[::-1]] = np.arange(len(gs))[::-1]
        self.ia, self.ka, self.ib, self.kb, self.g, self.G, self.gs, self.S = ia, ka, ib, kb, g, G, gs, S
        self.pos_s = pos[first][fs]
        h_s = hh[first][fs]
        strata = strata.set_index("_stratum")
        self.n_h = strata["n_psu"].reindex(h_s).to_numpy(np.float64)
        self.f_h = strata["f"].reindex(h_s).to_numpy(np.float64)

    def variance(self, summary, lin, ca, cb, census) -> np.ndarray:
        """Variance of ca*R_a - cb*R_b. With PSU identifiers the covariance comes from the PSUs
        both domains share (panel households, same PSUs across years); without them (rows as
        PSUs) the two estimates are treated as independent."""
        a, b = self.a, self.b
        if census:
            return np.zeros(len(a))
        if lin.z is None:
            return ca**2 * lin.var[a] + cb**2 * lin.var[b]
        if self.merge:
            from . import _jit

            def per_pair(c):
                return np.ascontiguousarray(np.broadcast_to(np.asarray(c, np.float64), (len(a),)))

            return _jit.contrast_variance(self.order, a, b, per_pair(ca), per_pair(cb), self.start, self.stop, self.h,
                                          self.psu, lin.z, self.n_by_code, self.f_by_code,
                                          summary.design.lonely_psu == "adjust", summary.n_psu_total)
        d = np.concatenate([lin.z[self.ia] * np.asarray(ca)[self.ka], -lin.z[self.ib] * np.asarray(cb)[self.kb]])
        dt = np.bincount(self.g, d, self.G)
        s1 = np.bincount(self.gs, dt, self.S)
        s2 = np.bincount(self.gs, dt * dt, self.S)
        return survey._stratum_variance(s1, s2, self.n_h, self.f_h, self.pos_s, len(a), summary, "contrast")


def _reference_growth(reference) -> dict:
    """``{series: {year: growth over previous year}}`` from the reference table."""
    if reference is False:
        return {}
    if reference is None:
        return _bundled_reference_growth()
    out = {}
    for name, g in reference.groupby("series"):
        s = g.set_index(g["year"].astype(int))["value"].astype(float).sort_index()
        out[name] = {int(y): s[y] / s[y - 1] - 1 for y in s.index if y - 1 in s.index}
    return out


@functools.lru_cache(maxsize=1)
def _bundled_reference_growth() -> dict:
    """Growth of the bundled reference series (read once per process; it ships with the package)."""
    from .datasets import load_reference

    return _reference_growth(load_reference())
