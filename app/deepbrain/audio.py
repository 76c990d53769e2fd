"""Audio as the feature code sees it: mono samples on the 16-bit integer scale.

Kaldi (``feat/wave-reader.cc``) reads 16-bit PCM only and hands the MFCC code the integer
sample values as floats (not scaled to [-1, 1]). Wavs of other widths and float wavs are
converted to that same 16-bit scale, rounding to whole 16-bit values (:mod:`.wavfile`): the
converted audio is exactly what the Kaldi engine is given (as a 16-bit wav in its work dir),
so both engines see the same numbers. :func:`open_for_model` gives the samples in pieces, at
the model's rate, for audio of any length; :func:`read_wav` and :func:`load_for_model` give
them whole.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import AudioError
from .wavfile import WavReader, quantize16  # noqa: F401 (quantize16 is part of this API)


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono samples on the 16-bit integer scale, as float32.

    ``as_on_disk`` is True when ``source`` is a 16-bit PCM mono wav holding exactly these
    samples, so Kaldi can read the file itself; otherwise a converted copy must be written.
    """

    samples: np.ndarray
    sample_rate: int
    source: str
    as_on_disk: bool = True

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sample_rate


def read_wav(path: str | os.PathLike, channel: int | None = None) -> Audio:
    """Read a whole RIFF wav; pick ``channel`` (0-based) of a multi-channel file."""
    with WavReader(path, channel) as w:
        return Audio(np.concatenate(list(w.pieces())), w.sample_rate, w.source,
                     as_on_disk=w.as_on_disk)


MIN_RESAMPLE_RATE = 1000        # below this a header is wrong, not a recording
MAX_RESAMPLE_RATE = 768000      # the highest rate audio interfaces record at
MAX_RESAMPLED_SAMPLES = 1 << 28  # 4.7 hours at 16 kHz, 2 GiB as float64


