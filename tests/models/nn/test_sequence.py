"""Sequence training: windows that make every event a target, negatives, the (sampled) softmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scenerec.models.nn import (
    Candidates,
    NegativeSampler,
    SequenceConfig,
    history_windows,
    sequence,
    softmax_loss,
)
from tests.models.nn.helpers import histories


def _targets(h_lengths: list[int], max_len: int, **kw: object) -> list[int]:
    """Event positions that are training targets, one entry per (window, target)."""
    h = histories(h_lengths)
    win = history_windows(h.indptr, max_len, **kw)  # type: ignore[arg-type]
    assert win.src.shape == (len(win), max_len + 1)
    got = []
    for w in range(len(win)):
        for c in np.flatnonzero(win.target[w]):
            inp, tgt = win.src[w, c], win.src[w, c + 1]
            assert inp >= 0 and tgt == inp + 1  # the input is the event just before
            got.append(int(tgt))
    return sorted(got)


def test_every_event_but_each_users_first_is_a_target_exactly_once() -> None:
    lengths = [1, 2, 7, 12, 0, 5]
    h = histories(lengths)
    firsts = set(h.indptr[:-1][np.array(lengths) > 0].tolist())
    everything = [e for e in range(h.n_events) if e not in firsts]
    assert _targets(lengths, 4) == everything
    assert _targets(lengths, 4, stride=2) == everything  # overlapping windows: still once each
    assert _targets(lengths, 50) == everything


def test_overlapping_windows_give_the_older_targets_context() -> None:
    h = histories([12])
    wide = history_windows(h.indptr, 4, stride=2)
    assert len(wide) == 6 and len(history_windows(h.indptr, 4)) == 3
    for w in range(len(wide) - 1):  # all but the oldest: every target sees >= 2 earlier events
        cols = np.flatnonzero(wide.target[w])
        assert cols.min() >= 2


def test_last_windows_train_only_the_newest_events() -> None:
    assert _targets([12], 4, windows="last") == [8, 9, 10, 11]
    win = history_windows(histories([3, 12]).indptr, 4, windows="last")
    assert win.lengths.tolist() == [3, 5]
    src, valid, _ = win.take(np.array([0]))
    assert src.shape == (1, 3) and valid.all()  # cut to the batch's longest window


def test_small_pools_get_the_full_softmax_and_large_ones_sampled_negatives() -> None:
    cfg = SequenceConfig(softmax_max_items=5, n_negatives=64, negative_power=1.0)
    counts = np.array([0, 0, 0, 100, 0, 0, 0, 0, 0, 0], np.float64)
    sampler = NegativeSampler({0: np.arange(4), 1: np.arange(10)}, counts, cfg)
    rng = np.random.default_rng(0)
    full = sampler.draw(0, rng)
    assert not full.sampled and full.items.tolist() == [0, 1, 2, 3]
    drawn = sampler.draw(1, rng)
    assert drawn.sampled and len(drawn.items) == 64 and drawn.log_q is not None
    assert (drawn.items == 3).mean() > 0.8  # drawn by popularity: 101 of 110 weight
    q3 = 101 / 110
    assert sampler.log_q(1, np.array([3]))[0] == pytest.approx(np.log(64 * q3), rel=1e-5)


@pytest.mark.parametrize("store", [True, False])
def test_full_softmax_is_cross_entropy_over_the_pool_value_and_gradient(
    store: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the softmax kept from the forward, or recomputed in the backward (a large one)
    monkeypatch.setattr(sequence, "_STORE_ENTRIES", 2**26 if store else 0)
    torch.manual_seed(0)
    user0, vecs0 = torch.randn(700, 4), torch.randn(300, 4)  # several blocks of rows
    items = np.arange(0, 600, 2)
    targets = torch.from_numpy(items[torch.randint(0, 300, (700,)).numpy()])
    user, vecs = user0.clone().requires_grad_(True), vecs0.clone().requires_grad_(True)
    got = softmax_loss(user, vecs, Candidates(items, False), targets)
    (2.0 * got).backward()
    u2, v2 = user0.clone().requires_grad_(True), vecs0.clone().requires_grad_(True)
    want = torch.nn.functional.cross_entropy(u2 @ v2.T, targets // 2, reduction="sum")
    (2.0 * want).backward()
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    assert user.grad is not None and u2.grad is not None and vecs.grad is not None
    assert torch.allclose(user.grad, u2.grad, atol=1e-5)
    assert v2.grad is not None and torch.allclose(vecs.grad, v2.grad, atol=1e-4)


def test_sampled_softmax_with_log_q_follows_the_full_gradient() -> None:
    # Negatives drawn by popularity: without the log-q correction the loss pushes popular items
    # down far too hard; with it, its gradient matches the full softmax's.
    gen = torch.Generator().manual_seed(0)
    n_items, d = 300, 8
    vecs = torch.randn(n_items, d, generator=gen)
    base = torch.randn(32, d, generator=gen)
    targets = torch.randint(0, n_items, (32,), generator=gen)

    def grad(fn: object) -> torch.Tensor:
        user = base.clone().requires_grad_(True)
        fn(user).backward()  # type: ignore[operator]
        assert user.grad is not None
        return user.grad.flatten()

    full = grad(lambda u: softmax_loss(u, vecs, Candidates(np.arange(n_items), False), targets))
    counts = 1000.0 / np.random.default_rng(1).permutation(np.arange(1, n_items + 1))
    cfg = SequenceConfig(softmax_max_items=10, n_negatives=20_000, negative_power=1.0)
    sampler = NegativeSampler({0: np.arange(n_items)}, counts, cfg)
    c = sampler.draw(0, np.random.default_rng(2))
    idx = torch.from_numpy(c.items)
    log_q = torch.from_numpy(sampler.log_q(0, targets.numpy()))
    plain = Candidates(c.items, True, np.zeros(len(c.items), np.float32))
    zero = torch.zeros(len(targets))
    fixed = grad(lambda u: softmax_loss(u, vecs[idx], c, targets, vecs[targets], log_q))
    biased = grad(lambda u: softmax_loss(u, vecs[idx], plain, targets, vecs[targets], zero))
    err_fixed, err_biased = float((fixed - full).norm()), float((biased - full).norm())
    assert err_fixed < 0.1 * float(full.norm())
    assert err_biased > 3 * err_fixed
