"""Exact fronts and their scores (`archlatent.fronts`): against brute force on small point sets, and on
the real NAS-Bench-201 table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from archlatent import ArchLatentError
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.fronts import REFERENCE, ExactFront, class_metrics, exact_front


def brute_front(f: np.ndarray) -> np.ndarray:
    """Rows no other row dominates, by checking every pair."""
    keep = [i for i in range(len(f)) if not any((f[j] <= f[i]).all() and (f[j] < f[i]).any() for j in range(len(f)))]
    return np.unique(f[keep], axis=0)


def brute_hv(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume by inclusion-exclusion over every subset (small sets only)."""
    total = 0.0
    for k in range(1, len(points) + 1):
        for subset in itertools.combinations(points, k):
            corner = np.max(subset, axis=0)
            total += (-1) ** (k + 1) * float(np.prod(np.clip(ref - corner, 0, None)))
    return total


def brute_igd_plus(found: np.ndarray, front: np.ndarray) -> float:
    return float(np.mean([min(np.sqrt(sum(max(a_i - z_i, 0.0) ** 2 for a_i, z_i in zip(a, z))) for a in found)
                          for z in front]))


def as_metrics(rows: np.ndarray, names=("valid_acc", "flops_m", "params_m")) -> list[dict[str, float]]:
    """Minimization rows back into metric dicts (the accuracy column negated)."""
    return [{n: (-v if n == "valid_acc" else v) for n, v in zip(names, map(float, r))} for r in rows]


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_hv_and_igd_plus_match_brute_force(d, seed):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 12, size=(40, d)).astype(float)  # ties and duplicates on purpose
    names = ("valid_acc", "flops_m", "params_m")[:d]
    exact = ExactFront.of(as_metrics(table, names), names)
    ideal, nadir = brute_front(table).min(0), brute_front(table).max(0)  # the front's own range
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    np.testing.assert_array_equal(exact.front, brute_front(table))
    scaled = (brute_front(table) - ideal) / span
    ref = np.full(d, REFERENCE)
    assert exact.volume == pytest.approx(brute_hv(scaled, ref), rel=1e-12)
    for size in (1, 4, 9):
        found = table[rng.choice(len(table), size=size, replace=False)]
        s_found = (found - ideal) / span  # a cell beyond the front's nadir adds no volume
        assert exact.hv_ratio(as_metrics(found, names)) == pytest.approx(
            brute_hv(brute_front(s_found), ref) / brute_hv(scaled, ref), rel=1e-12)
        assert exact.igd_plus(as_metrics(found, names)) == pytest.approx(brute_igd_plus(s_found, scaled), rel=1e-12)


def test_scores_take_prefixes_in_query_order():
    table = np.array([[0.0, 10.0], [10.0, 0.0], [5.0, 5.0], [9.0, 9.0]])
    exact = ExactFront.of(as_metrics(table, ("valid_acc", "flops_m")), ("valid_acc", "flops_m"))
    found = as_metrics(table[[3, 0, 1, 2]], ("valid_acc", "flops_m"))
    scores = exact.scores(found, [1, 2, 4, 10])
    assert list(scores) == [1, 2, 4, 10]
    assert scores[1]["hv_ratio"] < scores[2]["hv_ratio"] < scores[4]["hv_ratio"] == 1.0 == scores[10]["hv_ratio"]
    assert scores[4]["igd_plus"] == 0.0 < scores[2]["igd_plus"] < scores[1]["igd_plus"]
    assert exact.points() == [{"valid_acc": -10.0, "flops_m": 0.0}, {"valid_acc": -5.0, "flops_m": 5.0},
                              {"valid_acc": 0.0, "flops_m": 10.0}]
    with pytest.raises(ArchLatentError, match="positive query counts"):
        exact.scores(found, [0])


def test_bad_objectives_are_refused():
    rows = [{"valid_acc": 1.0, "flops_m": 2.0}, {"valid_acc": 2.0, "flops_m": 3.0}]
    with pytest.raises(ArchLatentError, match="'latency' is not in the table"):
        ExactFront.of(rows, ("valid_acc", "latency"))
    with pytest.raises(ArchLatentError, match="two or more"):
        ExactFront.of(rows, ("valid_acc",))
    one = ExactFront.of([{"valid_acc": 1.0, "flops_m": 2.0}] * 3, ("valid_acc", "flops_m"))  # constant: unscaled
    assert one.volume == pytest.approx(REFERENCE**2) and one.hv_ratio([{"valid_acc": 1.0, "flops_m": 2.0}]) == 1.0


@pytest.fixture(scope="module")
def nb201_classes(nb201_table):
    return class_metrics(TabularEvaluator(nb201_table, "cifar10"))


