"""CrossScenarioTransformer: one causal transformer over a user's mixed history in every scenario,
with items represented by their language-model text embedding. scenerec's flagship model.

Items are their text vector (whitened, then projected by a mixture of experts, as in UniSRec,
Hou et al., 2022) plus an id embedding. The id embedding is dropped at random in training so
that text alone still ranks well: items with no interactions (new items) are recommended from
their text, items without text fall back to their id. With ``scenario_adapters`` each expert's
weights are the product of shared and per-scenario weights (STAR, Sheng et al., 2021). A user's
whole history across scenarios is one sequence; each event's token adds embeddings of its
scenario, behaviour, recency position and bucketised log time gap to the previous event. The
output at the newest event, plus the embedding of the *target* scenario (the query), reads out
the user's interest for that scenario, so users with no history in the target scenario still get
recommendations from what they did elsewhere. Training predicts, at every position whose next
event lies in a target scenario, that next item against the scenario's items (full softmax, or a
sampled softmax for large catalogues). Use it when users act in several scenarios, when items
have text, or when new items must be recommended before anyone has used them.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import polars as pl
import torch
from torch import nn

from scenerec.data.histories import Histories
from scenerec.errors import ConfigError
from scenerec.models.nn import (
    Candidates,
    Holdout,
    IndexBatches,
    NegativeSampler,
    NeuralRecommender,
    TrainingPlan,
    batch_windows,
    history_windows,
    load_module_arrays,
    log_gap_buckets,
    module_arrays,
)
from scenerec.models.online import OnlineMixin
from scenerec.models.state import TrainState, UserBatch
from scenerec.models.transformer.config import CrossScenarioTransformerConfig
from scenerec.models.transformer.net import TransformerBatch, TransformerNet, fit_whitening, whiten
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.text import ItemEmbeddings

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


class CrossScenarioTransformer(
    OnlineMixin[CrossScenarioTransformerConfig], NeuralRecommender[CrossScenarioTransformerConfig]
):
    """Text-and-id item vectors, a causal transformer over the mixed history, a scenario query.

    Item text comes from ``set_item_embeddings`` (precomputed ``ItemEmbeddings``, e.g. from
    ``scenerec.text.encode_items``) or, when none were set, from ``config.encoder`` at ``fit``.
    """

    config_class = CrossScenarioTransformerConfig
    name = "cross_scenario_transformer"
    net_sizes_: tuple[int, int] | None = None

    def __init__(self, config: CrossScenarioTransformerConfig | None = None) -> None:
        super().__init__(config)
        self._embeddings: ItemEmbeddings | None = None
        self.encoder_fingerprint: str | None = None

    def set_item_embeddings(self, embeddings: ItemEmbeddings) -> Self:
        """Use these text vectors at the next ``fit`` instead of encoding the catalogue.

        Rows are matched by item id; items absent from ``embeddings`` (or with
        ``has_text=False``) have no text and use their id embedding only.
        """
        self._embeddings = embeddings
        return self

    # ------------------------------------------------------------------ features
    def _text_features(self, data: TrainState) -> tuple[FloatMatrix, BoolArray]:
        """Raw text vectors (n_items, dim) and the has-text mask, aligned with the item vocab."""
        cfg = self.config
        none = np.zeros((data.n_items, 1), np.float32), np.zeros(data.n_items, bool)
        if not cfg.use_text:
            return none
        emb = self._embeddings
        if emb is None and cfg.encoder is not None and data.catalog is not None:
            from scenerec.text import encode_items, make_encoder

            emb = encode_items(data.catalog, make_encoder(cfg.encoder), cfg.template)
        if emb is None:
            logger.info("%s: no item text (encoder=None, no embeddings set): ids only", self.name)
            return none
        self.encoder_fingerprint = emb.fingerprint
        return emb.aligned(data.vocabularies["items"].to_list())

    def _event_fields(self, h: Histories) -> dict[str, np.ndarray]:
        """Per-event token features of histories (a scenario the network does not know:
        unknown, or new since the fit, -> its own id ``n_s``)."""
        n_s, n_b = self._net_sizes()
        return {
            "item": h.item_idx,
            "scen": np.where((h.scenario_idx < 0) | (h.scenario_idx >= n_s), n_s, h.scenario_idx),
            "beh": np.clip(h.behavior_idx, 0, n_b - 1),
            "gap": log_gap_buckets(h.timestamp, h.indptr, self.config.time_buckets),
        }

    def _net_sizes(self) -> tuple[int, int]:
        """(scenarios, behaviours) the network has embeddings for: those of its fit (the
        vocabularies may have grown online since)."""
        sizes = self.net_sizes_
        if sizes is None:
            v = self.train_state.vocabularies
            return len(v["scenarios"]), max(len(v["behaviors"]), 1)
        return int(sizes[0]), int(sizes[1])

    def _build(
        self, text: FloatMatrix, has_text: BoolArray, has_events: BoolArray, home: IdxArray
    ) -> TransformerNet:
        n_s, n_b = self._net_sizes()
        self.net_sizes_ = (n_s, n_b)
        return TransformerNet(
            self.config,
            len(has_text),  # the items at fit (the vocabulary may have grown online since)
            n_s,
            n_b,
            torch.from_numpy(text),
            torch.from_numpy(has_text),
            torch.from_numpy(has_events),
            torch.from_numpy(home),
        )

    def _target_scenarios(self) -> IdxArray:
        names = self.config.target_scenarios
        if names is None:
            return np.arange(self.train_state.n_scenarios, dtype=np.int64)
        return np.array([self.train_state.scenario_index(n) for n in names], dtype=np.int64)

    # ------------------------------------------------------------------ fit
    def _holdout_scope(self, data: TrainState) -> tuple[Histories, IdxArray | None]:
        return data.histories, self._target_scenarios()

    def _plan(self, data: TrainState, holdout: Holdout) -> TrainingPlan:
        cfg = self.config
        self.net_sizes_ = None  # a new network: the sizes of this fit's vocabularies
        h_all = data.histories
        raw, has_text = self._text_features(data)
        if not cfg.use_ids and not has_text.any():
            raise ConfigError(
                "CrossScenarioTransformer has neither ids (use_ids=false) nor item text. "
                "Fix: set use_ids=true, or give text via config.encoder or set_item_embeddings"
            )
        self.text_mean_, self.text_proj_ = fit_whitening(
            raw, has_text, cfg.whiten_dim, cfg.whiten_shrinkage
        )
        text = whiten(raw, has_text, self.text_mean_, self.text_proj_)
        has_events = h_all.item_counts(data.n_items) > 0
        home = _home_scenarios(h_all, data.scenario_items, data.n_items, data.n_scenarios)
        self._features = (text, has_text, has_events, home)
        h = h_all.filter(holdout.keep)
        fields = self._event_fields(h)
        win = history_windows(h.indptr, cfg.max_len, windows=cfg.windows, stride=cfg.window_stride)
        targets = self._target_scenarios()
        is_target = np.zeros(data.n_scenarios + 1, bool)
        is_target[targets] = True
        pools = {
            int(s): data.scenario_items[int(s)]
            for s in targets
            if len(data.scenario_items.get(int(s), ())) > 0
        }
        sampler = NegativeSampler(pools, h.item_counts(data.n_items), cfg)

        def collate(batch: IdxArray, rng: np.random.Generator) -> TransformerBatch:
            src, valid, target = win.take(batch)
            w = {k: np.where(valid, v[np.maximum(src, 0)], 0) for k, v in fields.items()}
            target &= is_target[w["scen"][:, 1:]]
            return _collate(w, valid, target, sampler, rng)

        net = self._build(text, has_text, has_events, home)

        def score(users: IdxArray, s: int, items: IdxArray) -> np.ndarray:
            vecs = net.item_vectors(torch.arange(data.n_items))
            return self._score_with(net, vecs, h, UserBatch(users, s, data), items, fields)

        def loss_fn(module: nn.Module, batch: TransformerBatch) -> torch.Tensor:
            out: torch.Tensor = module(batch)
            return out

        return TrainingPlan(
            net=net,
            loader=IndexBatches(
                len(win), cfg.train.batch_size, collate, seed=self.seed, lengths=win.lengths
            ),
            loss=loss_fn,
            score=score,
            info={
                "windows": len(win),
                "targets": win.n_targets,
                "items_with_text": int(has_text.sum()),
                "items_with_events": int(has_events.sum()),
            },
        )

    def _keep(self, net: nn.Module) -> None:
        if not isinstance(net, TransformerNet):
            raise TypeError(f"expected the transformer network, got {type(net).__name__}")
        self._set_net(net, *self._features)
        del self._features

    def _set_net(
        self,
        net: TransformerNet,
        text: FloatMatrix,
        has_text: BoolArray,
        has_events: BoolArray,
        home: IdxArray,
    ) -> None:
        net.eval()
        self.net_ = net
        self.text_ = text
        self.has_text_ = has_text
        self.has_events_ = has_events
        self.home_ = home
        with torch.no_grad():
            self.item_vectors_ = net.item_vectors(torch.arange(len(has_text)))
        self.has_vector_ = has_text | has_events

    def _view(self) -> tuple[Histories, dict[str, np.ndarray]]:
        """The stored histories scoring reads and their token features: the one place they are
        read (recomputed when the stored histories change). Users with events added since are
        read from their own recent window instead (``_with_recent``), so an event costs
        O(the user's window), never a pass over every stored event."""
        source = self.train_state.base_histories
        if getattr(self, "_view_of", None) is not source:
            self._view_cache = (source, self._event_fields(source))
            self._view_of = source
        return self._view_cache

    # ------------------------------------------------------------------ score
    def _score_with(
        self,
        net: TransformerNet,
        vecs: torch.Tensor,
        h: Histories,
        users: UserBatch,
        items: IdxArray,
        fields: dict[str, np.ndarray] | None = None,
    ) -> FloatMatrix:
        """Scores of ``items`` for ``users`` whose training histories are ``h``."""
        known = fields if fields is not None else self._event_fields(h)
        win, valid = batch_windows(users, self.config.max_len, h.indptr, known, self._event_fields)
        n_s = self._net_sizes()[0]
        if users.scenario_idx is not None:  # a scenario new since the fit: the unknown slot
            query = np.full(len(users), min(users.scenario_idx, n_s), np.int64)
        else:  # no target scenario: read out for the scenario of the newest event
            query = np.where(valid[:, -1], win["scen"][:, -1], n_s).astype(np.int64)
        net.eval()
        with torch.no_grad():
            t = {k: torch.from_numpy(v.astype(np.int64)) for k, v in win.items()}
            ok = torch.from_numpy(valid)
            hidden = net.encode(vecs[t["item"]], t["scen"], t["beh"], t["gap"], ok)
            user = net.readout(hidden[:, -1], torch.from_numpy(query))
            scores = user @ vecs[torch.from_numpy(np.asarray(items, np.int64))].T
        out: FloatMatrix = scores.numpy().astype(np.float32, copy=False)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        h, fields = self._view()
        scores = self._score_with(
            self.net_, self.item_vectors_, h, users.with_recent(h.n_users), items, fields
        )
        no_vector = ~self.has_vector_[items]
        if no_vector.any():  # items added online with neither text nor a fitted id: last
            low = scores[:, ~no_vector].min(axis=1, keepdims=True) - 1 if (~no_vector).any() else 0
            scores[:, no_vector] = low
        return scores

    # ------------------------------------------------------------------ online
    def _partial_fit(self, events: pl.DataFrame) -> None:
        """The weights stay; the users' histories (read at scoring) already hold the events.
        Items new in the events get a row (no vector until their text arrives: ``add_items``)."""
        self._grow_items(self.train_state.n_items)

    def _grow_items(self, n_items: int) -> None:
        old = len(self.item_vectors_)
        if n_items <= old:
            return
        pad = torch.zeros(n_items - old, self.item_vectors_.shape[1])
        self.item_vectors_ = torch.cat([self.item_vectors_, pad])
        self.has_vector_ = np.concatenate([self.has_vector_, np.zeros(n_items - old, bool)])

    def _add_items(self, catalog: pl.DataFrame) -> None:
        """New or updated catalog rows: an item with text gets its vector from the text now
        (the text path of the fitted network; a new item has no id embedding)."""
        self._grow_items(self.train_state.n_items)
        cfg = self.config
        if not cfg.use_text or cfg.encoder is None or not self.has_text_.any():
            return
        from scenerec.text import make_encoder
        from scenerec.text.encoder import check_fingerprint
        from scenerec.text.templates import render_items

        texts, ok = render_items(catalog, cfg.template)
        if not ok.any():
            return
        enc = getattr(self, "_encoder", None) or make_encoder(cfg.encoder)
        self._encoder = enc
        # as ``encode_items`` fingerprints item text: encoder + template
        check_fingerprint(f"{enc.fingerprint}+{cfg.template.fingerprint}", self.encoder_fingerprint)
        raw = enc.encode([t for t, k in zip(texts, ok, strict=True) if k]).astype(np.float32)
        z = whiten(raw, np.ones(len(raw), bool), self.text_mean_, self.text_proj_)
        rows = catalog[C.ITEM_IDX].to_numpy().astype(np.int64)[ok]
        n_fit = len(self.has_text_)
        home = np.where(
            rows < n_fit, self.home_[np.minimum(rows, n_fit - 1)], self.net_.n_scenarios
        )
        with torch.no_grad():
            vecs = self.net_.text_vectors(torch.from_numpy(z), torch.from_numpy(home))
        fitted = torch.from_numpy(rows < n_fit)
        if self.config.use_ids and bool(fitted.any()):  # a fitted item keeps its id part
            idx = torch.from_numpy(rows)[fitted]
            with torch.no_grad():
                vecs[fitted] += self.net_.ids(idx) * self.net_.has_events[idx, None]
        self.item_vectors_[torch.from_numpy(rows)] = vecs
        self.has_vector_[rows] = True

    def _warm_weights(self) -> dict[str, np.ndarray]:
        return module_arrays(self.net_)

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        out = module_arrays(self.net_)
        out.update(
            {
                "text": self.text_,
                "has_text": self.has_text_,
                "has_events": self.has_events_,
                "home": self.home_,
                "text_mean": self.text_mean_,
                "text_proj": self.text_proj_,
                # rows of items added online (their text vectors) beside the fitted ones
                "item_vectors": self.item_vectors_.numpy(),
                "has_vector": self.has_vector_,
            }
        )
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.text_mean_ = arrays["text_mean"]
        self.text_proj_ = arrays["text_proj"]
        text, has_text = arrays["text"], arrays["has_text"].astype(bool)
        has_events, home = arrays["has_events"].astype(bool), arrays["home"].astype(np.int64)
        net = self._build(text, has_text, has_events, home)
        load_module_arrays(net, arrays)
        self._set_net(net, text, has_text, has_events, home)
        if "item_vectors" in arrays:
            self.item_vectors_ = torch.from_numpy(np.array(arrays["item_vectors"], np.float32))
            self.has_vector_ = np.array(arrays["has_vector"], bool)
        self._grow_items(self.train_state.n_items)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"encoder_fingerprint": self.encoder_fingerprint, "net_sizes": self.net_sizes_}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        self.encoder_fingerprint = extra.get("encoder_fingerprint")
        sizes = extra.get("net_sizes")
        self.net_sizes_ = None if sizes is None else (int(sizes[0]), int(sizes[1]))


