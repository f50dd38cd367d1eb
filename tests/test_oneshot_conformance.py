"""Conformance suites: every registered supernet, standalone network and sampler obeys the same contract.

A new entry in `SUPERNETS` or `NETWORKS` must add its tiny test size to `TINY` (and, for a network,
a published parameter count to `PUBLISHED` when one exists); the tests name what is missing.
"""

from __future__ import annotations

import copy
import csv
import gzip
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from archlatent import SPACES, ArchLatentError, Genotype, InvalidArchitecture, get_space
from archlatent.oneshot.data import synthetic
from archlatent.oneshot.nets import NETWORKS, SUPERNETS, build_supernet, count_params_mb
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.oneshot.train import train_supernet

#: The smallest useful size of each space's supernet and standalone network (fast on one CPU thread).
TINY: dict[str, dict[str, int]] = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}}
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _nb201_published(request: pytest.FixtureRequest) -> list[tuple[Genotype, float]]:
    """Ten cells of the NAS-Bench-201 table with their ``params_mb_cifar10`` column (Dong & Yang 2020)."""
    space = get_space("nb201")
    with gzip.open(request.getfixturevalue("nb201_csv"), "rt", newline="") as f:
        rows = [(row["ops"], float(row["params_mb_cifar10"])) for row in csv.DictReader(f)]
    picks = np.random.default_rng(8).choice(len(rows), size=10, replace=False)
    return [(space.from_code(rows[i][0]), rows[i][1]) for i in picks]


#: Published parameter counts (millions) at the published sizes, per network: (genotype, count, tolerance).
PUBLISHED = {
    "nb201": lambda request: [(g, mb, 1e-6, {}) for g, mb in _nb201_published(request)],
    # DARTS (second order), CIFAR-10: 3.3M parameters (Liu et al., ICLR 2019, Table 1), auxiliary head not counted.
    "darts": lambda request: [(get_space("darts").parse(DARTS_V2), 3.3, 0.05, {"auxiliary": True})],
}


def _samples(space: str, n: int, seed: int = 0) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    return [get_space(space).sample(rng) for _ in range(n)]


def _other_space(space: str) -> str:
    return next(name for name in SPACES.names() if name != space)


def _images(n: int = 2, size: int = 16) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


# -- supernets --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SUPERNETS.names())
def test_supernet_logits_and_config_round_trip(name):
    assert name in TINY, f"add a tiny size for the {name} supernet to TINY"
    net = build_supernet(name, seed=0, num_classes=3, **TINY[name])
    assert net.space_name == name and net.config == {**TINY[name], "num_classes": 3}
    for genotype in _samples(name, 3):
        logits = net(_images(), genotype)
        assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    again = build_supernet(name, seed=0, **net.config)  # what a checkpoint rebuilds from
    assert [n for n, _ in again.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))
    assert not torch.equal(next(iter(build_supernet(name, seed=1, **net.config).parameters())), next(net.parameters()))


def _fixed(genotype: Genotype) -> SimpleNamespace:
    """A sampler that always proposes `genotype` and wants no feedback."""
    return SimpleNamespace(wants_feedback=False, sample=lambda: genotype)


