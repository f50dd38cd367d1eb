"""The library's front door: SearchConfig (TOML round trip, validation), build, run_search, plugins by name."""

from __future__ import annotations

import numpy as np
import pytest

from archlatent import ArchLatentError, SearchConfig, build, run_search
from archlatent.config import ConfigError
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.genotype import Cell, Genotype
from archlatent.search import search
from archlatent.spaces import SPACES
from archlatent.spaces.base import SearchSpace


def test_three_line_api(nb201_csv):
    result = run_search(SearchConfig(space="nb201", strategy="rea", budget=30, evaluator_kwargs={"bench": str(nb201_csv)}))
    assert result.queries == 30 and result.best["test_acc"] > 90 and result.provenance["sha256"]


def test_parts_assembled_by_hand_match_run_search(nb201_csv):
    config = SearchConfig(space="nb201", strategy="local", budget=25, seed=3, evaluator_kwargs={"bench": str(nb201_csv)})
    parts = build(config)
    assert parts.screen is not None  # NB201's default: screened on the 12-epoch column
    by_hand = search(parts.space, parts.strategy, parts.evaluator, config.budget, screen=parts.screen)
    assert [h["key"] for h in by_hand.history] == [h["key"] for h in run_search(config).history]


def test_toml_round_trip_and_plugin_settings(tmp_path, nb201_csv, tiny_model):
    path = tmp_path / "run.toml"
    path.write_text(f"""
space = "nb201"
budget = 40
objectives = ["valid_acc"]
[strategy]
name = "latent"
remap = false
[optimizer]
name = "nao"
top_k = 7
[evaluator]
name = "tabular"
bench = "{nb201_csv}"
""")
    config = SearchConfig.from_toml(path, budget=50, optimizer={"eta": 2.0})  # overrides win, tables merge
    assert config.budget == 50 and config.optimizer_kwargs == {"top_k": 7, "eta": 2.0}
    assert config.strategy_kwargs == {"remap": False}
    assert SearchConfig.from_dict(config.to_dict()) == config
    parts = build(config, model=tiny_model)
    assert parts.strategy.optimizer.top_k == 7 and parts.strategy.optimizer.eta == 2.0 and not parts.strategy.remap


@pytest.mark.parametrize(("changes", "words"), [
    ({"budget": "ten"}, "`budget` must be an integer"),
    ({"seed": -1}, "`seed` must be an integer >= 0"),
    ({"budget": 0}, "`budget` must be an integer >= 1"),
    ({"labels": 10, "budget": 10}, "must be below `budget`"),
    ({"objectives": 5}, "must be a list of metric names"),
    ({"strategy": 3}, "must be a name or a table"),
    ({"colour": "blue"}, "unknown key(s) ['colour']"),
])
def test_bad_config_values_are_one_clear_error(changes, words):
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_dict({"space": "nb201", **changes})
    assert words in str(err.value)


def test_objectives_are_checked_against_the_evaluator(nb201_csv):
    base = SearchConfig(space="nb201", strategy="random", budget=20, evaluator_kwargs={"bench": str(nb201_csv)})
    with pytest.raises(ArchLatentError, match="unknown objective 'valid_accc'.*valid_acc"):
        build(base.replace(objectives=("valid_accc",)))
    with pytest.raises(ArchLatentError, match="test-set metric"):
        build(base.replace(objectives=("test_acc",)))
    assert build(base.replace(objectives=("test_acc",), allow_test_objective=True)).strategy.objectives == ("test_acc",)


def test_unknown_plugin_setting_names_it(nb201_csv, tiny_model):
    config = SearchConfig(space="nb201", optimizer_kwargs={"topk": 3}, evaluator_kwargs={"bench": str(nb201_csv)})
    with pytest.raises(ArchLatentError, match="optimizer 'nao' has no setting.*topk.*top_k"):
        build(config, model=tiny_model)
    with pytest.raises(ArchLatentError, match="evaluator 'tabular' has no setting.*colour"):
        build(SearchConfig(space="nb201", strategy="rea", evaluator_kwargs={"colour": 1}))


