from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.eval.compare import compare_models
from scenerec.eval.protocol import evaluate
from scenerec.eval.report import write_report
from scenerec.eval.results import EvalResult
from scenerec.models.popularity import Popularity, PopularityConfig
from scenerec.schema import C

PNG = b"\x89PNG\r\n\x1a\n"
LABELS = ("Popularity (scenario)", "Popularity | global")  # a pipe must not break the table


def _data() -> tuple[Dataset, pl.DataFrame, pl.DataFrame]:
    """Two scenarios sharing a skewed catalog; some users only use web before the test."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        for t in range(6):
            scen = "web" if u % 4 == 0 and t < 5 else ("app" if (u + t) % 3 else "web")
            item = int(rng.zipf(1.3)) % 30 if scen == "app" else (29 - int(rng.zipf(1.3)) % 30)
            rows.append((f"u{u}", f"i{item}", scen, t))
    ev = pl.DataFrame(rows, schema=[C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP], orient="row")
    ev = ev.with_columns(pl.lit("click").alias(C.BEHAVIOR)).unique([C.USER_ID, C.ITEM_ID])
    train, test = ev.filter(pl.col(C.TIMESTAMP) < 5), ev.filter(pl.col(C.TIMESTAMP) == 5)
    return Dataset(ev), train, test


def _result(ks: tuple[int, ...], protocols: tuple[str, ...]) -> dict[str, Any]:
    """Result data shaped like ExperimentResult.to_dict(), from real evaluate() calls."""
    full, train, test = _data()
    ds = full.subset(train)
    models: dict[str, dict[str, Any]] = {}
    evals: dict[str, dict[str, EvalResult]] = {p: {} for p in protocols}
    for label, scope in zip(LABELS, ("scenario", "global"), strict=True):
        m = Popularity(PopularityConfig(scope=scope)).fit(ds)
        entry: dict[str, Any] = {
            "model": m.name,
            "config": m.config.to_dict(),
            "fit_seconds": 0.01,
            "peak_rss_mb": 321.0,
            "eval": {},
        }
        for proto in protocols:
            ev = evaluate(
                m,
                test,
                train=ds,
                ks=ks,
                protocol=proto,  # type: ignore[arg-type]
                n_negatives=10,
            )
            entry[proto] = ev.summary()
            entry["eval"][proto] = ev.to_dict(n_boot=100)
            evals[proto][label] = ev
        models[label] = entry
    comparisons = [
        c for p in protocols for c in compare_models(evals[p], f"ndcg@{max(ks)}", n_boot=100)
    ]
    return {
        "config": {"name": "tiny", "eval": {"ks": list(ks), "protocols": list(protocols)}},
        "split": {"train": train.height, "test": test.height},
        "models": models,
        "comparisons": comparisons,
    }


def _images(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_report_renders_tables_and_figures(tmp_path: Path) -> None:
    result = _result((5, 10), ("full", "sampled"))
    json.dumps(result, allow_nan=False)  # what results.json holds is strict JSON
    path = write_report(result, tmp_path / "out")
    md = path.read_text(encoding="utf-8")
    assert path == tmp_path / "out" / "report.md"
    for label in LABELS:
        assert label.replace("|", "\\|") in md
    # full ranking comes first; sampled ranking is labelled as a side figure
    assert md.index("## Full ranking") < md.index("## Sampled ranking")
    assert "10 random negatives" in md
    # intervals in the tables, groups and the paired comparison
    assert re.search(r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]", md)
    assert "### User groups" in md and "overlapping" in md and "cold in target" in md
    assert "### Paired comparisons" in md
    assert "321" in md  # peak memory
    images = _images(md)
    expected = {
        f"{p}_{kind}.png"
        for p in ("full", "sampled")
        for kind in ("bars_at5", "bars_at10", "curves")
    }
    assert set(images) == expected
    for name in images:
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 2000


def test_one_cutoff_has_no_curves_and_plain_summaries_render(tmp_path: Path) -> None:
    result = _result((3,), ("full",))
    for entry in result["models"].values():
        del entry["eval"]  # only the plain summaries, as older results.json files hold
    del result["comparisons"]
    md = write_report(result, tmp_path).read_text(encoding="utf-8")
    assert _images(md) == ["full_bars_at3.png"]
    assert not (tmp_path / "full_curves.png").exists()
    assert "NDCG@3" in md and "User groups" not in md
    assert not re.search(r"\[\d\.\d{4}, ", md)  # no intervals without the detail


def test_report_rejects_data_without_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="models"):
        write_report({"config": {}}, tmp_path)
