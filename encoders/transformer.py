"""Transformer autoencoder of TNAO (He et al., "Two-stage Neural Architecture Optimization with
Separated Training and Search", IJCNN 2023), with CATE's DAG-restricted attention (Yan et al.,
"CATE: Computation-aware Neural Architecture Encoding with Transformers", ICML 2021).

One token per node: op embedding + position embedding (positions follow the topological order of
the tensor form). Each pre-norm self-attention layer lets a node attend only to itself and to the
nodes the DAG links it to: direct predecessors and successors (``attn="neighbours"``) or every
ancestor and descendant (``attn="reach"``, CATE's indirect dependencies). Padding tokens attend to
themselves only and are never attended to. A masked mean over real nodes gives mu and logvar; the
decoder is the shared MLP of `LatentAutoencoder`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlatent.batch import ArchBatch
from archlatent.errors import ArchLatentError
from archlatent.spaces import SearchSpace
from archlatent.encoders.base import ENCODERS, LatentAutoencoder, masked_mean


class _Block(nn.Module):
    """Pre-norm transformer layer whose attention takes a boolean mask (True = may attend)."""

    def __init__(self, width: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, ffn), nn.GELU(), nn.Linear(ffn, width))

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """Shapes: x [B, N, W], allowed [B, 1, N, N] -> [B, N, W]."""
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.out(att.transpose(1, 2).reshape(b, n, w))
        return x + self.ff(self.norm2(x))


def reachability(adj: Tensor) -> Tensor:
    """Transitive closure of a batch of DAGs (i reaches j by a path of >= 1 edges). Shapes: [B, N, N] bool."""
    reach = adj
    steps = max(1, (adj.shape[-1] - 1).bit_length())
    for _ in range(steps):
        reach = reach | (reach.float() @ reach.float() > 0)
    return reach


@ENCODERS.register("transformer")
class TransformerAutoencoder(LatentAutoencoder):
    """DAG-masked transformer encoder (``layers`` layers of width ``hidden``, ``heads`` heads,
    feed-forward width ``ffn``, attention ``attn`` = "neighbours" or "reach") + the shared decoder."""

    def __init__(
        self,
        space: SearchSpace | str,
        *,
        heads: int = 4,
        ffn: int | None = None,
        attn: str = "neighbours",
        **kwargs: Any,
    ) -> None:
        hidden = kwargs.get("hidden", 128)
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or hidden % heads:
            raise ArchLatentError(f"heads must be a positive divisor of hidden={hidden}, got {heads!r}")
        if attn not in ("neighbours", "reach"):
            raise ArchLatentError(f"attn must be 'neighbours' or 'reach', got {attn!r}")
        ffn = 2 * hidden if ffn is None else ffn
        super().__init__(space, heads=heads, ffn=ffn, attn=attn, **kwargs)

    def _build_encoder(self) -> None:
        h = self.hidden
        self.op_embed = nn.Embedding(self.n_labels, h)
        self.pos_embed = nn.Embedding(self.n_nodes, h)
        self.blocks = nn.ModuleList(
            _Block(h, self.hparams["heads"], self.hparams["ffn"]) for _ in range(self.layers)
        )
        self._build_latent_heads(h)

    def attention_mask(self, batch: ArchBatch) -> Tensor:
        """Who may attend to whom. Shapes: batch [B, N] -> [B, 1, N, N] bool."""
        adj = batch.adj > 0.5
        if self.hparams["attn"] == "reach":
            adj = reachability(adj)
        eye = torch.eye(self.n_nodes, dtype=torch.bool, device=adj.device)
        allowed = (adj | adj.transpose(1, 2)) & batch.mask.unsqueeze(1) & batch.mask.unsqueeze(2)
        return (allowed | eye).unsqueeze(1)

    def encode(self, batch: ArchBatch) -> tuple[Tensor, Tensor]:
        """Shapes: batch [B, N] -> mu [B, d], logvar [B, d]."""
        batch = batch.to(self.device)
        x = self.op_embed(batch.ops) + self.pos_embed.weight
        allowed = self.attention_mask(batch)
        for block in self.blocks:
            x = block(x, allowed)
        return self._to_latent(masked_mean(x, batch.mask))
