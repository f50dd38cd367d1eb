"""Latent autoencoders: conformance over every registered encoder x space, checkpoints, training."""

from __future__ import annotations

import csv
import functools
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from archlatent import SPACES, ArchLatentError, CheckpointError, Genotype, UnknownName, get_space
from archlatent.encoders import (
    ENCODERS,
    build_encoder,
    fit,
    load,
    make_dataset,
    pretrain,
    read_metadata,
    save,
)
from archlatent.plots import curves_png

#: Small models: every test here runs in seconds on a 2-core CPU.
SMALL = {"latent_dim": 16, "hidden": 32, "layers": 2, "dec_hidden": 128, "score_hidden": 16}
COMBOS = [(e, s) for e in ENCODERS.names() for s in SPACES.names()]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread for these tiny models: on a shared 2-core box, two threads that wait on
    each other make small ops 10-100x slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def archs(space_name: str, n: int = 64, seed: int = 0) -> tuple[Genotype, ...]:
    """`n` canonical genotypes of distinct keys."""
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    out: list[Genotype] = []
    keys: set[str] = set()
    for _ in range(50 * n):
        g = space.canonicalize(space.sample(rng))
        if g.key() not in keys:
            keys.add(g.key())
            out.append(g)
            if len(out) == n:
                break
    return tuple(out)


def fake_labels(space_name: str, genotypes) -> dict[Genotype, float]:
    """A label that depends on the architecture: how many nodes carry the space's last op label."""
    last = get_space(space_name).node_labels[-1]
    return {g: float(sum(op == last for c in g.cells for op in c.ops)) for g in genotypes}


def dataset_labels(space_name: str, samples: int, seed: int) -> dict[Genotype, float]:
    """`fake_labels` of every architecture `pretrain(samples=..., seed=...)` will see."""
    data = make_dataset(get_space(space_name), samples=samples, seed=seed)
    return fake_labels(space_name, data.train + data.heldout)


def nb201_table(path: Path) -> dict[Genotype, float]:
    space = get_space("nb201")
    with gzip.open(path, "rt", newline="") as f:
        return {space.parse(row["arch"]): float(row["cifar10_valid_acc"]) for row in csv.DictReader(f)}


# -- conformance -------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder,space_name", COMBOS)
def test_shapes(encoder, space_name):
    space = get_space(space_name)
    model = build_encoder(space, encoder, **SMALL)
    gs = archs(space_name)[:5]
    batch = space.to_tensors(gs)
    mu, logvar = model.encode(batch)
    assert mu.shape == logvar.shape == (5, 16)
    op_logits, adj_logits = model.decode(mu)
    assert op_logits.shape == (5, space.max_nodes, len(space.node_labels))
    assert adj_logits.shape == (5, space.max_nodes, space.max_nodes)
    assert (adj_logits[:, ~model.slots] < -100).all()  # never an edge below the diagonal / across cells
    z = model.embed(gs)
    assert z.shape == (5, 16) and z.device.type == "cpu" and not z.requires_grad
    decoded = model.reconstruct(z)
    assert len(decoded) == 5 and all(d is None or (isinstance(d, Genotype) and space.is_valid(d)) for d in decoded)
    assert model.predict(gs).shape == (5,)
    assert model.predict(z).shape == (5,)
    assert model.reconstruct(z[0]) == decoded[:1]  # a single point [d] is accepted
    assert model.reconstruct(torch.zeros(0, 16)) == []
    assert model.embed([]).shape == (0, 16)
    with pytest.raises(ArchLatentError, match="shape"):
        model.reconstruct(torch.zeros(3, 7))


@pytest.mark.parametrize("encoder,space_name", COMBOS)
def test_loss_finite_and_gradients_reach_every_parameter(encoder, space_name):
    space = get_space(space_name)
    model = build_encoder(space, encoder, **SMALL)
    gs = archs(space_name)[:16]
    acc = torch.tensor(list(fake_labels(space_name, gs).values()))
    acc[::3] = float("nan")  # unlabelled rows
    model.train()
    out = model.loss(space.to_tensors(gs), acc=acc, generator=torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in out.values())
    assert out["rank"] > 0
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets a zero gradient"


def test_inner_product_adjacency_head():
    space = get_space("nb101")
    model = build_encoder(space, "gin", adj_head="inner", **SMALL)
    gs = archs("nb101")[:8]
    model.loss(space.to_tensors(gs))["loss"].backward()
    assert all(p.grad is not None for name, p in model.named_parameters() if not name.startswith("score_head"))
    assert model.decode(model.embed(gs))[1].shape == (8, 7, 7)


