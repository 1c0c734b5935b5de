"""Event stores behind one interface (``SqlStore``): a SQLite file by default, PostgreSQL with
``--store postgresql://...``. ``open_store`` turns a store URL into a store.

URLs:

- ``sqlite:///ABSOLUTE/PATH.db``, ``sqlite://RELATIVE/PATH.db`` or a plain file path;
- ``postgresql://[user@]host[:port]/database`` (any libpq URL; ``postgres://`` too).

Either takes ``?table=NAME`` to choose the table-name prefix (default ``scenerec``), so that
several services (or tests) can share one database.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scenerec.errors import ConfigError
from scenerec.serving.store.base import ReplayStep, SqlStore, StoredEvent, user_hash

EventStore = SqlStore
"""The interface every store implements (see ``serving.store.base``)."""


def open_store(url: str | Path) -> SqlStore:
    """The store a URL names (see the module docstring).

    Raises:
        ConfigError: an unknown scheme or a bad table name.
        StoreError: the database cannot be reached or written.
    """
    text = str(url)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):
        return _sqlite(Path(parts.path if scheme == "file" else text), "scenerec")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    prefix = query.pop("table", "scenerec")
    if scheme == "sqlite":
        path = text.split("?", 1)[0][len("sqlite:") :]
        path = path[2:] if path.startswith("//") else path
        path = "/" + path.lstrip("/") if path.startswith("/") else path
        if not path:
            raise ConfigError(f"store URL {text!r} names no file. Fix: sqlite:///path/to/events.db")
        return _sqlite(Path(path), prefix)
    if scheme in ("postgresql", "postgres"):
        from scenerec.serving.store.postgres import PostgresStore

        conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        return PostgresStore(conninfo, prefix)
    raise ConfigError(
        f"unknown event store {parts.scheme!r} in {text!r}. Fix: give a SQLite file "
        "(sqlite:///path/events.db) or a PostgreSQL URL (postgresql://host:5432/db)"
    )


def _sqlite(path: Path, prefix: str) -> SqlStore:
    from scenerec.serving.store.sqlite import SQLiteStore

    return SQLiteStore(path, prefix)


__all__ = ["EventStore", "ReplayStep", "SqlStore", "StoredEvent", "open_store", "user_hash"]
