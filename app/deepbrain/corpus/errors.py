"""Errors of the corpus generator: each one names what is wrong and the fix."""

from __future__ import annotations

from ..errors import DeepbrainError

INSTALL_ESPEAK = "apt-get install espeak-ng libespeak-ng1"


class CorpusError(DeepbrainError):
    """A corpus that cannot be made as asked (bad arguments, missing sentence source)."""

    exit_code = 7


class EspeakError(CorpusError):
    """libespeak-ng or its data is missing, or it refused a voice or a text."""

    exit_code = 8
