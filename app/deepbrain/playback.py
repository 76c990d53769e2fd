"""Playing an utterance with the playhead locked to the audio clock (no Qt).

The audio device is the clock. A :class:`Playhead` asks its sink how many samples have
reached the speaker and shows the frame under that time; a viewer that polls it and draws
whatever frame it gets drops frames when it is slow instead of falling behind the sound.

Frame ``i`` of Kaldi's front end (snip-edges) covers samples ``[i*shift, i*shift + length)``;
it is "under" the clock while the clock is within half a shift of its centre.

Slower speeds play the sound stretched like tape (pitch drops with it): output sample ``m``
is the utterance at ``start + m * speed``, linearly interpolated, made chunk by chunk so an
hour of audio is never copied.

Sinks are injectable: :class:`PyAudioSink` (a sound card), :class:`SilentSink` (the wall
clock; no device needed) and anything with the :class:`AudioSink` methods (tests).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Protocol

import numpy as np

from .errors import AudioError

log = logging.getLogger(__name__)

SPEEDS = (1.0, 0.5, 0.25)


# -- frames and times ------------------------------------------------------------------------

def frame_centre(index: int, frame_shift: float, frame_length: float) -> float:
    """Seconds from the start of the audio to the centre of frame ``index``."""
    return index * frame_shift + frame_length / 2.0


def frame_at(seconds: float, frame_shift: float, frame_length: float, num_frames: int) -> int:
    """The frame whose centre is nearest to ``seconds`` (clamped to the utterance)."""
    if num_frames <= 0:
        return 0
    i = math.floor((seconds - frame_length / 2.0) / frame_shift + 0.5)
    return min(max(i, 0), num_frames - 1)


# -- the sound to play -----------------------------------------------------------------------

class PlaybackStream:
    """The utterance from ``start`` seconds at ``speed``, as 16-bit output samples."""

    def __init__(self, samples: np.ndarray, rate: int, start: float = 0.0, speed: float = 1.0):
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.samples = samples
        self.rate = rate
        self.speed = speed
        self.start = min(max(start, 0.0), samples.shape[0] / rate)
        self._origin = self.start * rate               # source position of output sample 0
        self.length = int(math.ceil((samples.shape[0] - 1 - self._origin) / speed)) + 1 \
            if samples.shape[0] - 1 >= self._origin else 0
        self._pos = 0                                  # next output sample
        self._lock = threading.Lock()

    def time_at(self, played: float) -> float:
        """Utterance seconds heard when ``played`` output samples have been played."""
        return self.start + min(max(played, 0.0), self.length) * self.speed / self.rate

    def read(self, n: int) -> np.ndarray:
        """The next (up to) ``n`` output samples as int16; fewer at the end."""
        with self._lock:
            m0, m1 = self._pos, min(self._pos + n, self.length)
            self._pos = m1
        if m1 <= m0:
            return np.zeros(0, dtype=np.int16)
        if self.speed == 1.0 and self._origin == int(self._origin):
            a = int(self._origin) + m0
            x = self.samples[a:a + (m1 - m0)]
        else:
            src = self._origin + np.arange(m0, m1) * self.speed
            lo = np.minimum(src.astype(np.int64), self.samples.shape[0] - 1)
            hi = np.minimum(lo + 1, self.samples.shape[0] - 1)
            frac = (src - lo).astype(np.float32)
            x = self.samples[lo] * (1 - frac) + self.samples[hi] * frac
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


# -- sinks -----------------------------------------------------------------------------------

class AudioSink(Protocol):
    """Plays a :class:`PlaybackStream` and says how much of it has been heard."""

    def start(self, stream: PlaybackStream) -> None: ...

    def played(self) -> float:
        """Output samples heard so far (the audio clock); may be fractional."""

    def stop(self) -> None: ...


class SilentSink:
    """Plays nothing; the clock is ``clock()`` (seconds, monotonic) since :meth:`start`.

    Used when there is no sound device, and by the benchmark. The stream is read as a
    device would read it, in small blocks, so reading costs are like a real sink's."""

    description = "silent (no sound device)"

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._stream: PlaybackStream | None = None
        self._t0 = 0.0

    def start(self, stream: PlaybackStream) -> None:
        self._stream, self._t0 = stream, self.clock()

    def played(self) -> float:
        if self._stream is None:
            return 0.0
        return min((self.clock() - self._t0) * self._stream.rate, self._stream.length)

    def stop(self) -> None:
        self._stream = None


