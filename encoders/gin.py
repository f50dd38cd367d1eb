"""GIN variational graph autoencoder, arch2vec style (Yan et al., "Does Unsupervised Architecture
Representation Learning Help Neural Architecture Search?", NeurIPS 2020).

Like arch2vec: GIN layers with learnable epsilon over the adjacency made bidirectional
(``A + A^T``, arch2vec's preprocessing "method 4"), node features from the op labels. Unlike
arch2vec, whose latent is one vector per node, the latent is one vector per architecture: node
features are pooled (mean over real nodes, of every layer's output, GIN's jumping-knowledge readout)
into mu and logvar. So that the pooled vector still says which node carried which op, each node's
input feature is its op embedding plus an embedding of its position (the tensor form is in
topological order); the shared MLP decoder maps z back to per-node ops and edges.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import DenseGINConv

from archlatent.batch import ArchBatch
from archlatent.encoders.base import ENCODERS, LatentAutoencoder, masked_mean, mlp


@ENCODERS.register("gin")
class GINAutoencoder(LatentAutoencoder):
    """Dense GIN encoder (``layers`` GIN layers of width ``hidden``) + the shared MLP decoder."""

    def _build_encoder(self) -> None:
        h = self.hidden
        self.op_embed = nn.Embedding(self.n_labels * self.n_nodes, h)
        self.convs = nn.ModuleList(DenseGINConv(mlp([h, h, h]), train_eps=True) for _ in range(self.layers))
        self._build_latent_heads(h * (self.layers + 1))

    def encode(self, batch: ArchBatch) -> tuple[Tensor, Tensor]:
        """Shapes: batch [B, N] -> mu [B, d], logvar [B, d]."""
        batch = batch.to(self.device)
        mask = batch.mask
        x = self.op_embed(batch.ops + self.n_labels * torch.arange(self.n_nodes, device=self.device))
        x = x * mask.unsqueeze(-1).to(x.dtype)
        adj = batch.adj + batch.adj.transpose(1, 2)
        pooled = [masked_mean(x, mask)]
        for conv in self.convs:
            x = conv(x, adj, mask).relu()
            pooled.append(masked_mean(x, mask))
        return self._to_latent(torch.cat(pooled, dim=-1))