@pytest.mark.parametrize("encoder,space_name", COMBOS)
def test_overfits_64_genotypes(encoder, space_name):
    gs = archs(space_name)
    model = build_encoder(space_name, encoder, **SMALL)
    curves = fit(model, gs, heldout=gs, epochs=400, batch_size=64, lr=5e-3, stop_at=1.0)  # stop once mu decodes all
    decoded = model.reconstruct(model.embed(gs, canonicalize=False))
    misses = [i for i, (d, g) in enumerate(zip(decoded, gs)) if d is None or d.key() != g.key()]
    assert not misses, f"{len(misses)} of 64 not reconstructed after {len(curves)} epochs"


@pytest.mark.parametrize("encoder,space_name", COMBOS)
def test_save_load_round_trip(encoder, space_name, tmp_path):
    gs = archs(space_name)[:32]
    model, metrics, _ = pretrain(space_name, encoder, samples=40, epochs=1, batch_size=16, seed=1, **SMALL)
    save(model, tmp_path / "ckpt", metrics=metrics, table_sha256="ab" * 32)
    loaded = load(tmp_path / "ckpt", space=space_name, encoder=encoder)
    assert torch.equal(loaded.embed(gs), model.embed(gs))
    assert torch.equal(loaded.predict(gs), model.predict(gs))
    assert torch.equal(loaded.latent_loc, model.latent_loc)
    meta = read_metadata(tmp_path / "ckpt" / "model.json")
    assert meta["space"] == space_name and meta["encoder"] == encoder and meta["table_sha256"] == "ab" * 32
    assert meta["hparams"] == model.hparams and meta["metrics"]["label_queries"] == 0
    assert load(tmp_path / "ckpt" / "model.pt").hparams == model.hparams  # the weights file's path works too


@pytest.mark.parametrize("encoder,space_name", COMBOS)
def test_same_seed_same_weights(encoder, space_name):
    labels = dataset_labels(space_name, 48, 5)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    kw = dict(samples=48, labels=labels, epochs=2, batch_size=16, **SMALL)
    a = pretrain(space_name, encoder, seed=5, **kw).model.state_dict()
    b = pretrain(space_name, encoder, seed=5, **kw).model.state_dict()
    c = pretrain(space_name, encoder, seed=6, **kw).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "same seed, different weights"
    assert any(not torch.equal(a[k], c[k]) for k in a), "different seeds, same weights"
    assert torch.equal(torch.random.get_rng_state(), torch_state), "the global torch RNG was used"
    assert np.array_equal(np.random.get_state()[1], np_state[1]), "the global numpy RNG was used"


# -- checkpoints ------------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model = build_encoder("nb201", "gin", **SMALL)
    return save(model, tmp_path / "gin-nb201")


def test_checkpoint_refuses_other_space(checkpoint):
    with pytest.raises(CheckpointError, match="saved for space 'nb201', not 'nb101'"):
        load(checkpoint, space="nb101")
    with pytest.raises(CheckpointError, match="not 'darts'"):
        load(checkpoint, space=get_space("darts"))


def test_checkpoint_refuses_other_encoder(checkpoint):
    with pytest.raises(CheckpointError, match="holds encoder 'gin', not 'transformer'"):
        load(checkpoint, encoder="transformer")


def test_checkpoint_refuses_corrupt_bytes(checkpoint):
    weights = checkpoint / "model.pt"
    data = bytearray(weights.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load(checkpoint)


def test_checkpoint_refuses_truncated_file(checkpoint):
    weights = checkpoint / "model.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load(checkpoint)


def _resign(checkpoint, meta):
    """Write `meta` as a crafted sidecar whose own checksum matches (to reach the checks behind it)."""
    from archlatent.encoders.checkpoint import _digest

    meta["metadata_sha256"] = _digest(meta)
    (checkpoint / "model.json").write_text(json.dumps(meta))


def test_checkpoint_refuses_an_edited_sidecar(checkpoint):
    meta = json.loads((checkpoint / "model.json").read_text())
    meta["metrics"] = {"labelled": []}  # would make a search stop charging for its labels
    (checkpoint / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="edited or damaged"):
        load(checkpoint)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("hidden", 1_000_000, "hidden=1000000 is outside"),
    ("layers", 1_000_000, "layers=1000000 is outside"),
    ("latent_dim", -3, "latent_dim=-3 is outside"),
    ("metrics", 5, "'metrics' must be a mapping"),
])
def test_checkpoint_bounds_a_crafted_sidecar_before_building(checkpoint, key, value, words):
    meta = json.loads((checkpoint / "model.json").read_text())
    if key == "metrics":
        meta["metrics"] = value
    else:
        meta["hparams"][key] = value
    _resign(checkpoint, meta)
    with pytest.raises(CheckpointError, match=words):
        load(checkpoint)


