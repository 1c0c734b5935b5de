"""The FastAPI application: the routes of the API over an ``Engine`` (see docs/serving.md).

``build_app`` returns the ASGI application to run: the FastAPI routes inside the body-size limit
inside the metrics middleware. The engine is attached to ``ServiceState`` once it is built (the
state is rebuilt in the background at start): until then every ``/v1`` route and ``/readyz``
answer 503. Write routes need the API key; read routes too with ``auth_reads``. CORS is off
unless origins are configured.

Read routes are ``async``: they run on the event loop itself, one at a time, instead of in the
thread pool. Their work is a few milliseconds of CPU under the engine's lock, so threads bring no
parallelism, only waits for the lock and the interpreter lock that stretched the latency tail
(p99 117 ms at 200 requests/s against 9 ms at 100). Writes stay in the thread pool: their
durable commit waits on the disk, and the loop serves reads meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response as RawResponse
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp

from scenerec import __version__
from scenerec.models.query import HistoryEvent
from scenerec.online import Recommendation
from scenerec.serving import dto
from scenerec.serving.auth import HEADER, ApiKey, presented_key
from scenerec.serving.config import ServingConfig
from scenerec.serving.engine import Engine
from scenerec.serving.errors import NotReadyError
from scenerec.serving.http import install_error_handlers, limit_body
from scenerec.serving.metrics import Metrics
from scenerec.serving.store import StoredEvent

PathId = Annotated[str, Path(min_length=1, max_length=dto.MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$")]
QueryId = Annotated[
    str | None, Query(min_length=1, max_length=dto.MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$")
]
K = Annotated[int, Query(ge=1, le=dto.MAX_K, description="list length")]
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
# module level: FastAPI resolves the dependency annotations (strings here) in module globals
KEY_HEADER = APIKeyHeader(name=HEADER, auto_error=False, description="the API key")


@dataclass
class ServiceState:
    """What the routes read: the engine once built, why it could not be, stream counters."""

    engine: Engine | None = None
    error: str | None = None
    stream: dict[str, int] = field(default_factory=dict)

    def ready(self) -> Engine:
        if self.engine is None:
            why = f": {self.error}" if self.error else " (rebuilding its state); retry shortly"
            raise NotReadyError(f"the service is not ready{why}")
        return self.engine


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": dto.ErrorOut} for c in (*codes, 422, 503)}


def _score(x: float) -> float:
    return float(x) if math.isfinite(x) else (3.4e38 if x > 0 else -3.4e38)


def _items(engine: Engine, ids: Sequence[str], scores: Sequence[float]) -> list[dto.ItemOut]:
    titles = engine.items.titles
    return [
        dto.ItemOut(item_id=i, score=_score(float(s)), title=titles.get(i))
        for i, s in zip(ids, scores, strict=True)
    ]


def _recommendations(
    engine: Engine, rec: Recommendation, user_id: str | None, scenario: str | None
) -> dto.RecommendationsOut:
    items = _items(engine, rec.item_ids, rec.scores.tolist())
    for item, why in zip(items, rec.explanations, strict=False):
        item.explanation = dto.ExplanationOut(
            source=why.source,
            contributions={k: _score(v) for k, v in why.contributions.items()},
            because=[
                dto.BecauseOut(item_id=b.item_id, scenario=b.scenario, weight=_score(b.weight))
                for b in why.because
            ],
        )
    model = dto.ModelInfo(name=rec.model, version=rec.model_version, run_id=engine.run_id)
    return dto.RecommendationsOut(
        user_id=user_id, scenario=scenario, items=items, fallback=rec.fallback, model=model
    )


def build_app(state: ServiceState, api_key: ApiKey, config: ServingConfig) -> ASGIApp:
    """The service as an ASGI application (see the module docstring)."""
    api = FastAPI(
        title="scenerec",
        version=__version__,
        description="Cross-scenario recommendations, events, search and forgetting over HTTP.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(api)

    def need_key(
        x_api_key: Annotated[str | None, Security(KEY_HEADER)] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> None:
        api_key.check(presented_key(x_api_key, authorization))

    writes = [Depends(need_key)]
    reads = writes if config.auth_reads else []
    ready = state.ready

    @api.post(
        "/v1/events",
        response_model=dto.EventsOut,
        dependencies=writes,
        responses=_errors(401, 403, 413),
    )
    def post_events(body: dto.EventsIn) -> dto.EventsOut:
        """Store a batch of events durably and apply them (idempotent by ``event_id``)."""
        events = [
            StoredEvent(
                e.user_id,
                e.item_id,
                e.scenario,
                e.behavior,
                e.timestamp,
                e.value,
                e.query,
                e.event_id,
            )
            for e in body.events
        ]
        done = ready().ingest(events)
        return dto.EventsOut(
            accepted=done.accepted,
            duplicates=done.duplicates,
            rejected=[dto.Rejected(index=i, event_id=e, reason=r) for i, e, r in done.rejected],
            model_version=done.model_version,
        )

    @api.get(
        "/v1/users/{user_id}/recommendations",
        response_model=dto.RecommendationsOut,
        dependencies=reads,
        responses=_errors(401, 403, 404),
    )
    async def user_recommendations(
        user_id: PathId,
        scenario: QueryId = None,
        k: K = 10,
        explain: bool = True,
        fallback: Annotated[
            bool, Query(description="an unknown user gets popular items instead of a 404")
        ] = False,
        exclude_seen: bool = True,
    ) -> dto.RecommendationsOut:
        """Top-k items for a user in a scenario, with the model version and per-item reasons."""
        engine = ready()
        rec = engine.recommend(
            user_id, scenario, k, explain=explain, fallback=fallback, exclude_seen=exclude_seen
        )
        return _recommendations(engine, rec, user_id, scenario)

    @api.post(
        "/v1/recommendations",
        response_model=dto.RecommendationsOut,
        dependencies=reads,
        responses=_errors(401, 403, 404, 413),
    )
    async def session_recommendations(body: dto.SessionIn) -> dto.RecommendationsOut:
        """Top-k items for an anonymous session's history (and optional query text)."""
        engine = ready()
        history = [
            HistoryEvent(e.item_id, e.scenario, e.behavior, e.timestamp) for e in body.history
        ]
        rec = engine.recommend_session(
            history, body.query, body.scenario, body.k, explain=body.explain
        )
        return _recommendations(engine, rec, None, body.scenario)

    @api.get(
        "/v1/users/{user_id}",
        response_model=dto.UserOut,
        dependencies=reads,
        responses=_errors(401, 403, 404),
    )
    async def user_summary(user_id: PathId) -> dto.UserOut:
        """How many events the service holds for a user, per scenario."""
        history = ready().history(user_id)
        per: dict[str, int] = {}
        for e in history:
            per[e.scenario or ""] = per.get(e.scenario or "", 0) + 1
        last = max((e.timestamp for e in history), default=None)
        return dto.UserOut(user_id=user_id, events=len(history), scenarios=per, last_timestamp=last)

    @api.delete(
        "/v1/users/{user_id}",
        response_model=dto.ForgetOut,
        dependencies=writes,
        responses=_errors(401, 403),
    )
    def forget_user(user_id: PathId) -> dto.ForgetOut:
        """Forget a user everywhere: stored events, online state, vectors."""
        known, deleted = ready().forget(user_id)
        return dto.ForgetOut(user_id=user_id, forgotten=known, events_deleted=deleted)

    @api.get(
        "/v1/items/{item_id}/similar",
        response_model=dto.SimilarOut,
        dependencies=reads,
        responses=_errors(401, 403, 404),
    )
    async def similar_items(item_id: PathId, scenario: QueryId = None, k: K = 10) -> dto.SimilarOut:
        """Items most similar to one (by text; by co-occurrence for an item without text)."""
        engine = ready()
        (labels, scores), by = engine.similar(item_id, scenario, k)
        items = _items(engine, engine.item_ids(labels), scores.tolist())
        return dto.SimilarOut(item_id=item_id, scenario=scenario, items=items, by=by)

    @api.post(
        "/v1/items",
        response_model=dto.ItemsOut,
        dependencies=writes,
        responses=_errors(401, 403, 409, 413),
    )
    def put_items(body: dto.ItemsIn) -> dto.ItemsOut:
        """Add or update catalog items: encoded and recommendable at once."""
        engine = ready()
        latest = {i.item_id: i.model_dump(exclude_none=True) for i in body.items}
        added, updated = engine.put_items(list(latest.values()))
        return dto.ItemsOut(added=added, updated=updated, model_version=engine.learner.version)

    @api.get(
        "/v1/search",
        response_model=dto.SearchOut,
        dependencies=reads,
        responses=_errors(401, 403, 404),
    )
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=dto.MAX_TEXT)],
        scenario: QueryId = None,
        k: K = 10,
        user_id: QueryId = None,
    ) -> dto.SearchOut:
        """Semantic search over the catalog, personalised when ``user_id`` is given."""
        engine = ready()
        (labels, scores), personal = engine.search(q, scenario, k, user_id)
        items = _items(engine, engine.item_ids(labels), scores.tolist())
        return dto.SearchOut(
            query=q, user_id=user_id, scenario=scenario, items=items, personalised=personal
        )

    @api.get("/healthz", response_model=dto.HealthOut)
    async def healthz() -> dto.HealthOut:
        """The process is up."""
        return dto.HealthOut()

    @api.get("/readyz", response_model=dto.ReadyOut, responses=_errors())
    def readyz() -> dto.ReadyOut:
        """The state is rebuilt and the store answers."""
        engine = ready()
        engine.store.ping()
        rep = engine.items.index.report
        return dto.ReadyOut(
            ready=True,
            model=dto.ModelInfo(
                name=engine.model.name, version=engine.learner.version, run_id=engine.run_id
            ),
            store=engine.store.display,
            events_applied=engine.learner.events_applied,
            catalog_items=engine.items.index.size,
            index={"kind": rep.kind, "size": rep.size, "recall_at_10": rep.recall_at_10},
        )

    metrics = Metrics(lambda: state.engine, lambda: dict(state.stream))

    @api.get(
        "/metrics",
        response_class=RawResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> RawResponse:
        """Prometheus text: requests, latency, events, model version, index recall."""
        return RawResponse(metrics.render(), media_type=_PROMETHEUS)

    app: ASGIApp = api
    if config.cors_origins:
        app = CORSMiddleware(
            api,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[HEADER, "Authorization", "Content-Type"],
        )
    return metrics.middleware(limit_body(app, config.max_body_bytes))


__all__ = ["ServiceState", "build_app"]
