"""Phase 1 of the indicator engine beyond memory: Parquet datasets streamed, on Dask, in DuckDB.

The indicator engine works in two phases (docs/indicators.md): phase 1 reduces rows to plain
sums per (domain, stratum, PSU) cell; phase 2 (:func:`baode_eval.scorecard.from_summary`)
finishes from those sums and never sees a row. Only phase 1 grows with the data, and sums add
up: the sums of row blocks, added cell by cell, are the sums of all rows. So phase 1 runs

* ``engine="pandas"``: the numpy kernel (:func:`baode_eval.survey.partial_sums`) on record
  batches streamed from Parquet with pyarrow, one block of ~``chunk_rows`` rows at a time,
  partial sums added as it goes -- one process, memory bounded by the block size;
* ``engine="dask"``: the same kernel mapped over the partitions of a Dask DataFrame read lazily
  from Parquet (``map_partitions``), partial sums added in a tree (``split_every`` at a time),
  on a local scheduler or a cluster (``scheduler="tcp://host:8786"``);
* ``engine="duckdb"``: one ``GROUP BY`` over ``read_parquet([...])`` with the framework's
  definitions compiled to SQL (:func:`baode_eval.framework.sql_values`); DuckDB streams the
  files and spills to disk when it must.

The client (the process that calls :func:`baode_eval.scorecard.build_from_parquet`) lists the
files, checks their columns, resolves the design, builds the task graph and runs phase 2; the
workers read Parquet, evaluate the indicator expressions and add sums. See docs/scale.md.
"""
from __future__ import annotations

import glob as _glob
import math
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from . import framework as fw
from . import survey
from .errors import BaodeEvalError, DataError, ParameterError

SPLIT_EVERY = 8  # partial sums added this many at a time (Dask tree reduction, streaming)
SCHEDULER_TIMEOUT = 10.0  # seconds to wait for a Dask scheduler before giving up
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous", "local")


class ClusterError(BaodeEvalError):
    """The Dask scheduler cannot be reached (or the cluster cannot be started)."""


# --------------------------------------------------------------------------------------------
# Parquet sources


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


