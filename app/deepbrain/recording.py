"""Recording from a microphone into a wav that is never overwritten (no Qt).

An :class:`AudioSource` delivers 16-bit mono chunks; :class:`PyAudioSource` is a real
microphone, :class:`ArraySource` plays given samples as if spoken (tests, demos). A
:class:`Recorder` collects the chunks and keeps a level for a meter; :func:`save_recording`
writes the result under the user's data dir with a unique name.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping, Protocol

import numpy as np

from .audio import Audio, write_wav16
from .errors import AudioError

log = logging.getLogger(__name__)

SILENCE_DB = -90.0


# -- where recordings go ---------------------------------------------------------------------

def user_data_dir(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """deepbrain's folder in the user's data dir: $XDG_DATA_HOME/deepbrain (else
    ~/.local/share/deepbrain) on Linux, the platform's usual place elsewhere."""
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        base = home / "Library" / "Application Support"
    elif platform.startswith("win"):
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    else:
        xdg = env.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / "deepbrain"


def recordings_dir(env: Mapping[str, str] = os.environ) -> Path:
    return user_data_dir(env) / "recordings"


def claim_recording_path(directory: str | os.PathLike, when: datetime | None = None) -> Path:
    """A new, empty file ``rec-YYYYmmdd-HHMMSS[-N].wav`` in ``directory``, created
    exclusively, so two recordings (or two deepbrains) never get the same name."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioError(f"{d}: cannot create the recordings folder ({e.strerror})") from None
    stem = f"rec-{(when or datetime.now()):%Y%m%d-%H%M%S}"
    for n in range(1, 10000):
        path = d / (f"{stem}.wav" if n == 1 else f"{stem}-{n}.wav")
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            continue
        except OSError as e:
            raise AudioError(f"{path}: cannot be written ({e.strerror})") from None
    raise AudioError(f"{d}: 9999 recordings named {stem}*; clear some out")


def save_recording(audio: Audio, directory: str | os.PathLike | None = None,
                   when: datetime | None = None) -> Path:
    """Write ``audio`` as a 16-bit wav under ``directory`` (default :func:`recordings_dir`)."""
    path = claim_recording_path(directory if directory is not None else recordings_dir(), when)
    try:
        write_wav16(audio, path)
    except OSError as e:
        path.unlink(missing_ok=True)
        raise AudioError(f"{path}: cannot be written ({e.strerror})") from None
    return path


# -- sources ---------------------------------------------------------------------------------

class AudioSource(Protocol):
    """Delivers mono 16-bit samples at the rate it was started with."""

    def start(self, rate: int) -> None: ...

    def read(self) -> np.ndarray:
        """Every int16 sample that arrived since the last call (maybe none)."""

    def stop(self) -> None: ...


class ArraySource:
    """Given samples, delivered as a microphone would: in real time by ``clock`` (seconds),
    or ``chunk`` samples a read when ``clock`` is None."""

    def __init__(self, samples: np.ndarray, rate: int = 16000, chunk: int = 1600,
                 clock: Callable[[], float] | None = None):
        self.samples = np.asarray(samples, dtype=np.int16)
        self.rate, self.chunk, self.clock = rate, chunk, clock
        self.started_rate: int | None = None
        self._pos, self._t0 = 0, 0.0

    def start(self, rate: int) -> None:
        if rate != self.rate:
            raise AudioError(f"this source delivers {self.rate} Hz, {rate} Hz was asked for")
        self.started_rate, self._pos = rate, 0
        self._t0 = self.clock() if self.clock else 0.0

    def read(self) -> np.ndarray:
        if self.clock is None:
            end = self._pos + self.chunk
        else:
            end = int((self.clock() - self._t0) * self.rate)
        end = min(max(end, self._pos), self.samples.shape[0])
        out, self._pos = self.samples[self._pos:end], end
        return out

    def stop(self) -> None:
        self.started_rate = None


class PyAudioSource:
    """The default microphone through PortAudio (callback mode: the UI thread only drains
    a queue)."""

    def __init__(self, frames_per_buffer: int = 1024):
        try:
            import pyaudio
        except ImportError:
            raise AudioError("recording needs pyaudio: apt-get install portaudio19-dev, then "
                             "pip install -e '.[record]'") from None
        self._pyaudio = pyaudio
        self._fpb = frames_per_buffer
        self._pa = None
        self._stream = None
        self._queue: queue.Queue[bytes] = queue.Queue()

    def start(self, rate: int) -> None:
        self._pa = self._pyaudio.PyAudio()
        try:
            self._pa.get_default_input_device_info()
            self._stream = self._pa.open(format=self._pyaudio.paInt16, channels=1, rate=rate,
                                         input=True, frames_per_buffer=self._fpb,
                                         stream_callback=self._callback)
        except OSError as e:
            self._pa.terminate()
            self._pa = None
            raise AudioError(f"no microphone can record {rate} Hz mono ({e}); check the "
                             f"input device in the system's sound settings") from None

    def _callback(self, in_data, frame_count, time_info, status):
        self._queue.put(in_data)
        return None, self._pyaudio.paContinue

    def read(self) -> np.ndarray:
        parts = []
        while True:
            try:
                parts.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return np.frombuffer(b"".join(parts), dtype="<i2").astype(np.int16)

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop_stream()
                self._stream.close()
            except OSError as e:
                log.warning("closing the microphone: %s", e)
            self._stream = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None


# -- the recorder ----------------------------------------------------------------------------

def level_db(chunk: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale (SILENCE_DB for none)."""
    if chunk.shape[0] == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(chunk.astype(np.float64))))) / 32768.0
    return max(20.0 * np.log10(rms), SILENCE_DB) if rms > 0 else SILENCE_DB


class Recorder:
    """Collects a source's chunks; :meth:`poll` often (it returns the level), :meth:`stop`
    once."""

    def __init__(self, source: AudioSource, rate: int = 16000,
                 clock: Callable[[], float] = time.monotonic):
        self.source, self.rate, self.clock = source, rate, clock
        self._chunks: list[np.ndarray] = []
        self.num_samples = 0
        self.level = SILENCE_DB
        self.peak = 0
        self.recording = False

    def start(self) -> None:
        self.source.start(self.rate)
        self._chunks, self.num_samples, self.level, self.peak = [], 0, SILENCE_DB, 0
        self.recording = True

    @property
    def seconds(self) -> float:
        return self.num_samples / self.rate

    def poll(self) -> float:
        """Take what arrived; the level (dBFS) of it, or the last level when nothing did."""
        chunk = self.source.read()
        if chunk.shape[0]:
            self._chunks.append(chunk)
            self.num_samples += chunk.shape[0]
            self.level = level_db(chunk)
            self.peak = max(self.peak, int(np.max(np.abs(chunk.astype(np.int32)))))
        return self.level

    def stop(self, source_name: str = "recording") -> Audio:
        """Stop the source and return everything recorded."""
        if self.recording:
            self.poll()
            self.source.stop()
            self.recording = False
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Audio(samples.astype(np.float32), self.rate, source_name, as_on_disk=False)
