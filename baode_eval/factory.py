"""Execute many parameterised notebooks fast: warm kernels reused across jobs.

Running papermill once per site pays a kernel start and the imports (≈2 s) every time.
Here each worker process owns one kernel for its whole life and runs job after job on it:
the notebook is parameterised exactly as papermill does it (an ``injected-parameters`` cell
after the ``parameters`` cell), executed with nbclient on the warm kernel, and the user
namespace is reset between jobs (``%reset -f``; module-level caches such as loaded data
survive, which is the point). Each job's output is still an executed, parameterised
notebook plus its HTML.

A job that raises, times out, or kills its kernel is recorded as failed with the reason; the
worker restarts its kernel if needed and goes on with the next job. Kernels talk over IPC
sockets in a private temporary folder, not TCP ports (no port races under parallelism).
"""
from __future__ import annotations

import atexit
import copy
import multiprocessing
import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# Between jobs: every user name goes, output history too, figures are closed. This is IPython's
# ``%reset -f`` without its ``gc.collect()``, which costs 0.1-0.2 s per job once a kernel holds
# a large data frame (measured on the 330,000-row province panel) -- a third of a site report.
# Python's own generational collector still runs.
_RESET = """\
def _baode_reset(ip=get_ipython()):
    ns = ip.user_ns
    for name in [k for k in ns if k not in ip.user_ns_hidden]:
        del ns[name]  # this function's own name included
    ns["Out"].clear()
    del ns["In"][1:]
    import matplotlib.pyplot as plt
    plt.close("all")
_baode_reset()
"""


@dataclass
class Job:
    """One notebook to execute with ``parameters`` into ``output`` (an .ipynb path)."""

    name: str
    notebook: Path
    output: Path
    parameters: dict = field(default_factory=dict)
    html: bool = True  # also write <output>.html (no code, for officials)
    code_html: bool = True  # and <output>.code.html (with code, for analysts)
    font_url: str | None = None  # the bundled CJK web font, relative to the HTML (see fonts.install_web_font)


@dataclass
class JobResult:
    name: str
    status: str  # ok | failed
    error: str | None
    seconds: float
    files: dict = field(default_factory=dict)


class KernelSession:
    """One warm Jupyter kernel that executes notebook after notebook."""

    def __init__(self, kernel_name: str = "python3", cwd: str | Path | None = None, startup_timeout: int = 60):
        self.kernel_name = kernel_name
        self.cwd = str(cwd) if cwd else os.getcwd()
        self.startup_timeout = startup_timeout
        self._sockdir = tempfile.mkdtemp(prefix="baode-kernel-")
        self.km = None
        self.kc = None
        self._start()

    def _start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        # IPC sockets need an absolute path: the kernel runs in `cwd`, the client elsewhere.
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                     ip=os.path.join(self._sockdir, "k"))
        run_sync(self.km.start_kernel)(cwd=self.cwd)
        self.kc = None  # made by the first NotebookClient (async, as nbclient needs), then reused

    def _client(self, nb, timeout: int):
        from nbclient import NotebookClient

        client = NotebookClient(nb, km=self.km, timeout=timeout, kernel_name=self.kernel_name,
                                startup_timeout=self.startup_timeout, resources={"metadata": {"path": self.cwd}})
        client.kc = self.kc
        return client

    def _run(self, nb, timeout: int) -> None:
        client = self._client(nb, timeout)
        try:
            client.execute()
        finally:
            self.kc = client.kc

    def execute(self, nb, *, timeout: int = 900):
        """Execute ``nb`` in place on the warm kernel, then reset the user namespace.

        After a cell timeout the kernel is still busy: it is replaced, not reset.
        """
        from nbclient.exceptions import CellTimeoutError

        try:
            self._run(nb, timeout)
        except CellTimeoutError:
            self.restart()
            raise
        finally:
            if self.alive():
                reset = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_RESET)])
                try:
                    self._run(reset, 60)
                except Exception:  # noqa: BLE001 - a broken reset means a fresh kernel
                    self.restart()
        return nb

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def restart(self) -> None:
        self.close(keep_dir=True)
        self._start()

    def close(self, keep_dir: bool = False) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        if self.km is not None:
            from jupyter_core.utils import run_sync

            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001
                pass
        self.km = self.kc = None
        if not keep_dir:
            shutil.rmtree(self._sockdir, ignore_errors=True)


def parameterize(notebook: Path, parameters: dict):
    """The notebook with papermill's ``injected-parameters`` cell, as papermill would run it, and
    no stored outputs: if a cell fails, the cells after it show nothing rather than the
    committed baseline's numbers."""
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        if cell.cell_type == "code":  # stored outputs (the nbval baselines) must never pass for this run's
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.setdefault("papermill", {})
    return parameterize_notebook(nb, copy.deepcopy(parameters))


