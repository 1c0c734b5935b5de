"""The service's configuration (``scenerec serve --config serving.yaml``; every field has a
default that serves a run as it is)."""

from __future__ import annotations

from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.online.config import FineTuneConfig, OnlineConfig
from scenerec.retrieval import RetrievalConfig
from scenerec.text.encoder import EncoderConfig


def _online() -> OnlineConfig:
    # A restart rebuilds the state from the run plus the stored events, which a fine-tuned
    # model is not: fine-tuning while serving is opt-in (online.fine_tune.enabled: true).
    return OnlineConfig(fine_tune=FineTuneConfig(enabled=False))


class ServingConfig(FrozenConfig):
    """How the service runs.

    Attributes:
        max_body_bytes: larger request bodies are refused (413) before they are parsed.
        auth_reads: the read endpoints need the API key too (writes always do).
        cors_origins: origins allowed to call the API from a browser (none: CORS off).
        encoder: the text encoder of search, similar items and new items' vectors (``None``:
            the model's own encoder when it reads text, else the ``hashing`` encoder).
        retrieval: exact or approximate search over item vectors.
        personal_weight: weight of the user's interest vector in personalised search, relative
            to the query's similarity.
        interest_half_life_days: decay of a user's past items in that interest vector.
        replay_batch: events per step when the state is rebuilt from the store.
        online: the online layer (fine-tuning, exploration, drift) of models that learn online.
        max_future_seconds: events stamped further in the future than this are rejected.
        threads: BLAS and OpenMP threads of the server process once it serves. 1: each
            request runs on one core and concurrent requests share the cores (measured on the
            busy 2-core machine, 100k items: ALS scoring 14 -> 2 ms, a faiss search 15 -> 1 ms).
    """

    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    auth_reads: bool = False
    cors_origins: tuple[str, ...] = ()
    encoder: EncoderConfig | None = None
    retrieval: RetrievalConfig = RetrievalConfig()
    personal_weight: float = Field(default=0.5, ge=0.0)
    interest_half_life_days: float = Field(default=30.0, gt=0)
    replay_batch: int = Field(default=10_000, ge=1)
    online: OnlineConfig = Field(default_factory=_online)
    max_future_seconds: int = Field(default=86_400, ge=0)
    threads: int = Field(default=1, ge=1)


__all__ = ["ServingConfig"]
