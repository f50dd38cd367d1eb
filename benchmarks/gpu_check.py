"""GPU check: every CUDA path of the library, once each, in a few minutes on one GPU.

Runs, through the library's own entry points (the CLI's commands in this process, `torchrun` for DDP,
the `train-final` evaluator), on synthetic images (nothing downloaded):

1. ``pretrain``: a gin autoencoder on NB201 cells;
2. ``supernet train`` + ``supernet eval`` of an NB201 supernet, and the same evaluation on the CPU
   (the CPU-vs-GPU agreement of one supernet evaluation, in accuracy points; above 1 point fails);
3. ``supernet train`` + ``supernet eval`` of a DARTS supernet;
4. one DNAS step (``dnas``, one epoch of one step) with its ``torch.cuda.max_memory_allocated``;
5. a ``train-final`` evaluation (one NB201 cell trained from scratch for one epoch);
6. ``search --executor ray --gpus-per-eval 1`` with the NB201 supernet as evaluator;
7. ``torchrun --nproc-per-node 1``: ``supernet train`` (the launch and device mapping; one process
   runs without a process group), then one DDP step of an NB201 network over NCCL (gloo on the CPU).

It prints one table (step, status, seconds, peak GPU memory, note) and exits 1 if any step failed
(``--skip ray,torchrun`` leaves those two out: quicker, but then not the whole check).
Without CUDA it says so in one line and exits 1; ``--device cpu`` runs the same steps on the CPU at
small sizes (gloo for DDP, no GPU for Ray) so the script itself is exercised where no GPU is (the
test suite does that). Peak memory is ``torch.cuda.max_memory_allocated`` of each in-process step,
and for torchrun what the training reports.

Status: not yet run on a GPU (no device was lent when it was written); BENCHMARKS.md's "GPU check"
section is where its table goes. Run from the repository root:
``.venv/bin/python benchmarks/gpu_check.py`` (``--device cpu`` for the dry form, ``--keep DIR`` to
keep the run folders).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGREEMENT_POINTS = 1.0  # most a supernet evaluation may differ between the CPU and the GPU, in accuracy points

#: Sizes per device: the GPU's exercise real widths briefly; the CPU's only prove the script runs.
SIZES = {
    "cuda": {"images": 4000, "pretrain": ["--samples", "4000", "--epochs", "2"], "batch": 64,
             "nb201": ["--channels", "16", "--depth", "5", "--steps", "60"],
             "darts": ["--channels", "16", "--depth", "8", "--steps", "20"],
             "dnas": ["--channels", "16", "--depth", "5"], "final": {"C": 16, "N": 5}, "budget": 4},
    "cpu": {"images": 300, "pretrain": ["--samples", "300", "--epochs", "1"], "batch": 16,
            "nb201": ["--channels", "4", "--depth", "1", "--steps", "3"],
            "darts": ["--channels", "4", "--depth", "3", "--steps", "2"],
            "dnas": ["--channels", "4", "--depth", "1"], "final": {"C": 4, "N": 1}, "budget": 2},
}


@dataclass
class Check:
    """What ran: status, seconds, peak GPU memory (MiB) and a note; the folders steps hand on."""

    device: str
    root: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    made: dict[str, Path] = field(default_factory=dict)
    agreement: float | None = None

    @property
    def size(self) -> dict[str, Any]:
        return SIZES["cuda" if self.device.startswith("cuda") else "cpu"]

    def run(self, name: str, step: Callable[[Check], str], needs: tuple[str, ...] = ()) -> None:
        """Run `step` (its note is returned), timing it and reading the GPU's peak memory around it."""
        missing = [n for n in needs if n not in self.made]
        if missing:
            self.rows.append({"step": name, "status": "skipped", "seconds": 0.0, "peak_mib": None,
                              "note": f"needs {', '.join(missing)}, which failed"})
            return
        import torch

        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            note, status = step(self), "ok"
        except Exception as err:  # noqa: BLE001 (a failed step is a row of the table, not the end of the check)
            note, status = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:160], "FAILED"
            traceback.print_exc(file=sys.stderr)
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
        self.rows.append({"step": name, "status": status, "seconds": time.perf_counter() - start, "peak_mib": peak or None,
                          "note": note})  # None: not measured here (the CPU, or a step run in a subprocess)

    def cli(self, *argv: str) -> dict[str, Any]:
        """`archlatent ARGV` in this process; its JSON output, or RuntimeError with its error line."""
        from archlatent.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit_:  # argparse refusing a flag
                code = exit_.code
        if code != 0:
            raise RuntimeError(f"archlatent {argv[0]} exited {code}: {err.getvalue().strip()[-300:]}")
        return json.loads(out.getvalue()) if out.getvalue().strip() else {}

    def data_flags(self) -> list[str]:
        return ["--dataset", "synthetic", "--synthetic-n", str(self.size["images"]), "--device", self.device]


