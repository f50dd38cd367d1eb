"""GIN variational graph autoencoder, arch2vec style (Yan et al., "Does Unsupervised Architecture
Representation Learning Help Neural Architecture Search?", NeurIPS 2020).

As in arch2vec: GIN layers (learnable epsilon, two-layer MLPs) over the adjacency made
bidirectional, ``A + A^T`` (arch2vec's preprocessing "method 4"), with op labels as node features.
Unlike arch2vec, whose latent is one vector per node, the latent here is one vector per
architecture: every layer's node features are pooled (mean over real nodes; GIN's jumping-knowledge
readout), each pooled part layer-normed, and mapped to mu and logvar. So that a mean over nodes
still says which node carried which op, a node's input feature is an op embedding per node position
(the tensor form lists nodes in topological order); with a shared op table plus a position
embedding instead, the pooled vector starts as a bag of ops and training stalls for many epochs.
The shared MLP decoder of `LatentAutoencoder` maps z back to per-node ops and edges.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import DenseGINConv

from archlatent.batch import ArchBatch
from archlatent.encoders.base import ENCODERS, LatentAutoencoder
from archlatent.encoders.layers import masked_mean, mlp


@ENCODERS.register("gin")
class GINAutoencoder(LatentAutoencoder):
    """Dense GIN encoder with the shared MLP decoder. Settings: ``layers`` GIN layers of width ``hidden``."""

    def _build_encoder(self) -> None:
        h = self.hidden
        self.op_embed = nn.Embedding(self.n_nodes * self.n_labels, h)
        self.register_buffer("node_offset", torch.arange(self.n_nodes) * self.n_labels, persistent=False)
        self.convs = nn.ModuleList(DenseGINConv(mlp([h, h, h]), train_eps=True) for _ in range(self.layers))
        self._build_latent_heads([h] * (self.layers + 1))

    def encode(self, batch: ArchBatch) -> tuple[Tensor, Tensor]:
        """Shapes: batch [B, N] -> mu [B, d], logvar [B, d]."""
        batch = batch.to(self.device)
        mask: Tensor | None = batch.mask
        x = self.op_embed(batch.ops + self.node_offset)
        if bool(mask.all()):
            mask = None  # every node real (fixed-size spaces): skip the masking arithmetic
        else:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        adj = batch.adj + batch.adj.transpose(1, 2)
        pooled = [masked_mean(x, mask)]
        for conv in self.convs:
            x = conv(x, adj, mask).relu_()
            pooled.append(masked_mean(x, mask))
        return self._to_latent(pooled)
