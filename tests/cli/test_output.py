"""Tables never cut numbers; piped runs log one line per stage and epoch; other libraries'
progress bars and warnings stay quiet unless --debug."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from scenerec.cli.main import app
from scenerec.cli.output import Col, num, show
from scenerec.cli.progress import Progress, describe_epoch

ROWS = [[f"Model{i}", "scenario", *[0.012345 * (i + j) for j in range(9)]] for i in range(3)]
COLS = [Col("model"), Col("scenario"), *[Col(f"NDCG@{k}", num(4), numeric=True) for k in range(9)]]


def test_a_wide_table_on_80_columns_keeps_every_number_whole() -> None:
    buf = io.StringIO()
    show(ROWS, COLS, title="results", keys=2, target=Console(file=buf, width=80))
    text = buf.getvalue()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for row in ROWS:
        for value in row[2:]:
            assert f"{value:.4f}" in text
    assert "(1/" in text  # cut into several tables of whole columns


def test_csv_and_json_print_raw_values(capsys: pytest.CaptureFixture[str]) -> None:
    show(ROWS[:1], COLS, output="csv")
    header, line = capsys.readouterr().out.splitlines()
    assert header.startswith("model,scenario,NDCG@0") and line.split(",")[2] == "0.0"
    show(ROWS[:1], COLS, output="json")
    assert json.loads(capsys.readouterr().out)[0]["NDCG@1"] == pytest.approx(0.012345)


def test_epoch_lines_show_loss_metric_and_time_left() -> None:
    seen: dict[str, list[float]] = {}
    line = describe_epoch("fusion: epoch 1/4 loss 0.6931 metric 0.1234 (2.0s)", seen)
    assert line == "fusion: epoch 1/4, loss 0.6931, valid NDCG@10 0.1234, 2.0s/epoch, ~6s left"
    assert describe_epoch("fusion: epoch 4/4 loss 0.5 (2.0s)", seen).endswith("done")
    assert describe_epoch("something else", seen) == "something else"
    other = describe_epoch("fusion: epoch 2/4 loss 5.2 metric[log-likelihood] -5.4 (1.0s)", seen)
    assert "valid log-likelihood -5.4" in other


def test_piped_progress_is_one_line_per_stage_and_epoch() -> None:
    buf = io.StringIO()
    with Progress("experiment 'x'", target=Console(file=buf, width=100)) as progress:
        progress("fitting EASE")
        logging.getLogger("scenerec.models.nn.trainer").info(
            "%s: epoch %d/%d loss %.4f%s (%.1fs)", "fusion", 1, 3, 0.5, " metric 0.2500", 1.5
        )
        logging.getLogger("scenerec.text.cache").info(
            "embedding cache %s: %d hits, encoding %d texts", "fp", 10, 2990
        )
        progress("evaluating EASE")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 5
    assert "encoding 2,990 texts (10 from the cache)" in lines[3]
    assert "fitting EASE" in lines[1] and "epoch 1/3" in lines[2] and "~3s left" in lines[2]
    assert all(re.match(r"\[\s*\d+s\] ", ln) for ln in lines)
    assert not logging.getLogger("scenerec.models.nn.trainer").handlers  # detached afterwards


def test_experiment_piped_logs_its_stages_and_merges_recall_and_hr(tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "name: tiny\ndata: {source: synthetic, synthetic: {seed: 1, n_users: 200, n_items: 100,"
        " n_events: 4000, n_topics: 8}}\nmodels:\n  - {name: popularity, label: Pop}\n"
        "  - {name: ease, label: EASE}\neval: {ks: [10]}\n"
    )
    res = CliRunner().invoke(app, ["experiment", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.stderr
    assert "fitting EASE" in res.stderr and "evaluating EASE" in res.stderr
    assert "Recall/HR@10" in res.stdout and not re.search(r"(?<!/)HR@10", res.stdout)
    assert "…" not in res.stdout
    report = (tmp_path / "o" / "report.md").read_text()
    assert "strongest baseline, EASE" in report and "Recall/HR@10" in report
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert {"scenerec", "commit", "date", "machine"} <= set(results["provenance"])
    assert results["config"]["models"][1]["name"] == "ease"


@pytest.mark.filterwarnings("ignore:Cannot enable progress bars")
def test_third_party_progress_is_silenced_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.utils import logging as hf_logging

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    hf_logging.enable_progress_bar()
    CliRunner().invoke(app, ["--debug", "datasets", "list"])
    assert hf_logging.is_progress_bar_enabled()
    CliRunner().invoke(app, ["datasets", "list"])
    assert not hf_logging.is_progress_bar_enabled()
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    hf_logging.enable_progress_bar()
