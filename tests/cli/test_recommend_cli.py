"""``scenerec recommend``: titles, honest notes (k too large, unknown history items) and batch
mode (one model load for many users, to Parquet or CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from scenerec.cli.main import app
from tests.cli.helpers import tiny_config

runner = CliRunner()
CONFIG = tiny_config(
    "  - {name: popularity, label: Pop, params: {scope: scenario}}\n  - {name: ease, label: EASE}",
    "{ks: [10], protocols: [full]}",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = root / "exp.yaml"
    cfg.write_text(CONFIG)
    res = runner.invoke(app, ["train", str(cfg), "--out", str(root / "train")])
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(app, ["experiment", str(cfg), "--out", str(root / "exp")])
    assert res.exit_code == 0, res.stderr
    return root


def rec(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["recommend", *args])
    return res.exit_code, res.stdout, res.stderr


def first_user(run: Path) -> str:
    return str(json.loads((run / "vocabularies.json").read_text())["users"][0])


@pytest.mark.parametrize("run", ["train/EASE", "exp/runs/EASE"])  # experiment runs too
def test_recommendations_come_with_titles(runs: Path, run: str) -> None:
    code, out, err = rec(str(runs / run), "-u", first_user(runs / run), "-s", "web", "--json")
    assert code == 0, err
    titles = json.loads(out)["titles"]
    assert len(titles) == 10 and all(t for t in titles)


def test_k_larger_than_the_candidates_says_so(runs: Path) -> None:
    run = runs / "train/EASE"
    code, out, err = rec(str(run), "-u", first_user(run), "-s", "web", "-k", "100000", "--json")
    assert code == 0, err
    n = len(json.loads(out)["items"])
    assert 0 < n < 100000 and f"returning {n}, not 100000" in " ".join(err.split())


def test_unknown_history_items_are_reported_not_dropped_silently(runs: Path) -> None:
    run = runs / "train/EASE"
    item = json.loads((run / "vocabularies.json").read_text())["items"][0]
    code, _, err = rec(str(run), "-s", "web", "--history", f"{item}@web,nope-1,nope-2", "--json")
    assert code == 0 and "nope-1" in err and "nope-2" in err, err
    code, _, err = rec(str(run), "-s", "web", "--history", "nope-1,nope-2")
    assert code == 1 and "unknown items" in err and "nope-1" in err, err


def test_batch_mode_matches_one_query_at_a_time(runs: Path, tmp_path: Path) -> None:
    run = runs / "train/EASE"
    users = json.loads((run / "vocabularies.json").read_text())["users"][:5]
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n")
    out = tmp_path / "recs.parquet"
    code, _, err = rec(
        str(run), "--users", str(tmp_path / "users.txt"), "-s", "web", "-k", "5", "--out", str(out)
    )
    assert code == 0, err
    table = pl.read_parquet(out)
    assert table.columns == ["user_id", "rank", "item_id", "score"] and table.height == 25
    for u in users:
        code, single, _ = rec(str(run), "-u", u, "-s", "web", "-k", "5", "--json")
        batch = table.filter(pl.col("user_id") == u).sort("rank")["item_id"].to_list()
        assert batch == json.loads(single)["items"], u


def test_batch_for_all_users_with_exclude_and_candidates(runs: Path, tmp_path: Path) -> None:
    run = runs / "train/EASE"
    items = json.loads((run / "vocabularies.json").read_text())["items"]
    out = tmp_path / "recs.csv"
    code, _, err = rec(
        str(run), "--all-users", "-k", "3", "--exclude", ",".join(items[:50]), "--out", str(out)
    )
    assert code == 0, err
    table = pl.read_csv(out)
    assert table["user_id"].n_unique() == len(
        json.loads((run / "vocabularies.json").read_text())["users"]
    )
    assert not set(table["item_id"]) & set(items[:50])
    (tmp_path / "cands.txt").write_text("\n".join(items[60:70]))
    code, stdout, err = rec(
        str(run), "--all-users", "-k", "3", "--candidates", f"@{tmp_path / 'cands.txt'}"
    )
    assert code == 0, err  # no --out: CSV on stdout
    assert set(pl.read_csv(stdout.encode())["item_id"]) <= set(items[60:70])


def test_batch_with_unknown_users_needs_fallback(runs: Path, tmp_path: Path) -> None:
    run = runs / "train/EASE"
    (tmp_path / "users.csv").write_text("user_id\nghost\n" + first_user(run) + "\n")
    code, _, err = rec(str(run), "--users", str(tmp_path / "users.csv"), "-s", "web")
    assert code == 1 and "ghost" in err, err
    code, out, err = rec(
        str(run), "--users", str(tmp_path / "users.csv"), "-s", "web", "--fallback"
    )
    assert code == 0, err
    assert pl.read_csv(out.encode())["user_id"].n_unique() == 2
