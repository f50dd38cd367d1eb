"""Pretraining of latent autoencoders: training set, loop, metrics and curves.

`pretrain` is the front door (what a CLI command calls); `fit` and `evaluate` are its two halves,
usable on their own. Determinism: one seed drives the numpy Generator that samples and splits the
architectures, the weight init (under a forked RNG) and two local torch Generators (shuffling,
reparameterization noise), so CPU runs with the same seed are bit-identical and the global RNGs are
left alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.stats import kendalltau
from torch import Tensor

from archlatent.batch import ArchBatch
from archlatent.checks import is_int
from archlatent.encoders.base import LatentAutoencoder, build_encoder
from archlatent.encoders.data import Dataset, make_dataset
from archlatent.encoders.layers import resolve_space
from archlatent.encoders.targets import standardize, target_values
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces import SearchSpace
from archlatent.threads import scoped_threads

log = logging.getLogger(__name__)

#: Latent points drawn from N(0, I) for `valid_prior` and `unique_prior`.
PRIOR_SAMPLES = 1_000

Progress = Callable[[dict[str, Any]], None]


class PretrainResult(NamedTuple):
    """What `pretrain` returns: unpack as ``model, metrics, curves``."""

    model: LatentAutoencoder
    metrics: dict[str, Any]
    curves: list[dict[str, float]]


# -- training --------------------------------------------------------------------------------------
def _schedule(total_steps: int, warmup: float = 0.05) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 0 (as a multiplier of the base learning rate)."""
    w = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / w
        t = (step - w) / max(1, total_steps - w)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return factor


