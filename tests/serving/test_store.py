"""The event stores (SQLite and PostgreSQL, the same tests): idempotent appends, durable and
in order, replay interleaving items and events as stored, forgetting, the run binding, and
store URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenerec.errors import ConfigError
from scenerec.serving.errors import StoreError
from scenerec.serving.store import SqlStore, StoredEvent, open_store, user_hash
from tests.serving.services import pg_store_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path / 'events.db'}")
        yield s
        s.close()
        return
    urls = pg_store_url()
    s = open_store(next(urls))
    yield s
    s.close()
    next(urls, None)


def _ev(user: str, item: str, t: int, eid: str | None = None) -> StoredEvent:
    return StoredEvent(user, item, "web", "click", t, None, None, eid)


def test_append_is_idempotent_by_event_id(store: SqlStore) -> None:
    first = store.append([_ev("u1", "i1", 1, "a"), _ev("u1", "i2", 2, "b"), _ev("u2", "i1", 3)])
    assert first == [True, True, True]
    again = store.append([_ev("u1", "i1", 1, "a"), _ev("u3", "i9", 4, "c"), _ev("u2", "i1", 3)])
    assert again == [False, True, True]  # "a" is stored once; events without an id always
    assert store.count() == 5 and store.event_ids() == {"a", "b", "c"}


def test_replay_interleaves_items_and_events_in_stored_order(store: SqlStore) -> None:
    store.put_items([{"item_id": "new1", "title": "first"}])
    store.append([_ev("u1", "i1", 1, "a"), _ev("u1", "new1", 2, "b")])
    store.put_items([{"item_id": "new2", "title": "second"}])
    store.append([_ev("u2", "new2", 3, "c")])
    store.put_items([{"item_id": "new1", "title": "first, renamed"}])  # an update keeps its place
    store.put_items([{"item_id": "last", "title": "after every event"}])
    steps = list(store.replay(batch=2))
    kinds = [k for k, _ in steps]
    assert kinds == ["items", "events", "items", "events", "items"]
    assert steps[0][1] == [{"item_id": "new1", "title": "first, renamed"}]
    assert [e.event_id for e in steps[1][1]] == ["a", "b"]  # type: ignore[union-attr]
    assert steps[2][1] == [{"item_id": "new2", "title": "second"}]
    assert steps[-1][1] == [{"item_id": "last", "title": "after every event"}]
    ev = steps[3][1][0]
    assert isinstance(ev, StoredEvent) and (ev.user_id, ev.item_id, ev.timestamp) == (
        "u2",
        "new2",
        3,
    )


def test_forget_deletes_events_and_keeps_only_a_hash(store: SqlStore) -> None:
    store.append([_ev("gone", "i1", 1, "x"), _ev("kept", "i1", 2, "y"), _ev("gone", "i2", 3)])
    assert store.forget("gone") == 2
    assert store.forget("gone") == 0
    assert store.event_ids() == {"y"} and store.count() == 1
    assert store.forgotten() == {user_hash("gone")}
    users = {e.user_id for _, evs in store.replay() for e in evs if isinstance(e, StoredEvent)}
    assert users == {"kept"}


def test_a_store_belongs_to_one_run(store: SqlStore) -> None:
    store.bind("run-a")
    store.bind("run-a")
    with pytest.raises(ConfigError, match="follow run run-a"):
        store.bind("run-b")


def test_values_never_reach_sql_as_text(store: SqlStore) -> None:
    nasty = "x'); DROP TABLE scenerec_events; --"
    store.append([StoredEvent(nasty, nasty, nasty, nasty, 1, 1.5, nasty, nasty)])
    assert store.forget(nasty) == 1
    assert store.count() == 0
    store.ping()


def test_store_urls(tmp_path: Path) -> None:
    s = open_store(tmp_path / "plain.db")
    assert s.backend == "sqlite" and (tmp_path / "plain.db").exists()
    assert s.display == f"sqlite://{tmp_path / 'plain.db'}"
    s.close()
    # durable: write-ahead log, fsync on every commit
    s = open_store(f"sqlite://{tmp_path / 'plain.db'}")
    with s._tx() as cur:
        assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cur.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()
    s = open_store(f"sqlite://{tmp_path / 'x.db'}?table=other")
    assert s.prefix == "other"
    s.close()
    with pytest.raises(ConfigError, match="plain SQL name"):
        open_store(f"sqlite://{tmp_path / 'x.db'}?table=a;drop")
    with pytest.raises(ConfigError, match="unknown event store"):
        open_store("mysql://localhost/db")


def test_an_unreachable_store_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="nothing was acknowledged"):
        open_store("postgresql://127.0.0.1:1/none?connect_timeout=1")
