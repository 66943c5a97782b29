"""One executed, parameterised report per site, in parallel on warm kernels.

``report_by_site(out_dir, ...)`` runs the site notebook (``notebooks/site_profile.ipynb`` by
default) once per site of the data with ``site=<name>`` injected as papermill would, on
``jobs`` worker processes that each keep one Jupyter kernel (and the data it loaded, and the
scorecards it estimated) for their whole life — see :mod:`baode_eval.factory`. It writes::

    DIR/index.html            sites sorted by verdicts (most targets not met first), failures on top
    DIR/results.json          every site's headline figures and status, with provenance
    DIR/sites/<site>.html     the report for officials (no code)
    DIR/sites/<site>.ipynb    the executed notebook
    DIR/sites/<site>.xlsx     the site's scorecard for the year shown (if the notebook takes ``excel_path``)
    DIR/sites/<site>.code.html  with code, only with ``code_html=True``

A site whose notebook fails, times out or kills its kernel is marked failed in the index and
the exit status (1); the other sites still run.
"""
from __future__ import annotations

import html
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__, paths
from .errors import DataError, ParameterError
from .factory import Job, JobResult, execute_jobs
from .fonts import install_web_font, web_font_css, web_font_url
from .runner import _CSS, declared_parameters, provenance, resolve_parameters


@dataclass
class SiteRun:
    site: str
    slug: str
    status: str = "pending"  # ok | failed
    error: str | None = None
    seconds: float = 0.0
    files: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        r = self.results
        return {k: int(r.get(k.replace(" ", "_"), {}).get("value") or 0)
                for k in ("met", "not met", "inconclusive", "suppressed")}


