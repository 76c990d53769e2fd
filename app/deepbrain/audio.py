"""Reading and writing wavs the way Kaldi's feature extraction sees them.

Kaldi (``feat/wave-reader.cc``) reads 16-bit PCM only and hands the MFCC code the integer
sample values as floats (not scaled to [-1, 1]). This reader also accepts 8-, 24- and 32-bit
PCM and 32/64-bit float wavs and converts them to that same 16-bit scale, rounding to whole
16-bit values: the converted audio is exactly what the Kaldi engine is given (as a 16-bit wav
in its work dir), so both engines see the same numbers.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from .errors import AudioError

log = logging.getLogger(__name__)

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_STREAM_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)  # sizes Kaldi takes as "read to the end"


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono samples on the 16-bit integer scale, as float32.

    ``as_on_disk`` is True when ``source`` is a 16-bit PCM mono wav holding exactly these
    samples, so Kaldi can read the file itself; otherwise a converted copy must be written.
    """

    samples: np.ndarray
    sample_rate: int
    source: str
    as_on_disk: bool = True

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sample_rate


@dataclass(frozen=True)
class _Format:
    tag: int
    channels: int
    rate: int
    bits: int


def read_wav(path: str | os.PathLike, channel: int | None = None) -> Audio:
    """Read a RIFF wav; pick ``channel`` (0-based) of a multi-channel file."""
    path = Path(path)
    data = _read_regular_file(path)
    fmt, pcm = _parse_riff(data, path)
    samples = _decode(pcm, fmt, path)
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: the wav holds no samples; record or choose another file")
    if fmt.channels > 1:
        if channel is None:
            raise AudioError(f"{path}: has {fmt.channels} channels, expected mono; pass "
                             f"--channel N (0..{fmt.channels - 1}) or mix down with "
                             f"'sox {path.name} -c 1 mono.wav'")
    if channel is not None and not 0 <= channel < fmt.channels:
        raise AudioError(f"{path}: has {fmt.channels} channel(s), channel {channel} was asked "
                         f"for; pass --channel 0..{fmt.channels - 1}")
    mono = samples[:, channel or 0]
    converted = fmt.tag != _PCM or fmt.bits != 16
    return Audio(_to_int16_scale(mono, fmt), fmt.rate, str(path),
                 as_on_disk=not converted and fmt.channels == 1)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Anything else is refused before a byte is read: a FIFO
    named x.wav would block forever, /dev/zero would fill the memory. (Opened without
    blocking, so that opening a FIFO with no writer returns at once, then checked.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file; check the path") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot be read ({e.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a folder" if stat.S_ISDIR(mode) else
                    "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                    "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
            raise AudioError(f"{path}: is {kind}, not a wav file; deepbrain reads wav files: "
                             f"write the audio to a file first")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1  # closed with f
            return f.read()
    except OSError as e:
        raise AudioError(f"{path}: cannot be read ({e.strerror})") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _parse_riff(data: bytes, path: Path) -> tuple[_Format, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        what = "an empty file" if not data else f"starts with {data[:4]!r}"
        raise AudioError(f"{path}: not a RIFF/WAVE file ({what}); convert it with "
                         f"'sox {path.name} -r 16000 -b 16 -c 1 out.wav'")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if tag == b"fmt ":
            fmt = _parse_fmt(data[body:body + size], path)
        elif tag == b"data":
            if fmt is None:
                raise AudioError(f"{path}: the data chunk comes before any 'fmt ' chunk; "
                                 f"the wav is corrupt, re-export it")
            end = len(data) if size in _STREAM_SIZES else body + size
            if end > len(data):
                log.warning("%s: data chunk says %d bytes, only %d present; using those",
                            path, size, len(data) - body)
                end = len(data)
            return fmt, data[body:end]
        pos = body + size + (size & 1)  # chunks are padded to an even size
    raise AudioError(f"{path}: no {'data' if fmt else 'fmt '} chunk; the wav is truncated "
                     f"or corrupt")


def _parse_fmt(body: bytes, path: Path) -> _Format:
    if len(body) < 16:
        raise AudioError(f"{path}: 'fmt ' chunk of {len(body)} bytes, expected at least 16")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE:
        if len(body) < 40 or body[24 + 2:40] != _GUID_TAIL:
            raise AudioError(f"{path}: malformed WAVE_FORMAT_EXTENSIBLE header")
        tag = struct.unpack("<H", body[24:26])[0]
    if tag not in (_PCM, _FLOAT):
        raise AudioError(f"{path}: sample format {tag} is not PCM or float (compressed "
                         f"audio?); convert with 'sox {path.name} -b 16 out.wav'")
    ok_bits = (8, 16, 24, 32) if tag == _PCM else (32, 64)
    if bits not in ok_bits or channels == 0 or rate == 0 or block_align != channels * bits // 8:
        raise AudioError(f"{path}: unsupported or inconsistent format ({channels} channels, "
                         f"{rate} Hz, {bits}-bit {'PCM' if tag == _PCM else 'float'}, block "
                         f"{block_align}); convert with 'sox {path.name} -b 16 out.wav'")
    return _Format(tag, channels, rate, bits)


def _decode(pcm: bytes, fmt: _Format, path: Path) -> np.ndarray:
    """Frames x channels, in the file's own scale (float64)."""
    width = fmt.bits // 8
    n = len(pcm) // (width * fmt.channels)
    pcm = pcm[:n * width * fmt.channels]
    if fmt.tag == _FLOAT:
        with np.errstate(invalid="ignore"):
            x = np.frombuffer(pcm, dtype="<f4" if width == 4 else "<f8").astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise AudioError(f"{path}: float samples include NaN or infinity")
    elif width == 1:
        x = np.frombuffer(pcm, dtype=np.uint8).astype(np.float64) - 128.0
    elif width == 3:
        b = np.frombuffer(pcm, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64)
    else:
        x = np.frombuffer(pcm, dtype={2: "<i2", 4: "<i4"}[width]).astype(np.float64)
    return x.reshape(n, fmt.channels)


def _to_int16_scale(x: np.ndarray, fmt: _Format) -> np.ndarray:
    if fmt.tag == _PCM and fmt.bits == 16:
        return x.astype(np.float32)
    scale = 32768.0 if fmt.tag == _FLOAT else 2.0 ** (16 - fmt.bits)
    return quantize16(x * scale)


def quantize16(x: np.ndarray) -> np.ndarray:
    """Round to whole 16-bit values (clipping), as float32."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.float32)


MIN_RESAMPLE_RATE = 1000        # below this a header is wrong, not a recording
MAX_RESAMPLE_RATE = 768000      # the highest rate audio interfaces record at
MAX_RESAMPLED_SAMPLES = 1 << 28  # 4.7 hours at 16 kHz, 2 GiB as float64


def resample(audio: Audio, rate: int) -> Audio:
    """Polyphase resampling (scipy) to ``rate``, rounded to 16-bit values."""
    from scipy.signal import resample_poly

    check_resample(audio, rate)
    g = gcd(rate, audio.sample_rate)
    y = resample_poly(audio.samples.astype(np.float64), rate // g, audio.sample_rate // g)
    return Audio(quantize16(y), rate, audio.source, as_on_disk=False)


def check_resample(audio: Audio, rate: int) -> int:
    """The number of samples resampling to ``rate`` gives, computed before anything is
    allocated: a header's rate of 1 Hz makes an hour of audio from a second of samples
    (and resample_poly's filter grows with the rates), so absurd rates are refused."""
    src, lo, hi = audio.sample_rate, MIN_RESAMPLE_RATE, MAX_RESAMPLE_RATE
    if not lo <= src <= hi:
        raise AudioError(f"{audio.source}: its header says {src} Hz; deepbrain resamples from "
                         f"{lo}..{hi} Hz (a rate like that means the header is wrong): "
                         f"re-export the audio as a {rate} Hz wav")
    if not lo <= rate <= hi:
        raise AudioError(f"{audio.source}: cannot resample to the model's {rate} Hz (deepbrain "
                         f"resamples to {lo}..{hi} Hz); convert the wav to {rate} Hz yourself")
    g = gcd(rate, src)
    up, down = rate // g, src // g
    n = -(-audio.samples.shape[0] * up // down)
    if n > MAX_RESAMPLED_SAMPLES:
        raise AudioError(f"{audio.source}: {audio.duration / 3600:.1f} hours of audio would be "
                         f"{n} samples at {rate} Hz, more than deepbrain takes at once "
                         f"({MAX_RESAMPLED_SAMPLES}); cut it into parts, e.g. with "
                         f"'sox {Path(audio.source).name} part.wav trim 0 3600 : newfile : "
                         f"restart'")
    return n


def load_for_model(path: str | os.PathLike, sample_rate: int, channel: int | None = None,
                   allow_resample: bool = False) -> Audio:
    """Read a wav and make sure it is at the model's sample rate."""
    audio = read_wav(path, channel)
    if audio.sample_rate != sample_rate:
        if not allow_resample:
            raise AudioError(f"{path}: sample rate {audio.sample_rate} Hz, the model expects "
                             f"{sample_rate} Hz; pass --resample or convert with "
                             f"'sox {Path(path).name} -r {sample_rate} out.wav'")
        audio = resample(audio, sample_rate)
    return audio


def write_wav16(audio: Audio, path: str | os.PathLike) -> None:
    """Write 16-bit PCM mono (the samples must already be whole 16-bit values)."""
    pcm = np.clip(np.rint(audio.samples), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.sample_rate)
        w.writeframes(pcm)
