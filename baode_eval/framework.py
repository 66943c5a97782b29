"""Goal frameworks as data: goals -> indicators -> definitions over canonical columns.

A framework is a YAML file (format: data/frameworks/README.md). :func:`load` reads and checks
it; every error names the file and the offending key (``goals[1].indicators[2].target``).
Indicator definitions are small expressions over the canonical household columns
(data/codebook/schema.yaml) and the framework's parameters, e.g.
``labour_members >= 1 and employed_members >= 1``; they are parsed once into a safe syntax tree
(no attribute access, no calls except ``notna``/``isna``) and evaluated on numpy arrays with
missing values propagated (a comparison with a missing value is missing, not false).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import paths
from .errors import DataError
from .options import DIRECTIONS, KINDS, STATUSES, UNITS

FRAMEWORKS_DIR = "frameworks"
DEFAULT = "baode_four_goals"
FORMATS = ("percent", "yuan", "number")


class FrameworkError(DataError):
    """A framework file is malformed; the message names the file and the key."""

    def __init__(self, message: str, *, path=None, key: str | None = None):
        super().__init__(f"{key}: {message}" if key else message, path=path)
        self.key = key


# --------------------------------------------------------------------------------------------
# expressions


_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}
_BIN = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_SQL_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "=", ast.NotEq: "<>"}
_SQL_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FUNCS = ("notna", "isna")


@dataclass(frozen=True)
class Expression:
    """A parsed indicator expression; ``names`` are the columns and parameters it reads."""

    text: str
    tree: ast.AST
    names: frozenset

    def evaluate(self, columns, params=None) -> np.ndarray:
        """Value per row (float64; NaN = missing). ``columns(name)`` returns a row array."""
        return _eval(self.tree, columns, params or {})

    def to_sql(self, quote=lambda n: f'CAST("{n}" AS DOUBLE)', params=None) -> str:
        """The same expression in SQL (DuckDB): NULL propagates as NaN does here."""
        return _sql(self.tree, quote, params or {})


def parse_expression(text, *, allowed: set[str] | None = None, where: str = "", path=None) -> Expression:
    """Parse and check an expression; unknown names raise FrameworkError naming ``where``."""
    src = str(text).strip()
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        raise FrameworkError(f"cannot parse expression {src!r}: {exc.msg}", path=path, key=where) from None
    names = set()
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Name, ast.Constant, ast.BinOp, ast.Compare, ast.BoolOp, ast.UnaryOp,
                               ast.Call, ast.Load, ast.And, ast.Or, ast.Not, ast.USub, *_CMP, *_BIN))
        if not ok:
            raise FrameworkError(f"expression {src!r} uses {type(node).__name__}, which is not allowed "
                                 "(columns, numbers, + - * /, comparisons, and/or/not, notna(), isna())",
                                 path=path, key=where)
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS and len(node.args) == 1
                    and isinstance(node.args[0], ast.Name) and not node.keywords):
                raise FrameworkError(f"expression {src!r}: only notna(column) and isna(column) may be called",
                                     path=path, key=where)
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            raise FrameworkError(f"expression {src!r}: only numeric constants are allowed", path=path, key=where)
        if isinstance(node, ast.Name) and node.id not in _FUNCS:
            names.add(node.id)
    if allowed is not None:
        unknown = sorted(names - allowed)
        if unknown:
            raise FrameworkError(f"unknown column or parameter {unknown} in {src!r} (columns come from "
                                 "data/codebook/schema.yaml; parameters from the framework's `parameters`)",
                                 path=path, key=where)
    return Expression(src, tree, frozenset(names))


def _eval(node, columns, params):
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in params:
            return params[node.id]
        return columns(node.id)
    if isinstance(node, ast.Call):
        raw = columns(node.args[0].id, raw=True)
        isna = np.asarray(pd.isna(raw), bool)
        return (isna if node.func.id == "isna" else ~isna).astype(np.float64)
    if isinstance(node, ast.BinOp):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _BIN[type(node.op)](_eval(node.left, columns, params), _eval(node.right, columns, params))
        return np.where(np.isfinite(out), out, np.nan) if isinstance(node.op, ast.Div) else out
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, columns, params)
        return -v if isinstance(node.op, ast.USub) else np.where(np.isnan(v), np.nan, (v == 0).astype(float))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, columns, params)
        result = None
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, columns, params)
            miss = np.isnan(left) | np.isnan(right)
            with np.errstate(invalid="ignore"):
                r = np.where(miss, np.nan, _CMP[type(op)](left, right).astype(float))
            result = r if result is None else _and(result, r)
            left = right
        return result
    if isinstance(node, ast.BoolOp):
        vals = [_eval(v, columns, params) for v in node.values]
        out = vals[0]
        for v in vals[1:]:
            out = _and(out, v) if isinstance(node.op, ast.And) else _or(out, v)
        return out
    raise AssertionError(type(node))  # parse_expression has rejected everything else


def _and(a, b):
    """Kleene AND: false if either is false, missing if either is missing, else true."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    false = (a == 0) | (b == 0)
    miss = np.isnan(a) | np.isnan(b)
    return np.where(false, 0.0, np.where(miss, np.nan, 1.0))


