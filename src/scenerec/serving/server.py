"""Start the service: verify the run and open the store (failing fast, before listening), listen
at once (``/healthz`` answers, ``/readyz`` says 503), rebuild the state in the background, then
serve, and consume the event stream when one is given."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from threadpoolctl import threadpool_limits

from scenerec.models.runs import read_manifest
from scenerec.serving.app import ServiceState, build_app
from scenerec.serving.auth import ApiKey
from scenerec.serving.config import ServingConfig
from scenerec.serving.engine import Engine
from scenerec.serving.store import SqlStore, open_store
from scenerec.serving.stream import StreamConsumer, StreamSource

log = logging.getLogger("scenerec.serving")
DEFAULT_STORE = ".events.sqlite"  # in the run directory; a dot file is not part of the run


def default_store(run_dir: Path) -> str:
    """The SQLite store of a run when ``--store`` is not given."""
    return f"sqlite://{(run_dir / DEFAULT_STORE).resolve()}"


def serve(
    run_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    store: str | None = None,
    consume: str | None = None,
    api_key: ApiKey,
    config: ServingConfig | None = None,
    log_level: str = "warning",
    on_ready: Callable[[Engine], None] | None = None,
) -> int:
    """Run the service until it is stopped (SIGINT / SIGTERM); returns the exit code (1 when
    the state could not be rebuilt). ``on_ready`` is called with the engine once it serves.

    Raises:
        RunError, ConfigError, StoreError: before listening, for a run that cannot be served, a
            bad stream URL or a store that cannot be opened.
    """
    import uvicorn

    cfg = config or ServingConfig()
    run_id = str(read_manifest(run_dir).get("run_id", ""))  # not a run: fail now
    threadpool_limits(limits=cfg.threads, user_api="blas")  # BLAS libraries loaded so far
    source = StreamSource.parse(consume) if consume else None
    events = open_store(store or default_store(run_dir))
    events.bind(run_id)  # another run's store: fail now too
    state = ServiceState()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(state, api_key, cfg),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
    )
    failed = threading.Event()

    def rebuild() -> None:
        try:
            engine = Engine.open(run_dir, events, cfg)
            # now that every library is loaded (faiss, implicit): BLAS and OpenMP alike; the
            # index was built with every core
            threadpool_limits(limits=cfg.threads)
            gc.collect()
            gc.freeze()  # the loaded state never becomes garbage: keep it out of collections
            state.engine = engine
            log.info("ready on http://%s:%d (store %s)", host, port, events.display)
            if on_ready is not None:
                on_ready(state.engine)
        except Exception as exc:  # reported, then the server stops with exit code 1
            state.error = f"{type(exc).__name__}: {exc}"
            log.error("cannot serve %s: %s", run_dir, state.error)
            failed.set()
            server.should_exit = True

    consumer = None
    if source is not None:
        consumer = StreamConsumer(source, lambda: state.engine, state.stream)
    threading.Thread(target=rebuild, name="scenerec-rebuild", daemon=True).start()
    if consumer is not None:
        consumer.start()
    try:
        server.run()
    finally:
        if consumer is not None:
            consumer.stop()
        _close(state, events)
    return 1 if failed.is_set() else 0


def _close(state: ServiceState, store: SqlStore) -> None:
    if state.engine is not None:
        state.engine.close()
    else:
        store.close()


__all__ = ["DEFAULT_STORE", "default_store", "serve"]
