"""What cleaning rejects: the reason codes, the fix for each row-level one, the config."""

from __future__ import annotations

import math
from typing import Final, Literal

from pydantic import field_validator, model_validator

from scenerec.config import FrozenConfig
from scenerec.schema import DEFAULT_BEHAVIOR_WEIGHTS

#: The behaviours accepted by default: those with a default weight (``schema``).
DEFAULT_BEHAVIORS: Final = tuple(DEFAULT_BEHAVIOR_WEIGHTS)
#: 2100-01-01T00:00:00Z: later timestamps are taken for a wrong unit or a sentinel.
DEFAULT_MAX_TIMESTAMP: Final = 4_102_444_800
TimestampUnit = Literal["auto", "s", "ms", "us", "ns"]

# ---------------------------------------------------------------------------------- reason codes
BAD_LINE: Final = "bad_line"
"""A JSON Lines line that is not a JSON object (invalid JSON, or an array or a number)."""
MISSING_VALUE: Final = "missing_value"
"""A required field (user_id, item_id, scenario, behavior, timestamp) is null or empty."""
ENCODING: Final = "encoding"
"""A field holds U+FFFD: the file had bytes that are not valid UTF-8."""
BAD_TIMESTAMP: Final = "bad_timestamp"
"""The timestamp is neither a whole Unix time (in the file's unit) nor ISO-8601."""
BAD_VALUE: Final = "bad_value"
"""``value`` is not a finite number or lies outside ``value_range``."""
TIMESTAMP_OUT_OF_RANGE: Final = "timestamp_out_of_range"
"""The timestamp lies outside ``[min_timestamp, max_timestamp]`` once converted to seconds, or
its magnitude says another unit than the rest of the file (seconds in a milliseconds file)."""
UNKNOWN_BEHAVIOR: Final = "unknown_behavior"
"""The behaviour is not in ``allowed_behaviors`` (the detail names the closest known one)."""
UNKNOWN_ITEM: Final = "unknown_item"
"""The item is not in the catalog (only with ``unknown_items="quarantine"``)."""
DUPLICATE: Final = "duplicate"
"""An exact copy of an earlier row (all event columns equal)."""
NEAR_DUPLICATE: Final = "near_duplicate"
"""A repeat of the same user, item, scenario and behaviour within the near-duplicate window."""
BOT: Final = "bot"
"""An event of a user whose event rate is an outlier."""
KCORE: Final = "kcore"
"""An event of a user or item with too few events for the k-core."""

ROW_LEVEL_REASONS: Final = (
    BAD_LINE,
    MISSING_VALUE,
    ENCODING,
    BAD_TIMESTAMP,
    BAD_VALUE,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
)
GLOBAL_REASONS: Final = (DUPLICATE, NEAR_DUPLICATE, BOT, KCORE)
REASONS: Final = ROW_LEVEL_REASONS + GLOBAL_REASONS
"""Every reason code, in the order the rules run."""

FIXES: Final[dict[str, str]] = {
    BAD_LINE: "write one JSON object per line",
    MISSING_VALUE: "fill the field in every row or remove the row",
    ENCODING: "re-save the file as UTF-8",
    BAD_TIMESTAMP: "write whole Unix times or ISO-8601 such as 2024-01-02T03:04:05Z",
    BAD_VALUE: "write a finite number inside value_range, or leave value empty",
    TIMESTAMP_OUT_OF_RANGE: (
        "write every timestamp in one unit (set timestamp_unit if detection is wrong), or "
        "widen min_timestamp/max_timestamp"
    ),
    UNKNOWN_BEHAVIOR: "map it to a known behaviour, or add it to allowed_behaviors",
    UNKNOWN_ITEM: "add the item to the catalog or set unknown_items='keep'",
}


