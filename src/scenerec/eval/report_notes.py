"""What a report says around its numbers: where the run came from, which columns are one
(Recall@k = HR@k with one held-out item per user), and which baseline the paired tests use.

Shared by ``eval.report`` (report.md) and the command line's result tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

# Metrics in the main table, in order, with their display names.
TABLE_METRICS: Final = (("recall", "Recall"), ("ndcg", "NDCG"), ("hit", "HR"))

SAME_RECALL_HIT_NOTE: Final = (
    "Each test user holds out one item, so Recall@k and HR@k (hit rate) are the same number; "
    "they are shown as one column, Recall/HR@k."
)


def recall_is_hit(summaries: Iterable[Mapping[str, Any]], ks: Sequence[int]) -> bool:
    """Whether Recall@k equals HR@k in every row of ``summaries`` (scenario -> metric -> mean):
    it does when each test user holds out one item (leave-last-out)."""
    seen = False
    for summary in summaries:
        for m in summary.values():
            for k in ks:
                r, h = m.get(f"recall@{k}"), m.get(f"hit@{k}")
                if r is None or h is None:
                    return False
                if not math.isclose(float(r), float(h), rel_tol=1e-9, abs_tol=1e-12):
                    return False
                seen = True
    return seen


def table_metrics(
    summaries: Iterable[Mapping[str, Any]], ks: Sequence[int]
) -> tuple[tuple[str, str], ...]:
    """The metric columns: Recall, NDCG and HR, or "Recall/HR" and NDCG when the two are the
    same number everywhere (see ``recall_is_hit``)."""
    if recall_is_hit(list(summaries), ks):
        return (("recall", "Recall/HR"), ("ndcg", "NDCG"))
    return TABLE_METRICS


def provenance_line(result: Mapping[str, Any]) -> str | None:
    """ "Run with scenerec X (commit Y) on DATE, MACHINE", from ``result["provenance"]``."""
    p = result.get("provenance") or {}
    if not p:
        return None
    m = p.get("machine") or {}
    cpus = f"{m['cpus']} CPUs" if m.get("cpus") else None
    where = ", ".join(str(x) for x in (m.get("system"), m.get("arch"), cpus) if x)
    return (
        f"Run with scenerec {p.get('scenerec', '?')} (commit {p.get('commit') or 'unknown'}) on "
        f"{p.get('date', '?')}, {where or 'unknown machine'}; the exact config is in results.json."
    )


def baseline_sentence(result: Mapping[str, Any], protocol: str) -> str:
    """The sentence above the paired comparisons of a protocol, naming their baseline."""
    rows = [c for c in result.get("comparisons") or [] if c.get("protocol", protocol) == protocol]
    bases = {str(c.get("b")) for c in rows}
    if len(bases) != 1:
        return "Each row pairs model A with model B on the same test rows; A − B > 0: A is better."
    metric = rows[0].get("metric", "the metric")
    return (
        f"Each model is paired with the strongest baseline, {bases.pop()} (the best mean "
        f"{metric} among the models that are not scenerec's own), on the same test rows; "
        "A − B > 0 means A is better."
    )


__all__ = [
    "SAME_RECALL_HIT_NOTE",
    "TABLE_METRICS",
    "baseline_sentence",
    "provenance_line",
    "recall_is_hit",
    "table_metrics",
]
