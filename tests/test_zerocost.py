"""The `zerocost` evaluator: every proxy on NB201 and DARTS networks, its seeding, its edge cases, and
its agreement with the NB201 table (params) and with a property of synflow's definition (ranking)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.evaluators import EVALUATORS
from archlatent.evaluators.zerocost import ZeroCostEvaluator
from archlatent.oneshot.proxies import PROXIES, jacov_score
from archlatent.spaces import get_space

NB201 = get_space("nb201")
DARTS = get_space("darts")
#: Small networks and batches, so that every proxy of a few cells runs in seconds on a CPU.
SMALL = {"nb201": {"C": 8, "N": 1}, "darts": {"C": 4, "layers": 5}}
#: NB201 cells with no input -> output path through non-``none`` edges.
NO_PATH = ("000000", "300000", "333000", "000011")
#: NB201 cells with one.
ALIVE = ("111111", "123412", "340213", "222222", "000300")


def small(space_name: str, seed: int = 0, **kwargs: object) -> ZeroCostEvaluator:
    return ZeroCostEvaluator(get_space(space_name), batch_size=8, network=SMALL[space_name], seed=seed, **kwargs)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_every_proxy_is_finite_and_repeats_for_a_seed(space_name: str) -> None:
    space = get_space(space_name)
    cells = [space.sample(np.random.default_rng(s)) for s in range(3)]
    first, again = small(space_name, seed=3), small(space_name, seed=3)
    answers = first.evaluate(cells)
    assert answers == again.evaluate(list(reversed(cells)))[::-1]  # same seed: same answers, in any order
    for answer in answers:
        assert set(answer) == set(first.metrics) == {p.metric for p in PROXIES.values()}
        assert all(math.isfinite(v) for v in answer.values()), answer
    other = small(space_name, seed=4, proxies="synflow,params").evaluate(cells)
    assert [a["zc_synflow"] for a in other] != [a["zc_synflow"] for a in answers]  # the seed sets the weights
    assert [a["params_mb"] for a in other] == [a["params_mb"] for a in answers]
    assert first.cost.queries == 3 and first.cost.seconds > 0


def test_registered_and_settings_checked_before_work() -> None:
    evaluator = EVALUATORS.create("zerocost", NB201, dataset="cifar10", seed=0, proxies="synflow,params")
    assert evaluator.metrics == ("zc_synflow", "params_mb")
    assert evaluator.batch is None and "images" not in evaluator.provenance  # data-free: no images loaded
    assert evaluator.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with_data = small("nb201", proxies=["snip"])
    assert with_data.provenance["images"] == "synthetic" and with_data.provenance["batch_size"] == 8
    with pytest.raises(ArchLatentError, match="unknown proxy 'synflo'"):
        EVALUATORS.create("zerocost", NB201, dataset="cifar10", proxies="synflo")
    with pytest.raises(ArchLatentError, match="no setting"):
        ZeroCostEvaluator(NB201, proxies="params", network={"layers": 3})
    with pytest.raises(ArchLatentError, match="standalone network of space 'nb101'"):
        ZeroCostEvaluator(get_space("nb101"), proxies="params")
    with pytest.raises(ArchLatentError, match="batch_size"):
        ZeroCostEvaluator(NB201, batch_size=0)
    with pytest.raises(InvalidArchitecture):
        evaluator.evaluate([NB201.from_code("333333"), DARTS.sample(np.random.default_rng(0))])
    assert evaluator.cost.queries == 0  # the bad batch was refused before any work


def test_cells_without_a_path_score_the_minimum() -> None:
    assert {NB201.ops_code(NB201.canonicalize(NB201.from_code(code))) for code in NO_PATH} == {"000000"}
    assert all(NB201.ops_code(NB201.canonicalize(NB201.from_code(code))) != "000000" for code in ALIVE)
    evaluator = small("nb201")
    dead = evaluator.evaluate([NB201.from_code(code) for code in NO_PATH])
    alive = evaluator.evaluate([NB201.from_code(code) for code in ALIVE])
    rank_one = jacov_score(np.r_[8, np.zeros(7)])
    for answer in dead:
        assert answer["zc_synflow"] == answer["zc_snip"] == answer["zc_grad_norm"] == 0.0
        assert answer["zc_jacov"] == rank_one
    assert dead[0]["zc_nwot"] == 0.0  # no ReLU sees anything but zeros: every image has the same code
    for answer in alive:
        assert answer["zc_synflow"] > 0 and answer["zc_snip"] > 0 and answer["zc_grad_norm"] > 0
        assert answer["zc_jacov"] > rank_one and answer["zc_nwot"] > 0


def test_params_and_flops_equal_the_nb201_table(nb201_table) -> None:
    evaluator = ZeroCostEvaluator(NB201, proxies="params,flops")  # published sizes: C=16, N=5, 10 classes
    columns = nb201_table.metrics("cifar10")
    rows = np.random.default_rng(0).choice(len(nb201_table.genotypes), size=8, replace=False)
    answers = evaluator.evaluate([nb201_table.genotypes[r] for r in rows])
    for row, answer in zip(rows, answers):
        assert answer["params_mb"] == pytest.approx(columns["params_mb"][row], abs=1e-6)
        assert answer["flops_m"] == pytest.approx(columns["flops_m"][row], abs=1e-5)


def test_synflow_grows_with_each_3x3_conv_on_otherwise_equal_cells() -> None:
    """With every weight positive, a 3x3 conv (9C positive weights per output) carries more flow than a
    1x1 conv (C), which carries more than a skip: so synflow must rise as convs replace skips."""
    evaluator = ZeroCostEvaluator(NB201, proxies="synflow")
    chain = ["111111"]
    for edge in (3, 0, 5, 1, 4, 2):  # one skip after another becomes a 3x3 conv
        chain.append(chain[-1][:edge] + "3" + chain[-1][edge + 1:])
    flows = [a["zc_synflow"] for a in evaluator.evaluate([NB201.from_code(c) for c in chain])]
    assert all(a < b for a, b in itertools.pairwise(flows)), dict(zip(chain, flows))
    skip, one, three = (evaluator.evaluate([NB201.from_code(c)])[0]["zc_synflow"] for c in ("111111", "111211", "111311"))
    assert skip < one < three


def test_synflow_ranks_real_cells_like_their_accuracy(nb201_table) -> None:
    """On NB201 synflow ranks cells with Spearman ~0.8 against CIFAR-10 test accuracy (benchmarks/zerocost.py,
    all 15,625); 40 random cells must show a clearly positive rank correlation."""
    evaluator = ZeroCostEvaluator(NB201, proxies="synflow")
    rows = np.random.default_rng(1).choice(len(nb201_table.genotypes), size=40, replace=False)
    flows = [a["zc_synflow"] for a in evaluator.evaluate([nb201_table.genotypes[r] for r in rows])]
    accuracy = nb201_table.metrics("cifar10")["test_acc"][rows]
    assert stats.spearmanr(flows, accuracy).statistic > 0.5
