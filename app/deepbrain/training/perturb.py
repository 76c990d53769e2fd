"""Perturbed training copies of an utterance: other vocal tracts, other silences.

Made while the features are computed (the corpus on disk stays as it is), each copy with one
seeded :class:`Perturbation`:

- **vocal-tract-length perturbation** (VTLP, Jaitly & Hinton 2013): the MFCCs are computed
  with the mel filterbank's centre frequencies warped by a factor (Kaldi's piecewise-linear
  VTLN warp, ``MelBanks::VtlnWarpFreq``, through kaldi-native-fbank's ``MelBanks``), so a
  voice sounds as if from a shorter or longer vocal tract. Only the training features are
  warped; the model's front end stays the plain Kaldi MFCC chain of ``conf/mfcc.conf``;
- **more silence around the utterance** (0–1.6 s each side, whole 10 ms frames, labelled
  ``sil``): per-utterance CMVN then meets the silence shares of short recorded words, whose
  means and variances a long silence dominates;
- **a new noise floor** over everything (white, pink or brown, -90 to -40 dBFS), with the
  padding left at digital zero in some copies, and **low-frequency rumble** (handling, wind,
  a room's air: brown noise low-passed at 100–400 Hz, -70 to -25 dBFS);
- **gated silence**, last: the leading and trailing silence set to digital zero, as an
  edited or noise-gated recording has it (frame windows reaching into speech are left alone).

Labels stay exact: padding is whole frames (160 samples) of ``sil`` before and after;
nothing else moves the time axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from ..options import MfccOptions

F32 = np.float32
RATE = 16000
WARP_RANGE = (0.88, 1.12)
MAX_PAD_S = 1.6


@dataclass(frozen=True)
class Perturbation:
    """What one training copy goes through (the identity when every field is default)."""

    warp: float = 1.0
    lead_frames: int = 0
    tail_frames: int = 0
    gate: bool = False
    floor: str | None = None       # white, pink or brown
    floor_db: float = 0.0          # RMS re full scale
    pad_zero: bool = False         # the floor only under the original audio
    rumble_db: float | None = None
    rumble_hz: float = 200.0
    seed: int = 0

    @property
    def identity(self) -> bool:
        return self == Perturbation(seed=self.seed)

    def describe(self) -> str:
        parts = [f"warp:{self.warp:.3f}"]
        if self.lead_frames or self.tail_frames:
            parts.append(f"pad:{self.lead_frames}+{self.tail_frames}")
        if self.gate:
            parts.append("gate")
        if self.floor:
            parts.append(f"{self.floor}:{self.floor_db:.0f}{'z' if self.pad_zero else ''}")
        if self.rumble_db is not None:
            parts.append(f"rumble:{self.rumble_db:.0f}@{self.rumble_hz:.0f}")
        return ",".join(parts)


def draw_perturbation(rng: np.random.Generator) -> Perturbation:
    """A random perturbation: always a warp, each of the others in part of the copies."""
    u = rng.random(6)
    pad = u[0] < 0.6
    max_frames = int(MAX_PAD_S * 100)
    return Perturbation(
        warp=float(rng.uniform(*WARP_RANGE)),
        lead_frames=int(rng.integers(0, max_frames + 1)) if pad else 0,
        tail_frames=int(rng.integers(0, max_frames + 1)) if pad else 0,
        gate=bool(u[1] < 0.2),
        floor=("white", "pink", "brown")[int(rng.integers(3))] if u[2] < 0.5 else None,
        floor_db=float(rng.uniform(-90, -40)),
        pad_zero=bool(u[3] < 0.3),
        rumble_db=float(rng.uniform(-70, -25)) if u[4] < 0.25 else None,
        rumble_hz=float(rng.uniform(100, 400)),
        seed=int(rng.integers(1, 2**31)))


def perturb(x: np.ndarray, labels: np.ndarray, p: Perturbation, sil: int,
            opts: MfccOptions = MfccOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Samples (16-bit scale) and per-frame labels through ``p``'s time-domain steps."""
    rng = np.random.default_rng(p.seed)
    shift, win = opts.shift_samples, opts.window_samples
    x = np.asarray(x, dtype=np.float64)
    lead, tail = p.lead_frames * shift, p.tail_frames * shift
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    labels = np.concatenate([np.full(p.lead_frames, sil, labels.dtype), labels,
                             np.full(p.tail_frames, sil, labels.dtype)])
    added = np.zeros_like(x)
    if p.floor:
        added += _unit(_noise(p.floor, x.size, rng)) * 32768 * 10 ** (p.floor_db / 20)
    if p.rumble_db is not None:
        sos = butter(2, p.rumble_hz, btype="lowpass", fs=RATE, output="sos")
        added += _unit(sosfilt(sos, _noise("brown", x.size, rng))) * 32768 \
            * 10 ** (p.rumble_db / 20)
    if p.pad_zero:
        added[:lead] = 0.0
        added[x.size - tail:] = 0.0
    x = np.clip(np.rint(x + added), -32768, 32767)
    if p.gate:  # last in the chain, as a noise gate: the edges' silence is digital zero
        speech = np.flatnonzero(labels != sil)
        if speech.size:
            first, last = int(speech[0]), int(speech[-1])
            x[:first * shift] = 0.0                       # before speech frame 'first' starts
            x[last * shift + win:] = 0.0                  # after speech frame 'last' ends
    return x.astype(F32), labels


