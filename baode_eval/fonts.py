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


WEB_FAMILY = "Baode CJK"
STATIC_DIR = "_static"
# CJK ideographs, punctuation and full-width forms: the browser fetches the font only for these
_UNICODE_RANGE = "U+2E80-2FDF,U+3000-303F,U+3400-4DBF,U+4E00-9FFF,U+F900-FAFF,U+FE30-FE4F,U+FF00-FFEF"


def web_font_url() -> str:
    """Where :func:`install_web_font` puts the font, relative to the report folder."""
    return f"{STATIC_DIR}/{paths.CJK_FONT.name}"


def install_web_font(out_dir) -> str:
    """Copy the bundled CJK font and its licence into ``out_dir/_static/`` (once) so that HTML
    reports render Chinese on machines without a Chinese system font. Returns the font's path
    relative to ``out_dir``."""
    import shutil
    from pathlib import Path

    target = Path(out_dir) / STATIC_DIR
    target.mkdir(parents=True, exist_ok=True)
    for src in (paths.CJK_FONT, paths.CJK_FONT.parent / "LICENSE-OFL.txt"):
        dst = target / src.name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    return web_font_url()


def web_font_css(url: str) -> str:
    """CSS declaring the bundled font (at ``url``) and adding it to the page's font families,
    before the generic family, so CJK characters come from it rather than from boxes."""
    stack = ('system-ui,-apple-system,"Segoe UI",Helvetica,Arial,"Noto Sans CJK SC","Microsoft YaHei",'
             f'"PingFang SC","{WEB_FAMILY}",sans-serif')
    return (f'@font-face{{font-family:"{WEB_FAMILY}";src:url("{url}") format("opentype");'
            f"unicode-range:{_UNICODE_RANGE};font-display:swap}}\n"
            f":root{{--jp-content-font-family:{stack};--jp-ui-font-family:{stack}}}\n"
            f"body{{font-family:{stack}}}\n")
