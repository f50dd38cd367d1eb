"""Recipes (`archlatent.recipes`): each space's defaults in one frozen value, listed, recorded whole in
a run's config and compared whole on resume; the resumable settings come from `SearchConfig`."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from archlatent.cli import main
from archlatent.config import RESUMABLE, ConfigError, SearchConfig
from archlatent.encoders import ENCODERS
from archlatent.optimizers import OPTIMIZERS
from archlatent.recipes import RECIPES, check_recipe, recipe
from archlatent.spaces import SPACES
from archlatent.stages import STAGES


@pytest.mark.parametrize("space", sorted(RECIPES))
def test_a_recipe_names_only_registered_plugins_and_settings_they_take(space):
    rules = RECIPES[space]
    assert space in SPACES and rules.space == space
    for name, settings in rules.stages:
        assert name in STAGES and set(settings) <= set(STAGES.settings(name))
        STAGES.create(name, **settings) if name != "screen" else None
    for optimizer, settings in rules.screened.items():
        params = set(inspect.signature(OPTIMIZERS.get(optimizer).__init__).parameters) - {"self", "dim"}
        assert set(settings) <= params
        OPTIMIZERS.create(optimizer, 4, seed=0, **settings).ask()
    assert set(rules.members) | set(rules.presets) <= set(ENCODERS.names())
    with pytest.raises((TypeError, dataclasses.FrozenInstanceError)):
        rules.presets["gin"] = {}  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.space = "x"  # type: ignore[misc]


def test_the_nb201_recipe_is_the_default_path():
    rules = recipe("nb201")
    assert [n for n, _ in rules.stages] == ["repair", "neighbours", "rank"] and rules.stage("neighbours") == {"count": 2}
    assert rules.members == {"transformer": 3} and rules.screened == {"lamcts": {"batch": 4, "cp": 1.0}}
    assert rules.presets["transformer"]["epochs"] == 8
    assert recipe("nb101").screened == {} and recipe("unheard-of").space == "unheard-of"


def test_list_recipes_prints_every_recipe_whole(capsys):
    assert main(["list", "recipes"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {name: r.to_dict() for name, r in RECIPES.items()}


def test_a_recorded_recipe_is_compared_whole_naming_the_field():
    recorded = recipe("nb201").to_dict()
    check_recipe(recorded, "nb201")
    check_recipe(None, "nb201")  # a config not built yet
    changed = json.loads(json.dumps(recorded))
    changed["presets"]["transformer"]["epochs"] = 7
    with pytest.raises(ConfigError, match=r"recipe\.presets\.transformer\.epochs: 7, now 8"):
        check_recipe(changed, "nb201")
    changed = dict(recorded, stages=recorded["stages"][:2])
    with pytest.raises(ConfigError, match=r"recipe\.stages"):
        check_recipe(changed, "nb201")


def test_the_resumable_settings_come_from_the_config_and_every_other_flag_is_refused(tmp_path, capsys):
    assert set(RESUMABLE) == {"budget", "out", "threads", "executor"}
    assert {f.name for f in dataclasses.fields(SearchConfig) if f.metadata.get("resumable")} == {*RESUMABLE, "executor_kwargs"}
    (tmp_path / "config.json").write_text(json.dumps(SearchConfig(space="nb201").to_dict()))
    for flags, named in ((["--neighbours", "0"], "neighbours"), (["--no-rank"], "rank"), (["--members", "5"], "members"),
                         (["--pool", "off"], "pool"), (["--seed", "3"], "seed"), (["--optimizer", "bo"], "optimizer")):
        assert main(["search", "--resume", str(tmp_path), *flags]) == 2
        err = capsys.readouterr().err
        assert f"cannot change ['{named}']" in err and err.count("\n") == 1
