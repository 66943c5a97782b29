"""The notebook factory: warm kernels, parameterised jobs, failures isolated."""
import json

import nbformat
import pytest

from baode_eval.factory import Job, execute_jobs


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('site = "A"\nresult = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, os, sys\n"
            "assert 'leftover' not in globals(), 'namespace leaked from the previous job'\n"
            "leftover = site\n"
            "if site == 'boom':\n    raise RuntimeError('bad site data')\n"
            "if site == 'die':\n    os._exit(1)\n"
            "if site == 'slow':\n    import time; time.sleep(30)\n"
            "json.dump({'site': site, 'pid': os.getpid()}, open(result, 'w'))\n"
            "print('site', site)"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_run_on_warm_kernels_and_failures_stay_isolated(tmp_path, workers):
    nb = _notebook(tmp_path / "site.ipynb")
    sites = ["A", "boom", "B", "die", "C", "slow", "D"]
    jobs = [Job(s, nb, tmp_path / "out" / f"{s}.ipynb", {"site": s, "result": str(tmp_path / f"{s}.json")})
            for s in sites]
    results = execute_jobs(jobs, workers=workers, timeout=5, cwd=tmp_path)
    status = {r.name: r.status for r in results}
    assert status == {"A": "ok", "boom": "failed", "B": "ok", "die": "failed", "C": "ok", "slow": "failed", "D": "ok"}
    errors = {r.name: r.error for r in results}
    assert "RuntimeError: bad site data" in errors["boom"]
    assert "kernel died" in errors["die"]
    assert "timed out" in errors["slow"]
    written = {s: json.loads((tmp_path / f"{s}.json").read_text()) for s in "ABCD"}
    assert all(v["site"] == s for s, v in written.items())
    # Warm kernels: fewer distinct kernel processes than jobs (restarts only after a death/timeout).
    assert len({v["pid"] for v in written.values()}) < len(written) or workers == 2
    for s in sites:
        out = nbformat.read(tmp_path / "out" / f"{s}.ipynb", as_version=4)
        injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and f'site = "{s}"' in injected[0].source
        assert (tmp_path / "out" / f"{s}.html").is_file()


def test_a_failed_job_shows_no_stored_outputs(tmp_path):
    """Cells after a failure must not keep the committed notebook's outputs (stale numbers)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('fail = False', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("if fail:\n    raise ValueError('stop here')\nprint('first')"),
        nbformat.v4.new_code_cell("print('headline = 42')"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="headline = 41 (stale)\n")]
    nb.cells[2].execution_count = 3
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "stored.ipynb"
    nbformat.write(nb, path)
    ok, failed = execute_jobs([Job("ok", path, tmp_path / "ok.ipynb", {}),
                               Job("failed", path, tmp_path / "failed.ipynb", {"fail": True})], cwd=tmp_path)
    assert (ok.status, failed.status) == ("ok", "failed")
    good = nbformat.read(tmp_path / "ok.ipynb", as_version=4)
    assert good.cells[-1].outputs[0]["text"] == "headline = 42\n"
    bad = nbformat.read(tmp_path / "failed.ipynb", as_version=4)
    assert bad.cells[-1].outputs == [] and bad.cells[-1].execution_count is None
    assert "stale" not in (tmp_path / "failed.html").read_text(encoding="utf-8")
