"""Labels in Chinese and English: one place for the words reports show.

Household-data field labels live in the codebook (data/codebook/schema.yaml); this module holds
goal names and report vocabulary.
"""
from __future__ import annotations

from typing import Literal, get_args

from .errors import ParameterError

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = get_args(Lang)

GOALS = {
    "stable": {"zh": "稳得住", "en": "Stable"},
    "employed": {"zh": "有就业", "en": "Employed"},
    "prosperous": {"zh": "能致富", "en": "Prosperous"},
    "integrated": {"zh": "可融入", "en": "Integrated"},
    "governance": {"zh": "社区治理", "en": "Governance"},
}

TEXT = {
    "goal": {"zh": "目标", "en": "Goal"},
    "figure": {"zh": "指标", "en": "Figure"},
    "value": {"zh": "数值", "en": "Value"},
    "unit": {"zh": "单位", "en": "Unit"},
    "year": {"zh": "年份", "en": "Year"},
    "qualifier": {"zh": "限定", "en": "Qualifier"},
    "check": {"zh": "核对项", "en": "Check"},
    "expected": {"zh": "参照", "en": "Reference"},
    "status": {"zh": "结论", "en": "Status"},
    "note": {"zh": "说明", "en": "Note"},
    "comparator": {"zh": "对照", "en": "Comparator"},
    "concept": {"zh": "口径", "en": "Concept"},
    "ratio": {"zh": "保德/对照", "en": "Baode / comparator"},
    "source_status": {"zh": "来源状态", "en": "Source status"},
    "consistent": {"zh": "一致", "en": "consistent"},
    "flag": {"zh": "需核实", "en": "flag"},
    "info": {"zh": "参考", "en": "info"},
    "not_available": {"zh": "无数据", "en": "not available"},
    "exact": {"zh": "", "en": ""},
    "approx": {"zh": "左右", "en": "about"},
    "at_least": {"zh": "以上", "en": "at least"},
    "net_income": {"zh": "纯收入", "en": "net income"},
    "disposable_income": {"zh": "可支配收入", "en": "disposable income"},
    "monitoring_line": {"zh": "监测标准", "en": "monitoring line"},
    "poverty_line": {"zh": "贫困标准", "en": "poverty line"},
    "verified": {"zh": "已核实", "en": "verified"},
    "unverified": {"zh": "未核实", "en": "unverified"},
    "published": {"zh": "文章公布", "en": "published"},
}


def check_lang(lang: str) -> str:
    """Validate a language code; the error lists the allowed values."""
    if lang not in LANGS:
        raise ParameterError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    return lang


def t(key: str, lang: str) -> str:
    """The label of ``key`` in ``lang``."""
    check_lang(lang)
    return TEXT[key][lang]


def goal_label(goal: str, lang: str, *, both: bool = False) -> str:
    """Goal name in ``lang``; ``both=True`` gives '稳得住 Stable'."""
    check_lang(lang)
    g = GOALS[goal]
    return f"{g['zh']} {g['en']}" if both else g[lang]
