"""Constrained search (issue 26): free costs, `--constraint` parsing and refusals, no accuracy query of an
infeasible cell by any strategy, the best feasible, resume, and the until-hit target under constraints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_run import run_cli as _run

from archlatent.benchmark import random_first_hit, run_benchmark
from archlatent.config import ConfigError, SearchConfig
from archlatent.constraints import ConstraintError, is_cost, parse_constraint, parse_constraints
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.run import build, run_search
from archlatent.spaces import get_space

PIXEL3 = "hw_latency_ms_pixel3"


@pytest.fixture(scope="module")
def tight(nb201_table) -> float:
    """The 10th percentile of pixel3 latency over the table's cells: about one cell in ten meets it."""
    return float(np.percentile(TabularEvaluator(nb201_table, "cifar10").columns[PIXEL3], 10))


def test_constraints_parse_in_every_form_and_each_mistake_is_one_message():
    assert parse_constraint(" flops_m <= 1e2 ").text == "flops_m<=100"
    assert [c.op for c in parse_constraints(["a<1", "a>=0.5", "b>-.5", "b<=3"])] == ["<", ">=", ">", "<="]
    assert parse_constraint("params_mb<0.5").holds(0.4) and not parse_constraint("params_mb<0.5").holds(0.5)
    for bad, said in [("flops_m=<3", "is not METRIC<=V"), ("flops_m<=", "is not METRIC"), ("<=3", "is not METRIC"),
                      ("flops_m<=nan", "is not METRIC"), ("flops_m<=1e999", "finite"), (7, "must be text"),
                      ("x" * 300 + "<=1", "characters refused")]:
        with pytest.raises(ConstraintError, match=said):
            parse_constraint(bad)
    with pytest.raises(ConstraintError, match="given twice"):
        parse_constraints(["flops_m<=3", "flops_m <= 3.0"])
    with pytest.raises(ConstraintError, match="<= 64"):
        parse_constraints([f"flops_m<={i}" for i in range(65)])
    with pytest.raises(ConfigError, match="`constraints`: constraint 'flops_m<3x'"):
        SearchConfig(space="nb201", constraints=["flops_m<3x"])
    assert SearchConfig.from_dict({"space": "nb201", "constraints": ["flops_m <= 30"]}).constraints == ("flops_m<=30",)
    assert "constraints" not in SearchConfig(space="nb201").to_dict()  # unconstrained runs are written as before


def test_costs_are_free_metrics_of_the_table_answered_without_a_query(nb201_table):
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    assert {"params_mb", "flops_m", "latency_s", PIXEL3} <= set(evaluator.free_metrics)
    assert not {"valid_acc", "test_acc", "train_time_s", "valid_acc_12ep"} & set(evaluator.free_metrics)
    assert is_cost("hw_latency_ms_fpga") and is_cost("params_m") and not is_cost("seed_params_mismatch")
    cells = nb201_table.genotypes[:5]
    costs = evaluator.costs(cells)
    assert evaluator.cost.queries == 0 and evaluator.cost.seconds == 0.0
    assert costs == [{m: full[m] for m in evaluator.free_metrics} for full in evaluator.evaluate(cells)]


@pytest.mark.parametrize("text, said", [
    ("flops_m<=abc", "is not METRIC<=V"),
    ("fpga_ms<=3", "unknown metric 'fpga_ms'"),
    ("valid_acc>=90", "an accuracy: it would take a query"),
    ("train_time_s<=100", "not a cost answered without training"),
    ("flops_m<=0.001", "no cell of the table meets 'flops_m<=100' and 'flops_m<=0.001' (flops_m ranges 7.78"),
])
def test_the_cli_refuses_a_bad_constraint_in_one_line_before_pretraining(text, said, nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--budget", "20",
                         "--constraint", "flops_m<=100", "--constraint", text, "--out", str(out)], capsys)
    assert code == 2 and said in err and err.count("\n") == 1, err
    assert not (out / "model").exists()  # the latent default: refused before any pretraining


