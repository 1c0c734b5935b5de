"""Cleaning: type raw events, reject noise and outliers, quarantine every rejected row.

``clean_events`` turns the text columns that ``scenerec.data.io.scan_events`` returns into typed
events (``scenerec.schema.EVENT_SCHEMA``) and sends every row it rejects to a quarantine table with
one reason code and a sentence naming the column and the bad value. Nothing is dropped silently:
every input ``source_row`` ends in exactly one of ``events`` and ``quarantine``.

Rules run in this fixed order; a row gets the code of the first rule that rejects it.

Row-level rules (each row judged alone, lazily, streamed):

0. ``bad_line``: a JSON Lines line that is not a JSON object (the detail quotes the line).
1. ``missing_value``: ``user_id``, ``item_id``, ``scenario``, ``behavior`` or ``timestamp`` is
   null or empty after stripping whitespace (e.g. a truncated last line).
2. ``encoding``: some field holds U+FFFD, the character a lossy UTF-8 reader puts where bytes
   were not valid UTF-8. It runs before the parsing rules because a mangled timestamp is an
   encoding problem, not a timestamp problem.
3. ``bad_timestamp``: the timestamp is neither a whole Unix time (``978300760``, also written
   ``978300760.0``; in the file's unit, see below) nor ISO-8601 (``2024-01-02T03:04:05Z``,
   ``2024-01-02 03:04:05+02:00``, ``2024-01-02T03:04``, ``2024-01-02``; fractions of a second
   are floored; no offset means UTC). Accepted values are converted to int64 seconds UTC.
4. ``bad_value``: ``value`` is present but not a finite number, or outside ``value_range``.
5. ``timestamp_out_of_range``: a numeric timestamp whose magnitude says another unit than the
   file's (seconds in a milliseconds file), or, once in seconds, outside
   ``[min_timestamp, max_timestamp]`` (by default 1970 to 2100: the year 3000 is a sentinel).
6. ``unknown_behavior``: ``behavior`` not in ``allowed_behaviors`` (by default the behaviours
   with a default weight: view, click, search, rate, like, cart, purchase); the detail names
   the closest known behaviour, and ``strict`` suggests it.
7. ``unknown_item``: ``item_id`` not in the catalog (when ``unknown_items="quarantine"``).

Global rules (judged against other rows, in memory, on the rows the row-level rules kept):

8. ``duplicate``: same ``user_id, item_id, scenario, behavior, timestamp, value, query`` as an
   earlier row (input order); the first is kept.
9. ``near_duplicate``: same ``user_id, item_id, scenario, behavior`` as the group's previous
   event (by timestamp, ties by input order) at most ``near_duplicate_window_s`` seconds
   earlier. The gap is measured to the previous event, kept or not, so a burst of repeats
   keeps only its first event.
10. ``bot``: every event of a user whose events per active minute are an outlier against the
    population, or above an absolute cap, or who fires more than ``bot_max_events_in_a_minute``
    events in one minute (see ``CleaningConfig``).
11. ``kcore``: events of users (items) with fewer than ``kcore_users`` (``kcore_items``) events.

Bot detection and k-core alternate until neither removes anything (k-core itself iterates to its
fixed point, bot detection re-estimates its cut-off after removing outliers until it flags nobody
new). That fixed point is what makes cleaning idempotent: cleaning the cleaned events again finds
the same statistics and removes nothing. An event removed by k-core in one pass keeps the code
``kcore`` even if its user is flagged as a bot in a later pass.

The unit of numeric timestamps (s, ms, us, ns) is detected per input from the median value
unless ``timestamp_unit`` sets it, converted to seconds, and reported
(``CleaningReport.timestamp_unit`` and ``timestamp_note``). ``clean_catalog`` cleans an item
catalog the same way (one row per item id).

Row-level values are normalised: ids, scenario, behaviour and query are stripped of surrounding
whitespace, behaviour is lower-cased, an empty query becomes null. The quarantine keeps the
original values as text.

Memory: the row-level rules run on a ``LazyFrame`` collected with the streaming engine, but the
collected frame holds each row's original text and typed values (about twice the in-memory size of
the parsed file), and the global rules work on the valid typed rows in memory.
"""

from __future__ import annotations

from scenerec.data.clean.catalog import CatalogResult, clean_catalog
from scenerec.data.clean.config import (
    BAD_LINE,
    BAD_TIMESTAMP,
    BAD_VALUE,
    BOT,
    DEFAULT_BEHAVIORS,
    DUPLICATE,
    ENCODING,
    GLOBAL_REASONS,
    KCORE,
    MISSING_VALUE,
    NEAR_DUPLICATE,
    REASONS,
    ROW_LEVEL_REASONS,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
    CleaningConfig,
)
from scenerec.data.clean.pipeline import clean_events, write_quarantine
from scenerec.data.clean.report import BotReport, CleaningReport, CleaningResult

__all__ = [
    "BAD_LINE",
    "BAD_TIMESTAMP",
    "BAD_VALUE",
    "BOT",
    "DEFAULT_BEHAVIORS",
    "DUPLICATE",
    "ENCODING",
    "GLOBAL_REASONS",
    "KCORE",
    "MISSING_VALUE",
    "NEAR_DUPLICATE",
    "REASONS",
    "ROW_LEVEL_REASONS",
    "TIMESTAMP_OUT_OF_RANGE",
    "UNKNOWN_BEHAVIOR",
    "UNKNOWN_ITEM",
    "BotReport",
    "CatalogResult",
    "CleaningConfig",
    "CleaningReport",
    "CleaningResult",
    "clean_catalog",
    "clean_events",
    "write_quarantine",
]