def _error_text(exc: BaseException) -> str:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(exc, CellExecutionError):
        return f"{exc.ename}: {exc.evalue}"
    if isinstance(exc, DeadKernelError):
        return "kernel died during execution"
    if isinstance(exc, CellTimeoutError):
        return f"cell timed out: {str(exc).splitlines()[0]}"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


_EXPORTERS: dict = {}


def export_html(nb, out_html: Path, *, code: bool, font_url: str | None = None) -> None:
    """Self-contained HTML of an executed notebook; without ``code`` for officials.

    Papermill's injected-parameters cell is dropped (parameters are in the provenance block);
    so are, in the officials' version, the ``# NBVAL_CHECK_OUTPUT`` cells (machine-checked
    headline lines, shown properly in the index). With ``font_url`` the page declares the
    bundled CJK font so Chinese renders without a Chinese system font.
    """
    from nbconvert import HTMLExporter

    exporter = _EXPORTERS.get(code)
    if exporter is None:  # the template compiles once per process
        from . import paths

        # the lab template minus its CDN scripts (baode_eval/templates/baode)
        exporter = HTMLExporter(extra_template_basedirs=[str(paths.PACKAGE_DIR / "templates")],
                                template_name="baode")
        if not code:
            exporter.exclude_input = True
            exporter.exclude_input_prompt = True
            exporter.exclude_output_prompt = True
        _EXPORTERS[code] = exporter
    book = copy.deepcopy(nb)
    book.cells = [c for c in book.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if not code:
        book.cells = [c for c in book.cells if not c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    body, _ = exporter.from_notebook_node(book)
    if font_url:
        from .fonts import web_font_css

        body = body.replace("</head>", f"<style>{web_font_css(font_url)}</style>\n</head>", 1)
    out_html.write_text(body, encoding="utf-8")


def run_job(session: KernelSession, job: Job, *, timeout: int = 900) -> JobResult:
    """Execute one job on ``session``; never raises for a failure of the notebook itself."""
    t0 = time.perf_counter()
    status, error, files = "ok", None, {}
    nb = None
    try:
        nb = parameterize(job.notebook, job.parameters)
        session.execute(nb, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - recorded, the batch goes on
        status, error = "failed", _error_text(exc)
        if not session.alive():
            session.restart()
    if nb is not None:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, job.output)
        files["ipynb"] = job.output.name
        if job.html:
            versions = ((False, "html", ".html"), (True, "html_code", ".code.html"))
            for code, key, suffix in versions[: 2 if job.code_html else 1]:
                target = job.output.with_suffix(suffix)
                try:
                    export_html(nb, target, code=code, font_url=job.font_url)
                    files[key] = target.name
                except Exception as exc:  # noqa: BLE001
                    status = "failed"
                    error = (error + "; " if error else "") + f"HTML export failed: {_error_text(exc)}"
    return JobResult(job.name, status, error, round(time.perf_counter() - t0, 3), files)


# --- worker processes -------------------------------------------------------------------
_SESSION: KernelSession | None = None


def _worker_init(kernel_name: str, cwd: str) -> None:
    global _SESSION
    _SESSION = KernelSession(kernel_name=kernel_name, cwd=cwd)
    atexit.register(_SESSION.close)


def _worker_run(job: Job, timeout: int) -> JobResult:
    assert _SESSION is not None
    return run_job(_SESSION, job, timeout=timeout)


def execute_jobs(jobs: list[Job], *, workers: int = 1, kernel_name: str = "python3", timeout: int = 900,
                 cwd: str | Path | None = None, log=None) -> list[JobResult]:
    """Run ``jobs`` on ``workers`` warm kernels (one per worker process); results in job order."""
    cwd = str(cwd or os.getcwd())
    workers = max(1, min(int(workers), len(jobs) or 1))
    results: dict[int, JobResult] = {}
    if workers == 1:
        session = KernelSession(kernel_name=kernel_name, cwd=cwd)
        try:
            for i, job in enumerate(jobs):
                results[i] = run_job(session, job, timeout=timeout)
                if log:
                    log(results[i])
        finally:
            session.close()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(kernel_name, cwd)) as pool:
            futures = {pool.submit(_worker_run, job, timeout): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker process itself died
                    results[i] = JobResult(jobs[i].name, "failed", f"worker failed: {_error_text(exc)}", 0.0)
                if log:
                    log(results[i])
    return [results[i] for i in range(len(jobs))]
