"""What ``clean_events`` returns: the cleaned events, the quarantine and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from rich.table import Table


@dataclass(frozen=True)
class BotReport:
    """What bot detection measured on the final (cleaned) population.

    Attributes:
        enabled: whether bot detection ran.
        judged_users: users with at least ``bot_min_events`` events in the cleaned events.
        median_log_rate: median of ``ln(events per active minute)`` over judged users; None
            when the z rule did not run (detection off or fewer than ``bot_min_users``).
        mad_log_rate: median absolute deviation of that statistic; None as above.
        scale: ``max(1.4826 * MAD, 0.25)``; None as above.
        cutoff_events_per_minute: rate above which a judged user is flagged by the z rule,
            ``exp(median + bot_mad_z * scale)``; None as above.
        max_events_per_minute: the absolute cap on events per active minute, if any.
        max_events_in_a_minute: the burst cap on events in one calendar minute, if any.
        flagged_users: flagged user ids, sorted.
        passes: estimate-and-flag passes over all bot/k-core rounds.
    """

    enabled: bool
    judged_users: int = 0
    median_log_rate: float | None = None
    mad_log_rate: float | None = None
    scale: float | None = None
    cutoff_events_per_minute: float | None = None
    max_events_per_minute: float | None = None
    max_events_in_a_minute: int | None = None
    flagged_users: tuple[str, ...] = ()
    passes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types only)."""
        return {
            "enabled": self.enabled,
            "judged_users": self.judged_users,
            "median_log_rate": self.median_log_rate,
            "mad_log_rate": self.mad_log_rate,
            "scale": self.scale,
            "cutoff_events_per_minute": self.cutoff_events_per_minute,
            "max_events_per_minute": self.max_events_per_minute,
            "max_events_in_a_minute": self.max_events_in_a_minute,
            "flagged_users": list(self.flagged_users),
            "passes": self.passes,
        }


@dataclass(frozen=True)
class CleaningReport:
    """Counts and thresholds of one cleaning run.

    Attributes:
        file: the source file, when given.
        input_rows: rows in.
        output_rows: rows kept in ``events``.
        rows_per_reason: quarantined rows per reason code, every code present, in rule order.
        bots: bot-detection statistics and flagged users.
        kcore_rounds: k-core removal rounds that removed something (all passes together).
        global_passes: bot/k-core alternations until the fixed point.
        config: the configuration used, as plain data.
        timestamp_unit: the unit numeric timestamps were read in (``s``, ``ms``, ``us``, ``ns``).
        timestamp_note: how that unit was decided, in one sentence.
    """

    file: str | None
    input_rows: int
    output_rows: int
    rows_per_reason: dict[str, int]
    bots: BotReport
    kcore_rounds: int
    global_passes: int
    config: dict[str, Any] = field(default_factory=dict)
    timestamp_unit: str = "s"
    timestamp_note: str = ""

    @property
    def quarantined_rows(self) -> int:
        """Rows sent to the quarantine."""
        return sum(self.rows_per_reason.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types only)."""
        return {
            "file": self.file,
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "quarantined_rows": self.quarantined_rows,
            "rows_per_reason": dict(self.rows_per_reason),
            "bots": self.bots.to_dict(),
            "kcore_rounds": self.kcore_rounds,
            "global_passes": self.global_passes,
            "config": dict(self.config),
            "timestamp_unit": self.timestamp_unit,
            "timestamp_note": self.timestamp_note,
        }

    def to_table_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a two-column summary table; reasons with 0 rows omitted."""
        rows = [("input rows", f"{self.input_rows:,}"), ("kept rows", f"{self.output_rows:,}")]
        if self.timestamp_note:
            rows.append(("timestamps", self.timestamp_note))
        rows += [(f"quarantined: {r}", f"{n:,}") for r, n in self.rows_per_reason.items() if n]
        b = self.bots
        if b.enabled:
            rows.append(("bot: judged users", f"{b.judged_users:,}"))
            if b.cutoff_events_per_minute is not None:
                rows.append(
                    ("bot: cut-off events/active minute", f"{b.cutoff_events_per_minute:.3g}")
                )
            if b.max_events_per_minute is not None:
                rows.append(("bot: cap events/active minute", f"{b.max_events_per_minute:.3g}"))
            if b.max_events_in_a_minute is not None:
                rows.append(("bot: cap events in one minute", f"{b.max_events_in_a_minute:,}"))
            rows.append(("bot: flagged users", f"{len(b.flagged_users):,}"))
        if self.kcore_rounds:
            rows.append(("k-core rounds", str(self.kcore_rounds)))
        return rows

    def __rich__(self) -> Table:
        from rich.table import Table

        title = f"Cleaning {self.file}" if self.file else "Cleaning"
        table = Table(title=title, show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        for label, value in self.to_table_rows():
            table.add_row(label, value)
        return table


@dataclass(frozen=True)
class CleaningResult:
    """What ``clean_events`` returns.

    Attributes:
        events: kept events in input order: ``source_row`` (Int64) and the columns of
            ``EVENT_SCHEMA`` with its dtypes (``value``/``query`` null when absent).
        quarantine: rejected rows in input order: ``source_row``, every event column with its
            original value as text (String), ``reason`` (a code from ``REASONS``) and ``detail``
            (a sentence naming the column and the bad value).
        report: counts and thresholds.
    """

    events: pl.DataFrame
    quarantine: pl.DataFrame
    report: CleaningReport