class ParquetSource:
    """A Parquet file, a directory of Parquet files (hive-partitioned or not) or a glob.

    Lists the files once (``*.parquet`` under a directory, recursively; names starting with
    ``_`` or ``.`` skipped, as Spark/Dask/Arrow do) and reads only their footers: the columns,
    types, row counts and column statistics that the checks need.
    """

    def __init__(self, path):
        import pyarrow.dataset as ds

        self.path = path
        text = os.fspath(path)
        p = Path(text)
        base = None
        if p.is_file():
            files = [str(p)]
        elif p.is_dir():
            files = sorted(str(f) for f in p.rglob("*.parquet")
                           if f.is_file() and not any(part.startswith(("_", "."))
                                                      for part in f.relative_to(p).parts))
            if not files:
                raise DataError("no Parquet files (*.parquet) in this directory", path=p)
            base = str(p)
        elif _is_glob(text):
            files = sorted(f for f in _glob.glob(text, recursive=True) if Path(f).is_file())
            if not files:
                raise DataError("no files match this pattern", path=text)
            head = text[: min(text.index(c) for c in "*?[" if c in text)]
            base = os.path.dirname(head) or "."
        else:
            raise DataError("file or directory not found", path=text)
        self.files = files
        self.is_dir = p.is_dir()
        try:
            self.dataset = ds.dataset(files, format="parquet", partitioning="hive",
                                      **({"partition_base_dir": base} if base else {}))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
            raise DataError(f"not readable as a Parquet dataset: {_one_line(exc)}", path=text) from None
        self._fragments = None
        keys = {}
        for frag in self.fragments():
            keys.update(ds.get_partition_keys(frag.partition_expression))
        self.partition_columns = [c for c in self.dataset.schema.names if c in keys]

    def fragments(self):
        if self._fragments is None:
            self._fragments = list(self.dataset.get_fragments())
        return self._fragments

    @property
    def schema(self):
        return self.dataset.schema

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def check_columns(self, needed, *, what: str) -> None:
        """Every file must hold every needed column: name the first file that lacks some, and them."""
        needed = list(dict.fromkeys(needed))
        part_cols = set(self.partition_columns)
        for frag in self.fragments():
            try:
                names = set(frag.physical_schema.names) | part_cols
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"not a readable Parquet file: {_one_line(exc)}", path=frag.path) from None
            missing = [c for c in needed if c not in names]
            if missing:
                raise DataError(f"columns {missing} needed by {what} are not in this file", path=frag.path)

    def num_rows(self) -> int:
        return int(sum(frag.metadata.num_rows for frag in self.fragments()))

    def has_values(self, column: str) -> bool:
        """Whether ``column`` has at least one non-missing value (footer statistics; else a scan)."""
        if column in self.partition_columns:
            return True
        for frag in self.fragments():
            md = frag.metadata
            try:
                idx = md.schema.to_arrow_schema().get_field_index(column)
            except Exception:  # noqa: BLE001
                idx = -1
            if idx < 0:  # not in this file (check_columns names such files)
                continue
            known = True
            for i in range(md.num_row_groups):
                rg = md.row_group(i)
                st = rg.column(idx).statistics
                if st is None or not st.has_null_count:
                    known = False
                    break
                if st.null_count < rg.num_rows:
                    return True
            if not known:
                for batch in frag.to_batches(columns=[column]):
                    if batch.column(0).null_count < batch.num_rows:
                        return True
        return False

    def dtypes(self, columns) -> dict:
        """pandas dtypes that the domain columns get back in the result (integers as int64)."""
        import pyarrow as pa

        out = {}
        for c in columns:
            t = self.schema.field(c).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if pa.types.is_integer(t):
                out[c] = np.dtype(np.int64)
            elif pa.types.is_floating(t):
                out[c] = np.dtype(np.float64)
            elif pa.types.is_boolean(t):
                out[c] = np.dtype(bool)
            else:
                out[c] = np.dtype(object)
        return out

    def duckdb_source(self) -> str:
        """``read_parquet([...])`` over the same files (hive keys parsed when the directory has them)."""
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
        hive = "true" if self.partition_columns else "false"
        return f"read_parquet([{files}], hive_partitioning = {hive})"

    def dask_path(self):
        """What ``dask.dataframe.read_parquet`` is given: the directory (so that it parses hive
        keys), else the file list."""
        return os.fspath(self.path) if self.is_dir else list(self.files)


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


# --------------------------------------------------------------------------------------------
# the map step shared by the streaming and Dask engines