class PyAudioSink:
    """A sound card through PortAudio. The clock is the count of samples handed to the
    device up to the last callback plus the time since that buffer reached the DAC."""

    description = "sound card (PortAudio)"

    def __init__(self, frames_per_buffer: int = 512):
        try:
            import pyaudio
        except ImportError:
            raise AudioError("playing sound needs pyaudio: apt-get install portaudio19-dev, "
                             "then pip install -e '.[record]'") from None
        self._pyaudio = pyaudio
        self._pa = pyaudio.PyAudio()
        try:
            self._pa.get_default_output_device_info()
        except OSError:
            self._pa.terminate()
            raise AudioError("no sound output device found (PortAudio lists none)") from None
        self._fpb = frames_per_buffer
        self._pa_stream = None
        self._stream: PlaybackStream | None = None
        self._lock = threading.Lock()
        self._written = 0
        self._anchor = (0, 0.0)          # (samples written before the last buffer, its DAC time)

    def start(self, stream: PlaybackStream) -> None:
        self.stop()
        self._stream, self._written, self._anchor = stream, 0, (0, 0.0)
        try:
            self._pa_stream = self._pa.open(format=self._pyaudio.paInt16, channels=1,
                                            rate=stream.rate, output=True,
                                            frames_per_buffer=self._fpb,
                                            stream_callback=self._callback)
        except OSError as e:
            raise AudioError(f"cannot open the sound output at {stream.rate} Hz ({e})") from None

    def _callback(self, in_data, frame_count, time_info, status):
        data = self._stream.read(frame_count)
        dac = time_info.get("output_buffer_dac_time", 0.0) if time_info else 0.0
        if not dac:  # some ALSA setups report 0: estimate from now + the output latency
            dac = self._pa_stream.get_time() + self._pa_stream.get_output_latency()
        with self._lock:
            self._anchor = (self._written, dac)
            self._written += data.shape[0]
        done = data.shape[0] < frame_count
        if done:
            data = np.concatenate([data, np.zeros(frame_count - data.shape[0], np.int16)])
        return data.tobytes(), (self._pyaudio.paComplete if done else self._pyaudio.paContinue)

    def played(self) -> float:
        s = self._pa_stream
        if s is None or self._stream is None:
            return 0.0
        with self._lock:
            before, dac = self._anchor
            written = self._written
        if dac == 0.0:
            return 0.0
        return float(min(max(before + (s.get_time() - dac) * self._stream.rate, 0.0),
                         written, self._stream.length))

    def stop(self) -> None:
        s, self._pa_stream = self._pa_stream, None
        if s is not None:
            try:
                s.stop_stream()
                s.close()
            except OSError as e:  # the device went away: nothing left to stop
                log.warning("closing the sound output: %s", e)

    def close(self) -> None:
        self.stop()
        self._pa.terminate()


def default_sink() -> tuple[AudioSink, str]:
    """A sound card when one can be had, else the silent clock; and a note saying which."""
    try:
        sink = PyAudioSink()
        return sink, "sound: " + sink.description
    except AudioError as e:
        return SilentSink(), f"{e}: playing silently"


# -- the playhead ----------------------------------------------------------------------------

class Playhead:
    """Play / pause / stop / seek / speed over one utterance's frames.

    Poll :meth:`frame` as often as you like while playing: it is the frame under the audio
    clock at the moment of the call, whatever was shown before (frames are dropped, never
    shown late)."""

    def __init__(self, samples: np.ndarray, rate: int, frame_shift: float, frame_length: float,
                 num_frames: int, sink: AudioSink | Callable[[], AudioSink]):
        """``sink`` may be a function making one, called at the first :meth:`play` (so
        showing frames never opens a sound device)."""
        self.samples, self.rate = samples, rate
        self.frame_shift, self.frame_length = frame_shift, frame_length
        self.num_frames = num_frames
        self._sink = sink
        self.speed = 1.0
        self._frame = 0
        self._stream: PlaybackStream | None = None

    @property
    def sink(self) -> AudioSink:
        if callable(self._sink) and not hasattr(self._sink, "played"):
            self._sink = self._sink()
        return self._sink

    @property
    def playing(self) -> bool:
        return self._stream is not None

    def time(self) -> float:
        """Utterance seconds under the playhead (the audio clock while playing)."""
        if self._stream is not None:
            return self._stream.time_at(self.sink.played())
        return frame_centre(self._frame, self.frame_shift, self.frame_length)

    def frame(self, lookahead: float = 0.0) -> int:
        """The frame to show now; playing stops by itself at the end of the sound.

        ``lookahead`` (seconds of wall clock): the viewer's latency from asking to the frame
        being on screen, so that the frame is the one under the clock when it is seen."""
        if self._stream is not None:
            played = self.sink.played()
            ahead = played + lookahead * self._stream.rate
            self._frame = frame_at(self._stream.time_at(ahead), self.frame_shift,
                                   self.frame_length, self.num_frames)
            if played >= self._stream.length:
                self._halt()
                self._frame = self.num_frames - 1 if self.num_frames else 0
        return self._frame

    def play(self) -> None:
        if self._stream is not None or self.num_frames == 0:
            return
        if self._frame >= self.num_frames - 1:
            self._frame = 0
        start = self.start_time(self._frame)
        self._stream = PlaybackStream(self.samples, self.rate, start, self.speed)
        self.sink.start(self._stream)

    def start_time(self, index: int) -> float:
        """Where frame ``index`` becomes the one under the clock (a hair later, so that
        rounding cannot show the frame before it); frame 0 from the very start."""
        if index <= 0:
            return 0.0
        return frame_centre(index, self.frame_shift, self.frame_length) \
            - self.frame_shift / 2.0 + 1e-6

    def pause(self) -> None:
        if self._stream is not None:
            self.frame()
            self._halt()

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def stop(self) -> None:
        self._halt()
        self._frame = 0

    def seek(self, index: int) -> None:
        was_playing = self.playing
        self._halt()
        self._frame = min(max(int(index), 0), max(self.num_frames - 1, 0))
        if was_playing:
            self.play()

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        was_playing = self.playing
        if was_playing:
            self.pause()
        self.speed = speed
        if was_playing:
            self.play()

    def _halt(self) -> None:
        if self._stream is not None:
            self._stream = None
            self.sink.stop()
