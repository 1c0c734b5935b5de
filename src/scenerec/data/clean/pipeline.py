"""``clean_events``: the row-level rules, then the global rules to their fixed point."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from scenerec.data.clean._scratch import POS, typed_name
from scenerec.data.clean.config import REASONS, CleaningConfig
from scenerec.data.clean.duplicates import drop_duplicates, drop_near_duplicates
from scenerec.data.clean.outliers import BotState, drop_bots, drop_kcore
from scenerec.data.clean.report import BotReport, CleaningReport, CleaningResult
from scenerec.data.clean.rows import catalog_item_ids, row_level, row_rejects
from scenerec.data.io import write_table
from scenerec.errors import ConfigError
from scenerec.schema import EVENT_COLUMNS, EVENT_SCHEMA, C

logger = logging.getLogger(__name__)


def _global_rules(
    ev: pl.DataFrame, config: CleaningConfig, rejects: list[pl.DataFrame]
) -> tuple[pl.DataFrame, BotState, int, int]:
    """Duplicates, near-duplicates, then bots and k-core alternating to their joint fixed point.

    Appends rejected rows to ``rejects``; returns kept events, bot statistics, k-core rounds
    and bot/k-core passes.
    """
    ev, rej = drop_duplicates(ev)
    rejects.append(rej)
    if config.near_duplicate_window_s > 0:
        ev, rej = drop_near_duplicates(ev, config.near_duplicate_window_s)
        rejects.append(rej)
    state = BotState()
    kcore_rounds = passes = 0
    while True:
        passes += 1
        flagged_before = len(state.flagged)
        if config.bot_detection:
            ev, rej = drop_bots(ev, config, state)
            rejects.append(rej)
        # k-core was at its fixed point and bots found nobody new: nothing can change any more.
        if passes > 1 and len(state.flagged) == flagged_before:
            break
        ev, krej, rounds = drop_kcore(ev, config)
        rejects.extend(krej)
        kcore_rounds += rounds
        # k-core removed nothing: bots (run to their own fixed point just before) see the same data.
        if rounds == 0 or not config.bot_detection:
            break
    return ev, state, kcore_rounds, passes


# ---------------------------------------------------------------------------------- entry point
def clean_events(
    events: pl.LazyFrame | pl.DataFrame,
    *,
    config: CleaningConfig | None = None,
    catalog: pl.DataFrame | None = None,
    file: str | Path | None = None,
) -> CleaningResult:
    """Type, validate and filter raw events; quarantine every rejected row with a reason.

    Args:
        events: raw events, e.g. from ``scenerec.data.io.scan_events``: the required event
            columns as text (typed columns are accepted too: integer or datetime timestamps,
            numeric values, integer ids), optional ``value`` and ``query``, and ``source_row``
            (1-based; rows are numbered 1..n when it is absent). Other columns are ignored.
        config: the rules; ``CleaningConfig()`` when omitted.
        catalog: items with an ``item_id`` column; needed for ``unknown_items="quarantine"``.
        file: the source file, named in errors and in the report.

    Returns:
        ``CleaningResult`` with typed ``events`` and the ``quarantine``, both in input order,
        and the ``report``. See the module docstring for the rules and their order.

    Raises:
        SchemaError: a required column is missing; ``source_row`` is null or repeated; the input
            cannot be read (naming the file); or, with
            ``config.strict``, the row with the smallest ``source_row`` that a row-level rule
            rejects (the error names the file, that row, the column and the value).
        ConfigError: ``unknown_items="quarantine"`` without a catalog.
    """
    config = config or CleaningConfig()
    if config.unknown_items == "quarantine" and catalog is None:
        raise ConfigError("unknown_items='quarantine' needs a catalog (pass catalog=...)")
    catalog_ids = None
    if catalog is not None and config.unknown_items == "quarantine":
        catalog_ids = catalog_item_ids(catalog, file)

    df, unit = row_level(events, config, catalog_ids, file)
    rejects = [row_rejects(df, config, file, unit)]
    ev = df.filter(pl.col(C.REASON).is_null()).select(
        POS, C.ROW, *[pl.col(typed_name(c)).cast(EVENT_SCHEMA[c]).alias(c) for c in EVENT_COLUMNS]
    )
    raw = df.select(C.ROW, *EVENT_COLUMNS)
    del df  # the typed copies of rejected rows are no longer needed
    ev, bot_state, kcore_rounds, passes = _global_rules(ev, config, rejects)

    rej_all = pl.concat(rejects, how="vertical_relaxed").sort(POS)
    quarantine = pl.concat(
        [raw.select(pl.all().gather(rej_all[POS])), rej_all.select(C.REASON, C.DETAIL)],
        how="horizontal",
    )
    counts = dict(rej_all.group_by(C.REASON).len().iter_rows())
    flagged: tuple[str, ...] = ()
    if bot_state.flagged:
        flagged = tuple(sorted(pl.concat(bot_state.flagged)[C.USER_ID].to_list()))
    report = CleaningReport(
        file=None if file is None else str(file),
        input_rows=raw.height,
        output_rows=ev.height,
        rows_per_reason={r: int(counts.get(r, 0)) for r in REASONS},
        bots=BotReport(
            enabled=config.bot_detection,
            judged_users=bot_state.judged,
            median_log_rate=bot_state.median,
            mad_log_rate=bot_state.mad,
            scale=bot_state.scale,
            cutoff_events_per_minute=bot_state.cutoff,
            max_events_per_minute=config.bot_max_events_per_minute,
            max_events_in_a_minute=config.bot_max_events_in_a_minute,
            flagged_users=flagged,
            passes=bot_state.passes,
        ),
        kcore_rounds=kcore_rounds,
        global_passes=passes,
        config=config.to_dict(),
        timestamp_unit=unit.unit,
        timestamp_note=unit.note,
    )
    logger.info(
        "cleaned %s: %d rows in, %d kept, %d quarantined %s",
        file or "events",
        raw.height,
        ev.height,
        report.quarantined_rows,
        {r: n for r, n in report.rows_per_reason.items() if n},
    )
    return CleaningResult(events=ev.drop(POS), quarantine=quarantine, report=report)


def write_quarantine(result: CleaningResult, path: str | Path) -> Path:
    """Write the quarantine table as Parquet, CSV/TSV or JSONL (by the path's suffix).

    Returns:
        The path written.
    """
    return write_table(result.quarantine, path)
