"""Helpers of the report notebooks: parameter errors that name the parameter, "not applicable"
notes, small-cell suppression, deterministic tables, selected headline lines."""
import pandas as pd
import pytest

from baode_eval import reports
from baode_eval.errors import ParameterError
from baode_eval.results import Results


@pytest.fixture
def data():
    return pd.DataFrame({"year": [2019, 2020, 2021, 2021], "site": ["安置点01", "安置点02", None, "安置点01"]})


def test_year_zero_is_the_latest_and_a_missing_year_lists_the_available_ones(data):
    assert reports.report_year(data, 0) == 2021
    assert reports.report_year(data, 2020) == 2020
    with pytest.raises(ParameterError, match=r"year=2030 is not in the data; available years: 2019-2021"):
        reports.report_year(data, 2030)
    with pytest.raises(ParameterError, match=r"available years: 2019, 2021"):
        reports.report_year(data[data["year"] != 2020], 2020)
    with pytest.raises(ParameterError, match="year must be an integer"):
        reports.report_year(data, "2021")
    with pytest.raises(ParameterError, match="year must be an integer"):
        reports.report_year(data, True)


def test_unknown_site_lists_the_valid_sites(data):
    assert reports.report_site(data, "") == ""
    assert reports.report_site(data, "安置点02") == "安置点02"
    with pytest.raises(ParameterError, match=r"site='安置点9' is not in the data; valid sites: \['安置点01', '安置点02'\]"):
        reports.report_site(data, "安置点9")
    with pytest.raises(ParameterError, match="no 'site' column"):
        reports.report_site(data.drop(columns="site"), "安置点01")


def test_min_cell_and_non_negative_parameters_name_themselves():
    assert reports.check_min_cell(0) == 0
    for bad in (-1, 2.5, "10", True):
        with pytest.raises(ParameterError, match="min_cell must be a non-negative integer"):
            reports.check_min_cell(bad)
    assert reports.check_non_negative(0.0, name="monitoring_line") == 0.0
    for bad in (-1.0, float("nan"), "7500", False):
        with pytest.raises(ParameterError, match="monitoring_line must be a number >= 0"):
            reports.check_non_negative(bad, name="monitoring_line")


def test_not_applicable_text_in_both_languages():
    na = reports.NotApplicable("restoration", "missing_columns", {"columns": ["relocation_year", "year"]})
    assert na.text("en") == ("**Income restoration against the pre-move baseline: not applicable**, because the data "
                             "lack the column(s) relocation_year, year.")
    assert na.text("zh").startswith("**收入恢复(对照搬迁前基线):不适用**,因为数据缺少字段 relocation_year, year")
    assert "census" in reports.design_note(True, "en") and "权数" in reports.design_note(False, "zh")
    with pytest.raises(ParameterError, match="lang"):
        na.text("fr")


def test_small_cells_are_blanked_and_the_input_is_kept():
    t = pd.DataFrame({"site": ["a", "b"], "estimate": [0.5, 0.9], "n": [3, 30]})
    before = t.copy()
    out = reports.suppress_small(t, min_cell=10)
    pd.testing.assert_frame_equal(t, before)
    assert pd.isna(out.loc[0, "estimate"]) and out.loc[1, "estimate"] == 0.9 and out["n"].tolist() == [3, 30]
    html = reports.table(t, lang="en", uuid="t1", min_cell=10, formats={"estimate": "{:.1%}"}).to_html()
    assert html == reports.table(t, lang="en", uuid="t1", min_cell=10, formats={"estimate": "{:.1%}"}).to_html()
    assert "90.0%" in html and "50.0%" not in html and "—" in html and "Estimate" in html
    assert "估计值" in reports.table(t, lang="zh", uuid="t2").to_html()


def test_results_text_of_selected_keys():
    res = Results(None, "income")
    res.add("a", 1.234, digits=1)
    res.add("b", 2)
    assert res.text() == "income.a = 1.2\nincome.b = 2"
    assert res.text(["b"]) == "income.b = 2"