def _unit(n: np.ndarray) -> np.ndarray:
    return n / max(float(np.sqrt(np.mean(n * n))), 1e-12)


def _noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.fft import irfft, next_fast_len, rfft

    if kind == "white" or n < 2:
        return rng.standard_normal(n)
    m = next_fast_len(n, real=True)
    spec = rfft(rng.standard_normal(m))
    f = np.maximum(np.fft.rfftfreq(m, 1.0 / RATE), 20.0)
    return irfft(spec / (np.sqrt(f) if kind == "pink" else f), m)[:n]


def mfcc_warped(samples: np.ndarray, opts: MfccOptions, warp: float) -> np.ndarray:
    """compute-mfcc-feats with ``--vtln-warp=warp`` in numpy (float64 inside, float32 out):
    Kaldi's framing (snip-edges), DC removal, pre-emphasis, window, power spectrum, the
    warped mel bank, log (floored at float epsilon), DCT and lifter. At warp 1 it equals
    kaldi-native-fbank within 1e-4 (tested); the training copies with warp 1 use the
    runtime path itself."""
    import kaldi_native_fbank as knf

    from ..features import _knf_options

    win, shift, nfft = opts.window_samples, opts.shift_samples, opts.padded_window_samples
    n = opts.num_frames(samples.size)
    if opts.window_type != "povey" or opts.use_energy or opts.dither or not opts.snip_edges:
        raise ValueError("mfcc_warped follows the demo model's options only (povey window, "
                         "no energy, no dither, snip-edges)")
    frames = np.lib.stride_tricks.sliding_window_view(
        np.asarray(samples, dtype=F32), win)[::shift][:n].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    coeff = opts.preemphasis_coefficient
    frames[:, 1:] -= coeff * frames[:, :-1].copy()
    frames[:, 0] *= 1.0 - coeff
    frames *= (0.5 - 0.5 * np.cos(2 * np.pi / (win - 1) * np.arange(win))) ** 0.85
    power = np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2
    o = _knf_options(opts)
    bank = np.asarray(knf.MelBanks(o.mel_opts, o.frame_opts, float(warp)).get_matrix())
    mel = np.log(np.maximum(power[:, :bank.shape[1]] @ bank.T, np.finfo(F32).eps))
    bins = opts.num_mel_bins
    dct = np.cos(np.pi / bins * np.outer(np.arange(opts.num_ceps), np.arange(bins) + 0.5))
    dct *= np.sqrt(2.0 / bins)
    dct[0] = np.sqrt(1.0 / bins)
    ceps = mel @ dct.T
    lifter = opts.cepstral_lifter
    if lifter:
        ceps *= 1 + 0.5 * lifter * np.sin(np.pi * np.arange(opts.num_ceps) / lifter)
    return ceps.astype(F32)
