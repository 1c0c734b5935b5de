"""Tests for scenerec.data.clean: every reason code, malformed files end to end, bots, k-core,
and the invariants (conservation, idempotence, determinism) as Hypothesis properties."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenerec.data.clean import (
    BAD_TIMESTAMP,
    BAD_VALUE,
    BOT,
    DUPLICATE,
    ENCODING,
    KCORE,
    MISSING_VALUE,
    NEAR_DUPLICATE,
    REASONS,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
    CleaningConfig,
    CleaningResult,
    clean_events,
    write_quarantine,
)
from scenerec.data.io import scan_events
from scenerec.errors import ConfigError, DataWarning, SchemaError
from scenerec.schema import EVENT_COLUMNS, EVENT_SCHEMA, C

# Small frames would never reach the default bot thresholds; tests that are not about bots
# turn detection off so that what they check cannot be confused with it.
NO_BOTS = CleaningConfig(bot_detection=False)
EVENT_OUTPUT_SCHEMA = pl.Schema([(C.ROW, pl.Int64()), *EVENT_SCHEMA.items()])


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Raw text events (what scan_events yields for a CSV), source_row 1..n."""
    cols = {c: [r.get(c) for r in rows] for c in EVENT_COLUMNS}
    return (
        pl.DataFrame(cols, schema=dict.fromkeys(EVENT_COLUMNS, pl.String))
        .with_row_index(C.ROW, offset=1)
        .with_columns(pl.col(C.ROW).cast(pl.Int64))
    )


def ev(
    user: str | None = "u1", item: str = "i1", ts: str | None = "100", **kw: Any
) -> dict[str, Any]:
    row = {C.USER_ID: user, C.ITEM_ID: item, C.SCENARIO: "app", C.BEHAVIOR: "view"}
    row[C.TIMESTAMP] = ts
    row.update(kw)
    return row


def reason_of(result: CleaningResult, row: int) -> str | None:
    q = result.quarantine.filter(pl.col(C.ROW) == row)
    return None if q.is_empty() else q[C.REASON].item()


def detail_of(result: CleaningResult, row: int) -> str:
    return str(result.quarantine.filter(pl.col(C.ROW) == row)[C.DETAIL].item())


def assert_conserved(raw: pl.DataFrame, result: CleaningResult) -> None:
    kept = result.events[C.ROW].to_list()
    quarantined = result.quarantine[C.ROW].to_list()
    assert not set(kept) & set(quarantined)
    assert sorted(kept + quarantined) == sorted(raw[C.ROW].to_list())


# ---------------------------------------------------------------------------------- each reason
REASON_CASES: list[tuple[str, dict[str, Any], CleaningConfig, str]] = [
    (MISSING_VALUE, ev(user="  "), NO_BOTS, C.USER_ID),
    (MISSING_VALUE, ev(ts=None), NO_BOTS, C.TIMESTAMP),
    (ENCODING, ev(item="caf\ufffd"), NO_BOTS, C.ITEM_ID),
    (ENCODING, ev(query="r\ufffdsum\ufffd"), NO_BOTS, C.QUERY),
    (BAD_TIMESTAMP, ev(ts="abc"), NO_BOTS, C.TIMESTAMP),
    (BAD_TIMESTAMP, ev(ts="100.5"), NO_BOTS, C.TIMESTAMP),
    (BAD_TIMESTAMP, ev(ts="2024-02-30"), NO_BOTS, C.TIMESTAMP),
    (BAD_VALUE, ev(value="five"), NO_BOTS, C.VALUE),
    (BAD_VALUE, ev(value="nan"), NO_BOTS, C.VALUE),
    (
        BAD_VALUE,
        ev(value="7"),
        CleaningConfig(bot_detection=False, value_range=(1.0, 5.0)),
        C.VALUE,
    ),
    (TIMESTAMP_OUT_OF_RANGE, ev(ts="-1"), NO_BOTS, C.TIMESTAMP),
    (
        TIMESTAMP_OUT_OF_RANGE,
        ev(ts="5000"),
        CleaningConfig(bot_detection=False, max_timestamp=4000),
        C.TIMESTAMP,
    ),
    (
        UNKNOWN_BEHAVIOR,
        ev(behavior="hover"),
        CleaningConfig(bot_detection=False, allowed_behaviors=("View", "click")),
        C.BEHAVIOR,
    ),
    (
        UNKNOWN_ITEM,
        ev(item="ghost"),
        CleaningConfig(bot_detection=False, unknown_items="quarantine"),
        C.ITEM_ID,
    ),
]


