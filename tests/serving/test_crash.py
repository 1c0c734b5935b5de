"""Crash safety, proven on the real server: clients stream events while ``scenerec serve`` is
killed with SIGKILL at random moments, on SQLite and on PostgreSQL; after the restarts, every
event that got a 2xx is in the store exactly once, and the restarted server's state is the run
plus exactly the stored events (same history lengths, same recommendations as a state rebuilt
independently from the store). The stream consumer is checked the same way: every event
JetStream accepted is stored exactly once, whatever the kills."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest

from scenerec.schema import C
from scenerec.serving.config import ServingConfig
from scenerec.serving.process import ServiceProcess
from scenerec.serving.store import open_store
from tests.serving.conftest import API_KEY, AUTH, open_engine
from tests.serving.services import pg_store_url, require_nats

KILLS = 20  # kill points per store
T0 = 1_720_000_000
# drift detection off: its library (river) would add 2 s to each of the ~50 starts
LEAN = "online: {drift: {enabled: false}}\n"


@pytest.fixture
def lean(tmp_path: Path) -> list[str]:
    """``--config`` arguments of a server that starts fast."""
    cfg = tmp_path / "serving.yaml"
    cfg.write_text(LEAN, encoding="utf-8")
    return ["--config", str(cfg)]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'crash.db'}"
        return
    urls = pg_store_url()
    yield next(urls)
    next(urls, None)


class Clients:
    """Threads posting batches of events with unique ids; they record what was acknowledged."""

    def __init__(self, url: str, users: list[str], items: list[str], seed: int) -> None:
        self.url = url
        self.users = users
        self.items = items
        self.rng = random.Random(seed)
        self.acked: dict[str, str] = {}  # event id -> user
        self.unacked: list[list[dict[str, object]]] = []
        self.in_flight = 0
        self._n = 0
        self._lock = threading.Lock()

    def batch(self) -> list[dict[str, object]]:
        with self._lock:
            self._n += 1
            n, rng = self._n, self.rng
            size = rng.randint(1, 20)
            return [
                {
                    "event_id": f"{self.url[-5:]}-{n}-{j}",
                    "user_id": rng.choice(self.users),
                    "item_id": rng.choice(self.items),
                    "scenario": rng.choice(["web", "app"]),
                    "behavior": "click",
                    "timestamp": T0 + n,
                }
                for j in range(size)
            ]

    def post(self, client: httpx.Client, batch: list[dict[str, object]]) -> bool:
        with self._lock:
            self.in_flight += 1
        try:
            r = client.post(f"{self.url}/v1/events", json={"events": batch}, headers=AUTH)
            ok = r.status_code == 200
        except httpx.TransportError:
            ok = False
        with self._lock:
            self.in_flight -= 1
            if ok:
                self.acked.update({str(e["event_id"]): str(e["user_id"]) for e in batch})
            else:
                self.unacked.append(batch)
        return ok

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                if not self.post(client, self.batch()):
                    return  # the server is gone


def _life(
    run: Path, store: str, clients: Clients, log: Path, rng: random.Random, extra: list[str]
) -> tuple[ServiceProcess, int]:
    """Start the server, retry a few unacknowledged batches, stream, kill it at a random
    moment; returns the process and how many requests were in flight when it died."""
    server = ServiceProcess(run, API_KEY, store=store, log=log, extra=extra)
    server.wait_ready()
    clients.url = server.url
    with httpx.Client(timeout=10.0) as client:
        for batch in clients.unacked[:3]:  # a retry after a crash is stored once
            if clients.post(client, batch):
                clients.unacked.remove(batch)
    stop = threading.Event()
    threads = [threading.Thread(target=clients.run, args=(stop,)) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.05, 0.6))
    in_flight = clients.in_flight
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    return server, in_flight


def test_acknowledged_events_survive_sigkill(
    make_run: Callable[[str], Path],
    train_events: pl.DataFrame,
    store_url: str,
    tmp_path: Path,
    lean: list[str],
) -> None:
    run = make_run("itemknn")
    rng = random.Random(7)
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    trained = train_events[C.USER_ID].unique().sort().to_list()[:5]
    users = [f"crash-{i}" for i in range(25)] + trained
    clients = Clients("http://127.0.0.1:0", users, items, seed=3)
    interrupted = 0
    for _ in range(KILLS):
        _, in_flight = _life(run, store_url, clients, tmp_path / "server.log", rng, lean)
        interrupted += in_flight > 0
    assert clients.acked and interrupted >= KILLS // 2, (len(clients.acked), interrupted)

    store = open_store(store_url)
    stored = store.event_ids()
    missing = set(clients.acked) - stored
    assert not missing, f"{len(missing)} acknowledged events lost: {sorted(missing)[:5]}"
    assert store.count() == len(stored)  # each stored once
    per_user = Counter(
        e.user_id
        for kind, evs in store.replay()
        if kind == "events"
        for e in evs  # type: ignore[union-attr]
    )
    store.close()

    server = ServiceProcess(run, API_KEY, store=store_url, log=tmp_path / "server.log")
    server.wait_ready()  # the default configuration, this time
    reference = open_engine(run, store_url, ServingConfig())
    try:
        train_count = Counter(train_events[C.USER_ID].to_list())
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            for user in users:
                if not train_count[user] and not per_user[user]:
                    continue
                summary = client.get(f"/v1/users/{user}").json()
                assert summary["events"] == train_count[user] + per_user[user], user
                got = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
                want = reference.recommend(user, None, 10, explain=False, fallback=False)
                assert [i["item_id"] for i in got["items"]] == list(want.item_ids), user
                assert not got["fallback"]
    finally:
        reference.close()
        server.stop()


def _publish(nats_url: str, subject: str, stream: str, events: list[dict[str, object]]) -> None:
    """Publish events to JetStream, each acknowledged by the server (so it is in the stream)."""
    import nats

    async def go() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[subject])
        for e in events:
            await js.publish(subject, json.dumps(e).encode())
        await nc.close()

    asyncio.run(go())


def _drop_stream(nats_url: str, stream: str) -> None:
    import nats

    async def go() -> None:
        nc = await nats.connect(nats_url)
        await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(go())


def _wait_stored(store: str, n: int, timeout: float = 30.0) -> None:
    """Return once the store holds at least ``n`` events (or after ``timeout``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open_store(store) as s:
            if s.count() >= n:
                return
        time.sleep(0.002)


def test_stream_events_are_stored_once_whatever_the_kills(
    make_run: Callable[[str], Path], train_events: pl.DataFrame, tmp_path: Path, lean: list[str]
) -> None:
    nats_url = require_nats()
    run = make_run("popularity")
    tag = f"t{int(time.time() * 1000) % 10**9}"
    subject, stream = f"scenerec.test.{tag}", f"SCENEREC_TEST_{tag}"
    items = train_events[C.ITEM_ID].unique().sort().to_list()
    events: list[dict[str, object]] = [
        {
            "user_id": f"s{i % 40}",
            "item_id": items[i % len(items)],
            "scenario": "web",
            "behavior": "click",
            "timestamp": T0 + i,
        }
        for i in range(3_000)
    ]
    for i, e in enumerate(events[::2]):  # half carry their own id, half get the stream's
        e["event_id"] = f"own-{i}"
    _publish(nats_url, subject, stream, events)
    store = f"sqlite://{tmp_path / 'stream.db'}"
    consume = ["--consume", f"{nats_url}/{subject}?stream={stream}&ack_wait=1&batch=50", *lean]
    rng = random.Random(5)
    log = tmp_path / "server.log"
    try:
        progress = [0]
        for _ in range(4):
            server = ServiceProcess(run, API_KEY, store=store, extra=consume, log=log)
            server.wait_ready()
            # kill while consuming: once a random share more of the stream is stored (a fixed
            # delay let a fast machine store all of it before the first kill)
            _wait_stored(store, progress[-1] + rng.randint(1, len(events) // 5))
            server.kill()
            with open_store(store) as s:
                progress.append(s.count())
        progress = progress[1:]
        assert progress[0] < len(events), progress  # the kills hit a consumption in progress
        server = ServiceProcess(run, API_KEY, store=store, extra=consume, log=log)
        server.wait_ready()
        s = open_store(store)
        deadline = time.time() + 60
        while s.count() < len(events) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # anything redelivered after ack_wait is not stored again
        assert s.count() == len(events)
        ids = s.event_ids()
        assert {f"own-{i}" for i in range(1_500)} <= ids and len(ids) == len(events)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "scenerec_stream_messages_total" in metrics
        s.close()
        server.stop()
    finally:
        _drop_stream(nats_url, stream)
