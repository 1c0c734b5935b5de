"""The report compares against the strongest baseline, merges Recall and HR when they are one
number, and says where the run came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scenerec.eval.compare import strongest_baseline
from scenerec.eval.report import write_report
from scenerec.eval.report_notes import (
    TABLE_METRICS,
    baseline_sentence,
    provenance_line,
    recall_is_hit,
    table_metrics,
)
from scenerec.provenance import provenance


class Fake:
    def __init__(self, ndcg: float) -> None:
        self.ndcg = ndcg

    def summary(self) -> dict[str, dict[str, float]]:
        return {"app": {"ndcg@10": self.ndcg}, "all": {"ndcg@10": self.ndcg}}


def test_the_strongest_baseline_is_the_best_model_that_is_not_ours() -> None:
    results: Any = {"Popularity": Fake(0.1), "EASE": Fake(0.3), "Fusion": Fake(0.5)}
    assert strongest_baseline(results, "ndcg@10", ours=["Fusion"]) == "EASE"
    assert strongest_baseline(results, "ndcg@10", ours=list(results)) == "Fusion"
    assert strongest_baseline({}, "ndcg@10") is None


def summary(recall: float, hit: float) -> dict[str, dict[str, float]]:
    return {"app": {"recall@10": recall, "hit@10": hit, "ndcg@10": 0.1, "users": 5}}


def test_recall_and_hr_merge_only_when_they_are_the_same_number() -> None:
    assert recall_is_hit([summary(0.2, 0.2)], [10])
    assert table_metrics([summary(0.2, 0.2)], [10]) == (("recall", "Recall/HR"), ("ndcg", "NDCG"))
    assert not recall_is_hit([summary(0.2, 0.2), summary(0.1, 0.3)], [10])
    assert table_metrics([summary(0.1, 0.3)], [10]) == TABLE_METRICS
    assert not recall_is_hit([], [10])


def result(**extra: Any) -> dict[str, Any]:
    models = {
        label: {"model": name, "fit_seconds": 1.0, "full": summary(v, v)}
        for label, name, v in (("Pop", "popularity", 0.1), ("EASE", "ease", 0.2))
    }
    return {"config": {"name": "t", "eval": {"ks": [10]}}, "models": models, **extra}


def test_report_md_names_provenance_baseline_and_merged_column(tmp_path: Path) -> None:
    comparison = {"a": "Pop", "b": "EASE", "protocol": "full", "metric": "ndcg@10", "n": 5}
    data = result(provenance=provenance(), comparisons=[comparison])
    text = write_report(data, tmp_path).read_text()
    assert "Run with scenerec" in text and "the exact config is in results.json" in text
    assert "strongest baseline, EASE" in text
    assert "Recall/HR@10" in text and "| HR@10" not in text
    assert provenance_line({}) is None
    assert "strongest" not in baseline_sentence({"comparisons": []}, "full")