def test_nb201_exact_front_of_valid_acc_and_flops(nb201_table, nb201_classes):
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    assert len(nb201_classes) == len(nb201_table.rows)  # one row per entry of the index (each NB201 cell)
    exact = exact_front(evaluator, ("valid_acc", "flops_m"))
    points = exact.points()
    accs = [p["valid_acc"] for p in points]
    # the best validation cell (91.61) and the cheapest class end the front
    assert max(accs) == pytest.approx(evaluator.best("valid_acc")[1])
    assert min(p["flops_m"] for p in points) == min(m["flops_m"] for m in nb201_classes)
    assert 5 <= len(points) < 200 and accs == sorted(accs)  # cheaper is less accurate along the front
    every = exact.scores(nb201_classes, [len(nb201_classes)])[len(nb201_classes)]
    assert every == {"hv_ratio": 1.0, "igd_plus": 0.0}
    assert exact.hv_ratio(points) == 1.0 and exact.igd_plus(points) == 0.0
    rng = np.random.default_rng(0)
    sample = [nb201_classes[i] for i in rng.choice(len(nb201_classes), size=100, replace=False)]
    scores = exact.scores(sample, [25, 100])
    assert 0.5 < scores[25]["hv_ratio"] <= scores[100]["hv_ratio"] < 1.0
    assert scores[25]["igd_plus"] >= scores[100]["igd_plus"] > 0.0
    # the evaluator answers a class with the same numbers the front was built from
    g = nb201_table.genotypes[0]
    answer = evaluator.evaluate([g])[0]
    assert answer in nb201_classes


def _bench(argv, capsys):
    from archlatent.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


def test_benchmark_scores_fronts_at_each_budget_with_the_oracle_at_one(nb201_csv, tmp_path, capsys):
    import json

    out = tmp_path / "mo"
    base = ["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--objectives", "valid_acc,flops_m"]
    code, _ = _bench([*base, "--methods", "random,sms_emoa,oracle", "--budget", "60", "--seeds", "3", "--out", str(out)],
                     capsys)
    assert code == 0
    doc = json.loads((out / "summary.json").read_text())
    fronts = doc["fronts"]
    assert set(fronts) == {"random", "sms_emoa", "oracle"} and set(fronts["oracle"]) == {"25", "50", "60"}
    for b in ("25", "50", "60"):
        assert fronts["oracle"][b]["hv_ratio"] == 1.0 and fronts["oracle"][b]["igd_plus"] == 0.0
        assert fronts["oracle"][b]["test_hv_ratio"] < 1.0  # the validation front's cells, scored on test
        for name in ("random", "sms_emoa"):
            assert 0.5 < fronts[name][b]["hv_ratio"] < 1.0 and fronts[name][b]["igd_plus"] > 0
            assert fronts[name][b]["hv_ratio_se"] > 0 and 0.5 < fronts[name][b]["test_hv_ratio"] < 1.0
    assert fronts["random"]["25"]["hv_ratio"] <= fronts["random"]["60"]["hv_ratio"]
    assert doc["oracle"]["fronts"]["valid"]["objectives"] == ["valid_acc", "flops_m"]
    assert doc["oracle"]["fronts"]["test"]["objectives"] == ["test_acc", "flops_m"]
    table = (out / "table.md").read_text()
    assert "| oracle | valid | 1.0000 ± 0.0000 / 0.0000 |" in table and "| sms_emoa | test |" in table
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 6 and all(set(r["fronts"]["valid"]) == {"25", "50", "60"} for r in runs)
    code, _ = _bench([*base, "--methods", "random,sms_emoa,oracle", "--budget", "60", "--seeds", "3", "--out", str(out),
                      "--resume"], capsys)  # every run reused: the same figures
    assert code == 0 and json.loads((out / "summary.json").read_text())["fronts"] == fronts


def test_benchmark_refuses_what_cannot_score_fronts(nb201_csv, tmp_path, capsys):
    base = ["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--seeds", "1", "--budget", "30"]
    code, err = _bench([*base, "--objectives", "valid_acc,flops_m", "--methods", "random,rea", "--out",
                        str(tmp_path / "a")], capsys)
    assert code == 2 and "method 'rea': strategy 'rea' is single-objective" in err and not (tmp_path / "a" / "runs.jsonl").exists()
    code, err = _bench([*base, "--methods", "random,oracle", "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "'oracle' (the exact Pareto front) needs several --objectives" in err
    code, err = _bench([*base, "--objectives", "flops_m,valid_acc", "--methods", "random", "--out", str(tmp_path / "c")],
                       capsys)
    assert code == 2 and "the first of --objectives must be the accuracy" in err and not (tmp_path / "c").exists()


def test_search_writes_pareto_png_with_the_tables_exact_front(nb201_csv, nb201_table, tmp_path, capsys, monkeypatch):
    import json

    import archlatent.plots

    drawn = {}
    original = archlatent.plots.pareto_png

    def spy(points, front, objectives, **kwargs):
        drawn.update(points=points, exact=kwargs["exact"])
        return original(points, front, objectives, **kwargs)

    monkeypatch.setattr(archlatent.plots, "pareto_png", spy)
    out = tmp_path / "run"
    code, _ = _bench(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "sms_emoa", "--objectives",
                      "valid_acc,hw_latency_ms_fpga", "--budget", "40",
                      "--out", str(out)], capsys)
    assert code == 0 and (out / "pareto.png").stat().st_size > 5000
    exact = exact_front(TabularEvaluator(nb201_table, "cifar10"), ("valid_acc", "hw_latency_ms_fpga"))
    assert drawn["exact"] == exact.points()  # the classes' exact front, drawn behind the found one
    pareto = json.loads((out / "result.json").read_text())["pareto"]
    assert pareto["true_front_size"] == len(exact.front)
    assert pareto["hypervolume_ratio"] == pytest.approx(exact.hv_ratio(drawn["points"])) and pareto["hypervolume_ratio"] < 1
    assert pareto["igd_plus"] == pytest.approx(exact.igd_plus(drawn["points"])) and pareto["igd_plus"] > 0
