"""The shoppers: queries, cross-scenario signal and drifting interests."""

from __future__ import annotations

import numpy as np
import polars as pl

from scenerec.data.synthetic import SyntheticConfig, generate, tiny
from scenerec.schema import C
from tests.data.synthetic.helpers import clean_typed, hist_matrix, tiny_data, topic_hist


def test_queries_describe_the_item_clicked() -> None:
    data = tiny_data()
    titles = dict(data.catalog.select(C.ITEM_ID, C.TITLE).iter_rows())
    search = data.events.filter(pl.col(C.BEHAVIOR) == "search")
    assert search.height > 0 and search[C.QUERY].null_count() == 0
    assert data.events.filter(pl.col(C.BEHAVIOR) != "search")[C.QUERY].null_count() == (
        data.events.height - search.height
    )
    items = list(titles)
    rng = np.random.default_rng(0)
    hit, random_hit, n = 0, 0, 0
    for item, query in search.select(C.ITEM_ID, C.QUERY).drop_nulls().iter_rows():
        if titles.get(item) is None:
            continue
        q = set(query.split())
        n += 1
        hit += bool(q & set(titles[item].lower().split()))
        other = titles[items[rng.integers(0, len(items))]] or ""
        random_hit += bool(q & set(other.lower().split()))
    assert hit / n > 0.8
    assert random_hit / n < 0.3


def test_behaviour_in_one_scenario_predicts_another() -> None:
    data = tiny_data()
    ev = clean_typed(data).filter(~pl.col(C.USER_ID).is_in(data.truth["bots"]))
    topics = data.truth["topics"]
    users = sorted(
        set(ev.filter(pl.col(C.SCENARIO) == "app")[C.USER_ID])
        & set(ev.filter(pl.col(C.SCENARIO) == "web")[C.USER_ID])
    )
    assert len(users) > 50
    app = hist_matrix(
        topic_hist(ev.filter(pl.col(C.SCENARIO) == "app"), data.truth["item_topic"], topics),
        users,
        len(topics),
    )
    web = hist_matrix(
        topic_hist(ev.filter(pl.col(C.SCENARIO) == "web"), data.truth["item_topic"], topics),
        users,
        len(topics),
    )
    same = (app * web).sum(axis=1).mean()
    shuffled = (app * web[np.random.default_rng(0).permutation(len(users))]).sum(axis=1).mean()
    assert same > shuffled + 0.3


def test_interests_drift_from_start_to_end_mixture() -> None:
    cfg = SyntheticConfig.model_validate({**tiny().model_dump(), "drift": 0.9})
    data = generate(cfg)
    truth = data.truth
    ev = clean_typed(data).filter(~pl.col(C.USER_ID).is_in(truth["bots"]))
    lo, hi = truth["time_span"]
    third = (hi - lo) // 3
    early = ev.filter(pl.col(C.TIMESTAMP) < lo + third)
    late = ev.filter(pl.col(C.TIMESTAMP) >= hi - third)
    users = truth["user_ids"]
    n_t = len(truth["topics"])
    e = hist_matrix(topic_hist(early, truth["item_topic"], truth["topics"]), users, n_t)
    la = hist_matrix(topic_hist(late, truth["item_topic"], truth["topics"]), users, n_t)
    both = (np.linalg.norm(e, axis=1) > 0) & (np.linalg.norm(la, axis=1) > 0)
    assert both.sum() > 50

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        b = b[both] / np.linalg.norm(b[both], axis=1, keepdims=True)
        return float((a[both] * b).sum(axis=1).mean())

    start, end = truth["mixture_start"], truth["mixture_end"]
    assert cos(e, start) > cos(e, end) + 0.2
    assert cos(la, end) > cos(la, start) + 0.2


def test_newcomers_end_with_a_first_visit_and_are_cold_in_that_scenario() -> None:
    from scenerec.data.split import leave_last_out

    base = tiny_data()
    data = generate(tiny().model_copy(update={"newcomer_fraction": 0.5}))
    newcomers = data.truth["newcomers"]
    eligible = [
        u for u, s in base.truth["user_scenarios"].items() if len(s) < len(tiny().scenarios)
    ]
    assert 0.3 * len(eligible) < len(newcomers) <= 0.5 * len(eligible) + 1
    ev = clean_typed(data)
    kept = []
    for user, scenario in newcomers.items():
        assert scenario not in data.truth["user_scenarios"][user]
        mine = ev.filter(pl.col(C.USER_ID) == user).sort(C.TIMESTAMP)
        in_new = mine.filter(pl.col(C.SCENARIO) == scenario)
        if in_new.height == 0:  # its one row was corrupted into quarantine
            continue
        assert in_new.height == 1 and mine[C.SCENARIO][-1] == scenario
        assert in_new[C.TIMESTAMP][0] > mine[C.TIMESTAMP][-2]
        kept.append(user)
    assert len(kept) >= 0.9 * len(newcomers)
    # Leave-last-out tests each newcomer on the first visit, with nothing of theirs in that
    # scenario in training: users cold in the target.
    split = leave_last_out(ev.filter(pl.col(C.TIMESTAMP).is_not_null()), scenario=None)
    test = split.test.filter(pl.col(C.USER_ID).is_in(kept))
    assert dict(test.select(C.USER_ID, C.SCENARIO).iter_rows()) == {u: newcomers[u] for u in kept}
    train = split.train.join(test.select(C.USER_ID, C.SCENARIO), on=[C.USER_ID, C.SCENARIO])
    assert train.height == 0


def test_without_newcomers_the_data_are_unchanged() -> None:
    data = generate(tiny().model_copy(update={"newcomer_fraction": 0.0}))
    assert data.truth["newcomers"] == {}
    assert data.events.equals(tiny_data().events)
