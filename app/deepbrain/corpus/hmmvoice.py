"""A voice made from pocketsphinx's en-us acoustic model: spectra learned from real speech.

Every other voice of the corpus is a synthesiser's idea of speech. pocketsphinx's en-us
model (the aligner's, :mod:`deepbrain.align`) is a GMM-HMM trained on many real speakers:
for each triphone state it holds a mixture of Gaussians over 13 cepstra (MFCC with the
utterance mean removed). This module speaks a frame-labelled phone sequence with it, as a
vocoder: per state a Gaussian drawn by the state's mixture weights and a cepstrum sampled
from it (so the spectra vary as real speakers' do, not as one synthesiser's), smoothed
over time, turned back into a log mel spectrum (the inverse of the model's DCT and lifter),
interpolated to a spectral envelope, and imposed on an excitation: pulses at a drawn F0
contour below a voicing cut-off that depends on the phone, white noise above it.

The labels are given, so they stay exact: frame ``t`` of the output (the 25 ms window at
10 ``t`` ms) is spoken with label ``t``. The durations come from the utterance being
respoken (a synthesiser's, aligned by pocketsphinx).

Nothing of a real recording is used: only the model's statistics, as a statistical
synthesiser uses its model (RHVoice's voices are such models too). The model files are
pocketsphinx's (BSD-style licence, Alpha Cephei / CMU).

The model's front end (``feat.params``) must be the one this inversion assumes: 25 mel
filters of unit area from 130 to 6800 Hz, DCT-II, lifter 22, pre-emphasis 0.97.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import CorpusError
from .phones import PHONES

RATE = 16000
SHIFT, WINDOW, FFT = 160, 400, 512
PARAMS = {"-lowerf": "130", "-upperf": "6800", "-nfilt": "25", "-transform": "dct",
          "-lifter": "22", "-feat": "1s_c_d_dd", "-model": "ptm"}
NUM_FILTERS, NUM_CEPS, LIFTER, LOW_HZ, HIGH_HZ = 25, 13, 22, 130.0, 6800.0
VAR_FLOOR = 1e-4         # pocketsphinx's -varfloor (unused densities have variance 0)
SAMPLE_SPREAD = 2.0      # cepstra drawn with this many times the Gaussian's std
STATE_SHARES = (0.3, 0.4, 0.3)
F0_RANGE = (80.0, 260.0)
LEVEL_DBFS = (-32.0, -16.0)  # RMS of the speech frames
VOWELS = frozenset("iy ih eh ae ah uw uh aa ey ay oy aw ow er".split())
SONORANTS = frozenset("l r w y m n ng".split())
VOICED_OBSTRUENTS = frozenset("b d g dh v z jh".split())
INSTALL = "pip install 'deepbrain[align]' (pocketsphinx >= 5 ships the en-us model)"


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_inv(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


@dataclass(frozen=True, eq=False)
class AcousticModel:
    """The parts of a pocketsphinx PTM model this voice uses (the cepstral stream)."""

    phones: tuple[str, ...]        # CI phones, model order (AA, AE, ..., SIL, ...)
    means: np.ndarray              # [ci phone, density, 13]
    stds: np.ndarray               # [ci phone, density, 13]
    weights: np.ndarray            # [density, senone], stream 0, each column sums to ~1
    ci_senones: np.ndarray         # [ci phone, 3]
    tree: np.ndarray               # cd_tree records (ctx, n_down, c)
    phone_ssid: np.ndarray         # [phone] senone sequence id
    sseq: np.ndarray               # [senone sequence, 3]

    def senones(self, phone: str, left: str, right: str) -> np.ndarray:
        """The three senones of ``phone`` between ``left`` and ``right`` (the triphone's,
        any word position; the context-independent ones when the model has none)."""
        ci, lc, rc = (self.phones.index(p) for p in (phone, left, right))
        for wpos in range(4):
            ctx, base, count = (wpos, ci, lc, rc), 0, 4
            for level in range(4):
                nodes = self.tree[base:base + count]
                hit = np.flatnonzero(nodes["ctx"] == ctx[level])
                if not hit.size:
                    break
                node = nodes[hit[0]]
                if node["n_down"] == 0:
                    return self.sseq[self.phone_ssid[int(node["c"])]]
                base, count = int(node["c"]), int(node["n_down"])
        return self.ci_senones[ci]


class _Reader:
    """Bounds-checked little-endian reads of one model file; errors name the file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise CorpusError(f"{path}: cannot read pocketsphinx's model ({e.strerror}); "
                              f"{INSTALL}") from None
        self.pos = 0

    def fail(self, what: str) -> CorpusError:
        return CorpusError(f"{self.path}: {what}; the pocketsphinx model is damaged or of "
                           f"another kind: {INSTALL}")

    def take(self, fmt: str, count: int = 1) -> np.ndarray:
        dt = np.dtype(fmt)
        end = self.pos + dt.itemsize * count
        if count < 0 or end > len(self.data):
            raise self.fail(f"ends at byte {len(self.data)}, {end} needed")
        out = np.frombuffer(self.data, dt, count, self.pos)
        self.pos = end
        return out

    def int(self) -> int:
        return int(self.take("<i4")[0])


