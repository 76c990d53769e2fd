"""The one family of errors a user can fix.

Every error carries its whole message in ``str(e)``: the file, what was expected, what was
found, and the fix. The CLI turns each kind into one line on stderr and its own exit code.
"""

from __future__ import annotations


class DeepbrainError(Exception):
    """A failure the user can fix. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class AudioError(DeepbrainError):
    """A wav that cannot be read, or does not fit the model."""

    exit_code = 3


class FormatError(DeepbrainError):
    """A Kaldi file (nnet, matrix, vector, ark, option file) that is malformed."""

    exit_code = 4


class ModelError(DeepbrainError):
    """A model directory with missing or inconsistent files."""

    exit_code = 4


class InputError(DeepbrainError):
    """An input table (wav.scp, utt2spk, labels, transcripts) that is missing or malformed;
    the audio's exit code, as these name the audio."""

    exit_code = 3


class OutputError(DeepbrainError):
    """An output that cannot be written: not a directory, read-only, full, locked by another
    run, or already holding results (:class:`OutputExistsError`)."""

    exit_code = 5


class OutputExistsError(OutputError):
    """An output directory that already holds results."""


class KaldiError(DeepbrainError):
    """Kaldi is missing, or one of its steps failed."""

    exit_code = 6


class Cancelled(DeepbrainError):
    """The work was cancelled through its ``cancel`` hook."""

    exit_code = 130
