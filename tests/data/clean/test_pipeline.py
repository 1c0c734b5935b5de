"""clean_events end to end: config, report, quarantine file, and the invariants (conservation,
idempotence, determinism, the bot/k-core fixed point) as Hypothesis properties."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenerec.data.clean import (
    BAD_TIMESTAMP,
    MISSING_VALUE,
    REASONS,
    CleaningConfig,
    clean_events,
    write_quarantine,
)
from scenerec.errors import ConfigError, SchemaError
from scenerec.schema import C
from tests.data.clean.helpers import EVENT_OUTPUT_SCHEMA, NO_BOTS, assert_conserved, ev, frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_quarantine_round_trips(tmp_path: Path, suffix: str) -> None:
    result = clean_events(frame([ev(), ev(ts="x"), ev(user="")]), config=NO_BOTS)
    path = write_quarantine(result, tmp_path / f"q{suffix}")
    back = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    assert back[C.ROW].cast(pl.Int64).to_list() == [2, 3]
    assert back[C.REASON].to_list() == [BAD_TIMESTAMP, MISSING_VALUE]


# ---------------------------------------------------------------------------------- config, report
def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="catalog"):
        clean_events(frame([ev()]), config=CleaningConfig(unknown_items="quarantine"))
    with pytest.raises(ConfigError, match="min_timestamp"):
        CleaningConfig.from_dict({"min_timestamp": 10, "max_timestamp": 5})
    with pytest.raises(ConfigError, match="no_such_rule"):
        CleaningConfig.from_dict({"no_such_rule": 1})
    cfg = CleaningConfig(allowed_behaviors=(" View ", "CLICK", "view"), value_range=(1, 5))
    assert cfg.allowed_behaviors == ("view", "click")
    assert CleaningConfig.from_yaml(cfg.to_yaml()) == cfg


def test_missing_required_column_and_bad_source_rows() -> None:
    with pytest.raises(SchemaError, match="scenario"):
        clean_events(frame([ev()]).drop(C.SCENARIO))
    repeated = frame([ev(), ev(ts="200")]).with_columns(pl.lit(1, pl.Int64).alias(C.ROW))
    with pytest.raises(SchemaError, match="source_row"):
        clean_events(repeated)
    # Without source_row, rows are numbered 1..n.
    numbered = clean_events(frame([ev(), ev(ts="x")]).drop(C.ROW), config=NO_BOTS)
    assert numbered.events[C.ROW].to_list() == [1]
    assert numbered.quarantine[C.ROW].to_list() == [2]


def test_report_lists_every_reason_and_renders() -> None:
    result = clean_events(frame([ev(), ev(), ev(ts="bad")]), config=NO_BOTS, file="x.csv")
    report = result.report
    assert list(report.rows_per_reason) == list(REASONS)
    assert (report.input_rows, report.output_rows, report.quarantined_rows) == (3, 1, 2)
    labels = dict(report.to_table_rows())
    assert labels["quarantined: duplicate"] == "1"
    assert "quarantined: bot" not in labels
    json.dumps(report.to_dict())
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(report)
    assert "bad_timestamp" in console.export_text()


# ---------------------------------------------------------------------------------- properties
USERS = ["u0", "u1", "u2", "u3", " u1", "", None]
ITEMS = ["i0", "i1", "i2", "i3", "i\ufffd"]
TIMESTAMPS = st.one_of(
    st.integers(0, 900).map(str),
    st.sampled_from(["abc", "", "-5", "12.0", "2024-01-02T03:04:05Z", "1970-01-01T00:05:00"]),
)
RAW_ROW = st.fixed_dictionaries(
    {
        C.USER_ID: st.sampled_from(USERS),
        C.ITEM_ID: st.sampled_from(ITEMS),
        C.SCENARIO: st.sampled_from(["app", "web"]),
        C.BEHAVIOR: st.sampled_from(["view", "click", "VIEW", "hover"]),
        C.TIMESTAMP: TIMESTAMPS,
        C.VALUE: st.sampled_from([None, "1", "2.5", "x", "nan", "9"]),
        C.QUERY: st.sampled_from([None, "", "q"]),
    }
)
CONFIGS = st.builds(
    CleaningConfig,
    near_duplicate_window_s=st.sampled_from([0, 5, 120]),
    max_timestamp=st.sampled_from([None, 700]),
    allowed_behaviors=st.sampled_from([None, ("view", "click")]),
    value_range=st.sampled_from([None, (0.0, 3.0)]),
    bot_detection=st.booleans(),
    bot_min_events=st.sampled_from([1, 3]),
    bot_min_users=st.sampled_from([1, 3]),
    bot_mad_z=st.sampled_from([0.3, 1.0, 3.0]),
    bot_max_events_per_minute=st.sampled_from([None, 2.0]),
    kcore_users=st.sampled_from([0, 2, 3]),
    kcore_items=st.sampled_from([0, 2]),
    kcore_scope=st.sampled_from(["global", "scenario"]),
)


@st.composite
def raw_events(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.lists(RAW_ROW, max_size=40))
    # Mix in exact copies of earlier rows, and copies with a small time shift.
    for _ in range(draw(st.integers(0, 8)) if rows else 0):
        src = dict(draw(st.sampled_from(rows)))
        ts = src[C.TIMESTAMP]
        if draw(st.booleans()) and ts is not None and ts.isdigit():
            src[C.TIMESTAMP] = str(int(ts) + draw(st.integers(0, 6)))
        rows.insert(draw(st.integers(0, len(rows))), src)
    return frame(rows)


PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(raw=raw_events(), config=CONFIGS)
def test_property_conservation_order_and_types(raw: pl.DataFrame, config: CleaningConfig) -> None:
    result = clean_events(raw, config=config)
    assert_conserved(raw, result)
    # Input order is kept on both sides.
    assert result.events[C.ROW].is_sorted()
    assert result.quarantine[C.ROW].is_sorted()
    assert result.events.schema == EVENT_OUTPUT_SCHEMA
    assert set(result.quarantine[C.REASON].to_list()) <= set(REASONS)
    assert result.quarantine[C.DETAIL].null_count() == 0
    counts = result.report.rows_per_reason
    assert sum(counts.values()) == result.quarantine.height
    assert result.report.output_rows == result.events.height


@PROPERTY
@given(raw=raw_events(), config=CONFIGS)
def test_property_idempotent(raw: pl.DataFrame, config: CleaningConfig) -> None:
    once = clean_events(raw, config=config)
    twice = clean_events(once.events, config=config)
    assert twice.quarantine.is_empty(), twice.quarantine.to_dicts()
    assert twice.events.equals(once.events)


@PROPERTY
@given(raw=raw_events(), config=CONFIGS)
def test_property_deterministic(raw: pl.DataFrame, config: CleaningConfig) -> None:
    a = clean_events(raw, config=config)
    b = clean_events(raw.lazy(), config=config)
    assert a.events.equals(b.events)
    assert a.quarantine.equals(b.quarantine)
    assert a.report == b.report


@st.composite
def user_bursts(draw: st.DrawFn) -> pl.DataFrame:
    """Users with very different event rates (a few events spread over hours up to many in one
    minute) over a small item set: the case where bot re-estimation and k-core interact."""
    rows = []
    for u in range(draw(st.integers(2, 12))):
        n = draw(st.integers(1, 30))
        spread = draw(st.sampled_from([1, 30, 600, 7200]))  # seconds between events
        items = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
        start = draw(st.integers(0, 10_000))
        rows += [
            ev(user=f"u{u}", item=f"i{i}", ts=str(start + k * spread // 10))
            for k, i in enumerate(items)
        ]
    return frame(rows)


BOT_KCORE_CONFIGS = st.builds(
    CleaningConfig,
    bot_min_events=st.sampled_from([1, 2, 5]),
    bot_min_users=st.sampled_from([1, 2, 4]),
    bot_mad_z=st.sampled_from([0.2, 0.5, 1.0, 2.0]),
    kcore_users=st.sampled_from([0, 2, 4]),
    kcore_items=st.sampled_from([0, 2, 4]),
    kcore_scope=st.sampled_from(["global", "scenario"]),
)


@PROPERTY
@given(raw=user_bursts(), config=BOT_KCORE_CONFIGS)
def test_property_bot_and_kcore_reach_a_fixed_point(
    raw: pl.DataFrame, config: CleaningConfig
) -> None:
    once = clean_events(raw, config=config)
    assert_conserved(raw, once)
    twice = clean_events(once.events, config=config)
    assert twice.quarantine.is_empty(), twice.quarantine.to_dicts()
    assert twice.events.equals(once.events)
    assert twice.report.bots.cutoff_events_per_minute == once.report.bots.cutoff_events_per_minute
