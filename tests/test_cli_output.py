"""What the CLI shows a user: `list` (whole first sentences, every registry, metrics) and progress lines
(each said once, in the order things happen)."""

from __future__ import annotations

import json

from cli_run import run_cli as _run

from archlatent.commands.basic import KINDS, first_sentence
from archlatent.commands.progress import Progress


def test_first_sentence_is_whole_and_plain():
    doc = """DAG-masked transformer encoder (``layers`` layers of width
    ``hidden``, `heads` heads, :class:`Foo`) + the decoder. Second sentence.

    Another paragraph."""
    assert first_sentence(doc) == "DAG-masked transformer encoder (layers layers of width hidden, heads heads, Foo) + the decoder."
    assert first_sentence('Ying et al., "NAS-Bench-101", ICML 2019. More.') == 'Ying et al., "NAS-Bench-101", ICML 2019.'
    assert first_sentence("SPOS (Guo et al. ECCV 2020): scores paths, e.g. Ones. Then.") == \
        "SPOS (Guo et al. ECCV 2020): scores paths, e.g. Ones."
    assert first_sentence(None) == ""


def test_list_shows_every_registry_in_whole_plain_sentences_and_the_metrics(nb201_csv, capsys):
    import archlatent.evaluators.final  # noqa: F401  (registers train-final, whoever else imports it)

    code, out, _ = _run(["list", "--bench", str(nb201_csv)], capsys)
    doc = json.loads(out)
    assert code == 0 and set(doc) == {*KINDS, "metrics"}
    assert {"tabular", "supernet", "train-final"} <= set(doc["evaluators"]) and {"local", "ray"} <= set(doc["executors"])
    for kind in KINDS:
        for name, text in doc[kind].items():
            assert text.endswith(".") and "`" not in text and "\n" not in text, (kind, name, text)
    assert doc["metrics"]["valid_acc"] == "max" and doc["metrics"]["test_acc"] == "max (test split)"
    assert doc["metrics"]["flops_m"] == "min"


def test_list_descriptions_name_no_setting_a_config_refuses(capsys):
    """random's description used to name a `batch` setting that `[strategy] batch = ...` refuses."""
    from archlatent.strategies import STRATEGIES

    code, out, _ = _run(["list", "strategies"], capsys)
    text = json.loads(out)["strategies"]["random"]
    assert code == 0 and "batch" not in STRATEGIES.settings("random") and "16 uniform samples" in text


def test_list_without_a_table_still_lists(tmp_path, capsys):
    code, out, _ = _run(["list", "--bench", str(tmp_path / "missing.csv.gz")], capsys)
    doc = json.loads(out)
    assert code == 0 and "missing.csv.gz" in doc["metrics"] and "nao" in doc["optimizers"]


def test_progress_says_each_count_once_and_closes_once(capsys):
    bar = Progress(3, "pretrain gin", "epochs", every=0.0)
    for epoch in (1, 2, 3):
        bar.update(epoch, loss=1.0 / epoch)
    bar.close()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0].split(" (")[0] for line in lines] == [f"pretrain gin: {e}/3 epochs" for e in (1, 2, 3)]
    bar = Progress(None, "benchmark", "runs", every=3600.0)
    bar.update(1)
    bar.update(2)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["benchmark: 1 runs", "benchmark: 2 runs"]  # the end is said


def test_benchmark_prints_pretraining_before_its_runs_and_nothing_after(nb201_csv, tmp_path, capsys):
    """The pretraining bar used to close after the benchmark's, printing its last epoch again at the end."""
    code, _, err = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--methods", "random,cso",
                         "--encoder", "gin", "--epochs", "2", "--budget", "20", "--seeds", "2",
                         "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith(("pretrain", "benchmark"))]
    kinds = [line.split(":")[0] for line in lines]
    assert kinds.count("pretrain gin") == 2 and kinds[:2] == ["pretrain gin"] * 2
    assert set(kinds[2:]) == {"benchmark"} and lines[-1].startswith("benchmark: 4/4 runs"), lines


def test_list_metrics_alone(nb201_csv, capsys):
    code, out, _ = _run(["list", "metrics", "--bench", str(nb201_csv), "--dataset", "cifar100"], capsys)
    assert code == 0 and json.loads(out)["valid_acc_12ep"] == "max"
