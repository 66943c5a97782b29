"""The bundled published figures and reference series: complete, exact, traceable.

External references: the seed article (Xinzhou Daily, 2022-07-18) and the reference values
listed in the project brief (shared/DOMAIN.md §3, NBS communiqués for national rural income).
"""
import re

import pandas as pd
import pytest

import baode_eval as be
from baode_eval.errors import DataError

# Numbers in the article that are not figures: dates, a model's name, plan periods.
NON_FIGURES = {
    "2022": "publication date 2022-07-18 and the photo caption",
    "07": "publication date", "18": "publication date",
    "2018": "period of the site figures (到2018年底), stored as their year",
    "1258": "name of the '1258' grassroots management model, not a quantity",
}
# Figures the article writes in Chinese numerals or words.
WORD_FIGURES = {"六大产业集群": 6, "“三个全覆盖”": 3, "三重报销": 3, "全额报销": 100, "每户至少一人实现稳定就业": 100}


@pytest.fixture(scope="module")
def figures():
    return be.datasets.load_published()


@pytest.fixture(scope="module")
def reference():
    return be.datasets.load_reference()


def parse_as_written(text: str) -> float:
    if text in WORD_FIGURES:
        return WORD_FIGURES[text]
    m = re.search(r"(\d+(?:\.\d+)?)(?:多|余)?(万)?", text)
    assert m, text
    return float(m.group(1)) * (10_000 if m.group(2) else 1)


def test_value_matches_how_the_article_writes_it(figures):
    for row in figures.itertuples():
        assert parse_as_written(row.as_written) == pytest.approx(row.value), row.id


def test_key_figures_exactly_as_published(figures):
    v = figures.set_index("id")["value"]
    expected = {
        "concentrated_sites": 4, "housing_units": 2197, "housing_floor_area": 176_000, "move_in_rate": 100,
        "poverty_exit_rate": 100, "property_management_jobs": 188, "labourers_in_industries": 1409,
        "assistance_enterprises": 7, "assistance_enterprise_jobs": 214, "per_capita_income_formerly_poor": 13_000,
        "labour_households": 1190, "clinic_area": 700, "clinic_medical_staff": 8, "clinic_households_served": 2166,
        "clinic_residents_served": 6583, "medical_insurance_rate": 100, "inpatient_reimbursement_rate": 90,
        "inpatient_reimbursement_rate_low_income": 80, "inpatient_reimbursement_rate_extremely_poor": 100,
        "elderly_centre_investment": 1_600_000, "elderly_centre_area": 640, "elderly_centre_elders_served": 150,
        "primary_school_tracks": 6, "kindergarten_tracks": 4, "rights_areas": 4, "rights_items": 23,
        "community_service_types": 8, "community_bodies": 11, "industry_clusters": 6,
    }
    for fid, value in expected.items():
        assert v[fid] == value, fid
    q = figures.set_index("id")["qualifier"]
    assert q["per_capita_income_formerly_poor"] == "approx"
    assert q["elderly_centre_elders_served"] == "at_least"
    assert q["inpatient_reimbursement_rate"] == "at_least"


def test_every_row_traces_to_a_sentence_of_the_article(figures, article_text):
    flat = article_text.replace("\n", "")
    for row in figures.itertuples():
        assert row.source_sentence_zh in flat, row.id
        assert row.as_written in row.source_sentence_zh, row.id


def test_every_number_in_the_article_is_a_row(figures, article_text):
    body = article_text.split("[编辑")[0]
    written = " ".join(figures["as_written"])
    numbers = set(re.findall(r"\d+(?:\.\d+)?", body))
    missing = {n for n in numbers if n not in NON_FIGURES and not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d.])", written)}
    assert not missing, f"numbers in the article with no row: {sorted(missing)}"
    for words in WORD_FIGURES:
        assert words in body


def test_goals_cover_the_four_goals(figures):
    counts = be.published.goal_counts(figures)
    assert set(counts.index) == {"stable", "employed", "prosperous", "integrated", "governance"}
    assert (counts[["stable", "employed", "prosperous", "integrated"]] > 0).all()


def test_national_rural_income_matches_nbs(reference):
    # NBS statistical communiqués, as listed in the project brief (DOMAIN.md §3).
    nbs = {2015: 11422, 2016: 12363, 2017: 13432, 2018: 14617, 2019: 16021,
           2020: 17131, 2021: 18931, 2022: 20133, 2023: 21691, 2024: 23119}
    s = reference[reference["series"] == "national_rural_disposable_income"].set_index("year")["value"]
    assert s.to_dict() == {y: float(v) for y, v in nbs.items()}


def test_reference_rows_have_source_and_status(reference):
    assert reference["source"].str.len().gt(10).all()
    assert set(reference["status"]) == {"verified", "unverified"}
    lines = reference[reference["series"] == "monitoring_line"]
    assert (lines["status"] == "unverified").all() and len(lines) == 4
    mid = lines.set_index("year").loc[2023]
    assert (mid["value_low"], mid["value_high"], mid["value"]) == (6900, 7200, 7050)
    assert be.datasets.reference_value(reference, "relocated_labour_employment_rate", 2022) == 94.46
    assert be.datasets.reference_value(reference, "relocated_poor_net_income", 2021) is None


def test_codebook_describes_every_column(figures, reference):
    assert set(be.datasets.codebook("published")) == set(figures.columns)
    assert set(be.datasets.codebook("reference")) == set(reference.columns)
    with pytest.raises(DataError, match="unknown table"):
        be.datasets.codebook("nope")


def test_loader_names_file_row_and_column_of_bad_value(tmp_path):
    src = be.paths.data_dir() / "published" / "baode_path_2022.csv"
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df.loc[3, "value"] = "many"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(DataError) as err:
        be.datasets.load_published(bad)
    msg = str(err.value)
    assert "bad.csv" in msg and "row 5" in msg and "'value'" in msg and "'many'" in msg


def test_loader_rejects_missing_file_and_unknown_goal(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        be.datasets.load_published(tmp_path / "none.csv")
    src = be.paths.data_dir() / "published" / "baode_path_2022.csv"
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df.loc[0, "goal"] = "happy"
    df.to_csv(tmp_path / "g.csv", index=False)
    with pytest.raises(DataError, match="'happy' is not one of"):
        be.datasets.load_published(tmp_path / "g.csv")
