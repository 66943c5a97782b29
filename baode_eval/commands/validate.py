"""``baode-eval validate PATH``: read a data file, print what was found, optionally write the issues as JSON.

Exit status: 0 clean (no error or warning), 1 loaded with problems, 2 unreadable (one line naming
the file on stderr; no traceback).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import DataError

_TEXT = {
    "en": {"file": "file", "read": "read as", "rows": "rows", "in": "read", "valid": "valid",
           "quarantined": "quarantined", "clean": "clean: no errors or warnings", "issues": "issues by rule",
           "first": "first issues", "more": "... {n} more (use --json FILE for all)", "sheet": "sheet",
           "header": "header row(s)", "table": "table", "row": "row {n}", "whole": "file"},
    "zh": {"file": "文件", "read": "格式", "rows": "行数", "in": "读入", "valid": "有效",
           "quarantined": "隔离", "clean": "无错误、无警告", "issues": "按规则统计的问题",
           "first": "前若干条问题", "more": "……另有 {n} 条（完整列表见 --json FILE）", "sheet": "工作表",
           "header": "表头行", "table": "表类型", "row": "第{n}行", "whole": "全文件"},
}
_SEV = {"en": {"error": "error", "warning": "warning", "info": "info"}, "zh": {"error": "错误", "warning": "警告", "info": "提示"}}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        help="check a household or person data file: rows read, valid, quarantined, and the issues",
        description="Read PATH as baode_eval.read() does and report. Exit 0 clean, 1 loaded with "
        "problems (errors or warnings), 2 unreadable.",
    )
    p.add_argument("path", metavar="PATH", help="CSV/TSV, .xlsx, .xls, Parquet or Stata .dta file")
    p.add_argument("--json", metavar="FILE", help="write rows_in, rows_valid, rows_quarantined and issues as JSON ('-' for stdout)")
    p.add_argument("--lang", choices=["zh", "en"], default="en", help="language of the messages (default en)")
    p.add_argument("--sheet", help="sheet name or 0-based number (default: the best-matching sheet)")
    p.add_argument("--encoding", help="text encoding (default: detected; UTF-8, UTF-8 BOM, UTF-16, GBK/GB18030)")
    p.add_argument("--sep", help="CSV delimiter (default: detected)")
    p.add_argument("--table", choices=["auto", "household", "person"], default="auto")
    p.add_argument("--year", type=int, help="year of every row when the file has no year column")
    p.add_argument("--programme-years", metavar="FIRST-LAST", help="relocation programme years (default 2016-2020)")
    p.add_argument("--max-issues", type=int, default=20, help="issues listed in the summary (default 20)")
    return p


def _programme_years(text: str) -> tuple[int, int]:
    from ..errors import ParameterError

    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise ParameterError(f"--programme-years must look like 2016-2020, got {text!r}") from None
    return lo, hi


def main(args) -> int:
    from ..io import read

    options = {}
    if args.programme_years:
        options["programme_years"] = _programme_years(args.programme_years)
    sheet = int(args.sheet) if args.sheet is not None and args.sheet.isdigit() else args.sheet
    result = read(args.path, table=args.table, sheet=sheet, encoding=args.encoding, sep=args.sep,
                  year=args.year, lang=args.lang, **options)
    report = result.report
    print(summary(report, lang=args.lang, max_issues=args.max_issues))
    if args.json:
        text = report.to_json()
        if args.json == "-":
            sys.stdout.write(text + "\n")
        else:
            try:
                Path(args.json).write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise DataError(f"cannot write JSON ({exc.strerror})", path=args.json) from None
    return 0 if report.clean else 1


def summary(report, *, lang: str = "en", max_issues: int = 20) -> str:
    """Readable summary of a :class:`baode_eval.io.Report` (deterministic: no times, no addresses)."""
    t = _TEXT[lang]
    lines = [f"{t['file']}: {report.path}"]
    how = report.format + (f", {report.encoding}" if report.encoding else "")
    if report.sheet:
        how += f", {t['sheet']} {report.sheet!r}"
    if report.header_rows:
        how += f", {t['header']} {'-'.join(str(r) for r in (report.header_rows[0], report.header_rows[-1]))}"
    lines.append(f"{t['read']}: {how}; {t['table']}: {report.table}")
    lines.append(f"{t['rows']}: {t['in']} {report.rows_in}, {t['valid']} {report.rows_valid}, "
                 f"{t['quarantined']} {report.rows_quarantined}")
    issues = report.issues
    if report.clean:
        lines.append(t["clean"])
    if not issues.empty:
        lines.append(f"{t['issues']}:")
        for rec in report.counts().to_dict(orient="records"):
            lines.append(f"  {_SEV[lang][rec['severity']]:<8} {rec['rule']:<24} {rec['n']}")
        shown = issues[issues["severity"] != "info"].head(max_issues)
        if not shown.empty:
            lines.append(f"{t['first']}:")
            for rec in shown.to_dict(orient="records"):
                where = t["whole"] if rec["row"] is None or str(rec["row"]) == "<NA>" else t["row"].format(n=rec["row"])
                lines.append(f"  {where:<9} {_SEV[lang][rec['severity']]:<8} {rec['message']}")
            rest = int((issues["severity"] != "info").sum()) - len(shown)
            if rest > 0:
                lines.append("  " + t["more"].format(n=rest))
    return "\n".join(lines)
