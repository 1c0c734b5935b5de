"""ScenarioFusion: per-scenario interest vectors from language-model item text, fused per target.

Each user gets one interest vector per scenario, built from the language-model embeddings of the
items (and search queries) they touched there, weighted by behaviour and time decay: the same
quantity as ``scenerec.text.users.user_interest_vectors``, kept as un-normalised decayed sums
with a reference time, so a new event updates it in O(dim). A target scenario ``t`` fuses them as
``v = sum_s softmax_s(a[s, t] + per-user feature terms) * u_s`` over the scenarios where the user
has events (``fusion="uniform"`` gives the fixed ``1/C`` average instead), where ``u_s`` is the
text vector through a learned projection, next to the decayed mean of learned id embeddings of
the same events. Items are scored as ``v . [W e_i, q_i] + b_i``: their text embedding through a
learned projection, plus an optional id embedding and bias, so items without text fall back to
ids and new items with text only are scored through ``W e_i``. Use it when scenarios share users
and items have text; it serves users cold in the target scenario from their other scenarios and
learns online (``partial_fit``). No single paper: items are represented through their text as
in UniSRec (Hou et al., KDD 2022), and the fixed 1/C average of per-scenario profiles becomes a
learned, target-dependent attention over scenarios.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
from torch import nn

from scenerec.data.histories import DAY_SECONDS, Histories, interaction_matrix
from scenerec.errors import ConfigError, EncoderError, SchemaError
from scenerec.models.fusion.config import ScenarioFusionConfig
from scenerec.models.fusion.examples import Examples, FusionBatch
from scenerec.models.fusion.net import FusionNet, FusionParams, fuse, loss
from scenerec.models.fusion.state import Events, UserState, reserve, unit
from scenerec.models.nn import Holdout, IndexBatches, LazyAdam, NeuralRecommender, TrainingPlan
from scenerec.models.online import OnlineMixin
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.text.cache import CachedEncoder
from scenerec.text.embeddings import encode_items, encode_queries, normalize_query
from scenerec.text.encoder import TextEncoder, make_encoder
from scenerec.text.templates import render_items


class ScenarioFusion(NeuralRecommender[ScenarioFusionConfig], OnlineMixin[ScenarioFusionConfig]):
    """Per-scenario language-model interest vectors fused per target; see the module docstring.

    Learns online: ``partial_fit`` updates the decayed per-scenario sums of the users in the
    new events (O(dim) per event, the learned parameters fixed), which gives exactly the state a
    refit of the user vectors on all events would give. Unseen users and items grow the arrays;
    an unseen item takes its text from catalog columns (``title``, ``category``...) of the new
    events when they have them (else it has no text and no id signal until the next fit), and
    search queries of new events are encoded on the fly.
    """

    config_class = ScenarioFusionConfig
    name = "fusion"

    # ------------------------------------------------------------------ fit
    def _plan(self, data: TrainState, holdout: Holdout) -> TrainingPlan:
        """Train with a sampled softmax over leave-item-out examples (``fusion.examples``)."""
        cfg = self.config
        t0 = time.perf_counter()
        encoder = self._get_encoder()
        if data.catalog is None:
            raise SchemaError("ScenarioFusion needs the catalog at fit time")
        items = encode_items(data.catalog, encoder, cfg.template)
        h = data.histories
        queries = encode_queries(list(h.queries), encoder)
        self.encoder_fingerprint_ = encoder.fingerprint
        self.item_text_ = np.ascontiguousarray(items.vectors, dtype=np.float32)
        self.has_text_ = items.has_text.copy()
        self.n_items_ = data.n_items
        self._query_text = queries.vectors
        self._events = Events.of(h, queries)
        n_users, n_items, n_scen = data.n_users, data.n_items, data.n_scenarios
        kept = self._events.take(holdout.keep)
        hl, qw = self._half_life_s, cfg.query_weight
        no_ids = np.zeros((n_items, 0), np.float32)
        state = UserState.build(
            kept, n_users, n_scen, self.item_text_, queries.vectors, no_ids, hl, qw
        )
        dw = state.decayed_weights(kept, hl)
        ex = Examples.build(kept, dw, state, n_items, n_scen, queries.vectors, qw)
        if ex.n_users == 0:
            raise SchemaError(
                "ScenarioFusion found no training example: every user has a single item",
                fix="fit on users with at least two distinct items",
            )
        rows = kept.user * n_scen + kept.scenario
        R = interaction_matrix(rows, kept.item, (n_users * n_scen, n_items), dw)
        item_text_t = torch.from_numpy(self.item_text_)
        pools = {s: data.items_of_scenario(s) for s in range(n_scen)}
        net = FusionNet(n_items, n_scen, self.item_text_.shape[1], cfg)

        def collate(users_rows: IdxArray, rng: np.random.Generator) -> FusionBatch:
            return ex.batch(
                users_rows,
                rng,
                state,
                self.item_text_,
                R,
                pools,
                n_scen,
                cfg.examples_per_user,
                cfg.negatives,
            )

        def loss_fn(module: nn.Module, batch: FusionBatch) -> torch.Tensor:
            return loss(module, batch, item_text_t, cfg)

        def score(users: IdxArray, s: int, items_: IdxArray) -> np.ndarray:
            params = FusionParams.of(net)
            ids = np.asarray(R @ params.id_in).reshape(n_users, n_scen, -1)
            st = UserState(state.text, ids, state.weight, state.count, state.ref)
            vecs = self._item_vectors(params)
            return self._fused_scores(*self._inputs(st, users, params), s, items_, params, vecs)

        # Without clipping, sparse gradients for the id tables and a lazy Adam (fast on large
        # catalogues); with it, dense gradients and the Trainer's Adam.
        optimizer = None if cfg.train.grad_clip is not None else LazyAdam(net, cfg.train)
        self._encode_s = time.perf_counter() - t0
        return TrainingPlan(
            net=net,
            loader=IndexBatches(ex.n_users, cfg.train.batch_size, collate, seed=self.seed),
            loss=loss_fn,
            score=score,
            # Validation ranks the held-out events: only the kept ones count as already seen.
            seen=interaction_matrix(kept.user, kept.item, (n_users, n_items), binary=True),
            optimizer=optimizer,
            info={"examples": ex.n_examples, "users": ex.n_users},
        )

    def _keep(self, net: nn.Module) -> None:
        if not isinstance(net, FusionNet):
            raise TypeError(f"expected the fusion network, got {type(net).__name__}")
        data, cfg, ev = self.train_state, self.config, self._events
        self.params_ = FusionParams.of(net)
        # Input ids of items without training events were never trained: random noise that
        # would leak into users who meet those items online. They carry nothing instead.
        self.params_.id_in[np.bincount(ev.item, minlength=data.n_items) == 0] = 0.0
        self.state_ = UserState.build(
            ev,
            data.n_users,
            data.n_scenarios,
            self.item_text_,
            self._query_text,
            self.params_.id_in,
            self._half_life_s,
            cfg.query_weight,
        )
        self._refresh_items()
        self.fit_info["items_with_text"] = int(self.has_text_.sum())
        self.fit_info["queries"] = len(self._query_text)
        del self._events, self._query_text

    def _fit(self, data: TrainState) -> None:
        t0 = time.perf_counter()
        super()._fit(data)
        self.fit_info["encode_seconds"] = round(self._encode_s, 3)
        self.fit_info["fit_seconds"] = round(time.perf_counter() - t0, 3)

    @property
    def _half_life_s(self) -> float:
        hl = self.config.half_life_days
        return math.inf if hl is None else hl * DAY_SECONDS

    def _get_encoder(self) -> TextEncoder:
        enc: TextEncoder | None = getattr(self, "_encoder", None)
        if enc is None:
            enc = make_encoder(self.config.encoder, cache=self.config.text_cache)
            self._encoder = enc
        return enc

    # ------------------------------------------------------------------ scoring
    def _item_vectors(self, params: FusionParams) -> FloatMatrix:
        proj = self.item_text_ @ params.item_proj.T
        out: FloatMatrix = np.ascontiguousarray(
            np.concatenate([proj, params.id_out], axis=1), dtype=np.float32
        )
        return out

    def _refresh_items(self) -> None:
        self.item_vecs_ = self._item_vectors(self.params_)

    def _inputs(
        self, state: UserState, users: IdxArray, params: FusionParams
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray]:
        """Per-scenario vectors (B, S, dim + id_dim), features (B, S, 2), active (B, S)."""
        text = unit(state.text[users])
        weight = state.weight[users]
        ids = np.divide(
            state.ids[users],
            weight[..., None],
            out=np.zeros(state.ids[users].shape, np.float32),
            where=weight[..., None] > 0,
        ).astype(np.float32)
        u = np.concatenate([text @ params.user_proj.T, ids], axis=-1).astype(np.float32)
        feats = np.stack([np.log1p(state.count[users]), np.log1p(weight)], -1).astype(np.float32)
        # Evidence decayed to exactly zero (underflow after many half-lives) is no evidence.
        return u, feats, (state.count[users] > 0) & (weight > 0)

    def _fused_scores(
        self,
        u: FloatMatrix,
        feats: FloatMatrix,
        active: np.ndarray,
        target: int | None,
        items: IdxArray,
        params: FusionParams,
        item_vecs: FloatMatrix,
    ) -> FloatMatrix:
        cfg = self.config
        rows_target = None
        if cfg.fusion == "learned" and target is not None:
            rows_target = torch.full((len(u),), target, dtype=torch.long)
        with torch.no_grad():
            v = fuse(
                torch.from_numpy(u),
                torch.from_numpy(feats),
                torch.from_numpy(active),
                rows_target,
                torch.from_numpy(params.att),
                torch.from_numpy(params.feat) if cfg.per_user else None,
            ).numpy()
        scores = v @ item_vecs[items].T
        if cfg.item_bias:
            scores += params.bias[items]
        out: FloatMatrix = scores.astype(np.float32)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        params = self.params_
        u, feats, active = self._inputs(self.state_, np.maximum(users.user_idx, 0), params)
        for i in users.adhoc:
            u[i], feats[i], active[i] = self._adhoc_inputs(users, i)
        return self._fused_scores(
            u, feats, active, users.scenario_idx, items, params, self.item_vecs_
        )

    def _adhoc_inputs(
        self, users: UserBatch, i: int
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray]:
        """The inputs of one ad-hoc history (no queries: ``HistoryEvent`` carries none)."""
        h, sl = users.history(i)
        n_scen = self.state_.text.shape[1]
        one = Histories.of_one(
            h.item_idx[sl], h.scenario_idx[sl], h.behavior_idx[sl], h.timestamp[sl], h.weight[sl]
        )
        ev = Events.of(one)
        # An event whose scenario the model does not know is taken as one in the target
        # scenario (the context the request comes from).
        bad = (ev.scenario < 0) | (ev.scenario >= n_scen)
        ev.scenario[bad] = users.scenario_idx or 0
        no_queries = np.zeros((0, self.item_text_.shape[1]), np.float32)
        st = UserState.build(
            ev,
            1,
            n_scen,
            self.item_text_,
            no_queries,
            self.params_.id_in,
            self._half_life_s,
            self.config.query_weight,
        )
        u, feats, active = self._inputs(st, np.zeros(1, np.int64), self.params_)
        return u[0], feats[0], active[0]

    # ------------------------------------------------------------------ online
    def _partial_fit(self, events: pl.DataFrame) -> None:
        ts = self.train_state
        cfg = self.config
        # Encode first: if the encoder fails, nothing of the model has changed yet.
        new_text = self._new_item_text(events, self.n_items_, ts.n_items)
        query_idx = np.full(events.height, -1, np.int64)
        query_text = np.zeros((0, self.item_text_.shape[1]), np.float32)
        if C.QUERY in events.columns and cfg.query_weight > 0:
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
        self.state_.add(
            ev,
            self.item_text_,
            query_text,
            self.params_.id_in,
            self._half_life_s,
            cfg.query_weight,
        )

    def _grow(
        self, n_users: int, n_items: int, n_scen: int, new_text: tuple[FloatMatrix, np.ndarray]
    ) -> None:
        """Make room for the users, items and scenarios the new events bring (amortised O(dim)
        per new row: arrays keep spare rows)."""
        p = self.params_
        old_s = self.state_.text.shape[1]
        if n_scen > old_s:
            # An unseen scenario starts with neutral attention logits (0): uniform weight.
            att = np.zeros((n_scen, n_scen), np.float32)
            att[:old_s, :old_s] = p.att
            feat = np.zeros((2, n_scen, n_scen), np.float32)
            feat[:, :old_s, :old_s] = p.feat
            p.att, p.feat = att, feat
        self.state_.grow(n_users, n_scen)
        old_i = self.n_items_
        if n_items > old_i:
            self.item_text_ = reserve(self.item_text_, n_items)
            self.has_text_ = reserve(self.has_text_, n_items)
            p.id_in, p.id_out = reserve(p.id_in, n_items), reserve(p.id_out, n_items)
            p.bias = reserve(p.bias, n_items)
            self.item_vecs_ = reserve(self.item_vecs_, n_items)
            # New items have no trained id rows (zero) and are scored through their text only.
            text, has = new_text
            self.item_text_[old_i:n_items] = text
            self.has_text_[old_i:n_items] = has
            self.item_vecs_[old_i:n_items, : p.item_proj.shape[0]] = text @ p.item_proj.T
            self.n_items_ = n_items

    def _new_item_text(
        self, events: pl.DataFrame, old_i: int, n_items: int
    ) -> tuple[FloatMatrix, np.ndarray]:
        """Text vectors of items ``old_i..n_items-1`` from catalog columns of the events."""
        d = self.item_text_.shape[1]
        vecs = np.zeros((n_items - old_i, d), np.float32)
        has = np.zeros(n_items - old_i, bool)
        cols = [c for c in self.config.template.columns if c in events.columns]
        if not cols or n_items <= old_i:
            return vecs, has
        cat = (
            events.filter(pl.col(C.ITEM_IDX) >= old_i)
            .group_by(C.ITEM_IDX, maintain_order=True)
            .agg([pl.col(c).cast(pl.String).drop_nulls().first() for c in cols])
            .with_columns(pl.col(C.ITEM_IDX).cast(pl.String).alias(C.ITEM_ID))
        )
        texts, ok = render_items(cat, self.config.template)
        if ok.any():
            pos = cat[C.ITEM_IDX].to_numpy().astype(np.int64)[ok] - old_i
            vecs[pos] = self._encode([t for t, k in zip(texts, ok, strict=True) if k])
            has[pos] = True
        return vecs, has

    def _encode(
        self, texts: list[str], *, kind: Literal["passage", "query"] = "passage"
    ) -> FloatMatrix:
        enc = self._get_encoder()
        if enc.fingerprint != self.encoder_fingerprint_:
            raise EncoderError(
                f"the text encoder now has fingerprint {enc.fingerprint!r} but the model was "
                f"fitted with {self.encoder_fingerprint_!r}; its vectors would not match. Fix: "
                "make the same model files available (config.encoder) or refit"
            )
        if isinstance(enc, CachedEncoder):  # online: a few texts per call, see its ``store``
            return enc.encode(texts, kind=kind, store=False)
        return enc.encode(texts, kind=kind)

    # Hooks of the online layer (models.online.OnlineMixin), added for issue 13.
    def _add_items(self, catalog: pl.DataFrame) -> None:
        """New or updated catalog rows: their text is encoded now and scored through ``W e_i``
        (new items have no trained id rows)."""
        ts, d = self.train_state, self.item_text_.shape[1]
        n_new = ts.n_items - self.n_items_
        blank = (np.zeros((n_new, d), np.float32), np.zeros(n_new, bool))
        self._grow(ts.n_users, ts.n_items, ts.n_scenarios, blank)
        texts, ok = render_items(catalog, self.config.template)
        if ok.any():
            rows = catalog[C.ITEM_IDX].to_numpy().astype(np.int64)[ok]
            vecs = self._encode([t for t, k in zip(texts, ok, strict=True) if k])
            proj = self.params_.item_proj
            self.item_text_[rows], self.has_text_[rows] = vecs, True
            self.item_vecs_[rows, : proj.shape[0]] = vecs @ proj.T

    def _forget_user(self, user_idx: int, events: Histories) -> None:
        st = self.state_
        st.text[user_idx], st.ids[user_idx], st.weight[user_idx] = 0.0, 0.0, 0.0
        st.count[user_idx], st.ref[user_idx] = 0.0, 0

    def _warm_weights(self) -> dict[str, np.ndarray]:
        p, n = self.params_, self.n_items_
        return {
            "user_proj.weight": p.user_proj,
            "item_proj.weight": p.item_proj,
            **{"id_in": p.id_in[:n], "id_out": p.id_out[:n], "bias": p.bias[:n]},
            **{"att": p.att, "feat": p.feat},
        }

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        p = self.params_
        n_i = self.n_items_  # without the spare rows
        return {
            "item_text": self.item_text_[:n_i],
            "has_text": self.has_text_[:n_i],
            "user_proj": p.user_proj,
            "item_proj": p.item_proj,
            "id_in": p.id_in[:n_i],
            "id_out": p.id_out[:n_i],
            "bias": p.bias[:n_i],
            "att": p.att,
            "feat": p.feat,
            **self.state_.arrays(self.train_state.n_users),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        # Copies: the loaded buffers may be read-only, and partial_fit updates in place.
        a = {k: np.array(v) for k, v in arrays.items()}
        self.item_text_ = a["item_text"]
        self.has_text_ = a["has_text"].astype(bool)
        self.n_items_ = len(self.item_text_)
        self.params_ = FusionParams(
            a["user_proj"], a["item_proj"], a["id_in"], a["id_out"], a["bias"], a["att"], a["feat"]
        )
        self.state_ = UserState.from_arrays(a)
        self._refresh_items()

    def _manifest_extra(self) -> dict[str, Any]:
        return {"encoder_fingerprint": self.encoder_fingerprint_}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        fp = extra.get("encoder_fingerprint")
        if not isinstance(fp, str):
            raise ConfigError("run directory lacks the encoder fingerprint of a fusion model")
        self.encoder_fingerprint_ = fp


__all__ = ["ScenarioFusion"]
