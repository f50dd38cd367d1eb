"""Search spaces, one file each, registered by name in `SPACES`."""

from archlatent.spaces import (
    darts,  # noqa: F401  (registers)
    nb101,  # noqa: F401  (registers)
    nb201,  # noqa: F401  (registers)
    nbgraph,  # noqa: F401  (registers)
)
from archlatent.spaces.base import SPACES, SearchSpace

__all__ = ["SPACES", "SearchSpace", "get_space"]


def get_space(name: str) -> SearchSpace:
    """A fresh instance of the space registered as `name`."""
    return SPACES.get(name)()
