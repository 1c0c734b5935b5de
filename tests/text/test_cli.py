"""``scenerec encode`` and ``scenerec similar-items`` (hashing backend: no model to load)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner, Result

from scenerec.cli.text_cmd import app
from scenerec.schema import C
from scenerec.text import ItemEmbeddings

runner = CliRunner()


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.csv"
    pl.DataFrame(
        {
            "sku": ["k1", "t1", "t2", "p1", "blank"],
            C.TITLE: ["Chef knife", "Green tea bags", "Matcha green tea", "Frying pan", None],
            C.CATEGORY: ["Knives", "Tea", "Tea", "Cookware", None],
        }
    ).write_csv(path)
    return path


def _encode(catalog: Path, out: Path, cache: Path) -> Result:
    return runner.invoke(
        app,
        [
            "encode",
            str(catalog),
            "--out",
            str(out),
            "--backend",
            "hashing",
            "--map",
            "sku=item_id",
            "--cache-dir",
            str(cache),
        ],
    )


def test_encode_writes_parquet_and_uses_the_cache(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.parquet"
    first = _encode(catalog, out, tmp_path / "cache")
    assert first.exit_code == 0, first.output
    assert "4 of 5 items" in first.output and "1 without text" in first.output
    emb = ItemEmbeddings.load(out)
    assert emb.item_ids == ["k1", "t1", "t2", "p1", "blank"]
    assert emb.has_text.tolist() == [True, True, True, True, False]
    assert emb.fingerprint.startswith("hashing-")

    second = _encode(catalog, out, tmp_path / "cache")
    assert "4 from cache" in second.output
    assert np.array_equal(ItemEmbeddings.load(out).vectors, emb.vectors)


def test_similar_items_ranks_the_matching_topic_first(catalog: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "similar-items",
            str(catalog),
            "green tea",
            "-k",
            "2",
            "--backend",
            "hashing",
            "--map",
            "sku=item_id",
            "--cache-dir",
            str(tmp_path / "c"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r[C.ITEM_ID] for r in rows} == {"t1", "t2"}
    assert rows[0]["score"] >= rows[1]["score"]


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["encode", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.parquet")]
    )
    assert result.exit_code == 1
    assert "file not found" in result.output and "Traceback" not in result.output


def test_bad_k_is_a_usage_error(catalog: Path) -> None:
    result = runner.invoke(app, ["similar-items", str(catalog), "tea", "-k", "0"])
    assert result.exit_code == 2


def test_blank_query_is_a_usage_error(catalog: Path) -> None:
    result = runner.invoke(app, ["similar-items", str(catalog), "   "])
    assert result.exit_code == 2
