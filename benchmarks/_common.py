"""Helpers shared by the benchmark scripts: paths, peak memory, result tables and JSON."""

from __future__ import annotations

import itertools
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
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


# ----------------------------------------------------------------------------------------------
# Shared by the evaluation benchmarks (movielens_recbole.py, movielens_sequential.py,
# cross_scenario.py): model lists from YAML, one fresh process per model (so that peak memory
# and failures are per model), seed statistics.
# ----------------------------------------------------------------------------------------------
CONFIGS = REPO / "benchmarks" / "configs"


class ModelUnavailableError(Exception):
    """A listed model cannot run here yet (module missing, or its config rejects the params)."""


@dataclass(frozen=True)
class BenchModel:
    """One row of a benchmark's model list (``benchmarks/configs/<benchmark>.yaml``): the
    library's ``ModelSpec`` (``model`` = registry name, ``label``, ``params``) plus what only a
    benchmark needs.

    Attributes:
        label: the row name in tables and JSON.
        model: the model's registry name (``scenerec.models.MODELS``), e.g. ``"ease"``.
        params: the model config as plain data (nested sections such as ``train`` allowed).
        grid: dotted parameter name -> values, searched on the validation split only.
        quick: parameter overrides applied with ``--quick`` (e.g. fewer epochs).
        no_text: overrides that switch the model's language-model text off (ablation), or
            ``None`` when the model reads no text.
        scopes: training data of a cross-scenario benchmark: ``target`` (the target scenario's
            events only) and/or ``all`` (every scenario's events).
        cold: also run the cross-scenario benchmark's cold-in-target protocol (the test users'
            own target-scenario history removed before fitting).
        max_seeds: run at most this many of the requested seeds (slow neural models).
        tune: search this row's parameters on the validation split (``--tune N`` trials,
            the same for every tuned row).
        tuning: parameter overrides for the tuning trials only (e.g. a shorter training budget
            for a model whose fit is long); the evaluated fits use ``params``.
        new_items: also run the new-item protocol (a cross-scenario benchmark's).
        enabled: run by default; ``False`` runs only when ``--models`` names it.
        note: shown beside the row.
    """

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    no_text: dict[str, Any] | None = None
    scopes: list[str] = field(default_factory=lambda: ["target", "all"])
    cold: bool = False
    max_seeds: int | None = None
    tune: bool = False
    tuning: dict[str, Any] = field(default_factory=dict)
    new_items: bool = False
    enabled: bool = True
    note: str = ""

    def spec(self, overrides: dict[str, Any] | None = None) -> Any:
        """The library's ``ModelSpec`` of this row, with ``overrides`` merged into its params."""
        from scenerec.models.registry import ModelSpec

        params = deep_merge(self.params, overrides or {})
        return ModelSpec(name=self.model, label=self.label, params=params)


def load_model_specs(name: str) -> list[BenchModel]:
    """The model list of benchmark ``name`` from ``benchmarks/configs/<name>.yaml``."""
    path = CONFIGS / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = []
    for i, row in enumerate(data.get("models", [])):
        unknown = set(row) - set(BenchModel.__dataclass_fields__)
        if unknown or "label" not in row or "model" not in row:
            raise ValueError(
                f"{path}: models[{i}] has unknown keys {sorted(unknown)} or lacks label/model; "
                f"allowed keys are {sorted(BenchModel.__dataclass_fields__)}"
            )
        specs.append(BenchModel(**row))
    return specs


def select_specs(specs: list[BenchModel], wanted: str | None) -> list[BenchModel]:
    """The specs whose label or model name is in the comma-separated ``wanted`` (default: the
    enabled ones)."""
    if not wanted:
        return [s for s in specs if s.enabled]
    names = {w.strip() for w in wanted.split(",") if w.strip()}
    chosen = [s for s in specs if s.label in names or s.model in names]
    missing = names - {s.label for s in chosen} - {s.model for s in chosen}
    if missing:
        known = ", ".join(s.label for s in specs)
        raise SystemExit(f"--models: unknown {sorted(missing)}; choose among: {known}")
    return chosen


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """The library's ``scenerec.config.merge_params`` (dotted keys set one field of a section)."""
    from scenerec.config import merge_params

    return merge_params(base, override)


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid (``[{}]`` for an empty grid)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def make_model(spec: BenchModel, overrides: dict[str, Any] | None = None) -> Any:
    """Build the model a row names through the library's registry, or raise
    ModelUnavailableError saying why it cannot run."""
    from scenerec.errors import ConfigError
    from scenerec.models.registry import build_model

    try:
        return build_model(spec.spec(overrides))
    except ConfigError as exc:
        raise ModelUnavailableError(
            f"{exc}. Fix: update the entry {spec.label!r} in benchmarks/configs/"
        ) from None