def _read_gaussians(path: Path) -> np.ndarray:
    """An s3 means/variances file: [codebook, stream 0 density, 13]."""
    r = _Reader(path)
    end = r.data.find(b"endhdr\n")
    if not r.data.startswith(b"s3\n") or end < 0:
        raise r.fail("no s3 header")
    r.pos = end + 7
    if r.int() != 0x11223344:
        raise r.fail("not little-endian s3 data")
    n_cb, n_feat, n_dens = r.int(), r.int(), r.int()
    if not (0 < n_cb <= 256 and 0 < n_feat <= 8 and 0 < n_dens <= 4096):
        raise r.fail(f"implausible sizes {n_cb} x {n_feat} x {n_dens}")
    lens = r.take("<i4", n_feat).astype(int)
    total = r.int()
    if lens[0] != NUM_CEPS or total != n_cb * n_dens * int(lens.sum()):
        raise r.fail(f"stream lengths {list(lens)} and {total} values do not fit")
    # per codebook the streams follow each other, each n_dens x its length; stream 0 first
    x = r.take("<f4", total).reshape(n_cb, -1)[:, :n_dens * NUM_CEPS]
    return x.reshape(n_cb, n_dens, NUM_CEPS).astype(np.float64)


def _read_mdef(path: Path):
    r = _Reader(path)
    mark = b"END FILE FORMAT DESCRIPTION\n"
    k = r.data.find(mark)
    if not r.data.startswith(b"BMDF") or k < 0:
        raise r.fail("not a binary model definition (BMDF)")
    r.pos = (k + len(mark) + 3) // 4 * 4
    n_ci, n_phone, n_emit, n_ci_sen, n_sen, _, n_sseq, n_ctx, n_tree, _sil = \
        (int(v) for v in r.take("<i4", 10))
    if n_emit != 3 or n_ctx != 3 or not (0 < n_ci <= 256) or n_ci_sen != 3 * n_ci \
            or min(n_phone, n_sen, n_sseq, n_tree) <= 0:
        raise r.fail("not a 3-state triphone model")
    names = []
    for _ in range(n_ci):
        z = r.data.find(b"\0", r.pos)
        if z < 0:
            raise r.fail("phone names run past the end")
        names.append(r.data[r.pos:z].decode("ascii", "replace"))
        r.pos = z + 1
    r.pos = (r.pos + 3) // 4 * 4
    tree = r.take(np.dtype([("ctx", "<i2"), ("n_down", "<i2"), ("c", "<i4")]), n_tree)
    phone_ssid = r.take("<i4", n_phone * 3).reshape(n_phone, 3)[:, 0].astype(np.int64)
    if r.int() != n_sseq * n_emit:
        raise r.fail("senone sequence count does not match")
    sseq = r.take("<i2", n_sseq * n_emit).reshape(n_sseq, n_emit).astype(np.int64)
    if phone_ssid.min() < 0 or phone_ssid.max() >= n_sseq or sseq.min() < 0 \
            or sseq.max() >= n_sen:
        raise r.fail("senone ids out of range")
    return tuple(names), tree, phone_ssid, sseq, n_sen


