"""The README tour, run as written, in order, from a fresh folder.

The commands are read from README.md itself; the only additions are options that make the data
small and training short (``SMALL``), so that the tour runs in a test. The Python snippet of the
README runs afterwards on the files the commands wrote.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from scenerec.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SETS = [
    "data.synthetic.n_users=300",
    "data.synthetic.n_items=200",
    "data.synthetic.n_events=8000",
    "encoder.backend=hashing",  # the language model is exercised by encode / similar-items
]
# the flagship's sequence generator (the 5th) trains one epoch
FLAGSHIP_SHORT = "models.{}.params.generators.4.params.train.epochs=1"
SMALL: dict[str, list[str]] = {
    "demo": [
        x
        for s in [*SETS, "models.4.params.train.epochs=1", *FLAGSHIP_SHORT.format(5).split()]
        for x in ("--set", s)
    ],
    "datasets sample": ["--users", "300", "--items", "200", "--events", "8000"],
    "experiment": [
        x
        for s in [
            *SETS,
            "models.3.params.train.epochs=1",
            "models.4.params.train.epochs=1",
            *FLAGSHIP_SHORT.format(5).split(),
        ]
        for x in ("--set", s)
    ],
    "train": [
        x
        for s in [
            *SETS,
            "models.3.params.train.epochs=1",
            "models.4.params.train.epochs=1",
            *FLAGSHIP_SHORT.format(5).split(),
        ]
        for x in ("--set", s)
    ],
}


def block(heading: str, lang: str) -> str:
    """The first ``lang`` code block after ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(heading)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert m is not None, f"no {lang} block after {heading!r}"
    return m.group(1)


def tour_commands() -> list[list[str]]:
    out = []
    for line in block("### The command line", "bash").splitlines():
        args = shlex.split(line, comments=True)
        if not args or args[0] == "source":
            continue
        assert args[0] == "scenerec", line
        out.append(args[1:])
    return out


def small(args: list[str]) -> list[str]:
    for key in (" ".join(args[:2]), args[0]):
        if key in SMALL:
            return [*args, *SMALL[key]]
    return args


def test_the_readme_lists_the_tour() -> None:
    names = {" ".join(a[:2]) if a[0] in ("data", "datasets") else a[0] for a in tour_commands()}
    assert {"demo", "datasets sample", "data clean", "experiment", "train", "recommend"} <= names


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCENEREC_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    outputs = {}
    for args in tour_commands():
        res = runner.invoke(app, small(args))
        assert res.exit_code == 0, f"scenerec {' '.join(args)}\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr and "internal error" not in res.stderr
        outputs[" ".join(args)] = res.stdout
    results = json.loads((tmp_path / "out/sample/results.json").read_text())
    assert set(results["models"]) == {
        "Popularity",
        "ItemKNN",
        "EASE",
        "ScenarioFusion",
        "CrossScenarioTransformer",
        "CrossScenarioRanker",
    }
    assert results["provenance"]["scenerec"] and results["provenance"]["date"]
    single = next(v for k, v in outputs.items() if "--user u0100" in k)
    assert "title" in single and "Category" not in single  # titles shown, from the run's catalog
    recs = pl.read_parquet(tmp_path / "recs.parquet")
    assert recs.columns == ["user_id", "rank", "item_id", "score"] and recs.height > 0
    snippet = block("### The Python API", "python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    assert "Ranked(item_ids=" in printed.getvalue()
