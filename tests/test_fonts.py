"""Chinese labels render as text: the bundled font covers every character the project shows."""
import warnings

import matplotlib.pyplot as plt
import pytest

import baode_eval as be
from baode_eval import fonts, i18n, paths, plots, published


def project_text() -> str:
    parts = []
    for pattern in ("**/*.csv", "**/*.yaml"):
        for p in paths.data_dir().glob(pattern):
            parts.append(p.read_text(encoding="utf-8"))
    for p in paths.notebooks_dir().glob("*.ipynb"):
        parts.append(p.read_text(encoding="utf-8"))
    for table in (i18n.TEXT, i18n.GOALS):
        parts += [v for d in table.values() for v in d.values()]
    return "".join(parts)


def test_font_covers_every_character_in_data_and_notebooks():
    text = project_text()
    cjk = {c for c in text if ord(c) > 0x2E7F}
    assert len(cjk) > 300
    assert fonts.missing_glyphs("".join(cjk)) == set()


def test_missing_glyph_detection_can_fail():
    # 們 is a traditional character, outside GB2312: the subset lacks it.
    assert fonts.missing_glyphs("我們 ok") == {"們"}


def test_figures_render_without_missing_glyph_warnings():
    figures, reference = be.datasets.load_published(), be.datasets.load_reference()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig, ax = plots.income_comparison(published.income_comparison(figures, reference, 2022), baode_value=13000)
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_yticklabels()]
        plt.close(fig)
    assert any("全国农村居民人均可支配收入" in s and "National rural" in s for s in labels)


def test_without_the_cjk_font_matplotlib_warns(monkeypatch):
    # Control: the same drawing with DejaVu Sans alone reports missing glyphs,
    # so the test above would catch a broken font registration.
    import matplotlib as mpl

    with mpl.rc_context({"font.family": ["DejaVu Sans"]}):
        fig, ax = plt.subplots()
        ax.set_title("稳得住")
        with pytest.warns(UserWarning, match="missing from font"):
            fig.canvas.draw()
        plt.close(fig)