def _read_sendump(path: Path, n_sen: int, n_dens: int) -> np.ndarray:
    """Stream 0's mixture weights [density, senone] from a pocketsphinx sendump (8-bit
    -log weights in units of 1024 log(1.0001), as ``ptm_mgau.c`` reads them)."""
    r = _Reader(path)
    for _ in range(2):                                   # title, header
        r.take("u1", r.int())
    meta = {}
    while True:
        n = r.int()
        if n == 0:
            break
        key, _, value = bytes(r.take("u1", n)).rstrip(b"\0").decode("ascii", "replace") \
            .partition(" ")
        meta[key] = value
    if meta.get("cluster_count", "0") != "0" or meta.get("cluster_bits", "8") != "8":
        raise r.fail("clustered (4-bit) mixture weights are not supported")
    rows, cols = r.int(), r.int()
    if rows != n_dens or cols != n_sen:
        raise r.fail(f"{rows} x {cols} weights for {n_dens} densities and {n_sen} senones")
    streams = int(meta.get("feature_count", "1")) if meta.get("feature_count", "1").isdigit() \
        else 0
    if len(r.data) - r.pos != streams * rows * cols:
        raise r.fail(f"{len(r.data) - r.pos} bytes of weights for {streams} streams of "
                     f"{rows} x {cols}")
    q = r.take("u1", rows * cols).reshape(rows, cols).astype(np.float64)
    return np.exp(-q * 1024.0 * np.log(1.0001))


def check_params(path: Path) -> None:
    """The model's front end must be the one :func:`speak` inverts."""
    try:
        words = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror}); {INSTALL}") from None
    found = dict(zip(words[::2], words[1::2]))
    wrong = {k: found.get(k) for k, v in PARAMS.items() if found.get(k) != v}
    if wrong:
        raise CorpusError(f"{path}: the model's front end differs from the one this voice "
                          f"inverts ({', '.join(f'{k} {v}' for k, v in wrong.items())}; "
                          f"expected {', '.join(f'{k} {PARAMS[k]}' for k in wrong)})")


def load(model_dir: str | Path) -> AcousticModel:
    """The acoustic model in ``model_dir`` (``mdef``, ``means``, ``variances``,
    ``sendump``, ``feat.params``); a damaged or foreign file is a CorpusError naming it."""
    d = Path(model_dir)
    check_params(d / "feat.params")
    names, tree, phone_ssid, sseq, n_sen = _read_mdef(d / "mdef")
    means = _read_gaussians(d / "means")
    variances = _read_gaussians(d / "variances")
    if means.shape != variances.shape or means.shape[0] != len(names):
        raise CorpusError(f"{d}: means {means.shape} and variances {variances.shape} do not "
                          f"fit {len(names)} phones; {INSTALL}")
    if not (np.isfinite(means).all() and np.isfinite(variances).all()
            and (variances >= 0).all()):
        raise CorpusError(f"{d / 'variances'}: non-finite or negative values; {INSTALL}")
    weights = _read_sendump(d / "sendump", n_sen, means.shape[1])
    missing = [p for p in ("SIL", *(p.upper() for p in VOWELS)) if p not in names]
    if missing:
        raise CorpusError(f"{d / 'mdef'}: no phone {missing[0]}: not an English ARPAbet "
                          f"model; {INSTALL}")
    ci = np.array([sseq[phone_ssid[k]] for k in range(len(names))])
    stds = np.sqrt(np.maximum(variances, VAR_FLOOR))
    return AcousticModel(names, means, stds, weights, ci, tree, phone_ssid, sseq)


@lru_cache(maxsize=1)
def default_model() -> AcousticModel:
    """pocketsphinx's en-us model (the aligner's), loaded once per process."""
    from ..align import why_unavailable

    reason = why_unavailable()
    if reason:
        raise CorpusError(reason)
    from pocketsphinx import get_model_path

    return load(Path(get_model_path()) / "en-us" / "en-us")