@pytest.mark.parametrize(("reason", "bad", "config", "column"), REASON_CASES)
def test_row_level_reason(
    reason: str, bad: dict[str, Any], config: CleaningConfig, column: str
) -> None:
    good = ev(user="u9", item="i1", ts="50", value="3")
    raw = frame([good, bad, good | {C.TIMESTAMP: "60"}])
    catalog = pl.DataFrame({C.ITEM_ID: ["i1", "i2"]})
    result = clean_events(raw, config=config, catalog=catalog)

    assert reason_of(result, 2) == reason
    assert result.events[C.ROW].to_list() == [1, 3]
    detail = detail_of(result, 2)
    assert column in detail
    value = bad.get(column)
    if value is not None and value.strip():
        assert repr(value) in detail  # the bad value is named as the user wrote it
    # The quarantine keeps the row as it was written, as text.
    row = result.quarantine.row(0, named=True)
    assert {c: row[c] for c in EVENT_COLUMNS} == {c: bad.get(c) for c in EVENT_COLUMNS}
    assert result.report.rows_per_reason[reason] == 1


def test_first_failing_rule_wins() -> None:
    # Broken three ways: encoding (rule 2) beats bad timestamp (3) and bad value (4).
    raw = frame([ev(item="x\ufffd", ts="abc", value="?"), ev(user="", ts="abc")])
    result = clean_events(raw, config=NO_BOTS)
    assert reason_of(result, 1) == ENCODING
    assert reason_of(result, 2) == MISSING_VALUE


def test_exact_duplicate_keeps_first_and_names_it() -> None:
    a = ev(value="4", query="q")
    raw = frame([a, ev(item="i2"), a, a | {C.QUERY: "other"}, a | {C.USER_ID: " u1 "}])
    result = clean_events(raw, config=NO_BOTS)
    # Row 5 equals row 1 once whitespace is stripped; row 4 differs in the query.
    assert [reason_of(result, r) for r in range(1, 6)] == [None, None, DUPLICATE, None, DUPLICATE]
    assert "source_row 1" in detail_of(result, 3)


def test_near_duplicates_collapse_a_burst_to_its_first_event() -> None:
    raw = frame(
        [
            ev(ts="100"),
            ev(ts="105"),
            ev(ts="112"),  # 7 s after the previous one: still the same burst
            ev(ts="130"),  # 18 s gap: a new event
            ev(ts="140"),  # exactly the window: still a repeat
            ev(ts="101", behavior="click"),  # another behaviour is not a repeat
            ev(ts="102", item="i2"),
        ]
    )
    result = clean_events(raw, config=NO_BOTS.model_copy(update={"near_duplicate_window_s": 10}))
    assert [reason_of(result, r) for r in range(1, 8)] == [
        None,
        NEAR_DUPLICATE,
        NEAR_DUPLICATE,
        None,
        NEAR_DUPLICATE,
        None,
        None,
    ]
    assert "source_row 2" in detail_of(result, 3)
    off = clean_events(raw, config=NO_BOTS)
    assert off.quarantine.is_empty()


def test_near_duplicate_order_is_by_time_not_by_row() -> None:
    # The later row is the earlier event: it is kept, the other is the repeat.
    raw = frame([ev(ts="200"), ev(ts="195")])
    result = clean_events(raw, config=NO_BOTS.model_copy(update={"near_duplicate_window_s": 10}))
    assert result.events[C.ROW].to_list() == [2]
    assert reason_of(result, 1) == NEAR_DUPLICATE


# ---------------------------------------------------------------------------------- timestamps
def test_iso_timestamps_are_accepted_as_utc_seconds() -> None:
    texts = {
        "2024-01-02T03:04:05Z": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "2024-01-02 03:04:05": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "2024-01-02T03:04:05.750+02:00": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        - timedelta(hours=2),
        "2024-01-02T03:04-0130": datetime(2024, 1, 2, 3, 4, tzinfo=UTC) + timedelta(hours=1.5),
        "2024-01-02": datetime.combine(date(2024, 1, 2), datetime.min.time(), tzinfo=UTC),
        "978300760": datetime.fromtimestamp(978300760, tz=UTC),
        " 978300761.0 ": datetime.fromtimestamp(978300761, tz=UTC),
    }
    raw = frame([ev(item=f"i{k}", ts=t) for k, t in enumerate(texts)])
    result = clean_events(raw, config=NO_BOTS)
    assert result.quarantine.is_empty()
    expected = [int(d.timestamp()) for d in texts.values()]
    assert result.events[C.TIMESTAMP].to_list() == expected


