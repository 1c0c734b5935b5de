"""Fine-tuning while serving: a warm-started refit, a gate on the newest events, an atomic swap.

1. Under the lock, a snapshot of the serving model's training state (O(recent events)); from then
   on every change (events, catalog additions, forgets) is journaled.
2. Outside the lock: the newest ``holdout_events`` events are held out; a new model of the same
   class and config (``train`` overrides applied) is fitted on the rest, starting from the
   serving model's weights (``OnlineMixin.warm_start_from``).
3. The gate: both models rank each held-out event from the user's events before it (an ad-hoc
   history, so neither model's user state has seen the event; neither's weights were trained on
   it). The serving model is scored under the lock in short chunks so readers keep being served.
   The candidate passes if its NDCG@k is at least the serving model's minus ``tolerance``.
4. A passing candidate learns the held-out events, then, under the lock, the journal, and
   replaces the serving model in one assignment: a reader sees the old model or the new one,
   never a half-loaded one. A user forgotten during the fine-tune cancels the swap (the candidate
   was trained on their events).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from scenerec.data.dataset import align_catalog
from scenerec.errors import SceneRecError, SchemaError
from scenerec.models.online import OnlineMixin
from scenerec.models.query import HistoryEvent, RecQuery
from scenerec.models.state import TrainState
from scenerec.online.events import state_events

if TYPE_CHECKING:
    from scenerec.online.adaptive import AdaptiveRecommender

log = logging.getLogger(__name__)
_CHUNK = 25  # held-out events the serving model ranks per hold of the lock
_WINDOW = 200  # newest events of a user's ad-hoc history in the gate


@dataclass
class FineTuneResult:
    """What one fine-tune did (kept in ``AdaptiveRecommender.fine_tunes``).

    Attributes:
        reason: what triggered it (``drift in 'app'``, ``new scenario 'live'``, ``manual``...).
        at_event: the online layer's event counter when it started.
        at_time: the newest event time (seconds) when it started.
        train_events, holdout_events: events the candidate was fitted on / gated on.
        serving, candidate: each model's ``{"ndcg@k", "hit@k"}`` on the holdout.
        swapped: the candidate replaced the serving model.
        version: the serving version afterwards.
        seconds: wall time.
        error: why it did not finish, when it did not.
    """

    reason: str
    at_event: int
    at_time: int = 0
    train_events: int = 0
    holdout_events: int = 0
    serving: dict[str, float] | None = None
    candidate: dict[str, float] | None = None
    swapped: bool = False
    version: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_fine_tune(ar: AdaptiveRecommender, reason: str) -> FineTuneResult:
    """One fine-tune of ``ar`` (see the module docstring); never raises for a failed fit."""
    t0 = time.perf_counter()
    cfg = ar.config.fine_tune
    with ar.lock:
        serving = ar.model
        snap = serving.train_state.copy()
        catalog = ar.catalog
        result = FineTuneResult(reason, ar.events_applied, ar.now, version=ar.version)
        ar.journal = []
    try:
        snap.compact()
        h = snap.histories
        n_hold = min(cfg.holdout_events, h.n_events // 5)
        hold = np.zeros(h.n_events, bool)
        hold[np.argsort(h.timestamp, kind="stable")[h.n_events - n_hold :]] = True
        train = snap.subset(~hold, tag=f"fine-tune {ar.version}")
        train.catalog = align_catalog(snap.vocabularies["items"], catalog, keep="last")
        result.train_events, result.holdout_events = int((~hold).sum()), n_hold
        candidate = _candidate(serving, catalog, cfg.train)
        candidate.fit_state(train, options=serving.options)
        candidate.train_state.catalog = None
        candidate.warm_weights = None
        queries = list(_gate_queries(snap, hold))
        result.candidate = _gate(candidate, queries, ar.config.k)
        result.serving = _gate(serving, queries, ar.config.k, lock=ar.lock)
        margin = result.candidate["ndcg"] - result.serving["ndcg"]
        if margin < -cfg.tolerance:
            result.error = f"gate: candidate NDCG {margin:+.4f} below the serving model"
        else:
            candidate.partial_fit(state_events(snap, hold))
            with ar.lock:
                result.error = ar.swap(candidate, serving)
                result.swapped = result.error is None
    except SceneRecError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log.warning("fine-tune (%s) failed: %s", reason, exc)
    except Exception as exc:  # a bug must not take the serving model down with it
        result.error = f"internal error: {type(exc).__name__}: {exc}"
        log.exception("fine-tune (%s) failed", reason)
    finally:
        with ar.lock:
            ar.journal = None
            result.version = ar.version
    result.seconds = round(time.perf_counter() - t0, 3)
    log.info(
        "fine-tune (%s): swapped=%s serving=%s candidate=%s in %.1fs",
        reason,
        result.swapped,
        result.serving,
        result.candidate,
        result.seconds,
    )
    return result


def _candidate(
    serving: OnlineMixin[Any], catalog: pl.DataFrame | None, train: dict[str, Any]
) -> OnlineMixin[Any]:
    """A new model of the serving model's class and config (``train`` overrides applied to
    neural models), warm-started from it."""
    cfg = serving.config
    data = cfg.to_dict()
    if "train" in type(cfg).model_fields:
        data["train"] = {**data["train"], **train}
    if "encoder" in type(cfg).model_fields and catalog is None:
        raise SchemaError(
            "the model reads item text but the online layer has no catalog to refit from",
            fix="pass catalog= to AdaptiveRecommender (or keep catalog.parquet in the run)",
        )
    candidate = type(serving)(type(cfg).from_dict(data, source="fine_tune.train"))
    return candidate.warm_start_from(serving)


def _gate_queries(state: TrainState, hold: npt.NDArray[np.bool_]) -> Iterator[tuple[RecQuery, str]]:
    """For each held-out event: a query with the user's events before it as an ad-hoc history,
    and the item acted on."""
    h = state.histories
    v = state.vocabularies
    owners = h.owners()
    for e in np.flatnonzero(hold).tolist():
        sl = h.slice_of(int(owners[e]))
        start = max(sl.start, e - _WINDOW)
        past = [
            HistoryEvent(
                item_id=v["items"].to_ids([h.item_idx[j]])[0],
                scenario=v["scenarios"].to_ids([h.scenario_idx[j]])[0],
                behavior=v["behaviors"].to_ids([h.behavior_idx[j]])[0],
                timestamp=int(h.timestamp[j]),
            )
            for j in range(start, e)
        ]
        scen = v["scenarios"].to_ids([h.scenario_idx[e]])[0]
        yield RecQuery(history=past, scenario=scen), v["items"].to_ids([h.item_idx[e]])[0]


def _gate(
    model: OnlineMixin[Any], queries: list[tuple[RecQuery, str]], k: int, lock: Any = None
) -> dict[str, float]:
    """Mean NDCG@k and hit@k of ``model`` over the gate's queries."""
    ndcg = hits = 0.0
    for start in range(0, len(queries), _CHUNK):
        with lock if lock is not None else contextlib.nullcontext():
            for query, target in queries[start : start + _CHUNK]:
                ids = model.recommend(query, k=k).item_ids
                if target in ids:
                    hits += 1.0
                    ndcg += 1.0 / float(np.log2(ids.index(target) + 2))
    n = max(len(queries), 1)
    return {"ndcg": round(ndcg / n, 5), "hit": round(hits / n, 5)}


__all__ = ["FineTuneResult", "run_fine_tune"]