def model_phone(label: str, rng: np.random.Generator) -> str:
    """The model's phone for a TIMIT-39 label: aa is AA or (30 % of the time) AO, sh is
    SH or (10 %) ZH, the phones TIMIT-39 folded into them; dx is D; sil is SIL."""
    if label == "sil":
        return "SIL"
    if label == "aa" and rng.random() < 0.3:
        return "AO"
    if label == "sh" and rng.random() < 0.1:
        return "ZH"
    return {"dx": "D"}.get(label, label.upper())


def _voicing_cut(label: str) -> float:
    """Below this frequency the excitation is pulses, above it noise."""
    if label in VOWELS or label in SONORANTS:
        return 4500.0
    return 900.0 if label in VOICED_OBSTRUENTS else 0.0


def cepstra(labels: Sequence[str], rng: np.random.Generator, model: AcousticModel
            ) -> np.ndarray:
    """Per frame, 13 cepstra (the model's, mean-removed domain): each phone run split into
    its three states (one or two when shorter), each state's frames drawn from one
    Gaussian of its triphone senone's mixture, then smoothed over neighbouring frames."""
    labels = list(labels)
    unknown = sorted(set(labels) - set(PHONES))
    if unknown:
        raise CorpusError(f"the model voice cannot say {unknown[0]!r}: not a TIMIT-39 phone "
                          f"({' '.join(PHONES)})")
    n = len(labels)
    c = np.zeros((n, NUM_CEPS))
    starts = [0] + [t for t in range(1, n) if labels[t] != labels[t - 1]] + [n]
    seq = [model_phone(labels[a], rng) for a in starts[:-1]]
    sharpness = float(rng.uniform(0.7, 1.5))   # how strictly the mixture weights are kept
    for k, (a, b) in enumerate(zip(starts[:-1], starts[1:])):
        left = seq[k - 1] if k else "SIL"
        right = seq[k + 1] if k + 1 < len(seq) else "SIL"
        c[a:b] = _phone_frames(model, seq[k], left, right, b - a, sharpness, rng)
    for _ in range(2):
        padded = np.vstack([c[:1], c, c[-1:]])
        c = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return c


def _phone_frames(model: AcousticModel, phone: str, left: str, right: str, length: int,
                  sharpness: float, rng: np.random.Generator) -> np.ndarray:
    """``length`` frames of ``phone`` between ``left`` and ``right``: per state a Gaussian
    drawn by the senone's mixture weights (raised to ``sharpness``), cepstra drawn from it
    with :data:`SAMPLE_SPREAD` times its spread."""
    ci = model.phones.index(phone)
    senones = model.ci_senones[ci] if phone == "SIL" else model.senones(phone, left, right)
    states = [1] if length == 1 else [0, 2] if length == 2 else [0, 1, 2]
    if length > 2:
        edges = np.rint(np.cumsum([0.0, *STATE_SHARES]) * length).astype(int)
    else:
        edges = np.arange(len(states) + 1)
    out = np.empty((length, NUM_CEPS))
    for j, s in enumerate(states):
        w = model.weights[:, senones[s]] ** sharpness
        g = int(rng.choice(w.size, p=w / w.sum()))
        lo, hi = edges[j], edges[j + 1]
        out[lo:hi] = model.means[ci, g] + SAMPLE_SPREAD * model.stds[ci, g] * \
            rng.standard_normal((hi - lo, NUM_CEPS))
    return out


def _inverse_dct() -> np.ndarray:
    """[13, 25]: cepstra (liftered) to the log mel spectrum (orthonormal DCT-II inverse)."""
    k = np.arange(NUM_CEPS)
    dct = np.cos(np.pi * np.outer(k, np.arange(NUM_FILTERS) + 0.5) / NUM_FILTERS)
    dct *= np.sqrt(2.0 / NUM_FILTERS)
    dct[0] = np.sqrt(1.0 / NUM_FILTERS)
    lifter = 1.0 + LIFTER / 2.0 * np.sin(np.pi * k / LIFTER)
    return dct / lifter[:, None]


