"""Errors of the training recipe: each one names what is wrong and the fix."""

from __future__ import annotations

from ..errors import DeepbrainError


class TrainingError(DeepbrainError):
    """A model that cannot be trained as asked (bad settings, labels that do not fit)."""

    exit_code = 9
