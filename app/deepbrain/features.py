"""The front-end stages, one function per Kaldi binary, in float32 like Kaldi.

Extraction (compute-mfcc-feats, compute-fbank-feats) -> cmvn (compute-cmvn-stats +
apply-cmvn, or apply-cmvn-online) -> deltas (add-deltas) -> splice (splice-feats) ->
transform (transform-feats). MFCC and filterbank frames come from kaldi-native-fbank, a
re-implementation of Kaldi's feature code, fed in pieces (:class:`FeatureStream`) so audio
of any length streams; the rest is a few lines of numpy each that follow Kaldi's arithmetic
(CMVN statistics in double, the mean offset rounded to float as ``VectorBase::AddVec`` does).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .audio import Audio
from .blocks import Block, gather
from .errors import AudioError, FormatError
from .nnet1 import splice_frames
from .options import CmvnOptions, DeltaOptions, FbankOptions, FramedOptions, OnlineCmvnOptions

F32 = np.float32


class FeatureStream:
    """compute-mfcc-feats / compute-fbank-feats on samples given in pieces: :meth:`accept`
    returns the frames each piece completes, :meth:`finish` the rest. Equal to the whole
    computation (kaldi-native-fbank keeps the partial window between pieces)."""

    def __init__(self, opts: FramedOptions):
        import kaldi_native_fbank as knf

        self.opts = opts
        if isinstance(opts, FbankOptions):
            self._knf = knf.OnlineFbank(_knf_options(opts))
        else:
            self._knf = knf.OnlineMfcc(_knf_options(opts))
        self._given = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        self._knf.accept_waveform(float(self.opts.sample_frequency),
                                  np.ascontiguousarray(samples, dtype=F32))
        return self._take()

    def finish(self) -> np.ndarray:
        self._knf.input_finished()
        return self._take()

    def _take(self) -> np.ndarray:
        ready = self._knf.num_frames_ready
        n = ready - self._given
        out = np.empty((n, self.opts.dim), dtype=F32)
        for i in range(n):
            out[i] = self._knf.get_frame(self._given + i)
        if n:
            self._knf.pop(n)
        self._given = ready
        return out


def compute_feats(audio: Audio, opts: FramedOptions) -> np.ndarray:
    """MFCCs or filterbanks (frames x dim) of 16-bit-scale samples, as compute-mfcc-feats or
    compute-fbank-feats with these options."""
    expected = check_audio(audio, opts)
    stream = FeatureStream(opts)
    feats = np.concatenate([stream.accept(audio.samples), stream.finish()])
    if feats.shape[0] != expected:  # an internal invariant of the two libraries agreeing
        raise AudioError(f"{audio.source}: {opts.binary} gave {feats.shape[0]} frames, "
                         f"Kaldi's rule says {expected}")
    if opts.subtract_mean:
        feats -= feats.mean(axis=0, dtype=np.float64).astype(F32)
    return feats


compute_mfcc_feats = compute_feats
compute_fbank_feats = compute_feats


def check_audio(audio: Audio, opts: FramedOptions) -> int:
    """The number of frames Kaldi will give; an error where that is none or the rate differs."""
    return expected_frames(audio.samples.shape[0], audio.sample_rate, opts, audio.source)


def expected_frames(num_samples: int, sample_rate: int, opts: FramedOptions, source: str
                    ) -> int:
    """:func:`check_audio` from the sample count alone (audio read in pieces)."""
    if sample_rate != opts.sample_frequency:
        raise AudioError(f"{source}: sample rate {sample_rate} Hz, the model's feature "
                         f"options say {opts.sample_frequency:g} Hz; pass --resample")
    frames = opts.num_frames(num_samples)
    if frames == 0:
        raise AudioError(f"{source}: {num_samples / sample_rate * 1000:.1f} ms of audio is "
                         f"shorter than one {opts.frame_length:g} ms frame, so Kaldi gives zero "
                         f"frames; use a longer recording")
    return frames


def _knf_options(opts: FramedOptions):
    import kaldi_native_fbank as knf

    o = knf.FbankOptions() if isinstance(opts, FbankOptions) else knf.MfccOptions()
    f = o.frame_opts
    f.samp_freq = float(opts.sample_frequency)
    f.frame_length_ms = float(opts.frame_length)
    f.frame_shift_ms = float(opts.frame_shift)
    f.dither = float(opts.dither)
    f.preemph_coeff = float(opts.preemphasis_coefficient)
    f.remove_dc_offset = opts.remove_dc_offset
    f.window_type = opts.window_type
    f.round_to_power_of_two = opts.round_to_power_of_two
    f.blackman_coeff = float(opts.blackman_coeff)
    f.snip_edges = opts.snip_edges
    m = o.mel_opts
    m.num_bins = opts.num_mel_bins
    m.low_freq = float(opts.low_freq)
    m.high_freq = float(opts.high_freq)
    m.vtln_low = float(opts.vtln_low)
    m.vtln_high = float(opts.vtln_high)
    o.use_energy = opts.use_energy
    o.energy_floor = float(opts.energy_floor)
    o.raw_energy = opts.raw_energy
    o.htk_compat = opts.htk_compat
    if isinstance(opts, FbankOptions):
        o.use_log_fbank = opts.use_log_fbank
        o.use_power = opts.use_power
    else:
        o.num_ceps = opts.num_ceps
        o.cepstral_lifter = float(opts.cepstral_lifter)
    return o


def compute_cmvn_stats(feats: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    """Kaldi's 2 x (dim+1) double CMVN statistics: sums, sums of squares, frame count.

    Pass several matrices to get a speaker's statistics (compute-cmvn-stats --spk2utt).
    """
    mats = [feats] if isinstance(feats, np.ndarray) else list(feats)
    dim = mats[0].shape[1]
    stats = np.zeros((2, dim + 1), dtype=np.float64)
    for m in mats:
        if m.shape[1] != dim:
            raise FormatError(f"CMVN over features of dimensions {dim} and {m.shape[1]}")
        m64 = m.astype(np.float64)
        stats[0, :dim] += m64.sum(axis=0)
        stats[1, :dim] += (m64 * m64).sum(axis=0)
        stats[0, dim] += m.shape[0]
    return stats


def apply_cmvn(feats: np.ndarray, stats: np.ndarray, opts: CmvnOptions | OnlineCmvnOptions
               ) -> np.ndarray:
    """apply-cmvn: subtract the mean (and divide by the standard deviation with norm-vars).

    ``stats`` is one 2 x (dim+1) matrix for all frames, or one per frame (frames x 2 x
    (dim+1), what apply-cmvn-online computes); each frame is normalised as Kaldi's ApplyCmvn
    normalises a matrix with those statistics."""
    if not opts.norm_means:
        return feats.astype(F32, copy=True)
    dim = feats.shape[1]
    if stats.shape[-2:] != (2, dim + 1):
        raise FormatError(f"CMVN statistics of shape {stats.shape} for {dim}-dim features")
    count = stats[..., 0, dim:dim + 1]
    if np.any(count < 1.0):
        raise FormatError(f"CMVN statistics with a frame count of {float(count.min())}")
    if not opts.norm_vars:
        # offset.AddVec(-1.0 / count, mean_stats): alpha is rounded to float first.
        alpha = (-1.0 / count).astype(F32).astype(np.float64)
        offset = (alpha * stats[..., 0, :dim]).astype(F32)
        return feats.astype(F32) + offset
    mean = stats[..., 0, :dim] / count
    var = np.maximum(stats[..., 1, :dim] / count - mean * mean, 1.0e-20)
    scale = 1.0 / np.sqrt(var)
    offset = -(mean * scale)
    return feats.astype(F32) * scale.astype(F32) + offset.astype(F32)


def apply_cmvn_online(feats: np.ndarray, opts: OnlineCmvnOptions, global_stats: np.ndarray,
                      speaker_stats: np.ndarray | None = None) -> np.ndarray:
    """apply-cmvn-online on one utterance (OnlineCmvn in online-feature.cc): frame t is
    normalised with the statistics of the last ``cmn-window`` frames up to and including t,
    topped up towards ``cmn-window`` frames from the speaker's earlier utterances (at most
    ``speaker-frames``) and then from the global statistics (at most ``global-frames``).
    ``speaker_stats``: the summed statistics of the speaker's earlier utterances, or None."""
    n, dim = feats.shape
    x = feats.astype(np.float64)
    w = opts.cmn_window
    ends = np.arange(1, n + 1)
    starts = np.maximum(0, ends - w)
    stats = np.zeros((n, 2, dim + 1))
    csum = np.concatenate([np.zeros((1, dim)), np.cumsum(x, axis=0)])
    stats[:, 0, :dim] = csum[ends] - csum[starts]
    if opts.norm_vars:
        csq = np.concatenate([np.zeros((1, dim)), np.cumsum(x * x, axis=0)])
        stats[:, 1, :dim] = csq[ends] - csq[starts]
    count = (ends - starts).astype(np.float64)
    stats[:, 0, dim] = count
    short = count < w
    if speaker_stats is not None and speaker_stats[0, dim] > 0:
        spk_count = speaker_stats[0, dim]
        take = np.minimum(np.minimum(w - count, opts.speaker_frames), spk_count)
        take = np.where(short & (take > 0), take, 0.0)
        stats += (take / spk_count)[:, None, None] * speaker_stats
        count = stats[:, 0, dim]
        short = count < w
    take = np.minimum(w - count, opts.global_frames)
    take = np.where(short & (take > 0), take, 0.0)
    stats += (take / global_stats[0, dim])[:, None, None] * global_stats
    if not opts.norm_vars:
        stats[:, 1] = 0.0  # Kaldi does not touch the variance row then
    for d in opts.skipped:  # FakeStatsForSomeDims: mean 0, variance 1
        if 0 <= d < dim:
            stats[:, 0, d] = 0.0
            stats[:, 1, d] = stats[:, 0, dim]
    return apply_cmvn(feats, stats, opts)


