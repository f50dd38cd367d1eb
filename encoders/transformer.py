"""Transformer autoencoder of TNAO (He et al., "Two-stage Neural Architecture Optimization with
Separated Training and Search", IJCNN 2023), with CATE's DAG-restricted attention (Yan et al.,
"CATE: Computation-aware Neural Architecture Encoding with Transformers", ICML 2021).

One token per node. Each pre-norm self-attention layer lets a node attend only to itself and to
the nodes the DAG links it to: direct predecessors and successors (``attn="neighbours"``) or every
ancestor and descendant (``attn="reach"``, CATE's indirect dependencies). Padding tokens attend to
themselves only and are never attended to. Masked means over real nodes, of the token embeddings
and of every layer's output, each layer-normed, give mu and logvar; the decoder is the shared MLP
of `LatentAutoencoder`.

Two departures from TNAO, both for the pooled (one vector per architecture) latent: a token's
embedding is an op embedding per node position (a table of ``max_nodes * n_labels`` rows) rather
than op embedding + position embedding, whose mean over nodes is only a bag of ops; and the readout
pools every layer (as GIN does), not only the last. With either missing, training sits on a
plateau for many epochs (measured on NB201 and DARTS).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from archlatent.batch import ArchBatch
from archlatent.checks import is_int
from archlatent.encoders.base import ENCODERS, LatentAutoencoder
from archlatent.encoders.layers import masked_mean
from archlatent.errors import ArchLatentError
from archlatent.spaces import SearchSpace


class _Block(nn.Module):
    """Pre-norm transformer layer; attention takes a 0/1 mask (1 = may attend).

    Attention is written out (matmul, softmax by hand, matmul): for sequences of <= 22 tokens this is
    several times faster on CPU than ``scaled_dot_product_attention`` or ``torch.softmax`` over a
    last dimension that short. The softmax multiplies exp(score) by the mask rather than adding
    -1e4 to masked scores (exp of large negatives takes a slow path on CPU: ~20 % of the embedding
    time); scores are clamped to +-60 in place of subtracting the row maximum, so exp neither
    overflows nor reaches 0. Every token may attend to itself, so no row sums to 0.
    """

    def __init__(self, width: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, ffn), nn.ReLU(), nn.Linear(ffn, width))

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        """Shapes: x [B, N, W], keep [B, 1, N, N] -> [B, N, W]."""
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        weights = ((q @ k.transpose(-1, -2)) * self.scale).clamp(-60.0, 60.0).exp() * keep
        att = (weights / weights.sum(-1, keepdim=True)) @ v
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
    """DAG-masked transformer encoder with the shared MLP decoder. Settings: ``layers`` layers of width
    ``hidden``, ``heads`` heads, feed-forward width ``ffn``, attention ``attn`` = "neighbours" or "reach"."""

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
        if not is_int(heads) or heads < 1 or hidden % heads:
            raise ArchLatentError(f"heads must be a positive divisor of hidden={hidden}, got {heads!r}")
        if attn not in ("neighbours", "reach"):
            raise ArchLatentError(f"attn must be 'neighbours' or 'reach', got {attn!r}")
        ffn = 2 * hidden if ffn is None else ffn
        super().__init__(space, heads=heads, ffn=ffn, attn=attn, **kwargs)

    def _build_encoder(self) -> None:
        h = self.hidden
        self.op_embed = nn.Embedding(self.n_nodes * self.n_labels, h)
        self.register_buffer("node_offset", torch.arange(self.n_nodes) * self.n_labels, persistent=False)
        self.blocks = nn.ModuleList(_Block(h, self.hparams["heads"], self.hparams["ffn"]) for _ in range(self.layers))
        self._build_latent_heads([h] * (self.layers + 1))

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
        x = self.op_embed(batch.ops + self.node_offset)
        keep = self.attention_mask(batch).to(x.dtype)
        mask = None if bool(batch.mask.all()) else batch.mask
        pooled = [masked_mean(x, mask)]
        for block in self.blocks:
            x = block(x, keep)
            pooled.append(masked_mean(x, mask))
        return self._to_latent(pooled)