def test_typed_input_columns_are_accepted() -> None:
    # Parquet/JSONL may arrive typed: integer ids, datetime timestamps, float values.
    when = datetime(2023, 5, 6, 7, 8, 9)
    raw = pl.DataFrame(
        {
            C.USER_ID: [1, 2],
            C.ITEM_ID: [10, 11],
            C.SCENARIO: ["app", "web"],
            C.BEHAVIOR: ["VIEW", "click"],
            C.TIMESTAMP: [when, when],
            C.VALUE: [1.5, float("inf")],
        }
    )
    result = clean_events(raw, config=NO_BOTS)
    assert result.events.schema == EVENT_OUTPUT_SCHEMA
    assert result.events.row(0) == (
        1,
        "1",
        "10",
        "app",
        "view",
        int(when.replace(tzinfo=UTC).timestamp()),
        1.5,
        None,
    )
    assert reason_of(result, 2) == BAD_VALUE


def test_millisecond_timestamps_warn_or_are_rejected() -> None:
    raw = frame([ev(ts="1700000000000"), ev(ts="1700000000")])
    with pytest.warns(DataWarning, match="milliseconds"):
        clean_events(raw, config=NO_BOTS)
    bounded = NO_BOTS.model_copy(update={"max_timestamp": 4_102_444_800})  # 2100-01-01
    result = clean_events(raw, config=bounded)
    assert reason_of(result, 1) == TIMESTAMP_OUT_OF_RANGE
    assert result.events[C.ROW].to_list() == [2]


# ---------------------------------------------------------------------------------- files
def write_csv(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines))
    return path


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "events.csv",
        [
            b"user_id,item_id,scenario,behavior,timestamp,value",
            b"u1,i1,app,view,100,1",
            b"u1,i2,app,view,abc,1",  # row 2: non-numeric timestamp
            b"u2,i1,web,click,2024-01-02T03:04:05Z,",  # row 3: ISO, fine
            b"u2,caf\xe9,web,view,300,2",  # row 4: Latin-1 byte, not UTF-8
            b"u3,i1,app,view,400,5",
            b"u3,i2,app",  # row 6: truncated last line
        ],
    )


def test_malformed_csv_rows_are_quarantined_row_by_row(messy_csv: Path) -> None:
    result = clean_events(scan_events(messy_csv), config=NO_BOTS, file=messy_csv)
    reasons = dict(result.quarantine.select(C.ROW, C.REASON).iter_rows())
    assert reasons == {2: BAD_TIMESTAMP, 4: ENCODING, 6: MISSING_VALUE}
    assert result.events[C.ROW].to_list() == [1, 3, 5]
    assert detail_of(result, 6).startswith(C.BEHAVIOR)  # the first missing column is named
    assert result.report.input_rows == 6
    assert result.report.file == str(messy_csv)


def test_strict_raises_on_the_first_bad_row(messy_csv: Path) -> None:
    strict = NO_BOTS.model_copy(update={"strict": True})
    with pytest.raises(SchemaError) as info:
        clean_events(scan_events(messy_csv), config=strict, file=messy_csv)
    err = info.value
    assert (err.row, err.column, err.value) == (2, C.TIMESTAMP, "abc")
    text = str(err)
    for part in (str(messy_csv), "row 2", "'timestamp'", "abc", "Fix:"):
        assert part in text


def test_strict_names_the_encoding_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "e.csv",
        [b"user_id,item_id,scenario,behavior,timestamp", b"u1,i1,app,view,1", b"u\xff,i1,a,v,2"],
    )
    with pytest.raises(SchemaError, match=r"row 2, column 'user_id'"):
        clean_events(scan_events(path), config=CleaningConfig(strict=True), file=path)


def test_strict_does_not_raise_for_global_rules() -> None:
    raw = frame([ev(), ev()])
    result = clean_events(raw, config=CleaningConfig(strict=True))
    assert reason_of(result, 2) == DUPLICATE


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_quarantine_round_trips(tmp_path: Path, suffix: str) -> None:
    result = clean_events(frame([ev(), ev(ts="x"), ev(user="")]), config=NO_BOTS)
    path = write_quarantine(result, tmp_path / f"q{suffix}")
    back = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    assert back[C.ROW].cast(pl.Int64).to_list() == [2, 3]
    assert back[C.REASON].to_list() == [BAD_TIMESTAMP, MISSING_VALUE]


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