def fit_options() -> Any:
    """How the benchmark's fits run: threads from ``SCENEREC_THREADS`` (``run_child`` sets it
    for models trained side by side)."""
    from scenerec.models.query import FitOptions

    return FitOptions.from_env()


def run_child(
    script: str | Path, job: dict[str, Any], timeout_s: float | None, *, threads: int | None = None
) -> dict[str, Any]:
    """Run ``script --child`` on one job in a fresh Python process and return its result.

    The result has ``status`` (``ok``, ``skipped`` or ``failed``), ``reason`` when not ok, the
    child's ``peak_rss_mb`` and ``wall_s``. A crash or a timeout of one model is reported, not
    raised, so the other models of a benchmark still run. ``threads`` sets the child's
    ``SCENEREC_THREADS`` (for children that run side by side).
    """
    env = dict(os.environ)
    if threads is not None:
        env["SCENEREC_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="scenerec-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), "--child", json.dumps(job), "--child-out", str(out)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return {
                "status": "failed",
                "reason": f"timed out after {timeout_s:.0f} s",
                "wall_s": timeout_s,
            }
        wall = time.perf_counter() - t0
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        else:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            result = {"status": "failed", "reason": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result["wall_s"] = wall
    return result


def print_progress(
    out: dict[str, Any], metric: Callable[[dict[str, Any]], float], name: str
) -> None:
    """One stderr line for a finished model: ``name`` over its runs (``metric`` of each run), or
    why it did not run, and its wall time."""
    if out["status"] == "ok":
        msg = f"{name} {pm([metric(r) for r in out['runs']])}"
    else:
        msg = f"{out['status']}: {out.get('reason', '')}"
    print(f"[{out['label']}] {msg} ({out['wall_s']:.0f} s)", file=sys.stderr, flush=True)


def child_entry(
    job_json: str, out_path: str, handler: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """The child side of ``run_child``: run ``handler(job)`` and write its result as JSON."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    job = json.loads(job_json)
    try:
        result = {"status": "ok", **handler(job)}
    except ModelUnavailableError as exc:
        result = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # one broken model must not take the benchmark down
        result = {
            "status": "failed",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    result["peak_rss_mb"] = peak_rss_mb()
    # Timings mean little without the machine's load (the development machine is shared).
    result["load_avg_1_5_15"] = list(os.getloadavg())
    Path(out_path).write_text(json.dumps(result, default=_plain), encoding="utf-8")


def _plain(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    return m, (sum((v - m) ** 2 for v in values) / (n - 1)) ** 0.5


def pm(values: list[float], digits: int = 4) -> str:
    """``mean ± std`` over seeds (just the value for one seed)."""
    m, s = mean_std(values)
    if len(values) <= 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The same rows as ``print_table``, as a Markdown table (for BENCHMARKS.md)."""
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(v: Any) -> str:
        return f"{v:,.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def align_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the union of all rows' columns (first-seen order; missing cells empty),
    so that rows of skipped or failed models fit one table."""
    cols: dict[str, None] = {}
    for row in rows:
        cols.update(dict.fromkeys(row))
    return [{c: row.get(c, "") for c in cols} for row in rows]


def merge_previous(
    name: str, results: list[dict[str, Any]], keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``results`` added to the model results of the previous ``benchmarks/results/<name>.json``:
    a new result replaces the old one with the same ``keys`` values, others are kept (``--update``
    re-runs some models without re-running the rest)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return results
    old: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    fresh = {tuple(r.get(k) for k in keys): r for r in results}
    merged = [fresh.pop(tuple(r.get(k) for k in keys), r) for r in old]
    return merged + list(fresh.values())
