"""The nbval baselines are real: a changed headline number makes nbval fail.

nbval itself runs on notebooks/ (see pyproject addopts); this checks that it would catch a
stale baseline, so the notebook regression tests cannot pass vacuously.
"""
import subprocess
import sys

import nbformat

from baode_eval import runner


def test_every_notebook_has_checked_headline_cells_with_outputs():
    for nb_path in runner.discover_notebooks():
        nb = nbformat.read(nb_path, as_version=4)
        checked = [c for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]
        assert checked, nb_path.name
        assert all(c.outputs for c in checked), f"{nb_path.name}: run `make notebooks` to store outputs"
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{nb_path.name}: exactly one parameters cell"


def test_nbval_fails_on_a_stale_baseline(tmp_path):
    src = runner.discover_notebooks()[0]
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source)
    cell.outputs[0]["text"] = cell.outputs[0]["text"].replace("= 33", "= 34").replace("= 80.11", "= 80.12")
    stale = tmp_path / src.name
    nbformat.write(nb, stale)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "-o", "addopts=", "-q", str(stale)], capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "failed" in proc.stdout
