"""The HTTP recommendation service (``scenerec serve``): FastAPI + uvicorn over the online
layer, with a durable event store, a NATS JetStream consumer, approximate item search, an API
key, limits and Prometheus metrics. See docs/serving.md.

- ``app``: the routes (``build_app``, ``ServiceState``); ``dto``: request / response models.
- ``engine``: a run + its store + its item space behind the API's operations.
- ``learner``: what is served (``AdaptiveRecommender``, or ``HistoryOverlay`` for models that
  do not learn online); ``items``: item vectors, similar items, search.
- ``store``: the event store (SQLite, PostgreSQL); ``stream``: the NATS consumer.
- ``auth``, ``http`` (errors, body limit), ``metrics``, ``config``, ``errors``.
- ``server``: start everything (``serve``).
"""

from __future__ import annotations

from scenerec.serving.config import ServingConfig

__all__ = ["ServingConfig"]