def resample(audio: Audio, rate: int) -> Audio:
    """Polyphase resampling (scipy) to ``rate``, rounded to 16-bit values."""
    from scipy.signal import resample_poly

    check_resample(audio, rate)
    g = gcd(rate, audio.sample_rate)
    y = resample_poly(audio.samples.astype(np.float64), rate // g, audio.sample_rate // g)
    return Audio(quantize16(y), rate, audio.source, as_on_disk=False)


def check_resample(audio: Audio, rate: int) -> int:
    """The number of samples resampling to ``rate`` gives, computed before anything is
    allocated: a header's rate of 1 Hz makes an hour of audio from a second of samples
    (and resample_poly's filter grows with the rates), so absurd rates are refused."""
    n = check_rates(audio.sample_rate, rate, audio.samples.shape[0], audio.source)
    if n > MAX_RESAMPLED_SAMPLES:
        raise AudioError(f"{audio.source}: {audio.duration / 3600:.1f} hours of audio would be "
                         f"{n} samples at {rate} Hz, more than deepbrain takes at once "
                         f"({MAX_RESAMPLED_SAMPLES}); cut it into parts, e.g. with "
                         f"'sox {Path(audio.source).name} part.wav trim 0 3600 : newfile : "
                         f"restart'")
    return n


def check_rates(src: int, rate: int, num_samples: int, source: str) -> int:
    """Both rates sane; the number of samples at ``rate``."""
    lo, hi = MIN_RESAMPLE_RATE, MAX_RESAMPLE_RATE
    if not lo <= src <= hi:
        raise AudioError(f"{source}: its header says {src} Hz; deepbrain resamples from "
                         f"{lo}..{hi} Hz (a rate like that means the header is wrong): "
                         f"re-export the audio as a {rate} Hz wav")
    if not lo <= rate <= hi:
        raise AudioError(f"{source}: cannot resample to the model's {rate} Hz (deepbrain "
                         f"resamples to {lo}..{hi} Hz); convert the wav to {rate} Hz yourself")
    g = gcd(rate, src)
    return -(-num_samples * (rate // g) // (src // g))


class PolyphaseResampler:
    """``scipy.signal.resample_poly(x, up, down)`` (its Kaiser-windowed FIR, zeros beyond
    the ends) computed a piece at a time: each output sample from the input samples under
    its filter, so the pieces join into exactly the whole computation."""

    def __init__(self, rate_in: int, rate_out: int, num_samples: int):
        from scipy.signal import firwin

        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        half = 10 * max(self.up, self.down)
        h = firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
        pre_pad = self.down - half % self.down
        self.h = np.concatenate([np.zeros(pre_pad), h * self.up])
        self.pre_remove = (half + pre_pad) // self.down
        self.num_in = num_samples
        self.num_out = -(-num_samples * self.up // self.down)

    def run(self, pieces: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Resampled pieces, rounded to whole 16-bit values as :func:`resample` rounds."""
        buf, buf_start, given, made = np.zeros(0), 0, 0, 0
        for piece in pieces:
            buf = np.concatenate([buf, piece.astype(np.float64)])
            given += piece.shape[0]
            end = self.num_out if given >= self.num_in else \
                min(self.num_out, -(-given * self.up // self.down) - self.pre_remove)
            if end > made:
                yield quantize16(self._outputs(buf, buf_start, given, made, end))
                made = end
                keep = self._first_input(made)
                buf, buf_start = buf[keep - buf_start:], keep
        if made < self.num_out:
            yield quantize16(self._outputs(buf, buf_start, given, made, self.num_out))

    def _first_input(self, k: int) -> int:
        """The first input sample output ``k`` needs, rounded down to a multiple of
        ``down`` (so that the filter's phase is that of the whole computation)."""
        m = k + self.pre_remove
        lo = max(0, -(-(m * self.down - (self.h.size - 1)) // self.up))
        return lo // self.down * self.down

    def _outputs(self, buf, buf_start: int, given: int, k0: int, k1: int) -> np.ndarray:
        from scipy.signal import upfirdn

        m0, m1 = k0 + self.pre_remove, k1 + self.pre_remove
        i0 = self._first_input(k0)
        i1 = min(given, (m1 - 1) * self.down // self.up + 1)
        y = upfirdn(self.h, buf[i0 - buf_start:i1 - buf_start], self.up, self.down)
        off = i0 * self.up // self.down
        if y.size < m1 - off:
            y = np.concatenate([y, np.zeros(m1 - off - y.size)])
        return y[m0 - off:m1 - off]


@dataclass(frozen=True, eq=False)
class AudioSource:
    """An opened wav at the model's rate: ``pieces()`` gives its samples (16-bit scale)."""

    reader: WavReader
    sample_rate: int
    num_samples: int
    resampler: PolyphaseResampler | None = None

    @property
    def source(self) -> str:
        return self.reader.source

    def pieces(self) -> Iterator[np.ndarray]:
        pieces = self.reader.pieces()
        return self.resampler.run(pieces) if self.resampler is not None else pieces

    def __enter__(self) -> "AudioSource":
        return self

    def __exit__(self, *exc) -> None:
        self.reader.close()


def open_for_model(path: str | os.PathLike, sample_rate: int, channel: int | None = None,
                   allow_resample: bool = False) -> AudioSource:
    """A wav opened to be read in pieces at the model's rate (resampled when allowed)."""
    reader = WavReader(path, channel)
    try:
        if reader.sample_rate == sample_rate:
            return AudioSource(reader, sample_rate, reader.num_samples)
        if not allow_resample:
            raise AudioError(f"{path}: sample rate {reader.sample_rate} Hz, the model expects "
                             f"{sample_rate} Hz; pass --resample or convert with "
                             f"'sox {Path(path).name} -r {sample_rate} out.wav'")
        n = check_rates(reader.sample_rate, sample_rate, reader.num_samples, reader.source)
        return AudioSource(reader, sample_rate, n,
                           PolyphaseResampler(reader.sample_rate, sample_rate,
                                              reader.num_samples))
    except BaseException:
        reader.close()
        raise


def load_for_model(path: str | os.PathLike, sample_rate: int, channel: int | None = None,
                   allow_resample: bool = False) -> Audio:
    """Read a wav and make sure it is at the model's sample rate."""
    audio = read_wav(path, channel)
    if audio.sample_rate != sample_rate:
        if not allow_resample:
            raise AudioError(f"{path}: sample rate {audio.sample_rate} Hz, the model expects "
                             f"{sample_rate} Hz; pass --resample or convert with "
                             f"'sox {Path(path).name} -r {sample_rate} out.wav'")
        audio = resample(audio, sample_rate)
    return audio


def write_wav16(audio: Audio, path: str | os.PathLike) -> None:
    """Write 16-bit PCM mono (the samples must already be whole 16-bit values)."""
    pcm = np.clip(np.rint(audio.samples), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes(pcm)
