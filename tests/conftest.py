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
