"""Portfolios of autoencoders (issue 13): checkpoints, refusals, shared evaluations, CLI and resume."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from cli_run import run_cli as _run

from archlatent.encoders import (
    Portfolio,
    load,
    load_portfolio,
    member_seeds,
    preset,
    pretrain,
    read_metadata,
    save,
    save_portfolio,
)
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.optimizers import OPTIMIZERS
from archlatent.search import search
from archlatent.spaces import get_space
from archlatent.strategies import STRATEGIES


@pytest.fixture(scope="module")
def pair(tiny_model) -> Portfolio:
    """Two real NB201 latent spaces: the shared tiny model and a 1-epoch one of another seed."""
    return Portfolio([tiny_model, pretrain("nb201", "gin", seed=1, **preset("nb201", "gin", epochs=1)).model])


def test_member_seeds_start_at_the_seed_and_never_collide():
    assert member_seeds(7, 1) == [7] and member_seeds(7, 3)[0] == 7
    seeds = [s for seed in range(50) for s in member_seeds(seed, 4)]
    assert len(set(seeds)) == len(seeds)
    with pytest.raises(ArchLatentError, match="positive int"):
        member_seeds(0, 0)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_member_settings_split_one_round_among_the_members(name):
    cls = OPTIMIZERS.get(name)
    assert cls.member_settings({}, 1) == {}
    n_obj = 2 if name == "nsga2" else 1
    single = cls(4, n_obj=n_obj, seed=0).ask().shape[0]
    member = cls(4, n_obj=n_obj, seed=0, **cls.member_settings({}, 3)).ask().shape[0]
    assert single <= 3 * member < single + 6  # about one optimizer's round, never less
    if cls.batch_setting is not None:
        assert cls.member_settings({cls.batch_setting: 6}, 3) == {cls.batch_setting: 6}  # a given setting stands


def test_a_portfolio_checkpoint_round_trips_and_a_single_one_is_a_portfolio_of_one(pair, tmp_path):
    save_portfolio(pair, tmp_path / "p")
    loaded = load_portfolio(tmp_path / "p", space="nb201")
    assert len(loaded) == 2 and loaded.name == "gin"
    g = [get_space("nb201").sample(np.random.default_rng(0))]
    for a, b in zip(pair, loaded):
        assert (a.embed(g) == b.embed(g)).all()
    shas = [read_metadata(tmp_path / "p" / f"member-{j}")["weights_sha256"] for j in range(2)]
    assert [m.weights_sha256 for m in loaded] == shas and loaded.weights_sha256 not in shas
    save(pair[0], tmp_path / "one")
    single = load_portfolio(tmp_path / "one")
    assert len(single) == 1 and single.weights_sha256 == read_metadata(tmp_path / "one")["weights_sha256"]
    with pytest.raises(CheckpointError, match="not 'nb101'"):
        load_portfolio(tmp_path / "p", space="nb101")


def test_a_damaged_portfolio_is_refused_with_one_clear_error(pair, tmp_path):
    def fresh():
        shutil.rmtree(tmp_path / "p", ignore_errors=True)
        return save_portfolio(pair, tmp_path / "p")

    index = fresh() / "portfolio.json"
    doc = json.loads(index.read_text())
    doc["members"] = doc["members"][:1]
    index.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="edited or damaged"):
        load_portfolio(tmp_path / "p")
    index = fresh() / "portfolio.json"
    index.write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_portfolio(tmp_path / "p")
    fresh()
    shutil.rmtree(tmp_path / "p" / "member-1")
    save(pair[0], tmp_path / "p" / "member-1")  # another model in member-1's place
    with pytest.raises(CheckpointError, match="member member-1 is not the one portfolio.json lists"):
        load_portfolio(tmp_path / "p")
    shutil.rmtree(fresh() / "member-0")
    with pytest.raises(CheckpointError, match="model.json is missing"):
        load_portfolio(tmp_path / "p")
    with pytest.raises(ArchLatentError, match="share one space and encoder"):
        Portfolio([pair[0], load(tmp_path / "p" / "member-1")] + [_nb101_model()])


def _nb101_model():
    from archlatent.encoders import build_encoder

    return build_encoder(get_space("nb101"), "gin", seed=0)


def test_every_member_learns_every_evaluation(pair, nb201_table):
    space = get_space("nb201")
    strategy = STRATEGIES.create("portfolio", space, model=pair, optimizer="nao", seed=3)
    assert [m.optimizer.top_k for m in strategy.members] == [10, 10]
    result = search(space, strategy, TabularEvaluator(nb201_table, "cifar10"), budget=45)
    assert result.queries == 45
    for member in strategy.members:
        _, f, feasible = member.optimizer.history()
        assert int(feasible.sum()) == 45 and math.isfinite(float(f[feasible].max()))  # own + the other's, once each


def test_a_portfolio_of_one_searches_exactly_as_its_model(tiny_model, nb201_table):
    space = get_space("nb201")
    runs = [search(space, STRATEGIES.create(name, space, model=m, optimizer=o, seed=5),
                   TabularEvaluator(nb201_table, "cifar10"), budget=30)
            for o in ("nao", "cso") for name, m in (("latent", tiny_model), ("portfolio", Portfolio([tiny_model])))]
    for bare, wrapped in (runs[:2], runs[2:]):
        assert [h["key"] for h in bare.history] == [h["key"] for h in wrapped.history]


def test_cli_pretrains_searches_maps_and_resumes_a_portfolio(nb201_csv, tmp_path, capsys):
    folder = tmp_path / "p"
    code, out, err = _run(["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--members", "2",
                           "--seed", "4", "--out", str(folder)], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["seeds"] == member_seeds(4, 2) and len(doc["members"]) == 2
    assert (folder / "portfolio.json").is_file() and (folder / "member-1" / "curves.png").is_file()
    run = tmp_path / "run"
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--checkpoint", str(folder),
                         "--budget", "20", "--out", str(run)], capsys)
    assert code == 0, err
    code, out, err = _run(["latent-map", str(folder), "--member", "1", "--bench", str(nb201_csv),
                           "--out", str(tmp_path / "m.png")], capsys)
    assert code == 0, err
    assert json.loads(out)["out"] == str(tmp_path / "m.png") and (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = _run(["latent-map", str(folder), "--member", "2"], capsys)
    assert code == 2 and "holds 2 autoencoder(s)" in err and err.count("\n") == 1
    index = folder / "portfolio.json"
    index.write_text(index.read_text().replace("member-1", "member-0"))
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--checkpoint", str(folder),
                         "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and "edited or damaged" in err and err.count("\n") == 1
    code, _, err = _run(["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--members", "1",
                         "--force", "--out", str(folder)], capsys)
    assert code == 0, err
    assert not index.exists() and len(load_portfolio(folder)) == 1


def test_a_resumed_portfolio_search_repeats_the_uninterrupted_one(nb201_csv, tmp_path, capsys):
    def argv(out, budget):
        return ["search", "--space", "nb201", "--bench", str(nb201_csv), "--encoder", "gin", "--epochs", "1",
                "--members", "2", "--seed", "2", "--budget", str(budget), "--out", str(out)]

    code, _, err = _run(argv(tmp_path / "a", 25), capsys)
    assert code == 0 and "member 1/2" in err and "member 2/2" in err  # the pretraining log tells members apart
    assert (tmp_path / "a" / "model" / "portfolio.json").is_file()
    code, _, err = _run(["search", "--resume", str(tmp_path / "a"), "--budget", "45"], capsys)
    assert code == 0, err
    assert _run(argv(tmp_path / "b", 45), capsys)[0] == 0
    resumed, straight = (json.loads((tmp_path / d / "result.json").read_text()) for d in "ab")
    assert [h["key"] for h in resumed["history"]] == [h["key"] for h in straight["history"]]
    assert resumed["queries"] == 45


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_predict_is_none_or_ranks_like_the_told_values(name):
    """`predict` is an optimizer's own model of the first objective: None, or it orders told points."""
    import torch

    cls = OPTIMIZERS.get(name)
    n_obj = 2 if name == "nsga2" else 1
    opt = cls(3, n_obj=n_obj, seed=0)
    assert opt.predict(torch.zeros(2, 3)) is None  # nothing told yet
    told = 0
    while told < 24:
        z = opt.ask()
        told += z.shape[0]
        f = (z**2).sum(1, keepdim=True).repeat(1, n_obj)
        opt.tell(z, f, torch.ones(z.shape[0], dtype=torch.bool))
    probe = torch.tensor([[0.0, 0.0, 0.0], [2.5, 2.5, 2.5]])
    guess = opt.predict(probe)
    if name in ("nao", "bo", "lamcts"):
        assert guess is not None
    if guess is not None:
        assert guess.shape == (2,) and bool(torch.isfinite(guess).all()) and guess[0] < guess[1]


