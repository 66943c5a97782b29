"""Re-execute the report notebooks in place with their default parameters.

The stored outputs are the nbval regression baselines (cells marked ``# NBVAL_CHECK_OUTPUT``).
Run this (``make notebooks``) after changing a notebook or the numbers behind it, review the
diff of the checked cells, and commit. Volatile metadata (execution times) is stripped so
that re-running without changes gives a byte-identical file.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .paths import site_notebook
from .runner import discover_notebooks


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def refresh(nb_path: Path, *, kernel_name: str = "python3", timeout: int = 900) -> None:
    book = nbformat.read(nb_path, as_version=4)
    NotebookClient(book, kernel_name=kernel_name, timeout=timeout,
                   resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    for cell in book.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            plain = out.get("data", {}).get("text/plain")
            if isinstance(plain, str):  # object reprs carry memory addresses
                out["data"]["text/plain"] = _ADDRESS.sub(" at 0x0>", plain)
    book.metadata.pop("papermill", None)
    nbformat.write(book, nb_path)


def main(argv: list[str] | None = None) -> int:
    targets = [Path(a) for a in (argv or [])] or [*discover_notebooks(), site_notebook()]
    for nb in targets:
        print(f"refreshing {nb}")
        refresh(nb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
