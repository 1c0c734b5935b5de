"""ScenarioFusion: one user vector per scenario, fused per target scenario with learned weights.

For each scenario ``s`` a user has vectors built from their events there only: ``x_s``, the user
vector of a base factor model (ALS fitted on every scenario, so all scenarios share its item
factors ``y_i``; ``x_s`` is the exact least-squares fold-in of the user's events in ``s``) and
``t_s``, their language-model interest vector (the decayed sum of their items' and queries' text
vectors: ``scenerec.text.users.interest_sums``). A target scenario ``t`` scores item ``i`` as::

    score = b_t (sum_s w_st x_s) . y_i  +  c_t (sum_s w_st t_s) . e_i  +  d_t log(1 + pop_t(i))

with ``w_st = softmax_s(a[s, t] + per-user terms)`` over the scenarios where the user has events:
the seed formula ``v = 1/C sum_s w_s x_s`` with learned, target-dependent weights. The weights and
scales are learned on the newest events of sampled training users (``models.labels``), some with
their whole target history held out, so the weights learn how much a user's other scenarios say
about the target; the text and popularity scales are then calibrated for ranking, apart for users
warm and cold in the target (``learn``). A weight can put everything on one scenario: the fusion
contains each single-scenario user vector it fuses. Use it when scenarios share users; it serves
users cold in the target from their other scenarios and new items through their text, and learns
online (a user's text vector in O(dim), their factor vector in one small solve).
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch

from scenerec.data.histories import DAY_SECONDS, Histories
from scenerec.errors import EncoderError
from scenerec.models.als import ALS, ALSConfig
from scenerec.models.batch import UserBatch
from scenerec.models.fusion.config import ScenarioFusionConfig
from scenerec.models.fusion.items import (
    all_item_factors,
    fit_text_map,
    log_popularity,
    new_item_text,
)
from scenerec.models.fusion.learn import learn_weights
from scenerec.models.fusion.net import FusionBatch, FusionWeights
from scenerec.models.fusion.state import Events, UserState, reserve, unit
from scenerec.models.labels import split_labels
from scenerec.models.online import OnlineMixin
from scenerec.models.state import TrainState
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.text.cache import CachedEncoder
from scenerec.text.embeddings import encode_items, encode_queries, normalize_query
from scenerec.text.encoder import TextEncoder, check_fingerprint, make_encoder
from scenerec.text.templates import render_items


class ScenarioFusion(OnlineMixin[ScenarioFusionConfig]):
    """Per-scenario user vectors fused per target scenario; see the module docstring."""

    config_class = ScenarioFusionConfig
    name = "fusion"
    text_map_: FloatMatrix | None = None
    _item_factors: FloatMatrix | None = None

    def __init__(self, config: ScenarioFusionConfig | None = None) -> None:
        super().__init__(config)
        self._stale: dict[int, set[int]] = {}  # user -> scenarios to fold in again

    # ------------------------------------------------------------------ fit
    def _fit(self, data: TrainState) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        self._encode_catalog(data)
        targets, labels, part = split_labels(
            data,
            max_users=cfg.label_users,
            cold_share=cfg.cold_share,
            seed=self.seed,
            tag="fusion labels",
        )
        self.base_ = self._fit_base(part)
        self._fit_text_map(part)
        self._item_factors = None
        state, factors = self._user_vectors(part)
        self.weights_ = FusionWeights(
            data.n_scenarios, learned=cfg.fusion == "learned", per_user=cfg.per_user
        )
        warm: list[str] = []
        if self.warm_weights:  # online fine-tuning starts from the serving weights
            self.weights_.load(self.warm_weights)
            warm = sorted(self.warm_weights)
        result = learn_weights(self, part, state, factors, labels, targets)
        # the vectors that serve: every event, a base model fitted on every event
        self.base_ = self._fit_base(data)
        self._fit_text_map(data)
        self._item_factors = None
        self.state_, self.factors_ = self._user_vectors(data)
        self.n_fit_items_ = data.n_items
        self.fit_info = {
            "train": result,
            "label_users": {data.scenarios[t]: labels.count(t) for t in targets},
            "items_with_text": int(self.has_text_.sum()),
            "fit_seconds": round(time.perf_counter() - t0, 1),
        }
        if warm:
            self.fit_info["warm_start"] = warm

    def _encode_catalog(self, data: TrainState) -> None:
        cfg = self.config
        n = data.n_items
        self.item_text_ = np.zeros((n, 0), np.float32)
        self.has_text_ = np.zeros(n, bool)
        self.query_text_ = np.zeros((0, 0), np.float32)
        self.encoder_fingerprint_: str | None = None
        self._queries = None
        if cfg.encoder is None or cfg.vectors == "factors" or data.catalog is None:
            return
        encoder = self._get_encoder()
        items = encode_items(data.catalog, encoder, cfg.template)
        if not items.has_text.any():
            return  # nothing to read: factors only (fit_info says items_with_text 0)
        self.item_text_ = np.ascontiguousarray(items.vectors, np.float32)
        self.has_text_ = items.has_text.copy()
        self._queries = encode_queries(list(data.histories.queries), encoder)
        self.query_text_ = self._queries.vectors
        self.encoder_fingerprint_ = encoder.fingerprint

    @property
    def uses_factors(self) -> bool:
        return self.config.vectors != "text"

    def _fit_base(self, data: TrainState) -> ALS | None:
        if not self.uses_factors:
            return None
        base = ALS(ALSConfig.from_dict(dict(self.config.base), source="fusion base"))
        return base.fit_state(data, options=self.options)

    @property
    def _half_life_s(self) -> float:
        hl = self.config.half_life_days
        return math.inf if hl is None else hl * DAY_SECONDS

    def _get_encoder(self) -> TextEncoder:
        enc: TextEncoder | None = getattr(self, "_encoder", None)
        if enc is None and self.config.encoder is not None:
            enc = make_encoder(self.config.encoder, cache=self.config.text_cache)
            self._encoder = enc
        if enc is None:
            raise EncoderError("this ScenarioFusion reads no text (encoder: null)")
        return enc

    # ------------------------------------------------------------------ user vectors
    def _user_vectors(self, data: TrainState) -> tuple[UserState, FloatMatrix]:
        """Every user's text state and per-scenario factor vectors, from ``data``'s events."""
        h = data.histories
        d = self.item_text_.shape[1]
        ev = Events.of(h, self._queries if d else None)
        state = UserState.build(
            ev,
            data.n_users,
            data.n_scenarios,
            self.item_text_,
            self.query_text_ if d else np.zeros((0, 0), np.float32),
            np.zeros((data.n_items, 0), np.float32),
            self._half_life_s,
            self.config.query_weight,
        )
        f = self.base_.config.factors if self.base_ is not None else 0
        factors = np.zeros((data.n_users, data.n_scenarios, f), np.float32)
        if self.base_ is not None:
            for s in range(data.n_scenarios):
                factors[:, s] = self.base_.fold_in(data.matrix(s).astype(np.float32))
        return state, factors

    def item_factors(self, n_items: int) -> FloatMatrix:
        """(n_items, f) the base model's item factors; an item it has no events for gets
        factors mapped from its text (``fusion.items``), or zero without text."""
        if self.base_ is None:
            return np.zeros((n_items, 0), np.float32)
        cached = self._item_factors
        if cached is None or len(cached) != n_items:
            seen = self.base_.train_state.popularity_of(None) > 0  # items the base had events of
            y = self.base_.item_factors
            cached = all_item_factors(
                n_items, y, seen, self.item_text_, self.has_text_, self.text_map_
            )
            self._item_factors = cached
        return cached

    def _fit_text_map(self, data: TrainState) -> None:
        """The text -> factor map new items (text only) get factors from."""
        self.text_map_ = None
        if self.base_ is not None:
            seen = data.popularity_of(None) > 0
            y = self.base_.item_factors
            self.text_map_ = fit_text_map(self.item_text_, self.has_text_, y, seen)

    def inputs(
        self, state: UserState, users: IdxArray
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray]:
        """Unit text vectors (B, S, d), weight features (B, S, 2) and active scenarios (B, S)."""
        weight = state.weight[users]
        feats = np.stack([np.log1p(state.count[users]), np.log1p(weight)], -1).astype(np.float32)
        active = (state.count[users] > 0) & (weight > 0)
        return unit(state.text[users]), feats, active

    # ------------------------------------------------------------------ scoring
    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        rows = np.maximum(users.user_idx, 0)
        text, feats, active = self.inputs(self.state_, rows)
        fac = self.user_factors(rows).copy()
        for i in users.adhoc:
            text[i], feats[i], active[i], fac[i] = self._adhoc_inputs(users, i)
        t = users.scenario_idx
        b = FusionBatch(
            text=torch.from_numpy(text),
            factors=torch.from_numpy(fac),
            feats=torch.from_numpy(feats),
            active=torch.from_numpy(active),
            target=t,
            label=torch.zeros(len(rows), dtype=torch.long),
        )
        pop = self._log_pop(t, items)
        with torch.no_grad():
            out = self.weights_.logits(
                b,
                torch.from_numpy(self.item_text_[items]),
                torch.from_numpy(self.item_factors(self.train_state.n_items)[items]),
                torch.from_numpy(pop.astype(np.float32)),
                self.config.per_user,
            )
        scores: FloatMatrix = out.numpy().astype(np.float32)
        scores[~active.any(axis=1)] = np.nan  # nothing to fuse: the fallback ranks
        return scores

    def _log_pop(self, target: int | None, items: IdxArray) -> FloatMatrix:
        pop = self.train_state.popularity_of(target)
        return log_popularity(pop, items, int(getattr(self, "n_fit_items_", len(pop))))

    def _adhoc_inputs(
        self, users: UserBatch, i: int
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray, FloatMatrix]:
        """One ad-hoc history's inputs (no queries: ``HistoryEvent`` carries none)."""
        h, sl = users.history(i)
        n_scen = self.state_.text.shape[1]
        one = Histories.of_one(
            h.item_idx[sl], h.scenario_idx[sl], h.behavior_idx[sl], h.timestamp[sl], h.weight[sl]
        )
        ev = Events.of(one)
        # An event whose scenario the model does not know counts as one in the target scenario
        # (the context the request comes from).
        bad = (ev.scenario < 0) | (ev.scenario >= n_scen)
        ev.scenario[bad] = users.scenario_idx or 0
        d = self.item_text_.shape[1]
        st = UserState.build(
            ev,
            1,
            n_scen,
            self.item_text_,
            np.zeros((0, d), np.float32),
            np.zeros((len(self.item_text_), 0), np.float32),
            self._half_life_s,
            self.config.query_weight,
        )
        text, feats, active = self.inputs(st, np.zeros(1, np.int64))
        fac = np.zeros((n_scen, self.factors_.shape[2]), np.float32)
        if self.base_ is not None:
            n_items = len(self.base_.item_factors)
            for s in range(n_scen):
                sel = (ev.scenario == s) & (ev.item < n_items)
                if sel.any():
                    row = sp.csr_matrix(
                        (ev.weight[sel].astype(np.float32), (np.zeros(sel.sum()), ev.item[sel])),
                        shape=(1, n_items),
                    )
                    fac[s] = self.base_.fold_in(row)[0]
        return text[0], feats[0], active[0], fac

    # ------------------------------------------------------------------ online
    def _partial_fit(self, events: pl.DataFrame) -> None:
        ts, cfg = self.train_state, self.config
        d = self.item_text_.shape[1]
        # Encode first: if the encoder fails, nothing of the model has changed yet.
        new_text = new_item_text(
            events, cfg.template, self._encode, len(self.item_text_), ts.n_items, d
        )
        query_idx = np.full(events.height, -1, np.int64)
        query_text = np.zeros((0, d), np.float32)
        if d and C.QUERY in events.columns and cfg.query_weight > 0:
            normed = [normalize_query(q) if q else "" for q in events[C.QUERY].to_list()]
            distinct = sorted({q for q in normed if q})
            if distinct:
                query_text = self._encode(distinct, kind="query")
                pos = {q: j for j, q in enumerate(distinct)}
                query_idx = np.array([pos.get(q, -1) for q in normed], np.int64)
        ev = Events(
            user=events[C.USER_IDX].to_numpy().astype(np.int64),
            scenario=events[C.SCENARIO_IDX].to_numpy().astype(np.int64),
            item=events[C.ITEM_IDX].to_numpy().astype(np.int64),
            query=query_idx,
            timestamp=events[C.TIMESTAMP].to_numpy().astype(np.int64),
            weight=events[C.WEIGHT].to_numpy().astype(np.float64),
        )
        self._grow(ts.n_users, ts.n_items, ts.n_scenarios, new_text)
        no_ids = np.zeros((len(self.item_text_), 0), np.float32)
        self.state_.add(
            ev, self.item_text_, query_text, no_ids, self._half_life_s, cfg.query_weight
        )
        # Factor vectors are folded in again when next read (``user_factors``): an event costs
        # O(dim) here, the small solve happens once per user and scenario however many came.
        if self.base_ is not None:
            for u, sc in zip(ev.user.tolist(), ev.scenario.tolist(), strict=True):
                self._stale.setdefault(u, set()).add(sc)

    def user_factors(self, users: IdxArray) -> FloatMatrix:
        """(len(users), S, f) the users' per-scenario factor vectors, folded in again first
        where events arrived since they were last read."""
        if self._stale:
            due = [(u, sc) for u in np.unique(users).tolist() for sc in self._stale.pop(u, ())]
            if due:
                arr = np.array(due, np.int64)
                self._refold(arr[:, 0], arr[:, 1])
        out: FloatMatrix = self.factors_[users]
        return out

    def _refold(self, users: IdxArray, scen: IdxArray) -> None:
        """Fold these (user, scenario) pairs in again from their histories."""
        if self.base_ is None or len(users) == 0:
            return
        n_items = len(self.base_.item_factors)
        for s in np.unique(scen):
            u = users[scen == s]
            rows = UserBatch(u, int(s), self.train_state).matrix(int(s)).astype(np.float32)
            rows = sp.csr_matrix(rows[:, :n_items])
            self.factors_[u, s] = self.base_.fold_in(rows)

    def _grow(
        self, n_users: int, n_items: int, n_scen: int, new_text: tuple[FloatMatrix, np.ndarray]
    ) -> None:
        """Room for the users, items and scenarios new events bring (arrays keep spare rows)."""
        old_s = self.factors_.shape[1]
        self.state_.grow(n_users, n_scen)
        if n_scen > old_s:
            grown = np.zeros((len(self.factors_), n_scen, self.factors_.shape[2]), np.float32)
            grown[:, :old_s] = self.factors_
            self.factors_ = grown
            old = self.weights_.arrays()
            self.weights_ = FusionWeights(
                n_scen, learned=self.config.fusion == "learned", per_user=self.config.per_user
            )
            self.weights_.load(old)  # an unseen scenario starts neutral (logit 0, default scales)
        self.factors_ = reserve(self.factors_, n_users)
        old_i = int(getattr(self, "n_items_", len(self.item_text_)))
        if n_items > old_i:
            self.item_text_ = reserve(self.item_text_, n_items)
            self.has_text_ = reserve(self.has_text_, n_items)
            text, has = new_text
            self.item_text_[old_i:n_items] = text
            self.has_text_[old_i:n_items] = has
            self._item_factors = None  # new rows: mapped from their text when next read
        self.n_items_ = max(old_i, n_items)

    def _encode(
        self, texts: list[str], *, kind: Literal["passage", "query"] = "passage"
    ) -> FloatMatrix:
        enc = self._get_encoder()
        check_fingerprint(enc.fingerprint, self.encoder_fingerprint_)
        if isinstance(enc, CachedEncoder):  # online: a few texts per call, see its ``store``
            return enc.encode(texts, kind=kind, store=False)
        return enc.encode(texts, kind=kind)

    def _add_items(self, catalog: pl.DataFrame) -> None:
        """New or updated catalog rows: text encoded now, scored through it (no factors yet)."""
        ts, d = self.train_state, self.item_text_.shape[1]
        n_new = ts.n_items - int(getattr(self, "n_items_", len(self.item_text_)))
        blank = (np.zeros((max(n_new, 0), d), np.float32), np.zeros(max(n_new, 0), bool))
        self._grow(ts.n_users, ts.n_items, ts.n_scenarios, blank)
        if d == 0:
            return
        texts, ok = render_items(catalog, self.config.template)
        if ok.any():
            rows = catalog[C.ITEM_IDX].to_numpy().astype(np.int64)[ok]
            vecs = self._encode([t for t, k in zip(texts, ok, strict=True) if k])
            self.item_text_[rows], self.has_text_[rows] = vecs, True
            self._item_factors = None

    def _forget_user(self, user_idx: int, events: Histories) -> None:
        st = self.state_
        st.text[user_idx], st.weight[user_idx], st.count[user_idx] = 0.0, 0.0, 0.0
        st.ref[user_idx] = 0
        self.factors_[user_idx] = 0.0
        self._stale.pop(user_idx, None)

    def _warm_weights(self) -> dict[str, np.ndarray]:
        return self.weights_.arrays()

    def _on_rebase(self) -> None:
        self.state_, self.factors_ = self._user_vectors(self.train_state)
        self._stale.clear()

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        n_i, n_u = self.train_state.n_items, self.train_state.n_users
        out = {
            "item_text": self.item_text_[:n_i],
            "has_text": self.has_text_[:n_i],
            "factors": self.user_factors(np.arange(n_u, dtype=np.int64)),
            **{f"weights.{k}": v for k, v in self.weights_.arrays().items()},
            **self.state_.arrays(n_u),
        }
        if self.base_ is not None:
            out.update({f"base.{k}": v for k, v in self.base_._arrays().items()})
        if self.text_map_ is not None:
            out["text_map"] = self.text_map_
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        # Copies: the loaded buffers may be read-only, and partial_fit updates in place.
        a = {k: np.array(v) for k, v in arrays.items()}
        self.item_text_ = a["item_text"]
        self.has_text_ = a["has_text"].astype(bool)
        self.n_items_ = len(self.item_text_)
        self.factors_ = a["factors"]
        self.state_ = UserState.from_arrays(a)
        self.weights_ = FusionWeights(
            self.factors_.shape[1],
            learned=self.config.fusion == "learned",
            per_user=self.config.per_user,
        )
        self.weights_.load({k[8:]: v for k, v in a.items() if k.startswith("weights.")})
        self.base_ = None
        if self.uses_factors:
            base = ALS(ALSConfig.from_dict(dict(self.config.base), source="fusion base"))
            base.options, base._train = self.options, self.train_state
            base._restore({k[5:]: v for k, v in a.items() if k.startswith("base.")})
            self.base_ = base
        self.text_map_ = a.get("text_map")
        self._item_factors = None
        self._queries = None

    def _manifest_extra(self) -> dict[str, Any]:
        return {"encoder_fingerprint": self.encoder_fingerprint_, "n_fit_items": self.n_fit_items_}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        self.encoder_fingerprint_ = extra.get("encoder_fingerprint")
        self.n_fit_items_ = int(extra.get("n_fit_items", self.train_state.n_items))


__all__ = ["ScenarioFusion"]