def delta_scales(opts: DeltaOptions) -> list[np.ndarray]:
    """The window of each delta order, as DeltaFeatures builds them (in float)."""
    scales = [np.ones(1, dtype=F32)]
    for _ in range(opts.delta_order):
        prev = scales[-1]
        prev_offset = (prev.size - 1) // 2
        cur_offset = prev_offset + opts.delta_window
        cur = np.zeros(prev.size + 2 * opts.delta_window, dtype=F32)
        normalizer = F32(0)
        for j in range(-opts.delta_window, opts.delta_window + 1):
            normalizer += F32(j * j)
            for k in range(-prev_offset, prev_offset + 1):
                cur[j + k + cur_offset] += F32(j) * prev[k + prev_offset]
        scales.append((cur * F32(1.0 / float(normalizer))).astype(F32))
    return scales


def add_deltas_block(block: Block, opts: DeltaOptions) -> Block:
    """add-deltas on a block of an utterance (see :mod:`deepbrain.blocks`): each order's
    window summed in Kaldi's order, in float, edge frames repeated."""
    c = opts.context
    parts, lo, hi = gather(block, range(-c, c + 1))
    out = []
    for scales in delta_scales(opts):
        half = (scales.size - 1) // 2
        acc = np.zeros((hi - lo, block.x.shape[1]), dtype=F32)
        for j in range(-half, half + 1):
            if scales[j + half] != 0:
                acc += scales[j + half] * parts[j + c]
        out.append(acc)
    return Block(np.concatenate(out, axis=1), lo, block.total)


def add_deltas(feats: np.ndarray, opts: DeltaOptions) -> np.ndarray:
    """add-deltas on a whole utterance."""
    return add_deltas_block(Block(feats.astype(F32, copy=False), 0, feats.shape[0]), opts).x


def splice_feats(feats: np.ndarray, left_context: int, right_context: int) -> np.ndarray:
    """splice-feats: each frame with its neighbours, edge frames repeated."""
    return splice_frames(feats.astype(F32, copy=False), range(-left_context, right_context + 1))


def transform_feats(feats: np.ndarray, transform: np.ndarray, source: str = "") -> np.ndarray:
    """transform-feats: a linear (D' x D) or affine (D' x (D+1)) matrix on every frame."""
    dim = feats.shape[1]
    if transform.shape[1] == dim:
        return feats.astype(F32, copy=False) @ transform.T.astype(F32)
    if transform.shape[1] == dim + 1:
        return feats.astype(F32, copy=False) @ transform[:, :dim].T.astype(F32) + \
            transform[:, dim].astype(F32)
    raise FormatError(f"{source}: a {transform.shape[0]} x {transform.shape[1]} transform "
                      f"cannot apply to {dim}-dim features (needs {dim} or {dim + 1} columns)")
