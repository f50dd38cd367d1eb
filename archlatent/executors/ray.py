"""The ``ray`` executor: each new architecture of an ask evaluated on a Ray worker (Moritz et al., OSDI 2018).

One Ray actor per worker holds the evaluator: it is put into the object store once and each actor
deserializes it once, so tables, datasets and supernet weights load once per worker, not per task.
Evaluations are actor tasks with the requested CPUs/GPUs; `ray.wait` hands results back in completion
order and an idle worker takes the next architecture. A worker that dies (kill -9, a lost node) is
restarted by Ray and its task retried by Ray (``max_task_retries``); a task that keeps killing its
worker, or an evaluator that raises, is reported for its architecture once the tasks already running
are in (they are paid for and get journaled). Ray is imported only when the executor is built, so this
module loads (and registers ``ray``) without Ray installed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Cost, Evaluator
from archlatent.executors.base import EXECUTORS, Executor, Outcome
from archlatent.genotype import Genotype

INSTALL = 'the ray executor needs Ray: pip install "archlatent[ray]"'


def _import_ray() -> Any:
    """The `ray` module, or one ArchLatentError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ArchLatentError(INSTALL) from None
    return ray


class EvaluatorWorker:
    """A Ray actor's body: one evaluator copy per worker process, answering one genotype per call.

    Each call names the evaluator by its object ref, inside a list so that Ray does not resolve it per
    call; the worker fetches it on its first call only (a restarted worker fetches it again).
    """

    def __init__(self) -> None:
        self._loaded: tuple[str, Evaluator] | None = None

    def evaluate(self, evaluator: list[Any], genotype: Genotype) -> tuple[dict[str, float], Cost]:
        """The metrics and what this one answer cost (the driver's cost counter adds it)."""
        import ray

        if self._loaded is None or self._loaded[0] != evaluator[0].hex():
            self._loaded = (evaluator[0].hex(), ray.get(evaluator[0]))
        copy = self._loaded[1]
        copy.cost = Cost()
        return copy.evaluate([genotype])[0], copy.cost

    def pid(self) -> int:
        """The worker's process id (for tests and the kill -9 benchmark)."""
        return os.getpid()


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Evaluates on Ray workers with `cpus_per_eval` CPUs and `gpus_per_eval` GPUs each.

    `address`: a running cluster (``ray start --head`` prints it; "auto" finds a local one); None uses
    the Ray this process has already started, else starts a local one sized for `workers`. `workers`:
    evaluations at once (default: as many as the cluster's resources allow). `max_retries`: how many
    times Ray re-runs an evaluation whose worker died. A Ray this executor started is shut down by
    `close`; one it found running is left alone.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_eval: float = 1.0,
        gpus_per_eval: float = 0.0,
        max_retries: int = 3,
    ) -> None:
        self._ray = ray = _import_ray()
        if workers is not None and (not is_int(workers) or workers < 1):
            raise ArchLatentError(f"ray executor: workers must be an integer >= 1, got {workers!r:.200}")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cpus_per_eval, gpus_per_eval))
        if not (numbers and cpus_per_eval > 0 and gpus_per_eval >= 0):
            raise ArchLatentError(f"ray executor: need cpus_per_eval > 0 and gpus_per_eval >= 0, "
                                  f"got {cpus_per_eval!r:.50} and {gpus_per_eval!r:.50}")
        if not is_int(max_retries) or max_retries < 0:
            raise ArchLatentError(f"ray executor: max_retries must be an integer >= 0, got {max_retries!r:.200}")
        self.cpus, self.gpus, self.max_retries = float(cpus_per_eval), float(gpus_per_eval), max_retries
        self._actors: list[Any] = []
        self._shipped: tuple[Evaluator, Any] | None = None  # the evaluator workers answer for, its object ref
        self._started = not ray.is_initialized()
        if self._started:
            self._start(address, workers)
        self.workers = self._fit(workers)

    @classmethod
    def check(cls) -> None:
        _import_ray()

    def _start(self, address: str | None, workers: int | None) -> None:
        """Connect to `address`, or start a local Ray with room for `workers` evaluations."""
        settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                    "logging_level": logging.WARNING}
        if address is None and workers is not None:
            settings["num_cpus"] = max(os.cpu_count() or 1, math.ceil(workers * self.cpus))
        try:
            self._ray.init(address=address, **settings)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ArchLatentError(f"ray executor: cannot start or reach Ray at {address or 'this machine'}: "
                                  f"{first[:200]}") from None

    def _fit(self, workers: int | None) -> int:
        """`workers`, or as many as the cluster holds; an error when even `workers` cannot all run."""
        have = self._ray.cluster_resources()
        fits = int(have.get("CPU", 0) // self.cpus)
        if self.gpus:
            fits = min(fits, int(have.get("GPU", 0) // self.gpus))
        wanted = workers or max(fits, 1)
        if wanted > fits:
            self.close()
            raise ArchLatentError(
                f"ray executor: {wanted} worker(s) of {self.cpus:g} CPU and {self.gpus:g} GPU each do not fit "
                f"the Ray cluster ({have.get('CPU', 0):g} CPU, {have.get('GPU', 0):g} GPU); lower --workers or "
                "the per-evaluation resources")
        return wanted

    def _ship(self, evaluator: Evaluator) -> Any:
        """The evaluator's object ref (put once); the workers are started on first use."""
        if self._shipped is None or self._shipped[0] is not evaluator:
            self._shipped = (evaluator, self._ray.put(evaluator))
        if not self._actors:
            actor = self._ray.remote(EvaluatorWorker).options(
                num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=-1, max_task_retries=self.max_retries
            )
            self._actors = [actor.remote() for _ in range(self.workers)]
        return self._shipped[1]

    def pids(self) -> list[int]:
        """Process ids of the current workers (empty before the first evaluation)."""
        return self._ray.get([a.pid.remote() for a in self._actors])

    def run(self, evaluator: Evaluator, genotypes: Sequence[Genotype]) -> Iterator[Outcome]:
        ray = self._ray
        shipped = [self._ship(evaluator)]
        idle = list(self._actors)
        todo = list(range(len(genotypes)))[::-1]  # popped from the end: ask order
        running: dict[Any, tuple[int, Any]] = {}
        failed: tuple[int, BaseException] | None = None
        while running or (todo and failed is None):
            while todo and idle and failed is None:
                index, worker = todo.pop(), idle.pop()
                running[worker.evaluate.remote(shipped, genotypes[index])] = (index, worker)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            index, worker = running.pop(ref)
            idle.append(worker)
            try:
                metrics, cost = ray.get(ref)
            except ray.exceptions.RayError as err:
                failed = failed or (index, self._reason(err))
                continue
            evaluator.cost.queries += cost.queries
            evaluator.cost.seconds += cost.seconds
            yield index, metrics
        if failed is not None:
            yield failed

    def _reason(self, err: Exception) -> BaseException:
        """The evaluator's own exception, or one line on a worker that kept dying."""
        ray = self._ray
        if isinstance(err, ray.exceptions.RayTaskError) and isinstance(err.cause, BaseException):
            return err.cause
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return ArchLatentError(f"its Ray worker died {self.max_retries + 1} time(s) running it "
                               f"({type(err).__name__}: {first[:200]})")

    def close(self) -> None:
        """Stop the workers; shut Ray down if this executor started it."""
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors, self._shipped = [], None
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
