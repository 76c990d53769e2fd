"""Kaldi's pitch features: compute-kaldi-pitch-feats, process-kaldi-pitch-feats, paste-feats.

A port of ``src/feat/pitch-functions.cc`` (Ghahremani et al., ICASSP 2014) and of the two
resamplers it uses (``src/feat/resample.cc``), kept to Kaldi's own float32 arithmetic so the
numbers are Kaldi's, not merely close to them. That matters more here than for MFCCs: the
pitch column comes out of a Viterbi search over ~400 lag states, and a cost one float32 ulp
off can flip a near-tie and move the pitch of a whole stretch by one lag.

So each sum Kaldi hands to its BLAS (``VecVec``, ``Sum``, ``AddMatVec``, ``AddVecVec``) is
summed here in the order OpenBLAS's kernels sum it (:mod:`deepbrain.kaldi_blas`: OpenBLAS
0.3.x on x86-64 with AVX2, the BLAS Kaldi's ``configure`` picks on Linux); every other
expression is evaluated in the precision C++ evaluates it in (a ``BaseFloat`` expression in
float32, anything involving a ``double`` literal in float64, then rounded where Kaldi stores it
in a ``BaseFloat``). The streaming structure of ``OnlinePitchFeatureImpl`` is kept as well,
because the offline tool runs it too: the waveform goes in as one chunk (or as
``--frames-per-chunk`` chunks), the last frames come out when the input is flushed, and the
signal energy behind the NCCF "ballast" is the one known at each chunk.
Vectorised over frames and lags wherever that leaves the numbers unchanged; the Viterbi
recursion is exhaustive (the minimum over all predecessors, which Kaldi's pruned search also
finds) with Kaldi's own pruned search for frames where two predecessors tie exactly.
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import dataclass, fields
from math import gcd

import numpy as np

from . import kaldi_blas as blas
from .errors import AudioError, FormatError
from .options import parse_args, read_config_file

F32 = np.float32
F64 = np.float64
M_PI = 3.14159265358979323846  # as <cmath>; Kaldi's M_2PI is 2 * this (kaldi-math.h)
M_2PI = 6.283185307179586476925286766559005


# --------------------------------------------------------------------------- options

@dataclass(frozen=True)
class PitchOptions:
    """compute-kaldi-pitch-feats options (``PitchExtractionOptions``), Kaldi's defaults."""

    sample_frequency: float = 16000.0
    frame_shift: float = 10.0
    frame_length: float = 25.0
    preemphasis_coefficient: float = 0.0
    min_f0: float = 50.0
    max_f0: float = 400.0
    soft_min_f0: float = 10.0
    penalty_factor: float = 0.1
    lowpass_cutoff: float = 1000.0
    resample_frequency: float = 4000.0
    delta_pitch: float = 0.005
    nccf_ballast: float = 7000.0
    lowpass_filter_width: int = 1
    upsample_filter_width: int = 5
    max_frames_latency: int = 0
    frames_per_chunk: int = 0
    simulate_first_pass_online: bool = False
    recompute_frame: int = 500
    nccf_ballast_online: bool = False
    snip_edges: bool = True

    def __post_init__(self):
        _check_finite(self)
        if self.sample_frequency < 1 or self.resample_frequency < 1:
            raise ValueError("sample-frequency and resample-frequency must be at least 1 Hz")
        if not 0 < 2 * self.lowpass_cutoff <= min(int(self.sample_frequency),
                                                  int(self.resample_frequency)):
            raise ValueError(f"lowpass-cutoff {self.lowpass_cutoff:g} must be above 0 and at "
                             f"most half of sample-frequency and of resample-frequency")
        if not 0 < self.min_f0 < self.max_f0:
            raise ValueError(f"need 0 < min-f0 < max-f0, got min-f0={self.min_f0:g} "
                             f"max-f0={self.max_f0:g}")
        if self.delta_pitch <= 0 or self.nccf_ballast < 0 or self.penalty_factor < 0:
            raise ValueError("delta-pitch must be > 0, nccf-ballast and penalty-factor >= 0")
        if self.lowpass_filter_width < 1 or self.upsample_filter_width < 1:
            raise ValueError("lowpass-filter-width and upsample-filter-width must be >= 1")
        if self.max_frames_latency < 0 or self.frames_per_chunk < 0:
            raise ValueError("max-frames-latency and frames-per-chunk must be >= 0")
        if self.frame_shift <= 0 or self.frame_length <= 0 or self.nccf_window_shift < 1 \
                or self.nccf_window_size < 1:
            raise ValueError(f"frame-length and frame-shift must give at least one sample at "
                             f"resample-frequency {self.resample_frequency:g} Hz")
        if self.simulate_first_pass_online and self.frames_per_chunk == 0:
            raise ValueError("simulate-first-pass-online needs frames-per-chunk > 0 (as Kaldi)")
        if self.frames_per_chunk and self.samples_per_chunk < 1:
            raise ValueError(f"frames-per-chunk {self.frames_per_chunk} gives chunks of no "
                             f"samples")
        if _nccf_lag_range(self)[0] < 0:
            raise ValueError(f"max-f0 {self.max_f0:g} is too high for resample-frequency "
                             f"{self.resample_frequency:g} and upsample-filter-width "
                             f"{self.upsample_filter_width}")
        if len(_select_lags(self)) > 4000:
            raise ValueError(f"delta-pitch {self.delta_pitch:g} gives over 4000 lag states "
                             f"between min-f0 and max-f0; use a larger delta-pitch")

    @property
    def nccf_window_size(self) -> int:
        """NccfWindowSize(): the basic window in samples after resampling."""
        return int(float(F32(self.resample_frequency) * F32(self.frame_length)) / 1000.0)

    @property
    def nccf_window_shift(self) -> int:
        return int(float(F32(self.resample_frequency) * F32(self.frame_shift)) / 1000.0)

    @property
    def samples_per_chunk(self) -> int:
        """ComputeKaldiPitch's chunk: frames_per_chunk * samp_freq * frame_shift_ms / 1000.0f."""
        x = F32(self.frames_per_chunk) * F32(self.sample_frequency) * F32(self.frame_shift)
        return int(F32(x) / F32(1000.0))


