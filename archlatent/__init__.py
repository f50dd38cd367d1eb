"""archlatent: neural architecture search in a learned latent space."""

from archlatent.batch import ArchBatch
from archlatent.errors import ArchLatentError, CheckpointError, DataError, InvalidArchitecture, UnknownName
from archlatent.genotype import Cell, Genotype
from archlatent.spaces import SPACES, SearchSpace, get_space

__version__ = "0.1.0"

__all__ = [
    "SPACES",
    "ArchBatch",
    "ArchLatentError",
    "Cell",
    "CheckpointError",
    "DataError",
    "Genotype",
    "InvalidArchitecture",
    "SearchSpace",
    "UnknownName",
    "__version__",
    "get_space",
]