def fit(
    model: LatentAutoencoder,
    train: Sequence[Genotype],
    *,
    heldout: Sequence[Genotype] = (),
    labels: Mapping[str, float] | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    label_batch: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
    stop_at: float | None = None,
) -> list[dict[str, float]]:
    """Train `model` in place on `train` (canonical genotypes); returns one record per epoch.

    Each step: a shuffled minibatch of `train`, plus (when `labels`, accuracy per key, cover >= 2
    training architectures) up to `label_batch` labelled ones for the ranking term. Adam, linear
    warm-up then cosine decay. The model's free targets (`archlatent.encoders.targets`), standardized
    over `train`, add the target head's loss. Records: epoch, loss, ops, adj, kl, rank, target, train_exact (decoded from
    sampled z), heldout_exact (decoded from mu, same key; NaN without held-out set), seconds
    and cpu_seconds (cumulative wall and process time). `stop_at`: end after the first epoch whose
    heldout_exact (train_exact without a held-out set) reaches it. Raises ArchLatentError when the
    loss stops being finite.
    """
    _check_settings(epochs=epochs, batch_size=batch_size, label_batch=label_batch, lr=lr)
    if len(train) == 0:
        raise ArchLatentError("no training architectures")
    space, device = model.space, model.device
    data = space.to_tensors(list(train)).to(device)
    hold = space.to_tensors(list(heldout)).to(device) if len(heldout) else None
    acc, labelled = _label_targets(train, labels, device)
    goals = free_targets(model, train)
    fused = device.type in ("cpu", "cuda")  # one kernel per step: ~15 % faster for these small models
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused or None)
    steps = math.ceil(len(train) / batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps * epochs))
    shuffle = torch.Generator().manual_seed(int(seed))
    noise = torch.Generator(device=device).manual_seed(int(seed) + 1)
    step = _Steps(model, optimizer, scheduler, data, acc, labelled, label_batch, shuffle, noise, lr, goals)
    curves: list[dict[str, float]] = []
    elapsed = cpu = 0.0
    for epoch in range(1, epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(len(train), generator=shuffle).to(device)
        sums = dict.fromkeys(("loss", "ops", "adj", "kl", "rank", "target", "exact"), 0.0)
        for i in range(steps):
            step(perm[i * batch_size : (i + 1) * batch_size], sums, f"epoch {epoch}, batch {i + 1} of {steps}")
        record: dict[str, float] = {"epoch": epoch}
        record.update({k: v / len(train) for k, v in sums.items() if k != "exact"})
        record["train_exact"] = sums["exact"] / len(train)
        record["heldout_exact"] = heldout_exact(model, hold, heldout) if hold is not None else float("nan")
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        record["seconds"] = elapsed
        record["cpu_seconds"] = cpu
        curves.append(record)
        log.info("epoch %d: %s", epoch, record)
        if progress is not None:
            progress(dict(record, epochs=epochs))
        reached = record["heldout_exact"] if hold is not None else record["train_exact"]
        if stop_at is not None and reached >= stop_at:
            break
    model.eval()
    return curves


def _check_settings(*, epochs: Any, batch_size: Any, label_batch: Any, lr: Any) -> None:
    """ArchLatentError unless the counts are positive integers and `lr` a finite number > 0."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("label_batch", label_batch)):
        if not is_int(value, numpy=True) or value < 1:
            raise ArchLatentError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ArchLatentError(f"lr must be a finite number > 0, got {lr!r}")


def _label_targets(
    train: Sequence[Genotype], labels: Mapping[str, float] | None, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(accuracy per training architecture, NaN where unlabelled; the labelled rows)."""
    acc = torch.full((len(train),), float("nan"))
    if labels:
        for i, g in enumerate(train):
            v = labels.get(g.key())
            if v is not None:
                acc[i] = float(v)
    acc = acc.to(device)
    return acc, torch.isfinite(acc).nonzero().squeeze(1)


def free_targets(model: LatentAutoencoder, train: Sequence[Genotype]) -> Tensor | None:
    """The model's free targets of `train`, standardized over `train` ([N, T] on its device); None without."""
    if not model.targets:
        return None
    values = standardize(target_values(model.space, train, model.targets))
    return torch.tensor(values, dtype=torch.float32, device=model.device)


class _Steps:
    """One optimizer step on a minibatch (plus up to `label_batch` labelled rows for the ranking term,
    when at least two are labelled), adding its losses to the epoch's sums."""

    def __init__(self, model: LatentAutoencoder, optimizer: torch.optim.Optimizer, scheduler: Any, data: ArchBatch,
                 acc: Tensor, labelled: Tensor, label_batch: int, shuffle: torch.Generator, noise: torch.Generator,
                 lr: float, goals: Tensor | None = None) -> None:
        self.model, self.optimizer, self.scheduler, self.data, self.goals = model, optimizer, scheduler, data, goals
        self.acc, self.labelled, self.label_batch, self.shuffle, self.noise, self.lr = acc, labelled, label_batch, shuffle, noise, lr
        self.use_labels = len(labelled) >= 2

    def __call__(self, idx: Tensor, sums: dict[str, float], where: str) -> None:
        rows = len(idx)
        if self.use_labels:
            extra = self.labelled
            if len(self.labelled) > self.label_batch:
                pick = torch.randperm(len(self.labelled), generator=self.shuffle)[: self.label_batch]
                extra = self.labelled[pick.to(self.labelled.device)]
            idx = torch.cat([idx, extra])
        out = self.model.loss(self.data[idx], acc=self.acc[idx] if self.use_labels else None,
                              targets=self.goals[idx] if self.goals is not None else None, generator=self.noise)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise ArchLatentError(
                f"{self.model.name} pretraining on {self.model.space.name}: loss is {loss.item()} at {where} "
                f"(lr {self.lr}); lower the learning rate or check the inputs"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        for k in sums:
            sums[k] += float(out[k].detach()) * rows


def heldout_exact(
    model: LatentAutoencoder, batch: ArchBatch, genotypes: Sequence[Genotype] | None = None, chunk: int = 8192
) -> float:
    """Fraction of the rows of `batch` that decode (from mu) to themselves.

    A row counts when its decoded tensor form is identical, or, given `genotypes` (the rows as
    genotypes), when the decoded genotype has the same key (only the few other rows are converted).
    """
    hits = 0
    with model._evaluating():
        for s in range(0, len(batch), chunk):
            part = batch[s : s + chunk].to(model.device)
            mu, _ = model.encode(part)
            op_logits, adj_logits = model.decode(mu)
            ok = model._exact(op_logits, adj_logits, part).cpu()
            hits += int(ok.sum())
            if genotypes is not None and not bool(ok.all()):
                miss = (~ok).nonzero().squeeze(1).tolist()
                decoded = model.reconstruct(mu[miss])
                hits += sum(d is not None and d.key() == genotypes[s + i].key() for d, i in zip(decoded, miss))
    return hits / max(1, len(batch))


@torch.no_grad()
def set_latent_stats(model: LatentAutoencoder, archs: Sequence[Genotype]) -> None:
    """Store the mean and std of the posterior means of `archs` in the model (search bounds)."""
    if len(archs) < 2:
        return
    mu = model.embed(archs, canonicalize=False)
    model.latent_loc.copy_(mu.mean(0))
    model.latent_scale.copy_(mu.std(0).clamp_min(1e-6))


# -- metrics ---------------------------------------------------------------------------------------
def evaluate(
    model: LatentAutoencoder,
    heldout: Sequence[Genotype],
    *,
    eval_labels: Mapping[str, float] | None = None,
    genotypes: Sequence[Genotype] = (),
    seed: int = 0,
    prior_samples: int = PRIOR_SAMPLES,
) -> dict[str, Any]:
    """recon_exact (held-out, by key), valid_prior and unique_prior (N(0, I) samples) and, with labels,
    kendall_tau of the score head on the labelled architectures among `heldout` + `genotypes`."""
    metrics: dict[str, Any] = {}
    if len(heldout):
        decoded = model.reconstruct(model.embed(heldout, canonicalize=False))
        hits = sum(d is not None and d.key() == g.key() for d, g in zip(decoded, heldout))
        metrics["recon_exact"] = hits / len(heldout)
        metrics["recon_valid"] = sum(d is not None for d in decoded) / len(heldout)
    else:
        metrics["recon_exact"] = None
    z = torch.randn(prior_samples, model.latent_dim, generator=torch.Generator().manual_seed(int(seed) + 2))
    prior = [g for g in model.reconstruct(z) if g is not None]
    metrics["valid_prior"] = len(prior) / prior_samples
    metrics["unique_prior"] = len({g.key() for g in prior}) / len(prior) if prior else 0.0
    if eval_labels:
        pool = {g.key(): g for g in list(genotypes) + list(heldout)}
        keys = [k for k in eval_labels if k in pool]
        if len(keys) >= 2:
            scores = model.predict([pool[k] for k in keys], canonicalize=False).numpy()
            tau = kendalltau(scores, [eval_labels[k] for k in keys]).statistic
            metrics["kendall_tau"] = None if not np.isfinite(tau) else float(tau)
            metrics["tau_archs"] = len(keys)
        else:
            metrics["kendall_tau"] = None
            metrics["tau_archs"] = len(keys)
    return metrics


@scoped_threads
def pretrain(
    space: SearchSpace | str,
    encoder_name: str = "gin",
    *,
    samples: int | None = None,
    labels: Mapping[str | Genotype, float] | None = None,
    label_budget: int | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    holdout: float = 0.1,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    stop_at: float | None = None,
    data: Dataset | None = None,
    threads: int | None = 1,
    **hparams: Any,
) -> PretrainResult:
    """Pretrain encoder `encoder_name` on `space`; returns (model, metrics, curves).

    Training set: `samples` draws of ``space.sample`` (the whole space via ``enumerate`` when
    ``samples >= space.size()``), canonicalized, one per key, a `holdout` fraction set aside.
    `labels` (accuracy per genotype or key) adds the ranking loss on the labelled training
    architectures (at most `label_budget` of them, if given: see `make_dataset`). `hparams` go to the
    encoder (latent_dim, hidden, layers, beta, ...). `progress` gets each epoch's record; `stop_at`
    ends training once the held-out reconstruction reaches it (see `fit`). `data`: a `make_dataset`
    result to train on instead (then samples, labels, label_budget and holdout are not used).
    `threads`: torch's intra-op threads during the call (0: torch's own; `archlatent.threads`).
    Metrics (JSON-able): recon_exact, recon_valid, valid_prior, unique_prior, kendall_tau (with labels),
    train_seconds (training loop), data_seconds, eval_seconds, samples, train_size, heldout_size,
    label_queries, labelled (text forms of the label-trained architectures: a search that uses this
    model pays for them), epochs, encoder, space, seed, hparams.
    """
    space = resolve_space(space)
    from archlatent.encoders.checkpoint import check_settings  # bounds first: nothing drawn or allocated yet

    check_settings(space, encoder_name, {"samples": samples, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                                         **hparams})
    t0 = time.perf_counter()
    if data is None:
        data = make_dataset(
            space, samples=samples, seed=seed, holdout=holdout, labels=labels, label_budget=label_budget
        )
    data_seconds = time.perf_counter() - t0
    model = build_encoder(space, encoder_name, seed=seed, device=device, **hparams)
    t1 = time.perf_counter()
    curves = fit(
        model,
        data.train,
        heldout=data.heldout,
        labels=data.train_labels,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        progress=progress,
        stop_at=stop_at,
    )
    train_seconds = time.perf_counter() - t1
    t2 = time.perf_counter()
    set_latent_stats(model, data.train)
    metrics = evaluate(model, data.heldout, eval_labels=data.eval_labels, genotypes=data.train, seed=seed)
    metrics.update(
        train_seconds=train_seconds,
        data_seconds=data_seconds,
        eval_seconds=time.perf_counter() - t2,
        samples=data.samples,
        train_size=len(data.train),
        heldout_size=len(data.heldout),
        label_queries=len(data.train_labels),
        labelled=[space.format(g) for g in data.train if g.key() in data.train_labels],
        epochs=len(curves),
        batch_size=batch_size,
        lr=lr,
        encoder=encoder_name,
        space=space.name,
        seed=int(seed),
        hparams=dict(model.hparams),
    )
    if data.train_labels or data.eval_labels:
        metrics.setdefault("kendall_tau", None)
    return PretrainResult(model, metrics, curves)
