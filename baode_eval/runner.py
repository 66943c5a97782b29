"""Run the report notebooks headless (papermill parameterisation, a warm kernel) and assemble the report folder.

``run(out_dir, ...)`` executes every ``notebooks/NN_name.ipynb`` with validated parameters and
writes into ``out_dir``:

- ``NN_name.ipynb``       the executed notebook (error banners included if it failed)
- ``NN_name.html``        HTML for officials: no code, no prompts
- ``NN_name.code.html``   HTML with code, for analysts
- ``results.json``        headline figures of all notebooks + provenance
- ``index.html``          links, status of each notebook, headline figures, provenance

A failing notebook is recorded (status, error) and the others still run.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import __version__, paths
from .errors import DataError, ParameterError
from .factory import Job, JobResult, execute_jobs
from .fonts import install_web_font, web_font_css, web_font_url
from .i18n import check_lang

# Parameters the runner itself supplies; a notebook declares those it uses.
RUNNER_PARAMETERS = ("lang", "data_path", "results_path", "output_dir")
_TYPE_OK = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


@dataclass
class NotebookRun:
    name: str
    title: str
    status: str = "pending"  # ok | failed
    error: str | None = None
    seconds: float = 0.0
    parameters: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)


@dataclass
class RunSummary:
    out_dir: Path
    runs: list[NotebookRun]
    results: dict
    provenance: dict

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def discover_notebooks(folder: Path | None = None) -> list[Path]:
    """Report notebooks in run order: files named ``NN_name.ipynb``."""
    folder = folder or paths.notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def short_name(nb: Path) -> str:
    """``01_published_figures.ipynb`` -> ``published_figures``."""
    return nb.stem.split("_", 1)[1]


def declared_parameters(nb: Path) -> dict:
    """Names, types and defaults of the notebook's ``parameters`` cell.

    papermill infers a type only from annotations; the type of a literal default
    (``year = 2022``) is taken from the literal itself.
    """
    import ast

    import papermill as pm

    declared = pm.inspect_notebook(str(nb))
    for spec in declared.values():
        if spec.get("inferred_type_name", "None") == "None":
            try:
                spec["inferred_type_name"] = type(ast.literal_eval(spec["default"])).__name__
            except (ValueError, SyntaxError):
                pass
    return declared


def load_params_file(path: str | Path | None) -> dict:
    """Parameters from a YAML or JSON file: top-level values apply to every notebook that
    declares them; a mapping under a notebook's name (``published_figures`` or
    ``01_published_figures``) applies to that notebook only."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: parameters file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of parameter names to values")
    return data


def resolve_parameters(notebooks: list[Path], params: dict, *, lang: str | None, data_path: Path | None) -> dict[str, dict]:
    """Parameters for each notebook, validated before anything runs.

    Unknown names and wrong types are errors that list what the notebook accepts
    (papermill itself only warns about a misspelt parameter).
    """
    declared = {nb.stem: declared_parameters(nb) for nb in notebooks}
    names = {nb.stem: short_name(nb) for nb in notebooks}
    per_nb = {}
    common = {}
    for key, value in params.items():
        target = next((stem for stem, short in names.items() if key in (stem, short)), None)
        if target is not None:
            if not isinstance(value, dict):
                raise ParameterError(f"parameters for notebook {key!r} must be a mapping")
            per_nb[target] = value
        else:
            common[key] = value
    all_declared = set().union(*[set(d) for d in declared.values()]) if declared else set()
    unknown = sorted(set(common) - all_declared)
    supplied = sorted(set(common) & {"results_path", "output_dir"})
    if unknown or supplied:
        raise ParameterError(
            f"unknown parameter(s) {unknown + supplied}; notebooks accept "
            f"{sorted(all_declared - {'results_path', 'output_dir'})}"
        )
    if lang is not None:
        common["lang"] = lang
    if "lang" in common:
        check_lang(common["lang"])
    resolved = {}
    for nb in notebooks:
        decl = declared[nb.stem]
        mine = {k: v for k, v in common.items() if k in decl}
        if data_path is not None and "data_path" in decl:
            mine["data_path"] = str(data_path)
        for key, value in per_nb.get(nb.stem, {}).items():
            if key not in decl:
                raise ParameterError(f"notebook {nb.stem!r} has no parameter {key!r}; it accepts {sorted(decl)}")
            mine[key] = value
        for key, value in mine.items():
            expected = decl[key].get("inferred_type_name", "None")
            ok_types = _TYPE_OK.get(expected)
            if ok_types and (not isinstance(value, ok_types) or (expected != "bool" and isinstance(value, bool))):
                raise ParameterError(
                    f"notebook {nb.stem!r}: parameter {key!r} must be {expected}, got {type(value).__name__} {value!r}"
                )
        resolved[nb.stem] = mine
    return resolved


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _git_commit() -> str:
    root = paths.source_root()
    if root is None:
        return "unknown (not a source checkout)"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def provenance(data_files: list[Path], parameters: dict) -> dict:
    """Where the report's numbers come from: input hashes, parameters, code version."""
    from .datasets import bundled_files

    root = paths.data_dir()
    files = {}
    for p in bundled_files():
        files[f"bundled:{p.relative_to(root).as_posix()}"] = _sha256(p)
    for p in data_files:
        files[str(p)] = _sha256(p)
    return {
        "package_version": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "input_sha256": files,
        "parameters": parameters,
    }


