"""The external services the serving tests use for real (PostgreSQL, NATS JetStream), and the
rule for their absence: skip with the reason on a development machine, fail under ``CI=true``
(CI machines run them; a missing one there is a broken machine, not a reason to pass)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("SCENEREC_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
NATS_URL = os.environ.get("SCENEREC_TEST_NATS", "nats://127.0.0.1:4222")


def _absent(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true (CI machines run it)")
    pytest.skip(f"{what} is not available on this machine")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    """The PostgreSQL URL, after checking the server answers a query."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach it: the same rule
        _absent(f"PostgreSQL at {PG_URL} ({type(exc).__name__})")
    return PG_URL


def require_nats() -> str:
    """The NATS URL, after checking the server accepts connections."""
    if not _listening("127.0.0.1", int(NATS_URL.rsplit(":", 1)[1])):
        _absent(f"NATS at {NATS_URL}")
    return NATS_URL


def pg_store_url() -> Iterator[str]:
    """A PostgreSQL store URL with a table prefix of its own; its tables are dropped after."""
    url = require_postgres()
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{url}?table={prefix}"
    import psycopg

    with psycopg.connect(url) as conn:
        for table in ("events", "items", "forgotten", "meta"):
            conn.execute(f"DROP TABLE IF EXISTS {prefix}_{table}")
