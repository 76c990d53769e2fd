"""Make clean synthetic speech sound like a recording in the world, labels kept exact.

One seeded :class:`Plan` per utterance says what happens, in the order a real recording
adds it: speed perturbation (Kaldi's 0.9/1.0/1.1: resampling changes rate and pitch
together, the label times are scaled), a room (reverberation: an exponentially decaying
noise impulse response with RT60 0.1–0.9 s), noise in the room (white, pink, brown, mains
hum, or babble from other synthetic speech, at 0–30 dB SNR over the speech), the
microphone and channel (random band limits and peaking EQ), a noise floor under everything
including the silence added around the utterance (a real room is never digital zero), gain
and DC offset, clipping, and a low-bitrate codec through ffmpeg (MP3, Opus, GSM). Only the
time axis changes the labels: speed (scaled) and padding (sil); a codec's delay is measured
and removed, so the audio stays on the labels' time axis.

Everything is scipy/numpy (no extra library: ``pyroomacoustics`` would simulate rooms in
more detail, but a diffuse exponential tail is what the RT60 range asks for, at a fraction of
the cost); ffmpeg is a program run with an argument list.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

from .errors import CorpusError
from .timeline import Timeline

RATE = 16000
SPEEDS = (0.9, 1.0, 1.1)
NOISES = ("white", "pink", "brown", "hum", "babble")
CODECS = ("mp3", "opus", "gsm")
FFMPEG = "ffmpeg"
_CODEC_ARGS = {  # encoder options; bitrate filled in per utterance
    "mp3": (["-c:a", "libmp3lame", "-f", "mp3"], (16, 40)),
    "opus": (["-c:a", "libopus", "-application", "voip", "-f", "ogg"], (6, 24)),
    "gsm": (["-c:a", "libgsm", "-ar", "8000", "-f", "gsm"], None),
}


@dataclass(frozen=True)
class Plan:
    """What one utterance goes through (None / 0: that step is skipped)."""

    speed: float = 1.0
    lead: float = 0.0              # seconds of sil added before and after
    tail: float = 0.0
    rt60: float | None = None
    noise: str | None = None
    snr_db: float = 0.0
    band: tuple[float, float] | None = None   # Hz
    eq: tuple[tuple[float, float], ...] = ()  # (centre Hz, gain dB)
    floor_db: float | None = None  # noise floor, dB re full scale (RMS)
    gain_db: float = 0.0
    dc: float = 0.0
    clip_db: float | None = None   # drive the peak this far past full scale, then clip
    codec: str | None = None
    bitrate: int = 0               # kbit/s
    seed: int = 0

    def describe(self) -> str:
        """One token per step taken, e.g. ``sp:1.1,rev:0.4,pink:12,chan,floor:-52,mp3:24``."""
        parts = [f"sp:{self.speed:g}"]
        if self.rt60:
            parts.append(f"rev:{self.rt60:.1f}")
        if self.noise:
            parts.append(f"{self.noise}:{self.snr_db:.0f}")
        if self.band or self.eq:
            parts.append("chan")
        if self.floor_db is not None:
            parts.append(f"floor:{self.floor_db:.0f}")
        if self.dc:
            parts.append("dc")
        if self.clip_db:
            parts.append("clip")
        if self.codec:
            parts.append(f"{self.codec}:{self.bitrate}" if self.bitrate else self.codec)
        return ",".join(parts)


def draw_plan(rng: np.random.Generator, clean: bool = False) -> Plan:
    """A random plan; ``clean`` keeps only the speed factor (no padding, no noise)."""
    speed = float(SPEEDS[int(rng.integers(len(SPEEDS)))])
    seed = int(rng.integers(1, 2**31))
    if clean:
        return Plan(speed=speed, seed=seed)
    u = rng.random(12)
    codec = CODECS[int(rng.integers(len(CODECS)))] if u[8] < 0.2 else None
    rates = _CODEC_ARGS[codec][1] if codec else None
    return Plan(
        speed=speed, lead=float(rng.uniform(0.05, 0.5)), tail=float(rng.uniform(0.05, 0.5)),
        rt60=float(rng.uniform(0.1, 0.9)) if u[0] < 0.4 else None,
        noise=NOISES[int(rng.integers(len(NOISES)))] if u[1] < 0.6 else None,
        snr_db=float(rng.uniform(0.0, 30.0)),
        band=(float(rng.uniform(50, 300)), float(rng.uniform(3000, 7800))) if u[2] < 0.7
        else None,
        eq=tuple((float(np.exp(rng.uniform(np.log(200), np.log(5000)))),
                  float(rng.uniform(-8, 8))) for _ in range(int(rng.integers(0, 3)))),
        floor_db=float(rng.uniform(-75, -40)),
        gain_db=float(rng.uniform(-20, 6)),
        dc=float(rng.uniform(-800, 800)) if u[5] < 0.15 else 0.0,
        clip_db=float(rng.uniform(1, 8)) if u[6] < 0.08 else None,
        codec=codec, bitrate=int(rng.integers(rates[0], rates[1] + 1)) if rates else 0,
        seed=seed)


def apply(x: np.ndarray, timeline: Timeline, plan: Plan, babble: np.ndarray | None = None
          ) -> tuple[np.ndarray, Timeline]:
    """``x`` (16 kHz, int16 scale) and its labels through ``plan``; whole 16-bit values out."""
    rng = np.random.default_rng(plan.seed)
    x, timeline = speed_perturb(x, timeline, plan.speed)
    speech = _speech_mask(timeline, x.size)
    n_lead, n_tail = int(round(plan.lead * RATE)), int(round(plan.tail * RATE))
    x = np.concatenate([np.zeros(n_lead), x, np.zeros(n_tail)])
    speech = np.concatenate([np.zeros(n_lead, bool), speech, np.zeros(n_tail, bool)])
    timeline = timeline.padded(n_lead / RATE, n_tail / RATE)
    level = _rms(x[speech]) if speech.any() else _rms(x)
    if plan.rt60:
        x = reverberate(x, plan.rt60, rng)
    if plan.noise:
        n = noise(plan.noise, x.size, rng, babble)
        x = x + n * (level / max(_rms(n), 1e-9)) * 10 ** (-plan.snr_db / 20)
    if plan.band:
        x = band_limit(x, *plan.band)
    for centre, gain in plan.eq:
        x = peaking_eq(x, centre, gain)
    if plan.floor_db is not None:
        floor = noise("pink" if rng.random() < 0.5 else "white", x.size, rng)
        x = x + floor / max(_rms(floor), 1e-9) * 32768 * 10 ** (plan.floor_db / 20)
    x = x * 10 ** (plan.gain_db / 20) + plan.dc
    if plan.clip_db:
        x = x * (32767 * 10 ** (plan.clip_db / 20) / max(np.abs(x).max(), 1.0))
    x = np.clip(x, -32768, 32767)
    if plan.codec:
        x = codec_roundtrip(x, plan.codec, plan.bitrate)
    return np.clip(np.rint(x), -32768, 32767), timeline


def speed_perturb(x: np.ndarray, timeline: Timeline, speed: float
                  ) -> tuple[np.ndarray, Timeline]:
    """As ``sox speed``: play ``speed`` times faster (rate and pitch), labels rescaled."""
    if speed == 1.0:
        return x, timeline
    up, down = {0.9: (10, 9), 1.1: (10, 11)}.get(speed, (1000, int(round(1000 * speed))))
    y = resample_poly(x, up, down)
    return y, timeline.scaled(up / down)


def _speech_mask(t: Timeline, n: int) -> np.ndarray:
    starts = np.concatenate([[0.0], t.ends[:-1]])
    mask = np.zeros(n, bool)
    for label, s, e in zip(t.labels, starts, t.ends):
        if label != "sil":
            mask[int(s * RATE):int(e * RATE)] = True
    return mask


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def noise(kind: str, n: int, rng: np.random.Generator, babble: np.ndarray | None = None
          ) -> np.ndarray:
    """``n`` samples of a noise (unit-free; the caller scales it)."""
    if kind == "white":
        return rng.standard_normal(n)
    if kind in ("pink", "brown"):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / RATE), 20.0)
        return np.fft.irfft(spec / (np.sqrt(f) if kind == "pink" else f), n)
    if kind == "hum":
        base = 50.0 if rng.random() < 0.5 else 60.0
        t = np.arange(n) / RATE
        return sum(rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * base * k * t
                                                       + rng.uniform(0, 2 * np.pi))
                   for k in range(1, 8)) + 0.05 * rng.standard_normal(n)
    if kind == "babble":
        if babble is None or babble.size < n + 1:
            return noise("pink", n, rng)
        talkers = int(rng.integers(3, 8))
        starts = rng.integers(0, babble.size - n, size=talkers)
        return sum(babble[s:s + n] for s in starts)
    raise CorpusError(f"unknown noise {kind!r}; choose from {', '.join(NOISES)}")


def reverberate(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a direct path plus a diffuse tail decaying 60 dB in ``rt60`` seconds
    (starting 2–10 ms after the direct sound); the output keeps ``x``'s length and level."""
    length = int(min(rt60, 1.0) * RATE)
    t = np.arange(length) / RATE
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)
    tail[:int(rng.uniform(0.002, 0.010) * RATE)] = 0.0
    rir = tail * rng.uniform(0.3, 1.0) / max(np.sqrt(np.sum(tail ** 2)), 1e-9)
    rir[0] = 1.0
    y = fftconvolve(x, rir)[:x.size]
    return y * (_rms(x) / max(_rms(y), 1e-9))


