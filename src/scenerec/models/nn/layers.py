"""Torch building blocks shared by the sequence models, and module <-> array conversion."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from scenerec.errors import ConfigError


class CausalEncoder(nn.Module):
    """Pre-LayerNorm transformer blocks with causal self-attention over left-padded sequences.

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
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"dim ({dim}) must be a multiple of heads ({heads})")
        att = dropout if attention_dropout is None else attention_dropout
        self.heads = heads
        self.dropout = dropout
        self.blocks = nn.ModuleList(
            _Block(dim, heads, dropout, ffn_mult, att) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

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
        self, dim: int, heads: int, dropout: float, ffn_mult: int, attention_dropout: float
    ) -> None:
        super().__init__()
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.heads, d // self.heads).unbind(2)
        att = functional.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(B, L, d)))
        out: torch.Tensor = x + self.drop(self.ffn(self.norm2(x)))
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


__all__ = ["CausalEncoder", "load_module_arrays", "module_arrays"]
