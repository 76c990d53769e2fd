"""The pitch tracker behind compute-kaldi-pitch-feats, for :mod:`deepbrain.pitch`.

``OnlinePitchFeatureImpl`` (``src/feat/pitch-functions.cc``) and the two resamplers it uses
(``LinearResample``, ``ArbitraryResample``, ``src/feat/resample.cc``), each function named
after the Kaldi code it mirrors and kept to its arithmetic: ``BaseFloat`` expressions in
float32, anything with a ``double`` in float64 and rounded where Kaldi stores a float, BLAS
sums in OpenBLAS's order (:mod:`deepbrain.kaldi_blas`). The streaming structure is kept
because the offline tool runs it too: the waveform goes in as one chunk (or
``--frames-per-chunk`` chunks), the last frames come out when the input is flushed, and the
signal energy behind the NCCF ballast is the one known at each chunk.

Vectorised over frames and lags wherever that leaves the numbers unchanged. The Viterbi
recursion takes the exhaustive minimum over predecessors, which is the one Kaldi's pruned
search finds, except where a minimum is tied: there Kaldi's own search decides.
"""

from __future__ import annotations

import math
from math import gcd
from typing import TYPE_CHECKING

import numpy as np

from . import kaldi_blas as blas
from .errors import FormatError

if TYPE_CHECKING:
    from .pitch import PitchOptions

F32 = np.float32
F64 = np.float64
M_PI = 3.14159265358979323846  # as <cmath>; Kaldi's M_2PI is 2 * this (kaldi-math.h)
M_2PI = 6.283185307179586476925286766559005


def nccf_lag_range(opts: PitchOptions) -> tuple[int, int]:
    """OnlinePitchFeatureImpl's constructor: nccf_first_lag_, nccf_last_lag_ (in double)."""
    rf = float(F32(opts.resample_frequency))
    half = opts.upsample_filter_width / (2.0 * rf)
    outer_min = 1.0 / float(F32(opts.max_f0)) - half
    outer_max = 1.0 / float(F32(opts.min_f0)) + half
    return math.ceil(rf * outer_min), math.floor(rf * outer_max)


def select_lags(opts: PitchOptions) -> np.ndarray:
    """SelectLags(): 1/max-f0 .. 1/min-f0 in float, each times (1 + delta-pitch) in double."""
    lag, max_lag = F32(1.0 / float(F32(opts.max_f0))), F32(1.0 / float(F32(opts.min_f0)))
    ratio = 1.0 + float(F32(opts.delta_pitch))
    lags = []
    while lag <= max_lag and len(lags) <= 4000:
        lags.append(lag)
        lag = F32(float(lag) * ratio)
    return np.array(lags, dtype=F32)


def filter_func(t: F32, cutoff: F32, num_zeros: int) -> F32:
    """LinearResample::FilterFunc / ArbitraryResample::FilterFunc: Hanning-windowed sinc."""
    t, c = float(t), float(cutoff)
    if abs(t) < num_zeros / (2.0 * c):
        window = F32(0.5 * (1 + math.cos(M_2PI * c / num_zeros * t)))
    else:
        window = F32(0.0)
    filt = F32(math.sin(M_2PI * c * t) / (M_PI * t)) if t != 0 else F32(2.0 * c)
    return F32(filt * window)


