"""`LatentAutoencoder`: the one base class of the latent models, and the `ENCODERS` registry.

A subclass writes `_build_encoder` and `encode` (ArchBatch -> mu, logvar); the decoder (z -> op
logits, adjacency logits), the loss, the score head and the two crossings between genotypes and
latent points (`embed`, `reconstruct`) live here, shared by every encoder.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlatent.batch import ArchBatch
from archlatent.checks import is_int
from archlatent.encoders.layers import mlp, nonneg_float, positive_int, resolve_space
from archlatent.encoders.targets import check_targets, column_weights, target_widths
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.registry import Registry
from archlatent.spaces import SearchSpace

#: Logit written where no edge can be (below the diagonal, across cells): sigmoid of it is 0.
NO_EDGE = -1.0e4
#: Largest number of decoded rows `reconstruct` remembers (row bytes -> genotype) before it forgets all.
RECONSTRUCT_CACHE = 1 << 17


class LatentAutoencoder(nn.Module, ABC):
    """Variational autoencoder of one search space's architectures, with a ranking score head.

    Built from a space and hyperparameters; subclasses write `_build_encoder` and `encode`.
    Hyperparameters: ``latent_dim`` (d), ``hidden`` (encoder width), ``layers`` (encoder depth),
    ``dec_hidden`` / ``dec_layers`` (decoder MLP), ``adj_head`` ("mlp": one logit per possible edge
    from the decoder trunk; "inner": bilinear form of decoded node vectors), ``beta`` (KL weight),
    ``score_hidden``, ``margin`` and ``rank_weight`` (ranking hinge; margin 1.0 rather than GATES'
    0.1, since with 100 labels a 0.1 hinge is met within an epoch and stops teaching: NB201 Kendall
    tau about 0.60 with 0.1, 0.65 with 1.0), ``targets`` (free training targets, name -> weight: a linear
    head predicts them from mu; `archlatent.encoders.targets`; none by default), plus ``seed`` (weight
    init, drawn under a forked RNG).
    """

    name: str = ""

    def __init__(
        self,
        space: SearchSpace | str,
        *,
        latent_dim: int = 16,
        hidden: int = 128,
        layers: int = 4,
        dec_hidden: int = 256,
        dec_layers: int = 2,
        adj_head: str = "mlp",
        beta: float = 0.005,
        score_hidden: int = 64,
        margin: float = 1.0,
        rank_weight: float = 1.0,
        targets: Mapping[str, float] | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
        **extra: Any,
    ) -> None:
        super().__init__()
        self.space = resolve_space(space)
        if adj_head not in ("mlp", "inner"):
            raise ArchLatentError(f"adj_head must be 'mlp' or 'inner', got {adj_head!r}")
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.hidden = positive_int("hidden", hidden)
        self.layers = positive_int("layers", layers)
        self.dec_hidden = positive_int("dec_hidden", dec_hidden)
        self.dec_layers = positive_int("dec_layers", dec_layers)
        self.adj_head_kind = adj_head
        self.beta = nonneg_float("beta", beta)
        self.margin = nonneg_float("margin", margin)
        self.rank_weight = nonneg_float("rank_weight", rank_weight)
        score_hidden = positive_int("score_hidden", score_hidden)
        #: Free targets the latent mean predicts (name -> loss weight; `archlatent.encoders.targets`).
        self.targets = check_targets(self.space, targets)
        if not is_int(seed, numpy=True):
            raise ArchLatentError(f"seed must be an integer, got {seed!r}")
        #: Everything needed to rebuild this model (checkpoint metadata); JSON-able.
        self.hparams: dict[str, Any] = {
            "latent_dim": self.latent_dim,
            "hidden": self.hidden,
            "layers": self.layers,
            "dec_hidden": self.dec_hidden,
            "dec_layers": self.dec_layers,
            "adj_head": adj_head,
            "beta": self.beta,
            "score_hidden": score_hidden,
            "margin": self.margin,
            "rank_weight": self.rank_weight,
            "seed": int(seed),
            **({"targets": dict(self.targets)} if self.targets else {}),
            **extra,
        }
        self.n_nodes = self.space.max_nodes
        self.n_labels = len(self.space.node_labels)

        # Possible edges: i < j inside one cell block (cells are stacked block-diagonally).
        n, m = self.n_nodes, self.space.max_cell_nodes
        block = np.arange(n) // m  # numpy: the layout is data, not model state (and builds on torch's meta device)
        slots = np.triu(np.ones((n, n), dtype=bool), k=1) & (block[:, None] == block[None, :])
        self.register_buffer("slots", torch.tensor(slots), persistent=False)
        self.register_buffer("slot_flat", torch.tensor(np.flatnonzero(slots)), persistent=False)
        #: Mean and std of the training set's posterior means (set by training; bounds for a search).
        self.register_buffer("latent_loc", torch.zeros(self.latent_dim))
        self.register_buffer("latent_scale", torch.ones(self.latent_dim))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self._build_encoder()
            self._build_decoder()
            self.score_head = mlp([self.latent_dim, score_hidden, 1], last_bias=False)
            if self.targets:  # linear, so that a linear read-out of the latent mean finds the targets
                self.target_head = nn.Linear(self.latent_dim, sum(target_widths(self.space, self.targets).values()))
                self.register_buffer("target_weights", torch.tensor(column_weights(self.space, self.targets),
                                                                    dtype=torch.float32), persistent=False)
        self._cache: dict[bytes, Genotype | None] = {}
        self.to(device)

    # -- hooks -----------------------------------------------------------------------------------
    @abstractmethod
    def _build_encoder(self) -> None:
        """Create the encoder's modules (called under a seeded, forked RNG)."""

    @abstractmethod
    def encode(self, batch: ArchBatch) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance. Shapes: batch [B, N] -> mu [B, d], logvar [B, d]."""

    def _build_latent_heads(self, widths: Sequence[int]) -> None:
        """Per-part LayerNorm + linear maps from pooled parts (widths `widths`) to mu and logvar.

        Each pooled part (e.g. one GNN layer's readout) is normalized on its own so no part drowns
        another; logvar starts at -4 (sigma 0.14), so the decoder sees the encoder's signal rather
        than noise from the first step.
        """
        self.latent_norms = nn.ModuleList(nn.LayerNorm(w) for w in widths)
        self.to_mu = nn.Linear(sum(widths), self.latent_dim)
        self.to_logvar = nn.Linear(sum(widths), self.latent_dim)
        nn.init.constant_(self.to_logvar.bias, -4.0)

    def _to_latent(self, pooled: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Shapes: pooled parts [B, width_k] -> mu [B, d], logvar [B, d] (see `_build_latent_heads`)."""
        x = torch.cat([norm(p) for norm, p in zip(self.latent_norms, pooled)], dim=-1)
        return self.to_mu(x), self.to_logvar(x)

    def _build_decoder(self) -> None:
        h, n, labels = self.dec_hidden, self.n_nodes, self.n_labels
        self.dec_trunk = nn.Sequential(mlp([self.latent_dim] + [h] * self.dec_layers), nn.ReLU())
        self.op_head = nn.Linear(h, n * labels)
        if self.adj_head_kind == "mlp":
            self.adj_head = nn.Linear(h, int(self.slot_flat.numel()))
        else:
            k = max(8, h // 4)
            self.adj_nodes = nn.Linear(h, n * k)
            self.adj_form = nn.Parameter(torch.randn(k, k) / k)
            self.adj_bias = nn.Parameter(torch.zeros(()))

    # -- the model ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return self.slots.device

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Op and edge logits of latent points (index 0 of the ops = padding, i.e. no node).

        Shapes: z [B, d] -> op_logits [B, N, n_labels], adj_logits [B, N, N]; entries that can never
        be an edge (on or below the diagonal, across cells) hold `NO_EDGE`.
        """
        b, n = z.shape[0], self.n_nodes
        h = self.dec_trunk(z)
        op_logits = self.op_head(h).view(b, n, self.n_labels)
        if self.adj_head_kind == "mlp":
            adj = h.new_full((b, n * n), NO_EDGE)
            adj[:, self.slot_flat] = self.adj_head(h)
            adj = adj.view(b, n, n)
        else:
            nodes = self.adj_nodes(h).view(b, n, -1)
            adj = (nodes @ self.adj_form) @ nodes.transpose(1, 2) + self.adj_bias
            adj = adj.masked_fill(~self.slots, NO_EDGE)
        return op_logits, adj

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps, eps drawn from `generator` (on the model's device) if given."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def score(self, z: Tensor) -> Tensor:
        """Score-head output (higher = better). Shapes: z [B, d] -> [B]."""
        return self.score_head(z).squeeze(-1)

    def loss(
        self, batch: ArchBatch, *, acc: Tensor | None = None, targets: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Reconstruction + beta * KL (+ rank_weight * pairwise hinge when `acc` has >= 2 labels)
        (+ the weighted squared errors of the target head on `targets` [B, T], standardized).

        Reconstruction, per architecture: cross-entropy of every node's label (padding = label 0, so
        the node count is learned) + BCE of every possible edge among real nodes. In training mode z
        is sampled with `generator`; in eval mode z = mu. `acc` [B] holds accuracies, NaN where
        unlabelled; pairs with acc_i > acc_j cost max(0, margin - (s_i - s_j)) (GATES).
        Returns tensors: loss, ops, adj, kl, rank, target and exact (fraction of rows decoded exactly).
        """
        batch = batch.to(self.device)
        b = len(batch)
        mu, logvar = self.encode(batch)
        z = self.reparameterize(mu, logvar, generator) if self.training else mu
        op_logits, adj_logits = self.decode(z)
        ops_loss = F.cross_entropy(op_logits.reshape(-1, self.n_labels), batch.ops.reshape(-1), reduction="sum") / b
        real = batch.mask.unsqueeze(2) & batch.mask.unsqueeze(1) & self.slots
        adj_loss = F.binary_cross_entropy_with_logits(adj_logits[real], batch.adj[real], reduction="sum") / b
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / b
        total = ops_loss + adj_loss + self.beta * kl
        rank = torch.zeros((), device=mu.device)
        if acc is not None:
            acc = acc.to(self.device)
            labelled = torch.isfinite(acc)
            if int(labelled.sum()) >= 2:
                rank = self.rank_loss(self.score(mu[labelled]), acc[labelled])
                total = total + self.rank_weight * rank
        target = torch.zeros((), device=mu.device)
        if targets is not None and self.targets:
            target = self.target_loss(mu, targets.to(self.device))
            total = total + target
        with torch.no_grad():
            exact = self._exact(op_logits, adj_logits, batch).float().mean()
        return {"loss": total, "ops": ops_loss, "adj": adj_loss, "kl": kl, "rank": rank, "target": target,
                "exact": exact}

    def target_loss(self, mu: Tensor, targets: Tensor) -> Tensor:
        """Weighted mean squared error of the target head. Shapes: mu [B, d], targets [B, T] -> []."""
        err = (self.target_head(mu) - targets).pow(2).mean(0)
        return (err * self.target_weights).sum()

    def rank_loss(self, scores: Tensor, acc: Tensor) -> Tensor:
        """Mean over pairs with acc_i > acc_j of max(0, margin - (s_i - s_j)). Shapes: [K], [K] -> []."""
        better = acc.unsqueeze(1) > acc.unsqueeze(0)
        if not bool(better.any()):
            return scores.sum() * 0.0
        diff = scores.unsqueeze(1) - scores.unsqueeze(0)
        return F.relu(self.margin - diff)[better].mean()

    # -- tensors <-> decoded architectures -----------------------------------------------------
    def decode_tensors(self, z: Tensor) -> ArchBatch:
        """The decoded tensor form (on the model's device), as the space reads logits
        (`SearchSpace.decode_logits`: argmax ops and edges with logit > 0, unless the space constrains
        its decoding to its rules). Shapes: z [B, d] -> ArchBatch [B, N].
        """
        op_logits, adj_logits = self.decode(z)
        return self._to_batch(op_logits, adj_logits)

    def _to_batch(self, op_logits: Tensor, adj_logits: Tensor) -> ArchBatch:
        return self.space.decode_logits(op_logits, adj_logits, self.slots)

    def _exact(self, op_logits: Tensor, adj_logits: Tensor, target: ArchBatch) -> Tensor:
        """Per row: does the decoder's plain (unconstrained) reading equal the target? Shapes -> [B] bool.

        Training measures the decoder itself, before a space's constrained reading could mend it.
        """
        dec = SearchSpace.decode_logits(self.space, op_logits, adj_logits, self.slots)
        ops_ok = (dec.ops == target.ops).all(1)
        adj_ok = ((dec.adj > 0.5) == (target.adj > 0.5)).logical_or(~self.slots).all(2).all(1)
        return ops_ok & adj_ok

    # -- the crossings between genotypes and latent points --------------------------------------------
    def to_batch(self, genotypes: Iterable[Genotype] | ArchBatch, *, canonicalize: bool = True) -> ArchBatch:
        """The tensor form of `genotypes` (their class representatives unless told otherwise: equal keys,
        equal tensors, equal latent points); batches pass through."""
        if isinstance(genotypes, ArchBatch):
            return genotypes
        gs = list(genotypes)
        if canonicalize:
            gs = [self.space.representative(g) for g in gs]
        return self.space.to_tensors(gs)

    def embed(
        self,
        genotypes: Iterable[Genotype] | ArchBatch,
        *,
        canonicalize: bool = True,
        batch_size: int | None = None,
    ) -> Tensor:
        """Posterior means (eval mode, no grad, in chunks), on the CPU. Shapes: B genotypes -> [B, d].

        Genotypes are replaced by their space's `representative` first (the model is trained on
        representatives, and isomorphic cells must share one latent point); pass
        ``canonicalize=False`` when they already are, or an ArchBatch, to skip that step.
        `batch_size`: rows per chunk (default 1024 on CPU, where chunks that fit the cache are
        fastest, 16384 elsewhere).
        """
        batch = self.to_batch(genotypes, canonicalize=canonicalize)
        if len(batch) == 0:
            return torch.zeros(0, self.latent_dim)
        if batch_size is None:
            batch_size = 1024 if self.device.type == "cpu" else 16384
        out = []
        with self._evaluating():
            for start in range(0, len(batch), batch_size):
                mu, _ = self.encode(batch[start : start + batch_size].to(self.device))
                out.append(mu)
        return torch.cat(out).cpu()

    def reconstruct(
        self, z: Tensor | np.ndarray | Sequence[Sequence[float]], *, batch_size: int = 8192
    ) -> list[Genotype | None]:
        """Genotypes decoded from latent points; None where the decoded cell is not valid.

        Argmax ops, edges with logit > 0, then `space.from_tensors` (which validates). Identical decoded
        rows are converted once and share one Genotype object (so its cached key is computed once).
        Shapes: z [B, d] (or [d]) -> B entries.
        """
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() == 1:
            z = z.unsqueeze(0)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ArchLatentError(f"latent points must have shape [B, {self.latent_dim}], got {list(z.shape)}")
        if len(z) == 0:
            return []
        rows = []
        with self._evaluating():
            for start in range(0, len(z), batch_size):
                dec = self.decode_tensors(z[start : start + batch_size].to(self.device))
                code = torch.cat([dec.ops.to(torch.int16), dec.adj.flatten(1)[:, self.slot_flat].to(torch.int16)], 1)
                rows.append(code.cpu())
        codes = torch.cat(rows).numpy()
        width = codes.shape[1] * codes.itemsize
        keys = np.ascontiguousarray(codes).view(np.dtype((np.void, width))).ravel()
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        blobs = [u.tobytes() for u in uniq]
        missing = [k for k, blob in enumerate(blobs) if blob not in self._cache]
        if missing:
            if len(self._cache) + len(missing) > RECONSTRUCT_CACHE:
                self._cache.clear()
            sel = torch.from_numpy(codes[first[missing]].astype(np.int64))
            n = self.n_nodes
            ops = sel[:, :n]
            adj = torch.zeros(len(missing), n * n)
            adj[:, self.slot_flat.cpu()] = sel[:, n:].float()
            decoded = self.space.from_tensors(ArchBatch(ops, adj.view(-1, n, n), ops != 0))
            for k, g in zip(missing, decoded):
                self._cache[blobs[k]] = g
        found = [self._cache[blob] for blob in blobs]
        return [found[i] for i in inverse.ravel().tolist()]

    def clear_cache(self) -> None:
        """Forget the decoded rows `reconstruct` remembers (for timing a cold start)."""
        self._cache.clear()

    def predict(self, x: Iterable[Genotype] | ArchBatch | Tensor, *, canonicalize: bool = True) -> Tensor:
        """Score-head predictions (higher = better) for genotypes, a batch or latent points [B, d]; CPU [B]."""
        z = x if isinstance(x, Tensor) else self.embed(x, canonicalize=canonicalize)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ArchLatentError(f"latent points must have shape [B, {self.latent_dim}], got {list(z.shape)}")
        with self._evaluating():
            return self.score(z.to(self.device, torch.float32)).cpu()

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return f"space={self.space.name!r}, " + ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())


ENCODERS: Registry[LatentAutoencoder] = Registry("encoder")


def build_encoder(
    space: SearchSpace | str, name: str, *, device: torch.device | str = "cpu", **hparams: Any
) -> LatentAutoencoder:
    """A fresh (untrained) model of the encoder registered as `name` for `space`."""
    return ENCODERS.get(name)(space, device=device, **hparams)
