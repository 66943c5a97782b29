import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def seed_article() -> Path | None:
    """The seed article lives in shared/ beside the project (CI has a copy); never bundled."""
    env = os.environ.get("BAODE_SEED_ARTICLE")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "seed" / "baode_path_2022_zh.txt"]
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture
def article_text() -> str:
    path = seed_article()
    if path is None:
        pytest.skip("seed article not found beside the project (set BAODE_SEED_ARTICLE)")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def site_reports(tmp_path_factory):
    """``baode-eval report --by site`` on the bundled data, once per test session: (out_dir, summary)."""
    from baode_eval.batch import report_by_site

    out = tmp_path_factory.mktemp("by-site")
    summary = report_by_site(out, jobs=2, log=lambda *a: None)
    return out, summary