class _Evil:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_checkpoint_refuses_a_malicious_pickle_in_one_line(checkpoint, capsys):
    import hashlib
    import pickle

    weights = checkpoint / "model.pt"
    torch.save({"x": _Evil()}, weights, pickle_module=pickle)
    meta = json.loads((checkpoint / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    _resign(checkpoint, meta)
    with pytest.raises(CheckpointError, match="cannot be read as weights") as err:
        load(checkpoint)
    assert "\n" not in str(err.value) and len(str(err.value)) < 600
    assert "this pickle ran code" not in capsys.readouterr().out


def test_checkpoint_refuses_unreadable_weights_even_with_matching_checksum(checkpoint):
    import hashlib

    weights = checkpoint / "model.pt"
    weights.write_bytes(b"not a torch file")
    meta = json.loads((checkpoint / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(b"not a torch file").hexdigest()
    _resign(checkpoint, meta)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load(checkpoint)


def test_checkpoint_refuses_missing_or_broken_metadata(checkpoint):
    (checkpoint / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load(checkpoint)
    (checkpoint / "model.json").write_text(json.dumps({"format": 1}))
    with pytest.raises(CheckpointError, match="lacks"):
        load(checkpoint)
    (checkpoint / "model.json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load(checkpoint)


def test_checkpoint_refuses_state_dict_shape_mismatch(checkpoint):
    meta = json.loads((checkpoint / "model.json").read_text())
    meta["hparams"]["hidden"] = 48  # the weights are for hidden=32
    _resign(checkpoint, meta)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load(checkpoint)


def test_checkpoint_refuses_changed_space(checkpoint):
    meta = json.loads((checkpoint / "model.json").read_text())
    meta["space_signature"]["node_labels"].append("conv7x7")
    _resign(checkpoint, meta)
    with pytest.raises(CheckpointError, match="changed"):
        load(checkpoint)


# -- training ---------------------------------------------------------------------------------------
def test_nan_loss_raises_clear_error():
    model = build_encoder("nb201", "gin", **SMALL)
    real_loss = model.loss

    def nan_loss(*args, **kwargs):
        out = real_loss(*args, **kwargs)
        out["loss"] = out["loss"] * float("nan")
        return out

    model.loss = nan_loss
    with pytest.raises(ArchLatentError, match=r"gin pretraining on nb201: loss is nan at epoch 1, batch 1 of 2"):
        fit(model, archs("nb201"), epochs=3, batch_size=32)


def test_bad_arguments_are_refused():
    with pytest.raises(UnknownName, match="unknown encoder 'vae'"):
        build_encoder("nb201", "vae")
    with pytest.raises(ArchLatentError, match="latent_dim"):
        build_encoder("nb201", "gin", latent_dim=0)
    with pytest.raises(ArchLatentError, match="heads"):
        build_encoder("nb201", "transformer", hidden=30, heads=4)
    with pytest.raises(ArchLatentError, match="lr"):
        fit(build_encoder("nb201", "gin", **SMALL), archs("nb201"), lr=float("nan"))
    with pytest.raises(ArchLatentError, match="not finite"):
        pretrain("nb201", "gin", samples=20, labels={archs("nb201")[0]: float("inf")})
    with pytest.raises(ArchLatentError, match="label_budget"):
        pretrain("nb201", "gin", samples=20, labels=fake_labels("nb201", archs("nb201")), label_budget=10_000)


def test_dataset_is_distinct_canonical_and_split():
    space = get_space("nb101")
    data = make_dataset(space, samples=300, seed=3, holdout=0.2)
    keys = [g.key() for g in data.train + data.heldout]
    assert len(keys) == len(set(keys)), "duplicate keys"
    assert all(space.canonicalize(g) == g for g in data.train + data.heldout)
    assert abs(len(data.heldout) - 0.2 * len(keys)) <= 1
    again = make_dataset(space, samples=300, seed=3, holdout=0.2)
    assert again.train == data.train and again.heldout == data.heldout


def test_pretrain_metrics_curves_and_plot(tmp_path):
    _, metrics, curves = pretrain(
        "nb201",
        "gin",
        samples=200,
        labels=dataset_labels("nb201", 200, 0),
        label_budget=20,
        epochs=3,
        batch_size=32,
        **SMALL,
    )
    json.dumps(metrics, allow_nan=False)  # JSON-able
    for key in ("recon_exact", "valid_prior", "unique_prior", "kendall_tau", "train_seconds"):
        assert key in metrics
    assert metrics["label_queries"] == 20 and metrics["epochs"] == 3 and metrics["samples"] == 200
    assert metrics["train_size"] + metrics["heldout_size"] <= 200
    assert 0.0 <= metrics["recon_exact"] <= 1.0 and 0.0 <= metrics["valid_prior"] <= 1.0
    assert [c["epoch"] for c in curves] == [1, 2, 3] and curves[-1]["loss"] < curves[0]["loss"]
    png = curves_png(curves, title="gin on nb201")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_embed_canonicalizes():
    space = get_space("nb201")
    g = space.from_ops(["nor_conv_3x3", "none", "none", "skip_connect", "none", "none"])  # edge 0->1 is dead
    c = space.canonicalize(g)
    assert c != g and c.key() == g.key()
    model = build_encoder(space, "gin", **SMALL)
    assert torch.equal(model.embed([g]), model.embed([c]))
    assert not torch.equal(model.embed([g], canonicalize=False), model.embed([c]))


def test_reconstruct_shares_equal_decodes():
    model = build_encoder("nb201", "gin", **SMALL)
    z = torch.randn(1, 16).repeat(50, 1)
    decoded = model.reconstruct(z)
    assert all(d is decoded[0] for d in decoded)
    assert model.reconstruct(z)[0] is decoded[0]  # remembered across calls


@pytest.mark.parametrize("encoder", ENCODERS.names())
def test_score_head_learns_a_synthetic_ranking(encoder):
    """80 labels (number of avg_pool edges) out of ~300 cells; measured tau 0.65 (gin), 0.67 (transformer)."""
    labels = dataset_labels("nb201", 400, 2)
    _, metrics, _ = pretrain(
        "nb201", encoder, samples=400, labels=labels, label_budget=80, epochs=8, batch_size=32, seed=2, **SMALL
    )
    assert metrics["tau_archs"] > 200
    assert metrics["kendall_tau"] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ENCODERS.names())
def test_score_head_ranks_nb201_from_100_labels(encoder, nb201_csv):
    """100 labelled cells (CIFAR-10 valid accuracy), Kendall tau on every other architecture.

    The benchmark's NB201 configuration; measured (seed 0, one thread): gin 0.662, transformer 0.650
    on ~8,660 architectures (keys), and 100 % held-out reconstruction.
    """
    _, metrics, _ = pretrain(
        "nb201",
        encoder,
        labels=nb201_table(nb201_csv),
        label_budget=100,
        epochs=8,
        batch_size=64,
        lr=3e-3,
        hidden=32,
        layers=2,
        **({"heads": 2} if encoder == "transformer" else {}),
    )
    assert metrics["label_queries"] == 100
    assert metrics["tau_archs"] > 8_600
    assert metrics["kendall_tau"] >= 0.6
    assert metrics["recon_exact"] >= 0.99


@pytest.mark.parametrize(("encoder", "space_name"), COMBOS)
def test_isomorphic_cells_share_one_latent_point(encoder, space_name):
    """Equal keys, equal embeddings: the model embeds class representatives (issue: swapped DARTS pairs
    moved mu by 17; NB101 relabellings by 0.76 on an untrained model)."""
    from test_spaces import BUILT_CANONICAL, VARIANTS

    space = get_space(space_name)
    model = build_encoder(space, encoder, **SMALL)
    rng = np.random.default_rng(3)
    if space_name in BUILT_CANONICAL:  # raw variants are the same genotype, so the same tensors
        for g in (space.sample(rng) for _ in range(40)):
            assert all(h == g for h in VARIANTS[space_name](space, g, rng))
        return
    pairs = [(g, h) for g in (space.sample(rng) for _ in range(40)) for h in VARIANTS[space_name](space, g, rng) if h != g]
    assert pairs
    first, second = (model.embed([p[i] for p in pairs]) for i in (0, 1))
    torch.testing.assert_close(first, second, rtol=0, atol=1e-6)
    raw = (model.embed([p[i] for p in pairs], canonicalize=False) for i in (0, 1))
    assert not torch.allclose(*raw)  # as given, the forms differ: the test can fail