def _notebook_title(nb: Path) -> str:
    import nbformat

    book = nbformat.read(nb, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return nb.stem


def run(
    out_dir: str | Path = "reports",
    *,
    data: str | Path | None = None,
    params: dict | None = None,
    lang: str | None = None,
    notebooks: list[Path] | None = None,
    kernel_name: str = "python3",
    timeout: int = 900,
    log=print,
) -> RunSummary:
    """Execute all report notebooks into ``out_dir``; see the module docstring for the files."""
    out_dir = Path(out_dir).resolve()
    # No --data: notebooks keep their default data_path "", the bundled synthetic Baode panel
    # (hashed with the other bundled files in the provenance block).
    data_path = None
    if data is not None:
        data_path = Path(data).resolve()
        if not data_path.is_file():
            raise DataError("data file not found", path=data)
    notebooks = notebooks if notebooks is not None else discover_notebooks()
    if not notebooks:
        raise DataError("no report notebooks found", path=paths.notebooks_dir())
    resolved = resolve_parameters(notebooks, params or {}, lang=lang, data_path=data_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / ".results"
    work.mkdir(exist_ok=True)

    font_url = install_web_font(out_dir)
    jobs, runs = [], []
    for nb in notebooks:
        parameters = dict(resolved[nb.stem])
        result_file = work / f"{nb.stem}.json"
        result_file.unlink(missing_ok=True)
        declared = declared_parameters(nb)
        if "results_path" in declared:
            parameters["results_path"] = str(result_file)
        if "output_dir" in declared:  # where a notebook may write extra tables (Excel for officials)
            parameters["output_dir"] = str(out_dir)
        jobs.append(Job(nb.stem, nb, out_dir / nb.name, parameters, font_url=font_url))
        runs.append(NotebookRun(name=nb.stem, title=_notebook_title(nb), parameters=dict(resolved[nb.stem])))

    def report(res: JobResult) -> None:
        log(f"{res.status:>6}  {res.name}  ({res.seconds:.1f} s){'  ' + res.error if res.error else ''}")

    # One warm kernel runs the notebooks in order (namespace reset between them).
    for run_, res in zip(runs, execute_jobs(jobs, workers=1, kernel_name=kernel_name, timeout=timeout,
                                            cwd=out_dir, log=report)):
        run_.status, run_.error, run_.seconds, run_.files = res.status, res.error, res.seconds, res.files

    results = {}
    for nb in notebooks:
        f = work / f"{nb.stem}.json"
        if f.is_file():
            results.update(json.loads(f.read_text(encoding="utf-8")))
    prov = provenance([data_path] if data_path else [], {r.name: r.parameters for r in runs})
    summary = RunSummary(out_dir=out_dir, runs=runs, results=results, provenance=prov)
    payload = {
        "baode_eval_version": __version__,
        "status": {r.name: r.status for r in runs},
        "results": results,
        "provenance": prov,
    }
    (out_dir / "results.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    write_index(summary, lang=lang or resolved_lang(resolved))
    return summary


def resolved_lang(resolved: dict) -> str:
    langs = {p.get("lang") for p in resolved.values() if p.get("lang")}
    return langs.pop() if len(langs) == 1 else "zh"


_INDEX_TEXT = {
    "title": {"zh": "保德易地搬迁后续扶持评估报告", "en": "Baode relocation follow-up evaluation"},
    "subtitle": {"zh": "稳得住 · 有就业 · 能致富 · 可融入", "en": "stable · employed · prosperous · integrated (稳得住 · 有就业 · 能致富 · 可融入)"},
    "reports": {"zh": "报告", "en": "Reports"},
    "report": {"zh": "报告", "en": "Report"},
    "status": {"zh": "状态", "en": "Status"},
    "ok": {"zh": "成功", "en": "ok"},
    "failed": {"zh": "失败", "en": "failed"},
    "links": {"zh": "文件", "en": "Files"},
    "html": {"zh": "报告(无代码)", "en": "report"},
    "html_code": {"zh": "含代码", "en": "with code"},
    "ipynb": {"zh": "笔记本", "en": "notebook"},
    "seconds": {"zh": "用时(秒)", "en": "Seconds"},
    "headline": {"zh": "主要数字", "en": "Headline figures"},
    "figure": {"zh": "指标", "en": "Figure"},
    "value": {"zh": "数值", "en": "Value"},
    "provenance": {"zh": "数据来源与可复现信息", "en": "Provenance"},
    "version": {"zh": "软件版本", "en": "Package version"},
    "commit": {"zh": "代码提交", "en": "Git commit"},
    "generated": {"zh": "生成时间(UTC)", "en": "Generated (UTC)"},
    "inputs": {"zh": "输入数据 SHA-256", "en": "Input data SHA-256"},
    "parameters": {"zh": "参数", "en": "Parameters"},
    "results_json": {"zh": "机器可读结果", "en": "Machine-readable results"},
    "tables": {"zh": "Excel 表格", "en": "Excel tables"},
    "by_site": {"zh": "各安置点报告(按结论排序)", "en": "Reports by site (sorted by verdicts)"},
}

_CSS = """
body{margin:2rem auto;max-width:980px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem} th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} .ok{color:#1a7f37;font-weight:600} .failed{color:#c62828;font-weight:600}
.err{color:#c62828;font-size:.85em} code,pre{font-size:.8em;background:#f6f8fa} pre{padding:.6rem;overflow-x:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def write_index(summary: RunSummary, *, lang: str = "zh") -> Path:
    """Write ``index.html``: notebooks with status and links, headline figures, provenance."""
    T = {k: v[lang] for k, v in _INDEX_TEXT.items()}
    e = html.escape
    rows = []
    for r in summary.runs:
        links = " · ".join(f'<a href="{e(r.files[k])}">{e(T[k])}</a>' for k in ("html", "html_code", "ipynb") if k in r.files)
        err = f'<div class="err">{e(r.error)}</div>' if r.error else ""
        rows.append(
            f'<tr><td>{e(r.title)}<br><code>{e(r.name)}</code>{err}</td>'
            f'<td class="{e(r.status)}">{e(T.get(r.status, r.status))}</td><td>{links}</td><td class="num">{r.seconds:.1f}</td></tr>'
        )
    figs = []
    for section, items in summary.results.items():
        for key, item in items.items():
            v = item.get("value")
            digits = item.get("digits", 2)
            shown = "—" if v is None else (f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v))
            label = item.get("label") or key
            unit = item.get("unit") or ""
            figs.append(f"<tr><td>{e(label)}<br><code>{e(section)}.{e(key)}</code></td><td class=\"num\">{e(shown)}</td><td>{e(unit)}</td></tr>")
    by_site = summary.out_dir / "by-site" / "index.html"  # written by `baode-eval report --by site`
    site_link = (f'<p><a href="by-site/index.html">{e(T["by_site"])}</a></p>' if by_site.is_file() else "")
    xlsx = sorted(p.name for p in summary.out_dir.glob("*.xlsx"))
    tables = (f"<h2>{e(T['tables'])}</h2><ul>" + "".join(f'<li><a href="{e(n)}">{e(n)}</a></li>' for n in xlsx)
              + "</ul>") if xlsx else ""
    prov = summary.provenance
    inputs = "".join(f"<tr><td><code>{e(k)}</code></td><td><code>{e(v)}</code></td></tr>" for k, v in prov["input_sha256"].items())
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(T['title'])}</title><style>{web_font_css(web_font_url())}{_CSS}</style></head>
<body>
<h1>{e(T['title'])}</h1>
<p class="sub">{e(T['subtitle'])}</p>
<h2>{e(T['reports'])}</h2>
<table><tr><th>{e(T['report'])}</th><th>{e(T['status'])}</th><th>{e(T['links'])}</th><th>{e(T['seconds'])}</th></tr>
{''.join(rows)}
</table>
{site_link}
<h2>{e(T['headline'])}</h2>
<table><tr><th>{e(T['figure'])}</th><th>{e(T['value'])}</th><th></th></tr>
{''.join(figs)}
</table>
<p><a href="results.json">results.json</a> — {e(T['results_json'])}</p>
{tables}
<h2>{e(T['provenance'])}</h2>
<table>
<tr><th>{e(T['version'])}</th><td><code>{e(prov['package_version'])}</code> (Python {e(prov['python'])})</td></tr>
<tr><th>{e(T['commit'])}</th><td><code>{e(prov['git_commit'])}</code></td></tr>
<tr><th>{e(T['generated'])}</th><td>{e(prov['generated_at'])}</td></tr>
</table>
<h3>{e(T['inputs'])}</h3>
<table>{inputs}</table>
<h3>{e(T['parameters'])}</h3>
<pre>{e(json.dumps(prov['parameters'], ensure_ascii=False, indent=1))}</pre>
</body></html>
"""
    out = summary.out_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out


def summary_dict(summary: RunSummary) -> dict:
    return {"out_dir": str(summary.out_dir), "runs": [asdict(r) for r in summary.runs]}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run().exit_code)
