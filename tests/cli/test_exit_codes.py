"""One exit-code convention for every command: 0 done, 1 bad input (one line, no traceback),
2 usage mistake (click's usage message)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from scenerec.cli.main import app

runner = CliRunner()


def leaf_commands() -> list[tuple[str, ...]]:
    """Every command path of the CLI, e.g. ("data", "clean")."""
    out: list[tuple[str, ...]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            out.append(path)

    walk(typer.main.get_command(app), ())
    return out


# Bad input (a missing or unusable file, an unknown name): exit 1 with one line.
BAD_INPUT: dict[tuple[str, ...], list[str]] = {
    ("data", "inspect"): ["{tmp}/absent.csv"],
    ("data", "clean"): ["{tmp}/absent.csv", "{tmp}/out.parquet"],
    ("data", "split"): ["{tmp}/absent.parquet", "{tmp}/parts"],
    ("datasets", "fetch"): ["no-such-dataset", "--dest", "{tmp}/d"],
    ("datasets", "sample"): ["{tmp}/existing"],
    ("demo",): ["--out", "{tmp}/a-file"],
    ("experiment",): ["{tmp}/absent.yaml"],
    ("train",): ["{tmp}/absent.yaml"],
    ("tune",): ["{tmp}/absent.yaml"],
    ("recommend",): ["{tmp}/no-run", "--user", "u1"],
    ("encode",): ["{tmp}/absent.csv", "--out", "{tmp}/e.parquet", "--backend", "hashing"],
    ("similar-items",): ["{tmp}/absent.csv", "boots", "--backend", "hashing"],
}
# Commands that take no input to get wrong.
NO_INPUT = {("datasets", "list")}
# Commands other modules own; they are checked for usage errors only.
OTHERS = {("serve",), ("replay",)}


def test_every_command_is_covered() -> None:
    missing = set(leaf_commands()) - set(BAD_INPUT) - NO_INPUT - OTHERS
    assert not missing, f"add a bad-input case for {sorted(missing)}"


@pytest.mark.parametrize("path", leaf_commands(), ids=" ".join)
def test_an_unknown_option_is_a_usage_error(path: tuple[str, ...]) -> None:
    res = runner.invoke(app, [*path, "--no-such-option"])
    assert res.exit_code == 2, res.output
    assert "No such option" in res.stderr


@pytest.mark.parametrize("path", sorted(BAD_INPUT), ids=" ".join)
def test_bad_input_exits_1_with_one_line(path: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "events.csv").write_text("x")
    (tmp_path / "a-file").write_text("x")
    args = [a.format(tmp=tmp_path) for a in BAD_INPUT[path]]
    res = runner.invoke(app, [*path, *args])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "some-run", "--user", "u1", "-k", "0"],
        ["similar-items", "items.csv", "boots", "-k", "0"],
        ["recommend", "some-run"],  # neither --user, --history nor a batch option
        ["recommend", "some-run", "--user", "u1", "--out", "x.parquet"],
        ["demo", "--set", "no-equals-sign"],
        ["demo", "--set", "models.99.params.x=1"],
        ["data", "inspect", "x.csv", "--output-format", "xml"],
        ["datasets", "sample", "d", "--users", "1"],
    ],
)
def test_the_same_mistake_is_a_usage_error_everywhere(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