def _used(net, genotype: Genotype) -> set[str]:
    """Names of the parameters a forward pass of `genotype`'s path reaches (on a copy)."""
    probe = copy.deepcopy(net)
    probe(_images(4), genotype).sum().backward()
    return {n for n, p in probe.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", SUPERNETS.names())
def test_supernet_training_step_changes_only_the_path(name):
    net = build_supernet(name, seed=0, num_classes=4, **TINY[name])
    a, b = _samples(name, 2, seed=3)
    used_a, used_b = _used(net, a), _used(net, b)
    everything = {n for n, _ in net.named_parameters()}
    assert used_a and used_a < everything and used_a != used_b  # a path, not the whole supernet
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    data = synthetic(48, classes=4, size=16, seed=0).holdout(0.25, seed=0)
    train_supernet(net, data, steps=1, batch_size=16, lr=0.1, sampler=_fixed(a), seed=0)
    changed = {n for n, p in net.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and changed <= used_a
    assert used_b - used_a and not (used_b - used_a) & changed  # b's own ops were left alone


@pytest.mark.parametrize("name", SUPERNETS.names())
def test_supernet_refuses_other_spaces_and_bad_sizes(name):
    net = build_supernet(name, **TINY[name])
    other = _other_space(name)
    with pytest.raises(InvalidArchitecture, match=f"{name} supernet.*{other!r}"):
        net(_images(1), _samples(other, 1)[0])
    for bad in (0, -3):
        with pytest.raises(ArchLatentError, match="C must be a positive integer"):
            build_supernet(name, **{**TINY[name], "C": bad})
        with pytest.raises(ArchLatentError, match="positive integer|at least"):
            build_supernet(name, **{**TINY[name], SUPERNETS.get(name).depth: bad})
    with pytest.raises(ArchLatentError, match="has no setting"):
        build_supernet(name, width=3)


# -- standalone networks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NETWORKS.names())
def test_network_builds_from_sampled_genotypes(name):
    assert name in TINY, f"add a tiny size for the {name} network to TINY"
    size = {**TINY[name], NETWORKS.get(name).depth: 5 if name == "darts" else 1}
    for genotype in _samples(name, 3, seed=4):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = NETWORKS.create(name, genotype, 7, **size).eval()
        with torch.no_grad():
            logits = net(_images(2, 32))
        assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7) and torch.isfinite(logits).all()
        assert count_params_mb(net) > 0
    with pytest.raises(InvalidArchitecture):
        NETWORKS.create(name, _samples(_other_space(name), 1)[0], 10, **size)


@pytest.mark.parametrize("name", NETWORKS.names())
def test_network_params_match_the_published_counts(name, request):
    assert name in PUBLISHED, f"add a published parameter count for the {name} network to PUBLISHED"
    for genotype, params_mb, tolerance, extra in PUBLISHED[name](request):
        with torch.random.fork_rng(devices=[]):
            net = NETWORKS.create(name, genotype, 10, **extra)  # the published sizes are the defaults
        assert count_params_mb(net) == pytest.approx(params_mb, abs=tolerance), get_space(name).format(genotype)


# -- samplers -------------------------------------------------------------------------------------------
def _sampler_cases() -> list[tuple[str, str]]:
    cases = []
    for name in SAMPLERS.names():
        spaces = SAMPLERS.get(name).spaces
        cases += [(name, space) for space in SPACES.names() if spaces is None or space in spaces]
    return cases


def _cost(genotype: Genotype) -> float:
    """A deterministic stand-in for path FLOPs: how many op nodes are not ``none``."""
    return float(sum(op != "none" for cell in genotype.cells for op in cell.ops))


def _run(name: str, space: str, seed: int, steps: int = 40) -> list[str]:
    """Keys a sampler proposes over `steps`, told a deterministic accuracy after each."""
    sampler = SAMPLERS.create(name, get_space(space), seed=seed, cost=_cost)
    assert sampler.wants_feedback
    keys = []
    for _ in range(steps):
        genotype = sampler.sample()
        assert get_space(space).is_valid(genotype) and genotype.space == space
        keys.append(genotype.key())
        sampler.feedback(genotype, float(int(genotype.key()[:4], 16) % 100))
    assert sampler.front is not None and sampler.front.front()
    assert len(sampler.front.points()) == len(set(keys))
    return keys


@pytest.mark.parametrize(("name", "space"), _sampler_cases())
def test_sampler_is_valid_seeded_and_takes_feedback(name, space):
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = _run(name, space, seed=5)
    assert first == _run(name, space, seed=5)
    assert first != _run(name, space, seed=6)
    assert len(set(first)) > 1
    assert torch.equal(torch_state, torch.get_rng_state()) and (np.random.get_state()[1] == numpy_state).all()


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_refuses_unknown_settings_and_spaces(name):
    cls = SAMPLERS.get(name)
    space = get_space(cls.spaces[0] if cls.spaces else "nb201")
    with pytest.raises(ArchLatentError, match="has no setting"):
        SAMPLERS.create(name, space, seed=0, cost=_cost, no_such_setting=1)
    for other in SPACES.names():
        if cls.spaces is not None and other not in cls.spaces:
            with pytest.raises(ArchLatentError, match=f"not {other!r}"):
                SAMPLERS.create(name, get_space(other), seed=0, cost=_cost)
    if cls.requires_cost:
        with pytest.raises(ArchLatentError, match="needs a cost"):
            SAMPLERS.create(name, space, seed=0)
    else:
        assert not SAMPLERS.create(name, space, seed=0).wants_feedback
