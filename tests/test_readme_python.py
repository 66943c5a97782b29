"""The README's Python example runs as written (except the figure call on elided arguments)."""
import re

import baode_eval as be
from conftest import ROOT


def test_readme_python_block_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    lines = [ln for ln in block.splitlines() if "..." not in ln.split("#")[0]]
    data = be.simulate.simulate(seed=1, households=30, years=(2021, 2022)).data
    data.to_csv(tmp_path / "ledger.csv", index=False)
    monkeypatch.chdir(tmp_path)
    code = "\n".join(lines).replace('be.read("ledger.xlsx")', 'be.read("ledger.csv")')
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["result"].report.rows_in == len(data)
    assert len(namespace["figures"]) == 33 and namespace["panel"]["household_id"].nunique() == 3249
