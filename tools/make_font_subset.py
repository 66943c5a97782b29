"""Make the bundled CJK font: Noto Sans CJK SC Regular, subset to GB2312 + ASCII + punctuation.

Usage (on Debian, after `apt-get install fonts-noto-cjk`):
    python tools/make_font_subset.py /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

The result, baode_eval/fonts/NotoSansCJKsc-Regular-GB2312.otf, is committed with its licence
(SIL Open Font License 1.1, baode_eval/fonts/LICENSE-OFL.txt). It covers all 6,763 hanzi of
GB2312 plus every character used in the project's data files; it lacks traditional forms.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "baode_eval" / "fonts" / "NotoSansCJKsc-Regular-GB2312.otf"


def gb2312_chars() -> set[str]:
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def project_chars() -> set[str]:
    chars: set[str] = set()
    for pattern in ("data/**/*.csv", "data/**/*.yaml", "data/**/*.md", "baode_eval/**/*.py", "notebooks/*.ipynb"):
        for p in ROOT.glob(pattern):
            chars |= {c for c in p.read_text(encoding="utf-8") if ord(c) > 0x2E7F}
    return chars


def main(ttc: str) -> None:
    collection = TTCollection(ttc)
    font = next(f for f in collection.fonts if "SC" in f["name"].getDebugName(1))
    text = gb2312_chars() | project_chars() | {chr(c) for c in range(0x20, 0x7F)}
    text |= set("，。、；：？！“”‘’（）《》【】—…·％￥°²³×÷±≤≥")
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    sub = subset.Subsetter(opts)
    sub.populate(text="".join(sorted(text)))
    sub.subset(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size / 1e6:.2f} MB, {len(text)} characters requested")


if __name__ == "__main__":
    main(*sys.argv[1:])
