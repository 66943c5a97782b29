"""``baode-eval validate``: exit codes 0/1/2, the summary, and the JSON contract of DESIGN.md."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from baode_eval.cli import main
from household_files import households, zh_export


def _clean_file(tmp_path):
    p = tmp_path / "clean.csv"
    zh_export(households(5)).to_csv(p, index=False, encoding="utf-8-sig")
    return p


def _problem_file(tmp_path):
    df = zh_export(households(5))
    df.loc[2, "人数"] = "abc"
    df.loc[3, "工资性收入"] = "50"
    p = tmp_path / "problems.csv"
    df.to_csv(p, index=False)
    return p


def test_clean_file_exits_0(tmp_path, capsys):
    assert main(["validate", str(_clean_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "rows: read 5, valid 5, quarantined 0" in out
    assert "clean: no errors or warnings" in out


def test_problems_exit_1_and_json_has_the_contract(tmp_path, capsys):
    p = _problem_file(tmp_path)
    js = tmp_path / "out.json"
    assert main(["validate", str(p), "--json", str(js)]) == 1
    out = capsys.readouterr().out
    assert "rows: read 5, valid 4, quarantined 1" in out
    assert "row 4     error    Household size: 'abc' is not a valid whole number" in out
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert (doc["rows_in"], doc["rows_valid"], doc["rows_quarantined"]) == (5, 4, 1)
    for issue in doc["issues"]:
        assert {"rule", "row", "column", "message", "severity", "value"} <= set(issue)
    by_rule = {i["rule"]: i for i in doc["issues"] if i["severity"] != "info"}
    assert by_rule["type"]["row"] == 4 and by_rule["type"]["column"] == "household_size"
    assert by_rule["wage_small"]["row"] == 5 and by_rule["wage_small"]["severity"] == "warning"


def test_chinese_summary(tmp_path, capsys):
    assert main(["validate", str(_problem_file(tmp_path)), "--lang", "zh"]) == 1
    out = capsys.readouterr().out
    assert "行数: 读入 5, 有效 4, 隔离 1" in out
    assert "第4行       错误       人数：'abc' 不是有效的整数" in out


def test_report_summary_is_what_the_cli_prints(tmp_path, capsys):
    import baode_eval

    p = _problem_file(tmp_path)
    main(["validate", str(p), "--lang", "zh"])
    printed = capsys.readouterr().out
    assert baode_eval.read(p, lang="zh").report.summary("zh") + "\n" == printed


def test_json_to_stdout(tmp_path, capsys):
    main(["validate", str(_clean_file(tmp_path)), "--json", "-"])
    out = capsys.readouterr().out
    doc = json.loads(out[out.index("{"):])
    assert doc["rows_valid"] == 5 and doc["issues"] == []


def test_sheet_and_programme_years_options(tmp_path, capsys):
    df = households(3).drop(columns=["head_name", "id_number", "phone"])
    df["relocation_year"] = 2012
    p = tmp_path / "wb.xlsx"
    with pd.ExcelWriter(p) as w:
        pd.DataFrame({"说明": ["见第二页"]}).to_excel(w, sheet_name="readme", index=False)
        df.to_excel(w, sheet_name="data", index=False)
    assert main(["validate", str(p), "--sheet", "data"]) == 1           # 2012 outside 2016-2020
    assert main(["validate", str(p), "--sheet", "1", "--programme-years", "2010-2020"]) == 0
    assert "sheet 'data'" in capsys.readouterr().out


def test_unreadable_file_exits_2_with_one_line_naming_it(tmp_path):
    p = tmp_path / "garbage.xlsx"
    p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    proc = subprocess.run([sys.executable, "-m", "baode_eval.cli", "validate", str(p)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0] and "Traceback" not in proc.stderr
    assert lines[0].startswith("baode-eval validate: error:")


def test_missing_file_and_bad_option_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.csv")]) == 2
    assert "none.csv: file not found" in capsys.readouterr().err
    assert main(["validate", str(_clean_file(tmp_path)), "--programme-years", "x"]) == 2
    assert main(["validate", str(_clean_file(tmp_path)), "--encoding", "klingon"]) == 2


def test_damaged_xls_gives_one_line_and_no_library_noise(tmp_path, capsys):
    xlwt = __import__("pytest").importorskip("xlwt")
    book = xlwt.Workbook()
    ws = book.add_sheet("s")
    for r in range(30):
        for c, v in enumerate(["户编号", "年度", "人数"] if r == 0 else [f"H{r}", 2022, 3]):
            ws.write(r, c, v)
    good = tmp_path / "good.xls"
    book.save(str(good))
    bad = tmp_path / "cut.xls"
    bad.write_bytes(good.read_bytes()[:3000])
    assert main(["validate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and str(bad) in captured.err
