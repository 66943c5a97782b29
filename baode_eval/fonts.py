"""Chinese text in matplotlib figures without a system CJK font.

The package ships a GB2312 subset of Noto Sans CJK SC (SIL OFL 1.1, see fonts/README.md).
``use_cjk_font()`` registers it and puts it after DejaVu Sans in ``font.family`` so that
matplotlib falls back glyph by glyph: Latin text keeps DejaVu Sans, hanzi come from Noto.
(Setting only ``font.sans-serif`` does not fall back per glyph.)
"""
from __future__ import annotations

from functools import lru_cache

from . import paths

CJK_FAMILY = "Noto Sans CJK SC"


@lru_cache(maxsize=1)
def _register() -> str:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(paths.CJK_FONT))
    return font_manager.FontProperties(fname=str(paths.CJK_FONT)).get_name()


def use_cjk_font() -> str:
    """Register the bundled CJK font and make it the fallback for all figures. Returns its family."""
    import matplotlib as mpl

    family = _register()
    current = [f for f in mpl.rcParams["font.family"] if f not in ("sans-serif", family)]
    mpl.rcParams["font.family"] = ["DejaVu Sans", *[f for f in current if f != "DejaVu Sans"], family]
    mpl.rcParams["axes.unicode_minus"] = False
    return family


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` that neither DejaVu Sans nor the bundled CJK font can draw."""
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    cmaps = []
    for path in (font_manager.findfont("DejaVu Sans"), str(paths.CJK_FONT)):
        with TTFont(path, lazy=True) as f:
            cmaps.append(set(f.getBestCmap()))
    covered = set().union(*cmaps)
    return {c for c in text if not c.isspace() and ord(c) not in covered}
