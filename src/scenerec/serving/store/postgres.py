"""The PostgreSQL event store (psycopg 3): the same tables as the SQLite store, committed with
the server's durable commit (``synchronous_commit`` on), inserts pipelined per batch."""

from __future__ import annotations

from typing import Any

from scenerec.serving.store.base import SqlStore


class PostgresStore(SqlStore):
    """An event store in a PostgreSQL database.

    Args:
        conninfo: a libpq URL or connection string (``postgresql://host:5432/db``).
        prefix: table-name prefix (several services can share a database).
    """

    backend = "postgresql"
    mark = "%s"
    serial = "BIGSERIAL PRIMARY KEY"

    def __init__(self, conninfo: str, prefix: str = "scenerec") -> None:
        import psycopg

        self._psycopg = psycopg
        self.driver_errors = (psycopg.Error,)
        self._conninfo = conninfo
        super().__init__(conninfo, prefix)

    def _connect(self) -> Any:
        conn = self._psycopg.connect(self._conninfo, connect_timeout=10)
        with conn.cursor() as cur:  # never trade durability for speed, whatever the server says
            cur.execute("SET synchronous_commit TO on")
        conn.commit()
        return conn

    def _begin(self, cur: Any) -> None:
        # a broken connection is found here, before any work of the caller
        if self._conn is not None and self._conn.broken:
            raise self._psycopg.OperationalError("the connection to the server was lost")

    def _insert_events(self, cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> list[bool]:
        """One round trip for the whole batch; a result set per row (empty for a duplicate)."""
        cur.executemany(sql, rows, returning=True)
        out = []
        while True:
            out.append(cur.fetchone() is not None)
            if not cur.nextset():
                break
        return out


__all__ = ["PostgresStore"]
