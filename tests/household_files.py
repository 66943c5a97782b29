"""Helpers for the reader tests: synthetic ID numbers and phones, and small household tables.

Every ID number is made here at run time with a valid check digit; none is stored in a data file.
The check digit is computed from its definition (ISO 7064 MOD 11-2: weights 2^(17-i) mod 11),
independently of baode_eval.privacy, so the two implementations check each other.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def check_digit(first17: str) -> str:
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


def make_id(seq: int, *, region: str = "140931", birth: str = "19800101") -> str:
    body = f"{region}{birth}{seq % 1000:03d}"
    return body + check_digit(body)


def make_ids(n: int, *, start: int = 0, birth_years=None) -> list[str]:
    out = []
    for i in range(n):
        year = 1950 + (i * 7) % 50 if birth_years is None else birth_years[i]
        out.append(make_id(start + i, birth=f"{year}{(i % 12) + 1:02d}{(i % 28) + 1:02d}"))
    return out


def make_phone(i: int) -> str:
    return f"13{(i * 7) % 10}{(10_000_000 + i * 7919) % 100_000_000:08d}"


NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞"]

ZH_HEADER = ["户编号", "年度", "户主姓名", "证件号码", "联系电话", "安置点", "人数", "劳动力人数", "就业人数",
             "工资性收入", "生产经营性收入", "财产性收入", "转移性收入", "家庭纯收入", "人均纯收入（元）",
             "是否易地扶贫搬迁（同步搬迁）人口", "搬迁年度"]


def households(n: int = 6, *, seed: int = 0) -> pd.DataFrame:
    """Consistent household rows in canonical names (incomes add up, counts ordered)."""
    rng = np.random.default_rng(seed)
    size = rng.integers(1, 6, n)
    labour = np.minimum(size, rng.integers(0, 4, n))
    employed = np.minimum(labour, rng.integers(0, 3, n))
    wage = employed * 10000.0
    business = rng.integers(0, 5, n) * 1000.0
    prop = rng.integers(0, 3, n) * 100.0
    transfer = 2000.0 + rng.integers(0, 5, n) * 500.0
    net = wage + business + prop + transfer
    return pd.DataFrame({
        "household_id": [f"H{i:04d}" for i in range(n)],
        "year": 2022,
        "head_name": [NAMES[i % len(NAMES)] for i in range(n)],
        "id_number": make_ids(n),
        "phone": [make_phone(i) for i in range(n)],
        "site": [f"安置点{(i % 3) + 1}" for i in range(n)],
        "household_size": size,
        "labour_members": labour,
        "employed_members": employed,
        "wage_income": wage,
        "business_income": business,
        "property_income": prop,
        "transfer_income": transfer,
        "net_income": net,
        "per_capita_net_income": np.round(net / size, 2),
        "relocated": True,
        "relocation_year": 2018,
    })


def zh_export(df: pd.DataFrame) -> pd.DataFrame:
    """The same rows as a monitoring-system export: Chinese headers, 是/否, numbers as text."""
    out = df.copy()
    out["relocated"] = np.where(out["relocated"], "是", "否")
    out.columns = ZH_HEADER[: len(out.columns)]
    return out.astype(str)