def _or(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    true = ((a != 0) & ~np.isnan(a)) | ((b != 0) & ~np.isnan(b))
    miss = np.isnan(a) | np.isnan(b)
    return np.where(true, 1.0, np.where(miss, np.nan, 0.0))


def _sql(node, quote, params):
    if isinstance(node, ast.Constant):
        return repr(float(node.value))
    if isinstance(node, ast.Name):
        return params.get(node.id, quote(node.id))
    if isinstance(node, ast.Call):
        op = "IS NULL" if node.func.id == "isna" else "IS NOT NULL"
        return f'CAST(("{node.args[0].id}" {op}) AS DOUBLE)'
    if isinstance(node, ast.BinOp):
        return f"({_sql(node.left, quote, params)} {_SQL_BIN[type(node.op)]} {_sql(node.right, quote, params)})"
    if isinstance(node, ast.UnaryOp):
        inner = _sql(node.operand, quote, params)
        return f"(-{inner})" if isinstance(node.op, ast.USub) else f"CAST(({inner}) = 0 AS DOUBLE)"
    if isinstance(node, ast.Compare):
        parts, left = [], node.left
        for op, comp in zip(node.ops, node.comparators):
            parts.append(f"({_sql(left, quote, params)} {_SQL_CMP[type(op)]} {_sql(comp, quote, params)})")
            left = comp
        return f"CAST(({' AND '.join(parts)}) AS DOUBLE)"
    if isinstance(node, ast.BoolOp):
        word = " AND " if isinstance(node.op, ast.And) else " OR "
        return f"CAST(({word.join(f'(({_sql(v, quote, params)}) <> 0)' for v in node.values)}) AS DOUBLE)"
    raise AssertionError(type(node))


# --------------------------------------------------------------------------------------------
# framework files


@dataclass(frozen=True)
class Target:
    direction: str
    value: float | None = None
    by_year: dict = field(default_factory=dict)
    parameter: str | None = None
    status: str = "unverified"
    source: str = ""

    def value_for(self, year, parameters: dict) -> float | None:
        """The numeric target in ``year`` (None for rising/falling or when the year has no value)."""
        if self.parameter:
            return parameters[self.parameter].value_for(year)
        if self.by_year:
            return self.by_year.get(int(year)) if year is not None and not pd.isna(year) else None
        return self.value


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float | None = None
    by_year: dict = field(default_factory=dict)
    zh: str = ""
    en: str = ""
    status: str = "unverified"
    source: str = ""

    def value_for(self, year) -> float | None:
        if self.by_year:
            return None if year is None or pd.isna(year) else self.by_year.get(int(year))
        return self.value


@dataclass(frozen=True)
class Indicator:
    id: str
    goal: str
    zh: str
    en: str
    order: int
    kind: str
    unit: str
    numerator: Expression
    denominator: Expression
    format: str = "percent"
    target: Target | None = None
    compare_growth_with: str | None = None
    note: str = ""

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Goal:
    id: str
    zh: str
    en: str
    order: int

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Framework:
    id: str
    zh: str
    en: str
    source: str
    goals: tuple[Goal, ...]
    indicators: tuple[Indicator, ...]
    parameters: dict
    path: Path | None = None

    def indicator(self, id_: str) -> Indicator:
        for ind in self.indicators:
            if ind.id == id_:
                return ind
        raise KeyError(id_)

    def goal(self, id_: str) -> Goal:
        return next(g for g in self.goals if g.id == id_)

    def columns(self) -> list[str]:
        """Canonical columns the indicators read (parameters excluded)."""
        names = set()
        for ind in self.indicators:
            names |= ind.numerator.names | ind.denominator.names
        return sorted(names - set(self.parameters))

    def select(self, *, goals=None, indicators=None) -> "Framework":
        """The same framework keeping only ``goals`` (ids) and/or ``indicators`` (ids), in
        framework order; targets and parameters are unchanged. Unknown ids raise ParameterError
        listing the known ones."""
        from dataclasses import replace

        from .errors import ParameterError

        for name, wanted, known in (("goals", goals, [g.id for g in self.goals]),
                                    ("indicators", indicators, [i.id for i in self.indicators])):
            unknown = sorted(set(wanted or ()) - set(known))
            if unknown:
                raise ParameterError(f"{name}: unknown id(s) {unknown}; framework {self.id!r} has {known}")
        keep = [i for i in self.indicators
                if (goals is None or i.goal in goals) and (indicators is None or i.id in indicators)]
        used = {i.goal for i in keep}
        return replace(self, goals=tuple(g for g in self.goals if g.id in used), indicators=tuple(keep))

    def missing_columns(self, data: pd.DataFrame) -> dict[str, list[str]]:
        """``{indicator id: columns it needs that ``data`` lacks}`` (absent, or present with no
        value at all), for indicators that cannot be estimated on ``data`` (empty when all can)."""
        out = {}
        for ind in self.indicators:
            need = (ind.numerator.names | ind.denominator.names) - set(self.parameters)
            lacking = sorted(c for c in need if c not in data.columns or not data[c].notna().any())
            if lacking:
                out[ind.id] = lacking
        return out

    def table(self, lang: str = "en") -> pd.DataFrame:
        """One row per indicator: goal, id, label, kind, unit, definition, target, status, source."""
        rows = []
        for ind in self.indicators:
            t = ind.target
            rows.append({
                "goal": ind.goal, "goal_label": self.goal(ind.goal).label(lang), "indicator": ind.id,
                "label": ind.label(lang), "kind": ind.kind, "unit": ind.unit,
                "numerator": ind.numerator.text, "denominator": ind.denominator.text,
                "direction": t.direction if t else None,
                "target": (t.parameter or (t.value if t.value is not None else (t.by_year or None))) if t else None,
                "status": t.status if t else None, "source": t.source if t else None,
            })
        return pd.DataFrame(rows)


@lru_cache(maxsize=None)
def canonical_columns() -> frozenset:
    """Household field names of the canonical schema (data/codebook/schema.yaml)."""
    path = paths.data_dir() / paths.CODEBOOK_DIR / "schema.yaml"
    with open(path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    return frozenset(f["name"] for f in schema["tables"]["household"]["fields"])


def available() -> list[str]:
    """Names of the bundled frameworks."""
    return sorted(p.stem for p in (paths.data_dir() / FRAMEWORKS_DIR).glob("*.yaml"))


def resolve(framework) -> Path:
    """A bundled framework name or a path -> the file."""
    if framework is None:
        framework = DEFAULT
    p = Path(framework)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise FrameworkError("framework file not found", path=p)
        return p
    bundled = paths.data_dir() / FRAMEWORKS_DIR / f"{framework}.yaml"
    if not bundled.is_file():
        raise FrameworkError(f"unknown framework {str(framework)!r}; bundled: {available()} (or give a .yaml path)")
    return bundled


_LOADED: dict = {}  # (path, mtime, size, extra columns) -> Framework (frozen, safe to share)


def load(framework=None, *, extra_columns=()) -> Framework:
    """Read and validate a framework (bundled name or path; default Baode's four goals).
    A file is parsed once per process and again only when it changes."""
    path = resolve(framework)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, tuple(extra_columns))
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    fwk = _load_file(path, extra_columns)
    if key is not None:
        _LOADED[key] = fwk
    return fwk


def _load_file(path: Path, extra_columns) -> Framework:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise FrameworkError(f"not valid YAML: {exc}", path=path) from None
    return from_dict(raw, path=path, extra_columns=extra_columns)


def _need(d, key, where, path, types=None):
    if not isinstance(d, dict) or key not in d or d[key] in (None, ""):
        raise FrameworkError("missing required key", path=path, key=f"{where}.{key}" if where else key)
    v = d[key]
    if types and not isinstance(v, types):
        raise FrameworkError(f"must be {types if isinstance(types, type) else types}, got {v!r}", path=path,
                             key=f"{where}.{key}" if where else key)
    return v


def _check_keys(d, allowed, where, path):
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise FrameworkError(f"unknown key(s) {extra}; allowed: {sorted(allowed)}", path=path, key=where)


def from_dict(raw: dict, *, path=None, extra_columns=()) -> Framework:
    """Validate a framework given as a dict (what :func:`load` reads from YAML)."""
    if not isinstance(raw, dict):
        raise FrameworkError("the file must hold a mapping with keys id, goals, ...", path=path)
    _check_keys(raw, {"id", "version", "zh", "en", "source", "parameters", "goals"}, "(top level)", path)
    fid = _need(raw, "id", "", path, str)
    params = {}
    for name, spec in (raw.get("parameters") or {}).items():
        where = f"parameters.{name}"
        if not isinstance(spec, dict):
            raise FrameworkError("must be a mapping with value or by_year", path=path, key=where)
        _check_keys(spec, {"zh", "en", "value", "by_year", "status", "source"}, where, path)
        if ("value" in spec) == ("by_year" in spec):
            raise FrameworkError("give exactly one of value or by_year", path=path, key=where)
        by_year = {int(k): float(v) for k, v in (spec.get("by_year") or {}).items()}
        status = spec.get("status", "unverified")
        if status not in STATUSES:
            raise FrameworkError(f"must be one of {list(STATUSES)}, got {status!r}", path=path, key=f"{where}.status")
        params[name] = Parameter(name, float(spec["value"]) if "value" in spec else None, by_year,
                                 spec.get("zh", ""), spec.get("en", ""), status, spec.get("source", ""))
    allowed = set(canonical_columns()) | set(extra_columns) | set(params)
    clash = sorted(set(params) & set(canonical_columns()))
    if clash:
        raise FrameworkError(f"parameter names {clash} clash with canonical columns", path=path, key="parameters")
    goals, indicators, seen = [], [], set()
    raw_goals = _need(raw, "goals", "", path, list)
    for gi, g in enumerate(raw_goals):
        gw = f"goals[{gi}]"
        if not isinstance(g, dict):
            raise FrameworkError("must be a mapping", path=path, key=gw)
        _check_keys(g, {"id", "zh", "en", "order", "indicators"}, gw, path)
        goal = Goal(_need(g, "id", gw, path, str), _need(g, "zh", gw, path, str), _need(g, "en", gw, path, str),
                    int(g.get("order", gi + 1)))
        goals.append(goal)
        for ii, d in enumerate(_need(g, "indicators", gw, path, list)):
            w = f"{gw}.indicators[{ii}]"
            if not isinstance(d, dict):
                raise FrameworkError("must be a mapping", path=path, key=w)
            _check_keys(d, {"id", "zh", "en", "order", "kind", "unit", "numerator", "denominator", "format",
                            "target", "compare_growth_with", "note"}, w, path)
            iid = _need(d, "id", w, path, str)
            w = f"{w}({iid})"
            if iid in seen:
                raise FrameworkError("duplicate indicator id", path=path, key=w)
            seen.add(iid)
            kind = _need(d, "kind", w, path, str)
            if kind not in KINDS:
                raise FrameworkError(f"must be one of {list(KINDS)}, got {kind!r}", path=path, key=f"{w}.kind")
            unit = _need(d, "unit", w, path, str)
            if unit not in UNITS:
                raise FrameworkError(f"must be one of {list(UNITS)}, got {unit!r}", path=path, key=f"{w}.unit")
            fmt = d.get("format", "percent")
            if fmt not in FORMATS:
                raise FrameworkError(f"must be one of {list(FORMATS)}, got {fmt!r}", path=path, key=f"{w}.format")
            num = parse_expression(_need(d, "numerator", w, path), allowed=allowed, where=f"{w}.numerator", path=path)
            den = parse_expression(_need(d, "denominator", w, path), allowed=allowed, where=f"{w}.denominator",
                                   path=path)
            target = _target(d.get("target"), f"{w}.target", path, params)
            indicators.append(Indicator(iid, goal.id, _need(d, "zh", w, path, str), _need(d, "en", w, path, str),
                                        int(d.get("order", ii + 1)), kind, unit, num, den, fmt, target,
                                        d.get("compare_growth_with"), d.get("note", "")))
    goals.sort(key=lambda g: g.order)
    gorder = {g.id: g.order for g in goals}
    indicators.sort(key=lambda i: (gorder[i.goal], i.order))
    return Framework(fid, raw.get("zh", fid), raw.get("en", fid), raw.get("source", ""), tuple(goals),
                     tuple(indicators), params, Path(path) if path else None)


def _target(t, where, path, params) -> Target | None:
    if t is None:
        return None
    if not isinstance(t, dict):
        raise FrameworkError("must be a mapping with direction and value/by_year/parameter", path=path, key=where)
    _check_keys(t, {"value", "by_year", "parameter", "direction", "status", "source"}, where, path)
    direction = _need(t, "direction", where, path, str)
    if direction not in DIRECTIONS:
        raise FrameworkError(f"must be one of {list(DIRECTIONS)}, got {direction!r}", path=path,
                             key=f"{where}.direction")
    given = [k for k in ("value", "by_year", "parameter") if t.get(k) is not None]
    if direction in (">=", "<=") and len(given) != 1:
        raise FrameworkError(f"direction {direction!r} needs exactly one of value, by_year, parameter",
                             path=path, key=where)
    if direction in ("rising", "falling") and given:
        raise FrameworkError(f"direction {direction!r} takes no value", path=path, key=where)
    if t.get("parameter") is not None and t["parameter"] not in params:
        raise FrameworkError(f"unknown parameter {t['parameter']!r}; defined: {sorted(params)}", path=path,
                             key=f"{where}.parameter")
    status = t.get("status", "unverified")
    if status not in STATUSES:
        raise FrameworkError(f"must be one of {list(STATUSES)}, got {status!r}", path=path, key=f"{where}.status")
    try:
        value = None if t.get("value") is None else float(t["value"])
        by_year = {int(k): float(v) for k, v in (t.get("by_year") or {}).items()}
    except (TypeError, ValueError):
        raise FrameworkError("target values must be numbers", path=path, key=where) from None
    return Target(direction, value, by_year, t.get("parameter"), status, t.get("source", ""))


# --------------------------------------------------------------------------------------------
# evaluation on a data frame


def row_values(data: pd.DataFrame, framework: Framework, *, year_column: str = "year") -> dict:
    """``{indicator id: (numerator, denominator)}`` row arrays (NaN = missing) for phase 1."""
    cache: dict = {}

    def column(name, raw=False):
        if name not in data.columns:
            raise DataError(f"column {name!r} needed by the framework {framework.id!r} is not in the data")
        if raw:
            return data[name]
        if name not in cache:
            cache[name] = _to_float(data[name], name)
        return cache[name]

    years = data[year_column] if year_column in data.columns else None
    params = {}
    for name, p in framework.parameters.items():
        if p.by_year:
            if years is None:
                raise DataError(f"parameter {name!r} varies by year but the data has no {year_column!r} column")
            uniq, inv = np.unique(years.to_numpy(), return_inverse=True)
            vals = np.array([np.nan if (v := p.value_for(y)) is None else v for y in uniq], np.float64)
            params[name] = vals[inv]
        else:
            params[name] = np.float64(p.value)
    out = {}
    for ind in framework.indicators:
        num = ind.numerator.evaluate(column, params)
        den = ind.denominator.evaluate(column, params)
        out[ind.id] = (np.broadcast_to(np.asarray(num, np.float64), (len(data),)),
                       np.broadcast_to(np.asarray(den, np.float64), (len(data),)))
    return out


def sql_values(framework: Framework, *, year_column: str = "year") -> dict:
    """``{indicator id: (numerator SQL, denominator SQL)}`` for a SQL engine (DuckDB)."""
    params = {}
    for name, p in framework.parameters.items():
        if p.by_year:
            whens = " ".join(f"WHEN {int(y)} THEN {float(v)!r}" for y, v in sorted(p.by_year.items()))
            params[name] = f'(CASE CAST("{year_column}" AS BIGINT) {whens} ELSE NULL END)'
        else:
            params[name] = repr(float(p.value))
    return {ind.id: (ind.numerator.to_sql(params=params), ind.denominator.to_sql(params=params))
            for ind in framework.indicators}


def _to_float(s: pd.Series, name: str) -> np.ndarray:
    if s.dtype == bool:
        return s.to_numpy(np.float64)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        if isinstance(s.dtype, pd.api.extensions.ExtensionDtype):  # Int64, boolean, Arrow: straight to float
            return s.to_numpy(np.float64, na_value=np.nan)
        return pd.to_numeric(s).to_numpy(np.float64, na_value=np.nan)
    mapped = s.map({True: 1.0, False: 0.0, "是": 1.0, "否": 0.0, "True": 1.0, "False": 0.0, "true": 1.0,
                    "false": 0.0, 1: 1.0, 0: 0.0})
    bad = mapped.isna() & s.notna()
    if bad.any():
        raise DataError(f"not a number or yes/no: {s[bad].iloc[0]!r}", column=name)
    return mapped.to_numpy(np.float64, na_value=np.nan)
