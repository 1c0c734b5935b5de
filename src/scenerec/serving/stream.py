"""Events from a NATS JetStream stream, delivered at least once (``--consume nats://...``).

A durable pull consumer fetches messages in batches; each batch goes through the same
``Engine.ingest`` as ``POST /v1/events`` (validated, stored durably, applied) and only then is
acknowledged. A crash before the acknowledgement makes JetStream deliver the messages again
after ``ack_wait``; they are stored once, because every event carries an idempotency key: the
``event_id`` it was published with, or else ``nats:<stream>:<stream sequence>``, which a
redelivery repeats. A message that can never be stored (not JSON, not an event) is terminated
(never redelivered) and counted; a store that is down makes the batch be redelivered later.

URL: ``nats://HOST:PORT/SUBJECT[?stream=NAME&durable=NAME&ack_wait=SECONDS&batch=N]``. The
stream is created for the subject when it does not exist (default name ``SCENEREC_<SUBJECT>``).
A message holds one event object, a list of them, or ``{"events": [...]}`` (the body of
``POST /v1/events``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ValidationError

from scenerec.errors import ConfigError
from scenerec.serving.dto import EventIn
from scenerec.serving.engine import Engine
from scenerec.serving.errors import StoreError
from scenerec.serving.store import StoredEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSource:
    """Where to consume from (parsed from a ``nats://`` URL; see the module docstring)."""

    server: str
    subject: str
    stream: str
    durable: str = "scenerec-serve"
    ack_wait: float = 30.0
    batch: int = 256

    @classmethod
    def parse(cls, url: str) -> StreamSource:
        parts = urlsplit(url)
        subject = parts.path.lstrip("/")
        if parts.scheme != "nats" or not parts.hostname or not subject:
            raise ConfigError(
                f"cannot consume from {url!r}. Fix: nats://HOST:PORT/SUBJECT, e.g. "
                "nats://127.0.0.1:4222/scenerec.events"
            )
        q = dict(parse_qsl(parts.query))
        default = "SCENEREC_" + re.sub(r"[^A-Za-z0-9]+", "_", subject).upper()
        try:
            return cls(
                server=f"nats://{parts.hostname}:{parts.port or 4222}",
                subject=subject,
                stream=q.get("stream", default),
                durable=q.get("durable", "scenerec-serve"),
                ack_wait=float(q.get("ack_wait", 30.0)),
                batch=int(q.get("batch", 256)),
            )
        except ValueError as exc:
            raise ConfigError(f"{url!r}: {exc}. Fix: ack_wait is seconds, batch a count") from None


def parse_message(data: bytes, key: str) -> list[StoredEvent]:
    """The events of one message; ``key`` is the idempotency key of events sent without an
    ``event_id`` (suffixed by their position when the message holds several).

    Raises:
        ValueError: not JSON, or not events (``pydantic.ValidationError`` is a ValueError).
    """
    body = json.loads(data)
    raw: list[Any] = body["events"] if isinstance(body, dict) and "events" in body else body
    raw = raw if isinstance(raw, list) else [raw]
    if not raw:
        raise ValueError("an empty list of events")
    out = []
    for j, item in enumerate(raw):
        e = EventIn.model_validate(item)
        eid = e.event_id or (key if len(raw) == 1 else f"{key}:{j}")
        out.append(
            StoredEvent(
                e.user_id, e.item_id, e.scenario, e.behavior, e.timestamp, e.value, e.query, eid
            )
        )
    return out


class StreamConsumer:
    """Consumes a JetStream subject into an engine (see the module docstring).

    Args:
        source: the stream.
        engine: returns the engine once it is ready (``None`` before).
        counters: updated in place (messages, stored, duplicates, rejected, failed).
    """

    def __init__(
        self, source: StreamSource, engine: Callable[[], Engine | None], counters: dict[str, int]
    ) -> None:
        self.source = source
        self._engine = engine
        self.counters = counters
        for name in ("messages", "stored", "duplicates", "rejected", "failed"):
            counters.setdefault(name, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Consume in a background thread (its own event loop) until ``stop``."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.run()), name="scenerec-stream", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    async def run(self) -> None:
        import nats
        from nats.errors import TimeoutError as FetchTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        src = self.source
        nc = await nats.connect(servers=[src.server], max_reconnect_attempts=-1)
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(src.stream)
            except NotFoundError:
                await js.add_stream(name=src.stream, subjects=[src.subject])
            config = ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=src.ack_wait,
                max_ack_pending=max(src.batch * 4, 1024),
            )
            sub = await js.pull_subscribe(
                src.subject, durable=src.durable, stream=src.stream, config=config
            )
            log.info("consuming %s (stream %s) from %s", src.subject, src.stream, src.server)
            while not self._stop.is_set():
                engine = self._engine()
                if engine is None:
                    await asyncio.sleep(0.1)
                    continue
                try:
                    msgs = await sub.fetch(src.batch, timeout=1.0)
                except FetchTimeout:
                    continue
                await self._handle(engine, msgs)
        finally:
            await nc.close()

    async def _handle(self, engine: Engine, msgs: list[Any]) -> None:
        """Store a batch durably, then acknowledge it (see the module docstring)."""
        events: list[StoredEvent] = []
        good = []
        for m in msgs:
            self.counters["messages"] += 1
            key = f"nats:{self.source.stream}:{m.metadata.sequence.stream}"
            try:
                events.extend(parse_message(m.data, key))
                good.append(m)
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                self.counters["rejected"] += 1
                log.warning("stream message %s is not an event (%s); dropped", key, exc)
                await m.term()
        try:
            done = await asyncio.get_running_loop().run_in_executor(None, engine.ingest, events)
        except StoreError as exc:
            self.counters["failed"] += len(good)
            log.error("stream batch not stored, will be redelivered: %s", exc)
            for m in good:
                await m.nak(delay=1.0)
            return
        self.counters["stored"] += done.accepted
        self.counters["duplicates"] += done.duplicates
        self.counters["rejected"] += len(done.rejected)
        for m in good:  # durable now: acknowledge
            await m.ack()


__all__ = ["StreamConsumer", "StreamSource", "parse_message"]