class CleaningConfig(FrozenConfig):
    """What ``clean_events`` rejects.

    Attributes:
        unknown_items: ``"keep"`` events of items missing from the catalog (they become
            id-only items) or ``"quarantine"`` them as ``unknown_item``; needs a catalog.
        near_duplicate_window_s: an event repeating the same user, item, scenario and behaviour
            at most this many seconds after the previous one is a ``near_duplicate``; 0 = off.
        timestamp_unit: the unit of numeric timestamps: ``s``, ``ms``, ``us``, ``ns``, or
            ``auto`` (the default): detected per file from the median numeric timestamp
            (below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
            nanoseconds), converted to seconds and reported (``CleaningReport.timestamp_unit``).
            ISO-8601 timestamps carry their own unit. A value whose own magnitude says another
            unit than the file's (seconds in a milliseconds file) is ``timestamp_out_of_range``.
        min_timestamp: earliest accepted timestamp (Unix seconds, inclusive); None = no bound.
            The default 0 rejects pre-1970 times, which usually mean a wrong unit or a sentinel.
        max_timestamp: latest accepted timestamp (inclusive); None = no upper bound. The default
            is 2100-01-01 (later times are a wrong unit or a sentinel such as the year 3000);
            it is fixed, not "now"-relative, because cleaning must not depend on the day it runs.
        allowed_behaviors: behaviours to accept (compared lower-case); None = any. The default
            is the behaviours with a default weight: view, click, search, rate, like, cart,
            purchase. Others are quarantined as ``unknown_behavior``, naming the closest known
            one (``strict`` stops at the first and suggests it).
        value_range: inclusive ``(low, high)`` bounds for ``value``; None = any finite number.
        bot_detection: flag users whose event rate is an outlier as bots.
        bot_min_events: only users with at least this many events are judged, i.e. can be
            flagged by the rate rules (rates of users with few events say little).
        bot_reference_min_events: the population that defines a normal rate: every user with at
            least this many events (judged or not), so that a burst stands out among users who
            are not heavy themselves.
        bot_min_users: the robust z-score rule needs at least this many users in that reference
            population (a median and MAD of a handful of users are noise); the absolute caps
            apply regardless.
        bot_mad_z: robust z cut-off. The statistic is ``x = ln(events / active minutes)`` per
            user, where active minutes are the distinct ``timestamp // 60`` values. With
            ``m = median(x)`` and ``MAD = median(|x - m|)`` over the reference population, a
            judged user is a bot when ``(x - m) / max(1.4826 * MAD, 0.25) > bot_mad_z``. Flagged
            users are removed and the cut-off re-estimated until nobody new is flagged.
        bot_max_events_per_minute: also flag judged users whose events per active minute exceed
            this absolute rate; None = no absolute cap.
        bot_max_events_in_a_minute: also flag any user with more events than this in one
            calendar minute (``timestamp // 60``): a burst no person clicks, even from an
            account that is otherwise quiet. None = no burst cap.
        kcore_users: keep only users with at least this many events (0 = off).
        kcore_items: keep only items with at least this many events (0 = off).
        kcore_scope: ``"global"`` counts events over all scenarios; ``"scenario"`` counts them per
            (user, scenario) and (item, scenario) and drops a user's or item's events only in the
            scenarios where it falls short.
        strict: raise ``SchemaError`` on the first row (smallest ``source_row``) that a row-level
            rule rejects, instead of quarantining it. Global rules still quarantine.
    """

    unknown_items: Literal["keep", "quarantine"] = "keep"
    near_duplicate_window_s: int = 0
    timestamp_unit: TimestampUnit = "auto"
    min_timestamp: int | None = 0
    max_timestamp: int | None = DEFAULT_MAX_TIMESTAMP
    allowed_behaviors: tuple[str, ...] | None = DEFAULT_BEHAVIORS
    value_range: tuple[float, float] | None = None
    bot_detection: bool = True
    bot_min_events: int = 50
    bot_reference_min_events: int = 5
    bot_min_users: int = 20
    bot_mad_z: float = 8.0
    bot_max_events_per_minute: float | None = None
    bot_max_events_in_a_minute: int | None = 300
    kcore_users: int = 0
    kcore_items: int = 0
    kcore_scope: Literal["global", "scenario"] = "global"
    strict: bool = False

    @field_validator("allowed_behaviors")
    @classmethod
    def _normalise_behaviors(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # Behaviours are compared after the same normalisation the events get.
        if v is None:
            return None
        out = tuple(dict.fromkeys(b.strip().lower() for b in v))
        if not out or "" in out:
            raise ValueError("allowed_behaviors must list non-empty names (or be null for any)")
        return out

    @model_validator(mode="after")
    def _check(self) -> CleaningConfig:
        if self.near_duplicate_window_s < 0:
            raise ValueError("near_duplicate_window_s must be >= 0 (0 turns it off)")
        if (
            self.min_timestamp is not None
            and self.max_timestamp is not None
            and self.min_timestamp > self.max_timestamp
        ):
            raise ValueError(
                f"min_timestamp {self.min_timestamp} is after max_timestamp {self.max_timestamp}"
            )
        if self.value_range is not None:
            lo, hi = self.value_range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(
                    f"value_range must be finite (low, high) with low <= high: {lo, hi}"
                )
        if min(self.bot_min_events, self.bot_reference_min_events, self.bot_min_users) < 1:
            raise ValueError(
                "bot_min_events, bot_reference_min_events and bot_min_users must be >= 1"
            )
        if self.bot_max_events_in_a_minute is not None and self.bot_max_events_in_a_minute < 1:
            raise ValueError("bot_max_events_in_a_minute must be >= 1 or null")
        if not self.bot_mad_z > 0:
            raise ValueError(f"bot_mad_z must be > 0 (got {self.bot_mad_z})")
        if self.bot_max_events_per_minute is not None and not self.bot_max_events_per_minute > 0:
            raise ValueError("bot_max_events_per_minute must be > 0 or null")
        if self.kcore_users < 0 or self.kcore_items < 0:
            raise ValueError("kcore_users and kcore_items must be >= 0 (0 turns them off)")
        return self
