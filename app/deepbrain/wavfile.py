"""RIFF/WAVE files read in pieces: the header at once, the samples as they are needed.

Kaldi (``feat/wave-reader.cc``) reads 16-bit PCM only and hands the feature code the integer
sample values as floats. :class:`WavReader` also reads 8-, 24- and 32-bit PCM and 32/64-bit
float wavs and converts them to that same 16-bit scale, rounding to whole 16-bit values, one
piece at a time, so an hour of audio never sits in memory. Only regular files are opened (a
FIFO named x.wav would block forever, /dev/zero would never end).
"""

from __future__ import annotations

import logging
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from .errors import AudioError

log = logging.getLogger(__name__)

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_STREAM_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)  # sizes Kaldi takes as "read to the end"
PIECE_FRAMES = 1 << 16  # samples per channel a piece (4 s at 16 kHz)


@dataclass(frozen=True)
class WavFormat:
    tag: int
    channels: int
    rate: int
    bits: int

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def is_pcm16(self) -> bool:
        return self.tag == PCM and self.bits == 16


def open_regular_file(path: Path) -> BinaryIO:
    """A regular file opened for reading; anything else refused before a byte is read.
    (Opened without blocking, so that opening a FIFO with no writer returns at once.)"""
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
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class WavReader:
    """A wav's format and its samples in pieces; use as a context manager."""

    def __init__(self, path: str | os.PathLike, channel: int | None = None):
        self.path = Path(path)
        self._f = open_regular_file(self.path)
        try:
            self.format, self._data_start, data_bytes = _parse_header(self._f, self.path)
            self.num_samples = data_bytes // self.format.block_align
            self.channel = _pick_channel(self.format, channel, self.path)
        except BaseException:
            self._f.close()
            raise
        if self.num_samples == 0:
            self._f.close()
            raise AudioError(f"{self.path}: the wav holds no samples; record or choose "
                             f"another file")

    @property
    def sample_rate(self) -> int:
        return self.format.rate

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def as_on_disk(self) -> bool:
        """Whether Kaldi reads exactly these samples from the file itself (16-bit mono)."""
        return self.format.is_pcm16 and self.format.channels == 1

    def pieces(self, frames: int = PIECE_FRAMES) -> Iterator[np.ndarray]:
        """The chosen channel's samples on the 16-bit scale (float32), ``frames`` at a time."""
        fmt = self.format
        self._f.seek(self._data_start)
        left = self.num_samples
        while left > 0:
            n = min(frames, left)
            raw = self._f.read(n * fmt.block_align)
            if len(raw) < n * fmt.block_align:
                raise AudioError(f"{self.path}: the file ended while it was read (it is being "
                                 f"written or was cut); read it again when it is complete")
            left -= n
            yield to_int16_scale(decode(raw, fmt, self.path)[:, self.channel], fmt)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "WavReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _parse_header(f: BinaryIO, path: Path) -> tuple[WavFormat, int, int]:
    """(format, where the samples start, how many bytes of them there are)."""
    size = os.fstat(f.fileno()).st_size
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        what = "an empty file" if not head else f"starts with {head[:4]!r}"
        raise AudioError(f"{path}: not a RIFF/WAVE file ({what}); convert it with "
                         f"'sox {path.name} -r 16000 -b 16 -c 1 out.wav'")
    pos, fmt = 12, None
    while pos + 8 <= size:
        f.seek(pos)
        tag, chunk = struct.unpack("<4sI", f.read(8))
        body = pos + 8
        if tag == b"fmt ":
            fmt = _parse_fmt(f.read(min(chunk, 1 << 16)), path)
        elif tag == b"data":
            if fmt is None:
                raise AudioError(f"{path}: the data chunk comes before any 'fmt ' chunk; "
                                 f"the wav is corrupt, re-export it")
            end = size if chunk in _STREAM_SIZES else body + chunk
            if end > size:
                log.warning("%s: data chunk says %d bytes, only %d present; using those",
                            path, chunk, size - body)
                end = size
            return fmt, body, end - body
        pos = body + chunk + (chunk & 1)  # chunks are padded to an even size
    raise AudioError(f"{path}: no {'data' if fmt else 'fmt '} chunk; the wav is truncated "
                     f"or corrupt")


def _parse_fmt(body: bytes, path: Path) -> WavFormat:
    if len(body) < 16:
        raise AudioError(f"{path}: 'fmt ' chunk of {len(body)} bytes, expected at least 16")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE:
        if len(body) < 40 or body[24 + 2:40] != _GUID_TAIL:
            raise AudioError(f"{path}: malformed WAVE_FORMAT_EXTENSIBLE header")
        tag = struct.unpack("<H", body[24:26])[0]
    if tag not in (PCM, FLOAT):
        raise AudioError(f"{path}: sample format {tag} is not PCM or float (compressed "
                         f"audio?); convert with 'sox {path.name} -b 16 out.wav'")
    ok_bits = (8, 16, 24, 32) if tag == PCM else (32, 64)
    if bits not in ok_bits or channels == 0 or rate == 0 or block_align != channels * bits // 8:
        raise AudioError(f"{path}: unsupported or inconsistent format ({channels} channels, "
                         f"{rate} Hz, {bits}-bit {'PCM' if tag == PCM else 'float'}, block "
                         f"{block_align}); convert with 'sox {path.name} -b 16 out.wav'")
    return WavFormat(tag, channels, rate, bits)


def _pick_channel(fmt: WavFormat, channel: int | None, path: Path) -> int:
    if fmt.channels > 1 and channel is None:
        raise AudioError(f"{path}: has {fmt.channels} channels, expected mono; pass "
                         f"--channel N (0..{fmt.channels - 1}) or mix down with "
                         f"'sox {path.name} -c 1 mono.wav'")
    if channel is not None and not 0 <= channel < fmt.channels:
        raise AudioError(f"{path}: has {fmt.channels} channel(s), channel {channel} was asked "
                         f"for; pass --channel 0..{fmt.channels - 1}")
    return channel or 0


def decode(pcm: bytes, fmt: WavFormat, path: Path) -> np.ndarray:
    """Frames x channels, in the file's own scale (float64)."""
    width = fmt.bits // 8
    n = len(pcm) // (width * fmt.channels)
    pcm = pcm[:n * width * fmt.channels]
    if fmt.tag == FLOAT:
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


def to_int16_scale(x: np.ndarray, fmt: WavFormat) -> np.ndarray:
    if fmt.is_pcm16:
        return x.astype(np.float32)
    scale = 32768.0 if fmt.tag == FLOAT else 2.0 ** (16 - fmt.bits)
    return quantize16(x * scale)


def quantize16(x: np.ndarray) -> np.ndarray:
    """Round to whole 16-bit values (clipping), as float32."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.float32)