def _to_pandas(table, keys=()):
    """Arrow -> pandas for the kernel: numbers and booleans that are not keys straight to float64
    (missing = NaN, what the kernel makes of them anyway; much cheaper than nullable pandas
    columns), keys and text as pandas reads them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if name not in keys and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            out[name] = pc.cast(col, pa.float64()).to_numpy()
        else:
            out[name] = col.to_pandas()
    return pd.DataFrame(out, copy=False)


_TEXT = pd.Series(["a"]).dtype  # pandas' own text dtype (str in pandas 3, object before)


def _plain_keys(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """Key columns as an in-memory frame has them: categoricals (hive partition keys) back to
    plain values, Arrow-backed text (Dask's default) to pandas' own text dtype."""
    conv = {}
    for c in dict.fromkeys(keys):
        if c not in frame.columns:
            continue
        dtype = frame[c].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            col = frame[c].astype(dtype.categories.dtype)
            dtype = col.dtype
        else:
            col = frame[c]
        if pd.api.types.is_string_dtype(dtype) and dtype != _TEXT and not pd.api.types.is_object_dtype(dtype):
            col = col.astype(_TEXT)
        if col is not frame[c]:
            conv[c] = col
    if conv:
        frame = frame.assign(**conv)
    return frame


def framework_sums(frame: pd.DataFrame, fwk: fw.Framework, design: survey.Design, by: tuple, year_column: str,
                   chunk_rows: int | None, compiled: bool = False) -> pd.DataFrame:
    """Partial sums of every indicator of ``fwk`` over one block of rows (module-level so that
    Dask ships it to workers by reference); ``compiled``: with the Numba kernel
    (:mod:`baode_eval.kernel`) instead of numpy arrays."""
    frame = _plain_keys(frame, [*by, *design.columns(), year_column])
    if compiled:
        from .kernel import Compiled

        ratios = Compiled(fwk, year_column=year_column)
    else:
        ratios = lambda block: fw.row_values(block, fwk, year_column=year_column)  # noqa: E731
    return survey.partial_sums(frame, ratios, design=design, by=by, chunk_rows=chunk_rows)


def _combine(parts, by):
    return survey.combine_partial_sums(list(parts), by=by)


def needed_columns(fwk: fw.Framework, design: survey.Design, by, year_column: str, available) -> list[str]:
    cols = [*by, *design.columns(), *fwk.columns()]
    if year_column in available:
        cols.append(year_column)
    return list(dict.fromkeys(cols))


# --------------------------------------------------------------------------------------------
# engines


def _batches(source: ParquetSource, cols, batch_rows: int):
    """Record batches of ``cols``, file by file and row group by row group, with no read-ahead
    (a dataset scanner reading ahead of the slower kernel held twice the memory here), hive
    keys added as constant columns."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    for frag in source.fragments():
        keys = ds.get_partition_keys(frag.partition_expression)
        in_file = [c for c in cols if c not in keys]
        for batch in pq.ParquetFile(frag.path).iter_batches(batch_size=batch_rows, columns=in_file,
                                                             use_threads=True):
            if any(c in keys for c in cols):
                arrays = {c: (pa.repeat(pa.scalar(keys[c], source.schema.field(c).type), batch.num_rows)
                              if c in keys else batch.column(c)) for c in cols}
                batch = pa.RecordBatch.from_pydict(arrays)
            yield batch


def sums_streaming(source: ParquetSource, fwk, design, by, *, year_column="year", chunk_rows=1_000_000,
                   compiled: bool = False) -> pd.DataFrame:
    """Streaming pandas engine: blocks of ~``chunk_rows`` rows, partial sums added every
    ``SPLIT_EVERY`` blocks. Deterministic: batches come in file and row-group order."""
    import pyarrow as pa

    cols = needed_columns(fwk, design, by, year_column, source.columns)
    target = max(int(chunk_rows or 1_000_000), 1)
    keys = {*by, *design.columns()}
    acc, pending, n = [], [], 0

    def flush():
        nonlocal pending, n
        if pending:
            table = pa.Table.from_batches(pending)
            pending, n = [], 0
            acc.append(framework_sums(_to_pandas(table, keys), fwk, design, by, year_column, chunk_rows,
                                      compiled))
            del table
            if len(acc) >= SPLIT_EVERY:
                acc[:] = [survey.combine_partial_sums(acc, by=by)]

    for batch in _batches(source, cols, min(target, 1 << 20)):
        if batch.num_rows:
            pending.append(batch)
            n += batch.num_rows
        if n >= target:
            flush()
    flush()
    if not acc:  # no rows: the sums of an empty block give the right columns
        empty = _to_pandas(source.schema.empty_table().select(cols), keys)
        acc = [framework_sums(empty, fwk, design, by, year_column, chunk_rows, compiled)]
    return survey.combine_partial_sums(acc, by=by)


def sums_dask(ddf, fwk, design, by, *, year_column="year", chunk_rows=1_000_000, scheduler=None,
              scheduler_timeout=SCHEDULER_TIMEOUT, split_every=SPLIT_EVERY) -> pd.DataFrame:
    """Dask engine: ``map_partitions`` of the numpy kernel, then a tree of additions.

    ``ddf``: a Dask DataFrame holding (at least) the needed columns, e.g. from
    ``dask.dataframe.read_parquet``. Only the added-up sums (one row per cell) come back to the
    client.
    """
    import dask

    cols = needed_columns(fwk, design, by, year_column, list(ddf.columns))
    ddf = ddf[cols]
    meta = framework_sums(ddf._meta, fwk, design, by, year_column, chunk_rows)
    parts = ddf.map_partitions(framework_sums, fwk, design, by, year_column, chunk_rows, meta=meta,
                               enforce_metadata=False, align_dataframes=False)
    level = list(parts.to_delayed())
    combine = dask.delayed(_combine, pure=True)
    while len(level) > 1:
        level = [combine(level[i:i + split_every], by) for i in range(0, len(level), split_every)]
    final = combine(level, by) if level else None
    if final is None:
        return meta
    with dask_compute(scheduler, timeout=scheduler_timeout) as compute:
        return compute(final)


def read_parquet_dask(source: ParquetSource, columns):
    """A Dask DataFrame over the source, only ``columns`` read, lazily."""
    dd = _dask_dataframe()
    try:
        # one partition per row group: Dask's default (one per file, or "infer") made partitions
        # of whole 12 M-row files here, several GiB each once in pandas
        # Arrow-backed columns: cheap to read, straight to float64 in the kernel (numpy_nullable
        # cannot take a hive key's dictionary type)
        return dd.read_parquet(source.dask_path(), columns=list(columns), dtype_backend="pyarrow",
                               split_row_groups=True)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"Dask cannot read this Parquet dataset: {_one_line(exc)}", path=source.path) from None