@dataclass(frozen=True)
class ProcessPitchOptions:
    """process-kaldi-pitch-feats options (``ProcessPitchOptions`` and the tool's ``--srand``),
    Kaldi's defaults: (pov, normalized log-pitch, delta log-pitch), noise on the delta."""

    pitch_scale: float = 2.0
    pov_scale: float = 2.0
    pov_offset: float = 0.0
    delta_pitch_scale: float = 10.0
    delta_pitch_noise_stddev: float = 0.005
    normalization_left_context: int = 75
    normalization_right_context: int = 75
    delta_window: int = 2
    delay: int = 0
    add_pov_feature: bool = True
    add_normalized_log_pitch: bool = True
    add_delta_pitch: bool = True
    add_raw_log_pitch: bool = False
    srand: int = 0

    def __post_init__(self):
        _check_finite(self)
        if self.delta_pitch_noise_stddev < 0:
            raise ValueError("delta-pitch-noise-stddev must be >= 0")
        if self.normalization_left_context < 0 or self.normalization_right_context < 0 \
                or self.delay < 0:
            raise ValueError("normalization contexts and delay must be >= 0")
        if self.add_delta_pitch and not 0 < self.delta_window < 1000:
            raise ValueError(f"delta-window {self.delta_window} must be 1..999 (as Kaldi)")
        if self.dim == 0:
            raise ValueError("no output: set at least one of add-pov-feature, "
                             "add-normalized-log-pitch, add-delta-pitch, add-raw-log-pitch")

    @property
    def dim(self) -> int:
        return sum((self.add_pov_feature, self.add_normalized_log_pitch, self.add_delta_pitch,
                    self.add_raw_log_pitch))


def _check_finite(opts) -> None:
    for f in fields(opts):
        v = getattr(opts, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"--{f.name.replace('_', '-')}={v} is not a finite number")
        if isinstance(v, float) and not np.isfinite(F32(v)):
            raise ValueError(f"--{f.name.replace('_', '-')}={v} does not fit a float")
        if isinstance(v, int) and not isinstance(v, bool) and not -2**31 <= v < 2**31:
            raise ValueError(f"--{f.name.replace('_', '-')}={v} is not a 32-bit integer")


