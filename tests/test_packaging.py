"""pyproject.toml is the one list of dependencies; environment.yml and README must agree with it."""
import re
import tomllib

import yaml

from conftest import ROOT


def _req(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_req(d) for d in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_req(d) for d in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_req(d) for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))}
    assert conda == wanted
    pip_part = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert pip_part == ["-e ."]


def test_every_dependency_has_a_lower_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for e in project["optional-dependencies"].values() for d in e]
    assert all(">=" in d for d in deps), [d for d in deps if ">=" not in d]


def test_readme_quick_start_is_the_two_make_commands_and_ci_runs_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make report", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_version_is_consistent():
    import baode_eval

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == baode_eval.__version__