def _collate(
    w: dict[str, np.ndarray],
    ok: BoolArray,
    target: BoolArray,
    sampler: NegativeSampler,
    rng: np.random.Generator,
) -> TransformerBatch:
    """One training batch from its windows' event fields (see ``TransformerBatch``)."""
    inp_ok = ok[:, :-1]
    r, c = np.nonzero(target)
    tgt_items = w["item"][:, 1:][r, c]
    tgt_s = w["scen"][:, 1:][r, c]
    cands: dict[int, Candidates] = {}
    log_q = np.zeros(len(tgt_items), np.float32)
    for s in np.unique(tgt_s).tolist():
        if s not in sampler.pools:
            continue
        cands[s] = sampler.draw(s, rng)
        if cands[s].sampled:
            sel = tgt_s == s
            log_q[sel] = sampler.log_q(s, tgt_items[sel])
    hist = w["item"][:, :-1]
    parts = [hist[inp_ok], tgt_items, *(cd.items for cd in cands.values())]
    unique, inv = np.unique(np.concatenate(parts), return_inverse=True)
    n_hist = int(inp_ok.sum())
    local_hist = np.zeros(hist.shape, np.int64)
    local_hist[inp_ok] = inv[:n_hist]
    local_tgt = inv[n_hist : n_hist + len(tgt_items)]
    local_c: dict[int, tuple[Candidates, torch.Tensor]] = {}
    at = n_hist + len(tgt_items)
    for s, cd in cands.items():
        local_c[s] = (cd, torch.from_numpy(inv[at : at + len(cd.items)].astype(np.int64)))
        at += len(cd.items)
    return TransformerBatch(
        items=torch.from_numpy(local_hist),
        scen=torch.from_numpy(w["scen"][:, :-1].astype(np.int64)),
        beh=torch.from_numpy(w["beh"][:, :-1].astype(np.int64)),
        gap=torch.from_numpy(w["gap"][:, :-1].astype(np.int64)),
        valid=torch.from_numpy(inp_ok),
        rows=torch.from_numpy(r.astype(np.int64)),
        cols=torch.from_numpy(c.astype(np.int64)),
        target=torch.from_numpy(local_tgt.astype(np.int64)),
        target_item=torch.from_numpy(tgt_items.astype(np.int64)),
        target_scen=torch.from_numpy(tgt_s.astype(np.int64)),
        target_log_q=torch.from_numpy(log_q),
        unique=torch.from_numpy(unique.astype(np.int64)),
        candidates=local_c,
    )


def _home_scenarios(
    h: Histories, scenario_items: dict[int, IdxArray], n_items: int, n_scenarios: int
) -> IdxArray:
    """Each item's most frequent scenario in the events; for items without events, the first
    scenario whose catalogue lists it; ``n_scenarios`` when neither is known."""
    home = np.full(n_items, n_scenarios, np.int64)
    for s in sorted(scenario_items, reverse=True):  # lowest scenario wins among catalogue ones
        home[scenario_items[s]] = s
    in_events = h.home_scenarios(n_items, n_scenarios)
    return np.where(in_events >= 0, in_events, home)


__all__ = ["CrossScenarioTransformer"]