def test_a_toml_config_carries_constraints_and_resume_refuses_another(nb201_csv, tmp_path, capsys, tight):
    cfg, out = tmp_path / "c.toml", tmp_path / "run"
    cfg.write_text(f'space = "nb201"\nstrategy = "random"\nbudget = 20\nconstraints = ["{PIXEL3}<={tight!r}"]\n'
                   f'[evaluator]\nname = "tabular"\nbench = "{nb201_csv}"\n')
    code, stdout, _ = _run(["search", "--config", str(cfg), "--out", str(out)], capsys)
    assert code == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["constraints"] == [f"{PIXEL3}<={tight!r}"] == doc["config"]["constraints"]
    assert doc["best"][PIXEL3] <= tight and doc["queries"] == 20
    assert json.loads(stdout)["costed"] == doc["costed"] > 0
    code, _, err = _run(["search", "--resume", str(out), "--constraint", "flops_m<=100"], capsys)
    assert code == 2 and "constraint" in err and err.count("\n") == 1
    config = SearchConfig.from_dict(json.loads((out / "config.json").read_text())).replace(constraints=("flops_m<=100",))
    with pytest.raises(Exception, match="constraints differ"):  # the journal names it from Python too
        run_search(config)


@pytest.mark.parametrize("strategy", ["random", "rea", "local", "lanas", "nao"])
def test_no_infeasible_cell_is_queried_and_the_best_is_feasible(strategy, nb201_table, tiny_model, tight):
    """A real NB201 search under the 10th-percentile pixel3 budget: every cell the evaluator or the screen
    answered meets it, the best is the best of them, and the costs were answered apart (not queries)."""
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    latent = strategy == "nao"
    config = SearchConfig(space="nb201", strategy="latent" if latent else strategy, budget=40, seed=3,
                          constraints=(f"{PIXEL3}<={tight!r}",))
    parts = build(config, evaluator=evaluator, model=tiny_model if latent else None)
    assert type(parts.stages[0]).__name__ == "Constrain"
    asked = []  # every cell the evaluator and the screen were asked to answer
    for answering in filter(None, [evaluator, parts.screen and parts.screen.evaluator]):
        def spy(genotypes, evaluate=answering.evaluate):
            asked.extend(genotypes)
            return evaluate(genotypes)
        answering.evaluate = spy
    result = run_search(config, parts=parts)
    assert result.queries == 40 == evaluator.cost.queries  # the costs were not charged
    assert len(asked) >= 40 and all(evaluator.costs([g])[0][PIXEL3] <= tight for g in asked)
    assert all(m[PIXEL3] <= tight for m in result.metrics.values())
    assert result.best["valid_acc"] == max(m["valid_acc"] for m in result.metrics.values())
    assert result.costed > 0 and result.constraints == [f"{PIXEL3}<={tight!r}"]
    if strategy in ("lanas", "nao"):  # they steer by the infeasible cells they are told, not by rejection
        assert result.infeasible > 0


def test_without_the_constraint_the_same_searches_query_infeasible_cells(nb201_table, tight):
    """The check above can fail: unconstrained, random search queries cells over the budget."""
    config = SearchConfig(space="nb201", strategy="random", budget=40, seed=3, screen="none")
    result = run_search(config, parts=build(config, evaluator=TabularEvaluator(nb201_table, "cifar10")))
    assert any(m[PIXEL3] > tight for m in result.metrics.values()) and result.costed == 0


def test_until_hit_stops_at_the_best_feasible_cell_and_prints_randoms_expectation(nb201_table, nb201_csv, tight):
    config = SearchConfig(space="nb201", budget=2000, screen="none", evaluator_kwargs={"bench": str(nb201_csv)},
                          constraints=(f"{PIXEL3}<={tight!r}",))
    result = run_benchmark(config, ["rea"], 2, until_hit=True)
    space, evaluator = get_space("nb201"), TabularEvaluator(nb201_table, "cifar10")
    valid, latency = evaluator.columns["valid_acc"], evaluator.columns[PIXEL3]
    own = [r for r, g in enumerate(nb201_table.genotypes) if space.canonicalize(g) == g and latency[r] <= tight]
    best = max(own, key=lambda r: valid[r])
    assert result.oracle["best_valid_arch"] == space.format(nb201_table.genotypes[best])
    assert result.oracle["best_valid_acc"] < float(valid.max())  # the unconstrained best breaks the budget
    assert all(r["stopped"] == "stop" and r["first_hit"] <= r["queries"] and r["best"] == result.oracle["best_valid_arch"]
               for r in result.runs)
    feasible = [g for r, g in enumerate(nb201_table.genotypes) if latency[nb201_table.row_ids(space.canonicalize(g))[0]] <= tight]
    expected = result.oracle["random_expected_first_hit"]
    assert expected == random_first_hit(space, nb201_table.genotypes[best].key(), feasible)
    assert 1 < expected < len({space.canonicalize(g).key() for g in feasible})


