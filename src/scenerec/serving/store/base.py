"""The event store's interface and the SQL both backends share.

A store keeps what the service learned since its run was trained: events (each stored once per
client event id), catalog items added or updated, and a tombstone (a SHA-256 of the id, never
the id) for every forgotten user, so that a restart removes them from the run's training data
again. ``append`` returns only after the events are durable (the transaction is committed with
the backend's strongest setting), so an acknowledged event survives a crash of the process.
``replay`` yields items and events in the order they were stored, which is how the online state
is rebuilt on restart.

Every value reaches SQL as a bound parameter; the only text spliced into statements is the
table prefix, checked against ``[a-z_][a-z0-9_]*`` when the store is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from scenerec.errors import ConfigError
from scenerec.serving.errors import StoreError

_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_EVENT_COLUMNS = ("event_id", "user_id", "item_id", "scenario", "behavior", "ts", "value", "query")


@dataclass(frozen=True)
class StoredEvent:
    """One event as stored (``event_id`` is the client's idempotency key, if it sent one)."""

    user_id: str
    item_id: str
    scenario: str
    behavior: str
    timestamp: int
    value: float | None = None
    query: str | None = None
    event_id: str | None = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.event_id,
            self.user_id,
            self.item_id,
            self.scenario,
            self.behavior,
            self.timestamp,
            self.value,
            self.query,
        )


ReplayStep = (
    tuple[Literal["items"], list[dict[str, Any]]] | tuple[Literal["events"], list[StoredEvent]]
)


