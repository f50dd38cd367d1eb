"""Pretraining data: sampled architectures (class representatives, one per key), a held-out split, labels.

`make_dataset` is what `pretrain` trains on; the held-out part is never trained on, so its exact
reconstruction measures how well a model generalizes to architectures it has not seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces import SearchSpace

log = logging.getLogger(__name__)

#: Training-set size when `samples` is None and the space cannot be enumerated (or is larger than this).
DEFAULT_SAMPLES = 20_000


@dataclass
class Dataset:
    """Distinct canonical architectures (one per key), split into training and held-out parts."""

    train: list[Genotype]
    heldout: list[Genotype]
    samples: int
    #: Accuracy per key of the training architectures whose labels the ranking loss uses.
    train_labels: dict[str, float] = field(default_factory=dict)
    #: Accuracy per key of the architectures the Kendall tau is measured on (never label-trained).
    eval_labels: dict[str, float] = field(default_factory=dict)


def resolve_samples(space: SearchSpace, samples: int | None) -> int:
    """`samples`, or for None the whole space if it can be enumerated and has at most 5 times
    `DEFAULT_SAMPLES` members, else `DEFAULT_SAMPLES`."""
    if samples is not None:
        return samples
    size = space.size()
    return size if size is not None and size <= 5 * DEFAULT_SAMPLES else DEFAULT_SAMPLES


def distinct_architectures(space: SearchSpace, samples: int | None, rng: np.random.Generator) -> list[Genotype]:
    """Class representatives (`SearchSpace.representative`) of `samples` draws (the whole space when it
    is that small), one per key.

    Order: first occurrence. `samples` None: see `resolve_samples`.
    """
    size = space.size()
    samples = resolve_samples(space, samples)
    if not is_int(samples, numpy=True) or samples < 2:
        raise ArchLatentError(f"samples must be an integer >= 2, got {samples!r}")
    draws = space.enumerate() if size is not None and samples >= size else (space.sample(rng) for _ in range(samples))
    seen: set[Genotype] = set()
    keys: set[str] = set()
    out: list[Genotype] = []
    for g in draws:
        c = space.representative(g)
        if c in seen:  # cheap equality first; the WL key only for new canonical forms
            continue
        seen.add(c)
        k = c.key()
        if k not in keys:
            keys.add(k)
            out.append(c)
    return out


def label_keys(labels: Mapping[str | Genotype, float]) -> dict[str, float]:
    """Accuracy per key (genotypes are keyed; keys sharing one architecture are averaged)."""
    sums: dict[str, list[float]] = {}
    for k, v in labels.items():
        key = k.key() if isinstance(k, Genotype) else k
        if not isinstance(key, str):
            raise ArchLatentError(f"label keys must be genotypes or genotype keys, got {type(k).__name__}")
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise ArchLatentError(f"label of {key} is not a number: {v!r}") from None
        if not math.isfinite(value):
            raise ArchLatentError(f"label of {key} is not finite: {v!r}")
        sums.setdefault(key, []).append(value)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def make_dataset(
    space: SearchSpace,
    *,
    samples: int | None,
    seed: int,
    holdout: float = 0.1,
    labels: Mapping[str | Genotype, float] | None = None,
    label_budget: int | None = None,
) -> Dataset:
    """Sample, canonicalize, dedupe by key and split off a held-out part (never trained on).

    Labels: without `label_budget`, every labelled training architecture is used for ranking and the
    tau is measured on the labelled held-out ones; with it, that many labelled training architectures
    (drawn with the seed) are used and the tau is measured on every other labelled one.
    """
    if not (0.0 <= holdout < 1.0):
        raise ArchLatentError(f"holdout must be in [0, 1), got {holdout!r}")
    rng = np.random.default_rng(seed)
    archs = distinct_architectures(space, samples, rng)
    order = rng.permutation(len(archs))
    n_hold = min(len(archs) - 1, round(holdout * len(archs))) if holdout > 0 else 0
    heldout = [archs[i] for i in order[:n_hold]]
    train = [archs[i] for i in order[n_hold:]]
    if labels and label_budget is not None:  # labelled genotypes the draws missed join the training set
        have = {g.key() for g in archs}
        extra = {g.key(): space.representative(g) for g in labels if isinstance(g, Genotype) and g.key() not in have}
        if extra:
            log.info("%d labelled architectures were not among the samples; added to the training set", len(extra))
            train += list(extra.values())
        if label_budget >= len(label_keys(labels)):  # every label is to be used: none may be held out
            keys = set(label_keys(labels))
            train += [g for g in heldout if g.key() in keys]
            heldout = [g for g in heldout if g.key() not in keys]
    data = Dataset(train, heldout, int(resolve_samples(space, samples)))
    if labels:
        acc = label_keys(labels)
        train_keys = [g.key() for g in train if g.key() in acc]
        hold_keys = [g.key() for g in heldout if g.key() in acc]
        if label_budget is None:
            used, rest = train_keys, hold_keys
        else:
            if not is_int(label_budget, numpy=True) or label_budget < 0:
                raise ArchLatentError(f"label_budget must be an integer >= 0, got {label_budget!r}")
            if label_budget > len(train_keys):
                raise ArchLatentError(
                    f"label_budget {label_budget} exceeds the {len(train_keys)} labelled training architectures"
                )
            pick = set(rng.choice(len(train_keys), size=label_budget, replace=False).tolist())
            used = [k for i, k in enumerate(train_keys) if i in pick]
            rest = [k for i, k in enumerate(train_keys) if i not in pick] + hold_keys
        data.train_labels = {k: acc[k] for k in used}
        data.eval_labels = {k: acc[k] for k in rest}
    elif label_budget:
        raise ArchLatentError("label_budget given without labels")
    return data