def test_rejection_sampling_gives_up_with_one_message_when_feasible_cells_are_rare(nb201_csv, tmp_path, capsys):
    """One cell of 15,625 has the most FLOPs: random search's rejection stops after bounded draws, in one line."""
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "random",
                         "--budget", "20", "--constraint", "flops_m>=220", "--out", str(tmp_path / "run")], capsys)
    error = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(error) == 1 and "none of 1000 uniform cells met the constraints" in error[0], err


@pytest.mark.parametrize("optimizer", ["nao", "bo", "cso", "lamcts", "nsga2"])
def test_every_latent_optimizer_is_told_infeasible_cells_at_their_points(optimizer, nb201_table, tiny_model):
    """Told rows of status infeasible reach the optimizer as feasible=False (with the cell's own latent
    point), never as a value; the optimizer asks again without complaint."""
    from archlatent.strategies import STRATEGIES
    from archlatent.strategies.base import Told

    evaluator = TabularEvaluator(nb201_table, "cifar10")
    strategy = STRATEGIES.create("latent", get_space("nb201"), model=tiny_model, optimizer=optimizer, seed=0)
    told = []
    for g in strategy.ask():  # the first valid row infeasible, then every other one
        if g is None:
            told.append(Told(None, None, "invalid"))
        elif sum(t.genotype is not None for t in told) % 2 == 0:
            told.append(Told(g, evaluator.costs([g])[0], "infeasible"))
        else:
            told.append(Told(g, evaluator.evaluate([g])[0], "new"))
    strategy.tell(told)
    z, _, feasible = strategy.optimizer.history()
    bad = [t for t in told if t.status == "infeasible"]
    assert int((~feasible).sum()) == len(bad) > 0 and int(feasible.sum()) == sum(t.status == "new" for t in told)
    assert torch.allclose(z[~feasible], strategy.standard([t.genotype for t in bad]))
    assert strategy.optimizer.ask().shape[1] == tiny_model.latent_dim


def test_zerocost_answers_its_network_sizes_as_free_costs():
    """The zerocost evaluator's params and flops are free costs: the same numbers as its answers, uncharged."""
    from archlatent.evaluators import EVALUATORS

    space = get_space("nb201")
    evaluator = EVALUATORS.create("zerocost", space, dataset="cifar10", proxies="params,flops,synflow")
    assert evaluator.free_metrics == ("params_mb", "flops_m")
    cells = [space.sample(np.random.default_rng(s)) for s in range(2)]
    costs = evaluator.costs(cells)
    assert evaluator.cost.queries == 0
    assert costs == [{m: full[m] for m in ("params_mb", "flops_m")} for full in evaluator.evaluate(cells)]


def test_the_benchmark_cli_prints_randoms_expectation_beside_each_methods_queries(nb201_csv, tmp_path, capsys, tight):
    out = tmp_path / "bench"
    code, stdout, _ = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--methods", "random",
                            "--seeds", "2", "--budget", "1000", "--until-hit", "--screen", "none",
                            "--constraint", f"{PIXEL3}<={tight!r}", "--out", str(out)], capsys)
    assert code == 0
    doc = json.loads(stdout)
    hits, expected = doc["first_hit"]["random"], doc["oracle"]["random_expected_first_hit"]
    assert doc["oracle"]["constraints"] == [f"{PIXEL3}<={tight!r}"] and hits["random_expected"] == expected
    assert hits["ratio_to_random"] == pytest.approx(hits["mean"] / expected) and hits["missed"] == 0
    code, _, err = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--methods", "random",
                         "--seeds", "2", "--budget", "1000", "--until-hit", "--screen", "none", "--resume",
                         "--constraint", "flops_m<=30", "--out", str(out)], capsys)
    assert code == 2 and "constraints" in err  # a resumed benchmark keeps its constraints
