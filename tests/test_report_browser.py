"""The HTML reports in a real browser: Debian's headless chromium driven by selenium.

`make test` installs `chromium` and `chromium-driver` with apt when they are missing (see the
Makefile). Chromium runs with a font configuration holding only DejaVu (no Chinese system
font), so Chinese text can only render through the report's own bundled web font: the test
checks that the font loaded and covers the key labels, that the labels are on the page, that
the page logged no console errors, and takes a screenshot (kept in the test's tmp folder).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromium-driver are required in CI (make test installs them with apt)",
                    pytrace=False)
    pytest.skip("chromium/chromium-driver not installed (make test installs them with apt when it can)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")

_FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{dejavu}</dir>
  <cachedir>{cache}</cachedir>
</fontconfig>
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp("chromium")
    dejavu = next((p for p in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu") if Path(p).is_dir()),
                  None)
    env = dict(os.environ, HOME=str(home))
    if dejavu:  # only Latin fonts: Chinese must come from the report's web font
        conf = home / "fonts.conf"
        conf.write_text(_FONTS_CONF.format(dejavu=dejavu, cache=home / "fc-cache"), encoding="utf-8")
        env["FONTCONFIG_FILE"] = str(conf)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,1600", "--allow-file-access-from-files", f"--user-data-dir={home / 'profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER, env=env), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, page: Path) -> str:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.as_uri())
    driver.execute_async_script("const done = arguments[0]; document.fonts.ready.then(() => done(true));")
    return driver.find_element("tag name", "body").text


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _cjk_font_loaded(driver, text: str) -> bool:
    return driver.execute_async_script(
        "const [text, done] = arguments;"
        "document.fonts.load('16px \"Baode CJK\"', text).then(faces => done(faces.length > 0 && "
        "faces.every(f => f.status === 'loaded') && document.fonts.check('16px \"Baode CJK\"', text)));", text)


def test_site_index_and_report_render(browser, site_reports, tmp_path):
    out, summary = site_reports
    text = _open(browser, out / "index.html")
    assert "各安置点报告" in text and "未达标" in text
    for run in summary.runs:
        assert run.site in text
    assert _cjk_font_loaded(browser, "各安置点报告未达标")
    assert _severe(browser) == []
    browser.save_screenshot(str(tmp_path / "index.png"))

    first = summary.runs[0]
    text = _open(browser, out / first.files["html"])
    for label in (first.site, "当年各项指标", "与全县对比的趋势", "历年结论", "人均纯收入"):
        assert label in text, label
    assert "import " not in text and "NBVAL" not in text  # officials' version: no code
    assert _cjk_font_loaded(browser, "安置点与全县对比的趋势")
    svg = browser.find_elements("css selector", "svg text")
    assert any(first.site == t.text for t in svg)  # the chart's own labels are text, not pixels
    assert _severe(browser) == []
    shot = tmp_path / "site.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_suite_index_renders(browser, tmp_path):
    from baode_eval.runner import discover_notebooks, run

    out = tmp_path / "reports"
    nb = [p for p in discover_notebooks() if p.stem == "01_published_figures"]
    summary = run(out, notebooks=nb, log=lambda *a: None)
    assert summary.exit_code == 0
    text = _open(browser, out / "index.html")
    assert "保德易地搬迁后续扶持评估报告" in text and "主要数字" in text
    assert _cjk_font_loaded(browser, "保德易地搬迁后续扶持评估报告")
    assert _severe(browser) == []
    text = _open(browser, out / "01_published_figures.html")
    assert "保德" in text
    assert _severe(browser) == []
