"""The data commands as a user runs them: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from scenerec.cli.main import app

runner = CliRunner()
HEADER = "user_id,item_id,scenario,behavior,timestamp\n"
GOOD = "".join(f"u{u},i{i},app,click,{1000 + 10 * u + i}\n" for u in range(6) for i in range(6))


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines)


MALFORMED = {
    "non_numeric_timestamp": (HEADER + GOOD + "u9,i1,app,click,yesterday\n", "timestamp"),
    "truncated_last_line": (HEADER + GOOD + "u9,i1,ap", "behavior"),
    "non_utf8": ((HEADER + GOOD).encode() + b"u9,i\xff1,app,click,5\n", "item_id"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_strict_stops_with_file_row_column(case: str, tmp_path: Path) -> None:
    content, column = MALFORMED[case]
    f = tmp_path / "events.csv"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content)
    code, out, err = run("data", "clean", str(f), str(tmp_path / "out.parquet"), "--strict")
    assert code == 1
    msg = one_line(err)
    assert "events.csv" in msg and "row 37" in msg and column in msg, msg
    assert "Traceback" not in err + out
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_default_mode_quarantines_row_by_row(case: str, tmp_path: Path) -> None:
    content, _ = MALFORMED[case]
    f = tmp_path / "events.csv"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content)
    q = tmp_path / "q.parquet"
    code, _, err = run("data", "clean", str(f), str(tmp_path / "out.parquet"), "-q", str(q))
    assert code == 0, err
    kept = pl.read_parquet(tmp_path / "out.parquet")
    rejected = pl.read_parquet(q)
    assert kept.height == 36
    assert rejected["source_row"].to_list() == [37]
    assert rejected["reason"][0]


def test_missing_column_and_wrong_delimiter_fail_cleanly(tmp_path: Path) -> None:
    f = tmp_path / "events.csv"
    f.write_text("user_id,item_id,scenario,behavior\nu1,i1,app,click\n")
    code, _, err = run("data", "clean", str(f), str(tmp_path / "o.parquet"))
    assert code == 1 and "timestamp" in err and "events.csv" in err
    g = tmp_path / "semi.csv"
    g.write_text(HEADER.replace(",", ";") + "u1;i1;app;click;1\n")
    code, _, err = run("data", "clean", str(g), str(tmp_path / "o.parquet"), "--strict")
    assert code == 1 and "--sep" in err and "Traceback" not in err
    code, _, _ = run("data", "clean", str(g), str(tmp_path / "o.parquet"), "--sep", ";")
    assert code == 0


def test_missing_file_and_usage_error(tmp_path: Path) -> None:
    code, _, err = run("data", "inspect", str(tmp_path / "nope.csv"))
    assert code == 1 and "not found" in err
    code, _, _ = run("data", "clean", "--bogus-option")
    assert code == 2


def test_inspect_json(tmp_path: Path) -> None:
    f = tmp_path / "events.csv"
    f.write_text(HEADER + GOOD + "u1,i1,web,view,5000\n")
    code, out, err = run("data", "inspect", str(f), "--json")
    assert code == 0, err
    import json

    stats = json.loads(out)
    assert stats["scenarios"]["app"]["events"] == 36
    assert stats["users_in_several_scenarios"] == 1


@pytest.fixture
def cleaned(tmp_path: Path) -> Path:
    f = tmp_path / "events.csv"
    f.write_text(HEADER + GOOD + "".join(f"u{u},i{u},web,view,{900 + u}\n" for u in range(6)))
    out = tmp_path / "clean.parquet"
    code, _, err = run("data", "clean", str(f), str(out))
    assert code == 0, err
    return out


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ((), {}),
        # No --cutoff: the 90th percentile of the timestamps, as in an experiment config.
        (("--method", "temporal"), {"method": "temporal"}),
        (
            ("--method", "ratio", "--ratios", "0.5,0.5", "--order", "time"),
            {"method": "ratio", "ratios": (0.5, 0.5), "order": "time"},
        ),
        (
            ("--method", "cold-in-scenario", "--scenario", "web", "--fraction", "0.5"),
            {"method": "cold-in-scenario", "scenario": "web", "fraction": 0.5},
        ),
        (("--scenario", "app", "--valid"), {"scenario": "app", "valid": True}),
    ],
)
def test_split_makes_the_split_its_spec_makes(
    cleaned: Path, tmp_path: Path, args: tuple[str, ...], fields: dict[str, object]
) -> None:
    from scenerec.data.split import SplitSpec

    out = tmp_path / "parts"
    code, _, err = run("data", "split", str(cleaned), str(out), *args)
    assert code == 0, err
    expected = SplitSpec.from_dict(fields).apply(pl.read_parquet(cleaned))
    for name in ("train", "valid", "test"):
        part = getattr(expected, name)
        path = out / f"{name}.parquet"
        assert path.exists() == (part is not None), name
        if part is not None:
            assert pl.read_parquet(path).equals(part), name


@pytest.mark.parametrize(
    "args",
    [
        ("--method", "cold-in-scenario"),  # needs --scenario
        ("--method", "predefined"),  # only a public release ships a split
        ("--method", "ratio", "--ratios", "0.8,x"),
        ("--method", "ratio", "--ratios", "0.8,0.1,0.05,0.05"),
        ("--order", "shuffled"),
        ("--fraction", "2"),
    ],
)
def test_split_usage_errors_exit_2(cleaned: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    code, out, err = run("data", "split", str(cleaned), str(tmp_path / "parts"), *args)
    assert code == 2, err
    assert "Traceback" not in err + out
    assert not (tmp_path / "parts").exists()


def test_split_of_raw_text_events_asks_to_clean_first(tmp_path: Path) -> None:
    f = tmp_path / "events.csv"
    f.write_text(HEADER + GOOD)
    for method in ("temporal", "leave-last-out"):
        code, out, err = run("data", "split", str(f), str(tmp_path / "parts"), "-m", method)
        assert code == 1 and "integer seconds" in err and "clean" in err, err
        assert "Traceback" not in err + out


# ---------------------------------------------------------------------------------- issue 12
def write_events(path: Path, extra: str = "") -> Path:
    path.write_text(HEADER + GOOD + extra)
    return path


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotdot"])
def test_clean_never_writes_over_its_input(tmp_path: Path, how: str) -> None:
    src = write_events(tmp_path / "events.csv")
    before = src.read_bytes()
    out = {
        "same": src,
        "symlink": tmp_path / "alias.csv",
        "hardlink": tmp_path / "hard.csv",
        "dotdot": tmp_path / "sub" / ".." / "events.csv",
    }[how]
    if how == "symlink":
        out.symlink_to(src)
    elif how == "hardlink":
        out.hardlink_to(src)
    code, _, err = run("data", "clean", str(src), str(out))
    assert code == 1 and "would overwrite the input" in one_line(err), err
    assert src.read_bytes() == before
    code, _, err = run("data", "clean", str(src), str(tmp_path / "c.parquet"), "-q", str(src))
    assert code == 1 and src.read_bytes() == before


def test_compressed_inputs_and_a_folder_of_events_and_catalog(tmp_path: Path) -> None:
    import gzip

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "events.csv.gz").write_bytes(gzip.compress((HEADER + GOOD).encode()))
    (folder / "items.csv").write_text("item_id,title\n" + "".join(f"i{i},T{i}\n" for i in range(6)))
    code, out, err = run("data", "inspect", str(folder), "--json")
    assert code == 0, err
    import json

    stats = json.loads(out)
    assert stats["overall"]["events"] == 36 and stats["catalog_items"] == 6
    code, _, err = run("data", "clean", str(folder / "events.csv.gz"), str(tmp_path / "c.parquet"))
    assert code == 0, err
    assert pl.read_parquet(tmp_path / "c.parquet").height == 36


def test_a_catalog_on_its_own_is_recognised(tmp_path: Path) -> None:
    cat = tmp_path / "items.csv"
    cat.write_text("item_id,title\ni1,Boots\ni2,Tent\ni1,Again\n")
    code, out, err = run("data", "inspect", str(cat))
    assert code == 0, err
    assert "2 items" in out and "title" in out
    code, _, err = run("data", "clean", str(cat), str(tmp_path / "cat.parquet"))
    assert code == 0, err
    assert pl.read_parquet(tmp_path / "cat.parquet")["item_id"].to_list() == ["i1", "i2"]
    assert pl.read_parquet(tmp_path / "cat.quarantine.parquet")["reason"].to_list() == ["duplicate"]


JSONL_GOOD = (
    '{"user_id": "u1", "item_id": "i1", "scenario": "app", "behavior": "click", "timestamp": 5}'
)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "the file is empty"),
        (JSONL_GOOD + "\n{broken\n", "row 2: not valid JSON"),
        (
            JSONL_GOOD + "\n" + JSONL_GOOD.replace('"timestamp": 5', '"timestamp": {"t": 5}'),
            "row 2, column 'timestamp'",
        ),
    ],
)
def test_input_problems_are_one_line_never_internal_errors(
    tmp_path: Path, content: str, words: str
) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text(content)
    for cmd in ("inspect", "clean"):
        args = ["data", cmd, str(f)] + (
            [str(tmp_path / "o.parquet"), "--strict"] if cmd == "clean" else []
        )
        code, out, err = run(*args)
        if cmd == "inspect" and content:
            assert code == 0, err  # default rules quarantine the line
            continue
        assert code == 1, (cmd, err)
        assert words in one_line(err) and "events.jsonl" in err, err
        assert "internal error" not in err and "Traceback" not in err + out


def test_one_bad_json_line_is_quarantined_not_the_file(tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join([JSONL_GOOD, "{broken", JSONL_GOOD.replace("u1", "u2")]) + "\n")
    code, _, err = run(
        "data", "clean", str(f), str(tmp_path / "o.parquet"), "-q", str(tmp_path / "q.csv")
    )
    assert code == 0, err
    assert pl.read_parquet(tmp_path / "o.parquet").height == 2
    q = pl.read_csv(tmp_path / "q.csv")
    assert q["source_row"].to_list() == [2] and q["reason"].to_list() == ["bad_line"]


def test_units_and_behaviours_are_reported_and_strict_suggests(tmp_path: Path) -> None:
    ms = "".join(
        f"u{u},i{i},app,click,{(1_700_000_000 + 60 * (6 * u + i)) * 1000}\n"
        for u in range(6)
        for i in range(6)
    )
    f = tmp_path / "events.csv"
    f.write_text(HEADER + ms + "u1,i1,app,purchse,1700000000000\n")
    code, out, err = run("data", "clean", str(f), str(tmp_path / "o.parquet"))
    assert code == 0, err
    assert "milliseconds" in out and "unknown_behavior" in out
    code, _, err = run("data", "clean", str(f), str(tmp_path / "o.parquet"), "--strict")
    assert code == 1 and "row 37" in err and "did you mean 'purchase'" in one_line(err), err
