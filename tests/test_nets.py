"""archlatent.oneshot.nets: NB201 and DARTS networks built from genotypes."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from archlatent.oneshot.nets import DartsNetwork, NB201Network, count_params_mb
from archlatent.spaces.nb201 import OPS as NB201_OPS

DARTS_V2_NORMAL = [
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
]  # fmt: skip
DARTS_V2_REDUCE = [
    ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
    ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
]  # fmt: skip
#: Exercises every DARTS op, including stride-2 pooling and skip (FactorizedReduce) in reduce cells.
ALL_OPS_NORMAL = [
    ("sep_conv_5x5", 0), ("dil_conv_5x5", 1), ("avg_pool_3x3", 0), ("none", 2),
    ("max_pool_3x3", 3), ("skip_connect", 1), ("dil_conv_3x3", 4), ("sep_conv_3x3", 2),
]  # fmt: skip
ALL_OPS_REDUCE = [
    ("avg_pool_3x3", 0), ("skip_connect", 1), ("none", 1), ("sep_conv_5x5", 2),
    ("dil_conv_5x5", 0), ("max_pool_3x3", 3), ("skip_connect", 0), ("dil_conv_3x3", 4),
]  # fmt: skip
NB201_CELL = ("nor_conv_3x3", "nor_conv_1x1", "none", "avg_pool_3x3", "nor_conv_3x3", "skip_connect")


def _images(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_nb201_params_match_benchmark_table(nb201_csv: Path) -> None:
    with gzip.open(nb201_csv, "rt", newline="") as f:
        rows = [(row["ops"], float(row["params_mb_cifar10"])) for row in csv.DictReader(f)]
    rng = np.random.default_rng(201)
    for i in rng.choice(len(rows), size=30, replace=False):
        digits, params_mb = rows[i]
        net = NB201Network([NB201_OPS[int(d)] for d in digits])
        assert count_params_mb(net) == pytest.approx(params_mb, abs=1e-6), digits


def test_nb201_forward_shape() -> None:
    net = NB201Network(NB201_CELL).eval()
    with torch.no_grad():
        logits = net(_images(2))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_nb201_rejects_bad_cells() -> None:
    with pytest.raises(ValueError, match="6 edge ops"):
        NB201Network(NB201_CELL[:5])
    with pytest.raises(ValueError, match="unknown NB201 op"):
        NB201Network(("sep_conv_3x3",) + NB201_CELL[1:])


def test_nb201_sgd_step_lowers_loss() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = NB201Network(NB201_CELL, C=8, N=1).train()
    x = _images(8)
    y = torch.arange(8) % 10
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        assert nn.functional.cross_entropy(net(x), y) < loss.detach()
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_darts_v2_published_param_count() -> None:
    net = DartsNetwork(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=36, layers=20, auxiliary=True)
    assert count_params_mb(net) == pytest.approx(3.3, abs=0.05)
    assert count_params_mb(net, skip_auxiliary=False) > count_params_mb(net)


def test_darts_forward_train_and_eval() -> None:
    net = DartsNetwork(ALL_OPS_NORMAL, ALL_OPS_REDUCE, C=8, layers=5, auxiliary=True).train()
    logits, aux = net(_images(2))
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    with torch.no_grad():
        logits = net(_images(2))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_darts_drop_path_only_in_training() -> None:
    net = DartsNetwork(DARTS_V2_NORMAL, DARTS_V2_REDUCE, C=4, layers=3, drop_path_prob=0.5)
    x = _images(4)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        net.train()
        torch.manual_seed(1)
        first = net(x)
        torch.manual_seed(2)
        assert not torch.allclose(first, net(x))  # different masks, different outputs
        net.eval()
        kept = net(x)
        net.drop_path_prob = 0.0
        assert torch.equal(kept, net(x))


def test_darts_rejects_bad_genotypes() -> None:
    with pytest.raises(ValueError, match="8 \\(op, input\\) pairs"):
        DartsNetwork(DARTS_V2_NORMAL[:6], DARTS_V2_REDUCE)
    with pytest.raises(ValueError, match="reads state 2"):
        DartsNetwork([("sep_conv_3x3", 2), *DARTS_V2_NORMAL[1:]], DARTS_V2_REDUCE)
    with pytest.raises(ValueError, match="unknown DARTS op"):
        DartsNetwork(DARTS_V2_NORMAL, [("nor_conv_3x3", 0), *DARTS_V2_REDUCE[1:]])


@pytest.mark.parametrize(
    "make",
    [
        lambda: NB201Network(NB201_CELL, C=8, N=1),
        lambda: DartsNetwork(ALL_OPS_NORMAL, ALL_OPS_REDUCE, C=8, layers=5, auxiliary=True),
    ],
    ids=["nb201", "darts"],
)
def test_channels_last_matches_contiguous(make) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = make().eval()
    x = _images(2)
    with torch.no_grad():
        expected = net(x)
        net = net.to(memory_format=torch.channels_last)
        got = net(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
