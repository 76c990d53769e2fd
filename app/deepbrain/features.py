"""The front-end stages, one function per Kaldi binary, in float32 like Kaldi.

mfcc (compute-mfcc-feats) -> cmvn (compute-cmvn-stats, apply-cmvn) -> splice (splice-feats)
-> transform (transform-feats). MFCCs come from kaldi-native-fbank, a re-implementation of
Kaldi's feature code; the rest is a few lines of numpy each that follow Kaldi's arithmetic
(CMVN statistics in double, the mean offset rounded to float as ``VectorBase::AddVec`` does).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .audio import Audio
from .errors import AudioError, FormatError
from .nnet1 import splice_frames
from .options import CmvnOptions, MfccOptions

F32 = np.float32


def compute_mfcc_feats(audio: Audio, opts: MfccOptions) -> np.ndarray:
    """MFCCs (frames x num-ceps) of 16-bit-scale samples, as compute-mfcc-feats."""
    import kaldi_native_fbank as knf

    expected = check_audio(audio, opts)
    mfcc = knf.OnlineMfcc(_knf_options(opts))
    mfcc.accept_waveform(float(opts.sample_frequency), audio.samples.astype(F32, copy=False))
    mfcc.input_finished()
    n = mfcc.num_frames_ready
    feats = np.empty((n, opts.num_ceps), dtype=F32)
    for i in range(n):
        feats[i] = mfcc.get_frame(i)
    if n != expected:  # an internal invariant of the two libraries agreeing
        raise AudioError(f"{audio.source}: MFCC gave {n} frames, Kaldi's rule says {expected}")
    if opts.subtract_mean:
        feats -= feats.mean(axis=0, dtype=np.float64).astype(F32)
    return feats


def check_audio(audio: Audio, opts: MfccOptions) -> int:
    """The number of frames Kaldi will give; an error where that is none or the rate differs."""
    if audio.sample_rate != opts.sample_frequency:
        raise AudioError(f"{audio.source}: sample rate {audio.sample_rate} Hz, the model's "
                         f"MFCC options say {opts.sample_frequency:g} Hz; pass --resample")
    frames = opts.num_frames(audio.samples.shape[0])
    if frames == 0:
        raise AudioError(f"{audio.source}: {audio.duration * 1000:.1f} ms of audio is shorter "
                         f"than one {opts.frame_length:g} ms frame, so Kaldi gives zero frames; "
                         f"use a longer recording")
    return frames


def _knf_options(opts: MfccOptions):
    import kaldi_native_fbank as knf

    o = knf.MfccOptions()
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
    o.num_ceps = opts.num_ceps
    o.use_energy = opts.use_energy
    o.energy_floor = float(opts.energy_floor)
    o.raw_energy = opts.raw_energy
    o.cepstral_lifter = float(opts.cepstral_lifter)
    o.htk_compat = opts.htk_compat
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


def apply_cmvn(feats: np.ndarray, stats: np.ndarray, opts: CmvnOptions) -> np.ndarray:
    """apply-cmvn: subtract the mean (and divide by the standard deviation with norm-vars)."""
    if not opts.norm_means:
        return feats.astype(F32, copy=True)
    dim = feats.shape[1]
    if stats.shape != (2, dim + 1):
        raise FormatError(f"CMVN statistics of shape {stats.shape} for {dim}-dim features")
    count = stats[0, dim]
    if count < 1.0:
        raise FormatError(f"CMVN statistics with a frame count of {count}")
    if not opts.norm_vars:
        # offset.AddVec(-1.0 / count, mean_stats): alpha is rounded to float first.
        alpha = np.float64(F32(-1.0 / count))
        offset = (alpha * stats[0, :dim]).astype(F32)
        return feats.astype(F32) + offset
    mean = stats[0, :dim] / count
    var = np.maximum(stats[1, :dim] / count - mean * mean, 1.0e-20)
    scale = 1.0 / np.sqrt(var)
    offset = -(mean * scale)
    return feats.astype(F32) * scale.astype(F32) + offset.astype(F32)


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
