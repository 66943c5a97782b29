"""baode_eval.read on a corpus of awkward and broken files that the tests make in tmp_path.

Every file either loads (with the values checked) or is refused with a DataError that names the
file; no other exception type escapes, and rows_in = rows_valid + rows_quarantined.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import baode_eval
from baode_eval import schema
from baode_eval.errors import DataError
from household_files import households, make_ids, zh_export

HEADER = "户编号,年度,人数,劳动力人数,就业人数,工资性收入,生产经营性收入,财产性收入,转移性收入,家庭纯收入,人均纯收入（元）"
ROW = "H{0},2022,3,2,1,12000,3000,0,2000,17000,5666.67"


def _csv(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _basic_lines(n=3):
    return [HEADER] + [ROW.format(i) for i in range(n)]


def _xlsx_merged(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws0 = wb.active
    ws0.title = "说明"
    ws0["A1"] = "本表为保德县易地搬迁后续扶持台账，填表说明见下。"
    ws = wb.create_sheet("台账")
    ws["A1"] = "保德县2022年易地扶贫搬迁户收入台账"
    ws.merge_cells("A1:H1")
    ws.append(["户编号", "年度", "家庭人口", None, "收入情况", None, None, None])
    ws.append([None, None, "人数", "劳动力人数", "工资性收入", "转移性收入", "财产性收入", "生产经营性收入"])
    ws.merge_cells("A2:A3")
    ws.merge_cells("B2:B3")
    ws.merge_cells("C2:D2")
    ws.merge_cells("E2:H2")
    ws.append(["H0001", 2022, 3, 2, 12000, 2000, 0, 3000])
    ws.append(["H0002", 2022, 2, 1, 8000, 1500, 100, 0])
    ws.append(["合计", None, 5, 3, 20000, 3500, 100, 3000])
    ws.append(["填表人：王芳"])
    p = tmp_path / "merged.xlsx"
    wb.save(p)
    return p


def _xlsx_float_ids(tmp_path):
    import openpyxl

    ids = make_ids(2)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["户编号", "年度", "证件号码", "人数"])
    ws.append(["H1", 2022, float(ids[0]), 2])   # what Excel does to an ID typed as a number
    ws.append(["H2", 2022, ids[1], 3])          # stored as text: fine
    p = tmp_path / "float_ids.xlsx"
    wb.save(p)
    return p, ids


def _xls(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("户表")
    for c, h in enumerate(["户编号", "年度", "人数", "识别监测时间", "风险是否已消除"]):
        ws.write(0, c, h)
    style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows = [("H1", 2022, 3, dt.datetime(2021, 3, 5), "是"), ("H2", 2022, 4, "2021年7月", "否")]
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row):
            ws.write(r, c, v, style) if isinstance(v, dt.datetime) else ws.write(r, c, v)
    p = tmp_path / "old.xls"
    book.save(str(p))
    return p


# Each case: name -> function(tmp_path) returning (path, check) where check(result) asserts on a
# loaded file, or (path, "refused: <words>") for a file that must be refused.
def case_utf8(tp):
    return _csv(tp, "utf8.csv", "\n".join(_basic_lines())), lambda r: (
        r.report.rows_valid == 3 and r.data["wage_income"].tolist() == [12000.0] * 3)


def case_utf8_bom(tp):
    return _csv(tp, "bom.csv", "\n".join(_basic_lines()), "utf-8-sig"), lambda r: (
        r.report.encoding == "utf-8-sig" and list(r.data.columns[:2]) == ["household_id", "year"])


def case_gbk(tp):
    text = "\r\n".join(_basic_lines() + []).replace("H0", "保德0")
    return _csv(tp, "gbk.csv", text, "gbk"), lambda r: (
        r.report.encoding == "gb18030" and r.data["household_id"].iloc[0] == "保德0")


def case_gb18030_beyond_gbk(tp):
    text = "户编号,年度,安置点\nH1,2022,𠀀家湾\n"
    return _csv(tp, "gb18030.csv", text, "gb18030"), lambda r: r.data["site"].iloc[0] == "𠀀家湾"


def case_utf16_tsv(tp):
    text = "\n".join(line.replace(",", "\t") for line in _basic_lines())
    return _csv(tp, "unicode.txt", text, "utf-16"), lambda r: r.report.rows_valid == 3 and r.report.format == "tsv"


def case_semicolon(tp):
    text = "\n".join(line.replace(",", ";") for line in _basic_lines())
    return _csv(tp, "semicolon.csv", text), lambda r: r.report.rows_valid == 3 and r.data["household_size"].tolist() == [3, 3, 3]


def case_title_total_note(tp):
    lines = ["保德县易地搬迁台账（2022年）", ""] + _basic_lines(2) + ["合计,,6,4,2,24000,6000,0,4000,34000,", "注：数据截至2022年12月"]
    def check(r):
        rows = r.report.issues.set_index("rule")["row"]
        return (r.report.rows_in == 2 and r.report.header_rows == (3,) and int(rows["total_row"]) == 6
                and int(rows["note_row"]) == 7)
    return _csv(tp, "titled.csv", "\n".join(lines)), check


def case_xlsx_merged_second_sheet(tp):
    def check(r):
        d = r.data
        return (r.report.sheet == "台账" and r.report.header_rows == (2, 3) and r.report.rows_in == 2
                and d["labour_members"].tolist() == [2, 1] and d["business_income"].tolist() == [3000.0, 0.0]
                and d["transfer_income"].tolist() == [2000.0, 1500.0]
                and set(r.report.issues["rule"]) >= {"total_row", "note_row"})
    return _xlsx_merged(tp), check


def case_xlsx_float_ids(tp):
    p, ids = _xlsx_float_ids(tp)
    def check(r):
        iss = r.report.issues
        hit = iss[iss["rule"] == "id_as_number"]
        return (hit["row"].tolist() == [2] and hit["value"].tolist() == ["***"] and r.report.rows_valid == 2
                and "id_number" not in r.data.columns)
    return p, check


def case_csv_ids_in_scientific_notation(tp):
    ids = make_ids(2)
    text = f"户编号,年度,证件号码\nH1,2022,4.10000199001012E+17\nH2,2022,{ids[0][:17]}0.0\nH3,2022,{ids[1]}\n"
    def check(r):
        iss = r.report.issues
        return (_pairs(iss) == [("id_as_number", 2), ("id_as_number", 3)] and r.report.rows_valid == 3
                and set(iss["value"]) == {"***"})
    return _csv(tp, "sci_ids.csv", text), check


def case_xls(tp):
    return _xls(tp), lambda r: (r.report.format == "xls" and r.data["monitoring_start"].tolist() == ["202103", "202107"]
                                and r.data["risk_cleared"].tolist() == [True, False])


def case_parquet(tp):
    df = households(5).drop(columns=["head_name", "id_number", "phone"])
    p = tp / "canonical.parquet"
    df.to_parquet(p)
    return p, lambda r: (r.report.rows_valid == 5 and r.data["net_income"].tolist() == df["net_income"].tolist()
                         and r.report.clean)


def case_stata(tp):
    df = households(4).drop(columns=["head_name", "id_number", "phone", "site"])
    p = tp / "survey.dta"
    df.to_stata(p, write_index=False)
    return p, lambda r: r.report.rows_valid == 4 and r.data["household_size"].tolist() == df["household_size"].tolist()


def case_stata_labels(tp):
    df = pd.DataFrame({"hh": ["H1", "H2"], "yr": [2022, 2022], "n": [3, 4]})
    p = tp / "labelled.dta"
    df.to_stata(p, write_index=False, version=118, variable_labels={"hh": "户编号", "yr": "年度", "n": "家庭人口数"})
    return p, lambda r: list(r.data.columns) == ["household_id", "year", "household_size"] and r.data["household_size"].tolist() == [3, 4]


def case_bad_ids_and_categories(tp):
    ids = make_ids(3)
    bad = ids[1][:17] + ("0" if ids[1][17] != "0" else "1")
    text = f"户编号,年度,证件号码,监测对象类别\nH1,2022,{ids[0]},边缘易致贫户\nH2,2022,{bad},监测户\nH3,2022,{ids[2][:15]},\n"
    def check(r):
        iss = r.report.issues
        return sorted(_pairs(iss)) == [("category", 3), ("id_checksum", 3), ("id_checksum", 4)] and (
            r.report.rows_valid == 3 and r.data["monitoring_category"].isna().tolist() == [False, True, True]
            and bad not in "".join(iss["value"]) and bad not in "".join(iss["message"]))
    return _csv(tp, "bad_ids.csv", text), check


def case_single_cell_row_inside_data(tp):
    # a row with one filled cell is a trailing note only after the last data row; inside the data it
    # is a data row (it used to crash the reader when shorter than the header)
    text = "户编号,年度,人数\nH1,2022,3\nH2\nH3,2022,4\n注：单位为人\n"
    def check(r):
        return (r.report.rows_in == 3 and r.data["household_id"].tolist() == ["H1", "H2", "H3"]
                and r.data["household_size"].isna().tolist() == [False, True, False]
                and _pairs(r.report.issues) == [("note_row", 5)])
    return _csv(tp, "single_cell.csv", text), check


def _pairs(issues):
    return list(zip(issues["rule"], issues["row"].astype(int)))


def case_empty(tp):
    return _csv(tp, "empty.csv", ""), "refused: empty"


def case_blank_lines(tp):
    return _csv(tp, "blank.csv", "\n\n  \n"), "refused: empty"


def case_header_only(tp):
    return _csv(tp, "header_only.csv", HEADER + "\n"), lambda r: r.report.rows_in == 0 and len(r.data) == 0


def case_binary(tp):
    p = tp / "garbage.csv"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return p, "refused: binary"


def case_truncated_xlsx(tp):
    good = _xlsx_merged(tp).read_bytes()
    p = tp / "truncated.xlsx"
    p.write_bytes(good[: len(good) // 2])
    return p, "refused: not a readable .xlsx"


def case_text_named_xlsx(tp):
    return _csv(tp, "fake.xlsx", "\n".join(_basic_lines())), "refused: not a readable .xlsx"


def case_ragged(tp):
    lines = _basic_lines(2) + [ROW.format(9) + ",extra,cells"]
    def check(r):
        iss = r.report.issues
        return (r.report.rows_quarantined == 1 and iss.loc[iss["rule"] == "ragged_row", "row"].tolist() == [4]
                and r.quarantine["row"].tolist() == [4])
    return _csv(tp, "ragged.csv", "\n".join(lines)), check


def case_short_rows(tp):
    lines = _basic_lines(1) + ["H9,2022,3"]
    return _csv(tp, "short.csv", "\n".join(lines)), lambda r: (
        r.report.rows_valid == 2 and "short_row" in set(r.report.issues["rule"]))


def case_quoted_newline(tp):
    text = 'household_id,year,site\nH1,2022,"东关\n安置点"\nH2,2022,西关\n'
    return _csv(tp, "newline.csv", text), lambda r: (
        r.data["site"].tolist() == ["东关\n安置点", "西关"] and r.report.rows_in == 2)


def case_huge_and_non_finite(tp):
    text = ("household_id,year,wage_income,transfer_income\nH1,2022,1e400,0\nH2,2022,inf,0\n"
            "H3,2022,1e20,0\nH4,2022,NaN,5\nH5,2022,-inf,0\n")
    def check(r):
        iss = r.report.issues
        rules = dict(zip(iss["row"], iss["rule"]))
        return (rules == {2: "non_finite", 3: "non_finite", 4: "range", 6: "non_finite"}
                and r.data["household_id"].tolist() == ["H4"] and math.isnan(r.data["wage_income"].iloc[0]))
    return _csv(tp, "huge.csv", text), check


def case_text_in_numbers(tp):
    text = "户编号,年度,人数,工资性收入\nH1,2022,三人,1000\nH2,2022,2,一千\nH3,2022,2,1000\n"
    def check(r):
        iss = r.report.issues
        return (iss.loc[iss["rule"] == "type", "row"].tolist() == [2, 3] and r.report.rows_valid == 1
                and r.quarantine["household_size"].tolist() == ["三人", "2"])
    return _csv(tp, "text_numbers.csv", text), check


def case_mixed_dates(tp):
    spellings = ["202103", "2021-03", "2021/3", "2021年3月", "2021.03", "20210315", "2021-03-15", "2021年03月15日"]
    text = "户编号,年度,识别监测时间\n" + "\n".join(f"H{i},2022,{s}" for i, s in enumerate(spellings)) + "\nH99,2022,2021-13\n"
    def check(r):
        return (r.data["monitoring_start"].tolist() == ["202103"] * len(spellings)
                and r.report.issues.loc[r.report.issues["rule"] == "type", "row"].tolist() == [len(spellings) + 2])
    return _csv(tp, "dates.csv", text), check


def case_injection(tp):
    evil = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "<script>alert(1)</script>", "-2+3"]
    text = "household_id,year,site\n" + "\n".join(f'H{i},2022,"{e}"' for i, e in enumerate(evil))
    def check(r):
        from baode_eval.privacy import safe_frame

        excel = safe_frame(r.data)["site"].tolist()
        web = safe_frame(r.data, html_escape=True)["site"].tolist()
        return (r.data["site"].tolist() == evil
                and excel == ["'=cmd|' /C calc'!A0", "'+1+1", "'@SUM(A1)", evil[3], "'-2+3"]
                and web[3] == "&lt;script&gt;alert(1)&lt;/script&gt;" and web[0] == "&#x27;=cmd|&#x27; /C calc&#x27;!A0")
    return _csv(tp, "injection.csv", text), check


def case_duplicate_ids(tp):
    ids = make_ids(2)
    text = f"户编号,年度,证件号码\nH1,2022,{ids[0]}\nH2,2022,{ids[0]}\nH3,2022,{ids[1]}\nH1,2023,{ids[0]}\n"
    def check(r):
        iss = r.report.issues
        hit = iss[iss["rule"] == "duplicate_id_number"]
        return hit["row"].tolist() == [3] and r.report.rows_quarantined == 1 and ids[0] not in "".join(r.report.issues["value"])
    return _csv(tp, "dup_ids.csv", text), check


def case_duplicate_keys(tp):
    text = "户编号,年度,人数\nH1,2022,2\nH1,2022,3\nH1,2023,3\n"
    return _csv(tp, "dup_keys.csv", text), lambda r: (
        r.report.issues.loc[r.report.issues["rule"] == "duplicate_key", "row"].tolist() == [3]
        and r.data["household_size"].tolist() == [2, 3])


def case_booleans(tp):
    spell = ["是", "否", "Y", "n", "TRUE", "false", "1", "0", "√", "×", "有", "无", " 是 "]
    text = "户编号,年度,是否搬迁户\n" + "\n".join(f"H{i},2022,{s}" for i, s in enumerate(spell)) + "\nH99,2022,也许\n"
    return _csv(tp, "bools.csv", text), lambda r: (
        r.data["relocated"].tolist() == [True, False] * 6 + [True] and r.report.rows_quarantined == 1)


def case_number_spellings(tp):
    text = ("户编号,年度,工资性收入,转移性收入\nH1,2022,1.2万,\"12,000\"\nH2,2022,１２０００,12000元\n"
            "H3,2022, 12000 ,1.2e4\n")
    return _csv(tp, "numbers.csv", text), lambda r: (
        r.data["wage_income"].tolist() == [12000.0] * 3 and r.data["transfer_income"].tolist() == [12000.0] * 3)


def case_header_synonyms(tp):
    text = " 户编码 ,年份, 务工时长（月） ,家庭人均纯收入（元）,Household size\nH1,2022,10,9000,3\n"
    return _csv(tp, "synonyms.csv", text), lambda r: (
        list(r.data.columns) == ["household_id", "year", "household_size", "months_worked", "per_capita_net_income"])


def case_person_roster(tp):
    text = ("户编号,人编号,年度,姓名,是否有劳动能力,务工时间（月）,是否务工就业,人均纯收入（元）\n"
            "H1,P1,2022,张伟,是,10,是,8000\nH1,P2,2022,王芳,是,0,否,8000\nH1,P3,2022,刘洋,否,,否,8000\n"
            "H2,P4,2022,李娜,是,12,是,12000\n")
    def check(r):
        d = r.data
        return (r.report.table == "person" and r.report.rows_in == 4 and d["household_id"].tolist() == ["H1", "H2"]
                and d["household_size"].tolist() == [3, 1] and d["labour_members"].tolist() == [2, 1]
                and d["employed_members"].tolist() == [1, 1] and d["months_worked"].tolist() == [10.0, 12.0]
                and d["per_capita_net_income"].tolist() == [8000.0, 12000.0] and "name" not in d.columns)
    return _csv(tp, "roster.csv", text), check


def case_no_header(tp):
    return _csv(tp, "no_header.csv", "a,b,c\n1,2,3\n"), "refused: no header the codebook recognises"


def case_missing_required(tp):
    return _csv(tp, "no_key.csv", "年度,人数\n2022,3\n2022,4\n"), lambda r: (
        r.report.rows_quarantined == 2 and "required_column" in set(r.report.issues["rule"]))


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}
READ_OPTIONS = {"person_roster": {"level": "household"}}


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus(tmp_path, name):
    path, expect = CASES[name](tmp_path)
    try:
        result = baode_eval.read(path, **READ_OPTIONS.get(name, {}))
    except DataError as exc:
        assert isinstance(expect, str), f"{name} refused unexpectedly: {exc}"
        assert str(path) in str(exc)
        assert expect.removeprefix("refused: ") in str(exc)
        return
    assert not isinstance(expect, str), f"{name} should have been refused"
    rep = result.report
    assert rep.rows_in == rep.rows_valid + rep.rows_quarantined
    assert len(result.quarantine) == rep.rows_quarantined
    if rep.level == rep.table:
        assert len(result.data) == rep.rows_valid
    assert expect(result), name


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        baode_eval.read(tmp_path / "nope.csv")


def test_sheet_option_and_unknown_sheet(tmp_path):
    p = _xlsx_merged(tmp_path)
    assert baode_eval.read(p, sheet="台账").report.rows_valid == 2
    assert baode_eval.read(p, sheet=1).report.sheet == "台账"
    with pytest.raises(DataError, match="no sheet 'x'"):
        baode_eval.read(p, sheet="x")


def test_encoding_override(tmp_path):
    p = _csv(tmp_path, "gbk.csv", "户编号,年度\n保德,2022\n", "gbk")
    assert baode_eval.read(p, encoding="gbk").data["household_id"].tolist() == ["保德"]
    with pytest.raises(DataError, match="cannot be decoded as utf-8"):
        baode_eval.read(p, encoding="utf-8")


def test_collapse_quarantines_whole_households(tmp_path):
    text = ("户编号,人编号,年度,是否有劳动能力,务工时间（月）\nH1,P1,2022,是,10\nH1,P2,2022,是,13\n"
            "H2,P3,2022,否,0\n")
    p = _csv(tmp_path, "roster.csv", text)
    persons = baode_eval.read(p)
    assert persons.report.rows_quarantined == 1 and persons.data["person_id"].tolist() == ["P1", "P3"]
    hh = baode_eval.read(p, level="household")
    assert hh.report.rows_quarantined == 2 and hh.quarantine["row"].tolist() == [2, 3]
    assert hh.data["household_id"].tolist() == ["H2"] and hh.report.rows_out == 1
    member = hh.report.issues[hh.report.issues["rule"] == "member_quarantined"]
    assert member["row"].tolist() == [2] and "row 3" in member["message"].iloc[0]


def test_group_header_gives_meaning_to_repeated_child_labels(tmp_path):
    p = _csv(tmp_path, "groups.csv", "户编号,年度,家庭,劳动力,就业\n,,人数,人数,人数\nH1,2022,4,3,2\n")
    r = baode_eval.read(p)
    assert r.report.header_rows == (1, 2)
    assert r.data[["household_size", "labour_members", "employed_members"]].iloc[0].tolist() == [4, 3, 2]


def test_header_row_option(tmp_path):
    p = _csv(tmp_path, "odd.csv", "说明,,\n户编号,年度,人数\nH1,2022,3\n")
    r = baode_eval.read(p, header_row=2)
    assert r.report.header_rows == (2,) and r.data["household_size"].tolist() == [3]


def test_year_option_fills_missing_year(tmp_path):
    p = _csv(tmp_path, "noyear.csv", "户编号,人数\nH1,2\nH2,3\n")
    assert baode_eval.read(p, year=2021).data["year"].tolist() == [2021, 2021]


def test_zh_export_round_trip_in_gbk(tmp_path):
    df = households(8, seed=3)
    p = tmp_path / "export.csv"
    zh_export(df).to_csv(p, index=False, encoding="gbk")
    r = baode_eval.read(p)
    assert r.report.encoding == "gb18030" and r.report.clean, r.report.issues
    assert r.data["net_income"].tolist() == df["net_income"].tolist()
    assert r.data["relocated"].tolist() == [True] * 8
    assert not {"head_name", "id_number", "phone"} & set(r.data.columns)


def test_keep_unknown_columns(tmp_path):
    p = _csv(tmp_path, "extra.csv", "户编号,年度,备注\nH1,2022,新建\n")
    assert "备注" not in baode_eval.read(p).data.columns
    assert baode_eval.read(p, keep_unknown=True).data["备注"].tolist() == ["新建"]


def test_callers_frame_and_file_unchanged(tmp_path):
    df = households(3)
    p = tmp_path / "c.parquet"
    df.to_parquet(p)
    before = p.read_bytes()
    copy = df.copy()
    baode_eval.read(p)
    pd.testing.assert_frame_equal(df, copy)
    assert p.read_bytes() == before


def test_dtypes_are_canonical(tmp_path):
    p = _csv(tmp_path, "t.csv", "户编号,年度,人数,工资性收入,是否搬迁户,识别监测时间,监测对象类别\nH1,2022,3,1000,是,202101,边缘易致贫户\n")
    d = baode_eval.read(p).data
    assert str(d["household_id"].dtype) == "string" and str(d["year"].dtype) == "Int64"
    assert d["wage_income"].dtype == float and str(d["relocated"].dtype) == "boolean"
    assert isinstance(d["monitoring_category"].dtype, pd.CategoricalDtype)
    assert list(d["monitoring_category"].cat.categories) == ["脱贫不稳定户", "边缘易致贫户", "突发严重困难户"]


def test_deterministic(tmp_path):
    p = _xlsx_merged(tmp_path)
    a, b = baode_eval.read(p), baode_eval.read(p)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.report.to_dict() == b.report.to_dict()


def test_normalise_header_and_lookup():
    assert schema.normalise_header(" 务工时间（月） ") == "务工时间(月)"
    assert schema.lookup("ＨＯＵＳＥＨＯＬＤ ＩＤ") == "household_id"
    assert schema.lookup("工资性收入(万元)") == "wage_income"   # trailing unit dropped for lookup
    assert schema.lookup("不存在的列") is None


# --- property-based ------------------------------------------------------------------------

_text = st.text(alphabet=st.sampled_from(list("安置点保德东关abcXYZ 0123-_,\"'\n")), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8),
    wages=st.lists(st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 2)), min_size=8, max_size=8),
    sites=st.lists(_text.filter(lambda s: s.strip() and s.strip() == s and s.strip("-") == s), min_size=8, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
    sep=st.sampled_from([",", "\t", ";"]),
    zh=st.booleans(),
)
def test_reader_round_trips_values(tmp_path, sizes, wages, sites, encoding, sep, zh):
    n = len(sizes)
    df = pd.DataFrame({"household_id": [f"H{i}" for i in range(n)], "year": 2022, "household_size": sizes,
                       "wage_income": wages[:n], "site": sites[:n]})
    if zh:
        df.columns = ["户编号", "年度", "人数", "工资性收入", "安置点"]
    p = tmp_path / "prop.csv"
    df.to_csv(p, index=False, sep=sep, encoding=encoding)
    r = baode_eval.read(p)
    assert r.report.rows_in == n == r.report.rows_valid
    assert r.data["household_size"].tolist() == sizes
    assert r.data["wage_income"].tolist() == wages[:n]
    assert r.data["site"].tolist() == sites[:n]


_cell = st.one_of(
    st.text(max_size=8), st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1.2万", "12,000", "是", "否", "", "NaN", "inf", "２０２２", "合计", "=1+1"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(_cell, min_size=5, max_size=7), min_size=0, max_size=10),
       encoding=st.sampled_from(["utf-8", "gb18030"]))
def test_reader_never_crashes_and_reconciles(tmp_path, cells, encoding):
    import csv as _csv_mod

    p = tmp_path / "fuzz.csv"
    with open(p, "w", encoding=encoding, errors="replace", newline="") as fh:
        w = _csv_mod.writer(fh)
        w.writerow(["户编号", "年度", "人数", "劳动力人数", "工资性收入", "是否搬迁户"])
        w.writerows(cells)
    try:
        r = baode_eval.read(p)
    except DataError as exc:
        assert str(p) in str(exc)
        return
    rep = r.report
    assert rep.rows_in == rep.rows_valid + rep.rows_quarantined == len(r.data) + len(r.quarantine)
    bad_rows = set(rep.issues.loc[rep.issues["severity"] == "error", "row"].dropna().astype(int))
    if rep.rows_in:
        assert set(r.quarantine["row"].astype(int)) == bad_rows or "required_column" in set(rep.issues["rule"])
    assert all(len(reason) > 0 for reason in r.quarantine["reasons"])


def test_simulator_exports_read_cleanly(tmp_path):
    """Runs once the simulator (issue 4) is on the branch: its realistic exports read with no errors,
    no personal data survives, and persons collapse into exactly the simulator's households."""
    simulate = pytest.importorskip("baode_eval.simulate")
    hh_path, person_path, canon = tmp_path / "hh.csv", tmp_path / "persons.csv", tmp_path / "hh.parquet"
    simulate.write_simulation(hh_path, lang="zh", personal=True, households=40, seed=5)
    simulate.write_simulation(person_path, lang="zh", personal=True, households=40, seed=5, level="person")
    simulate.write_simulation(canon, lang="en", households=40, seed=5)
    hh = baode_eval.read(hh_path)
    assert hh.report.encoding == "gb18030" and hh.report.rows_quarantined == 0
    assert not (hh.report.issues["severity"] == "error").any()
    ids = set(pd.read_csv(hh_path, encoding="gbk", dtype=str)["证件号码"])
    text = hh.data.to_csv() + hh.report.to_json()
    assert not [i for i in ids if i in text]
    collapsed = baode_eval.read(person_path, level="household").data
    truth = baode_eval.read(canon).data
    merged = collapsed.merge(truth, on=["household_id", "year"], suffixes=("", "_sim"))
    assert len(merged) == len(truth) == len(collapsed)
    for col in ("household_size", "labour_members", "employed_members", "months_worked", "local_employed_members"):
        assert merged[col].astype(float).tolist() == merged[col + "_sim"].astype(float).tolist(), col
