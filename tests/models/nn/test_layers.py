"""Shared torch layers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from scenerec.errors import ConfigError
from scenerec.models.nn import BlockStyle, CausalEncoder


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from threads, and on a busy 2-core machine spinning threads
    # make each step many times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("style", ["pre_norm", "original"])
def test_causal_encoder_ignores_the_future_and_the_padding(style: BlockStyle) -> None:
    torch.manual_seed(0)
    enc = CausalEncoder(dim=8, layers=2, heads=2, dropout=0.0, style=style).eval()
    x = torch.randn(1, 5, 8)
    valid = torch.ones(1, 5, dtype=torch.bool)
    out = enc(x, valid)
    changed = x.clone()
    changed[0, 4] += 10.0
    assert torch.allclose(enc(changed, valid)[0, :4], out[0, :4], atol=1e-6)
    padded = torch.cat([torch.randn(1, 3, 8), x], dim=1)
    pad_valid = torch.cat([torch.zeros(1, 3, dtype=torch.bool), valid], dim=1)
    assert torch.allclose(enc(padded, pad_valid)[0, 3:], out[0], atol=1e-5)


def test_an_unknown_block_style_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'post_norm' is unknown"):
        CausalEncoder(dim=8, layers=1, heads=1, dropout=0.0, style="post_norm")  # type: ignore[arg-type]
