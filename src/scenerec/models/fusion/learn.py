"""How ScenarioFusion learns its weights: a full softmax over each target scenario's items for
the held-out newest events of sampled users (``models.labels``), batched per target, with early
stopping on the log-likelihood of a share of the batches; then, per target, the scales of the
text and popularity parts are calibrated for ranking on the label users, apart for users warm and
cold in the target.

Why the calibration: the likelihood rewards a popularity prior that spreads probability over
popular items, which costs top-10 ranking (on Art/Office the learned prior took NDCG@10 from
0.052 to 0.036), and what ranks best differs between users with and without history in the
target. Multiplying the learned text and popularity scales by the pair in ``TEXT_MULTS`` x
``POP_MULTS`` with the best NDCG@10 on the label users' held-out items keeps what ranks; the
learned scales stay unless another pair is strictly better."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from scenerec.models.fusion.net import FusionBatch, FusionWeights
from scenerec.models.fusion.state import UserState
from scenerec.models.labels import Labels
from scenerec.models.nn import IndexBatches, Trainer, set_torch_threads
from scenerec.models.state import TrainState
from scenerec.schema import FloatMatrix, IdxArray

if TYPE_CHECKING:
    from scenerec.models.fusion.model import ScenarioFusion

VALID_SHARE = 0.15
TEXT_MULTS = (1.0, 0.0, 0.5, 2.0)  # the learned scale first: kept unless beaten
POP_MULTS = (1.0, 0.0, 0.1, 0.25, 0.5)
CALIBRATION_BATCHES = 40  # per target


def learn_weights(
    model: ScenarioFusion,
    part: TrainState,
    state: UserState,
    factors: FloatMatrix,
    labels: Labels,
    targets: list[int],
) -> dict[str, Any]:
    """Train ``model.weights_`` in place; returns the training record (``TrainResult``)."""
    model.weights_.cold_scale = None  # one scale for all rows while learning; calibrated after
    cfg = model.config
    threads = set_torch_threads(model.options.resolved_threads())
    torch.manual_seed(model.seed)
    item_text = torch.from_numpy(model.item_text_)
    item_fac = torch.from_numpy(model.item_factors(part.n_items))
    items = {t: part.items_of_scenario(t) for t in targets}
    log_pop = {
        t: torch.from_numpy(np.log1p(part.popularity_of(t)[items[t]]).astype(np.float32))
        for t in targets
    }
    batches: list[tuple[int, IdxArray, IdxArray]] = []
    for t in targets:
        pos = np.searchsorted(items[t], labels.items[t])
        for start in range(0, len(labels.users[t]), cfg.train.batch_size):
            sl = slice(start, start + cfg.train.batch_size)
            batches.append((t, labels.users[t][sl], pos[sl]))
    rng = np.random.default_rng([model.seed, 7_004])
    valid = rng.random(len(batches)) < VALID_SHARE
    if valid.all() or not valid.any():
        valid[:] = False
    train_ids = np.flatnonzero(~valid)

    def make(i: int) -> FusionBatch:
        t, users, label = batches[i]
        text, feats, active = model.inputs(state, users)
        return FusionBatch(
            text=torch.from_numpy(text),
            factors=torch.from_numpy(factors[users]),
            feats=torch.from_numpy(feats),
            active=torch.from_numpy(active),
            target=t,
            label=torch.from_numpy(np.asarray(label, np.int64)),
        )

    def loss(module: nn.Module, b: FusionBatch) -> torch.Tensor:
        if not isinstance(module, FusionWeights) or b.target is None:
            raise TypeError("expected the fusion weights and a batch with a target")
        idx = torch.from_numpy(items[b.target])
        logits = module.logits(b, item_text[idx], item_fac[idx], log_pop[b.target], cfg.per_user)
        out: torch.Tensor = nn.functional.cross_entropy(logits, b.label)
        return out

    def validate(module: nn.Module) -> float:
        """Mean log-likelihood of the validation batches' held-out items (higher is better)."""
        total, n = 0.0, 0
        for i in np.flatnonzero(valid):
            b = make(int(i))
            total -= float(loss(module, b)) * len(b.label)
            n += len(b.label)
        return total / max(n, 1)

    trainer = Trainer(
        cfg.train,
        seed=model.seed,
        name=model.name,
        threads=threads,
        progress=model.options.progress,
        metric_name="log-likelihood",
    )
    loader = IndexBatches(
        len(train_ids), 1, lambda rows, _rng: make(int(train_ids[rows[0]])), seed=model.seed
    )
    result = trainer.fit(model.weights_, loader, loss, validate=validate if valid.any() else None)
    out = result.to_dict()
    # Four numbers per target are calibrated: every label batch (up to a bound) informs them,
    # the validation share alone is too noisy to choose among the multipliers.
    order = np.concatenate([np.flatnonzero(valid), train_ids])
    of_target = np.array([batches[i][0] for i in order])
    per_target = [order[of_target == t][:CALIBRATION_BATCHES] for t in targets]
    pick = np.concatenate([np.zeros(0, np.int64), *per_target])
    inputs = (item_text, item_fac, items, log_pop)
    seen = part.matrix(None, binary=True)
    held_out = [(make(int(i)), seen[batches[i][1]]) for i in pick]
    out["calibration"] = calibrate(model, held_out, inputs, part.scenarios)
    return out