def pretrain(c: Check) -> str:
    doc = c.cli("pretrain", "--space", "nb201", "--encoder", "gin", "--members", "1", *c.size["pretrain"],
                "--device", c.device, "--out", str(c.root / "autoencoder"))
    return f"held-out exact reconstruction {100 * doc['recon_exact']:.1f} %"


def supernet(space: str) -> Callable[[Check], str]:
    def step(c: Check) -> str:
        out = c.root / f"supernet-{space}"
        doc = c.cli("supernet", "train", "--space", space, *c.data_flags(), *c.size[space],
                    "--batch-size", str(c.size["batch"]), "--out", str(out))
        c.made[f"supernet {space}"] = out / "supernet.pt"
        stats = doc["stats"]
        return f"{stats['steps']} steps, {stats.get('images_per_s', 0):.0f} images/s"

    return step


def _cell(space: str) -> str:
    """One architecture of `space` in its text form (the first one seed 0 samples)."""
    import numpy as np

    from archlatent.spaces import get_space

    rules = get_space(space)
    return rules.format(rules.sample(np.random.default_rng(0)))


def evaluate(space: str) -> Callable[[Check], str]:
    def step(c: Check) -> str:
        checkpoint, cell = str(c.made[f"supernet {space}"]), _cell(space)
        here = _accuracy(c.cli("supernet", "eval", "--checkpoint", checkpoint, "--device", c.device, cell))
        if space != "nb201" or c.device == "cpu":
            return f"valid_acc {here:.2f}"
        cpu = _accuracy(c.cli("supernet", "eval", "--checkpoint", checkpoint, "--device", "cpu", cell))
        c.agreement = abs(here - cpu)
        if c.agreement > AGREEMENT_POINTS:
            raise RuntimeError(f"valid_acc {here:.2f} on {c.device} but {cpu:.2f} on the CPU")
        return f"valid_acc {here:.2f} ({c.device}) vs {cpu:.2f} (CPU)"

    return step


def _accuracy(doc: dict[str, Any]) -> float:
    return float(doc["results"][0]["metrics"]["valid_acc"])


def dnas(c: Check) -> str:
    out = c.root / "dnas"
    c.cli("dnas", "--space", "nb201", *c.data_flags(), *c.size["dnas"], "--epochs", "1", "--steps-per-epoch", "1",
          "--batch-size", str(c.size["batch"]), "--out", str(out))
    doc = json.loads((out / "result.json").read_text())
    return f"genotype {doc.get('genotype', '?')[:60]}"


def train_final(c: Check) -> str:
    from archlatent.evaluators.final import FinalEvaluator
    from archlatent.spaces import get_space

    space = get_space("nb201")
    evaluator = FinalEvaluator.from_config(space, dataset="synthetic", epochs=1, network=c.size["final"],
                                           synthetic_n=c.size["images"], batch_size=c.size["batch"], device=c.device)
    metrics = evaluator.evaluate([space.parse(_cell("nb201"))])[0]
    return f"valid_acc {metrics['valid_acc']:.2f}, {metrics['params_mb']:.3f} MB params"


def ray_search(c: Check) -> str:
    gpus = "1" if c.device.startswith("cuda") else "0"
    doc = c.cli("search", "--space", "nb201", "--strategy", "random", "--evaluator", "supernet",
                "--supernet", str(c.made["supernet nb201"]), "--budget", str(c.size["budget"]), "--executor", "ray",
                "--workers", "1", "--gpus-per-eval", gpus, "--out", str(c.root / "search"))
    return f"{doc['queries']} queries on Ray (--gpus-per-eval {gpus}), best valid_acc {doc['best']['valid_acc']:.2f}"


