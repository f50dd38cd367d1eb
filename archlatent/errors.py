"""The library's exception types: one base class, so callers and the CLI catch one thing."""

from __future__ import annotations


class ArchLatentError(Exception):
    """Base class of every error the library raises on bad input; the message names the input."""


class InvalidArchitecture(ArchLatentError, ValueError):
    """A genotype or its text breaks the rules of its search space."""


class UnknownName(ArchLatentError, KeyError):
    """A registry lookup (space, encoder, optimizer, dataset, column) found nothing by that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(ArchLatentError):
    """A benchmark table is missing, corrupt, or lacks what was asked of it."""


class CheckpointError(ArchLatentError):
    """A checkpoint is corrupt or belongs to another space or model."""
