"""Every model listed in benchmarks/configs builds with the library's registry (so a renamed
config field breaks a test, not a benchmark run hours later)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenerec.models.registry import ModelSpec, build_model

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CONFIGS = BENCHMARKS / "configs"
sys.path.insert(0, str(BENCHMARKS))
from _common import deep_merge  # noqa: E402  (the benchmarks' own merge rule)


def _rows() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            rows.append((f"{path.stem}:{row['label']}", row))
    return rows


@pytest.mark.parametrize(("where", "row"), _rows(), ids=[r[0] for r in _rows()])
def test_benchmark_model_configs_build(where: str, row: dict[str, Any]) -> None:
    params = row.get("params", {})
    variants = [params, deep_merge(params, row.get("quick", {}))]
    if row.get("no_text"):
        variants.append(deep_merge(params, row["no_text"]))
    for grid_key, values in row.get("grid", {}).items():
        variants += [deep_merge(params, {grid_key: v}) for v in values]
    for p in variants:
        build_model(ModelSpec(name=row["model"], label=row["label"], params=p))