@dataclass
class SiteSummary:
    out_dir: Path
    runs: list[SiteRun]
    provenance: dict
    seconds: float

    @property
    def failed(self) -> list[SiteRun]:
        return [r for r in self.runs if r.status != "ok"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def slugify(names: list[str]) -> dict[str, str]:
    """File-safe, unique stems for site names (Chinese letters kept)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_") or "site"
        slug, i = base, 2
        while slug.lower() in used:
            slug, i = f"{base}_{i}", i + 1
        used.add(slug.lower())
        out[name] = slug
    return out


def _site_names(data_path: Path | None) -> list[str]:
    """The sites of the data. For Parquet only the site column is read (the kernels read and
    validate the whole file themselves; doing it here too would cost a province-size read);
    other formats go through the full reader."""
    from . import panel, schema, sites

    path = panel.resolve(str(data_path) if data_path else "")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - not readable as Parquet: let the reader say why
            names = []
        column = next((c for c in names if schema.lookup(c, "household") == "site"), None)
        if column is not None:
            values = pq.read_table(path, columns=[column]).column(0).to_pandas()
            return sites.site_list(pd.DataFrame({"site": values.astype("string").str.strip().replace("", pd.NA)}))
    try:
        return sites.site_list(panel.read_households(path).data)
    finally:
        panel.clear_cache()  # the parent needs the names only; the data live in the kernels


def report_by_site(
    out_dir: str | Path = "reports/by-site",
    *,
    data: str | Path | None = None,
    params: dict | None = None,
    lang: str | None = None,
    jobs: int | None = None,
    sites: list[str] | None = None,
    notebook: str | Path | None = None,
    timeout: int = 300,
    code_html: bool = False,
    excel: bool = True,
    kernel_name: str = "python3",
    log=print,
) -> SiteSummary:
    """Execute the site notebook for every site (or ``sites``) of ``data`` into ``out_dir``."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    data_path = None
    if data is not None:
        data_path = Path(data).resolve()
        if not data_path.is_file():
            raise DataError("data file not found", path=data)
    nb = Path(notebook).resolve() if notebook else paths.site_notebook()
    if not nb.is_file():
        raise DataError("site notebook not found", path=nb)
    declared = declared_parameters(nb)
    if "site" not in declared:
        raise ParameterError(f"{nb}: a site notebook must declare a 'site' parameter in its parameters cell")
    params = dict(params or {})
    if "site" in params:
        raise ParameterError("parameter 'site' is set by the report for each site; use --sites to choose sites")
    base = resolve_parameters([nb], params, lang=lang, data_path=data_path)[nb.stem]
    jobs = int(jobs) if jobs else (os.cpu_count() or 1)
    if jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs}")

    names = _site_names(data_path)
    if sites:
        unknown = [s for s in sites if s not in names]
        if unknown:
            raise ParameterError(f"site(s) {unknown} are not in the data; it has {len(names)} sites, "
                                 f"e.g. {', '.join(names[:5])}")
        names = [s for s in names if s in set(sites)]
    slugs = slugify(names)

    site_dir = out_dir / "sites"
    work = out_dir / ".results"
    site_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    font_url = "../" + install_web_font(out_dir)  # site reports live one folder down
    batch, runs = [], []
    for name in names:
        parameters = dict(base, site=name)
        result_file = work / f"{slugs[name]}.json"
        result_file.unlink(missing_ok=True)
        if "results_path" in declared:
            parameters["results_path"] = str(result_file)
        if "output_dir" in declared:
            parameters["output_dir"] = str(site_dir)
        if excel and "excel_path" in declared:
            parameters["excel_path"] = str(site_dir / f"{slugs[name]}.xlsx")
        batch.append(Job(name, nb, site_dir / f"{slugs[name]}.ipynb", parameters, html=True, code_html=code_html,
                         font_url=font_url))
        runs.append(SiteRun(site=name, slug=slugs[name]))

    done = [0]
    step = max(1, len(batch) // 10)

    def progress(res: JobResult) -> None:
        done[0] += 1
        if res.status != "ok":
            log(f"failed  {res.name}: {res.error}")
        if done[0] % step == 0 or done[0] == len(batch):
            log(f"{done[0]:>6} / {len(batch)} sites  ({time.perf_counter() - t0:.0f} s)")

    log(f"{len(batch)} sites on {min(jobs, len(batch) or 1)} kernel(s) -> {out_dir}")
    results = execute_jobs(batch, workers=jobs, kernel_name=kernel_name, timeout=timeout, cwd=site_dir,
                           log=progress)
    for run, res in zip(runs, results):
        run.status, run.error, run.seconds = res.status, res.error, res.seconds
        run.files = {k: f"sites/{v}" for k, v in res.files.items()}
        if res.status == "ok" and (site_dir / f"{run.slug}.xlsx").is_file():
            run.files["xlsx"] = f"sites/{run.slug}.xlsx"
        f = work / f"{run.slug}.json"
        if f.is_file():
            run.results = next(iter(json.loads(f.read_text(encoding="utf-8")).values()), {})
    prov = provenance([data_path] if data_path else [], {"site_notebook": nb.name, **base})
    summary = SiteSummary(out_dir=out_dir, runs=runs, provenance=prov, seconds=round(time.perf_counter() - t0, 1))
    payload = {
        "baode_eval_version": __version__,
        "sites": {r.site: {"status": r.status, "error": r.error, "files": r.files, "results": r.results}
                  for r in runs},
        "provenance": prov,
    }
    (out_dir / "results.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    write_index(summary, lang=base.get("lang") or lang or "zh")
    return summary


def ranked(runs: list[SiteRun]) -> list[SiteRun]:
    """Failed sites first (they need a look), then by verdicts: most targets not met first."""
    from .sites import rank_key

    return sorted(runs, key=lambda r: (r.status == "ok", rank_key(r.counts(), r.site)))


_TEXT = {
    "title": {"zh": "各安置点报告", "en": "Reports by site"},
    "sub": {"zh": "按结论排序:未达标指标最多的安置点在前;失败的报告置顶。",
            "en": "Sorted by verdicts: sites with most targets not met first; failed reports on top."},
    "summary": {"zh": "{n} 个安置点,成功 {ok} 个,失败 {failed} 个,用时 {s:.0f} 秒。",
                "en": "{n} sites: {ok} ok, {failed} failed, {s:.0f} s."},
    "rank": {"zh": "序", "en": "#"},
    "site": {"zh": "安置点", "en": "Site"},
    "households": {"zh": "搬迁户", "en": "Relocated"},
    "met": {"zh": "达标", "en": "met"},
    "not met": {"zh": "未达标", "en": "not met"},
    "inconclusive": {"zh": "不确定", "en": "inconclusive"},
    "verdicts": {"zh": "结论", "en": "Verdicts"},
    "report": {"zh": "报告", "en": "report"},
    "code": {"zh": "含代码", "en": "with code"},
    "ipynb": {"zh": "笔记本", "en": "notebook"},
    "xlsx": {"zh": "Excel", "en": "Excel"},
    "failed": {"zh": "失败", "en": "failed"},
    "provenance": {"zh": "数据来源与可复现信息", "en": "Provenance"},
    "results_json": {"zh": "机器可读结果", "en": "Machine-readable results"},
}
_COLOURS = {"met": "#2e7d32", "not met": "#c62828", "inconclusive": "#f9a825"}


def write_index(summary: SiteSummary, *, lang: str = "zh") -> Path:
    """``index.html``: every site with its verdict counts, a bar, links; failures with the reason."""
    font_url = web_font_url()  # copied there by report_by_site
    T = {k: v[lang] for k, v in _TEXT.items()}
    e = html.escape
    rows = []
    for i, r in enumerate(ranked(summary.runs), 1):
        c = r.counts()
        total = sum(c[k] for k in _COLOURS) or 1
        bar = "".join(f'<span title="{e(T[k])} {c[k]}" style="display:inline-block;height:.8em;width:{100 * c[k] / total:.1f}%;'
                      f'background:{col}"></span>' for k, col in _COLOURS.items() if c[k])
        links = " · ".join(f'<a href="{e(r.files[k])}">{e(T[label])}</a>'
                           for k, label in (("html", "report"), ("xlsx", "xlsx"), ("html_code", "code"), ("ipynb", "ipynb"))
                           if k in r.files)
        err = f'<div class="err">{e(T["failed"])}: {e(r.error or "")}</div>' if r.status != "ok" else ""
        reloc = r.results.get("relocated", {}).get("value")
        rows.append(
            f"<tr><td class=\"num\">{i}</td><td>{e(r.site)}{err}</td>"
            f"<td class=\"num\">{'' if reloc is None else f'{reloc:,}'}</td>"
            + "".join(f'<td class="num">{c[k] if r.status == "ok" else ""}</td>' for k in _COLOURS)
            + f'<td style="min-width:8rem"><div style="width:100%;background:#eee">{bar}</div></td>'
            f"<td>{links}</td></tr>")
    n, failed = len(summary.runs), len(summary.failed)
    prov = summary.provenance
    inputs = "".join(f"<tr><td><code>{e(k)}</code></td><td><code>{e(v)}</code></td></tr>"
                     for k, v in prov["input_sha256"].items())
    head = "".join(f"<th>{e(T[k])}</th>" for k in ("rank", "site", "households", "met", "not met", "inconclusive",
                                                    "verdicts"))
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(T['title'])}</title><style>{web_font_css(font_url)}{_CSS}</style></head>
<body>
<h1>{e(T['title'])}</h1>
<p class="sub">{e(T['sub'])}</p>
<p>{e(T['summary'].format(n=n, ok=n - failed, failed=failed, s=summary.seconds))}</p>
<table><tr>{head}<th></th></tr>
{''.join(rows)}
</table>
<p><a href="results.json">results.json</a> — {e(T['results_json'])}</p>
<h2>{e(T['provenance'])}</h2>
<table>
<tr><th>version</th><td><code>{e(prov['package_version'])}</code> (Python {e(prov['python'])})</td></tr>
<tr><th>git</th><td><code>{e(prov['git_commit'])}</code></td></tr>
<tr><th>UTC</th><td>{e(prov['generated_at'])}</td></tr>
</table>
<table>{inputs}</table>
<pre>{e(json.dumps(prov['parameters'], ensure_ascii=False, indent=1))}</pre>
</body></html>
"""
    out = summary.out_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