def speak(labels: Sequence[str], rng: np.random.Generator,
          model: AcousticModel | None = None) -> np.ndarray:
    """Audio (16 kHz, int16 scale, float64) of ``160 (T-1) + 400`` samples whose frame t
    says ``labels[t]`` (TIMIT-39 names; sil is the model's silence)."""
    model = model or default_model()
    labels = list(labels)
    if not labels:
        raise CorpusError("the model voice needs at least one frame of labels")
    frames = len(labels)
    n = SHIFT * (frames - 1) + WINDOW
    logmel = cepstra(labels, rng, model) @ _inverse_dct()          # natural log power
    centres = _mel_inv(np.linspace(_mel(LOW_HZ), _mel(HIGH_HZ), NUM_FILTERS + 2))[1:-1]
    tilt = rng.uniform(-1.0, 0.5) * np.log(np.maximum(centres, 300.0) / 1000.0)
    freqs = np.fft.rfftfreq(FFT, 1.0 / RATE)
    env = np.stack([np.interp(freqs, centres, row) for row in logmel + tilt])
    high, low = freqs > HIGH_HZ, freqs < LOW_HZ
    env[:, high] -= rng.uniform(0.0, 1.5) * (freqs[high] - HIGH_HZ) / 1200.0
    env[:, low] -= 2.0 * (LOW_HZ - freqs[low]) / LOW_HZ
    preemph = np.abs(1.0 - 0.97 * np.exp(-2j * np.pi * freqs / RATE))
    amp = np.exp(0.5 * env) / preemph
    cut = np.array([_voicing_cut(p) for p in labels])
    excitation_pulses, noise = _excitation(n, rng)
    y = _overlap_add(excitation_pulses, noise, amp, cut, freqs, n)
    speech = np.repeat(np.array([p != "sil" for p in labels]), SHIFT)[:n]
    ref = y[:speech.size][speech] if speech.any() else y
    rms = max(float(np.sqrt(np.mean(ref ** 2))), 1e-9)
    y *= 32768.0 * 10 ** (rng.uniform(*LEVEL_DBFS) / 20.0) / rms
    y += rng.standard_normal(n) * 32768.0 * 10 ** (rng.uniform(-95.0, -60.0) / 20.0)
    return np.clip(np.rint(y), -32768, 32767)


def _excitation(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pulses at an F0 contour (a drawn base, declining, slowly wavering, with jitter),
    each of unit mean power, and white noise of unit power."""
    t = np.arange(n) / RATE
    base = float(np.exp(rng.uniform(*np.log(F0_RANGE))))
    f0 = base * (1.0 - rng.uniform(0.0, 0.25) * t / max(t[-1], 1e-9))
    f0 *= 1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t + rng.uniform(0, 2 * np.pi))
    f0 *= 1.0 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    cycles = np.floor(np.cumsum(f0 / RATE))
    at = np.flatnonzero(np.diff(cycles) > 0) + 1
    pulses = np.zeros(n)
    pulses[at] = np.sqrt(RATE / f0[at])
    return pulses, rng.standard_normal(n)


def _overlap_add(pulses: np.ndarray, noise: np.ndarray, amp: np.ndarray, cut: np.ndarray,
                 freqs: np.ndarray, n: int) -> np.ndarray:
    """Weighted overlap-add: frame t's 512-sample window centred on its 25 ms frame, the
    excitation's spectrum (pulses below ``cut[t]``, noise above) times ``amp[t]``."""
    win = np.sqrt(np.hanning(FFT + 2)[1:-1])
    pad = (FFT - WINDOW) // 2
    size = n + 2 * pad + FFT
    p = np.pad(pulses, (pad, size - n - pad))
    q = np.pad(noise, (pad, size - n - pad))
    out, norm = np.zeros(size), np.zeros(size)
    for t in range(amp.shape[0]):
        s = SHIFT * t
        spec = np.where(freqs < cut[t], np.fft.rfft(p[s:s + FFT] * win),
                        np.fft.rfft(q[s:s + FFT] * win))
        out[s:s + FFT] += np.fft.irfft(spec * amp[t], FFT) * win
        norm[s:s + FFT] += win ** 2
    return out[pad:pad + n] / np.maximum(norm[pad:pad + n], 1e-3)