def _torchrun(*argv: str) -> str:
    """`torchrun --nproc-per-node 1 ARGV`'s stdout; RuntimeError with its last words if it fails."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--standalone", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


def torchrun(c: Check) -> str:
    """The CLI's supernet training under torchrun, then the DDP probe under torchrun.

    One process is world 1, which the library runs without a process group (`session` gives
    `SINGLE`), so the training proves the launch and the device mapping only; the probe then opens
    the NCCL (gloo) group itself and takes one DDP step of an NB201 network through it.
    """
    out = c.root / "ddp"
    _torchrun("-m", "archlatent", "supernet", "train", "--space", "nb201", *c.data_flags(), *c.size["nb201"],
              "--batch-size", str(c.size["batch"]), "--out", str(out))
    stats = json.loads((out / "supernet.json").read_text())["stats"]
    probe = json.loads(_torchrun(str(Path(__file__).resolve()), "--ddp-probe", "--device", c.device).splitlines()[-1])
    peak = stats.get("peak_memory_mb")
    return (f"{probe['backend']}: DDP step loss {probe['loss']:.3f}, all_reduce {probe['all_reduce']:.0f}; "
            f"supernet train {stats['steps']} steps" + (f", training peak {peak:.0f} MB" if peak else ""))


def ddp_probe(device: str) -> int:
    """Under torchrun: one DDP forward/backward of an NB201 network over NCCL (CUDA) or gloo (CPU),
    and an all_reduce; prints what it saw as one JSON line."""
    import torch
    import torch.distributed as dist
    from torch import nn

    from archlatent.oneshot.nets import standalone_network
    from archlatent.spaces import get_space

    cuda = device.startswith("cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    here = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(here)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        torch.manual_seed(0)
        net = standalone_network(get_space("nb201").parse(_cell("nb201")), C=4, N=1).to(here)
        model = nn.parallel.DistributedDataParallel(net, device_ids=[local] if cuda else None)
        x, y = torch.randn(8, 3, 32, 32, device=here), torch.randint(0, 10, (8,), device=here)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()  # DDP all-reduces the gradients through the group's backend
        total = torch.ones(1, device=here)
        dist.all_reduce(total)
        print(json.dumps({"backend": dist.get_backend(), "world": dist.get_world_size(), "loss": loss.item(),
                          "all_reduce": total.item()}))
    finally:
        dist.destroy_process_group()
    return 0


STEPS: list[tuple[str, Callable[[Check], str], tuple[str, ...]]] = [
    ("pretrain gin (nb201)", pretrain, ()),
    ("supernet train nb201", supernet("nb201"), ()),
    ("supernet eval nb201 (and on the CPU)", evaluate("nb201"), ("supernet nb201",)),
    ("supernet train darts", supernet("darts"), ()),
    ("supernet eval darts", evaluate("darts"), ("supernet darts",)),
    ("dnas: one step (nb201)", dnas, ()),
    ("train-final evaluation (nb201)", train_final, ()),
    ("search --executor ray", ray_search, ("supernet nb201",)),
    ("torchrun --nproc-per-node 1 (DDP)", torchrun, ()),
]

OPTIONAL = {"ray": "search --executor ray", "torchrun": "torchrun --nproc-per-node 1 (DDP)"}


def table(c: Check, device_name: str) -> str:
    """The check's one table (markdown), with the device and the CPU-vs-GPU agreement under it."""
    lines = ["| step | status | seconds | peak GPU memory (MiB) | note |", "|---|---|---|---|---|"]
    for r in c.rows:
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        note = r["note"].replace("|", "\\|")  # genotypes' pipes would split the markdown row
        lines.append(f"| {r['step']} | {r['status']} | {r['seconds']:.1f} | {peak} | {note} |")
    agreement = "not measured" if c.agreement is None else f"{c.agreement:.3f} points (limit {AGREEMENT_POINTS})"
    total = sum(r["seconds"] for r in c.rows)
    lines.append(f"\n{device_name}; {total:.0f} s in all; CPU-vs-GPU agreement of one supernet evaluation: {agreement}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for the dry form")
    parser.add_argument("--keep", type=Path, help="write the run folders here (default: a temporary folder)")
    parser.add_argument("--skip", default="", help="comma list of steps to leave out: ray, torchrun (the slow "
                                                   "starts; for a quick dry form)")
    parser.add_argument("--ddp-probe", action="store_true", help=argparse.SUPPRESS)  # run by the torchrun step
    args = parser.parse_args(argv)
    if args.ddp_probe:
        return ddp_probe(args.device)
    skipped = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skipped - set(OPTIONAL):
        parser.error(f"--skip takes {', '.join(OPTIONAL)}, not {', '.join(sorted(skipped - set(OPTIONAL)))}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device here (torch {torch.__version__}); --device cpu runs the dry form",
              file=sys.stderr)
        return 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the CLI runs; the caller's setting comes back at the end
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU (dry form)"
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        check = Check(args.device, root)
        for step_name, step, needs in STEPS:
            if any(OPTIONAL[k] == step_name for k in skipped):
                continue
            check.run(step_name, step, needs)
            print(f"gpu_check: {step_name}: {check.rows[-1]['status']}", file=sys.stderr, flush=True)
    torch.set_num_threads(threads)
    print(table(check, f"{name}, torch {torch.__version__}"))
    return 0 if all(r["status"] == "ok" for r in check.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
