"""Bots and the k-core."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

from scenerec.data.clean import BOT, KCORE, CleaningConfig, clean_events
from scenerec.schema import C
from tests.data.clean.helpers import NO_BOTS, detail_of, ev, frame


# ---------------------------------------------------------------------------------- bots
def bot_population(n_humans: int = 30, n_bots: int = 2, seed: int = 7) -> pl.DataFrame:
    """Humans act 60-90 times at 1-4 events per active minute; bots fire 400 events in
    4 minutes."""
    import random

    rng = random.Random(seed)
    rows = []
    for h in range(n_humans):
        t = 1_000_000 + h * 10
        for _ in range(rng.randint(60, 90)):
            t += rng.choice([5, 20, 40, 90, 300, 3600])
            rows.append(ev(user=f"human{h}", item=f"i{rng.randint(0, 50)}", ts=str(t)))
    for b in range(n_bots):
        t = 2_000_000 + b * 1000
        for k in range(400):
            rows.append(ev(user=f"bot{b}", item=f"i{k % 50}", ts=str(t + k * 240 // 400)))
    rng.shuffle(rows)
    return frame(rows)


def test_bots_are_caught_among_humans_and_the_threshold_is_reported() -> None:
    raw = bot_population()
    result = clean_events(raw, config=CleaningConfig())
    bots = result.report.bots
    assert bots.flagged_users == ("bot0", "bot1")
    flagged = result.quarantine.filter(pl.col(C.REASON) == BOT)
    assert Counter(flagged[C.USER_ID].to_list()) == {"bot0": 400, "bot1": 400}
    assert "events in" in flagged[C.DETAIL][0] and "cut-off" in flagged[C.DETAIL][0]
    # The reported cut-off separates the two groups' rates (events per active minute).
    rates = (
        clean_events(raw, config=NO_BOTS)
        .events.group_by(C.USER_ID)
        .agg((pl.len() / (pl.col(C.TIMESTAMP) // 60).n_unique()).alias("rate"))
    )
    is_bot = pl.col(C.USER_ID).str.starts_with("bot")
    human_max = float(rates.filter(~is_bot)["rate"].max())  # type: ignore[arg-type]
    bot_min = float(rates.filter(is_bot)["rate"].min())  # type: ignore[arg-type]
    assert bots.cutoff_events_per_minute is not None
    assert human_max < bots.cutoff_events_per_minute < bot_min
    assert bots.judged_users == 30
    assert bots.median_log_rate is not None and bots.mad_log_rate is not None
    assert json.loads(json.dumps(result.report.to_dict()))["bots"]["flagged_users"] == [
        "bot0",
        "bot1",
    ]


def test_bot_absolute_cap_and_too_few_users() -> None:
    raw = bot_population(n_humans=3, n_bots=1)
    # Four judged users are too few for the robust z rule ...
    assert clean_events(raw, config=CleaningConfig()).report.bots.flagged_users == ()
    # ... but the absolute cap still applies.
    capped = clean_events(raw, config=CleaningConfig(bot_max_events_per_minute=20))
    assert capped.report.bots.flagged_users == ("bot0",)
    assert capped.report.bots.cutoff_events_per_minute is None


def burst_population(seed: int = 0) -> pl.DataFrame:
    """The case of issue 12: 100 ordinary users (5-40 events over days), one account firing
    5,000 events within 60 seconds."""
    import random

    rng = random.Random(seed)
    rows = []
    for u in range(100):
        t = 1_700_000_000 + u * 7
        for _ in range(rng.randint(5, 40)):
            t += rng.choice([30, 120, 600, 3600, 86400])
            rows.append(ev(user=f"u{u}", item=f"i{rng.randint(0, 200)}", ts=str(t)))
    rows += [
        ev(user="burst", item=f"i{k % 200}", ts=str(1_700_100_000 + k * 60 // 5000))
        for k in range(5000)
    ]
    return frame(rows)


def test_a_burst_among_ordinary_users_is_caught_by_the_population_rule() -> None:
    no_cap = CleaningConfig(bot_max_events_in_a_minute=None)
    result = clean_events(burst_population(), config=no_cap)
    assert result.report.bots.flagged_users == ("burst",)
    assert result.report.bots.cutoff_events_per_minute is not None
    assert result.quarantine.height == 5000 and set(result.quarantine[C.REASON]) == {BOT}


def test_a_burst_is_caught_by_the_absolute_cap_on_one_minute() -> None:
    rows = [ev(user="quiet", item=f"i{k}", ts=str(1_000_000 + k // 20)) for k in range(400)]
    rows += [ev(user="quiet", item="x", ts=str(2_000_000 + 3600 * k)) for k in range(2000)]
    rows += [ev(user="human", item=f"i{k}", ts=str(1_000_000 + 30 * k)) for k in range(300)]
    result = clean_events(frame(rows), config=CleaningConfig())
    assert result.report.bots.flagged_users == ("quiet",)
    assert "events within one minute" in detail_of(result, 1)
    assert result.report.bots.max_events_in_a_minute == 300


def test_bot_detection_off() -> None:
    result = clean_events(bot_population(), config=NO_BOTS)
    assert result.quarantine.is_empty()
    assert result.report.bots.flagged_users == ()


# ---------------------------------------------------------------------------------- k-core
def reference_kcore(rows: list[tuple[str, str, str]], ku: int, ki: int, scoped: bool) -> set[int]:
    """Indices of (user, item, scenario) rows that survive, by plain repeated counting."""
    alive = set(range(len(rows)))
    while True:
        users = Counter((rows[i][0], rows[i][2] if scoped else "") for i in alive)
        items = Counter((rows[i][1], rows[i][2] if scoped else "") for i in alive)
        drop = {
            i
            for i in alive
            if users[(rows[i][0], rows[i][2] if scoped else "")] < ku
            or items[(rows[i][1], rows[i][2] if scoped else "")] < ki
        }
        if not drop:
            return alive
        alive -= drop


@pytest.mark.parametrize("scope", ["global", "scenario"])
def test_kcore_matches_a_reference(scope: str) -> None:
    import random

    rng = random.Random(3)
    triples = [
        (f"u{rng.randint(0, 14)}", f"i{rng.randint(0, 19)}", rng.choice(["app", "web"]))
        for _ in range(160)
    ]
    raw = frame(
        [ev(user=u, item=i, scenario=s, ts=str(1000 + k)) for k, (u, i, s) in enumerate(triples)]
    )
    config = NO_BOTS.model_copy(update={"kcore_users": 5, "kcore_items": 4, "kcore_scope": scope})
    result = clean_events(raw, config=config)
    survivors = reference_kcore(triples, 5, 4, scope == "scenario")
    assert set(result.events[C.ROW].to_list()) == {i + 1 for i in survivors}
    assert set(result.quarantine[C.REASON].to_list()) <= {KCORE}
    assert result.report.kcore_rounds >= 1
    assert len(survivors) < len(triples)  # the case is not trivial


def test_kcore_cascades_and_scenario_scope_keeps_other_scenarios() -> None:
    # u1 has 2 events in app and 1 in web. Per scenario with k=2, only the web one goes.
    rows = [
        ev(user="u1", item="a", ts="1"),
        ev(user="u1", item="b", ts="2"),
        ev(user="u1", item="c", ts="3", scenario="web"),
    ]
    scoped = CleaningConfig(bot_detection=False, kcore_users=2, kcore_scope="scenario")
    result = clean_events(frame(rows), config=scoped)
    assert result.events[C.ROW].to_list() == [1, 2]
    assert "in scenario 'web'" in detail_of(result, 3)
    glob = clean_events(frame(rows), config=scoped.model_copy(update={"kcore_scope": "global"}))
    assert glob.quarantine.is_empty()
    # Item k-core: items a, b have 1 event each; removing them leaves u1 with 1 (< 2): cascade.
    both = scoped.model_copy(update={"kcore_scope": "global", "kcore_items": 2})
    gone = clean_events(frame([*rows, ev(user="u2", item="c", ts="4")]), config=both)
    assert gone.events.is_empty()
    assert gone.report.kcore_rounds == 2
