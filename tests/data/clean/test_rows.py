"""Row-level rules: every row-level reason code, timestamps, malformed files, strict mode."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scenerec.data.clean import (
    BAD_TIMESTAMP,
    BAD_VALUE,
    DUPLICATE,
    ENCODING,
    MISSING_VALUE,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
    CleaningConfig,
    clean_events,
)
from scenerec.data.io import scan_events
from scenerec.errors import SchemaError
from scenerec.schema import EVENT_COLUMNS, C
from tests.data.clean.helpers import EVENT_OUTPUT_SCHEMA, NO_BOTS, detail_of, ev, frame, reason_of

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
