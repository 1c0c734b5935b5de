"""Torch building blocks shared by the sequence models, and module <-> array conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from scenerec.errors import ConfigError

BlockStyle = Literal["pre_norm", "original"]


class CausalEncoder(nn.Module):
    """Transformer blocks with causal self-attention over left-padded sequences.

    Two block styles: ``pre_norm`` (each residual branch reads a layer-normalised input and
    adds to the raw stream; GELU feed-forward) and ``original``, SASRec's block as its public
    implementations write it: attention queries are layer-normalised, keys and values are not,
    the attention output is added to the normalised queries, the stream is normalised again
    before a ReLU feed-forward whose output is added to it; linear weights start N(0, 0.02).

    Args:
        dim: model width d.
        layers: number of blocks.
        heads: attention heads (``dim`` must divide by it).
        dropout: dropout on the residual branches.
        ffn_mult: width of the feed-forward layer, in multiples of ``dim``.
        attention_dropout: dropout on the attention weights (``None``: ``dropout``). On a CPU
            any attention dropout forces torch's unfused attention, several times slower.
    """

    def __init__(
        self,
        dim: int,
        layers: int,
        heads: int,
        dropout: float,
        ffn_mult: int = 2,
        attention_dropout: float | None = None,
        style: BlockStyle = "pre_norm",
    ) -> None:
        super().__init__()
        if style not in ("pre_norm", "original"):
            raise ConfigError(f"block style {style!r} is unknown; use 'pre_norm' or 'original'")
        if dim % heads:
            raise ConfigError(f"dim ({dim}) must be a multiple of heads ({heads})")
        att = dropout if attention_dropout is None else attention_dropout
        self.heads = heads
        self.dropout = dropout
        self.blocks = nn.ModuleList(
            _Block(dim, heads, dropout, ffn_mult, att, style) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        if style == "original":
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=0.02)
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Encode.

        Args:
            x: (B, L, d) float32 token embeddings.
            valid: (B, L) bool, False at padding.

        Returns:
            (B, L, d): position t summarises tokens <= t.
        """
        L = x.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        # Padding keys are hidden; each position still sees itself, so a padding row is never
        # fully masked (that would give NaN) and real rows never see padding.
        eye = torch.eye(L, dtype=torch.bool, device=x.device)
        mask = (causal[None] & valid[:, None, :]) | eye[None]
        mask = mask[:, None]  # (B, 1, L, L), broadcast over heads
        for block in self.blocks:
            x = block(x, mask)
        out: torch.Tensor = self.norm(x)
        return out


class _Block(nn.Module):
    def __init__(
        self,
        dim: int,
        heads: int,
        dropout: float,
        ffn_mult: int,
        attention_dropout: float,
        style: BlockStyle = "pre_norm",
    ) -> None:
        super().__init__()
        self.heads = heads
        self.original = style == "original"
        self.attention_dropout = attention_dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim),
            nn.ReLU() if self.original else nn.GELU(),
            nn.Linear(ffn_mult * dim, dim),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raw = x
        B, L, d = x.shape
        shape = (B, L, self.heads, d // self.heads)
        if self.original:  # queries normalised, keys and values read the raw stream
            x = self.norm1(x)
            w, b = self.qkv.weight, self.qkv.bias
            q = functional.linear(x, w[:d], b[:d]).view(shape)
            k, v = functional.linear(raw, w[d:], b[d:]).view(B, L, 2, *shape[2:]).unbind(2)
        else:
            q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, *shape[2:]).unbind(2)
        att = functional.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(B, L, d)))
        if self.original:
            x = self.norm2(x)
            out: torch.Tensor = x + self.drop(self.ffn(x))
        else:
            out = x + self.drop(self.ffn(self.norm2(x)))
        return out


def module_arrays(module: nn.Module, prefix: str = "net.") -> dict[str, np.ndarray]:
    """A module's state dict as numpy arrays (for ``BaseRecommender._arrays``)."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_arrays(
    module: nn.Module, arrays: Mapping[str, np.ndarray], prefix: str = "net."
) -> None:
    """Inverse of ``module_arrays``."""
    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    module.load_state_dict(state)


__all__ = ["BlockStyle", "CausalEncoder", "load_module_arrays", "module_arrays"]
