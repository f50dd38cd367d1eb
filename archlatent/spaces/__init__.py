"""Search spaces, one file each, registered by name in `SPACES`."""

from archlatent.registry import import_plugins
from archlatent.spaces.base import SPACES, SearchSpace

__all__ = ["SPACES", "SearchSpace", "get_space"]


def get_space(name: str) -> SearchSpace:
    """A fresh instance of the space registered as `name`."""
    return SPACES.get(name)()


import_plugins(__name__, __path__)  # registers every file's space (last: some import get_space)
