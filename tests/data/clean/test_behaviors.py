"""The behaviour vocabulary: unknown behaviours are quarantined naming the closest known one;
``strict`` stops at the first and suggests it."""

from __future__ import annotations

import pytest

from scenerec.data.clean import DEFAULT_BEHAVIORS, UNKNOWN_BEHAVIOR, CleaningConfig, clean_events
from scenerec.errors import SchemaError
from scenerec.schema import DEFAULT_BEHAVIOR_WEIGHTS
from tests.data.clean.helpers import NO_BOTS, detail_of, ev, frame, reason_of


def rows() -> list[dict[str, str | None]]:
    return [
        ev(item="i1", behavior="view"),
        ev(item="i2", behavior="share"),
        ev(item="i3", behavior="purchse"),
        ev(item="i4", behavior="Like"),
    ]


def test_the_default_vocabulary_is_the_weighted_behaviours() -> None:
    assert (
        CleaningConfig().allowed_behaviors == DEFAULT_BEHAVIORS == tuple(DEFAULT_BEHAVIOR_WEIGHTS)
    )


def test_unknown_behaviours_are_quarantined_with_the_closest_known_one() -> None:
    result = clean_events(frame(rows()), config=NO_BOTS)
    assert [reason_of(result, r) for r in (1, 2, 3, 4)] == [
        None,
        UNKNOWN_BEHAVIOR,
        UNKNOWN_BEHAVIOR,
        None,
    ]
    assert "closest known: 'purchase'" in detail_of(result, 3)
    assert "'share'" in detail_of(result, 2) and "closest" not in detail_of(result, 2)


def test_strict_fails_on_an_unknown_behaviour_and_suggests_the_closest() -> None:
    with pytest.raises(SchemaError) as err:
        clean_events(
            frame([rows()[0], rows()[2], rows()[1]]),
            config=CleaningConfig(strict=True, bot_detection=False),
        )
    msg = str(err.value)
    assert "row 2" in msg and "'behavior'" in msg and "did you mean 'purchase'?" in msg, msg


def test_the_vocabulary_is_configurable() -> None:
    cfg = NO_BOTS.model_copy(update={"allowed_behaviors": ("view", "share", "purchse")})
    result = clean_events(frame(rows()), config=cfg)
    assert [reason_of(result, r) for r in (1, 2, 3, 4)] == [None, None, None, UNKNOWN_BEHAVIOR]
    anything = NO_BOTS.model_copy(update={"allowed_behaviors": None})
    assert clean_events(frame(rows()), config=anything).events.height == 4
