"""`ArchBatch`: the one padded tensor format that every encoder consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ArchBatch:
    """A batch of architectures as padded node labels, adjacency and node mask.

    Shapes: ops [B, N] (long, index into ``space.node_labels``, 0 = padding),
    adj [B, N, N] (float 0/1, adj[b, i, j] = edge i -> j), mask [B, N] (bool, real nodes).
    Multi-cell spaces stack their cells block-diagonally, one block of ``max_cell_nodes`` each.
    """

    ops: torch.Tensor
    adj: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return int(self.ops.shape[0])

    def to(self, device: torch.device | str) -> ArchBatch:
        """The same batch on another device."""
        return ArchBatch(self.ops.to(device), self.adj.to(device), self.mask.to(device))

    def __getitem__(self, index: Any) -> ArchBatch:
        return ArchBatch(self.ops[index], self.adj[index], self.mask[index])