def test_flags_reach_the_members_neighbours_and_rank_settings(nb201_csv, pair):
    import argparse

    from archlatent.commands.search import config_from_args, setup_config_flags
    from archlatent.run import build

    p = argparse.ArgumentParser()
    setup_config_flags(p)
    config = config_from_args(p.parse_args(["--space", "nb201", "--bench", str(nb201_csv), "--members", "2",
                                            "--neighbours", "0", "--no-rank"]))
    assert config.pretrain == {"members": 2} and config.strategy_kwargs == {"neighbours": 0, "rank": False}
    parts = build(config, model=pair)
    assert [(s.name, getattr(s, "count", None)) for s in parts.stages] == [("repair", None), ("neighbours", 0), ("screen", None)]
    assert parts.strategy.name == "portfolio" and len(parts.strategy.members) == 2
    default = build(config.replace(strategy_kwargs={}), model=pair)
    assert [(s.name, getattr(s, "count", None)) for s in default.stages] == [
        ("repair", None), ("neighbours", 2), ("rank", None), ("screen", None)]  # the nb201 recipe


def test_benchmark_gives_strategy_and_optimizer_settings_only_to_their_own(nb201_csv, tiny_model, tmp_path, capsys):
    save(tiny_model, tmp_path / "ckpt")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[strategy]\nname = "latent"\nneighbours = 0\n[optimizer]\nname = "nao"\ntop_k = 5\n')
    code, _, err = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--checkpoint", str(tmp_path / "ckpt"),
                         "--config", str(cfg), "--methods", "rea,cso,nao", "--budget", "25", "--seeds", "1",
                         "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    runs = [json.loads(line) for line in (tmp_path / "b" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in runs) == ["cso", "nao", "rea"] and all(r["queries"] == 25 for r in runs)