def user_hash(user_id: str) -> str:
    """The tombstone of a forgotten user (the id itself is not kept)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ConfigError(
            f"store table prefix {prefix!r} is not a plain SQL name. Fix: use lower-case "
            "letters, digits and underscores (at most 41, not starting with a digit)"
        )
    return prefix


class SqlStore:
    """What both SQL backends share (statements, transactions, replay order); a backend sets
    the dialect attributes and implements ``_connect``, ``_begin`` and ``_insert_events``."""

    #: the backend's name, in messages and metrics
    backend = "sql"
    #: DB-API placeholder of the driver
    mark = "?"
    #: column definition of the auto-incrementing sequence number
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    #: driver exceptions that mean "the store cannot be used right now"
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, url: str, prefix: str = "scenerec") -> None:
        self.url = url
        self.prefix = check_prefix(prefix)
        self._lock = threading.RLock()
        self._conn: Any = None
        with self._tx() as cur:
            for stmt in self._schema():
                cur.execute(stmt)

    # ------------------------------------------------------------------ backend hooks
    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, cur: Any) -> None:
        return None

    def _insert_events(self, cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> list[bool]:
        """Run the insert for each row; True where a row was stored (not a duplicate id)."""
        out = []
        for row in rows:
            cur.execute(sql, row)
            out.append(cur.fetchone() is not None)
        return out

    # ------------------------------------------------------------------ plumbing
    def t(self, name: str) -> str:
        """A table name (prefix checked at open)."""
        return f"{self.prefix}_{name}"

    def q(self, sql: str) -> str:
        """A statement in the driver's placeholder style."""
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def _schema(self) -> list[str]:
        e, i, f, m = self.t("events"), self.t("items"), self.t("forgotten"), self.t("meta")
        return [
            f"CREATE TABLE IF NOT EXISTS {e} (seq {self.serial}, event_id TEXT UNIQUE, "
            "user_id TEXT NOT NULL, item_id TEXT NOT NULL, scenario TEXT NOT NULL, "
            "behavior TEXT NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION, query TEXT)",
            f"CREATE INDEX IF NOT EXISTS {e}_user ON {e} (user_id)",
            f"CREATE TABLE IF NOT EXISTS {i} (pos {self.serial}, item_id TEXT UNIQUE NOT NULL, "
            "after_seq BIGINT NOT NULL, data TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {f} (user_hash TEXT PRIMARY KEY)",
            f"CREATE TABLE IF NOT EXISTS {m} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ]

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction under the store's lock, committed on exit (durable when it returns);
        driver failures become ``StoreError`` (the connection is dropped and reopened next
        time)."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                cur = self._conn.cursor()
                self._begin(cur)
                try:
                    yield cur
                    self._conn.commit()
                except BaseException:
                    with contextlib.suppress(*self.driver_errors):
                        self._conn.rollback()
                    raise
                finally:
                    with contextlib.suppress(*self.driver_errors):
                        cur.close()
            except self.driver_errors as exc:
                self._drop()
                raise StoreError(
                    f"the {self.backend} event store failed ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}); nothing was acknowledged. Fix: check "
                    "that the database is reachable and writable, then retry"
                ) from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*self.driver_errors):
                conn.close()

    # ------------------------------------------------------------------ writes
    def append(self, events: Sequence[StoredEvent]) -> list[bool]:
        """Store events durably, in order; returns, per event, whether it was stored now
        (False: an event with the same ``event_id`` is already stored)."""
        if not events:
            return []
        cols = ", ".join(_EVENT_COLUMNS)
        sql = self.q(
            f"INSERT INTO {self.t('events')} ({cols}) VALUES ({', '.join('?' * 8)}) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING seq"
        )
        with self._tx() as cur:
            return self._insert_events(cur, sql, [e.row() for e in events])

    def put_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Add or update catalog rows (``item_id`` plus text columns and ``scenario``)."""
        if not items:
            return
        sql = self.q(
            f"INSERT INTO {self.t('items')} (item_id, after_seq, data) VALUES (?, ?, ?) "
            "ON CONFLICT (item_id) DO UPDATE SET data = excluded.data"
        )
        with self._tx() as cur:
            cur.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self.t('events')}")
            after = int(cur.fetchone()[0])
            cur.executemany(sql, [(r["item_id"], after, json.dumps(r)) for r in items])

    def forget(self, user_id: str) -> int:
        """Delete a user's events and record their tombstone; returns the events deleted."""
        with self._tx() as cur:
            cur.execute(self.q(f"DELETE FROM {self.t('events')} WHERE user_id = ?"), (user_id,))
            n = int(cur.rowcount or 0)
            cur.execute(
                self.q(
                    f"INSERT INTO {self.t('forgotten')} (user_hash) VALUES (?) "
                    "ON CONFLICT (user_hash) DO NOTHING"
                ),
                (user_hash(user_id),),
            )
            return n

    def bind(self, run_id: str) -> None:
        """Tie the store to the run its events follow; refuse another run's store."""
        with self._tx() as cur:
            cur.execute(self.q(f"SELECT value FROM {self.t('meta')} WHERE key = ?"), ("run_id",))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    self.q(f"INSERT INTO {self.t('meta')} (key, value) VALUES (?, ?)"),
                    ("run_id", run_id),
                )
            elif row[0] != run_id:
                raise ConfigError(
                    f"the event store {self.display} holds events that follow run {row[0]}, not "
                    f"this run ({run_id}). Fix: serve that run, or give this run a store of its "
                    "own (another file, or ?table=NAME)"
                )

    # ------------------------------------------------------------------ reads
    def forgotten(self) -> set[str]:
        """Tombstones of forgotten users (``user_hash``)."""
        with self._tx() as cur:
            cur.execute(f"SELECT user_hash FROM {self.t('forgotten')}")
            return {r[0] for r in cur.fetchall()}

    def count(self) -> int:
        with self._tx() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {self.t('events')}")
            return int(cur.fetchone()[0])

    def event_ids(self) -> set[str]:
        """Every stored client event id."""
        with self._tx() as cur:
            cur.execute(f"SELECT event_id FROM {self.t('events')} WHERE event_id IS NOT NULL")
            return {r[0] for r in cur.fetchall()}

    def replay(self, batch: int = 10_000) -> Iterator[ReplayStep]:
        """Items and events in the order they were stored (items before the events stored after
        them), in batches of at most ``batch`` events."""
        with self._tx() as cur:
            cur.execute(f"SELECT after_seq, data FROM {self.t('items')} ORDER BY after_seq, pos")
            items = [(int(a), json.loads(d)) for a, d in cur.fetchall()]
        last, pos = 0, 0
        sql = self.q(
            f"SELECT seq, {', '.join(_EVENT_COLUMNS)} FROM {self.t('events')} "
            "WHERE seq > ? ORDER BY seq LIMIT ?"
        )
        while True:
            with self._tx() as cur:
                cur.execute(sql, (last, batch))
                rows = cur.fetchall()
            start = 0
            for j, row in enumerate(rows):
                if pos < len(items) and items[pos][0] < row[0]:
                    if j > start:
                        yield "events", [_event(r) for r in rows[start:j]]
                    start = j
                    take = [d for a, d in items[pos:] if a < row[0]]
                    pos += len(take)
                    yield "items", take
            if rows[start:]:
                yield "events", [_event(r) for r in rows[start:]]
            if len(rows) < batch:
                break
            last = int(rows[-1][0])
        if pos < len(items):
            yield "items", [d for _, d in items[pos:]]

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
        with self._tx() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    @property
    def display(self) -> str:
        """The store's address without credentials."""
        return re.sub(r"//[^/@]*@", "//", self.url)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _event(row: Sequence[Any]) -> StoredEvent:
    _, event_id, user, item, scen, beh, ts, value, query = row
    return StoredEvent(user, item, scen, beh, int(ts), value, query, event_id)


__all__ = ["ReplayStep", "SqlStore", "StoredEvent", "check_prefix", "user_hash"]
