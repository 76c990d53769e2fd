"""The waveform and spectrogram an utterance is drawn with, reduced to a few thousand columns.

The window draws an utterance as min/max per column for the waveform and a hop that gives at
most ``columns`` spectra, so an hour of audio draws as fast as a second of it.
:func:`envelope` and :func:`spectrogram_db` reduce samples held whole; :class:`Overview`
computes the same numbers from the samples given in pieces (the first pass over a long
file), so the hour is never held as floats. Its columns equal the whole computation's (the
same windows of the same samples, the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_COLUMNS = 3000
N_FFT = 512
FLOOR_DB = 80.0


def envelope(samples: np.ndarray, rate: int, columns: int = MAX_COLUMNS
             ) -> tuple[np.ndarray, np.ndarray]:
    """x (seconds) and y pairs drawing each column's min..max as a vertical line."""
    n = samples.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros(0)
    per, cols = _columns(n, columns)
    padded = np.pad(samples.astype(np.float32), (0, cols * per - n), mode="edge")
    blocks = padded.reshape(cols, per)
    return _pairs(blocks.min(axis=1), blocks.max(axis=1), per, rate)


def spectrogram_db(samples: np.ndarray, rate: int, columns: int = MAX_COLUMNS,
                   n_fft: int = N_FFT, floor_db: float = FLOOR_DB) -> tuple[np.ndarray, float]:
    """Power spectra in dB (columns x n_fft/2+1, at most ``floor_db`` below the peak) and the
    seconds between columns."""
    x = samples.astype(np.float32)
    if x.shape[0] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[0]))
    hop = spectrogram_hop(x.shape[0], rate, columns, n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return _floor(_power_db(frames, n_fft), floor_db), hop / rate


def spectrogram_hop(num_samples: int, rate: int, columns: int = MAX_COLUMNS,
                    n_fft: int = N_FFT) -> int:
    """Samples between spectra: 10 ms, or more so that there are at most ``columns``."""
    n = max(num_samples, n_fft)
    return max(rate // 100, int(np.ceil((n - n_fft + 1) / columns)))


def _columns(n: int, columns: int) -> tuple[int, int]:
    per = max(1, int(np.ceil(n / columns)))
    return per, int(np.ceil(n / per))


def _pairs(lo: np.ndarray, hi: np.ndarray, per: int, rate: int
           ) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(lo.shape[0]) * per + per / 2.0) / rate
    return np.repeat(t, 2), np.column_stack([lo, hi]).ravel() / 32768.0


def _power_db(frames: np.ndarray, n_fft: int) -> np.ndarray:
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    return 10.0 * np.log10(power + 1e-3)


def _floor(db: np.ndarray, floor_db: float) -> np.ndarray:
    if db.size:
        db = np.maximum(db, db.max() - floor_db)
    return db.astype(np.float32)


@dataclass(frozen=True, eq=False)
class OverviewData:
    """What the strip draws: waveform pairs, spectra in dB, their hop and the duration."""

    x: np.ndarray
    y: np.ndarray
    db: np.ndarray
    hop_seconds: float
    duration: float
    rate: int


def overview_of(samples: np.ndarray, rate: int, columns: int = MAX_COLUMNS) -> OverviewData:
    """The overview of samples held whole."""
    x, y = envelope(samples, rate, columns)
    db, hop = spectrogram_db(samples, rate, columns)
    return OverviewData(x, y, db, hop, samples.shape[0] / rate, rate)


class Overview:
    """:func:`envelope` and :func:`spectrogram_db` of ``num_samples`` samples given in pieces
    (:meth:`accept`), in memory of a few thousand columns."""

    def __init__(self, num_samples: int, rate: int, columns: int = MAX_COLUMNS,
                 n_fft: int = N_FFT):
        self.n, self.rate, self.n_fft = num_samples, rate, n_fft
        self.per, cols = _columns(max(num_samples, 1), columns)
        self._lo = np.full(cols, np.inf, np.float32)
        self._hi = np.full(cols, -np.inf, np.float32)
        self.hop = spectrogram_hop(num_samples, rate, columns, n_fft)
        span = max(num_samples, n_fft)
        self._spectra = np.empty(((span - n_fft) // self.hop + 1, n_fft // 2 + 1), np.float32)
        self._made = 0                      # spectra done
        self._tail = np.zeros(0, np.float32)  # samples a later spectrum still needs
        self._tail_start = 0
        self.given = 0

    def accept(self, piece: np.ndarray) -> None:
        x = np.asarray(piece, np.float32)
        if x.shape[0] == 0:
            return
        start, end = self.given, min(self.given + x.shape[0], self.n)
        x = x[:end - start]
        self.given = end
        self._envelope(x, start)
        self._spectrogram(x, start)

    def _envelope(self, x: np.ndarray, start: int) -> None:
        per = self.per
        first, last = start // per, (start + x.shape[0] - 1) // per
        cuts = np.arange(first + 1, last + 1) * per - start
        bounds = np.concatenate([[0], cuts]).astype(np.intp)
        cols = slice(first, last + 1)
        self._lo[cols] = np.minimum(self._lo[cols], np.minimum.reduceat(x, bounds))
        self._hi[cols] = np.maximum(self._hi[cols], np.maximum.reduceat(x, bounds))

    def _spectrogram(self, x: np.ndarray, start: int) -> None:
        buf = np.concatenate([self._tail, x])
        buf_start = self._tail_start
        total = self._spectra.shape[0]
        end = buf_start + buf.shape[0]
        if end >= self.n and end < self.n_fft:      # a short utterance is padded with zeros
            buf = np.pad(buf, (0, self.n_fft - end))
            end = self.n_fft
        last = min(total, (end - self.n_fft) // self.hop + 1) if end >= self.n_fft else 0
        if last > self._made:
            offsets = np.arange(self._made, last) * self.hop - buf_start
            frames = np.lib.stride_tricks.sliding_window_view(buf, self.n_fft)[offsets]
            self._spectra[self._made:last] = _power_db(frames, self.n_fft)
            self._made = last
        keep = self._made * self.hop
        self._tail = buf[max(0, keep - buf_start):].copy()
        self._tail_start = min(max(keep, buf_start), end)

    @property
    def done(self) -> bool:
        return self.given >= self.n

    def result(self) -> OverviewData:
        """The overview (all samples must have been given)."""
        if not self.done:
            raise ValueError(f"{self.given} of {self.n} samples given")
        if self._made < self._spectra.shape[0]:     # fewer samples than one FFT: zeros
            self._spectrogram(np.zeros(0, np.float32), self.given)
        x, y = _pairs(self._lo, self._hi, self.per, self.rate) if self.n else \
            (np.zeros(0), np.zeros(0))
        db = _floor(self._spectra[:self._made], FLOOR_DB)
        return OverviewData(x, y, db, self.hop / self.rate, self.n / self.rate, self.rate)
