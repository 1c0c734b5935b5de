"""``/metrics`` in the Prometheus text format: request counts and latency histograms per route
(an ASGI middleware), and the service's own figures (events stored, duplicates, rejected,
applied, replayed at start, stream messages, model version, catalog size, the index's recall)
read from the engine at scrape time. Each app has its own registry (no global state)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from scenerec.serving.engine import Engine

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _EngineCollector(Collector):
    """The engine's counters and gauges, read when scraped."""

    def __init__(self, engine: Callable[[], Engine | None], stream: Callable[[], dict[str, int]]):
        self._engine = engine
        self._stream = stream

    def collect(self) -> Iterator[Metric]:
        engine = self._engine()
        ready = GaugeMetricFamily("scenerec_ready", "1 once the state is rebuilt and served")
        ready.add_metric([], 0.0 if engine is None else 1.0)
        yield ready
        for name, value in self._stream().items():
            c = CounterMetricFamily(f"scenerec_stream_{name}", f"stream messages {name}")
            c.add_metric([], value)
            yield c
        if engine is None:
            return
        for name, help_ in (
            ("stored", "events stored durably and applied"),
            ("duplicates", "events not stored again: their event_id was stored before"),
            ("rejected", "events rejected (blank ids, future timestamps)"),
            ("replayed", "stored events replayed into the state at start"),
        ):
            c = CounterMetricFamily(f"scenerec_events_{name}", help_)
            c.add_metric([], engine.counts[name])
            yield c
        applied = CounterMetricFamily("scenerec_events_applied", "events applied to the state")
        applied.add_metric([], engine.learner.events_applied)
        yield applied
        version = GaugeMetricFamily(
            "scenerec_model_version", "serving model version", labels=["model", "run_id"]
        )
        version.add_metric([engine.model.name, engine.run_id], engine.learner.version)
        yield version
        report = engine.items.index.report
        items = GaugeMetricFamily("scenerec_catalog_items", "items with a text vector")
        items.add_metric([], engine.items.index.size)
        yield items
        recall = GaugeMetricFamily(
            "scenerec_index_recall_at_10",
            "recall@10 of the item index against exact search",
            labels=["kind"],
        )
        recall.add_metric([report.kind], report.recall_at_10)
        yield recall


class Metrics:
    """The registry of one app and the middleware that feeds it."""

    def __init__(
        self, engine: Callable[[], Engine | None], stream: Callable[[], dict[str, int]]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "scenerec_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scenerec_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(engine, stream))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """An ASGI middleware that counts and times every HTTP request by route template."""

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            t0 = time.perf_counter()
            status = [500]

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                method = scope.get("method", "")
                self.latency.labels(method, route).observe(time.perf_counter() - t0)
                self.requests.labels(method, route, str(status[0])).inc()

        return timed


__all__ = ["Metrics"]