_INT = re.compile(r"[+-]?[0-9]+")
_REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _parse(args: list[str], cls: type, source: str):
    """parse_args, with numbers spelled as Kaldi's reader takes them (no ``1_000``, no
    ``nan``, no shell): anything else is an error naming the file, before any conversion."""
    kinds = {f.name: f.type for f in fields(cls)}
    for arg in args:
        name, eq, value = arg[2:].partition("=")
        kind = kinds.get(name.replace("-", "_"))
        pattern = {"int": _INT, int: _INT, "float": _REAL, float: _REAL}.get(kind)
        if arg.startswith("--") and eq and pattern and not pattern.fullmatch(value):
            raise FormatError(f"{source}: --{name}={value[:40]} is not a number; write e.g. "
                              f"--{name}={getattr(cls, name.replace('-', '_'))}")
    return parse_args(args, cls, source)


def load_pitch_options(path) -> PitchOptions:
    """A ``conf/pitch.conf`` (compute-kaldi-pitch-feats --config); Kaldi's defaults if None."""
    if path is None:
        return PitchOptions()
    return _parse(read_config_file(path), PitchOptions, str(path))


def load_process_pitch_options(path) -> ProcessPitchOptions:
    """A process-kaldi-pitch-feats --config file (make_*_pitch.sh's
    ``--pitch-postprocess-config``); Kaldi's defaults if None."""
    if path is None:
        return ProcessPitchOptions()
    return _parse(read_config_file(path), ProcessPitchOptions, str(path))


# --------------------------------------------------------------------------- set-up

def _nccf_lag_range(opts: PitchOptions) -> tuple[int, int]:
    """OnlinePitchFeatureImpl's constructor: nccf_first_lag_, nccf_last_lag_ (in double)."""
    rf = float(F32(opts.resample_frequency))
    half = opts.upsample_filter_width / (2.0 * rf)
    outer_min = 1.0 / float(F32(opts.max_f0)) - half
    outer_max = 1.0 / float(F32(opts.min_f0)) + half
    return math.ceil(rf * outer_min), math.floor(rf * outer_max)


def _select_lags(opts: PitchOptions) -> np.ndarray:
    """SelectLags(): 1/max-f0 .. 1/min-f0 in float, each times (1 + delta-pitch) in double."""
    lag, max_lag = F32(1.0 / float(F32(opts.max_f0))), F32(1.0 / float(F32(opts.min_f0)))
    ratio = 1.0 + float(F32(opts.delta_pitch))
    lags = []
    while lag <= max_lag and len(lags) <= 4000:
        lags.append(lag)
        lag = F32(float(lag) * ratio)
    return np.array(lags, dtype=F32)


def _filter_func(t: F32, cutoff: F32, num_zeros: int) -> F32:
    """LinearResample::FilterFunc / ArbitraryResample::FilterFunc: Hanning-windowed sinc."""
    t, c = float(t), float(cutoff)
    if abs(t) < num_zeros / (2.0 * c):
        window = F32(0.5 * (1 + math.cos(M_2PI * c / num_zeros * t)))
    else:
        window = F32(0.0)
    filt = F32(math.sin(M_2PI * c * t) / (M_PI * t)) if t != 0 else F32(2.0 * c)
    return F32(filt * window)


