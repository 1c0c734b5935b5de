"""The default event store: one SQLite file in write-ahead-log mode with ``synchronous=FULL``
(every commit is on disk before ``append`` returns, so an acknowledged event survives a crash
of the process or of the machine)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from scenerec.serving.store.base import SqlStore


class SQLiteStore(SqlStore):
    """An event store in one SQLite file (created when missing).

    Args:
        path: the database file.
        prefix: table-name prefix (several stores can share a file).
    """

    backend = "sqlite"
    mark = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, prefix: str = "scenerec") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(f"sqlite://{self.path}", prefix)

    def _connect(self) -> Any:
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE takes the
        # write lock up front, so a concurrent writer waits instead of failing mid-way)
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")


__all__ = ["SQLiteStore"]
