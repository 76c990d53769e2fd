"""A recording of any length opened for the window: one pass in pieces, then frames on demand.

The window cannot hold an hour's activations (3.7 GB through the demo model), so a long wav
is opened in one pass over its samples, a piece at a time (:func:`open_long`), keeping

- the samples at the model's rate as 16-bit integers (115 MB an hour), to play and to draw
  the detail under the playhead; the file is not read again, so a file cut or rewritten
  while the window shows it changes nothing;
- an overview of the waveform and spectrogram (:class:`deepbrain.overview.Overview`);
- the features (:func:`deepbrain.chain.extract`: 19 MB an hour of 13 MFCCs) and the
  utterance's CMVN statistics, from which :class:`deepbrain.chain.UtteranceComputer` computes
  any frames exactly (:class:`deepbrain.framecache.ComputedFrames`).

Which wavs are long is a matter of memory: those whose activations would take more than
:data:`deepbrain.framecache.WHOLE_BYTES` (:func:`is_long`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .artefacts import CancelHook, Progress, ProgressHook, check_cancel
from .audio import Audio, open_for_model
from .chain import UtteranceComputer, extract
from .errors import DeepbrainError
from .features import compute_cmvn_stats
from .framecache import WHOLE_BYTES, ComputedFrames, bytes_per_frame
from .model import Model
from .overview import Overview, OverviewData
from .wavfile import WavReader

ENGINE = "numpy chain, frames computed around the playhead"


@dataclass(frozen=True, eq=False)
class OpenedAudio:
    """A wav's samples at the model's rate (int16), and its overview."""

    samples: np.ndarray
    rate: int
    source: str
    overview: OverviewData

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.rate

    def audio(self) -> Audio:
        """As an :class:`~deepbrain.audio.Audio` (the samples are not copied)."""
        return Audio(self.samples, self.rate, self.source, as_on_disk=False)


def estimated_frames(model: Model, wav: str | os.PathLike) -> int:
    """The wav's frames at the model's rate, from its header alone."""
    with WavReader(wav, 0) as r:
        n = r.num_samples * model.sample_rate // r.sample_rate
    return model.mfcc.num_frames(n)


def is_long(model: Model, wav: str | os.PathLike, dims: dict[int, int],
            output_dim: int | None, limit: int = WHOLE_BYTES) -> bool:
    """Whether the wav's activations would take more than ``limit`` bytes. A wav whose header
    cannot be read is not long: computing it whole reports what is wrong with it."""
    try:
        frames = estimated_frames(model, wav)
    except DeepbrainError:
        return False
    return frames * bytes_per_frame(dims, output_dim) > limit


def read_pieces(model: Model, wav: str | os.PathLike, progress: ProgressHook | None = None,
                cancel: CancelHook | None = None, features: bool = True):
    """The one pass: (OpenedAudio, the utterance's Extracted features or None)."""
    from .pipeline import utterances_from_wavs

    path = Path(wav)
    utt_id = utterances_from_wavs([path])[0].utt_id
    with open_for_model(path, model.sample_rate, channel=0, allow_resample=True) as src:
        n = src.num_samples
        samples = np.empty(n, np.int16)
        overview = Overview(n, src.sample_rate)

        def pieces() -> Iterator[np.ndarray]:
            done = 0
            for piece in src.pieces():
                check_cancel(cancel)
                piece = piece[:n - done]
                samples[done:done + piece.shape[0]] = piece
                overview.accept(piece)
                done += piece.shape[0]
                if progress is not None:
                    progress(Progress("mfcc" if features else "read", done, n, utt_id))
                yield piece

        if features:
            extracted = extract(utt_id, pieces(), n, src.source, src.sample_rate, model)
        else:
            extracted = None
            for _ in pieces():
                pass
        opened = OpenedAudio(samples, src.sample_rate, src.source, overview.result())
    return opened, extracted


def open_long(model: Model, wav: str | os.PathLike, layers: Sequence[int], output: bool,
              progress: ProgressHook | None = None, cancel: CancelHook | None = None
              ) -> tuple[OpenedAudio, ComputedFrames]:
    """The wav read once; its frames then computed on request."""
    opened, extracted = read_pieces(model, wav, progress, cancel)
    check_cancel(cancel)
    stats = compute_cmvn_stats([extracted.feats]) if model.cmvn is not None else None
    computer = UtteranceComputer(model, extracted, stats, layers, output)
    dims = {k: model.hidden_dims[k - 1] for k in layers}
    return opened, ComputedFrames(computer, dims, model.nnet.output_dim if output else None,
                                  ENGINE, extracted.utt_id)
