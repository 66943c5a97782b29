"""Regenerate data/published/baode_path_2022.csv from the seed article.

Usage:  python tools/make_published.py ../shared/seed/baode_path_2022_zh.txt

Each figure is listed here once, by hand, with the exact text in which the article
writes it (``as_written``); the script finds the article's sentence that contains that
text and stores it as the source sentence, so every row is traceable to the article.
Years: where the article states the period (到2018年底) it is used (year_basis "stated");
otherwise the year of publication, 2022 (year_basis "publication").
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

SOURCE = "忻州日报 Xinzhou Daily, 2022-07-18, 《保德县走出易地搬迁后续扶持“保德路径”》 (王金华)"

# id, goal, value, qualifier, unit, year, year_basis, as_written, context, label_zh, label_en
# `context` is a second snippet that must occur in the same sentence (disambiguates repeats).
FIGURES = [
    ("concentrated_sites", "stable", 4, "exact", "sites", 2018, "stated", "集中安置点4个", "", "集中安置点", "Concentrated resettlement sites"),
    ("housing_units", "stable", 2197, "exact", "units", 2018, "stated", "安置房2197套", "", "安置房套数", "Resettlement housing units"),
    ("housing_floor_area", "stable", 176000, "exact", "m2", 2018, "stated", "17.6万平方米", "", "安置房建筑面积", "Resettlement housing floor area"),
    ("move_in_rate", "stable", 100, "exact", "percent", 2018, "stated", "100%", "入住率", "搬迁群众入住率", "Move-in rate of relocated people"),
    ("poverty_exit_rate", "prosperous", 100, "exact", "percent", 2018, "stated", "100%", "脱贫率", "搬迁群众脱贫率", "Poverty-exit rate of relocated people"),
    ("community_service_types", "governance", 8, "exact", "service types", 2022, "publication", "8项服务", "", "党群服务中心服务项目", "Service types of the Party–masses service centre"),
    ("rights_areas", "governance", 4, "exact", "areas", 2022, "publication", "4方面", "", "搬迁群众权益方面", "Areas of relocated people's rights"),
    ("rights_items", "governance", 23, "exact", "rights", 2022, "publication", "23项权益", "", "搬迁群众权益项目", "Rights of relocated people (items)"),
    ("community_bodies", "governance", 11, "exact", "bodies", 2022, "publication", "11个工作机构", "", "社区工作机构", "Community working bodies"),
    ("property_management_jobs", "employed", 188, "exact", "persons", 2022, "publication", "188名困难群众", "", "物业专岗吸纳困难群众就业", "Property-management jobs for people in hardship"),
    ("industry_clusters", "employed", 6, "exact", "clusters", 2022, "publication", "六大产业集群", "", "产业集群", "Industry clusters"),
    ("labourers_in_industries", "employed", 1409, "exact", "persons", 2022, "publication", "1409名搬迁劳动力", "", "参与产业发展的搬迁劳动力", "Relocated labourers in the industry clusters"),
    ("assistance_enterprises", "employed", 7, "exact", "enterprises", 2022, "publication", "7个帮扶企业", "", "安置区帮扶企业", "Assistance enterprises at the sites"),
    ("assistance_enterprise_jobs", "employed", 214, "exact", "persons", 2022, "publication", "214人", "", "帮扶企业吸纳脱贫群众就业", "Formerly poor people employed by assistance enterprises"),
    ("per_capita_income_formerly_poor", "prosperous", 13000, "approx", "yuan per person per year", 2022, "publication", "1.3万元左右", "", "脱贫群众年人均收入(纯收入)", "Per-capita annual (net) income of formerly poor people"),
    ("labour_households", "employed", 1190, "exact", "households", 2022, "publication", "1190户", "", "安置区有劳动力的脱贫户", "Formerly poor households with labour at the sites"),
    ("labour_households_with_stable_job_rate", "employed", 100, "exact", "percent", 2022, "publication", "每户至少一人实现稳定就业", "", "有劳动力脱贫户至少一人稳定就业比例", "Labour households with at least one person in stable work"),
    ("primary_school_tracks", "integrated", 6, "exact", "tracks", 2022, "publication", "6轨制的第十一小学", "", "第十一小学办学规模(轨)", "No. 11 Primary School size (classes per grade)"),
    ("kindergarten_tracks", "integrated", 4, "exact", "tracks", 2022, "publication", "4轨制的第四幼儿园", "", "第四幼儿园办学规模(轨)", "No. 4 Kindergarten size (classes per grade)"),
    ("education_full_coverages", "integrated", 3, "exact", "coverages", 2022, "publication", "“三个全覆盖”", "", "教育资助“三个全覆盖”", "Education-assistance full coverages"),
    ("clinic_area", "integrated", 700, "exact", "m2", 2022, "publication", "700平方米", "", "安置区医疗分院占地面积", "Site clinic (hospital branch) area"),
    ("clinic_medical_staff", "integrated", 8, "exact", "persons", 2022, "publication", "8名医务人员", "", "医疗分院医务人员", "Medical staff at the site clinic"),
    ("clinic_households_served", "integrated", 2166, "exact", "households", 2022, "publication", "2166户", "", "医疗分院服务户数", "Households served by the site clinic"),
    ("clinic_residents_served", "integrated", 6583, "exact", "persons", 2022, "publication", "6583名居民", "", "医疗分院服务居民", "Residents served by the site clinic"),
    ("medical_circle_minutes", "integrated", 15, "exact", "minutes", 2022, "publication", "15分钟医疗圈", "", "县级医院医疗圈", "County hospitals within a medical circle of"),
    ("medical_insurance_rate", "integrated", 100, "exact", "percent", 2022, "publication", "100%", "参保率", "脱贫人口和监测对象医保参保率", "Medical-insurance participation, formerly poor and monitored people"),
    ("inpatient_reimbursement_rate", "integrated", 90, "at_least", "percent", 2022, "publication", "90%以上", "", "因病返贫致贫人口省内住院目录内报销比例", "In-province inpatient reimbursement (illness-related poverty)"),
    ("reimbursement_layers_low_income", "integrated", 3, "exact", "layers", 2022, "publication", "三重报销", "", "低收入人口报销层次", "Reimbursement layers for low-income people"),
    ("inpatient_reimbursement_rate_low_income", "integrated", 80, "exact", "percent", 2022, "publication", "80%", "三重报销", "低收入人口三重报销后报销比例", "Inpatient reimbursement after three layers, low-income people"),
    ("inpatient_reimbursement_rate_extremely_poor", "integrated", 100, "exact", "percent", 2022, "publication", "全额报销", "", "特困对象省内住院目录内报销比例", "In-province inpatient reimbursement, extremely poor (full)"),
    ("elderly_centre_investment", "integrated", 1600000, "at_least", "yuan", 2022, "publication", "160多万元", "", "老年人日间照料中心投资", "Investment in the elderly day-care centre"),
    ("elderly_centre_area", "integrated", 640, "exact", "m2", 2022, "publication", "640平方米", "", "老年人日间照料中心面积", "Elderly day-care centre area"),
    ("elderly_centre_elders_served", "integrated", 150, "at_least", "persons", 2022, "publication", "150余名", "", "日间照料中心服务老人", "Elders served by the day-care centre"),
]

HEADER = ["id", "goal", "value", "qualifier", "unit", "year", "year_basis", "as_written",
          "label_zh", "label_en", "source_sentence_zh", "source"]


def sentences(text: str) -> list[str]:
    """Split Chinese prose into sentences, keeping the closing punctuation."""
    parts = re.split(r"(?<=[。！？])", text)
    return [p.strip() for p in parts if p.strip()]


def main(seed: str, out: str = "data/published/baode_path_2022.csv") -> None:
    text = Path(seed).read_text(encoding="utf-8")
    sents = sentences(text)
    rows = []
    for (fid, goal, value, qual, unit, year, basis, written, context, zh, en) in FIGURES:
        hits = [s for s in sents if written in s and context in s]
        if len(hits) != 1:
            raise SystemExit(f"{fid}: {len(hits)} sentences contain {written!r} + {context!r}")
        rows.append([fid, goal, value, qual, unit, year, basis, written, zh, en, hits[0], SOURCE])
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    print(f"wrote {len(rows)} figures to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
