"""Small spectral measurements that place the label boundaries espeak's events get wrong.

All work on the 22050 Hz int16 synthesis output and return sample positions in it. Windows
are Hann; energies are in dB with a floor, so digital silence does not give -inf.
"""

from __future__ import annotations

import numpy as np

RATE = 22050
_NFFT = 256
_FLOOR_DB = -20.0  # dB of a power far below any sound espeak makes (int16 scale)
# 12 bands, geometric from 100 Hz to 8 kHz: the "log band energies" of the split search
_SPLIT_EDGES = np.geomspace(100.0, 8000.0, 13)


def ms_to_samples(ms: float) -> int:
    """Milliseconds as a whole number of 22050 Hz samples."""
    return int(round(ms * RATE / 1000.0))


_ms = ms_to_samples


def _frames(x: np.ndarray, start: int, end: int, win: int, hop: int):
    """Power spectra of Hann windows inside [start, end), and their centre samples."""
    start, end = max(start, 0), min(end, len(x))
    if end - start < win:
        return np.zeros((0, _NFFT // 2 + 1)), np.zeros(0, dtype=np.int64)
    seg = x[start:end].astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(seg, win)[::hop] * np.hanning(win)
    nfft = max(_NFFT, 1 << (win - 1).bit_length())
    power = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2
    centres = start + win // 2 + hop * np.arange(frames.shape[0])
    return power, centres


def _band(power: np.ndarray, lo_hz: float, hi_hz: float) -> np.ndarray:
    """dB of the power between lo_hz and hi_hz, per frame."""
    freqs = np.arange(power.shape[1]) * RATE / (2.0 * (power.shape[1] - 1))
    keep = (freqs >= lo_hz) & (freqs < hi_hz)
    return np.maximum(10 * np.log10(power[:, keep].sum(axis=1) + 1e-12), _FLOOR_DB)


def band_db(x: np.ndarray, start: int, end: int, lo_hz: float, hi_hz: float,
            win_ms: float = 10.0, hop_ms: float = 1.0):
    """Band energy (dB) of frames inside [start, end), with the frames' centre samples."""
    power, centres = _frames(x, start, end, _ms(win_ms), max(_ms(hop_ms), 1))
    return _band(power, lo_hz, hi_hz), centres


def best_split(x: np.ndarray, start: int, end: int, lo: float, hi: float) -> int:
    """The point of largest spectral change in [start, end), limited to the fractions
    [lo, hi] of the segment: the least-squares split of 12 log band energies (10 ms windows,
    2 ms hop) into two constant parts. Falls back to the middle of [lo, hi] when the segment
    is too short to measure (< 20 ms)."""
    length = end - start
    fallback = start + int(round(length * (lo + hi) / 2))
    power, centres = _frames(x, start, end, _ms(10), _ms(2))
    if len(centres) < 4:
        return fallback
    feats = np.stack([_band(power, a, b) for a, b in zip(_SPLIT_EDGES[:-1], _SPLIT_EDGES[1:])],
                     axis=1)
    cands = [j for j in range(1, len(centres))
             if start + lo * length <= (centres[j - 1] + centres[j]) / 2 <= start + hi * length]
    if not cands:
        return fallback
    costs = [_sse(feats[:j]) + _sse(feats[j:]) for j in cands]
    j = cands[int(np.argmin(costs))]
    return int((centres[j - 1] + centres[j]) // 2)


def _sse(feats: np.ndarray) -> float:
    return float(((feats - feats.mean(axis=0)) ** 2).sum())


def onset_rise(x: np.ndarray, boundary: int, floor: int, min_rise_db: float = 6.0,
               span_ms: float = 50.0) -> int:
    """Where a vowel's onset really starts before ``boundary``: the half-way point of the
    300–3000 Hz energy rise within the last ``span_ms`` (not before ``floor``), if the rise is
    at least ``min_rise_db``; otherwise ``boundary`` unchanged.

    20 ms windows (1 ms hop) smooth out the pitch-period ripple a 10 ms window shows at low
    pitch. The rise goes from the lowest energy in the span to the highest around the
    boundary; the new boundary is the last crossing of its middle before ``boundary``.
    """
    lo_edge = max(floor, boundary - _ms(span_ms))
    e, centres = band_db(x, lo_edge - _ms(10), boundary + _ms(20), 300.0, 3000.0, win_ms=20.0)
    before = (centres >= lo_edge) & (centres <= boundary)
    around = (centres >= boundary - _ms(5)) & (centres <= boundary + _ms(10))
    if not before.any() or not around.any():
        return boundary
    low, high = float(e[before].min()), float(e[around].max())
    if high - low < min_rise_db:
        return boundary
    below = np.flatnonzero(before & (e < (low + high) / 2))
    k = int(below[-1]) + 1
    return int(min(max(centres[k], floor), boundary))


def release(x: np.ndarray, start: int, end: int, min_rise_db: float = 15.0) -> int | None:
    """A voiced stop's release in [start, end): the largest rise (>= ``min_rise_db``) of
    2–8 kHz energy over 5 ms (5 ms windows, 1 ms hop), or None if there is none."""
    e, centres = band_db(x, start, end, 2000.0, 8000.0, win_ms=5.0, hop_ms=1.0)
    d = 5
    if len(e) <= d:
        return None
    rise = e[d:] - e[:-d]
    k = int(np.argmax(rise))
    if rise[k] < min_rise_db:
        return None
    return int((centres[k] + centres[k + d]) // 2)


def zero_runs(x: np.ndarray, min_ms: float = 5.0, max_abs: int = 2) -> list[tuple[int, int]]:
    """Runs of |x| <= max_abs lasting at least min_ms, as [start, end) sample pairs: espeak's
    pauses, word gaps and stop closures are exact digital zeros."""
    quiet = np.abs(x.astype(np.int32)) <= max_abs
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = ends - starts >= min_ms * RATE / 1000.0
    return list(zip(starts[keep].tolist(), ends[keep].tolist()))