def band_limit(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """A 2nd-order Butterworth band-pass (a small microphone or a telephone line)."""
    sos = butter(2, [low, min(high, 0.95 * RATE / 2)], btype="bandpass", fs=RATE,
                 output="sos")
    return sosfilt(sos, x)


def peaking_eq(x: np.ndarray, centre: float, gain_db: float, q: float = 1.0) -> np.ndarray:
    """An RBJ-cookbook peaking filter: ``gain_db`` around ``centre`` Hz."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * centre / RATE
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return lfilter(b / den[0], den / den[0], x)


def codec_available() -> bool:
    return shutil.which(FFMPEG) is not None


def _ffmpeg(args: list[str], data: bytes) -> bytes:
    r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", *args],
                       input=data, capture_output=True, timeout=120)
    if r.returncode != 0:
        raise CorpusError(f"ffmpeg failed (exit {r.returncode}): "
                          f"{r.stderr.decode(errors='replace').strip()[-300:]}; "
                          f"apt-get install ffmpeg")
    return r.stdout


def codec_roundtrip(x: np.ndarray, codec: str, bitrate: int) -> np.ndarray:
    """Encode and decode with ffmpeg at 16 kHz in and out; the codec's delay (found by
    cross-correlation within +-60 ms) is removed and the length kept."""
    if not codec_available():
        raise CorpusError("ffmpeg is not installed; apt-get install ffmpeg")
    opts, rates = _CODEC_ARGS[codec]
    raw = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
    pcm_in = ["-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0"]
    enc = _ffmpeg(pcm_in + opts + (["-b:a", f"{bitrate}k"] if rates else []) + ["pipe:1"],
                  raw)
    fmt = {"mp3": "mp3", "opus": "ogg", "gsm": "gsm"}[codec]
    dec_in = ["-f", fmt] + (["-ar", "8000", "-ac", "1"] if codec == "gsm" else [])
    dec = _ffmpeg(dec_in + ["-i", "pipe:0", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
                            "pipe:1"], enc)
    y = np.frombuffer(dec, dtype="<i2").astype(np.float64)
    return _realign(x, y, int(0.06 * RATE))


def _realign(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """``y`` shifted by the lag (0..max_lag samples late, or early) that best matches ``x``,
    cut or zero-padded to ``x``'s length."""
    n = min(x.size, y.size, 5 * RATE)
    if n < 2 * max_lag + 1:
        lag = 0
    else:
        c = fftconvolve(y[:n + max_lag], x[:n][::-1])
        centre = n - 1
        lo, hi = max(centre - max_lag, 0), centre + max_lag + 1
        lag = int(np.argmax(c[lo:hi])) + lo - centre
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), y])
    if y.size < x.size:
        y = np.concatenate([y, np.zeros(x.size - y.size)])
    return y[:x.size]
