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
        if path.name.endswith(".tuned.yaml"):  # the tuned values, tested below
            continue
        for row in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            rows.append((f"{path.stem}:{row['label']}", row))
    return rows


def _tuned() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, row, tuned params) for every value a ``--tune`` run stored."""
    out = []
    for path in sorted(CONFIGS.glob("*.tuned.yaml")):
        base = path.name.removesuffix(".tuned.yaml")
        rows = yaml.safe_load((CONFIGS / f"{base}.yaml").read_text(encoding="utf-8"))["models"]
        by_label = {r["label"]: r for r in rows}
        for release, labels in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            for label, scopes in labels.items():
                for scope, targets in scopes.items():
                    for target, params in targets.items():
                        where = f"{base}:{release}:{label}:{scope}:{target}"
                        out.append((where, by_label[label], params))
    return out


@pytest.mark.parametrize(("where", "row"), _rows(), ids=[r[0] for r in _rows()])
def test_benchmark_model_configs_build(where: str, row: dict[str, Any]) -> None:
    params = row.get("params", {})
    variants = [params, deep_merge(params, row.get("quick", {}))]
    variants.append(deep_merge(params, row.get("tuning", {})))  # the tuning trials' overrides
    if row.get("no_text"):
        variants.append(deep_merge(params, row["no_text"]))
    for grid_key, values in row.get("grid", {}).items():
        variants += [deep_merge(params, {grid_key: v}) for v in values]
    for p in variants:
        build_model(ModelSpec(name=row["model"], label=row["label"], params=p))


@pytest.mark.parametrize(("where", "row", "tuned"), _tuned(), ids=[t[0] for t in _tuned()] or None)
def test_tuned_benchmark_params_build(
    where: str, row: dict[str, Any], tuned: dict[str, Any]
) -> None:
    """A stored tuning result names a row of its config and parameters that row's model takes."""
    model = build_model(
        ModelSpec(name=row["model"], label=row["label"], params=deep_merge(row["params"], tuned))
    )
    for dotted, value in tuned.items():
        node: Any = model.config
        for part in dotted.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        assert node == value, f"{where}: {dotted} did not reach the model's config"


def test_cross_scenario_results_keep_only_rows_the_config_still_lists() -> None:
    import cross_scenario

    row = {"label": "ItemKNN", "scope": "all", "release": "r", "protocol": "warm"}
    gone = {**row, "label": "ScenarioFusion", "scope": "target"}  # the config fits it on all only
    assert cross_scenario._configured([row, gone]) == [row]