# -- a new space is one file of rules: here, one class in the test -------------------------------------------------
class ChainSpace(SearchSpace):
    """Toy space: a chain input -> 3 op nodes -> output, each op one of three."""

    node_labels = ("<pad>", "input", "output", "a", "b", "c")
    max_cell_nodes = 5
    max_text_length = 10
    feature_size = 9
    WIRING = ((0, 1), (1, 2), (2, 3), (3, 4))

    def validate_cells(self, cells):
        ops = cells[0].ops
        if len(ops) != 5 or ops[0] != "input" or ops[-1] != "output" or any(o not in "abc" for o in ops[1:4]):
            raise ArchLatentError(f"not a chain: {ops}")

    def _make(self, ops):
        return self.make([Cell(("input", *ops, "output"), self.WIRING)])

    def sample(self, rng):
        return self._make([str(c) for c in rng.choice(list("abc"), 3)])

    def parse_text(self, text):
        return self._make(list(text))

    def format(self, genotype):
        return "".join(genotype.cells[0].ops[1:4])

    def neighbours(self, genotype):
        ops = genotype.cells[0].ops[1:4]
        return [self._make(ops[:i] + (o,) + ops[i + 1:]) for i in range(3) for o in "abc" if o != ops[i]]

    def write_features(self, genotype, row):
        for i, o in enumerate(genotype.cells[0].ops[1:4]):
            row[3 * i + "abc".index(o)] = 1.0

    def size(self):
        return 27


class ChainScores(Evaluator):
    """Toy evaluator: accuracy counts the 'c' ops, cost the 'a' ops."""

    space_name = "toy-chain"

    @classmethod
    def from_config(cls, space, *, dataset, seed=0):
        return cls()

    @property
    def metrics(self):
        return ("valid_acc", "test_acc", "cost")

    def evaluate(self, genotypes: list[Genotype]):
        out = []
        for g in genotypes:
            ops = g.cells[0].ops
            self.cost.charge(1.0)
            out.append({"valid_acc": 10.0 * ops.count("c"), "test_acc": 9.0 * ops.count("c"), "cost": ops.count("a")})
        return out


@pytest.fixture(scope="module")
def toy():
    if "toy-chain" not in SPACES:
        SPACES.register("toy-chain")(ChainSpace)
        EVALUATORS.register("toy-scores")(ChainScores)
    return "toy-chain"


@pytest.mark.parametrize("strategy", ["random", "rea", "local"])
def test_a_space_registered_in_a_test_searches_through_the_front_door(toy, strategy):
    result = run_search(SearchConfig(space=toy, strategy=strategy, evaluator="toy-scores", budget=20, seed=1))
    assert result.queries == 20 and len({h["key"] for h in result.history}) == 20
    assert result.best["valid_acc"] == max(h["valid_acc"] for h in result.history)
    if strategy != "random":
        assert result.best["arch"] == "ccc"  # 20 of 27 cells: a guided search finds the optimum


def test_pool_mode_keeps_an_nb101_search_inside_the_table(nb101_csv):
    config = SearchConfig(space="nb101", strategy="rea", budget=60, seed=0, evaluator_kwargs={"bench": str(nb101_csv)})
    result = run_search(config)
    assert result.queries == 60 and any("pool mode" in note for note in result.notes)
    parts = build(config)
    keys = {g.key() for g in parts.evaluator.table.genotypes}
    assert all(h["key"] in keys for h in result.history)
    with pytest.raises(ArchLatentError, match="is not in"):
        run_search(config.replace(evaluator_kwargs={"bench": str(nb101_csv), "pool": "off"}, budget=300))


def test_labels_file_joins_training_and_is_charged(tmp_path, nb201_table):
    from archlatent.spaces import get_space

    space = get_space("nb201")
    rng = np.random.default_rng(0)
    picks = [nb201_table.genotypes[i] for i in rng.choice(len(nb201_table.genotypes), 12, replace=False)]
    acc = nb201_table.metrics("cifar10")["valid_acc"]
    rows = [f'"{space.format(g)}",{acc[nb201_table.row_ids(g)[0]]}' for g in picks]
    path = tmp_path / "labels.csv"
    path.write_text("arch,valid_acc\n" + "\n".join(rows) + "\n")
    config = SearchConfig(space="nb201", optimizer="cso", budget=40, labels_file=str(path),
                          evaluator_kwargs={"bench": str(nb201_table.path)}, pretrain={"epochs": 1})
    result = run_search(config)
    distinct = len({space.canonicalize(g).key() for g in picks})
    assert result.label_queries == distinct and result.queries == 40
    assert sum(h["label"] for h in result.history) == distinct
