"""ScenarioFusion's training examples: leave-item-out (user, item, target scenario) triples,
and the typed batch the loss reads.

An example is a distinct (user, item, target scenario) of the training events. The user is
represented by their state over all their events *except those on the item* (leave-item-out:
the item never explains itself); the item is scored against negatives of the target scenario.
This uses every event of the final state instead of rebuilding the state before each event,
which would need one state per event (n_events x scenarios x d_text floats); the decay still
favours recent evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from scenerec.models.fusion.state import Events, UserState
from scenerec.schema import FloatMatrix, IdxArray

F64 = npt.NDArray[np.float64]
# A leave-item-out text sum whose norm is below this share of the full sum's norm is rounding
# noise (the item was the only text evidence there), not a direction.
NOISE = 1e-4


@dataclass
class FusionBatch:
    """One training batch: E examples of B users over S scenarios, M distinct items.

    Attributes:
        full: (B, S, d_text) float32 full text sums of the batch's users.
        inv_norm: (E, S) float32 1 / norm of each example's leave-item-out text sum (0: none).
        q_rows: (Q,) int64 flat (example * S + scenario) rows whose sums lose a query vector.
        q_vec: (Q, d_text) float32 those query vectors (times their decayed weight).
        active: (E, S) bool scenarios with evidence left once the item is taken out.
        feats: (E, S, 2) float32 per-user attention features (log1p count, log1p weight).
        weight: (E, S) float32 decayed weight left once the item is taken out.
        own_w: (E, S) float32 decayed weight of the example's own item events.
        owner: (E,) int64 batch user (row of ``full``) of each example.
        item: (E,) int64 positive item.
        target: (E,) int64 target scenario.
        uniq: (M,) int64 items whose vectors the batch needs (positives and negatives).
        pos_k: (E,) int64 row of each positive in ``uniq``.
        neg_k: target scenario -> (N,) int64 rows of its negatives in ``uniq``.
        hist_items, hist_offsets, hist_weights: each (user, scenario) bag of weighted item ids
            for ``embedding_bag`` (B * S bags).
    """

    full: torch.Tensor
    inv_norm: torch.Tensor
    q_rows: torch.Tensor
    q_vec: torch.Tensor
    active: torch.Tensor
    feats: torch.Tensor
    weight: torch.Tensor
    own_w: torch.Tensor
    owner: torch.Tensor
    item: torch.Tensor
    target: torch.Tensor
    uniq: torch.Tensor
    pos_k: torch.Tensor
    neg_k: dict[int, torch.Tensor]
    hist_items: torch.Tensor
    hist_offsets: torch.Tensor
    hist_weights: torch.Tensor


@dataclass
class Examples:
    """Leave-item-out training examples, grouped by user.

    Attributes:
        user, item, target, pair: (n_examples,) example arrays; ``pair`` indexes the distinct
            (user, item) pairs.
        indptr: (n_users_total + 1,) CSR offsets of each user's examples.
        users: (n_users,) users with at least one example (the rows of the loader).
        own_w, own_n: (n_pairs, S) decayed weight and count of each pair's events per scenario.
        own_q: sparse (n_pairs * S, n_queries) decayed query weights of each pair's events.
        query_text: float32 (n_queries, d_text) query vectors, the columns of ``own_q``.
    """

    user: IdxArray
    item: IdxArray
    target: IdxArray
    pair: IdxArray
    indptr: IdxArray
    users: IdxArray
    own_w: F64
    own_n: F64
    own_q: sp.csr_matrix
    query_text: FloatMatrix

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_examples(self) -> int:
        return len(self.user)

    @classmethod
    def build(
        cls,
        ev: Events,
        dw: F64,
        state: UserState,
        n_items: int,
        n_scen: int,
        query_text: FloatMatrix,
        query_weight: float,
    ) -> Examples:
        users, items, scen = ev.user, ev.item, ev.scenario
        pair_keys, pair_of = np.unique(users * n_items + items, return_inverse=True)
        n_pairs = len(pair_keys)
        flat = pair_of * n_scen + scen
        own_w = np.bincount(flat, dw, minlength=n_pairs * n_scen).astype(np.float64)
        own_w = own_w.reshape(n_pairs, n_scen)
        own_n = np.bincount(flat, minlength=n_pairs * n_scen).astype(np.float64)
        own_n = own_n.reshape(n_pairs, n_scen)
        q = ev.query
        ok = q >= 0
        own_q = sp.csr_matrix(
            (dw[ok] * query_weight, (flat[ok], q[ok])), shape=(n_pairs * n_scen, len(query_text))
        )
        own_q.sum_duplicates()
        ex_keys = np.unique(flat)
        pair, target = ex_keys // n_scen, ex_keys % n_scen
        ex_user = pair_keys[pair] // n_items
        # Users need evidence left once the item is taken out, else there is nothing to learn.
        # (the same test as in ``batch``).
        full_w = state.weight[ex_user]
        left = (
            (state.count[ex_user] - own_n[pair] > 0.5) & (full_w - own_w[pair] > NOISE * full_w)
        ).any(axis=1)
        pair, target, ex_user = pair[left], target[left], ex_user[left]
        n_users = state.count.shape[0]
        indptr = np.zeros(n_users + 1, np.int64)
        np.cumsum(np.bincount(ex_user, minlength=n_users), out=indptr[1:])
        return cls(
            user=ex_user,  # already sorted by user: pair keys sort by user first
            item=pair_keys[pair] % n_items,
            target=target,
            pair=pair,
            indptr=indptr,
            users=np.flatnonzero(np.diff(indptr) > 0),
            own_w=own_w,
            own_n=own_n,
            own_q=own_q,
            query_text=query_text.astype(np.float32),
        )

    def batch(
        self,
        rows: IdxArray,
        rng: np.random.Generator,
        state: UserState,
        item_text: FloatMatrix,
        R: sp.csr_matrix,
        pools: Mapping[int, IdxArray],
        n_scen: int,
        per_user: int,
        negatives: int,
    ) -> FusionBatch:
        """One batch: up to ``per_user`` random examples of each user in ``rows``.

        The leave-item-out text vector of an example is ``(full - own) / ||full - own||``: the
        projection is linear, so the loss projects each user's full sums and each item's vector
        once and never materialises (examples, scenarios, d_text) arrays; the norms come from
        dot products in text space.
        """
        users = self.users[rows]
        starts = self.indptr[users]
        lens = self.indptr[users + 1] - starts
        first = np.cumsum(lens) - lens
        owner = np.repeat(np.arange(len(users)), lens)
        cand = starts[owner] + np.arange(int(lens.sum())) - first[owner]
        if (lens > per_user).any():
            # owner is sorted, so sorting by (owner, random) keeps each user's block in place
            order = np.lexsort((rng.random(len(cand)), owner))
            rank = np.empty(len(cand), np.int64)
            rank[order] = np.arange(len(cand)) - first[owner]
            take = rank < per_user
            cand, owner = cand[take], owner[take]
        ei, et, ep = self.item[cand], self.target[cand], self.pair[cand]
        eu = users[owner]
        own_w, own_n = self.own_w[ep], self.own_n[ep]
        full = state.text[users].astype(np.float64)  # (n_users, S, d)
        e = item_text[ei].astype(np.float64)  # (E, d)
        full_e = np.einsum("esd,ed->es", full[owner], e)
        sq = (full**2).sum(-1)[owner] - 2 * own_w * full_e + own_w**2 * (e**2).sum(-1)[:, None]
        q_rows = np.zeros(0, np.int64)
        q_vec = np.zeros((0, item_text.shape[1]), np.float32)
        if self.own_q.nnz:
            flat = (ep[:, None] * n_scen + np.arange(n_scen)).ravel()
            sub = self.own_q[flat]
            q_rows = np.flatnonzero(np.diff(sub.indptr) > 0)
            if len(q_rows):
                qv = np.asarray(sub[q_rows] @ self.query_text, np.float64)
                ex_r, s_r = q_rows // n_scen, q_rows % n_scen
                f = full[owner[ex_r], s_r]
                sq[ex_r, s_r] += (
                    -2 * (f * qv).sum(-1)
                    + 2 * own_w[ex_r, s_r] * (e[ex_r] * qv).sum(-1)
                    + (qv**2).sum(-1)
                )
                q_vec = qv.astype(np.float32)
        count = state.count[eu] - own_n
        weight = state.weight[eu] - own_w
        # What is left once the item is taken out must stand above the rounding error of the
        # subtraction (float32 sums), else the id mean and the text direction would be noise
        # blown up by a tiny divisor (strong decay makes old evidence tiny next to a new item).
        active = (count > 0.5) & (weight > NOISE * state.weight[eu])
        weight = np.where(active, weight, 0.0)
        norm = np.sqrt(np.maximum(sq, 0.0))
        ok = active & (norm > NOISE * np.linalg.norm(full, axis=-1)[owner])
        inv_norm = np.divide(1.0, norm, out=np.zeros_like(norm), where=ok)
        feats = np.stack([np.log1p(np.maximum(count, 0)), np.log1p(weight)], -1)
        r_rows = (users[:, None] * n_scen + np.arange(n_scen)).ravel()
        rb = R[r_rows]  # each (user, scenario) row is one bag of weighted item ids
        neg = {
            int(t): pools[int(t)][rng.integers(0, len(pools[int(t)]), negatives)]
            for t in np.unique(et)
        }
        uniq, inv = np.unique(np.concatenate([ei, *neg.values()]), return_inverse=True)
        cuts = np.cumsum([len(ei), *(len(v) for v in neg.values())])
        parts = np.split(inv, cuts[:-1])
        return FusionBatch(
            full=torch.from_numpy(state.text[users]),
            inv_norm=torch.from_numpy(inv_norm.astype(np.float32)),
            q_rows=torch.from_numpy(q_rows),
            q_vec=torch.from_numpy(q_vec),
            active=torch.from_numpy(active),
            feats=torch.from_numpy(feats.astype(np.float32)),
            weight=torch.from_numpy(weight.astype(np.float32)),
            own_w=torch.from_numpy(own_w.astype(np.float32)),
            owner=torch.from_numpy(owner.astype(np.int64)),
            item=torch.from_numpy(ei),
            target=torch.from_numpy(et),
            uniq=torch.from_numpy(uniq),
            pos_k=torch.from_numpy(parts[0]),
            neg_k={t: torch.from_numpy(k) for t, k in zip(neg, parts[1:], strict=True)},
            hist_items=torch.from_numpy(rb.indices.astype(np.int64)),
            hist_offsets=torch.from_numpy(rb.indptr[:-1].astype(np.int64)),
            hist_weights=torch.from_numpy(rb.data.astype(np.float32)),
        )


__all__ = ["NOISE", "Examples", "FusionBatch"]