def calibrate(
    model: ScenarioFusion,
    held_out: list[tuple[FusionBatch, sp.csr_matrix]],
    inputs: tuple[torch.Tensor, torch.Tensor, dict[int, IdxArray], dict[int, torch.Tensor]],
    names: Sequence[str],
) -> dict[str, dict[str, dict[str, float]]]:
    """Scale each target's text and popularity parts by the multipliers that rank the label
    users' held-out items best (NDCG@10), apart for users warm and cold in the target (a group
    with fewer than ``calibration_users`` keeps the learned scales). Returns, per target and
    group, the multipliers, the label users and their NDCG@10 with the learned and the chosen
    scales.

    Ranked as models are evaluated: the items each label user already has (``held_out``'s
    second part, their rows of the training matrix) are left out, and a label user whose
    held-out item is one of them (a purchase after a view of the same item) does not count.
    """
    item_text, item_fac, items, log_pop = inputs
    weights, per_user = model.weights_, model.config.per_user
    learned = weights.scale.detach().clone()
    warm_scale, cold_scale = learned.clone(), learned.clone()
    out: dict[str, dict[str, dict[str, float]]] = {}
    for t in sorted({b.target for b, _ in held_out if b.target is not None}):
        grid = _grid(item_text)
        gains = {g: dict.fromkeys(grid, 0.0) for g in ("warm", "cold")}
        users = {"warm": 0, "cold": 0}
        scale = learned[:, t]
        idx = torch.from_numpy(items[t])
        with torch.no_grad():
            for b, seen in ((b, m) for b, m in held_out if b.target == t):
                text, fac, pop = weights.parts(
                    b, item_text[idx], item_fac[idx], log_pop[t], per_user
                )
                had = torch.from_numpy(seen[:, items[t]].toarray() > 0)
                new = ~had.gather(1, b.label[:, None])[:, 0]
                cold = ~b.active[:, t] & new
                warm = b.active[:, t] & new
                users["cold"] += int(cold.sum())
                users["warm"] += int(warm.sum())
                fixed = scale[1] * fac if fac is not None else torch.zeros(len(b.label), len(idx))
                # Rows whose label is below ten items at every point of the grid score 0 there:
                # only the others are ranked (the same figures, several times faster).
                live = (cold | warm) & _may_reach_top10(fixed, text, pop, scale, had, b.label)
                fixed, had, label = fixed[live], had[live], b.label[live]
                text = text[live] if text is not None else None
                cold, warm = cold[live], warm[live]
                for mt, mp in grid:
                    s = fixed + mp * scale[2] * pop[None, :]
                    if text is not None:
                        s = s + mt * scale[0] * text
                    per_row = _ndcg10(s.masked_fill(had, -torch.inf), label)
                    gains["cold"][mt, mp] += float(per_row[cold].sum())
                    gains["warm"][mt, mp] += float(per_row[warm].sum())
        record: dict[str, dict[str, float]] = {}
        for group in ("warm", "cold"):
            best = (1.0, 1.0)  # too few label users: the learned scales stay
            if users[group] >= model.config.calibration_users:
                g = gains[group]
                best = max(g, key=lambda key: (g[key], key == (1.0, 1.0)))
            dst = warm_scale if group == "warm" else cold_scale
            dst[0, t], dst[2, t] = scale[0] * best[0], scale[2] * best[1]
            n = max(users[group], 1)
            record[group] = {
                "text_mult": best[0],
                "popularity_mult": best[1],
                "label_users": users[group],
                "ndcg@10_learned": round(gains[group][1.0, 1.0] / n, 4),
                "ndcg@10": round(gains[group][best] / n, 4),
            }
        out[names[t]] = record
    with torch.no_grad():
        weights.scale.copy_(warm_scale)
    weights.cold_scale = cold_scale
    return out


def _grid(item_text: torch.Tensor) -> list[tuple[float, float]]:
    """(text, popularity) multipliers to try; the learned pair (1, 1) first."""
    texts = TEXT_MULTS if item_text.shape[-1] else (1.0,)
    return [(mt, mp) for mt in texts for mp in POP_MULTS]


def _may_reach_top10(
    fixed: torch.Tensor,
    text: torch.Tensor | None,
    pop: torch.Tensor,
    scale: torch.Tensor,
    had: torch.Tensor,
    label: torch.Tensor,
) -> torch.Tensor:
    """(B,) False for rows where at least ten items outscore the label at every (text,
    popularity) multiplier pair of the grid, so its NDCG@10 is 0 at all of them.

    An item's lead over the label, ``df + mt * a * dt + mp * b * dp``, is linear in each
    multiplier and the grid is a product of two sets, so its least value over the grid adds
    the least of each part, found at the ends of each set. A lead counts only above a margin
    far larger than float32 rounding, so a row is never dropped on a rounding error.
    """
    rows = torch.arange(len(label))
    lead = fixed - fixed[rows, label][:, None]
    size = fixed.abs().amax(1)
    parts: list[tuple[tuple[float, ...], torch.Tensor, torch.Tensor]] = [
        (POP_MULTS, scale[2], pop[None, :].expand_as(fixed))
    ]
    if text is not None:
        parts.append((TEXT_MULTS, scale[0], text))
    for mults, k, part in parts:
        d = k * (part - part[rows, label][:, None])
        lead = lead + torch.minimum(min(mults) * d, max(mults) * d)
        size = size + max(abs(m) for m in mults) * abs(float(k)) * part.abs().amax(1)
    above = (lead > 1e-4 * (1.0 + size)[:, None]) & ~had
    return above.sum(1) < 10


def _ndcg10(scores: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """(B,) NDCG@10 of each row's one relevant item ``label`` (ties count half)."""
    own = scores.gather(1, label[:, None])
    rank = (scores > own).sum(1) + 0.5 * ((scores == own).sum(1) - 1)
    return torch.where(rank < 10, 1.0 / torch.log2(rank + 2.0), torch.zeros_like(rank))


__all__ = ["learn_weights"]