class LinearResample:
    """LinearResample (resample.cc): the signal to resample-frequency, in streaming chunks."""

    def __init__(self, rate_in: int, rate_out: int, cutoff: F32, num_zeros: int):
        self.rate_in, self.rate_out, self.cutoff, self.num_zeros = \
            rate_in, rate_out, cutoff, num_zeros
        base = gcd(rate_in, rate_out)
        self.in_unit, self.out_unit = rate_in // base, rate_out // base
        width = num_zeros / (2.0 * float(cutoff))
        self.first_index, self.weights = [], []
        for i in range(self.out_unit):  # SetIndexesAndWeights
            out_t = i / float(rate_out)
            lo, hi = math.ceil((out_t - width) * rate_in), math.floor((out_t + width) * rate_in)
            self.first_index.append(lo)
            self.weights.append(np.array(
                [filter_func(F32((lo + j) / float(rate_in) - out_t), cutoff, num_zeros)
                 / F32(rate_in) for j in range(hi - lo + 1)], dtype=F32))
        self.remainder_len = math.ceil(F32(F32(rate_in * num_zeros) / cutoff))
        self.reset()

    def reset(self) -> None:
        self.in_offset, self.out_offset = 0, 0
        self.remainder = np.zeros(0, F32)

    def num_output_samples(self, num_in: int, flush: bool) -> int:
        tick = self.rate_in * self.rate_out // gcd(self.rate_in, self.rate_out)
        ticks = num_in * (tick // self.rate_in)
        if not flush:
            width = F32(self.num_zeros / (2.0 * float(self.cutoff)))
            ticks -= math.floor(F32(width * F32(tick)))
        if ticks <= 0:
            return 0
        per_out = tick // self.rate_out
        last = ticks // per_out
        if last * per_out == ticks:
            last -= 1
        return last + 1

    def resample(self, x: np.ndarray, flush: bool) -> np.ndarray:
        total_out = self.num_output_samples(self.in_offset + len(x), flush)
        samp_out = np.arange(self.out_offset, total_out, dtype=np.int64)
        out = np.zeros(len(samp_out), F32)
        unit = samp_out // self.out_unit
        wrapped = samp_out - unit * self.out_unit
        for w_idx in range(self.out_unit):
            sel = np.flatnonzero(wrapped == w_idx)
            w = self.weights[w_idx]
            first = self.first_index[w_idx] + unit[sel] * self.in_unit - self.in_offset
            inside = (first >= 0) & (first + len(w) <= len(x))
            rows, firsts = sel[inside], first[inside]
            for b in range(0, len(rows), 1 << 14):  # VecVec(input_part, weights)
                idx = firsts[b:b + (1 << 14), None] + np.arange(len(w))
                out[rows[b:b + (1 << 14)]] = blas.sdot(x[idx], w)
            for r, f in zip(sel[~inside], first[~inside]):  # the edge loop, in float
                out[r] = self._edge_sample(x, int(f), w)
        if flush:
            self.reset()
        else:
            self._set_remainder(x)
            self.in_offset += len(x)
            self.out_offset = total_out
        return out

    def _edge_sample(self, x: np.ndarray, first: int, w: np.ndarray) -> F32:
        acc, rem = F32(0.0), self.remainder
        for i, weight in enumerate(w):
            k = first + i
            if k < 0 and len(rem) + k >= 0:
                acc = F32(acc + weight * rem[len(rem) + k])
            elif 0 <= k < len(x):
                acc = F32(acc + weight * x[k])
        return acc

    def _set_remainder(self, x: np.ndarray) -> None:
        keep = np.concatenate([self.remainder, x])[-self.remainder_len:]
        self.remainder = np.concatenate([np.zeros(self.remainder_len - len(keep), F32), keep])


class ArbitraryResample:
    """ArbitraryResample (resample.cc): the NCCF from whole lags to the log-spaced lags."""

    def __init__(self, num_in: int, rate: F32, cutoff: F32, points: np.ndarray, zeros: int):
        width = F32(zeros / (2.0 * float(cutoff)))
        self.first, self.weights = [], []
        for t in points:  # SetIndexes, SetWeights
            lo = max(math.ceil(F32(rate * F32(t - width))), 0)
            hi = min(math.floor(F32(rate * F32(t + width))), num_in - 1)
            self.first.append(lo)
            self.weights.append(np.array(
                [filter_func(F32(t - F32(F32(lo + j) / rate)), cutoff, zeros) / rate
                 for j in range(hi - lo + 1)], dtype=F32))
        self.groups = {}
        for i, w in enumerate(self.weights):
            self.groups.setdefault(len(w), []).append(i)

    def resample(self, mat: np.ndarray) -> np.ndarray:
        """Resample(MatrixBase): one AddMatVec (sgemv) per output lag, here grouped by length."""
        out = np.empty((mat.shape[0], len(self.weights)), F32)
        for m, outs in self.groups.items():
            outs = np.array(outs)
            idx = np.array([self.first[i] for i in outs])[:, None] + np.arange(m)
            w = np.stack([self.weights[i] for i in outs])
            for b in range(0, mat.shape[0], 256):
                out[b:b + 256, outs] = blas.sgemv_t_rows(mat[b:b + 256][:, idx], w)
        return out


FRAME_BATCH = 256  # frames whose NCCFs are computed together


class PitchTracker:
    """OnlinePitchFeatureImpl: accept_waveform / input_finished, then frames() is the
    (NCCF, pitch) Kaldi's GetFrame gives. Frame -1 of Kaldi's frame_info_ is implicit."""

    def __init__(self, opts: PitchOptions):
        self.opts = opts
        rf = F32(opts.resample_frequency)
        self.first_lag, self.last_lag = nccf_lag_range(opts)
        self.basic, self.shift = opts.nccf_window_size, opts.nccf_window_shift
        self.full = self.basic + self.last_lag
        self.lags = select_lags(opts)
        self.resampler = LinearResample(int(F32(opts.sample_frequency)), int(rf),
                                         F32(opts.lowpass_cutoff), opts.lowpass_filter_width)
        offset = F32(F32(-self.first_lag) / rf)
        self.nccf_resampler = ArbitraryResample(
            self.last_lag + 1 - self.first_lag, rf, F32(float(rf) * 0.5),
            F32(self.lags + offset), opts.upsample_filter_width)
        self.viterbi = Viterbi(opts, self.lags)
        n = len(self.lags)
        self.forward_cost = np.zeros(n, F32)
        self.backpointers: list[np.ndarray] = []   # per frame, Kaldi's StateInfo.backpointer
        self.pov_nccf: list[np.ndarray] = []       # per frame, StateInfo.pov_nccf
        self.cur_best: list[int] = []
        self.ties: dict[int, tuple[np.ndarray, frozenset]] = {}  # frame -> (prev, states)
        self.nccf_info: list[list] = []            # [nccf_pitch_resampled, avg_norm_prod, ms]
        self.lag_state: list[int] = []
        self.lag_nccf: list[F32] = []
        self.latency = 0
        self.finished = False
        self.sumsq, self.sum, self.processed = 0.0, 0.0, 0
        self.signal = np.zeros(0, F32)  # the downsampled signal from sample signal_start on
        self.signal_start = 0
        self.remainder_start = 0

    # Kaldi: NumFramesReady, GetFrame
    def num_frames_ready(self) -> int:
        return len(self.lag_state) - self.latency

    def frames(self, start: int = 0, end: int | None = None) -> np.ndarray:
        end = self.num_frames_ready() if end is None else end
        states = np.array(self.lag_state[start:end], dtype=np.int64)
        out = np.empty((len(states), 2), F32)
        out[:, 0] = np.array(self.lag_nccf[start:end], dtype=F32)
        out[:, 1] = (1.0 / self.lags[states].astype(F64)).astype(F32)
        return out

    def input_finished(self) -> None:
        self.finished = True
        self.accept_waveform(np.zeros(0, F32))
        if len(self.backpointers) < self.opts.recompute_frame \
                and not self.opts.nccf_ballast_online:
            self._recompute_backtraces()
        self.latency = 0

    def _num_frames_available(self, num_samples: int) -> int:
        length = self.basic if self.finished else self.full
        if num_samples < length:
            return 0
        if self.opts.snip_edges:
            return (num_samples - length) // self.shift + 1
        if self.finished:
            return int(F32(F32(F32(num_samples) * F32(1.0)) / F32(self.shift)) + F32(0.5))
        x = F32(F32(num_samples - length // 2) * F32(1.0)) / F32(self.shift)
        return int(F32(x) + F32(0.5))

    def accept_waveform(self, wave: np.ndarray) -> None:
        down = self.resampler.resample(wave, flush=self.finished)
        dot, total = blas.sdot(down, down), blas.ssum(down)
        start_frame = len(self.backpointers)
        end_frame = self._num_frames_available(self.processed + len(down))
        before = self.processed
        self.signal = np.concatenate([self.signal, down])
        if end_frame == start_frame:
            self._update_remainder(down, dot, total, start_frame)
            return
        frames = np.arange(start_frame, end_frame)
        starts = self._frame_starts(frames)
        for start in starts:
            self._check_extract(int(start), self.full, before)
        ms = self._mean_square(starts, down, dot, total, before)
        ballast = ((ms * self.basic) ** 2 * float(F32(self.opts.nccf_ballast))).astype(F32)
        self._add_energy(down, dot, total)  # UpdateRemainder's sums, before the Viterbi
        # A batch of frames at a time: NCCFs for all of them at once would take ~10 KB a
        # frame; each frame's numbers are its own, so batches change nothing.
        for b in range(0, len(frames), FRAME_BATCH):
            part, part_starts = frames[b:b + FRAME_BATCH], starts[b:b + FRAME_BATCH]
            windows = self._extract(part_starts)
            inner, norm = _compute_correlation(windows, self.first_lag, self.last_lag,
                                               self.basic)
            nccf_pitch = _compute_nccf(inner, norm, ballast[b:b + FRAME_BATCH, None])
            nccf_pov = _compute_nccf(inner, norm, F32(0.0))
            avg_norm = blas.ssum(norm) / F32(norm.shape[1])
            pitch_res = self.nccf_resampler.resample(nccf_pitch)
            pov_res = self.nccf_resampler.resample(nccf_pov)
            for k, frame in enumerate(part):
                if frame < self.opts.recompute_frame:
                    self.nccf_info.append([pitch_res[k].copy(), F32(avg_norm[k]),
                                           F32(ms[b + k])])
                self._viterbi_frame(pitch_res[k], pov_res[k])
                if frame == self.opts.recompute_frame - 1 and not self.opts.nccf_ballast_online:
                    self._recompute_backtraces()
        self._drop_samples(start_frame)
        self._trace_back()

    def _frame_starts(self, frames: np.ndarray) -> np.ndarray:
        if self.opts.snip_edges:
            return frames * self.shift
        return ((frames + 0.5) * self.shift).astype(np.int64) - self.full // 2

    def _extract(self, starts: np.ndarray) -> np.ndarray:
        """ExtractFrame: windows of the downsampled signal, zeros outside it (the frames
        passed _check_extract first)."""
        end = self.signal_start + len(self.signal)
        idx = starts[:, None] + np.arange(self.full)
        ok = (idx >= 0) & (idx < end)  # and >= signal_start, or _check_extract raised
        rel = np.clip(idx - self.signal_start, 0, max(len(self.signal) - 1, 0))
        windows = np.where(ok, self.signal[rel], F32(0.0)).astype(F32)
        c = F32(self.opts.preemphasis_coefficient)
        if c != 0.0:
            # ExtractFrame recurses on the part of the window that holds signal, so at the
            # edges the pre-emphasis runs on that part alone, as if it were the whole window.
            lo = np.clip(-starts, 0, self.full)
            hi = np.clip(end - starts, 0, self.full)
            for k in np.flatnonzero((lo > 0) | (hi < self.full)):
                windows[k, lo[k]:hi[k]] = _preemphasize(windows[None, k, lo[k]:hi[k]], c)
            inner = (lo == 0) & (hi == self.full)
            windows[inner] = _preemphasize(windows[inner], c)
        return windows

    def _check_extract(self, start: int, length: int, before: int) -> None:
        """ExtractFrame's assertions, which make Kaldi give up on the utterance: with
        --snip-edges=false and small --frames-per-chunk a frame can lie wholly in samples
        it no longer keeps (recursing as it does on the part of a window that has signal)."""
        chunk = self.signal_start + len(self.signal) - before
        if start < 0:
            if length + start <= 0:
                raise _extract_failure(self.opts)
            return self._check_extract(0, length + start, before)
        offset = start - before
        if offset + length > chunk:
            if not self.finished or chunk - offset <= 0:
                raise _extract_failure(self.opts)
            return self._check_extract(start, chunk - offset, before)
        kept = max(before - self.remainder_start, 0)
        if offset < 0 and (kept + offset < 0 or offset + length <= 0):
            raise _extract_failure(self.opts)

    def _mean_square(self, starts, down, dot, total, before) -> np.ndarray:
        """The signal's mean square behind the NCCF ballast: over everything received so far,
        or with --nccf-ballast-online up to the end of each frame."""
        if not self.opts.nccf_ballast_online:
            n = self.processed + len(down)
            s, s2 = self.sum + float(total), self.sumsq + float(dot)
            return np.full(len(starts), s2 / n - (s / n) ** 2)
        n, s, s2, prev_end = self.processed, self.sum, self.sumsq, 0
        out = np.empty(len(starts))
        for k, start in enumerate(starts):
            end = min(int(start) + self.full - before, len(down))
            part = down[prev_end:end]
            n, prev_end = n + len(part), end
            s2 += float(blas.sdot(part, part))
            s += float(blas.ssum(part))
            out[k] = s2 / n - (s / n) ** 2
        return out

    def _update_remainder(self, down, dot, total, start_frame) -> None:
        """UpdateRemainder: the energy sums, and the signal kept from the first frame of this
        chunk on (the frames of the next chunk may need no earlier sample)."""
        self._add_energy(down, dot, total)
        self._drop_samples(start_frame)

    def _add_energy(self, down, dot, total) -> None:
        self.sumsq += float(dot)
        self.sum += float(total)
        self.processed += len(down)

    def _drop_samples(self, start_frame: int) -> None:
        self.remainder_start = start_frame * self.shift
        drop = min(self.remainder_start, self.processed) - self.signal_start
        if drop > 0:
            self.signal = self.signal[drop:]
            self.signal_start += drop

    def _viterbi_frame(self, nccf_pitch: np.ndarray, nccf_pov: np.ndarray) -> None:
        self.backpointers.append(None)
        self.pov_nccf.append(nccf_pov)
        self.cur_best.append(-1)
        self.forward_cost = self._step(len(self.backpointers) - 1, nccf_pitch,
                                       self.forward_cost)

    def _step(self, frame: int, nccf_pitch: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """One frame's ComputeBacktraces; the forward cost renormalised to a minimum of 0."""
        backpointer, cost, tied = self.viterbi.step(nccf_pitch, prev)
        self.backpointers[frame] = backpointer.astype(np.int16)  # < 4001 states
        self.cur_best[frame] = -1
        self.ties.pop(frame, None)
        if tied:
            self.ties[frame] = (prev.copy(), tied)
        return cost - cost.min()

    def _backpointer(self, frame: int, state: int) -> int:
        tie = self.ties.get(frame)
        if tie is not None and state in tie[1]:
            self.backpointers[frame] = self.viterbi.resolve(tie[0])
            del self.ties[frame]
        return int(self.backpointers[frame][state])

    def _trace_back(self) -> None:
        """SetBestState from the first best final state, then ComputeLatency."""
        state = int(np.argmin(self.forward_cost))
        n = len(self.backpointers)
        self.lag_state.extend([0] * (n - len(self.lag_state)))
        self.lag_nccf.extend([F32(0.0)] * (n - len(self.lag_nccf)))
        for f in range(n - 1, -1, -1):
            if state == self.cur_best[f]:
                break
            self.lag_state[f] = state
            self.cur_best[f] = state
            self.lag_nccf[f] = self.pov_nccf[f][state]
            state = self._backpointer(f, state)
        self.latency = self._compute_latency(self.opts.max_frames_latency)

    def _compute_latency(self, max_latency: int) -> int:
        if max_latency <= 0:
            return 0
        latency, lo, hi = 0, 0, len(self.lags) - 1
        f = len(self.backpointers) - 1
        while f >= -1 and latency < max_latency:
            lo, hi = (0, 0) if f == -1 else (self._backpointer(f, lo),
                                             self._backpointer(f, hi))
            if lo == hi:
                return latency
            f -= 1
            if f >= -1:
                latency += 1
        return latency

    def _recompute_backtraces(self) -> None:
        """RecomputeBacktraces: redo the first frames' Viterbi if the signal energy, and so
        the ballast, has changed by more than 1% since they were computed."""
        num_frames = len(self.backpointers)
        if num_frames == 0:
            return
        mean = self.sum / self.processed
        ms = F32(self.sumsq / self.processed - mean * mean)
        info = self.nccf_info
        if all(_approx_equal(i[2], ms, 0.01) for i in info):
            self.nccf_info = []
            return
        ballast = F32(float(F32(ms * F32(self.basic))) ** 2 * float(F32(self.opts.nccf_ballast)))
        cost = np.zeros(len(self.lags), F32)
        for frame, (nccf, avg, old_ms) in enumerate(info):
            old = F32(float(F32(old_ms * F32(self.basic))) ** 2 *
                      float(F32(self.opts.nccf_ballast)))
            scale = F32(math.sqrt(float(F32(F32(old + avg) / F32(ballast + avg)))))
            cost = self._step(frame, (nccf * scale).astype(F32), cost)
        self.forward_cost = cost
        self.nccf_info = []
        self._trace_back()


def _extract_failure(opts: PitchOptions) -> FormatError:
    return FormatError(
        f"compute-kaldi-pitch-feats fails an assertion in ExtractFrame with these options "
        f"(snip-edges={str(opts.snip_edges).lower()}, frames-per-chunk={opts.frames_per_chunk}) "
        f"and gives no pitch for such audio; use --frames-per-chunk=0 or a larger one")


def _preemphasize(w: np.ndarray, c: F32) -> np.ndarray:
    """w[i] -= c * w[i-1] from the end down, then w[0] *= (1.0 - c) in double."""
    out = w.copy()
    if out.shape[1]:
        out[:, 1:] = w[:, 1:] - c * w[:, :-1]
        out[:, 0] = (w[:, 0].astype(F64) * (1.0 - float(c))).astype(F32)
    return out


def _approx_equal(a: F32, b: F32, tol: float) -> bool:
    """kaldi-math.h ApproxEqual(float, float)."""
    if a == b:
        return True
    diff = F32(abs(F32(a - b)))
    if not np.isfinite(diff):
        return False
    return bool(diff <= F32(tol) * F32(abs(a) + abs(b)))


def _compute_correlation(windows: np.ndarray, first: int, last: int, basic: int):
    """ComputeCorrelation for every frame: the window's mean (over its first ``basic``
    samples) removed, then the dot products with itself shifted by each lag."""
    n_lags = last - first + 1
    inner = np.empty((len(windows), n_lags), F32)
    norm = np.empty((len(windows), n_lags), F32)
    block = max(1, 2_000_000 // (n_lags * basic))
    for b in range(0, len(windows), block):
        w = windows[b:b + block]
        mean = -blas.ssum(w[:, :basic]) / F32(basic)
        z = (w + mean[:, None]).astype(F32)
        z0 = z[:, :basic]
        shifted = np.lib.stride_tricks.sliding_window_view(z, basic, axis=1)[:, first:last + 1]
        e1 = blas.sdot(z0, z0)
        e2 = blas.sdot(shifted, shifted)
        inner[b:b + block] = blas.sdot(z0[:, None, :], shifted)
        norm[b:b + block] = e1[:, None] * e2
    return inner, norm


def _compute_nccf(inner: np.ndarray, norm: np.ndarray, ballast) -> np.ndarray:
    """ComputeNccf: inner / sqrt(e1 * e2 + ballast), 0 where that is 0."""
    den = np.sqrt((norm + ballast).astype(F32).astype(F64)).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, inner / den, F32(0.0)).astype(F32)


class Viterbi:
    """PitchFrameInfo::ComputeBacktraces: forward costs over the log-spaced lag states,
    float32 as Kaldi. The exhaustive minimum (numpy) is the one Kaldi's pruned search finds.
    Where a state's minimum is tied (common in silence: d(a) + d(b) = d(b) + d(a)), which
    predecessor Kaldi keeps depends on its search order; the forward costs are the same
    either way, so step() reports those states and the tracker runs Kaldi's search on the
    frame only if a traceback reads one of them."""

    def __init__(self, opts: PitchOptions, lags: np.ndarray):
        self.lags, self.soft = lags, F32(opts.soft_min_f0)
        delta_pitch_sq = F32(math.log(1.0 + float(F32(opts.delta_pitch))) ** 2)
        factor = F32(delta_pitch_sq * F32(opts.penalty_factor))
        k = np.arange(len(lags))
        self.dist = ((k[None, :] - k[:, None]) ** 2).astype(F32) * factor
        self.rows = k
        self.buf = np.empty_like(self.dist)

    def local_cost(self, nccf: np.ndarray) -> np.ndarray:
        """ComputeLocalCost: 1 - nccf + soft_min_f0 * lag * nccf, as Set, AddVec and
        AddVecVec compute it. AddVecVec is an sgbmv; threaded (OpenBLAS's default on a
        multi-core machine) it rounds each lag * nccf into a buffer and adds soft_min_f0
        times the buffer with saxpy."""
        return blas.saxpy(self.soft, self.lags * nccf, F32(1.0) - nccf)

    def step(self, nccf_pitch: np.ndarray, prev: np.ndarray):
        """(backpointers, forward costs, the states whose minimum is tied or None)."""
        cost = np.add(self.dist, prev[None, :], out=self.buf)
        backpointer = cost.argmin(axis=1)
        best = cost[self.rows, backpointer]
        tied = cost == best[:, None]
        tied_states = None
        if np.count_nonzero(tied) > len(best):
            tied_states = frozenset(np.flatnonzero(tied.sum(axis=1) > 1).tolist())
        return backpointer, (best + self.local_cost(nccf_pitch)).astype(F32), tied_states

    def resolve(self, prev: np.ndarray) -> np.ndarray:
        """The backpointers Kaldi's own search gives for a frame with ties."""
        return kaldi_pruned_search(self.dist + prev[None, :])[0]


def kaldi_pruned_search(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaldi's search for each state's best predecessor (the non-naive branch of
    ComputeBacktraces), on the matrix cost[i, j] = (j - i)^2 * factor + prev[j] it evaluates
    lazily: a greedy pass, then passes alternating direction that tighten each state's
    bounds until nothing changes. Slow (Python); used on tied rows and in the tests."""
    n = cost.shape[0]
    flat = memoryview(np.ascontiguousarray(cost, dtype=F32).reshape(-1))  # items are floats
    bp, best, lower, upper = [0] * n, [0.0] * n, [0] * n, [n - 1] * n
    last = 0
    for i in range(n):
        row = i * n
        b, c = last, flat[row + last]
        for j in range(last + 1, n):
            if flat[row + j] < c:
                b, c = j, flat[row + j]
            else:
                break
        bp[i], best[i], lower[i], last = b, c, b, b
    for it in range(n):
        changed = False
        backwards = it % 2 == 0
        last = n - 1 if backwards else 0
        for i in (range(n - 1, -1, -1) if backwards else range(n)):
            lo = lower[i] if backwards else max(last, lower[i])
            hi = min(last, upper[i]) if backwards else upper[i]
            if hi == lo or bp[i] == (hi if backwards else lo):
                last = lo if hi == lo else bp[i]
                continue
            row, b, c, first = i * n, bp[i], best[i], bp[i]
            for j in (range(hi, lo + 1, -1) if backwards else range(lo, hi - 1)):
                if flat[row + j] < c:
                    b, c = j, flat[row + j]
                elif (b > j) if backwards else (b < j):
                    break
            if backwards:
                upper[i] = b
            else:
                lower[i] = b
            if b != first:
                best[i], bp[i], changed = c, b, True
            last = b
        if not changed:
            break
    return np.array(bp, dtype=np.int64), np.array(best, dtype=F32)
