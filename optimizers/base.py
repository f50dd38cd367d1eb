"""The ask/tell contract every latent optimizer keeps (minimization), its registry and its error type.

An optimizer knows only tensors. One round is ``z = opt.ask()``, then the caller answers that ask in
full: either ``opt.tell(z, f, feasible)`` for all its rows, or ``opt.reject(rows)`` for rows it will
not evaluate (say they decode to an invalid or already seen architecture) and ``tell`` for the rest,
in their original order. The ``z`` given to ``tell`` is what the optimizer stores, so a search loop
may hand back the re-encoded ("remapped") latent point of the decoded architecture instead of the
asked one. Rejected rows count as infeasible; ``opt.withdraw(rows)`` closes rows with no answer at
all (a screen answered them only cheaply). ``seed`` injects points evaluated elsewhere.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.pareto import nondominated
from archlatent.registry import Registry


class OptimizerError(ArchLatentError, ValueError):
    """An optimizer was built with bad settings, or ask/tell/seed/reject broke the protocol or got bad tensors."""


class Optimizer(ABC):
    """Base class of the latent optimizers: checks the protocol and the tensors, keeps the told history.

    Subclasses implement `_ask` and `_tell`, and may override `_seed` (the default only records the
    seeded points in the history, so they count for `best` and `pareto_front` but steer nothing).
    Every random draw comes from the optimizer's own `rng` (numpy) or `generator` (torch).
    """

    name: ClassVar[str]
    multi_objective: ClassVar[bool] = False  # whether n_obj > 1 is supported
    # Whether a search loop should `reject` rows that decode to an already evaluated architecture rather than
    # tell their known value (NAO grows its steps on rejects; swarms and populations want the value).
    reject_repeats: ClassVar[bool] = False
    # The constructor setting that fixes how many points an ask holds, where its default is above one;
    # a portfolio divides it among its members (`member_settings`).
    batch_setting: ClassVar[str | None] = None
    batch_min: ClassVar[int] = 1

    @classmethod
    def member_settings(cls, settings: Mapping[str, Any], members: int) -> dict[str, Any]:
        """Settings for each of `members` optimizers that search side by side (one per autoencoder of a
        portfolio): `settings` with the batch setting, unless given, cut to ceil(default / members), so
        one round of the portfolio asks about as many points as one optimizer."""
        out = dict(settings)
        name = cls.batch_setting
        if members > 1 and name is not None and name not in out:
            default = inspect.signature(cls.__init__).parameters[name].default
            out[name] = cls._round_batch(math.ceil(default / members))
        return out

    @classmethod
    def _round_batch(cls, n: int) -> int:
        """The nearest allowed batch setting at or above `n`."""
        return max(cls.batch_min, n)

    def __init__(self, dim: int, *, n_obj: int = 1, seed: int | np.random.Generator | None = None) -> None:
        if not is_int(dim) or dim < 1:
            raise OptimizerError(f"dim must be a positive int, got {dim!r}")
        if not is_int(n_obj) or n_obj < 1:
            raise OptimizerError(f"n_obj must be a positive int, got {n_obj!r}")
        if n_obj > 1 and not self.multi_objective:
            raise OptimizerError(f"optimizer {type(self).__name__} is single-objective; got n_obj={n_obj}")
        self.dim = dim
        self.n_obj = n_obj
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        self._asked: Tensor | None = None  # the pending ask
        self._open: Tensor | None = None  # its rows not yet rejected, bool [k]
        self.withdrawn = torch.zeros(0, dtype=torch.bool)  # its rows withdrawn, bool [k]
        self._hist: list[tuple[Tensor, Tensor, Tensor]] = []

    def predict(self, z: Tensor) -> Tensor | None:
        """The optimizer's own model of the first objective at `z` (lower is better, any scale), or
        None where it keeps no such model or has not fitted it yet. Shapes: z [n, dim] -> [n]."""
        return None

    # ----- protocol -------------------------------------------------------------------------------

    def ask(self) -> Tensor:
        """Propose points to evaluate next; the previous ask must have been answered.

        Shapes: returns [k, dim] float32 (k may vary between asks and optimizers).
        """
        if self._asked is not None:
            raise OptimizerError("ask() called again before the previous ask was answered by tell()/reject()")
        z = self._ask().to(torch.float32)
        self._asked, self._open = z, torch.ones(z.shape[0], dtype=torch.bool)
        self.withdrawn = torch.zeros(z.shape[0], dtype=torch.bool)
        return z.clone()

    def reject(self, rows: Sequence[int] | Tensor) -> None:
        """Answer rows of the pending ask without evaluating them; they count as infeasible.

        Typical causes: the point decodes to an invalid or already evaluated architecture. After this,
        `tell` answers the remaining rows in their original order (none left: the ask is closed).
        Shapes: rows [r] int indices into the pending ask, or a bool mask [k].
        """
        self._close(rows, "reject")

    def withdraw(self, rows: Sequence[int] | Tensor) -> None:
        """Close rows of the pending ask with no answer at all (a screen answered them only cheaply).

        Like rejected rows they stay out of the history; they reach `_tell` as infeasible rows too,
        but marked in ``self.withdrawn`` [k], so an optimizer that keeps state per asked row may leave
        theirs alone (NAO: the start keeps its step). Shapes: as `reject`.
        """
        self._close(rows, "withdraw")

    def _close(self, rows: Sequence[int] | Tensor, who: str) -> None:
        if self._asked is None or self._open is None:
            raise OptimizerError(f"{who}() without a pending ask()")
        k = self._open.shape[0]
        idx = torch.as_tensor(rows).reshape(-1)
        if idx.dtype == torch.bool:
            if idx.shape != (k,):
                raise OptimizerError(f"{who}(): a bool mask must have shape [{k}], got {list(idx.shape)}")
            idx = idx.nonzero().flatten()
        elif idx.numel() and (idx.is_floating_point() or idx.is_complex()):
            raise OptimizerError(f"{who}(): rows must be integer indices or a bool mask, got {idx.dtype}")
        idx = idx.long()
        if idx.numel() and (idx.min() < 0 or idx.max() >= k):
            raise OptimizerError(f"{who}(): rows {idx.tolist()} out of range for an ask of {k} rows")
        if not bool(self._open[idx].all()):
            raise OptimizerError(f"{who}(): rows {idx.tolist()} include rows already rejected or withdrawn")
        self._open[idx] = False
        if who == "withdraw":
            self.withdrawn[idx] = True
        if not bool(self._open.any()):
            self._answer(torch.empty(0, self.dim), torch.empty(0, self.n_obj), torch.empty(0, dtype=torch.bool))

    def tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Answer the pending ask: objective values (minimized) and feasibility of its open rows.

        `z` is stored as given, so it may differ from the asked point (a remapped latent point).
        Infeasible rows count as worst; their `f` is ignored and may be NaN.
        Shapes: z [k, dim], f [k, n_obj], feasible [k] bool, with k the number of open rows.
        """
        if self._asked is None or self._open is None:
            raise OptimizerError("tell() without a pending ask(); use seed() to inject points evaluated elsewhere")
        z, f, feasible = self._check(z, f, feasible, "tell")
        n_open = int(self._open.sum())
        if z.shape[0] != n_open:
            raise OptimizerError(f"tell() got {z.shape[0]} rows but the pending ask has {n_open} open rows")
        self._answer(z, f, feasible)

    def seed(self, points: Tensor, f: Tensor, feasible: Tensor | None = None) -> None:
        """Warm start with points evaluated elsewhere (feasible unless `feasible` says otherwise).

        Shapes: points [n, dim], f [n, n_obj], feasible [n] bool.
        """
        if self._asked is not None:
            raise OptimizerError("seed() while an ask is pending; answer it first")
        if feasible is None:
            feasible = torch.ones(points.shape[0] if isinstance(points, Tensor) else 0, dtype=torch.bool)
        points, f, feasible = self._check(points, f, feasible, "seed")
        self._hist.append((points, f, feasible))
        self._seed(points, _worst(f, feasible), feasible)

    # ----- results --------------------------------------------------------------------------------

    def history(self) -> tuple[Tensor, Tensor, Tensor]:
        """Copies of every told and seeded point, in order (rejected rows are not in it).

        Shapes: returns z [n, dim], f [n, n_obj] (NaN stays NaN), feasible [n] bool.
        """
        z, f, feasible = self._history()
        return z.clone(), f.clone(), feasible.clone()

    def best(self) -> tuple[Tensor, Tensor] | None:
        """The best feasible point told so far (single-objective only); None before any.

        Shapes: returns z [dim], f [1].
        """
        if self.n_obj != 1:
            raise OptimizerError("best() is single-objective; use pareto_front()")
        z, f, feasible = self._history()
        if not bool(feasible.any()):
            return None
        i = int(torch.where(feasible, f[:, 0], torch.inf).argmin())
        return z[i].clone(), f[i].clone()

    def pareto_front(self) -> tuple[Tensor, Tensor]:
        """Feasible, mutually non-dominated told points (minimization).

        Shapes: returns z [p, dim], f [p, n_obj].
        """
        z, f, feasible = self._history()
        z, f = z[feasible], f[feasible]
        keep = torch.from_numpy(nondominated(f.double().numpy()))
        return z[keep], f[keep]

    # ----- for subclasses -------------------------------------------------------------------------

    @abstractmethod
    def _ask(self) -> Tensor:
        """Shapes: returns [k, dim]."""

    @abstractmethod
    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Answer to the whole last ask, rejected rows included (as the asked z, infeasible).

        Shapes: z [k, dim], f [k, n_obj] with +inf on infeasible rows, feasible [k] bool.
        """

    def _seed(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Steer the search with seeded points (already in the history); default: nothing more.

        Shapes: z [n, dim], f [n, n_obj] with +inf on infeasible rows, feasible [n] bool.
        """

    # ----- internals ------------------------------------------------------------------------------

    def _history(self) -> tuple[Tensor, Tensor, Tensor]:
        """The history itself (not copies), concatenated once. Shapes: as `history`."""
        if not self._hist:
            return torch.empty(0, self.dim), torch.empty(0, self.n_obj), torch.empty(0, dtype=torch.bool)
        if len(self._hist) > 1:
            zs, fs, masks = zip(*self._hist)
            self._hist = [(torch.cat(zs), torch.cat(fs), torch.cat(masks))]
        return self._hist[0]

    def _answer(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        asked, open_ = self._asked, self._open
        assert asked is not None and open_ is not None
        self._asked = self._open = None
        self._hist.append((z, f, feasible))
        full_z, full_f = asked.clone(), torch.full((asked.shape[0], self.n_obj), torch.inf)
        full_feasible = torch.zeros(asked.shape[0], dtype=torch.bool)
        full_z[open_], full_f[open_], full_feasible[open_] = z, _worst(f, feasible), feasible
        self._tell(full_z, full_f, full_feasible)

    def _check(self, z: Tensor, f: Tensor, feasible: Tensor, who: str) -> tuple[Tensor, Tensor, Tensor]:
        for label, t in (("z", z), ("f", f), ("feasible", feasible)):
            if not isinstance(t, Tensor):
                raise OptimizerError(f"{who}(): {label} must be a torch.Tensor, got {type(t).__name__}")
        k = z.shape[0] if z.dim() else -1
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise OptimizerError(f"{who}(): z must have shape [k, {self.dim}], got {list(z.shape)}")
        if f.shape != (k, self.n_obj):
            raise OptimizerError(f"{who}(): f must have shape [{k}, {self.n_obj}], got {list(f.shape)}")
        if feasible.shape != (k,) or feasible.dtype != torch.bool:
            raise OptimizerError(
                f"{who}(): feasible must be a bool tensor of shape [{k}], got {feasible.dtype} {list(feasible.shape)}"
            )
        if not (z.is_floating_point() and f.is_floating_point()):
            raise OptimizerError(f"{who}(): z and f must be floating point, got {z.dtype} and {f.dtype}")
        z, f, feasible = z.detach().to("cpu", torch.float32), f.detach().to("cpu", torch.float32), feasible.cpu()
        if not bool(torch.isfinite(z).all()):
            raise OptimizerError(f"{who}(): z has non-finite entries")
        bad = feasible & ~torch.isfinite(f).all(1)
        if bool(bad.any()):
            raise OptimizerError(f"{who}(): f is not finite on feasible rows {bad.nonzero().flatten().tolist()}")
        return z.clone(), f.clone(), feasible.clone()


def _worst(f: Tensor, feasible: Tensor) -> Tensor:
    """f with +inf on the infeasible rows. Shapes: f [k, n_obj], feasible [k] -> [k, n_obj]."""
    return torch.where(feasible[:, None], f, torch.inf)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer", provided=("dim", "n_obj", "seed"))
