"""archlatent: neural architecture search in a learned latent space.

The front door::

    from archlatent import SearchConfig, run_search
    result = run_search(SearchConfig(space="nb201", optimizer="nao", budget=100))

Names are imported on first use (PEP 562), so ``import archlatent`` (and ``archlatent --help``)
does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.9.0"

#: public name -> module that defines it
_EXPORTS = {
    "ArchBatch": "archlatent.batch",
    "ArchLatentError": "archlatent.errors",
    "CheckpointError": "archlatent.errors",
    "DataError": "archlatent.errors",
    "InvalidArchitecture": "archlatent.errors",
    "UnknownName": "archlatent.errors",
    "Cell": "archlatent.genotype",
    "Genotype": "archlatent.genotype",
    "SPACES": "archlatent.spaces",
    "SearchSpace": "archlatent.spaces",
    "get_space": "archlatent.spaces",
    "SearchConfig": "archlatent.config",
    "build": "archlatent.run",
    "run_search": "archlatent.run",
    "run_benchmark": "archlatent.benchmark",
    "SearchResult": "archlatent.search",
}

__all__ = [
    "SPACES",
    "ArchBatch",
    "ArchLatentError",
    "Cell",
    "CheckpointError",
    "DataError",
    "Genotype",
    "InvalidArchitecture",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "UnknownName",
    "__version__",
    "build",
    "get_space",
    "run_benchmark",
    "run_search",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'archlatent' has no attribute {name!r}")