def _dask_dataframe():
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - the optional extra is missing
        raise ParameterError("engine='dask' needs Dask: pip install 'baode-eval[dask]'") from None
    return dd


def from_pandas_dask(data: pd.DataFrame, columns, *, chunk_rows=1_000_000):
    dd = _dask_dataframe()
    nparts = max(1, math.ceil(len(data) / max(int(chunk_rows or 1_000_000), 1)))
    return dd.from_pandas(data[list(columns)], npartitions=nparts, sort=False)


@contextmanager
def dask_compute(scheduler=None, *, timeout: float = SCHEDULER_TIMEOUT):
    """A ``compute(obj) -> result`` function on the chosen scheduler; closes what it opened.

    ``scheduler``: ``None`` (a distributed ``Client`` already active in this process, else
    ``"threads"``), ``"threads"``, ``"processes"``, ``"synchronous"`` (dask's local
    schedulers), ``"local"`` (a ``LocalCluster`` on this machine, one worker process per
    core, closed afterwards), a scheduler address (``"tcp://host:8786"``), or a
    ``distributed.Client`` / cluster object.
    """
    _dask_dataframe()
    import dask

    if scheduler is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            client = None
        if client is not None:
            yield lambda obj: client.compute(obj).result()
            return
        scheduler = "threads"
    if isinstance(scheduler, str) and scheduler in ("threads", "processes", "synchronous"):
        yield lambda obj: dask.compute(obj, scheduler=scheduler)[0]
        return
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield lambda obj: scheduler.compute(obj).result()
        return
    cluster = None
    if scheduler == "local":
        try:
            cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
        except Exception as exc:  # noqa: BLE001
            raise ClusterError(f"cannot start a local Dask cluster: {_one_line(exc)}") from None
        target = cluster
    elif isinstance(scheduler, str):
        if "://" not in scheduler and ":" not in scheduler:
            raise ParameterError(f"scheduler must be one of {list(LOCAL_SCHEDULERS)} or an address like "
                                 f"tcp://host:8786, got {scheduler!r}")
        target = scheduler
    elif hasattr(scheduler, "scheduler_address"):  # a cluster object (LocalCluster, SpecCluster ...)
        target = scheduler
    else:
        raise ParameterError(f"scheduler must be None, one of {list(LOCAL_SCHEDULERS)}, an address like "
                             f"tcp://host:8786, a distributed.Client or a cluster, got {type(scheduler).__name__}")
    try:
        client = distributed.Client(target, timeout=f"{float(timeout)}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for bad addresses
        if cluster is not None:
            cluster.close()
        where = target if isinstance(target, str) else getattr(target, "scheduler_address", target)
        raise ClusterError(f"cannot reach the Dask scheduler at {where} within {float(timeout):g} s: "
                           f"{_one_line(exc)}") from None
    try:
        yield lambda obj: client.compute(obj).result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover
        raise ParameterError("a Dask cluster needs the distributed package: pip install 'baode-eval[dask]'") from None
    return distributed


def sums_duckdb(source: ParquetSource, fwk, design, by, *, year_column="year", connection=None):
    """DuckDB engine over the Parquet files: the phase-1 ``GROUP BY`` (see
    :func:`baode_eval.survey.sufficient_statistics_sql`)."""
    return survey.sufficient_statistics_sql(source.duckdb_source(), fw.sql_values(fwk, year_column=year_column),
                                            design=design, by=by, connection=connection)
