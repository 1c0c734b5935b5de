"""A small experiment config shared by the command-line tests."""

from __future__ import annotations

TINY_DATA = "{seed: 1, n_users: 300, n_items: 200, n_events: 8000, n_topics: 12}"


def tiny_config(
    models: str, eval_: str = "{ks: [5, 10], protocols: [full, sampled], n_negatives: 50}"
) -> str:
    """YAML of an experiment on a small sample platform with the given ``models:`` entries."""
    return (
        f"name: tiny\ndata:\n  source: synthetic\n  synthetic: {TINY_DATA}\n"
        f"split: {{method: leave-last-out}}\nmodels:\n{models}\neval: {eval_}\n"
    )
