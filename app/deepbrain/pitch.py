"""Kaldi's pitch features: compute-kaldi-pitch-feats, process-kaldi-pitch-feats, paste-feats.

What ``steps/make_mfcc_pitch.sh`` and ``make_fbank_pitch.sh`` append to MFCC or filterbank
features: ``compute-kaldi-pitch-feats --config=conf/pitch.conf`` (NCCF and pitch per frame,
Ghahremani et al., ICASSP 2014), piped into ``process-kaldi-pitch-feats`` (POV feature,
normalized log-pitch, delta log-pitch), pasted on with ``paste-feats --length-tolerance=2``.

The numbers are Kaldi's, not merely close to them: the pitch comes out of a Viterbi search
over ~400 lag states, where a cost one float32 ulp off can flip a near-tie and move a whole
stretch by one lag, so the tracker (:mod:`deepbrain.pitch_tracker`) keeps Kaldi's float32
arithmetic and its BLAS's summation order (:mod:`deepbrain.kaldi_blas`), and the post-
processing calls glibc's ``logf``/``cosf`` and draws glibc's ``rand()`` where Kaldi does.
Checked bit-exact against Kaldi 5.5 with OpenBLAS 0.3.21 on x86-64/AVX2 (tests/test_pitch.py).
OpenBLAS's AVX-512 kernels sum in another order: there Kaldi's own pitch moves a little
(6.5e-5 at most on values up to 1.5, measured on an AVX-512 EPYC; OPENBLAS_CORETYPE=Haswell
for Kaldi makes it bit-exact again).
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import dataclass, fields

import numpy as np

from .errors import AudioError, FormatError
from .options import parse_args, read_config_file
from .pitch_tracker import PitchTracker, nccf_lag_range, select_lags

F32 = np.float32
F64 = np.float64
M_PI = 3.14159265358979323846  # as <cmath>


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
        _check_numbers(self)
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
        if nccf_lag_range(self)[0] < 0:
            raise ValueError(f"max-f0 {self.max_f0:g} is too high for resample-frequency "
                             f"{self.resample_frequency:g} and upsample-filter-width "
                             f"{self.upsample_filter_width}")
        if len(select_lags(self)) > 4000:
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
        _check_numbers(self)
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


def _check_numbers(opts) -> None:
    for f in fields(opts):
        v = getattr(opts, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"--{f.name.replace('_', '-')}={v} is not a finite number")
        with np.errstate(over="ignore"):
            too_big = isinstance(v, float) and not np.isfinite(F32(v))
        if too_big:
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


def pitch_options(words: list[str], source: str) -> PitchOptions:
    """compute-kaldi-pitch-feats options from a config file's words (read_config_file)."""
    return _parse(words, PitchOptions, source)


def process_pitch_options(words: list[str], source: str) -> ProcessPitchOptions:
    return _parse(words, ProcessPitchOptions, source)


def load_pitch_options(path) -> PitchOptions:
    """A ``conf/pitch.conf`` (compute-kaldi-pitch-feats --config); Kaldi's defaults if None."""
    if path is None:
        return PitchOptions()
    return pitch_options(read_config_file(path), str(path))


def load_process_pitch_options(path) -> ProcessPitchOptions:
    """A process-kaldi-pitch-feats --config file (make_*_pitch.sh's
    ``--pitch-postprocess-config``); Kaldi's defaults if None."""
    if path is None:
        return ProcessPitchOptions()
    return process_pitch_options(read_config_file(path), str(path))


@dataclass(frozen=True)
class MakePitchOptions:
    """Pitch appended to the features as ``steps/make_mfcc_pitch.sh`` and
    ``make_fbank_pitch.sh`` append it: compute-kaldi-pitch-feats (``pitch``) piped into
    process-kaldi-pitch-feats (``process``), pasted on with ``paste-feats
    --length-tolerance``."""

    pitch: PitchOptions = PitchOptions()
    process: ProcessPitchOptions = ProcessPitchOptions()
    length_tolerance: int = 2

    @property
    def dim(self) -> int:
        return self.process.dim


def append_pitch(feats: np.ndarray, samples: np.ndarray, opts: MakePitchOptions,
                 rand: GlibcRand | None = None, sample_rate: float | None = None,
                 source: str = "audio") -> np.ndarray:
    """make_mfcc_pitch.sh on one utterance: its features with its pitch pasted on. ``rand``
    continues the delta-pitch noise of one process-kaldi-pitch-feats run over several
    utterances (see :func:`process_kaldi_pitch_feats`)."""
    raw = compute_kaldi_pitch_feats(samples, opts.pitch, sample_rate=sample_rate,
                                    source=source)
    pitch = process_kaldi_pitch_feats(raw, opts.process, rand)
    try:
        return paste_feats(feats, pitch, length_tolerance=opts.length_tolerance)
    except FormatError as e:
        raise AudioError(f"{source}: {e}") from None


# --------------------------------------------------------------------------- the tools

def compute_kaldi_pitch_feats(samples: np.ndarray, opts: PitchOptions | None = None, *,
                              sample_rate: float | None = None,
                              source: str = "audio") -> np.ndarray:
    """compute-kaldi-pitch-feats (ComputeKaldiPitch): frames x 2 float32 (NCCF, pitch in Hz)
    of samples on the 16-bit scale. ``sample_rate``, when given, must be the options'
    sample-frequency (Kaldi refuses a mismatch); ``source`` names the audio in errors."""
    opts = opts or PitchOptions()
    wave = _check_samples(samples, opts, sample_rate, source)
    tracker = PitchTracker(opts)
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
    wave = wave.astype(F32, copy=False)
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
