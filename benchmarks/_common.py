"""Helpers shared by the benchmark scripts: paths, peak memory, result tables and JSON."""

from __future__ import annotations

import json
import platform
import resource
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
RESULTS = REPO / "benchmarks" / "results"

console = Console(width=140)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    t = Table(title=title)
    for col in rows[0]:
        t.add_column(str(col), justify="left" if isinstance(rows[0][col], str) else "right")
    for r in rows:
        t.add_row(*[f"{v:,.4f}" if isinstance(v, float) else str(v) for v in r.values()])
    console.print(t)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        **payload,
    }
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    console.print(f"results -> {out.relative_to(REPO)}")
    return out


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