class _LinearResample:
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
                [_filter_func(F32((lo + j) / float(rate_in) - out_t), cutoff, num_zeros)
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
            rows = sel[inside]
            if len(rows):  # VecVec(input_part, weights)
                idx = first[inside][:, None] + np.arange(len(w))
                out[rows] = blas.sdot(x[idx], w)
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


class _ArbitraryResample:
    """ArbitraryResample (resample.cc): the NCCF from whole lags to the log-spaced lags."""

    def __init__(self, num_in: int, rate: F32, cutoff: F32, points: np.ndarray, zeros: int):
        width = F32(zeros / (2.0 * float(cutoff)))
        self.first, self.weights = [], []
        for t in points:  # SetIndexes, SetWeights
            lo = max(math.ceil(F32(rate * F32(t - width))), 0)
            hi = min(math.floor(F32(rate * F32(t + width))), num_in - 1)
            self.first.append(lo)
            self.weights.append(np.array(
                [_filter_func(F32(t - F32(F32(lo + j) / rate)), cutoff, zeros) / rate
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


# --------------------------------------------------------------------------- the tracker

class _PitchTracker:
    """OnlinePitchFeatureImpl: accept_waveform / input_finished, then frames() is the
    (NCCF, pitch) Kaldi's GetFrame gives. Frame -1 of Kaldi's frame_info_ is implicit."""

    def __init__(self, opts: PitchOptions):
        self.opts = opts
        rf = F32(opts.resample_frequency)
        self.first_lag, self.last_lag = _nccf_lag_range(opts)
        self.basic, self.shift = opts.nccf_window_size, opts.nccf_window_shift
        self.full = self.basic + self.last_lag
        self.lags = _select_lags(opts)
        self.resampler = _LinearResample(int(F32(opts.sample_frequency)), int(rf),
                                         F32(opts.lowpass_cutoff), opts.lowpass_filter_width)
        offset = F32(F32(-self.first_lag) / rf)
        self.nccf_resampler = _ArbitraryResample(
            self.last_lag + 1 - self.first_lag, rf, F32(float(rf) * 0.5),
            F32(self.lags + offset), opts.upsample_filter_width)
        self.viterbi = _Viterbi(opts, self.lags)
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
        self.signal = np.zeros(0, F32)
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
        windows = self._extract(starts, before)
        ms = self._mean_square(starts, down, dot, total, before)
        ballast = ((ms * self.basic) ** 2 * float(F32(self.opts.nccf_ballast))).astype(F32)
        inner, norm = _compute_correlation(windows, self.first_lag, self.last_lag, self.basic)
        nccf_pitch = _compute_nccf(inner, norm, ballast[:, None])
        nccf_pov = _compute_nccf(inner, norm, F32(0.0))
        avg_norm = blas.ssum(norm) / F32(norm.shape[1])
        for k, frame in enumerate(frames):
            if frame < self.opts.recompute_frame:
                self.nccf_info.append([None, F32(avg_norm[k]), F32(ms[k])])
        pitch_res = self.nccf_resampler.resample(nccf_pitch)
        pov_res = self.nccf_resampler.resample(nccf_pov)
        self._update_remainder(down, dot, total, start_frame)
        for k, frame in enumerate(frames):
            self._viterbi_frame(pitch_res[k], pov_res[k])
            if frame < self.opts.recompute_frame:
                self.nccf_info[frame][0] = pitch_res[k].copy()
            if frame == self.opts.recompute_frame - 1 and not self.opts.nccf_ballast_online:
                self._recompute_backtraces()
        self._trace_back()

    def _frame_starts(self, frames: np.ndarray) -> np.ndarray:
        if self.opts.snip_edges:
            return frames * self.shift
        return ((frames + 0.5) * self.shift).astype(np.int64) - self.full // 2

    def _extract(self, starts: np.ndarray, before: int) -> np.ndarray:
        """ExtractFrame: windows of the downsampled signal, zeros outside it."""
        for start in starts:
            self._check_extract(int(start), self.full, before)
        idx = starts[:, None] + np.arange(self.full)
        ok = (idx >= 0) & (idx < len(self.signal))
        windows = np.where(ok, self.signal[np.clip(idx, 0, max(len(self.signal) - 1, 0))],
                           F32(0.0)).astype(F32)
        c = F32(self.opts.preemphasis_coefficient)
        if c != 0.0:
            # ExtractFrame recurses on the part of the window that holds signal, so at the
            # edges the pre-emphasis runs on that part alone, as if it were the whole window.
            lo = np.clip(-starts, 0, self.full)
            hi = np.clip(len(self.signal) - starts, 0, self.full)
            for k in np.flatnonzero((lo > 0) | (hi < self.full)):
                windows[k, lo[k]:hi[k]] = _preemphasize(windows[None, k, lo[k]:hi[k]], c)
            inner = (lo == 0) & (hi == self.full)
            windows[inner] = _preemphasize(windows[inner], c)
        return windows

    def _check_extract(self, start: int, length: int, before: int) -> None:
        """ExtractFrame's assertions, which make Kaldi give up on the utterance: with
        --snip-edges=false and small --frames-per-chunk a frame can lie wholly in samples
        it no longer keeps (recursing as it does on the part of a window that has signal)."""
        chunk = len(self.signal) - before
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
        self.sumsq += float(dot)
        self.sum += float(total)
        self.remainder_start = start_frame * self.shift
        self.processed += len(down)

    def _viterbi_frame(self, nccf_pitch: np.ndarray, nccf_pov: np.ndarray) -> None:
        self.backpointers.append(None)
        self.pov_nccf.append(nccf_pov)
        self.cur_best.append(-1)
        self.forward_cost = self._step(len(self.backpointers) - 1, nccf_pitch,
                                       self.forward_cost)

    def _step(self, frame: int, nccf_pitch: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """One frame's ComputeBacktraces; the forward cost renormalised to a minimum of 0."""
        backpointer, cost, tied = self.viterbi.step(nccf_pitch, prev)
        self.backpointers[frame] = backpointer
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


class _Viterbi:
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


# --------------------------------------------------------------------------- the tools

def compute_kaldi_pitch_feats(samples: np.ndarray, opts: PitchOptions | None = None, *,
                              sample_rate: float | None = None,
                              source: str = "audio") -> np.ndarray:
    """compute-kaldi-pitch-feats (ComputeKaldiPitch): frames x 2 float32 (NCCF, pitch in Hz)
    of samples on the 16-bit scale. ``sample_rate``, when given, must be the options'
    sample-frequency (Kaldi refuses a mismatch); ``source`` names the audio in errors."""
    opts = opts or PitchOptions()
    wave = _check_samples(samples, opts, sample_rate, source)
    tracker = _PitchTracker(opts)
    step = opts.samples_per_chunk if opts.frames_per_chunk else max(len(wave), 1)
    parts, got = [], 0
    for start in range(0, len(wave), step):
        tracker.accept_waveform(wave[start:start + step])
        if opts.simulate_first_pass_online:  # ComputeKaldiPitchFirstPass
            if start + step >= len(wave):
                tracker.input_finished()
            ready = tracker.num_frames_ready()
            parts.append(tracker.frames(got, max(ready, got)))
            got = max(ready, got)
    if not opts.simulate_first_pass_online:
        tracker.input_finished()
        parts = [tracker.frames()]
    feats = np.concatenate(parts) if parts else np.zeros((0, 2), F32)
    if len(feats) == 0:
        ms = 1000 * len(wave) / opts.sample_frequency
        raise AudioError(f"{source}: {len(wave)} samples ({ms:.1f} ms) give no pitch frame "
                         f"(Kaldi needs one {opts.frame_length:g} ms window); use a longer "
                         f"recording")
    return feats


def _check_samples(samples, opts: PitchOptions, sample_rate, source: str) -> np.ndarray:
    wave = np.asarray(samples)
    if wave.ndim != 1:
        raise AudioError(f"{source}: expected mono samples (one dimension), got shape "
                         f"{wave.shape}; pick a channel")
    if sample_rate is not None and float(sample_rate) != float(F32(opts.sample_frequency)):
        raise AudioError(f"{source}: sample rate {sample_rate:g} Hz, the pitch options say "
                         f"{opts.sample_frequency:g} Hz; resample with sox or set "
                         f"--sample-frequency in pitch.conf")
    wave = wave.astype(F32)
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{source}: the samples hold NaN or infinity; fix the recording")
    return wave


class GlibcRand:
    """glibc's ``rand()`` after ``srand(seed)`` (the TYPE_3 additive feedback generator,
    r[i] = r[i-3] + r[i-31]), which Kaldi's RandGauss draws on for the delta-pitch noise.
    One instance is one process-kaldi-pitch-feats run: pass the same one to successive
    process_kaldi_pitch_feats calls to continue the stream over an archive's utterances."""

    RAND_MAX = 2147483647

    def __init__(self, seed: int = 0):
        seed = (seed & 0xFFFFFFFF) or 1           # srand(unsigned): 0 means 1
        word = seed - 2**32 if seed >= 2**31 else seed  # int32_t word = seed
        r = [word]
        for _ in range(30):  # __srandom_r: Schrage's 16807 * word mod (2^31 - 1), in C ints
            hi = -(-word // 127773) if word < 0 else word // 127773  # C truncates
            lo = word - hi * 127773
            word = (16807 * lo - 2836 * hi + 2**31) % 2**32 - 2**31  # stored in an int32_t
            if word < 0:
                word += 2147483647
            r.append(word)
        self._r = [x & 0xFFFFFFFF for x in r] + [x & 0xFFFFFFFF for x in r[:3]]
        for _ in range(310):
            self._next()

    def _next(self) -> int:
        r = self._r
        r.append((r[-31] + r[-3]) & 0xFFFFFFFF)
        del r[0]
        return r[-1] >> 1

    def rand(self, n: int) -> np.ndarray:
        return np.array([self._next() for _ in range(n)], dtype=np.int64)


def _libm_f32(name: str, x: np.ndarray) -> np.ndarray:
    """A float libm function (``logf``, ``cosf``) on each element, as Kaldi calls it: glibc's
    own where it is loaded (it is not correctly rounded everywhere: about 1% of arguments
    differ by an ulp from the exact result), else the double function rounded to float."""
    x = np.asarray(x, F32)
    fn = _glibc_function(name)
    if fn is None:
        return getattr(np, name[:-1])(x.astype(F64)).astype(F32)
    values, inverse = np.unique(x, return_inverse=True)
    return np.array([fn(float(v)) for v in values], dtype=F32)[inverse].reshape(x.shape)


_GLIBC: dict = {}


def _glibc_function(name: str):
    if name not in _GLIBC:
        try:
            fn = getattr(ctypes.CDLL("libm.so.6"), name)
            fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        except (OSError, AttributeError):
            fn = None
        _GLIBC[name] = fn
    return _GLIBC[name]


def rand_gauss(rand: GlibcRand, n: int) -> np.ndarray:
    """n of Kaldi's RandGauss(): sqrtf(-2 * logf(u1)) * cosf(2 * M_PI * u2), each u from
    RandUniform() = (rand() + 1.0) / (RAND_MAX + 2.0). C++ leaves the order of the two draws
    open; Kaldi built with GCC draws u1 (the logf factor's) first, checked against
    process-kaldi-pitch-feats."""
    draws = rand.rand(2 * n).reshape(n, 2).astype(F64)
    u = ((draws + 1.0) / (GlibcRand.RAND_MAX + 2.0)).astype(F32)
    u_log, u_cos = u[:, 0], u[:, 1]
    radius = np.sqrt((F32(-2.0) * _libm_f32("logf", u_log)).astype(F64)).astype(F32)
    return radius * _libm_f32("cosf", (2 * M_PI * u_cos.astype(F64)).astype(F32))


def process_kaldi_pitch_feats(feats: np.ndarray, opts: ProcessPitchOptions | None = None,
                              rand: GlibcRand | None = None) -> np.ndarray:
    """process-kaldi-pitch-feats (ProcessPitch) on compute_kaldi_pitch_feats' output:
    frames (+ delay) x dim float32, columns in Kaldi's order (pov, normalized log-pitch,
    delta log-pitch, raw log-pitch), each present if its add-* option is set.

    The delta column carries Kaldi's noise, RandGauss() * delta-pitch-noise-stddev per frame,
    from glibc's rand() seeded with srand(--srand) once per run of the tool: by default the
    output is that of process-kaldi-pitch-feats on an archive whose first utterance this is.
    Pass ``rand`` to continue one stream over several utterances, or set the stddev to 0 for
    no noise (the draws are still made, as Kaldi makes them)."""
    opts = opts or ProcessPitchOptions()
    feats = np.asarray(feats, dtype=F32)
    if feats.ndim != 2 or feats.shape[1] != 2:
        raise FormatError(f"pitch features of shape {feats.shape}: expected frames x 2 "
                          f"(NCCF, pitch) as compute-kaldi-pitch-feats writes")
    nccf, pitch = feats[:, 0], feats[:, 1]
    if not (np.all(np.isfinite(feats)) and np.all(pitch > 0)):
        raise FormatError("pitch features with a pitch <= 0 or not finite: not the output of "
                          "compute-kaldi-pitch-feats")
    n = len(feats)
    log_pitch = _libm_f32("logf", pitch)
    cols = []
    if opts.add_pov_feature:
        cols.append(F32(opts.pov_scale) * _nccf_to_pov_feature(nccf) + F32(opts.pov_offset))
    if opts.add_normalized_log_pitch:
        avg = _normalization_means(nccf, log_pitch, opts.normalization_left_context,
                                   opts.normalization_right_context)
        cols.append((log_pitch - avg) * F32(opts.pitch_scale))
    if opts.add_delta_pitch:
        rand = rand if rand is not None else GlibcRand(opts.srand)
        noise = rand_gauss(rand, n) * F32(opts.delta_pitch_noise_stddev)
        cols.append((_delta(log_pitch, opts.delta_window) + noise) * F32(opts.delta_pitch_scale))
    if opts.add_raw_log_pitch:
        cols.append(log_pitch)
    out = np.stack(cols, axis=1).astype(F32) if n else np.zeros((0, opts.dim), F32)
    frame = np.maximum(np.arange(n + opts.delay) - opts.delay, 0) if n else np.arange(0)
    return out[frame]


def _nccf_to_pov_feature(nccf: np.ndarray) -> np.ndarray:
    """NccfToPovFeature: (1.0001 - n)^0.15 - 1 in double, n clipped to [-1, 1]."""
    n = np.clip(nccf, F32(-1.0), F32(1.0)).astype(F64)
    return (np.power(1.0001 - n, 0.15) - 1.0).astype(F32)


def _nccf_to_pov(nccf: np.ndarray) -> np.ndarray:
    """NccfToPov: the probability of voicing, Kaldi's fitted log-odds formula."""
    n = np.minimum(np.abs(nccf), F32(1.0)).astype(F64)
    r = (-5.2 + 5.4 * np.exp(7.5 * (n - 1.0)) + 4.8 * n - 2.0 * np.exp(-10.0 * n)
         + 4.2 * np.exp(20.0 * (n - 1.0))).astype(F32)
    return (1.0 / (1 + np.exp(-1.0 * r.astype(F64)))).astype(F32)


def _normalization_means(nccf, log_pitch, left: int, right: int) -> np.ndarray:
    """UpdateNormalizationStats over the whole input: the POV-weighted mean log-pitch in a
    window of left + 1 + right frames, its double sums slid frame by frame as Kaldi does."""
    n = len(nccf)
    pov = _nccf_to_pov(nccf)
    pov_l, prod_l = pov.astype(F64).tolist(), (pov * log_pitch).astype(F64).tolist()
    sum_pov = sum_prod = 0.0
    for f in range(min(right + 1, n)):
        sum_pov += pov_l[f]
        sum_prod += prod_l[f]
    avg = [sum_prod / sum_pov]
    for t in range(1, n):
        if t - left > 0:
            sum_pov -= pov_l[t - left - 1]
            sum_prod -= prod_l[t - left - 1]
        if t + right < n:
            sum_pov += pov_l[t + right]
            sum_prod += prod_l[t + right]
        avg.append(sum_prod / sum_pov)
    return np.array(avg, dtype=F64).astype(F32)


def _delta(x: np.ndarray, window: int) -> np.ndarray:
    """ComputeDeltas (order 1) as DeltaFeatures::Process sums it: scale j / sum(j^2) times the
    frame j away (edge frames repeated), added in float from j = -window up, 0 skipped."""
    alpha = F32(1.0 / float(sum(j * j for j in range(-window, window + 1))))
    acc = np.zeros(len(x), F32)
    idx = np.arange(len(x))
    for j in range(-window, window + 1):
        if j:
            acc = acc + F32(F32(j) * alpha) * x[np.clip(idx + j, 0, len(x) - 1)]
    return acc


def paste_feats(*feats: np.ndarray, length_tolerance: int = 2) -> np.ndarray:
    """paste-feats (AppendFeats): the matrices side by side, all cut to the shortest; an
    error where lengths differ by more than ``length_tolerance`` frames (make_mfcc_pitch.sh
    passes 2) or one is empty, where paste-feats drops the utterance."""
    mats = [np.asarray(f, dtype=F32) for f in feats]
    if len(mats) < 2 or any(m.ndim != 2 for m in mats):
        raise FormatError("paste-feats needs two or more frames x dim matrices")
    lengths = [m.shape[0] for m in mats]
    if max(lengths) - min(lengths) > length_tolerance or min(lengths) == 0:
        raise FormatError(f"cannot paste features of {'/'.join(map(str, lengths))} frames: "
                          f"they differ by more than --length-tolerance={length_tolerance} or "
                          f"one is empty (paste-feats drops such an utterance); check that "
                          f"both come from the same audio with the same frame options")
    return np.concatenate([m[:min(lengths)] for m in mats], axis=1)
