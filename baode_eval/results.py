"""Headline figures out of a notebook: a small JSON file the runner collects into results.json.

In a notebook::

    res = Results(results_path, "published_figures")   # results_path is a notebook parameter
    res.add("m2_per_unit", 80.11, unit="m2")
    print(res.text())                                   # the nbval-checked headline cell

With an empty ``results_path`` nothing is written (interactive use).
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def _plain(value):
    """JSON-safe value: numpy scalars to Python, floats to 12 significant digits (enough to print
    any rounding exactly, without float noise; rounding to fewer digits first would round twice)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.12g}")
    return value


class Results:
    """Collects named headline figures of one notebook section."""

    def __init__(self, path: str | Path | None, section: str):
        self.path = Path(path) if path else None
        self.section = section
        self.items: dict[str, dict] = {}

    def add(self, key: str, value, *, unit: str | None = None, label: str | None = None, digits: int = 2):
        """Record ``value`` under ``key`` (rounded to ``digits`` decimals for display); returns it."""
        plain = _plain(value)
        self.items[key] = {"value": plain, "unit": unit, "label": label, "digits": digits}
        self._write()
        return value

    def text(self, keys=None) -> str:
        """One 'key = value unit' line per figure (only ``keys``, in their order, when given):
        stable text for notebook regression tests."""
        lines = []
        chosen = self.items.items() if keys is None else [(k, self.items[k]) for k in keys]
        for key, item in chosen:
            v = item["value"]
            shown = "NA" if v is None else (f"{v:,.{item['digits']}f}" if isinstance(v, float) else str(v))
            lines.append(f"{self.section}.{key} = {shown}" + (f" {item['unit']}" if item["unit"] else ""))
        return "\n".join(lines)

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {self.section: self.items}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=False), encoding="utf-8")
        tmp.replace(self.path)
